# shoko agent image: `docker build -t shoko .` (README, "Deployment").
#
# The base is a build argument so this file builds unchanged where Docker Hub cannot be reached: the
# container test builds it from a local Debian bookworm base (scripts/container-test).
# HEALTHCHECK is part of the Docker image format; podman needs `--format docker` to keep it.
ARG BASE=docker.io/library/debian:bookworm-slim

# Debian's python3 (3.11 on bookworm), shared by both stages so the venv's interpreter is the same one.
FROM ${BASE} AS debian-python
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# Build stage: a venv with exactly the pinned dependencies (constraints.txt), and shoko built as a wheel.
FROM debian-python AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/shoko
WORKDIR /src
# Dependencies in their own layer: rebuilt only when the pins or the dependency list change.
COPY pyproject.toml constraints.txt ./
RUN python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > requirements.txt \
    && /opt/shoko/bin/pip install --no-cache-dir --disable-pip-version-check -c constraints.txt -r requirements.txt
COPY . .
RUN /opt/shoko/bin/pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

FROM debian-python AS runtime
# Pango and Noto CJK: WeasyPrint renders the snapshot's report.pdf with them (Japanese included).
COPY scripts/bootstrap-system /usr/local/lib/shoko/bootstrap-system
RUN /usr/local/lib/shoko/bootstrap-system --runtime \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /usr/local/lib/shoko/bootstrap-system
# A fixed, numeric non-root user (Kubernetes' runAsNonRoot can verify a numeric USER).
RUN groupadd --system --gid 10001 shoko \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/shoko --no-create-home \
        --shell /usr/sbin/nologin shoko \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/shoko \
    && install -d -m 0755 /etc/shoko /usr/share/shoko/config /usr/local/lib/shoko
# The dependencies (a layer that stays cached while the pins do), then shoko from its wheel (not
# editable); pip and setuptools leave afterwards: not needed to run, one less thing for image scanners.
# (The wheel is copied, not bind-mounted: podman's build cache would not notice a changed mount.)
COPY --from=build /opt/shoko /opt/shoko
COPY --from=build /wheels /tmp/wheels
RUN /opt/shoko/bin/pip install --no-cache-dir --disable-pip-version-check --no-index --no-deps /tmp/wheels/shoko-*.whl \
    && /opt/shoko/bin/pip check \
    && /opt/shoko/bin/pip uninstall --yes --quiet pip setuptools \
    && rm -rf /tmp/wheels
# The config file read by every command (SHOKO_CONFIG); mount your own over it. defaults.yaml
# documents every key.
COPY deploy/agent.yaml /etc/shoko/agent.yaml
COPY config/defaults.yaml config/example.yaml /usr/share/shoko/config/
COPY deploy/healthcheck.py /usr/local/lib/shoko/healthcheck.py
# Two malloc arenas instead of one per thread: a run's 48 fetcher and call threads each kept their own arena's
# freed memory (55 MB of 163 MB grown while fetching 10,000 resources; bench/README.md "Memory while fetching").
# A fixed mmap threshold: blocks over 128 KiB (a run's arrays of keys and ids) are mapped on their own and go back
# to the system when freed; glibc's default raises the threshold after such a free, and later blocks of that size
# stay in the heap (bench/README.md "Checks that reach into other subscriptions").
ENV PATH=/opt/shoko/bin:$PATH \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SHOKO_CONFIG=/etc/shoko/agent.yaml \
    SHOKO_DATABASE_URL=sqlite:////var/lib/shoko/shoko.db \
    SHOKO_AGENT_LISTEN_HOST=0.0.0.0 \
    SHOKO_API_LISTEN_HOST=0.0.0.0
USER 10001:10001
WORKDIR /var/lib/shoko
# The SQLite ledger (the default database) lives here; with PostgreSQL (SHOKO_DATABASE_URL) it stays empty.
VOLUME /var/lib/shoko
# 9464: the agent's /healthz, /readyz and /metrics. 8080: the read API and dashboard, served only when
# api.with_agent is true (SHOKO_API_WITH_AGENT=true; README, "Read API and dashboard").
EXPOSE 9464 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/opt/shoko/bin/python", "/usr/local/lib/shoko/healthcheck.py"]
ENTRYPOINT ["shoko"]
CMD ["agent"]
