"""`shoko agent` measured over its scheduled runs (`python -m bench run --agent`): the form shoko is deployed in,
which stores run after run in one process (and keeps what it may reuse from one run for the next).

The agent is started with a schedule that makes each run due as soon as the one before it is sealed, and stopped
(SIGTERM) once it has sealed the runs asked for. Each run's figures come from the agent's log (when it started,
stopped fetching and was sealed) and from the process, read every quarter second: its resident set (the highest
read during the run, and VmHWM, the process's peak so far, when the run is sealed) and its CPU time."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

_STARTED = re.compile(r"run (\d+) started")
_EVERY = 0.25  # seconds between reads of the process and of its log
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class AgentRun:
    """One run of the agent: wall seconds from its start to its seal (the agent's log), the seconds it spent
    fetching, CPU seconds the process spent meanwhile, the highest resident set read during it and the process's
    VmHWM when it was sealed (bytes), and the sandbox's calls meanwhile (`calls`, as bench.run._delta gives)."""

    run_id: int
    wall: float = 0.0
    fetching: float | None = None
    cpu: float = 0.0
    peak_rss: int = 0
    high_water: int = 0
    calls: dict[str, Any] = field(default_factory=dict)
    database: int = 0  # the database's size (bytes) when the run was sealed
    _started: dict[str, float] = field(default_factory=dict)


class _Process:
    """What /proc says of a running process: resident set and peak (bytes), CPU seconds."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def memory(self) -> tuple[int, int]:
        rss = hwm = 0
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1]) * 1024
                    elif line.startswith("VmHWM:"):
                        hwm = int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
        return rss, hwm

    def cpu(self) -> float:
        try:
            with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
        except (OSError, ValueError, IndexError):
            return 0.0


def measure_agent_runs(
    config: Path,
    sandbox_info: Path,
    log: Path,
    env: dict[str, str],
    runs: int,
    stats: Callable[[], dict[str, Any]],
    delta: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
    database_size: Callable[[], int],
    cwd: Path,
) -> list[AgentRun]:
    """Start `shoko agent` with `config` (its schedule due as each run is sealed), let it seal `runs` runs, stop
    it, and give each run's figures. Raises SystemExit when a run fails or the agent exits first."""
    args = ["-m", "collector.cli", "agent", "--config", str(config), "--sandbox-info", str(sandbox_info)]
    header = f"$ {' '.join(args)}\n".encode()
    offset = (log.stat().st_size if log.exists() else 0) + len(header)  # the agent's own lines start there
    with log.open("ab") as out:
        out.write(header)
        out.flush()
        agent = subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    process = _Process(agent.pid)
    highest = [0]  # the highest resident set read since the current run started
    lock = threading.Lock()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(_EVERY):
            rss, _ = process.memory()
            with lock:
                highest[0] = max(highest[0], rss)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    measured: list[AgentRun] = []
    current: AgentRun | None = None
    before = stats()
    try:
        with log.open("rb") as reading:
            reading.seek(offset)
            pending = b""
            while len(measured) < runs:
                if agent.poll() is not None:
                    raise SystemExit(f"bench: shoko agent exited with {agent.returncode}; see {log}")
                pending += reading.read()
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    event, ts = _event(line)
                    if event is None:
                        continue
                    if (started := _STARTED.match(event)) and current is None:
                        current = AgentRun(int(started.group(1)))
                        current._started = {"ts": ts, "cpu": process.cpu()}
                        with lock:
                            highest[0] = process.memory()[0]
                    elif current is None:
                        continue
                    elif event.startswith("collecting ") and "fetcher tasks" in event:
                        current._started["fetching"] = ts
                    elif event.startswith("collected ") and "evidence records" in event:
                        if "fetching" in current._started:
                            current.fetching = ts - current._started["fetching"]
                    elif event.startswith(f"run {current.run_id} failed"):
                        raise SystemExit(f"bench: the agent's run {current.run_id} failed; see {log}")
                    elif event.startswith(f"run {current.run_id} completed: digest"):
                        current.wall = ts - current._started["ts"]
                        current.cpu = process.cpu() - current._started["cpu"]
                        with lock:
                            current.peak_rss = max(highest[0], process.memory()[0])
                        current.high_water = process.memory()[1]
                        after = stats()
                        current.calls, before = delta(after, before), after
                        current.database = database_size()  # before a next run the schedule starts stores much
                        measured.append(current)
                        current = None
                        if len(measured) == runs:
                            break
                time.sleep(_EVERY)
    finally:
        done.set()
        watcher.join()
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)  # a run it has started meanwhile is sealed interrupted
            try:
                agent.wait(timeout=90)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
    return measured


def _event(line: bytes) -> tuple[str | None, float]:
    """A JSON log line's event and its time (epoch seconds); (None, 0) for any other line."""
    if not line.startswith(b"{"):
        return None, 0.0
    try:
        entry = json.loads(line)
        ts = datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00")).timestamp()
    except (ValueError, KeyError):
        return None, 0.0
    return str(entry.get("event", "")), ts
