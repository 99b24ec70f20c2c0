"""`shoko runs`: every run with its kind, outcome, duration and counts; the one-line notes that `status`
and `verify` print about interrupted and still-running runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from storage.ledger import Ledger, RunRecord, RunStatus


def duration_text(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _when(run: RunRecord, which: str) -> str | None:
    value = getattr(run, which)
    return value.isoformat() if value else None


def run_row(run: RunRecord, abandoned: str | None = None) -> dict[str, Any]:
    """One run as `shoko runs --json` shows it; `abandoned`: why a running run is abandoned (sealed
    interrupted by the next collection)."""
    duration = run.duration
    return {
        "id": run.id,
        "kind": run.kind,
        "kinds": run.scope.get("kinds") if run.kind == "partial" else None,
        "status": str(run.status),
        "started_at": _when(run, "started_at"),
        "finished_at": _when(run, "finished_at"),
        "duration_seconds": round(duration.total_seconds(), 3) if duration is not None else None,
        "evidence": run.counts.get("evidence", 0),
        "findings": run.counts.get("findings", 0),
        "verdicts": run.counts.get("verdicts", 0),
        "collection_errors": run.counts.get("errors", 0),
        "error": run.error,
        "abandoned": abandoned,
        "digest": run.digest,
        "lease": (
            {
                "host": run.lease.host,
                "pid": run.lease.pid,
                "renewed_at": run.lease.renewed_at.isoformat(),
                "expires_at": run.lease.expires_at.isoformat(),
            }
            if run.lease
            else None
        ),
    }


def _short(run: RunRecord, which: str) -> str:
    value = getattr(run, which)
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def runs_table(runs: list[RunRecord], abandoned: dict[int, str] | None = None) -> str:
    """Every run, oldest first; times in UTC. A running run names its lease holder where the error goes, or
    why it is abandoned."""
    abandoned = abandoned or {}
    header = ("run", "kind", "status", "started (UTC)", "finished (UTC)", "duration", "evidence", "findings", "errors")
    rows = []
    for run in runs:
        kind = run.kind if run.kind == "full" else f"partial:{'+'.join(run.scope.get('kinds') or [])}"
        if run.id in abandoned:
            note = f"abandoned ({_SEALED_LATER}): {abandoned[run.id]}"
        elif run.status == RunStatus.RUNNING and run.lease:
            note = f"lease held by {run.lease.host}/{run.lease.pid}, renewed {run.lease.renewed_at.isoformat()}"
        else:
            note = run.error or ""
        rows.append(
            (
                str(run.id),
                kind,
                str(run.status),
                _short(run, "started_at"),
                _short(run, "finished_at"),
                duration_text(run.duration),
                str(run.counts.get("evidence", 0)),
                str(run.counts.get("findings", 0)),
                str(run.counts.get("errors", 0)),
                note,
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = {0, 6, 7, 8}

    def line(cells: tuple[str, ...]) -> str:
        parts = [c.rjust(widths[i]) if i in numeric else c.ljust(widths[i]) for i, c in enumerate(cells[:9])]
        extra = cells[9] if len(cells) > 9 else "error"
        return "  ".join([*parts, extra]).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


_SEALED_LATER = "the next collection seals it interrupted"


def note_line(run: RunRecord, abandoned: str | None = None) -> str:
    """One line about an interrupted or still-running run, for `status` and `verify`; `abandoned`: why a
    running run is abandoned."""
    kind = run.kind if run.kind == "full" else f"partial ({', '.join(run.scope.get('kinds') or [])})"
    if run.status == RunStatus.RUNNING and abandoned:
        since = run.started_at.isoformat()
        return f"run {run.id} ({kind}) is abandoned, unsealed since {since} ({_SEALED_LATER}): {abandoned}"
    if run.status == RunStatus.RUNNING:
        lease = (
            f"lease held by {run.lease.host}/{run.lease.pid}, renewed {run.lease.renewed_at.isoformat()}, "
            f"expires {run.lease.expires_at.isoformat()}"
            if run.lease
            else "no lease"
        )
        if run.lease and run.lease.expires_at < datetime.now(UTC):
            lease = (
                f"lease held by {run.lease.host}/{run.lease.pid}, last renewed {run.lease.renewed_at.isoformat()}, "
                f"expired {run.lease.expires_at.isoformat()} — not sealed interrupted: its process still runs on "
                "this host, or the database refused the seal (see the log)"
            )
        return f"run {run.id} ({kind}) is still running since {run.started_at.isoformat()}: {lease}"
    return f"run {run.id} ({kind}) was {run.status}: {run.error}"


def latest_full_run(ledger: Ledger) -> tuple[RunRecord | None, list[RunRecord]]:
    """The newest sealed full run, and the partial runs sealed after it (newest first).

    A partial run judges a few checks only; the table of every requirement comes from a full run."""
    latest = ledger.latest_run(full_only=True)
    return latest, ledger.partial_runs_after(latest.id if latest else None)[::-1]


def run_for(ledger: Ledger, run_id: int | None, as_of: datetime | None) -> tuple[RunRecord | None, list[RunRecord]]:
    """The run a read answers from: the one asked for, else the latest full run completed at or before
    `as_of`, else the latest full run. With the partial runs sealed after it (and before `as_of`)."""
    if run_id is not None:
        return ledger.run(run_id), []
    if as_of is None:
        return latest_full_run(ledger)
    run = ledger.run_as_of(as_of, completed_only=True, full_only=True)
    return run, ledger.partial_runs_after(run.id if run else None, as_of)[::-1]


def parse_as_of(text: str, option: str = "--as-of") -> datetime:
    """An as-of moment as an aware UTC datetime: a date alone means the end of that day (UTC), so everything
    sealed that day counts; ISO 8601 otherwise (no offset: UTC). SinceError (one line) if it is neither."""
    from collector.drift_view import parse_since

    value = parse_since(text, option)
    if len(text.strip()) == 10:
        # The last microsecond of the day (9999-12-31 has no next day to step back from).
        value = value.replace(hour=23, minute=59, second=59, microsecond=999999)
    return value
