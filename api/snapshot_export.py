"""Snapshot bundles for the API and the dashboard, built in a child process of their own.

Building a bundle holds a whole run's evidence references, findings and the printed report's layout (hundreds of MB
at 100,000 resources). The API often lives in the agent's process (`api.with_agent`): built there, that memory would
stay resident beside the agent's next collections, and running out of it would take the collection down with the
download. In a child process it is given back when the child ends, and the kernel kills the child first when memory
runs out (its OOM score is raised): the download fails with a reason and the agent goes on. One bundle is built at a
time; further requests wait their turn. The zip is written to a temporary file and sent from there, never held in
memory whole.

The child is `python -m api.snapshot_export`: it reads its job (pickled) on stdin and prints its outcome as one line
of JSON on stdout.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send

_BUILDS = threading.BoundedSemaphore(1)  # a bundle's memory is the largest an API process asks for: one at a time
_STDERR_KEPT = 2000  # characters of the child's stderr a failure quotes


class SnapshotBuildError(RuntimeError):
    """The child building a bundle failed or died; the message says how. `stated` when the failure is one the
    snapshot code words for its users (a SnapshotError), to be shown as it is."""

    def __init__(self, message: str, stated: bool = False) -> None:
        super().__init__(message)
        self.stated = stated


@dataclass(frozen=True)
class SnapshotJob:
    """What `shoko snapshot export` is given, for the child."""

    database_url: str
    catalog: Any
    moment: datetime | None
    numbers: tuple[int, ...] | None
    lang: str
    thresholds: Any
    key_file: str | None
    out: Path


@dataclass
class BuiltSnapshot:
    """A signed bundle in a temporary directory; `cleanup` removes it (after the response is sent)."""

    path: Path
    cleanup: Callable[[], None]


class SentThenRemoved(FileResponse):
    """A bundle as a zip download, its temporary directory removed once it is sent or sending it failed (a client
    that went away): a large estate's bundle is hundreds of MB, never left behind in the temporary directory."""

    def __init__(self, path: Path, cleanup: Callable[[], None], filename: str) -> None:
        super().__init__(path, media_type="application/zip", filename=filename)
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._cleanup()


def build_snapshot(
    database_url: str,
    catalog: Any,
    moment: datetime | None,
    numbers: tuple[int, ...] | None,
    lang: str,
    thresholds: Any,
    key_file: str | None,
) -> BuiltSnapshot:
    """The signed bundle `shoko snapshot export` writes for the same arguments, built by a child process into a
    temporary file. Raises SnapshotBuildError with the child's reason when it fails or dies."""
    workdir = Path(tempfile.mkdtemp(prefix="shoko-snapshot-"))
    job = SnapshotJob(database_url, catalog, moment, numbers, lang, thresholds, key_file, workdir / "snapshot.zip")
    try:
        with _BUILDS:
            _run_child(job)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return BuiltSnapshot(job.out, lambda: shutil.rmtree(workdir, ignore_errors=True))


def _run_child(job: SnapshotJob) -> None:
    # A fresh interpreter, not a fork: the agent's threads, locks and database connections are not copied.
    done = subprocess.run([sys.executable, "-m", __name__], input=pickle.dumps(job), capture_output=True, check=False)
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        outcome = json.loads(lines[-1]) if lines else {}
    except ValueError:
        outcome = {}
    if done.returncode == 0 and outcome.get("outcome") == "ok":
        return
    if outcome.get("outcome") in ("refused", "error"):
        raise SnapshotBuildError(str(outcome.get("message")), stated=outcome["outcome"] == "refused")
    stderr = done.stderr.decode("utf-8", "replace").strip()[-_STDERR_KEPT:]
    code = done.returncode
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = " (SIGKILL: most often the kernel's OOM killer, out of memory)" if -code == signal.SIGKILL else ""
        raise SnapshotBuildError(f"the process building the snapshot was killed by {name}{hint}")
    raise SnapshotBuildError(
        f"the process building the snapshot ended with exit code {code} without a bundle"
        + (f"; it said: {stderr}" if stderr else "")
    )


def _build(job: SnapshotJob) -> dict[str, str]:
    from reports.bundle import SnapshotError, fingerprint, load_private_key, write_bundle
    from reports.contents import build_bundle
    from storage.ledger import Ledger

    try:
        key = load_private_key(job.key_file)
        ledger = Ledger(job.database_url, read_only=True)
        try:
            bundle = build_bundle(
                ledger, job.catalog, job.moment, job.numbers, job.lang, job.thresholds, fingerprint(key.public_key())
            )
            write_bundle(bundle, key, job.out)  # evidence files are read from the ledger as written
        finally:
            ledger.close()
    except SnapshotError as exc:  # worded for the user (a ReportRenderError is one too)
        return {"outcome": "refused", "message": str(exc)}
    except Exception as exc:  # any other failure goes back to the API, which logs it
        return {"outcome": "error", "message": f"{type(exc).__name__}: {exc}"}
    return {"outcome": "ok"}


def _first_to_go_when_memory_runs_out() -> None:
    """Raise this process's OOM score to the top (Linux), so the kernel kills it rather than the agent."""
    with contextlib.suppress(OSError):  # not Linux, or no /proc: the child is still a process of its own
        Path("/proc/self/oom_score_adj").write_text("1000", encoding="ascii")


if __name__ == "__main__":
    _first_to_go_when_memory_runs_out()
    print(json.dumps(_build(pickle.loads(sys.stdin.buffer.read()))), flush=True)
