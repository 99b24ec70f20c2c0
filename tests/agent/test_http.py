"""/healthz, /readyz and /metrics over real HTTP, against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.http import HealthServer, HealthServerError, ReadinessProbe, start
from collector.settings import load_settings
from storage.ledger import Ledger


def get(url: str, method: str = "GET") -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def add_run(ledger: Ledger, finished_ago: timedelta, *, partial: bool = False, failed: bool = False) -> int:
    now = datetime.now(UTC)
    scope = {"subscriptions": [], "arm": "https://127.0.0.1"} | ({"partial": True, "kinds": ["nsg"]} if partial else {})
    run_id = ledger.start_run(now - finished_ago - timedelta(seconds=30), agent_version="t", config_digest="d",
                              scope=scope)  # fmt: skip
    if failed:
        ledger.fail_run(run_id, now - finished_ago, "RuntimeError: boom")
    else:
        ledger.complete_run(run_id, now - finished_ago)
    return run_id


def serve(database_url: str, schedule: str, alive=lambda: True) -> HealthServer:
    return HealthServer("127.0.0.1", 0, alive=alive, readiness=ReadinessProbe(database_url, schedule))


def test_healthz_follows_the_schedulers_liveness(tmp_path):
    state = {"alive": True}

    def alive() -> bool:
        if state["alive"] is None:
            raise RuntimeError("scheduler state unknown")
        return bool(state["alive"])

    with serve(f"sqlite:///{tmp_path}/h.db", "every 1h", alive) as srv:
        assert get(f"{srv.url}/healthz") == (200, {"alive": True})
        state["alive"] = False
        assert get(f"{srv.url}/healthz") == (503, {"alive": False, "reason": "the scheduler is not running"})
        state["alive"] = None
        status, body = get(f"{srv.url}/healthz")
        assert status == 503 and "RuntimeError: scheduler state unknown" in body["reason"]
        assert get(f"{srv.url}/nope")[0] == 404
        assert get(f"{srv.url}/healthz", method="POST")[0] == 405


def test_readyz_needs_a_recent_completed_full_run(database_url):
    with Ledger(database_url) as ledger, serve(database_url, "every 30s") as srv:
        status, body = get(f"{srv.url}/readyz")
        assert status == 503 and body["ready"] is False and body["database"] == "ok"
        assert body["reasons"] == ["no full run has completed yet (schedule 'every 30s')"]
        assert body["reasons_ja"][0].startswith("完了した全体収集がまだありません")

        stale = add_run(ledger, timedelta(seconds=90))  # older than 2 × 30 s
        status, body = get(f"{srv.url}/readyz")
        assert status == 503 and body["max_age_seconds"] == 60
        assert body["last_full_run_finished_at"] == ledger.run(stale).finished_at.isoformat()
        assert "older than 2 × the schedule 'every 30s' (1m00s)" in body["reasons"][0]

        add_run(ledger, timedelta(0), partial=True)  # a partial run does not make the full data fresh
        add_run(ledger, timedelta(0), failed=True)  # nor does a failed one
        assert get(f"{srv.url}/readyz")[0] == 503

        fresh = add_run(ledger, timedelta(0))
        status, body = get(f"{srv.url}/readyz")
        assert status == 200 and body["ready"] is True and body["reasons"] == []
        assert body["last_full_run_finished_at"] == ledger.run(fresh).finished_at.isoformat()


def test_readyz_window_follows_a_cron_schedule(tmp_path):
    url = f"sqlite:///{tmp_path}/c.db"
    with Ledger(url) as ledger, serve(url, "*/5 * * * *") as srv:
        add_run(ledger, timedelta(minutes=9))
        status, body = get(f"{srv.url}/readyz")
        assert status == 200 and body["max_age_seconds"] == 600
        add_run(ledger, timedelta(minutes=11))  # older runs do not matter: the newest full run does
        assert get(f"{srv.url}/readyz")[0] == 200


def test_readyz_names_a_database_without_shokos_tables(tmp_path):
    with serve(f"sqlite:///{tmp_path}/empty.db", "every 1h") as srv:
        status, body = get(f"{srv.url}/readyz")
    assert status == 503 and body["database"] == "ok" and "its runs cannot be read" in body["reasons"][0]


def test_start_follows_the_agent_settings(tmp_path):
    def settings(port: int):
        return load_settings(
            None,
            environ={},
            overrides={"database": {"url": f"sqlite:///{tmp_path}/s.db"}, "agent": {"listen_port": port}},
        )

    assert start(settings(0), alive=lambda: True) is None  # port 0: nothing served
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(HealthServerError, match=f"cannot listen on 127.0.0.1:{port}"):
            start(settings(port), alive=lambda: True)
    port = free_port()
    server = start(settings(port), alive=lambda: True)
    assert server is not None and server.port == port
    try:
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert b"# TYPE shoko_azure_calls_total counter" in response.read()
    finally:
        server.stop()


# -- a PostgreSQL server of the test's own, to stop and start ------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory on a free port (initdb + pg_ctl), so stopping it cannot
    disturb the shared test server other tests use."""

    bindir: Path
    root: Path
    port: int
    as_postgres: bool  # root may not run the server: run it as the postgres user

    @property
    def url(self) -> str:
        # trust authentication: any password is accepted, and this one must never show in an answer
        return f"postgresql+psycopg://shoko:pg-secret-pw@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        command = [str(self.bindir / "initdb"), "-D", str(self.root / "data"), "-U", "shoko", "-A", "trust",
                   "--no-sync", "-E", "UTF8", "--locale=C"]  # fmt: skip
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-l", str(self.root / "server.log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")


def _bindir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    bindir = _bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/bootstrap-postgres", pytrace=False
        )
    root = Path(tempfile.mkdtemp(prefix="shoko-readyz-pg-"))
    as_postgres = os.geteuid() == 0
    if as_postgres:
        shutil.chown(root, "postgres", "postgres")
    pg = ThrowawayPostgres(bindir, root, free_port(), as_postgres)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_readyz_goes_unready_when_postgresql_stops_and_ready_again_when_it_is_back(throwaway_postgres):
    url = throwaway_postgres.url
    with Ledger(url) as ledger:
        add_run(ledger, timedelta(0))
    with serve(url, "every 10m") as srv:
        assert get(f"{srv.url}/readyz")[0] == 200
        throwaway_postgres.stop()
        status, body = get(f"{srv.url}/readyz")
        assert status == 503 and body["ready"] is False and body["database"] == "unreachable"
        assert body["reasons"][0].startswith(
            f"database postgresql+psycopg://shoko:***@127.0.0.1:{throwaway_postgres.port}"
        )
        assert "does not answer" in body["reasons"][0] and "pg-secret-pw" not in json.dumps(body)
        assert get(f"{srv.url}/healthz")[0] == 200  # the process is alive; it is just not ready
        throwaway_postgres.start()
        status, body = get(f"{srv.url}/readyz")
        assert status == 200 and body["ready"] is True and body["database"] == "ok"
