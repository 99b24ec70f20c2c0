"""The image's HEALTHCHECK: GET /healthz of the agent on the address and port the agent listens on.

It reads the same settings as the agent (the file named by SHOKO_CONFIG, then SHOKO_* environment), so
a port changed in either place is followed. Exit 0 when /healthz answers 200; otherwise exit 1 with one
line saying why (Docker and podman keep the last lines of a health check's output).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

from collector.settings import ConfigError, load_settings

TIMEOUT_SECONDS = 5


def healthz_url(listen_host: str, listen_port: int) -> str:
    """The URL to ask: a wildcard listen address is asked on loopback."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(listen_host, listen_host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{listen_port}/healthz"


def main() -> int:
    try:
        agent = load_settings(os.environ.get("SHOKO_CONFIG") or None).agent
    except ConfigError as exc:
        print(f"unhealthy: config error: {exc}")
        return 1
    if agent.listen_port == 0:
        print("unhealthy: agent.listen_port is 0, so the agent serves no /healthz")
        return 1
    url = healthz_url(agent.listen_host, agent.listen_port)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {getattr(exc, 'reason', exc)}")
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}")
        return 1
    print(f"healthy: {url} answered 200")
    return 0


if __name__ == "__main__":
    sys.exit(main())
