"""`shoko history N`: when requirement N's verdict changed, run by run, with the drift events behind each
change — the answer to an auditor's "since when has this been failing, and what changed it?"."""

from __future__ import annotations

from typing import Any

from alerts.drift import KIND_JA
from storage.ledger import Ledger


def history(ledger: Ledger, number: int) -> list[dict[str, Any]]:
    """One entry per change of No `number`'s verdict (the first judgement included), oldest first, from the
    completed runs that judged it (a partial run that did not decide it is skipped)."""
    entries: list[dict[str, Any]] = []
    last: str | None = None
    for run in ledger.runs():
        if run.status != "completed":
            continue  # failed and interrupted runs are never a baseline (README "Drift")
        verdict = next((v for v in ledger.verdicts(run.id) if v.requirement == number), None)
        if verdict is None or str(verdict.status) == last:
            continue
        events = [
            {
                "id": d.id,
                "kind": str(d.event.kind),
                "check_id": d.event.check_id,
                "resource_id": d.event.resource_id,
                "before": None if d.event.before is None else str(d.event.before),
                "after": None if d.event.after is None else str(d.event.after),
                "reason_ja": d.event.reason_ja,
                "reason_en": d.event.reason_en,
            }
            for d in ledger.drift_events(run_id=run.id)
            if number in d.event.requirements and d.event.kind != "verdict_changed"
        ]
        entries.append(
            {
                "run": run.id,
                "kind": run.kind,
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "digest": run.digest,
                "before": last,
                "after": str(verdict.status),
                "reason_ja": verdict.reason_ja,
                "reason_en": verdict.reason_en,
                "drift": events,
            }
        )
        last = str(verdict.status)
    return entries


def history_text(number: int, entries: list[dict[str, Any]], lang: str) -> str:
    if not entries:
        return f"No {number}: no completed run has judged it yet"
    lines = [f"No {number}: {len(entries)} verdict change(s), oldest first (the first is its first judgement)"]
    for e in entries:
        before = e["before"] or "-"
        lines.append(f"run {e['run']} ({e['kind']})  {e['finished_at']}  {before} → {e['after']}")
        if lang in ("ja", "both"):
            lines.append(f"  {e['reason_ja']}")
        if lang in ("en", "both"):
            lines.append(f"  {e['reason_en']}")
        for d in e["drift"]:
            what = f"{d['kind']} {KIND_JA.get(d['kind'], '')}".strip()
            lines.append(f"  · {what}: {d['check_id'] or '-'} {d['resource_id'] or '-'} {d['before']} → {d['after']}")
        lines.append(f"  → shoko explain {number} --run {e['run']}")
    return "\n".join(lines)
