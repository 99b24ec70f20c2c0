"""The scale benchmark: a generated estate served by the sandbox in its own process, collected by `shoko collect`
(the real pipeline and SDK clients) in another, and the figures that say where the time, calls, CPU, memory and
storage go. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.agent_runs import AgentRun, measure_agent_runs
from bench.generate import GenerateError, generate, write_estate
from collector.settings import CollectionSettings
from reports.bundle import PRIVATE_KEY_FILE
from sandbox.admin import SandboxAdmin

ROOT = Path(__file__).resolve().parent.parent
# The container image's allocator settings (Dockerfile's ENV), given to the collector unless the caller sets them:
# the figures are those of shoko as it is deployed.
IMAGE_ALLOCATOR = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}


@dataclass(frozen=True)
class Measured:
    """One child process: exit code, wall seconds, CPU seconds (user + system), peak resident set in bytes."""

    code: int
    wall: float
    cpu: float
    peak_rss: int


def run_measured(args: list[str], log: Path, env: dict[str, str]) -> Measured:
    """Run `python -m ...args` from the repository root; its output goes to `log`.

    The peak is the child's own high-water mark (VmHWM), read every quarter second until it exits. wait4's
    ru_maxrss is not: Linux counts in it this process's resident set at the fork, which at 100,000 resources (the
    estate held here, 1.6 GB) was larger than the collector's own peak."""
    started = time.monotonic()
    with log.open("ab") as out:
        out.write(f"$ {' '.join(args)}\n".encode())
        out.flush()
        proc = subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        peak = [0]
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.25):
                peak[0] = max(peak[0], _high_water(proc.pid))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        watcher.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    # A child too short-lived to be read once falls back to ru_maxrss.
    return Measured(
        proc.returncode, time.monotonic() - started, usage.ru_utime + usage.ru_stime, peak[0] or usage.ru_maxrss * 1024
    )


def _high_water(pid: int) -> int:
    """A running process's peak resident set in bytes (VmHWM), 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def collecting_seconds(log: Path) -> float | None:
    """Seconds the last run in `log` spent fetching: from its "collecting N fetcher tasks" line to its "collected
    N evidence records" line (the wall time also holds start-up, storing, judging and sealing)."""
    started = ended = None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        event = str(entry.get("event", ""))
        if event.startswith("collecting ") and "fetcher tasks" in event:
            started, ended = entry.get("ts"), None
        elif event.startswith("collected ") and "evidence records" in event:
            ended = entry.get("ts")
    if not (started and ended):
        return None
    parse = lambda ts: datetime.fromisoformat(ts.replace("Z", "+00:00"))  # noqa: E731
    return (parse(ended) - parse(started)).total_seconds()


class Sandboxed:
    """`python -m sandbox.serve serve` in its own process, so its CPU is counted apart from the collector's."""

    def __init__(self, estate: Path, workdir: Path, env: dict[str, str], args: argparse.Namespace) -> None:
        self.info_file = workdir / "sandbox-info.json"
        self.log = workdir / "sandbox.log"
        cmd = [
            sys.executable,
            "-m",
            "sandbox.serve",
            "serve",
            "--estate",
            str(estate),
            "--info-file",
            str(self.info_file),
            "--page-size",
            str(args.page_size),
            "--latency",
            str(args.latency_ms / 1000),
        ]
        if not args.no_throttle:
            cmd += ["--throttle", "--throttle-burst", str(args.throttle_burst)]
            cmd += ["--throttle-refill", str(args.throttle_refill)]
        self.info_file.unlink(missing_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        while not self.info_file.exists():
            if self.proc.poll() is not None:
                raise SystemExit(f"bench: the sandbox exited with {self.proc.returncode}; see {self.log}")
            time.sleep(0.2)
        time.sleep(0.1)  # the file is written atomically; give the reader a settled directory entry
        self.info: dict[str, Any] = json.loads(self.info_file.read_text(encoding="utf-8"))
        self.admin = SandboxAdmin.from_info(self.info)

    def stats(self) -> dict[str, Any]:
        return self.admin.stats()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    def sub(key: str) -> dict[str, int]:
        a, b = after.get(key, {}), before.get(key, {})
        return {k: v - b.get(k, 0) for k, v in a.items() if v - b.get(k, 0)}

    return {
        "cpu_seconds": after["cpu_seconds"] - before["cpu_seconds"],
        "operations": sub("operations"),
        "statuses": sub("statuses"),
        "subscriptions": sub("subscriptions"),
    }


def first_run_checkpoint(url: str) -> str:
    """A verify checkpoint at the first sealed run, as a pass made right after it would have written."""
    from storage.ledger import Ledger
    from storage.verify import Checkpoint

    with Ledger(url, read_only=True) as ledger:
        first = ledger.chain()[0]
    return Checkpoint(first.chain_index, first.id, first.digest).dumps()


def database_size(url: str) -> int:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    finally:
        engine.dispose()


def lower_bound(calls: dict[str, Any], args: argparse.Namespace) -> tuple[float, float, float]:
    """(throttle bound, latency bound, the larger) in seconds for the calls the run made.

    Throttle: subscriptions are read in parallel, so the busiest one sets it: beyond the first `burst` reads,
    each waits for the refill. Latency: every call spends `latency` in flight and at most `workers` are in
    flight at once."""
    total = sum(calls["operations"].values())
    busiest = max(calls["subscriptions"].values(), default=0)
    throttle = 0.0 if args.no_throttle else max(0.0, busiest - args.throttle_burst) / args.throttle_refill
    latency = total * (args.latency_ms / 1000) / args.workers
    return throttle, latency, max(throttle, latency)


def _collect_once(
    collect: list[str], log: Path, env: dict[str, str], sandbox: Sandboxed, url: str, which: str
) -> tuple[Measured, dict[str, Any], int]:
    """One `shoko collect`: how it ran, the sandbox's calls meanwhile and the database's size after it."""
    before = sandbox.stats()
    measured = run_measured(collect, log, env)
    calls = _delta(sandbox.stats(), before)
    if measured.code != 0:
        raise SystemExit(f"bench: {which} exited with {measured.code}; see {log}")
    return measured, calls, database_size(url)


def _agent_peak(agent_runs: list[AgentRun], n: int) -> str:
    """What a run of the agent adds to its peak: the process's own peak so far when the run was sealed."""
    return f" (read every 0.25 s; VmHWM when sealed {_mb(agent_runs[n].high_water)})" if agent_runs else ""


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def emptied(out: Path) -> Path:
    """The benchmark's working directory `out`, made anew: figures never mix with an earlier run's files."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench run", description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=5)
    parser.add_argument("--resources", type=int, default=2000, help="tracked resources in the whole estate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--violation-rate", type=float, default=0.05)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="added by the sandbox to every call (50)")
    parser.add_argument("--no-throttle", action="store_true", help="do not enforce ARM's read limit")
    parser.add_argument("--throttle-burst", type=float, default=250.0)
    parser.add_argument("--throttle-refill", type=float, default=25.0)
    parser.add_argument("--page-size", type=int, default=100, help="items per listing page (100)")
    parser.add_argument(
        "--no-resource-graph",
        action="store_true",
        help="collection.resource_graph: false (VM extensions and DCR associations read per VM from ARM)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=CollectionSettings.max_workers,
        help=f"collection.max_workers for shoko collect ({CollectionSettings.max_workers}, its default)",
    )
    parser.add_argument(
        "--database-url",
        help="an empty database to collect into, e.g. postgresql+psycopg://user@127.0.0.1/shoko_bench "
        "(default: a new SQLite file in --out)",
    )
    parser.add_argument(
        "--agent",
        action="store_true",
        help="measure two scheduled runs of one `shoko agent` process, not two `shoko collect` (bench.agent_runs)",
    )
    parser.add_argument("--out", default="bench-out", help="working directory (estate, logs, database)")
    args = parser.parse_args(argv)

    out = emptied((ROOT / args.out).resolve() if not Path(args.out).is_absolute() else Path(args.out))
    log = out / "shoko.log"
    env = {**IMAGE_ALLOCATOR, **os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SHOKO_DATABASE_URL", None)
    url = args.database_url or f"sqlite:///{out / 'shoko.db'}"
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    t0 = time.monotonic()
    try:
        generated = generate(args.subscriptions, args.resources, seed=args.seed, violation_rate=args.violation_rate)
    except GenerateError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    estate_file = out / "estate.json"
    write_estate(generated, estate_file)
    say(
        f"estate: {args.subscriptions} subscriptions, {generated.resources:,} resources ({generated.documents:,} ARM "
        f"documents, {generated.users:,} users, {generated.units_broken:,} units with an injected violation), "
        f"seed {args.seed}; generated and written in {time.monotonic() - t0:.1f} s "
        f"({_mb(estate_file.stat().st_size)} JSON)"
    )
    config = out / "shoko.yaml"
    # The collector keeps to the read budget the sandbox enforces (whole reads, as the settings take them).
    budget = (
        ""
        if args.no_throttle
        else f"  arm_reads_burst: {max(1, int(args.throttle_burst))}\n"
        f"  arm_reads_per_second: {max(1, int(args.throttle_refill))}\n"
    )
    config.write_text(
        f"database:\n  url: {json.dumps(url)}\ncollection:\n  max_workers: {args.workers}\n{budget}"
        f"  resource_graph: {'false' if args.no_resource_graph else 'true'}\n",
        encoding="utf-8",
    )
    t0 = time.monotonic()
    sandbox = Sandboxed(estate_file, out, env, args)
    say(
        f"sandbox: loaded in {time.monotonic() - t0:.1f} s; latency {args.latency_ms:g} ms, page size "
        f"{args.page_size}, "
        + (
            "no throttle"
            if args.no_throttle
            else f"throttle {args.throttle_burst:g} burst + {args.throttle_refill:g}/s per subscription and principal"
        )
    )
    say(
        f"collector: {'shoko agent' if args.agent else 'shoko collect'}, collection.max_workers {args.workers}, "
        f"resource_graph {'off' if args.no_resource_graph else 'on'}, database {url.split('@')[-1]}"
    )
    try:
        figures = _measure(args, sandbox, config, log, env, url, out, say)
    finally:
        sandbox.stop()
    (out / "figures.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "figures.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


def _measure(
    args: argparse.Namespace,
    sandbox: Sandboxed,
    config: Path,
    log: Path,
    env: dict[str, str],
    url: str,
    out: Path,
    say: Any,
) -> dict[str, Any]:
    cli = ["-m", "collector.cli"]
    collect = [*cli, "collect", "--config", str(config), "--sandbox-info", str(sandbox.info_file)]
    agent_runs: list[AgentRun] = []
    if args.agent:
        agent_config = config.with_name("shoko-agent.yaml")
        # Each run due as soon as the one before it is sealed; no health port (several benchmarks may run at once).
        agent_config.write_text(
            config.read_text(encoding="utf-8") + "agent:\n  schedule: every 1s\n  listen_port: 0\n", encoding="utf-8"
        )
        agent_runs = measure_agent_runs(
            agent_config, sandbox.info_file, log, env, 2, sandbox.stats, _delta, lambda: database_size(url), ROOT
        )
        first, second = (Measured(0, r.wall, r.cpu, r.peak_rss) for r in agent_runs)
        calls, calls2 = agent_runs[0].calls, agent_runs[1].calls
        size_first, size_second = agent_runs[0].database, agent_runs[1].database
    else:
        first, calls, size_first = _collect_once(collect, log, env, sandbox, url, "shoko collect")
    total = sum(calls["operations"].values())
    arm = sum(v for k, v in calls["operations"].items() if "graph" not in k and "token" not in k)
    throttle_bound, latency_bound, bound = lower_bound(calls, args)
    resources = args.resources
    say()
    say("first run (empty database)")
    say(f"  wall time                 {first.wall:8.1f} s")
    say(f"  calls                     {total:8,}  ({arm:,} ARM; {arm / resources:.2f} ARM calls per resource)")
    say(f"  busiest subscription      {max(calls['subscriptions'].values(), default=0):8,} calls")
    say(
        f"  lower bound               {bound:8.1f} s  (throttle {throttle_bound:.1f} s; latency "
        f"{latency_bound:.1f} s at {args.workers} in flight); wall / bound = {first.wall / bound:.2f}"
        if bound
        else "  lower bound                  n/a (no latency, no throttle)"
    )
    fetching = agent_runs[0].fetching if agent_runs else collecting_seconds(log)
    if fetching is not None:
        say(
            f"  of which collecting       {fetching:8.1f} s  (fetching only, from the log)"
            + (f"; collecting / bound = {fetching / bound:.2f}" if bound else "")
        )
    say(f"  429s received             {calls['statuses'].get('429', 0):8,}")
    say(
        f"  collector CPU             {first.cpu:8.1f} s  ({first.cpu / total * 1000:.2f} ms per call); "
        f"sandbox CPU {calls['cpu_seconds']:.1f} s ({calls['cpu_seconds'] / total * 1000:.2f} ms per call)"
    )
    say(f"  collector peak RSS        {_mb(first.peak_rss):>11}" + _agent_peak(agent_runs, 0))
    say(f"  database after            {_mb(size_first):>11}  ({size_first / resources / 1000:.1f} KB per resource)")
    say("  calls by operation:")
    for op, n in sorted(calls["operations"].items(), key=lambda kv: -kv[1]):
        say(f"    {n:8,}  {op}")
    if not agent_runs:
        second, calls2, size_second = _collect_once(collect, log, env, sandbox, url, "the second shoko collect")
    growth = size_second - size_first
    say()
    say("second run (estate unchanged)")
    say(
        f"  wall time {second.wall:.1f} s, {sum(calls2['operations'].values()):,} calls, "
        f"{calls2['statuses'].get('429', 0):,} 429s, collector CPU {second.cpu:.1f} s, peak RSS {_mb(second.peak_rss)}"
        + _agent_peak(agent_runs, 1)
    )
    say(
        f"  database growth           {_mb(growth):>11}  ({growth / size_first * 100:.1f} % of the first run; "
        f"{growth / resources / 1000:.1f} KB per resource)"
    )
    say()
    say("reading the ledger (2 runs)")
    as_of = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = run_measured([*cli, "status", "--config", str(config), "--as-of", as_of, "--lang", "en"], log, env)
    verify = run_measured([*cli, "verify", "--config", str(config)], log, env)
    checkpoint = out / "checkpoint.json"
    checkpoint.write_text(first_run_checkpoint(url), encoding="utf-8")  # what a pass after the first run left
    since = run_measured([*cli, "verify", "--config", str(config), "--checkpoint", str(checkpoint)], log, env)
    keys = out / "keys"
    run_measured([*cli, "keys", "create", "--out", str(keys)], log, env)
    bundle = out / "snapshot.zip"
    export = run_measured(
        [
            *cli,
            "snapshot",
            "export",
            "--config",
            str(config),
            "--out",
            str(bundle),
            "--key",
            str(keys / PRIVATE_KEY_FILE),
        ],
        log,
        env,
    )
    measured = (
        ("status --as-of", status),
        ("verify", verify),
        ("verify --checkpoint (run 2)", since),
        ("snapshot export", export),
    )
    for name, m in measured:
        failed = f"  (exit {m.code}; see {log})" if m.code else ""
        say(f"  {name:<25} {m.wall:8.2f} s  peak RSS {_mb(m.peak_rss)}{failed}")
    if bundle.exists():
        say(f"  snapshot size             {_mb(bundle.stat().st_size):>11}")
    return {
        "collector": "shoko agent" if agent_runs else "shoko collect",
        "agent_runs": [{k: v for k, v in r.__dict__.items() if not k.startswith("_")} for r in agent_runs],
        "first": first.__dict__,
        "collecting_seconds": fetching,
        "second": second.__dict__,
        "calls": calls,
        "calls_second": calls2,
        "bound": {"throttle": throttle_bound, "latency": latency_bound},
        "database": {"first": size_first, "second": size_second},
        "status_as_of": status.__dict__,
        "verify": verify.__dict__,
        "verify_checkpoint": since.__dict__,
        "snapshot_export": export.__dict__,
    }
