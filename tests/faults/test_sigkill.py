"""`shoko collect` killed with SIGKILL at random points of repeated runs, against the sandbox (real SDK) and a real
database, SQLite and PostgreSQL. After every kill and every restart the ledger verifies, every sealed run is
unchanged (status, digest, evidence), every completed run is whole, and a run killed before its seal ends
`interrupted` — sealed by a later start once its lease expired — never `completed`.

The kill points come from a seeded generator (SHOKO_FAULT_SEED to replay one); half of them fall anywhere in a
process's life, half inside its run. Each `shoko collect` is a process of its own, forked from one that has imported
shoko already (the imports cost seconds, the runs a second or two): the kill lands in a run, not in the imports."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sandbox.server import Sandbox
from storage.ledger import Ledger, LedgerError, RunRecord, RunStatus
from tests.faults.conftest import ESTATE

ROOT = Path(__file__).resolve().parents[2]
ITERATIONS = 8
SEED = int(os.environ.get("SHOKO_FAULT_SEED", "20261202"))
LOCKED = "another agent holds the collection lock"

# Imports what `shoko collect` needs, then on "run" forks a process running it (stderr to <folder>/<pid>.err) and
# prints its pid; on "wait <pid>" prints that process's exit code (negative: the signal that ended it).
FORK_SERVER = """
import os, sys, traceback
import psycopg, collector.cli, collector.pipeline, collector.render, controls.catalog, collector.anchoring
folder, argv = sys.argv[1], sys.argv[2:]
for line in sys.stdin:
    word, *rest = line.split()
    if word == "run":
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                err = os.open(os.path.join(folder, f"{os.getpid()}.err"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(err, 2)
                os.dup2(os.open(os.devnull, os.O_RDWR), 1)
                code = collector.cli.main(argv)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        print(pid, flush=True)
    elif word == "wait":
        print(os.waitstatus_to_exitcode(os.waitpid(int(rest[0]), 0)[1]), flush=True)
"""


class Collectors:
    """`shoko collect` processes forked from the FORK_SERVER."""

    def __init__(self, folder: Path, env: dict[str, str], argv: list[str]) -> None:
        self.folder = folder
        self.server = subprocess.Popen(
            [sys.executable, "-c", FORK_SERVER, str(folder), *argv],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def _ask(self, line: str) -> int:
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(line + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline()
        assert answer.strip(), f"the fork server ended (exit code {self.server.poll()})"
        return int(answer)

    def start(self) -> int:
        return self._ask("run")

    def wait(self, pid: int) -> tuple[int, str]:
        """The exit code of `pid` (-9: killed) and what it wrote on stderr."""
        code = self._ask(f"wait {pid}")
        return code, (self.folder / f"{pid}.err").read_text(encoding="utf-8", errors="replace")

    def finished(self, pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        state = Path(f"/proc/{pid}/stat").read_text()
        return state[state.rfind(")") + 2] == "Z"  # exited, not yet waited for

    def close(self) -> None:
        assert self.server.stdin is not None
        self.server.stdin.close()
        self.server.wait(timeout=30)


def _run_of(url: str, pid: int) -> RunRecord | None:
    """The run the process `pid` started, once it is stored."""
    try:
        with Ledger(url, read_only=True) as ledger:
            return next((r for r in reversed(ledger.runs()) if r.lease is not None and r.lease.pid == pid), None)
    except LedgerError:  # no ledger yet: the first process is still creating it
        return None


def _wait_for_run(url: str, collectors: Collectors, pid: int, seconds: float = 60) -> float | None:
    """Seconds from now until process `pid` stored its run (None if it ended first)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if _run_of(url, pid) is not None:
            return time.monotonic() - started
        if collectors.finished(pid):
            return None
        time.sleep(0.05)
    raise AssertionError("the collector started no run")


def _sealed(ledger: Ledger) -> dict[int, tuple[RunStatus, str | None, list[str]]]:
    return {
        r.id: (r.status, r.digest, sorted(e.sha256 for e in ledger.evidence(r.id))) for r in ledger.runs() if r.sealed
    }


def test_sigkill_at_random_points_of_repeated_runs(database_url, tmp_path):
    rng = random.Random(SEED)
    info = tmp_path / "sandbox.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOKO_")}
    # Leases renewed every second (expired 3 s after the last renewal): a killed run can be sealed soon after.
    env |= {"PYTHONPATH": str(ROOT), "SHOKO_DATABASE_URL": database_url, "SHOKO_AGENT_LEASE_SECONDS": "1"}
    collectors = Collectors(tmp_path, env, ["collect", "--sandbox-info", str(info)])
    try:
        with Sandbox.from_dict(ESTATE) as sb:
            info.write_text(json.dumps(sb.info.to_dict()), encoding="utf-8")

            pid = collectors.start()
            began = time.monotonic()
            until_run = _wait_for_run(database_url, collectors, pid)
            code, err = collectors.wait(pid)
            assert code == 0 and until_run is not None, err
            whole = time.monotonic() - began
            with Ledger(database_url) as ledger:
                (clean,) = ledger.runs()
                sealed = _sealed(ledger)

            killed_in_run: dict[int, int] = {}  # run id -> pid of the process killed while it ran
            for iteration in range(ITERATIONS):
                pid = collectors.start()
                if iteration % 2:
                    # Inside the run: from its start to a little past its usual end (the seal, the summary).
                    if _wait_for_run(database_url, collectors, pid) is not None:
                        time.sleep(rng.uniform(0, 1.2 * (whole - until_run)))
                else:
                    time.sleep(rng.uniform(0, whole))
                os.kill(pid, signal.SIGKILL)
                code, err = collectors.wait(pid)
                assert code in (-signal.SIGKILL, 0) or LOCKED in err, err

                with Ledger(database_url) as ledger:
                    report = ledger.verify()
                    assert report.ok, (iteration, report)
                    now = _sealed(ledger)
                    for run_id, before in sealed.items():
                        assert now[run_id] == before, f"sealed run {run_id} changed after kill {iteration}"
                    runs = ledger.runs()
                for run in runs:
                    if run.status == RunStatus.COMPLETED:  # only a whole run is completed
                        assert run.counts == clean.counts, (iteration, run)
                    if run.status == RunStatus.RUNNING and run.lease is not None and run.lease.pid == pid:
                        killed_in_run[run.id] = pid
                    assert run.id not in killed_in_run or run.status in (RunStatus.RUNNING, RunStatus.INTERRUPTED)
                sealed = now

            # Once the killed runs' leases have expired, a run to the end seals them interrupted.
            with Ledger(database_url) as ledger:
                expiries = [r.lease.expires_at for r in ledger.runs() if r.status == RunStatus.RUNNING and r.lease]
            time.sleep(max([0.0] + [(e - datetime.now(UTC)).total_seconds() + 0.2 for e in expiries]))
            for _attempt in range(50):  # PostgreSQL drops a killed client's advisory lock once it sees it gone
                code, err = collectors.wait(collectors.start())
                if LOCKED not in err:
                    break
                time.sleep(0.2)
    finally:
        collectors.close()
    assert code == 0, err
    for run_id in set(killed_in_run) - set(sealed):
        assert f"run {run_id} sealed interrupted: " in err  # the final run's log names each run it sealed

    with Ledger(database_url) as ledger:
        report = ledger.verify()
        runs = {r.id: r for r in ledger.runs()}
        now = _sealed(ledger)
    assert report.ok and report.running == (), report
    for run_id, before in sealed.items():
        assert now[run_id] == before
    assert killed_in_run, f"no kill landed inside a run (seed {SEED})"
    for run_id, pid in killed_in_run.items():
        run = runs[run_id]
        assert run.status == RunStatus.INTERRUPTED, run
        assert f"process {pid} on " in (run.error or "") and "is gone" in (run.error or ""), run.error
    completed = [r for r in runs.values() if r.status == RunStatus.COMPLETED]
    assert all(r.counts == clean.counts for r in completed) and max(runs) in {r.id for r in completed}
    assert set(report.interrupted) >= set(killed_in_run)
