"""The `shoko` command: demo, collect, status, verify, sandbox."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from collector.settings import ConfigError, Settings, load_settings, read_sandbox_info, sandbox_overrides

if TYPE_CHECKING:
    from collector.rejudge import RejudgeReport
    from storage.anchors import Published

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# The config file of every command that takes --config, when --config is not given.
CONFIG_ENV = "SHOKO_CONFIG"
DEMO_ESTATE = Path(__file__).resolve().parent.parent / "sandbox" / "estates" / "hospital-emr.yaml"
DEMO_ATTESTATIONS = DEMO_ESTATE.with_name("hospital-emr-attestations.yaml")
DEMO_DATABASE = "sqlite:///shoko-data/demo.db"


def _setup_logging(verbose: bool) -> None:
    from agent.logs import setup_logging

    # JSON lines when stderr is not a terminal (or SHOKO_LOG_FORMAT=json); secrets are masked either way.
    setup_logging(None, verbose=verbose)


def _open_ledger(settings: Settings, *, read_only: bool = False, sealing: bool = False):  # type: ignore[no-untyped-def]
    """The configured ledger. Read commands pass read_only=True: nothing is created, migrated or changed, and a
    database without a ledger is an error (exit 2), not a new empty one. `sealing`: it will seal one run, so it
    signs and publishes it as `ledger` in the config says (the key is read before the database is opened), and
    keeps no content keys for a run after it (Ledger's remember_keys; the agent, storing run after run, does)."""
    from collector.settings import DatabaseSettings
    from storage.ledger import Ledger

    if sealing:
        from collector.anchoring import publisher, run_signer

        signer = run_signer(settings)
        return Ledger(settings.database.url, signer=signer, on_sealed=publisher(settings), remember_keys=False)

    url = settings.database.url
    if read_only and url == DatabaseSettings().url and not _sqlite_file(url).exists():
        # Nothing configured and no ledger of its own yet: a newcomer who just ran `make demo` sees the demo.
        demo = _sqlite_file(DEMO_DATABASE)
        if demo.exists():
            print(
                f"shoko: no database configured and {_sqlite_file(url)} does not exist: reading the demo's "
                f"{demo} (set SHOKO_DATABASE_URL or --config to choose)",
                file=sys.stderr,
            )
            url = DEMO_DATABASE
    return Ledger(url, read_only=read_only)


_MAX_ID = 2**63 - 1  # the largest id either database can hold


def _run_id(text: str) -> int:
    """--run N: a positive run id a database can hold (a bad value is a usage error, not a traceback)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a run id (a positive whole number)") from None
    if not 1 <= value <= _MAX_ID:
        raise argparse.ArgumentTypeError(f"{text} is not a run id (runs are numbered from 1)")
    return value


def _sqlite_file(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _run_notes(ledger) -> tuple[list, dict[int, str]]:  # type: ignore[no-untyped-def]
    """The interrupted runs and the runs still running, for one line each, and why each abandoned one is
    abandoned. Read commands change nothing: the next collection seals abandoned runs interrupted."""
    from datetime import UTC, datetime

    abandoned = {run.id: reason for run, reason in ledger.abandoned_runs(datetime.now(UTC))}
    return ledger.runs_with_status(("running", "interrupted")), abandoned


def _as_of(args: argparse.Namespace) -> datetime | None:
    """--as-of as an aware UTC datetime (a date alone means the end of that day, UTC); SinceError if bad."""
    from collector.runs import parse_as_of

    text = getattr(args, "as_of", None)
    return None if text is None else parse_as_of(text, "--as-of")


def _print_run(
    settings: Settings,
    run_id: int | None,
    as_json: bool,
    lang: str,
    as_of: datetime | None = None,
    by: str = "meti2012",
) -> int:
    from collector.render import summary, table, verdict_rows, weakened_lines
    from collector.runs import note_line, run_for, run_row
    from controls.catalog import load_catalog
    from controls.weakened import recorded_thresholds, weakened_settings

    ledger = _open_ledger(settings, read_only=True)
    newer = []
    try:
        notes, abandoned = _run_notes(ledger)
        run, newer = run_for(ledger, run_id, as_of)
        if run is None:
            when = f" at or before {as_of.isoformat()}" if as_of else " yet"
            print(f"no completed full run{when}: run `shoko collect` first", file=sys.stderr)
            return EXIT_USAGE if as_of else EXIT_FAILED  # a moment before the ledger began is a bad argument
        verdicts = ledger.verdicts(run.id)
        rows = verdict_rows(load_catalog(), verdicts)
        controls = None
        if run.scope.get("profile") == "mhlw6" and not run.scope.get("partial"):
            from controls.mhlw6 import judge_controls, load_mhlw6

            # 6.0 items with no 2012 No, judged from this run's stored findings of their checks (shown beside
            # No 1–182); the other findings are not read.
            refs = load_mhlw6()
            wanted = {c for control in refs.controls for c in control.checks}
            findings = ledger.finding_outcomes_of(run.id, wanted)
            controls = judge_controls(refs, findings, run.scope.get("checks", ()))
    finally:
        ledger.close()
    # Runs interrupted since the shown run was sealed (later in the chain), and those still running.
    notes = [r for r in notes if r.status == "running" or (r.chain_index or 0) > (run.chain_index or 0)]
    if run.scope.get("partial"):
        # A partial run judged a few requirements only; the others are not "missing", just not its job.
        judged = {v.requirement for v in verdicts}
        rows = [r for r in rows if r["no"] in judged]
    weakened = weakened_settings(run.scope)
    grouped = None
    if by == "mhlw6":
        from collector.mhlw6_view import by_mhlw6
        from controls.mhlw6 import load_mhlw6

        grouped = by_mhlw6(load_mhlw6(), rows)
    if as_json:
        out = {
            "run": {
                "id": run.id,
                "kind": "partial" if run.scope.get("partial") else "full",
                "kinds": run.scope.get("kinds"),
                "profile": run.scope.get("profile"),  # the guideline bar it was judged by
                "status": run.status,
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "digest": run.digest,
                "error": run.error,
                # The settings the run judged with that let more pass than the shipped defaults (none: []).
                "settings_weaker_than_default": [w.as_dict() for w in weakened],
                "thresholds": recorded_thresholds(run.scope),  # null: stored before runs recorded them
            },
            "as_of": as_of.isoformat() if as_of else None,
            "requirements": rows,
            "interrupted_or_running": [run_row(r, abandoned.get(r.id)) for r in notes],
        }
        if grouped is not None:
            out["by"] = "mhlw6"
            out["mhlw6"] = grouped
        if controls is not None:
            out["mhlw6_controls"] = controls
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        if as_of is not None:
            print(f"as of {as_of.isoformat()}: the latest full run completed by then is run {run.id}")
        if grouped is not None:
            from collector.mhlw6_view import mhlw6_table

            print(mhlw6_table(grouped, lang))
        else:
            print(table(rows, lang))
        if controls is not None:
            from collector.mhlw6_view import controls_table

            print(controls_table(controls, lang))
        print(summary(rows, run))
        for line in weakened_lines(weakened):
            print(line)
        for partial in newer:
            print(
                f"newer partial run {partial.id} ({', '.join(partial.scope.get('kinds', []))}) {partial.status} at "
                f"{partial.finished_at.isoformat() if partial.finished_at else '?'}: `shoko status --run {partial.id}`"
            )
        for other in notes:
            print(note_line(other, abandoned.get(other.id)))
    return EXIT_OK


def _run_once(settings: Settings, catalog):  # type: ignore[no-untyped-def]
    """One collection + evaluation run into the configured ledger."""
    from agent.logs import register_secret
    from collector.pipeline import run_once

    register_secret(settings.azure.client_secret)  # e.g. a sandbox's, from --sandbox-info
    ledger = _open_ledger(settings, sealing=True)
    try:
        return run_once(settings, ledger, catalog)
    finally:
        ledger.close()


def _collect(settings: Settings) -> int:
    from collector.render import summary, verdict_rows, weakened_lines
    from controls.catalog import load_catalog
    from controls.weakened import weakened_settings

    catalog = load_catalog()
    outcome = _run_once(settings, catalog)
    print(summary(verdict_rows(catalog, outcome.result.verdicts), outcome.run))
    for line in weakened_lines(weakened_settings(outcome.run.scope)):
        print(line)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from controls.catalog import load_catalog
    from reports.bundle import SnapshotError
    from sandbox.server import Sandbox

    with Sandbox.from_file(args.estate, port=0) as sb:
        overrides = {"database": {"url": args.database}, **sandbox_overrides(dataclasses.asdict(sb.info))}
        settings = load_settings(None, environ={}, overrides=overrides)
        print(f"sandbox: {sb.info.base_url} serving {args.estate}", file=sys.stderr)
        if args.attestations:
            from collector.attest_cli import import_demo_attestations

            with _open_ledger(settings) as ledger:
                for line in import_demo_attestations(ledger, Path(args.attestations)):
                    print(f"attestations: {line}", file=sys.stderr)
        outcome = _run_once(settings, load_catalog())
    code = _print_run(settings, outcome.run.id, as_json=False, lang=args.lang)
    hint = (
        "shoko status / explain 118 / verify read it while no database is configured"
        if settings.database.url == DEMO_DATABASE
        else f"try: SHOKO_DATABASE_URL={settings.database.url} shoko status"
    )
    print(f"database left for inspection: {settings.database.url}  ({hint})")
    if args.snapshot != "":
        url = settings.database.url
        beside = _sqlite_file(url).parent if url.startswith("sqlite:///") else Path("shoko-data")
        try:
            _demo_snapshot(settings, Path(args.snapshot) if args.snapshot else beside / "demo-snapshot.zip")
        except SnapshotError as exc:
            print(f"shoko: auditor snapshot not written: {exc}", file=sys.stderr)
            return EXIT_FAILED
    return code


def _demo_snapshot(settings: Settings, out: Path) -> None:
    """The auditor's bundle of the demo run, signed with a demo key kept beside it (made once)."""
    from controls.catalog import load_catalog
    from reports.bundle import PRIVATE_KEY_FILE, create_keys, fingerprint, load_private_key, write_bundle
    from reports.contents import build_bundle

    keys = out.parent / "demo-keys"
    if not (keys / PRIVATE_KEY_FILE).exists():
        create_keys(keys)
    key = load_private_key(str(keys / PRIVATE_KEY_FILE), environ={})
    with _open_ledger(settings) as ledger:  # open while the bundle is written: evidence is read as it goes in
        bundle = build_bundle(
            ledger, load_catalog(), None, None, "both", settings.thresholds, fingerprint(key.public_key())
        )
        manifest = write_bundle(bundle, key, out)
    print(f"auditor snapshot: {out} ({len(manifest['files'])} files, signed by demo key {manifest['fingerprint']})")
    print(f"  verify it anywhere: shoko snapshot verify {out}")


def cmd_collect(args: argparse.Namespace) -> int:
    overrides = sandbox_overrides(read_sandbox_info(args.sandbox_info)) if args.sandbox_info else None
    return _collect(load_settings(args.config, overrides=overrides))


def cmd_agent(args: argparse.Namespace) -> int:
    from agent.service import Agent

    overrides = sandbox_overrides(read_sandbox_info(args.sandbox_info)) if args.sandbox_info else None
    return Agent(load_settings(args.config, overrides=overrides)).serve()


def cmd_status(args: argparse.Namespace) -> int:
    from collector.drift_view import SinceError

    try:
        as_of = _as_of(args)
    except SinceError as exc:
        print(f"shoko: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return _print_run(load_settings(args.config), args.run, args.json, args.lang, as_of, args.by)


def _write_checkpoint(path: Path, text: str) -> None:
    """Replace the checkpoint file whole (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def cmd_verify(args: argparse.Namespace) -> int:
    from collector.runs import note_line

    expected = None
    if args.expect_digest is not None:
        # As `status`, `collect` and `verify` print it: the whole digest, or its first 16+ characters.
        expected = args.expect_digest.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{16,64}", expected):
            print(
                f"shoko: --expect-digest {args.expect_digest!r}: expected a run digest as shoko prints it "
                "(16 to 64 hexadecimal characters)",
                file=sys.stderr,
            )
            return EXIT_USAGE
    if args.run is not None and not args.rejudge:
        print("shoko: verify --run N only goes with --rejudge", file=sys.stderr)
        return EXIT_USAGE
    from collector.anchoring import trusted_key
    from storage import anchors

    settings = load_settings(args.config)
    trusted = trusted_key(settings)
    published: list[tuple[str, anchors.Published]] = []  # (where, what it holds) per place compared
    if args.anchors is not None:
        try:
            published = _read_anchors(args.anchors, settings)
        except (anchors.AnchorError, ValueError) as exc:
            print(f"shoko: {exc}", file=sys.stderr)
            return EXIT_USAGE
    since = None
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    if checkpoint is not None and checkpoint.exists():
        from storage.verify import Checkpoint, CheckpointError

        try:
            since = Checkpoint.read(checkpoint)
        except CheckpointError as exc:
            print(f"shoko: --checkpoint: {exc}", file=sys.stderr)
            return EXIT_USAGE
    ledger = _open_ledger(settings, read_only=True)
    rejudged = None
    try:
        notes, abandoned = _run_notes(ledger)
        report = ledger.verify(trusted, since)
        sealed = [r for r in ledger.runs() if r.sealed]
        latest = ledger.latest_run()
        chain = ledger.chain() if published else []
        if report.ok and args.rejudge and sealed:
            from collector.rejudge import rejudge
            from controls.catalog import load_catalog

            rejudged = rejudge(ledger, load_catalog(), settings, args.run)
    finally:
        ledger.close()
    if not report.ok:
        print(f"TAMPERED: {report.problem}", file=sys.stderr)
        return EXIT_FAILED
    if checkpoint is not None and report.last is not None and report.last != since:
        _write_checkpoint(checkpoint, report.last.dumps())
    comparisons = [(where, anchors.compare(chain, held, trusted)) for where, held in published]
    for where, comparison in comparisons:
        for problem in comparison.problems:
            # With more than one place compared, each line says which.
            print(f"TAMPERED: {where}: {problem}" if len(comparisons) > 1 else f"TAMPERED: {problem}", file=sys.stderr)
    if not all(comparison.ok for _, comparison in comparisons):
        return EXIT_FAILED
    # The chain proves nothing about runs removed from its end; a digest noted earlier (from this
    # output, a report or an alert) must still be in it.
    if expected and not any((r.digest or "").startswith(expected) for r in sealed):
        print(f"TAMPERED: no run with digest {args.expect_digest} is left in the chain", file=sys.stderr)
        return EXIT_FAILED
    if not sealed:
        # Nothing was checked: saying "intact" here would vouch for an empty ledger.
        checked = report.attestations_checked
        attested = f" ({checked} attestation record(s) verified)" if checked else ""
        print(f"shoko: no sealed run in {ledger.url} yet: nothing to verify{attested}", file=sys.stderr)
        return EXIT_USAGE
    head = f"; latest run {latest.id} digest {latest.digest}" if latest else ""
    attested = f", {report.attestations_checked} attestation record(s)" if report.attestations_checked else ""
    attested += f", {report.actions_checked} API write record(s)" if report.actions_checked else ""
    after = f" after checkpoint run {since.run_id} (chain position {since.chain_index})" if since else ""
    print(f"ok: {report.runs_checked} run(s){after}{attested} verified, hash chain intact{head}")
    if checkpoint is not None and report.last is not None:
        print(
            f"checkpoint / チェックポイント: run {report.last.run_id} (chain position {report.last.chain_index}) "
            f"in {checkpoint}"
        )
    if report.signed:
        held = "the configured key" if trusted else "the key stored with each (no ledger.public_key_file set)"
        print(f"signatures: {report.signed} run(s) signed by {', '.join(report.signed_by)}, checked against {held}")
    if report.unsigned and (report.signed or settings.ledger.sign_runs):  # silent while signing was never set up
        print(f"runs {_id_list(report.unsigned)}: {anchors.UNSIGNED_BEFORE}")
    for where, comparison in comparisons:
        print(f"anchors: {len(comparison.matched)} run(s) match their published anchor ({where})")
    for other in notes:  # interrupted runs are verified too; running ones are not sealed yet
        print(note_line(other, abandoned.get(other.id)))
    return EXIT_OK if rejudged is None else _print_rejudged(rejudged)


def _read_anchors(given: str, settings: Settings) -> list[tuple[str, Published]]:
    """What `verify --anchors [FILE | blob | URL]` compares with: (where, published anchors) per place. Bare
    --anchors: every place the config publishes to (ledger.anchors_file, the Blob container); `blob`: the configured
    container; an https URL: that container (https://<account>.blob.core.windows.net/<container>); else a file.
    Raises AnchorError or ValueError (one line) when there is no such place or it cannot be read."""
    from collector.anchoring import blob_anchors
    from storage import anchors

    ledger = settings.ledger
    configured_blob = bool(ledger.anchors_blob_account_url and ledger.anchors_blob_container)
    if given.startswith("https://"):
        from collector.anchor_blob import split_container_url

        container = blob_anchors(settings, *split_container_url(given))
        assert container is not None
        return [(container.label, container.read())]
    if given == "blob":
        container = blob_anchors(settings)
        if container is None:
            raise ValueError(
                "--anchors blob: no anchor container: set ledger.anchors_blob_account_url and "
                "ledger.anchors_blob_container, or give --anchors https://<account>.blob.core.windows.net/<container>"
            )
        return [(container.label, container.read())]
    places: list[tuple[str, Published]] = []
    path = given or ledger.anchors_file
    if path:
        places.append((path, anchors.read(Path(path))))
    if not given and configured_blob:
        container = blob_anchors(settings)
        assert container is not None
        places.append((container.label, container.read()))
    if not places:
        raise ValueError(
            "--anchors: no anchors file: give --anchors FILE or set ledger.anchors_file (or "
            "ledger.anchors_blob_account_url and ledger.anchors_blob_container)"
        )
    return places


def _print_rejudged(report: RejudgeReport) -> int:
    """Runs re-judged, runs skipped (each with why), then the first difference, if any."""
    if report.rejudged:
        print(f"ok: re-judged run(s) {_id_list(report.rejudged)}: the checks give back their findings and verdicts")
    for run_id, why in report.skipped:
        print(f"not re-judged: run {run_id}: {why}")
    if not report.ok:
        print(f"{report.word}: {report.problem}", file=sys.stderr)
        return EXIT_FAILED
    if not report.rejudged:
        print("shoko: no run could be re-judged (see above): nothing was compared", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _id_list(ids: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:20])
    return shown + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")


def cmd_migrate(args: argparse.Namespace) -> int:
    """The one command besides collect/agent that changes a ledger's schema; read commands refuse an old one."""
    from storage import migrate

    ledger = _open_ledger(load_settings(args.config))
    try:
        with ledger.engine.connect() as connection:
            revision = migrate.current_revision(connection)
    finally:
        ledger.close()
    print(f"ok: ledger {ledger.url} is at schema {revision} (this shoko's latest)")
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from collector.runs import run_row, runs_table

    ledger = _open_ledger(load_settings(args.config), read_only=True)
    try:
        _, abandoned = _run_notes(ledger)
        runs = ledger.runs()
    finally:
        ledger.close()
    if args.json:
        print(json.dumps([run_row(r, abandoned.get(r.id)) for r in runs], ensure_ascii=False, indent=2))
    elif runs:
        print(runs_table(runs, abandoned))
    else:
        print("no runs yet")
    return EXIT_OK


EXPLAIN_LIMIT = 50  # findings `shoko explain` prints unless --all


def cmd_explain(args: argparse.Namespace) -> int:
    from collector.render import explain, explain_text
    from collector.runs import run_for
    from controls.catalog import load_catalog
    from controls.mhlw6 import load_mhlw6

    catalog = load_catalog()
    if args.number not in catalog:
        print(f"shoko: no requirement No {args.number} (the catalog has No 1–{len(catalog)})", file=sys.stderr)
        return EXIT_USAGE
    from collector.drift_view import SinceError

    try:
        as_of = _as_of(args)
    except SinceError as exc:
        print(f"shoko: {exc}", file=sys.stderr)
        return EXIT_USAGE
    ledger = _open_ledger(load_settings(args.config), read_only=True)
    try:
        run, _ = run_for(ledger, args.run, as_of)
        if run is None:
            when = f" at or before {as_of.isoformat()}" if as_of else " yet"
            print(f"no completed full run{when}: run `shoko collect` first", file=sys.stderr)
            return EXIT_USAGE if as_of else EXIT_FAILED  # a moment before the ledger began is a bad argument
        verdict = next((v for v in ledger.verdicts(run.id) if v.requirement == args.number), None)
        # Only this requirement's findings shown and the evidence records they cite are read, not the whole run;
        # --json and --all give every finding.
        limit = None if args.json or args.all else EXPLAIN_LIMIT
        page = ledger.requirement_findings_page(run.id, args.number, limit=limit)
        evidence = ledger.evidence_records(run.id, {sha for f in page.findings for sha in f.evidence})
        shown = {"page": page, "limit": limit} if limit is not None else {}
        data = explain(catalog[args.number], verdict, page.findings, evidence, run, load_mhlw6(), **shown)
    finally:
        ledger.close()
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else explain_text(data))
    return EXIT_OK


def _no_run() -> int:
    print("no completed run yet: run `shoko collect` first", file=sys.stderr)
    return EXIT_FAILED


def _run_line(run) -> str:  # type: ignore[no-untyped-def]
    """The header of a register read from one run: `run 3 (full, completed, 2026-12-02T09:00:00+00:00)`."""
    finished = run.finished_at.isoformat(timespec="seconds") if run.finished_at else "not finished"
    return f"run {run.id} ({run.kind}, {run.status}, {finished})"


def cmd_history(args: argparse.Namespace) -> int:
    from collector.history_view import history, history_text, resource_history, resource_history_text
    from controls.catalog import load_catalog

    catalog = load_catalog()
    if args.number is None and not args.resource:
        print("shoko: history needs a requirement No, --resource ID, or both", file=sys.stderr)
        return EXIT_USAGE
    if args.number is not None and args.number not in catalog:
        print(f"shoko: no requirement No {args.number} (the catalog has No 1–{len(catalog)})", file=sys.stderr)
        return EXIT_USAGE
    ledger = _open_ledger(load_settings(args.config), read_only=True)
    try:
        if args.resource:
            entries = resource_history(ledger, args.resource, args.number)
        else:
            entries = history(ledger, args.number)
    finally:
        ledger.close()
    if args.resource:
        if not entries:
            mapped = f" by a check of No {args.number}" if args.number is not None else ""
            print(
                f"shoko: no completed run judged resource {args.resource}{mapped} "
                "(check the id: `shoko inventory` lists the resources, `shoko explain N` the findings)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        if args.json:
            document = {"resource_id": args.resource, "no": args.number, "changes": entries}
            print(json.dumps(document, ensure_ascii=False, indent=2))
        else:
            print(resource_history_text(args.resource, args.number, entries, args.lang))
        return EXIT_OK
    if args.json:
        print(json.dumps({"no": args.number, "changes": entries}, ensure_ascii=False, indent=2))
    else:
        print(history_text(args.number, entries, args.lang))
    return EXIT_OK


def cmd_inventory(args: argparse.Namespace) -> int:
    from collector.inventory_view import inventory_text, run_inventory

    settings = load_settings(args.config)
    ledger = _open_ledger(settings, read_only=True)
    try:
        run = ledger.run(args.run) if args.run is not None else ledger.latest_run(full_only=True)
        if run is None:
            return _no_run()
        rows = run_inventory(ledger, run.id, settings.thresholds.owner_tag)
        subscriptions = ledger.evidence(run.id, kinds={"subscription"})  # their names, for the headings
    finally:
        ledger.close()
    if args.subscription:
        rows = [r for r in rows if r["subscription"].lower() == args.subscription.lower()]
    if args.type:
        rows = [r for r in rows if r["type"].lower() == args.type.lower()]
    if args.json:
        print(json.dumps({"run": run.id, "resources": rows}, ensure_ascii=False, indent=2))
        return EXIT_OK
    names = {
        str(ev.content.get("subscriptionId", "")).lower(): str(ev.content.get("displayName") or "")
        for ev in subscriptions
    }
    print(_run_line(run))
    print(inventory_text(rows, names))
    return EXIT_OK


def cmd_accounts(args: argparse.Namespace) -> int:
    from collector.accounts_view import accounts_text, run_accounts

    settings = load_settings(args.config)
    ledger = _open_ledger(settings, read_only=True)
    try:
        run = ledger.run(args.run) if args.run is not None else ledger.latest_run(full_only=True)
        if run is None:
            return _no_run()
        rows = run_accounts(ledger, run.id, settings.thresholds)
    finally:
        ledger.close()
    if args.privileged:
        rows = [r for r in rows if r["privileged"]]
    if args.json:
        print(json.dumps({"run": run.id, "accounts": rows}, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(_run_line(run))
    print(accounts_text(rows))
    return EXIT_OK


def _alerts_test(args: argparse.Namespace) -> int:
    from alerts.commands import cmd_alerts_test

    return cmd_alerts_test(args)


def cmd_drift(args: argparse.Namespace) -> int:
    from collector.drift_view import cmd_drift as drift

    return drift(args)


def cmd_checks(args: argparse.Namespace) -> int:
    from collector.render import check_mapping, check_reference
    from controls.catalog import load_catalog
    from controls.checks import ALL_CHECKS
    from controls.mhlw6 import load_mhlw6

    catalog = load_catalog()
    refs = load_mhlw6()
    if args.json:
        rows = [
            {"id": c.id, "requirements": check_mapping(catalog, c.id), **c.documentation(), **refs.check_view(c.id)}
            for c in ALL_CHECKS
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(check_reference(ALL_CHECKS, catalog, args.lang, refs))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shoko", description="Control evidence for 3省2ガイドライン on Azure")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="collect the sandbox's example estate and print every requirement")
    demo.add_argument("--estate", default=str(DEMO_ESTATE), help="estate file (default: the hospital EMR example)")
    demo.add_argument("--database", default=DEMO_DATABASE, help="database URL to write runs to")
    demo.add_argument(
        "--attestations",
        default=str(DEMO_ATTESTATIONS),
        help="attestation sheet imported first, dates relative to today (default: the example's; '' for none)",
    )
    demo.add_argument("--lang", choices=("ja", "en", "both"), default="both")
    demo.add_argument(
        "--snapshot",
        help="where to write the run's signed auditor snapshot (default: demo-snapshot.zip beside the SQLite "
        "database, else in shoko-data/; '' for none)",
    )
    demo.set_defaults(func=cmd_demo)

    collect = sub.add_parser("collect", help="one collection + evaluation run")
    collect.add_argument("--config", help="agent config YAML (defaults: config/defaults.yaml)")
    collect.add_argument("--sandbox-info", help="JSON written by `shoko sandbox serve --info-file`")
    collect.set_defaults(func=cmd_collect)

    agent = sub.add_parser("agent", help="keep collecting on the configured schedules; health, metrics, alerts")
    agent.add_argument("--config", help="agent config YAML (defaults: config/defaults.yaml)")
    agent.add_argument("--sandbox-info", help="JSON written by `shoko sandbox serve --info-file`")
    agent.set_defaults(func=cmd_agent)

    status = sub.add_parser("status", help="verdicts of the latest run")
    status.add_argument("--config")
    when = status.add_mutually_exclusive_group()
    when.add_argument("--run", type=_run_id, help="a run id instead of the latest")
    when.add_argument(
        "--as-of", metavar="DATETIME", help="the latest full run completed at or before it (ISO 8601; no offset: UTC)"
    )
    status.add_argument("--json", action="store_true")
    status.add_argument("--lang", choices=("ja", "en", "both"), default="both")
    status.add_argument(
        "--by",
        choices=("meti2012", "mhlw6"),
        default="meti2012",
        help="group by METI 2012 No (default) or by MHLW 6.0 編/chapter/遵守事項",
    )
    status.set_defaults(func=cmd_status)

    verify = sub.add_parser("verify", help="check the stored runs' hash chain and contents")
    verify.add_argument("--config")
    verify.add_argument(
        "--expect-digest", metavar="DIGEST", help="a run digest noted earlier that must still be in the chain"
    )
    verify.add_argument(
        "--rejudge",
        action="store_true",
        help="also re-run the checks on each run's stored evidence and compare with its findings and verdicts",
    )
    verify.add_argument("--run", type=_run_id, help="with --rejudge: only this run")
    verify.add_argument(
        "--anchors",
        nargs="?",
        const="",
        metavar="FILE|blob|URL",
        help="also compare every run with its published signed digest: a file, `blob` (the configured container), "
        "a container URL, or by default every place the config publishes to (ledger.anchors_file, the container)",
    )
    verify.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="check only the runs sealed after the run this file names (after confirming that run's digest), "
        "then record the last run checked in it; without the file, a full check that creates it",
    )
    verify.set_defaults(func=cmd_verify)

    migrate = sub.add_parser("migrate", help="create the ledger or bring its schema to this shoko's (a write)")
    migrate.add_argument("--config")
    migrate.set_defaults(func=cmd_migrate)

    runs = sub.add_parser("runs", help="every run: kind, status, times, duration, counts, error")
    runs.add_argument("--config")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=cmd_runs)

    explain = sub.add_parser("explain", help="one requirement: its verdict, findings and the evidence behind them")
    explain.add_argument("number", type=int, help="requirement No (1–182)")
    explain.add_argument("--config")
    when = explain.add_mutually_exclusive_group()
    when.add_argument("--run", type=_run_id, help="a run id instead of the latest")
    when.add_argument(
        "--as-of", metavar="DATETIME", help="the latest full run completed at or before it (ISO 8601; no offset: UTC)"
    )
    explain.add_argument("--json", action="store_true", help="every finding, as JSON")
    explain.add_argument(
        "--all", action="store_true", help=f"every finding (default: the first {EXPLAIN_LIMIT}, failures first)"
    )
    explain.set_defaults(func=cmd_explain)

    drift = sub.add_parser("drift", help="what changed between runs: new failures, resolved, errors, verdicts")
    drift.add_argument("--config")
    drift.add_argument("--since", metavar="DATETIME", help="runs sealed at or after it (ISO 8601; no offset: UTC)")
    drift.add_argument("--run", type=_run_id, help="one run's events only")
    drift.add_argument("--json", action="store_true")
    drift.add_argument("--lang", choices=("ja", "en", "both"), default="both")
    drift.set_defaults(func=cmd_drift)

    hist = sub.add_parser(
        "history", help="when a requirement's verdict (or a resource's check statuses) changed, with runs and drift"
    )
    hist.add_argument("number", type=int, nargs="?", help="requirement No (1–182)")
    hist.add_argument(
        "--resource", metavar="ID", help="one resource: when each check's status on it changed (with N: its checks)"
    )
    hist.add_argument("--config")
    hist.add_argument("--json", action="store_true")
    hist.add_argument("--lang", choices=("ja", "en", "both"), default="both")
    hist.set_defaults(func=cmd_history)

    inventory = sub.add_parser("inventory", help="the resource register a run collected, with owners and regions")
    inventory.add_argument("--config")
    inventory.add_argument("--run", type=_run_id, help="a run id instead of the latest full run")
    inventory.add_argument("--subscription", help="one subscription id only")
    inventory.add_argument("--type", help="one resource type only, e.g. Microsoft.Compute/virtualMachines")
    inventory.add_argument("--json", action="store_true")
    inventory.set_defaults(func=cmd_inventory)

    from collector.attest_cli import add_parser as add_attest_parser
    from collector.snapshot_cli import add_parsers as add_snapshot_parsers

    add_attest_parser(sub)
    add_snapshot_parsers(sub)
    from api.cli import add_parsers as add_api_parsers

    add_api_parsers(sub)

    accounts = sub.add_parser("accounts", help="who holds an Azure or Entra role, with type, status and scope")
    accounts.add_argument("--config")
    accounts.add_argument("--run", type=_run_id, help="a run id instead of the latest full run")
    accounts.add_argument("--privileged", action="store_true", help="privileged roles only")
    accounts.add_argument("--json", action="store_true")
    accounts.set_defaults(func=cmd_accounts)

    checks = sub.add_parser("checks", help="what each check reads, its pass rule and remediation")
    checks.add_argument("--json", action="store_true")
    checks.add_argument("--lang", choices=("ja", "en", "both"), default="both")
    checks.set_defaults(func=cmd_checks)

    alerts = sub.add_parser("alerts", help="alert channels: `alerts test` sends a test message to each")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    alerts_test = alerts_sub.add_parser("test", help="send a test message to each configured channel, now")
    alerts_test.add_argument("--channel", help="only this channel (its name in alerts.channels)")
    alerts_test.add_argument("--config")
    alerts_test.set_defaults(func=_alerts_test)

    sandbox = sub.add_parser("sandbox", help="the offline Azure sandbox (serve --estate FILE ...)", add_help=False)
    sandbox.add_argument("rest", nargs=argparse.REMAINDER)
    sandbox.set_defaults(func=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        from sandbox.serve import main as sandbox_main

        return sandbox_main(argv[1:])
    args = build_parser().parse_args(argv)
    if getattr(args, "config", None) is None:
        # The container image names its mounted config file here (Dockerfile, README "Deployment").
        args.config = os.environ.get(CONFIG_ENV) or None
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        # A collection cut short stays `running` until its lease lapses; the next collection seals it.
        print("shoko: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # e.g. `shoko status --json | head`: the reader left; say so once and do not print a traceback.
        with contextlib.suppress(OSError, ValueError):  # stdout may not be a real file (tests)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("shoko: output closed early (broken pipe): the rest was not written", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"shoko: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        ledger = sys.modules.get("storage.ledger")
        if ledger is not None and isinstance(exc, ledger.NoLedger):  # a read command given a database without one
            print(f"shoko: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, _one_line_failures()):
            print(f"shoko: {exc}", file=sys.stderr)
            return EXIT_FAILED
        raise


def _one_line_failures() -> tuple[type[BaseException], ...]:
    """The errors a command ends on in one line. Only those of modules the command imported: one it did not import
    cannot have been raised, and importing them all (the fetchers, with the Azure SDK) would cost every command
    over 100 MB and a second of start-up."""
    names = (
        ("storage.ledger", "LedgerError"),
        ("collector.plan", "PlanError"),
        ("controls.catalog", "CatalogError"),
        ("agent.http", "HealthServerError"),
    )
    return tuple(getattr(sys.modules[module], name) for module, name in names if module in sys.modules)


if __name__ == "__main__":
    sys.exit(main())
