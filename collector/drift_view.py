"""`shoko drift`: the stored drift events, newest first, as text for people or JSON for tools."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from alerts.drift import KIND_JA
from collector.settings import load_settings
from storage.ledger import DriftRecord, Ledger

EXIT_OK, EXIT_USAGE = 0, 2


class SinceError(ValueError):
    """A --since value that is not a date or time; the message is one line."""


def parse_since(text: str, option: str = "--since") -> datetime:
    """An ISO 8601 date or date-time (`2026-03-31`, `2026-03-31T09:00+09:00`, `...Z`); without an offset, UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SinceError(
            f"{option}: {text!r} is not a date or time (use ISO 8601, e.g. 2026-03-31 or 2026-03-31T09:00+09:00; "
            "without an offset it is UTC)"
        ) from None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+09:00 is before the first moment a datetime holds
        raise SinceError(f"{option}: {text!r} is out of range (years 1 to 9999, UTC)") from None


def explain_hint(record: DriftRecord) -> str | None:
    """Where to see the evidence: the first requirement the event concerns, in the run that found it."""
    numbers = record.event.requirements
    return f"shoko explain {numbers[0]} --run {record.run_id}" if numbers else None


def drift_row(record: DriftRecord) -> dict[str, Any]:
    e = record.event
    return {
        "id": record.id,
        "run": record.run_id,
        "detected_at": record.detected_at.isoformat(),
        "kind": str(e.kind),
        "requirements": list(e.requirements),
        "check_id": e.check_id,
        "resource_id": e.resource_id,
        "before": None if e.before is None else str(e.before),
        "after": None if e.after is None else str(e.after),
        "reason_ja": e.reason_ja,
        "reason_en": e.reason_en,
        "previous_run": e.previous_run,
        "explain": explain_hint(record),
    }


def drift_text(records: list[DriftRecord], lang: str) -> str:
    lines: list[str] = []
    for record in records:
        e = record.event
        numbers = ", ".join(str(n) for n in e.requirements) or "-"
        before = str(e.before) if e.before is not None else "none"
        after = str(e.after) if e.after is not None else "none"
        was = f" (before: run {e.previous_run})" if e.previous_run is not None else ""
        lines.append(
            f"run {record.run_id}  {record.detected_at.isoformat(timespec='seconds')}  "
            f"{e.kind} {KIND_JA[e.kind]}  No {numbers}"
        )
        lines.append(f"  check {e.check_id or '-'}  resource {e.resource_id or '-'}  {before} → {after}{was}")
        if lang in ("ja", "both"):
            lines.append(f"  {e.reason_ja}")
        if lang in ("en", "both"):
            lines.append(f"  {e.reason_en}")
        hint = explain_hint(record)
        if hint:
            lines.append(f"  → {hint}")
    return "\n".join(lines)


def cmd_drift(args: argparse.Namespace) -> int:
    try:
        since = parse_since(args.since) if args.since is not None else None
    except SinceError as exc:
        print(f"shoko: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with Ledger(load_settings(args.config).database.url, read_only=True) as ledger:
        records = ledger.drift_events(since=since, run_id=args.run)
    if args.json:
        print(json.dumps([drift_row(r) for r in records], ensure_ascii=False, indent=2))
        return EXIT_OK
    where = "".join(
        [f" in run {args.run}" if args.run is not None else "", f" since {since.isoformat()}" if since else ""]
    )
    if not records:
        print(f"no drift events{where}")
        return EXIT_OK
    print(drift_text(records, args.lang))
    runs = len({r.run_id for r in records})
    print(f"{len(records)} drift event(s) in {runs} completed run(s){where}, newest first")
    return EXIT_OK
