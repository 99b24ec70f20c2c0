"""The agent's one HTTP port: /healthz, /readyz and /metrics.

    server = start(settings, alive=scheduler_is_running)   # None when agent.listen_port is 0
    ...
    server.stop()

- `/healthz` — 200 while `alive()` says the process and its scheduler are running, else 503.
- `/readyz`  — 200 only when the database answers a trivial query within `timeout` seconds AND the last
  completed full run finished less than 2 × the full schedule's period ago (`agent.schedule`); before any
  full run has completed it is not ready. The JSON body names every reason (English and Japanese).
- `/metrics` — the Prometheus text exposition of shoko's registry (`agent.metrics`).

Every answer is small JSON (or the metrics text); a probe never changes anything. The database probe uses its
own engine with short connect and statement timeouts, so a stopped or unreachable database makes /readyz
answer "not ready" quickly instead of hanging the prober.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from agent.metrics import METRICS, Metrics
from agent.schedule import parse_schedule
from collector.settings import Settings
from storage.ledger import full_run, redact_url
from storage.models import Run

log = logging.getLogger("shoko.agent.http")

PROBE_TIMEOUT_SECONDS = 3.0


class HealthServerError(RuntimeError):
    """The health server cannot start (e.g. its port is taken). The message is one line."""


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reasons_en: list[str] = field(default_factory=list)
    reasons_ja: list[str] = field(default_factory=list)
    database_ok: bool = False
    last_run_finished_at: datetime | None = None
    max_age: timedelta | None = None

    def to_json(self, now: datetime) -> dict[str, Any]:
        finished = self.last_run_finished_at
        return {
            "ready": self.ready,
            "database": "ok" if self.database_ok else "unreachable",
            "last_full_run_finished_at": finished.isoformat() if finished else None,
            "last_full_run_age_seconds": round((now - finished).total_seconds(), 3) if finished else None,
            "max_age_seconds": self.max_age.total_seconds() if self.max_age else None,
            "reasons": self.reasons_en,
            "reasons_ja": self.reasons_ja,
        }


class ReadinessProbe:
    """Answers "is the agent ready?" from the database: reachable, and a full run completed recently enough.

    `last_full_run` may replace the database read of the last completed full run's finish time (a callable
    returning an aware datetime or None); the database is still asked a trivial query."""

    def __init__(
        self,
        database_url: str,
        schedule: str,
        *,
        timeout: float = PROBE_TIMEOUT_SECONDS,
        last_full_run: Callable[[], datetime | None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.schedule = parse_schedule(schedule)
        self.timeout = timeout
        self.clock = clock
        self._last_full_run = last_full_run
        self._display_url = redact_url(database_url)
        self._engine = _probe_engine(database_url, timeout)

    def close(self) -> None:
        self._engine.dispose()

    def max_age(self, now: datetime) -> timedelta:
        return 2 * self.schedule.period(now)

    def check(self) -> Readiness:
        now = self.clock()
        max_age = self.max_age(now)
        finished: datetime | None = None
        try:
            with self._engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                try:
                    if self._last_full_run is None:
                        finished = _last_completed_full_run(connection)
                except SQLAlchemyError as exc:
                    why = _first_line(getattr(exc, "orig", None) or exc)
                    return Readiness(
                        False,
                        [f"database {self._display_url} answers, but its runs cannot be read: {why}"],
                        [f"データベース {self._display_url} は応答しますが、実行記録を読めません: {why}"],
                        database_ok=True,
                        max_age=max_age,
                    )
        except SQLAlchemyError as exc:
            why = _first_line(getattr(exc, "orig", None) or exc)
            return Readiness(
                False,
                [f"database {self._display_url} does not answer: {why}"],
                [f"データベース {self._display_url} に接続できません: {why}"],
                max_age=max_age,
            )
        if self._last_full_run is not None:
            finished = self._last_full_run()
        if finished is None:
            return Readiness(
                False,
                [f"no full run has completed yet (schedule {self.schedule.text!r})"],
                [f"完了した全体収集がまだありません (スケジュール {self.schedule.text!r})"],
                database_ok=True,
                max_age=max_age,
            )
        age = now - finished
        if age >= max_age:
            return Readiness(
                False,
                [
                    f"the last full run finished {_duration(age)} ago, at {finished.isoformat()}; "
                    f"older than 2 × the schedule {self.schedule.text!r} ({_duration(max_age)})"
                ],
                [
                    f"最後の全体収集の完了は {_duration(age)} 前 ({finished.isoformat()}) で、スケジュール "
                    f"{self.schedule.text!r} の 2 倍 ({_duration(max_age)}) を超えています"
                ],
                database_ok=True,
                last_run_finished_at=finished,
                max_age=max_age,
            )
        return Readiness(True, database_ok=True, last_run_finished_at=finished, max_age=max_age)


def _probe_engine(database_url: str, timeout: float) -> Engine:
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise HealthServerError(f"not a database URL: {redact_url(database_url)!r}") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "postgresql":
        millis = max(1, int(timeout * 1000))
        connect_args: dict[str, Any] = {
            "connect_timeout": max(2, int(timeout)),  # libpq's minimum is 2 s
            "options": f"-c statement_timeout={millis} -c lock_timeout={millis}",
        }
    else:
        connect_args = {"timeout": timeout, "check_same_thread": False}
    # No pool: each probe opens a fresh connection, so it tests what a new run would meet.
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def _last_completed_full_run(connection: Any) -> datetime | None:
    query = (
        select(Run.finished_at).where(Run.status == "completed", full_run()).order_by(Run.finished_at.desc()).limit(1)
    )
    return connection.execute(query).scalar()


def _first_line(exc: object) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
    return f"-{text}" if seconds < 0 else text


class HealthServer:
    """A small threaded HTTP server for probes and scrapes. `port=0` here picks a free port (tests);
    `start(settings, ...)` treats a configured port 0 as "serve nothing"."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        alive: Callable[[], bool],
        readiness: ReadinessProbe,
        metrics: Metrics | None = None,
    ) -> None:
        self.alive = alive
        self.readiness = readiness
        self.metrics = metrics or METRICS
        try:
            self._server = _Server((host, port), _Handler, self)
        except OSError as exc:
            readiness.close()
            raise HealthServerError(
                f"cannot listen on {host}:{port} for /healthz, /readyz, /metrics: {exc.strerror or exc}"
            ) from None
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="shoko-http", daemon=True
        )
        self._thread.start()
        log.info("serving /healthz, /readyz and /metrics on http://%s:%d", host, self.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.readiness.close()

    def __enter__(self) -> HealthServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answers ----------------------------------------------------------------------------------------

    def healthz(self) -> tuple[int, dict[str, Any]]:
        try:
            ok = bool(self.alive())
            reason = None if ok else "the scheduler is not running"
        except Exception as exc:  # a broken liveness callback is "not alive", said plainly
            ok, reason = False, f"liveness check failed: {type(exc).__name__}: {_first_line(exc)}"
        body: dict[str, Any] = {"alive": ok}
        if reason:
            body["reason"] = reason
        return (200 if ok else 503), body

    def readyz(self) -> tuple[int, dict[str, Any]]:
        result = self.readiness.check()
        return (200 if result.ready else 503), result.to_json(self.readiness.clock())


def start(
    settings: Settings,
    *,
    alive: Callable[[], bool],
    last_full_run: Callable[[], datetime | None] | None = None,
    metrics: Metrics | None = None,
) -> HealthServer | None:
    """Serve on `agent.listen_host:agent.listen_port`; None (nothing served) when the port is 0."""
    if settings.agent.listen_port == 0:
        log.info("agent.listen_port is 0: no /healthz, /readyz or /metrics")
        return None
    probe = ReadinessProbe(settings.database.url, settings.agent.schedule, last_full_run=last_full_run)
    return HealthServer(
        settings.agent.listen_host, settings.agent.listen_port, alive=alive, readiness=probe, metrics=metrics
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: HealthServer) -> None:
        self.app = app
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits ~40 ms for the client's delayed ACK
    timeout = 30  # idle keep-alive connections
    server_version = "shoko"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, *, head: bool) -> None:
        app = self.server.app
        path = self.path.split("?", 1)[0]
        try:
            if path == "/metrics":
                body, content_type = app.metrics.exposition()
                self._send(200, body, content_type, head)
                return
            if path == "/healthz":
                status, payload = app.healthz()
            elif path == "/readyz":
                status, payload = app.readyz()
            else:
                status, payload = 404, {"error": f"no such path {path}; try /healthz, /readyz or /metrics"}
        except Exception as exc:
            log.exception("health endpoint %s failed", path)
            status, payload = 500, {"error": f"{type(exc).__name__}: {_first_line(exc)}"}
        self._send(status, json.dumps(payload, ensure_ascii=False).encode(), "application/json; charset=utf-8", head)

    def _send(self, status: int, body: bytes, content_type: str, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _refuse(self) -> None:
        body = json.dumps({"error": f"method {self.command} not allowed; use GET"}).encode()
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse
