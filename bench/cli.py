"""Entry point: run (the benchmark), generate (an estate file), sandbox-cost (the sandbox's CPU per call),
history (a ledger of hourly runs, then its read figures), history-figures (the read figures again) and replicas
(one agent against agent replicas sharing a run)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.generate import GenerateError, generate, write_estate

COMMANDS = ("run", "collect-cpu", "generate", "sandbox-cost", "history", "history-figures", "replicas")
USAGE = f"usage: python -m bench {{{','.join(COMMANDS)}}} [options]   (see bench/README.md)"


def _generate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench generate", description="write a generated estate (JSON)")
    parser.add_argument("--subscriptions", type=int, default=5)
    parser.add_argument("--resources", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--violation-rate", type=float, default=0.05)
    parser.add_argument("--out", required=True, help="estate file to write (.json)")
    args = parser.parse_args(argv)
    try:
        generated = generate(args.subscriptions, args.resources, seed=args.seed, violation_rate=args.violation_rate)
    except GenerateError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    write_estate(generated, Path(args.out))
    print(f"{args.out}: {generated.resources:,} resources, {generated.documents:,} ARM documents")
    return 0


def _sandbox_cost(argv: list[str]) -> int:
    from bench.sandbox_cost import report
    from sandbox.estate import estate_from_mapping

    parser = argparse.ArgumentParser(prog="python -m bench sandbox-cost", description="the sandbox's CPU per call")
    parser.add_argument("--subscriptions", type=int, default=50)
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    estate = estate_from_mapping(generate(args.subscriptions, args.resources, seed=args.seed).estate, "<generated>")
    print(f"{args.subscriptions} subscriptions, {args.resources:,} resources, built in {time.monotonic() - t0:.1f} s")
    print("\n".join(report(estate, args.page_size)))
    return 0


def _history(argv: list[str]) -> int:
    import json
    import os
    import subprocess
    from datetime import timedelta

    from bench.history import build, history_start
    from bench.history_reads import CONFIG, INFO
    from bench.run import ROOT, database_size, emptied

    parser = argparse.ArgumentParser(
        prog="python -m bench history", description="a ledger of hourly runs of a generated estate, and its reads"
    )
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=168, help="hourly runs (168: a week; 8760: a year)")
    parser.add_argument("--subscriptions", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--violation-rate", type=float, default=0.05)
    parser.add_argument(
        "--change-rate", type=float, default=0.001, help="share of documents changed per run (0.001; at least one)"
    )
    parser.add_argument(
        "--flip-every", type=int, default=24, help="break or restore one setting a rule reads every N runs (0: never)"
    )
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file in --out)")
    parser.add_argument("--no-figures", action="store_true", help="write the history only")
    parser.add_argument("--quick", action="store_true", help="figures of status, explain and the pages only")
    parser.add_argument("--out", default="bench-history", help="working directory (emptied first)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.resources < 1:
        print("bench: --runs and --resources must be at least 1", file=sys.stderr)
        return 2
    out = emptied(Path(args.out).resolve())
    url = args.database_url or f"sqlite:///{out / 'shoko.db'}"
    (out / CONFIG).write_text(f"database:\n  url: {json.dumps(url)}\n", encoding="utf-8")
    start = history_start(args.runs)
    print(f"history: {args.runs:,} hourly runs of {args.resources:,} resources from {start.isoformat()} into {url}")
    try:
        made = build(
            url,
            resources=args.resources,
            runs=args.runs,
            subscriptions=args.subscriptions,
            seed=args.seed,
            violation_rate=args.violation_rate,
            change_rate=args.change_rate,
            flip_every=args.flip_every,
            start=start,
            progress=lambda line: print(line, flush=True),
        )
    except GenerateError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    size = database_size(url)
    middle = start + timedelta(hours=(made.runs - 1) // 2, minutes=30)
    lines = [
        f"estate collected in {made.collect_seconds:.1f} s: {made.evidence:,} evidence records, "
        f"{made.findings:,} findings per run",
        f"{made.runs:,} runs stored in {made.runs_seconds:.1f} s ({made.runs_seconds / made.runs * 1000:.0f} ms per "
        f"run: judging {made.judge_seconds / made.runs * 1000:.0f} ms, storing and sealing "
        f"{made.store_seconds / made.runs * 1000:.0f} ms, drift detection {made.drift_seconds / made.runs * 1000:.0f} "
        "ms)",
        f"{made.documents_changed:,} documents changed, {made.flips:,} settings flipped, "
        f"{made.drift_events:,} drift events; database {size / 1e6:,.1f} MB ({size / made.runs / 1e6:,.2f} MB per run)",
    ]
    for line in lines:
        print(line)
    info = {
        "resources": made.resources,
        "runs": made.runs,
        "first_run": made.first_run,
        "last_run": made.last_run,
        "started": made.started,
        "middle": middle.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "database_bytes": size,
        "generated": {k: v for k, v in made.__dict__.items() if k != "started"},
    }
    (out / INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
    if args.no_figures:
        return 0
    # In a fresh process: a child forked from this one would count the generator's memory in its peak RSS.
    figures_command = [sys.executable, "-m", "bench", "history-figures", str(out), *(["--quick"] if args.quick else [])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(figures_command, check=False, cwd=ROOT, env=env).returncode


def _history_figures(argv: list[str]) -> int:
    import json

    from bench.history_reads import INFO, figures

    parser = argparse.ArgumentParser(
        prog="python -m bench history-figures", description="the read figures of a history written before"
    )
    parser.add_argument("dir", help="the --out directory of `python -m bench history`")
    parser.add_argument("--number", type=int, default=86, help="the requirement No explain and the pages show")
    parser.add_argument("--quick", action="store_true", help="status, explain and the pages only (no verify, export)")
    args = parser.parse_args(argv)
    out = Path(args.dir).resolve()
    if not (out / INFO).is_file():
        print(f"bench: {out}: no {INFO} (write a history with `python -m bench history --out DIR`)", file=sys.stderr)
        return 2
    read = figures(out, print, number=args.number, whole=not args.quick)
    info = json.loads((out / INFO).read_text(encoding="utf-8"))
    (out / "figures.json").write_text(json.dumps({**info, "reads": read}, indent=2), encoding="utf-8")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] == "run":
        from bench.run import main as run

        return run(argv[1:])
    if argv[0] == "collect-cpu":
        from bench.collect_cpu import main as collect_cpu

        return collect_cpu(argv[1:])
    if argv[0] == "replicas":
        from bench.replicas import main as replicas

        return replicas(argv[1:])
    if argv[0] == "history":
        return _history(argv[1:])
    if argv[0] == "history-figures":
        return _history_figures(argv[1:])
    return _generate(argv[1:]) if argv[0] == "generate" else _sandbox_cost(argv[1:])
