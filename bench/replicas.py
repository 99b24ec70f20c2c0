"""Agent replicas against one agent: a generated estate served by the sandbox (its own process, latency and ARM's read
throttle), collected into one PostgreSQL database first by `shoko collect` (one agent), then by one and by N `shoko
agent` processes with `agent.replicas` sharing a run. For each: the run's wall time (start to seal, on the
database's clock), calls, 429s, CPU of the collectors and of the sandbox, and how the work items were split. It
prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bench.generate import GenerateError, generate, write_estate
from bench.run import ROOT, Sandboxed, _delta, emptied, lower_bound, run_measured
from collector.settings import AgentSettings, CollectionSettings

AGENT = "import sys, collector.cli; sys.exit(collector.cli.main(sys.argv[1:]))"


@dataclass(frozen=True)
class Phase:
    """One way of collecting the estate once, and what it cost."""

    name: str
    processes: int
    run_seconds: float  # the run's start to its seal, both on the database's clock
    wall: float  # from the first process started to the run sealed
    cpu: float  # every collector process, user + system
    calls: dict[str, Any]
    items: dict[str, int]  # replica (host/pid) -> work items it finished; empty for `shoko collect`


def _reset(url: str) -> None:
    """An empty database for the next phase (the benchmark's own database: everything in it goes)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def _sealed_run(url: str) -> dict[str, Any] | None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT id, status, extract(epoch FROM finished_at - started_at) AS seconds FROM runs "
                    "WHERE finished_at IS NOT NULL ORDER BY id LIMIT 1"
                )
            ).first()
            return dict(row._mapping) if row else None
    except Exception:  # no tables until the first process has opened the ledger
        return None
    finally:
        engine.dispose()


def _items(url: str, run_id: int) -> dict[str, int]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT holder, count(*) FROM run_work WHERE run_id = :run AND state IN ('done', 'failed') "
                    "GROUP BY holder ORDER BY holder"
                ),
                {"run": run_id},
            )
            return {str(holder): int(n) for holder, n in rows}
    finally:
        engine.dispose()


def _single(sandbox: Sandboxed, config: Path, url: str, log: Path, env: dict[str, str]) -> Phase:
    before = sandbox.stats()
    measured = run_measured(
        ["-m", "collector.cli", "collect", "--config", str(config), "--sandbox-info", str(sandbox.info_file)], log, env
    )
    calls = _delta(sandbox.stats(), before)
    run = _sealed_run(url)
    if measured.code != 0 or run is None:
        raise SystemExit(f"bench: shoko collect exited with {measured.code}; see {log}")
    return Phase("shoko collect (one agent)", 1, float(run["seconds"]), measured.wall, measured.cpu, calls, {})


def _replicas(
    n: int, sandbox: Sandboxed, config: Path, url: str, out: Path, env: dict[str, str], timeout: float
) -> Phase:
    before = sandbox.stats()
    started = time.monotonic()
    procs, logs = [], [(out / f"replica-{n}-{i}.log").open("wb") for i in range(n)]
    for log in logs:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    AGENT,
                    "agent",
                    "--config",
                    str(config),
                    "--sandbox-info",
                    str(sandbox.info_file),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=env,
            )
        )
    try:
        run = None
        while run is None:
            if time.monotonic() - started > timeout:
                raise SystemExit(f"bench: no run sealed by {n} replicas within {timeout:g} s; see {out}")
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"bench: a replica exited early; see {out}/replica-{n}-*.log")
            time.sleep(0.2)
            run = _sealed_run(url)
        wall = time.monotonic() - started
    finally:
        cpu = 0.0
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            _, _, usage = os.wait4(p.pid, 0)
            cpu += usage.ru_utime + usage.ru_stime
        for log in logs:
            log.close()
    calls = _delta(sandbox.stats(), before)
    if run["status"] != "completed":
        raise SystemExit(f"bench: the shared run was sealed {run['status']}; see {out}/replica-{n}-*.log")
    name = f"{n} replica{'s' if n > 1 else ''} (agent.replicas)"
    return Phase(name, n, float(run["seconds"]), wall, cpu, calls, _items(url, int(run["id"])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench replicas", description=__doc__)
    parser.add_argument(
        "--database-url",
        required=True,
        help="a PostgreSQL database of the benchmark's own: it is emptied before each phase",
    )
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--subscriptions", type=int, default=12)
    parser.add_argument("--resources", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--violation-rate", type=float, default=0.05)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--no-throttle", action="store_true")
    parser.add_argument("--throttle-burst", type=float, default=250.0)
    parser.add_argument("--throttle-refill", type=float, default=25.0)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument(
        "--workers", type=int, default=CollectionSettings.max_workers, help="collection.max_workers of every process"
    )
    parser.add_argument(
        "--replica-items",
        type=int,
        default=AgentSettings.replica_items,
        help="agent.replica_items: subscriptions one replica collects at once",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for one shared run")
    parser.add_argument("--out", default="bench-replicas", help="working directory (emptied first)")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        print("bench: replicas share a run through PostgreSQL: --database-url postgresql+psycopg://…", file=sys.stderr)
        return 2

    out = emptied(Path(args.out).resolve())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOKO_")} | {"PYTHONPATH": str(ROOT)}
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    try:
        generated = generate(args.subscriptions, args.resources, seed=args.seed, violation_rate=args.violation_rate)
    except GenerateError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    estate = out / "estate.json"
    write_estate(generated, estate)
    budget = (
        ""
        if args.no_throttle
        else f"  arm_reads_burst: {max(1, int(args.throttle_burst))}\n"
        f"  arm_reads_per_second: {max(1, int(args.throttle_refill))}\n"
    )
    collection = f"collection:\n  max_workers: {args.workers}\n{budget}  resource_graph: true\n"
    single = out / "single.yaml"
    single.write_text(f"database:\n  url: {json.dumps(args.database_url)}\n{collection}", encoding="utf-8")
    shared = out / "replicas.yaml"
    shared.write_text(
        f"database:\n  url: {json.dumps(args.database_url)}\n{collection}agent:\n  replicas: true\n"
        f"  replica_items: {args.replica_items}\n  schedule: every 24h\n  listen_port: 0\n",
        encoding="utf-8",
    )
    say(
        f"estate: {args.subscriptions} subscriptions, {generated.resources:,} resources ({generated.documents:,} ARM "
        f"documents), seed {args.seed}"
    )
    sandbox = Sandboxed(estate, out, env, args)
    say(
        f"sandbox: latency {args.latency_ms:g} ms, page size {args.page_size}, "
        + (
            "no throttle"
            if args.no_throttle
            else f"throttle {args.throttle_burst:g} burst + "
            f"{args.throttle_refill:g}/s per subscription and principal (one principal: every process reads as the "
            "sandbox's one client)"
        )
    )
    say(
        f"collectors: collection.max_workers {args.workers} per process, resource_graph on; replicas: "
        f"agent.replica_items {args.replica_items}; database {args.database_url.split('@')[-1]}; "
        f"{os.cpu_count()} CPUs"
    )
    say(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    phases: list[Phase] = []
    try:
        _reset(args.database_url)
        phases.append(_single(sandbox, single, args.database_url, out / "single.log", env))
        for n in sorted({1, args.replicas}):
            _reset(args.database_url)
            phases.append(_replicas(n, sandbox, shared, args.database_url, out, env, args.timeout))
    finally:
        sandbox.stop()
    say(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    say()
    base = phases[0].run_seconds
    say(
        f"{'':<30} {'run (s)':>8} {'speed-up':>8} {'wall (s)':>8} {'calls':>7} {'429s':>5} {'CPU (s)':>8} "
        f"{'sandbox CPU':>11}"
    )
    for p in phases:
        total = sum(p.calls["operations"].values())
        say(
            f"{p.name:<30} {p.run_seconds:8.1f} {base / p.run_seconds:7.2f}x {p.wall:8.1f} {total:7,} "
            f"{p.calls['statuses'].get('429', 0):5,} {p.cpu:8.1f} {p.calls['cpu_seconds']:11.1f}"
        )
    say()
    for p in phases:
        throttle, latency, _ = lower_bound(p.calls, args)
        items = ", ".join(f"{n}" for n in p.items.values()) if p.items else "-"
        say(
            f"{p.name}: bounds throttle {throttle:.1f} s, latency {latency * 1 / p.processes:.1f} s "
            f"({args.workers} in flight x {p.processes}); work items finished per replica: {items}"
        )
    busy = sum(p.cpu + p.calls["cpu_seconds"] for p in phases[-1:])
    say(
        f"CPU: the last phase used {busy:.1f} CPU-seconds (collectors + sandbox) in {phases[-1].run_seconds:.1f} s: "
        f"{busy / phases[-1].run_seconds:.2f} of the {os.cpu_count()} CPUs on average"
    )
    (out / "figures.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "figures.json").write_text(json.dumps([p.__dict__ for p in phases], indent=2), encoding="utf-8")
    return 0
