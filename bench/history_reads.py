"""The read figures over a generated history: `shoko status --as-of`, `status`, `explain`, `verify` and `snapshot
export` as commands (wall time, CPU time and peak RSS each), and the dashboard's matrix and requirement pages
served by the API app in-process (wall time per request). It prints figures; it asserts nothing."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.run import ROOT, run_measured
from reports.bundle import PRIVATE_KEY_FILE

CONFIG = "shoko.yaml"
INFO = "history.json"


def _page_times(config: Path, paths: list[str], repeat: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per GET of each path (after one warm-up request), through the app in-process."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.auth import Principal, Role
    from collector.settings import load_settings
    from storage.ledger import Ledger

    settings = load_settings(str(config), environ={})
    ledger = Ledger(settings.database.url, read_only=True)
    principal = Principal("bench", Role.AUDITOR, "session")
    app = create_app(settings, ledger=ledger, session_principal=lambda _request: principal)
    out: dict[str, tuple[float, float]] = {}
    try:
        with TestClient(app) as client:
            for path in paths:
                first = client.get(path)
                if first.status_code != 200:
                    raise SystemExit(f"bench: GET {path} answered {first.status_code}: {first.text[:200]}")
                walls, cpus = [], []
                for _ in range(repeat):
                    w0, c0 = time.perf_counter(), time.process_time()
                    client.get(path)
                    walls.append(time.perf_counter() - w0)
                    cpus.append(time.process_time() - c0)
                out[path] = (statistics.median(walls), statistics.median(cpus))
    finally:
        ledger.close()
    return out


def _export(out: Path, config: Path, cli: list[str], log: Path, env: dict[str, str], say: Callable[[str], None]) -> Any:
    """`shoko snapshot export` of the latest run, signed with a key made once in `out`."""
    keys = out / "keys"
    if not (keys / PRIVATE_KEY_FILE).exists():
        run_measured([*cli, "keys", "create", "--out", str(keys)], log, env)
    bundle = out / "snapshot.zip"
    bundle.unlink(missing_ok=True)
    export = [*cli, "snapshot", "export", "--config", str(config), "--out", str(bundle)]
    m = run_measured([*export, "--key", str(keys / PRIVATE_KEY_FILE)], log, env)
    failed = f"  (exit {m.code}; see {log})" if m.code else ""
    name = "snapshot export (latest run)"
    say(f"  {name:<42} {m.wall:8.2f} s  (CPU {m.cpu:.2f} s)  peak RSS {m.peak_rss / 1e6:8,.1f} MB{failed}")
    return m.__dict__


def _checkpoint_before_last(config: Path) -> str:
    """A verify checkpoint at the run before the last, as a pass made before the newest run would have written:
    `verify --checkpoint` then checks the newest run only (what a scheduled pass after each run does)."""
    from collector.settings import load_settings
    from storage.ledger import Ledger
    from storage.verify import Checkpoint

    with Ledger(load_settings(str(config), environ={}).database.url, read_only=True) as ledger:
        chain = ledger.chain()
    before = chain[-2] if len(chain) > 1 else chain[0]
    return Checkpoint(before.chain_index, before.id, before.digest).dumps()


def _command_times(argv: list[str], repeat: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of a shoko command run in this process (after one warm-up run): the command's
    own work without the interpreter's start and imports."""
    import contextlib
    import io

    from collector.cli import main

    walls, cpus = [], []
    for i in range(repeat + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        if code != 0:
            raise SystemExit(f"bench: shoko {' '.join(argv)} exited with {code}")
        if i:
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def figures(
    out: Path, say: Callable[[str], None], *, number: int = 86, repeat: int = 5, whole: bool = True
) -> dict[str, Any]:
    """Measure the reads of the history in `out` (written by `python -m bench history`); `whole`: also verify
    and snapshot export, which read every run or a whole run."""
    info = json.loads((out / INFO).read_text(encoding="utf-8"))
    config = out / CONFIG
    log = out / "reads.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SHOKO_DATABASE_URL", None)
    cli = ["-m", "collector.cli"]
    as_of = info["middle"]
    commands: list[tuple[str, list[str]]] = [
        (f"status --as-of {as_of}", [*cli, "status", "--config", str(config), "--as-of", as_of, "--lang", "en"]),
        ("status", [*cli, "status", "--config", str(config), "--lang", "en"]),
        (f"explain {number}", [*cli, "explain", str(number), "--config", str(config)]),
        (f"explain {number} --as-of", [*cli, "explain", str(number), "--config", str(config), "--as-of", as_of]),
    ]
    checkpoint = out / "checkpoint.json"
    checkpoint.write_text(_checkpoint_before_last(config), encoding="utf-8")
    commands.append(
        (
            "verify --checkpoint (the last run)",
            [*cli, "verify", "--config", str(config), "--checkpoint", str(checkpoint)],
        )
    )
    if whole:
        commands.append(("verify", [*cli, "verify", "--config", str(config)]))
    measured: dict[str, Any] = {}
    say(f"reading the ledger ({info['runs']:,} runs of {info['resources']:,} resources; as-of {as_of})")
    for name, args in commands:
        m = run_measured(args, log, env)
        failed = f"  (exit {m.code}; see {log})" if m.code else ""
        say(f"  {name:<42} {m.wall:8.2f} s  (CPU {m.cpu:.2f} s)  peak RSS {m.peak_rss / 1e6:8,.1f} MB{failed}")
        measured[name] = m.__dict__
    if whole:
        measured["snapshot export"] = _export(out, config, cli, log, env, say)
    say(f"the same commands in one process (median of {repeat} after a warm-up; no interpreter start or imports)")
    for name, args in commands[:4]:
        wall, cpu = _command_times(args[2:], repeat)
        say(f"  {name:<42} {wall * 1000:8.1f} ms  (CPU {cpu * 1000:.1f} ms)")
        measured[f"{name} in process"] = {"wall": wall, "cpu": cpu}
    pages = ["/requirements", f"/requirements?as_of={as_of}", f"/requirements/{number}"]
    pages.append(f"/requirements/{number}?as_of={as_of}")
    times = _page_times(config, pages, repeat)
    say(f"dashboard pages (API app in-process, median of {repeat} after a warm-up)")
    for path, (seconds, cpu) in times.items():
        say(f"  GET {path:<60} {seconds * 1000:8.1f} ms  (CPU {cpu * 1000:.1f} ms)")
    measured["pages"] = times
    return measured
