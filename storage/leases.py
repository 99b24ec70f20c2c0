"""Run leases and the collection lock.

A running run carries a lease held by the process collecting it: host, pid and a random token (one per
process, new after a fork, so a restarted container whose agent is pid 1 again is not mistaken for the
old one), renewed every lease period. A lease not renewed for `LEASE_PERIODS` periods has expired; a run
whose lease expired is abandoned unless its holder is on this host and still alive — a process that
merely stalls (suspended, swapping) keeps its run.

The collection lock lets one process collect at a time per database without blocking the others:
PostgreSQL session advisory lock on a dedicated connection, `flock` on a file beside a SQLite database
file, a process-local lock for in-memory SQLite. All three are released by the operating system or the
server when the holding process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, text

log = logging.getLogger("shoko.ledger")

LEASE_PERIODS = 3  # a lease not renewed for this many periods has expired
DEFAULT_LEASE_SECONDS = 15  # AgentSettings.lease_seconds
# A pid whose process started this long after the run did is another process that reused the pid.
_PID_REUSE_SLACK = timedelta(seconds=2)


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a run's lease."""

    host: str
    pid: int
    token: str

    def __str__(self) -> str:
        return f"{self.host}/{self.pid}"


def _new_holder() -> LeaseHolder:
    return LeaseHolder(host=socket.gethostname(), pid=os.getpid(), token=secrets.token_hex(16))


_this_process = _new_holder()


def _after_fork() -> None:
    global _this_process
    _this_process = _new_holder()


os.register_at_fork(after_in_child=_after_fork)


def this_process() -> LeaseHolder:
    """The lease holder of the calling process."""
    return _this_process


@dataclass(frozen=True)
class RunLease:
    """A run's lease as stored: holder and times (the token stays in the database)."""

    host: str
    pid: int
    renewed_at: datetime
    expires_at: datetime

    def __str__(self) -> str:
        return f"{self.host}/{self.pid}"


def expiry(renewed_at: datetime, lease_seconds: int) -> datetime:
    return renewed_at + timedelta(seconds=lease_seconds * LEASE_PERIODS)


def _boot_time() -> datetime | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return datetime.fromtimestamp(int(line.split()[1]), UTC)
    except (OSError, ValueError):
        pass
    return None


def _process_state(pid: int) -> tuple[str, datetime | None] | None:
    """(state letter, start time) from /proc, or None where /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return ("gone", None)
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may itself contain spaces.
    fields = stat[stat.rfind(")") + 2 :].split()
    boot = _boot_time()
    started = None
    if boot is not None and len(fields) > 19:
        started = boot + timedelta(seconds=int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    return (fields[0], started)


def process_gone(holder: LeaseHolder, run_started_at: datetime) -> bool:
    """Whether the holder of a lease taken on this host no longer runs.

    This process with another token is a former incarnation (a restarted container's pid 1); a zombie or
    a process started after the run did (a reused pid) is not the holder either.
    """
    me = this_process()
    if holder.pid == me.pid:
        return holder.token != me.token
    if holder.pid <= 0:
        return True
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, owned by someone else
    state = _process_state(holder.pid)
    if state is None:
        return False
    letter, started = state
    if letter in ("gone", "Z", "X"):
        return True
    return started is not None and started > run_started_at + _PID_REUSE_SLACK


# -- the collection lock ---------------------------------------------------------------------------


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a lock name."""
    digest = hashlib.sha256(f"shoko collection lock {name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def postgresql_lock(engine: Engine, name: str) -> Iterator[bool]:
    """pg_try_advisory_lock on a connection of its own, held (outside any transaction) until exit."""
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        key = lock_key(name)
        got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one())
        try:
            yield got
        finally:
            if got:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                except Exception:
                    # Never hand a connection that may still hold the lock back to the pool.
                    connection.invalidate()
    finally:
        connection.close()


@contextmanager
def file_lock(path: Path) -> Iterator[bool]:
    """flock on `path` (created if missing), released when this exits or the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[bytes] = open(path, "ab")  # noqa: SIM115 - held for the lock's life
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


@contextmanager
def memory_lock(locks: dict[str, threading.Lock], name: str) -> Iterator[bool]:
    """A process-local lock from `locks` (one dict per in-memory database)."""
    lock = locks.setdefault(name, threading.Lock())
    got = lock.acquire(blocking=False)
    try:
        yield got
    finally:
        if got:
            lock.release()


class LeaseLost(Exception):
    """The run's lease cannot be renewed any more: the run was sealed, or another holder has it."""


class LeaseKeeper:
    """Renews one run's lease every `every` seconds on a daemon thread until `stop()`.

    A failed renewal (database unreachable) is logged and retried at the next period; losing the lease
    (the run was sealed, e.g. interrupted by another process after the lease expired) ends the thread.
    """

    def __init__(self, run_id: int, renew: Callable[[], object], every: float, *, thread: bool = True) -> None:
        self.run_id = run_id
        self.every = every
        self.lost: str | None = None  # why the lease was lost, once it was
        self._renew = renew
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-run-{run_id}", daemon=True) if thread else None
        if self._thread is not None:
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self._renew()
            except LeaseLost as exc:
                if not self._stop.is_set():
                    self.lost = str(exc)
                    log.error("run %d: lease lost: %s", self.run_id, exc)
                return
            except Exception as exc:  # retried at the next period; three missed periods expire the lease
                if self._stop.is_set():
                    return
                log.warning("run %d: lease not renewed (retrying in %gs): %s", self.run_id, self.every, exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)  # a renewal in flight waits at most for the database's lock timeout
