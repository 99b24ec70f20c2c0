"""Entry point: run (the benchmark), generate (an estate file), sandbox-cost (the sandbox's CPU per call)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.generate import GenerateError, generate, write_estate

USAGE = "usage: python -m bench {run,generate,sandbox-cost} [options]   (see bench/README.md)"


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


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "generate", "sandbox-cost"):
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] == "run":
        from bench.run import main as run

        return run(argv[1:])
    return _generate(argv[1:]) if argv[0] == "generate" else _sandbox_cost(argv[1:])
