"""The collector's CPU per call, measured inside one process: a generated estate served by the sandbox in its own
process, collected several times by the pipeline's own `collect` (the SDK clients and fetchers, no storing or
judging), each time with the process's CPU and the calls the sandbox answered. With `--profile FILE` the last
collection runs under cProfile in every thread, timed in each thread's CPU, and the merged stats are written to FILE
(read them with `python -m pstats FILE`; cProfile roughly doubles the CPU, so its shares lean to code making many
small calls).
It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import threading
import time
from pathlib import Path
from typing import Any

from bench.generate import generate, write_estate
from bench.run import ROOT, Sandboxed, _delta, emptied
from collector.pipeline import collect
from collector.settings import load_settings, sandbox_overrides


class ThreadProfiles:
    """cProfile in every thread the collection starts (the fetchers' and the call pool's), not only the caller's."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start(self, *_: Any) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU, not the wall time threads spend waiting
        with self._lock:
            self.profiles.append(profile)
        profile.enable()  # replaces this hook in the new thread

    def run(self, fn: Any, *args: Any) -> Any:
        threading.setprofile(self._start)
        try:
            main = cProfile.Profile(time.thread_time)
            self.profiles.append(main)
            return main.runcall(fn, *args)
        finally:
            threading.setprofile(None)  # type: ignore[arg-type]

    def dump(self, path: str) -> None:
        for profile in self.profiles:
            profile.disable()
        stats = pstats.Stats(self.profiles[0])
        for profile in self.profiles[1:]:
            stats.add(profile)
        stats.dump_stats(path)


def _measure_once(sandbox: Sandboxed, settings: Any, profile: ThreadProfiles | None) -> dict[str, float]:
    before = sandbox.stats()
    cpu0, wall0 = time.process_time(), time.monotonic()
    facts = profile.run(collect, settings) if profile is not None else collect(settings)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    calls = _delta(sandbox.stats(), before)
    total = sum(calls["operations"].values())
    return {
        "cpu": cpu,
        "wall": wall,
        "calls": total,
        "evidence": len(facts.evidence),
        "errors": len(facts.errors),
        "sandbox_cpu": calls["cpu_seconds"],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench collect-cpu", description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=3)
    parser.add_argument("--resources", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="collections measured, after one warm-up (3)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added by the sandbox to every call (0)")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--workers", type=int, default=16, help="collection.max_workers (16)")
    parser.add_argument("--profile", help="write cProfile stats of the last collection to this file")
    parser.add_argument("--out", default="bench-cpu", help="working directory (emptied first)")
    args = parser.parse_args(argv)

    out = emptied((ROOT / args.out).resolve() if not Path(args.out).is_absolute() else Path(args.out))
    generated = generate(args.subscriptions, args.resources, seed=args.seed)
    estate_file = out / "estate.json"
    write_estate(generated, estate_file)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # No throttle: the collector's CPU per call does not depend on how long it waits between calls.
    served = argparse.Namespace(page_size=args.page_size, latency_ms=args.latency_ms, no_throttle=True)
    sandbox = Sandboxed(estate_file, out, env, served)
    print(
        f"estate: {args.subscriptions} subscriptions, {generated.resources:,} resources "
        f"({generated.documents:,} ARM documents); sandbox latency {args.latency_ms:g} ms, no throttle; "
        f"collection.max_workers {args.workers}"
    )
    try:
        overrides: dict[str, dict[str, Any]] = sandbox_overrides(sandbox.info)
        # The sandbox does not throttle here, so neither does the collector: the calls are made as fast as its CPU
        # allows, and the figure is the CPU they take.
        overrides["collection"] = {
            "max_workers": args.workers,
            "arm_reads_burst": 100_000,
            "arm_reads_per_second": 10_000,
        }
        settings = load_settings(None, environ={}, overrides=overrides)
        runs = []
        for n in range(args.repeats + 1):
            profile = ThreadProfiles() if args.profile and n == args.repeats else None
            figures = _measure_once(sandbox, settings, profile)
            if profile is not None:
                profile.dump(args.profile)
            label = "warm-up" if n == 0 else f"run {n}"
            print(
                f"  {label:8} {figures['calls']:6,} calls  {figures['evidence']:6,} evidence records  "
                f"{figures['errors']:3} errors  wall {figures['wall']:6.1f} s  CPU {figures['cpu']:6.1f} s  "
                f"{figures['cpu'] / figures['calls'] * 1000:5.2f} ms per call"
                + ("  (under cProfile)" if profile is not None else "")
                + f"  sandbox {figures['sandbox_cpu'] / figures['calls'] * 1000:.2f} ms per call"
            )
            if n and profile is None:
                runs.append(figures)
        if runs:
            per_call = sorted(r["cpu"] / r["calls"] * 1000 for r in runs)
            print(f"collector CPU per call (median of {len(runs)}): {per_call[len(per_call) // 2]:.2f} ms")
        (out / "figures.json").write_text(json.dumps(runs, indent=2), encoding="utf-8")
    finally:
        sandbox.stop()
    return 0
