"""`shoko history N`: when requirement N's verdict changed, run by run, with the drift events behind each
change — the answer to an auditor's "since when has this been failing, and what changed it?".

`shoko history [N] --resource ID`: the same for one resource — when each check's status on it changed (only
the checks evidencing No N, with N), with the drift events recorded for that check and resource."""

from __future__ import annotations

from typing import Any

from alerts.drift import KIND_JA
from storage.ledger import DriftRecord, Ledger


def drift_entry(record: DriftRecord) -> dict[str, Any]:
    """A drift event as a history entry lists it."""
    return {
        "id": record.id,
        "kind": str(record.event.kind),
        "check_id": record.event.check_id,
        "resource_id": record.event.resource_id,
        "before": None if record.event.before is None else str(record.event.before),
        "after": None if record.event.after is None else str(record.event.after),
        "reason_ja": record.event.reason_ja,
        "reason_en": record.event.reason_en,
    }


def history(ledger: Ledger, number: int) -> list[dict[str, Any]]:
    """One entry per change of No `number`'s verdict (the first judgement included), oldest first, from the
    completed runs that judged it (a partial run that did not decide it is skipped)."""
    entries: list[dict[str, Any]] = []
    last: str | None = None
    # Failed and interrupted runs are never a baseline (README "Drift"): completed runs only, read from one
    # indexed query of this requirement's verdicts; drift events only of the runs where it changed.
    for run in ledger.requirement_verdicts(number):
        verdict = run.verdict
        if str(verdict.status) == last:
            continue
        events = [
            drift_entry(d)
            for d in ledger.drift_events(run_id=run.run_id)
            if number in d.event.requirements and d.event.kind != "verdict_changed"
        ]
        entries.append(
            {
                "run": run.run_id,
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


_RANK = {"fail": 0, "error": 1, "pass": 2}


def resource_history(ledger: Ledger, resource_id: str, number: int | None = None) -> list[dict[str, Any]]:
    """One entry per change of a check's status on `resource_id` (ARM ids compare case-insensitively; its first
    judgement included), oldest first, from the completed runs that judged the check. A check that judged the
    resource before and, in a run that judged it again, yields no finding for it shows `after: null` (the
    resource is gone or out of its scope). With `number`, only the checks mapped to that requirement."""
    wanted = resource_id.lower()
    last: dict[str, str | None] = {}  # check id -> the status last seen on the resource
    entries: list[dict[str, Any]] = []
    # failed and interrupted runs are never a baseline (README "Drift")
    completed = [run for run in ledger.runs() if run.status == "completed"]
    on_resource = ledger.findings_of_resource([run.id for run in completed], resource_id)
    for run in completed:
        findings = [f for f in on_resource[run.id] if number is None or number in f.requirements]
        listed = run.scope.get("checks")
        judged = {str(c) for c in listed} if isinstance(listed, list) else {f.check_id for f in findings}
        now: dict[str, Any] = {}
        for f in findings:  # one finding per check and resource; should there be more, the worst one
            seen = now.get(f.check_id)
            if seen is None or _RANK.get(str(f.status), 3) < _RANK.get(str(seen.status), 3):
                now[f.check_id] = f
        changed = [c for c in sorted(now) if last.get(c, "-") != str(now[c].status)]
        changed += [c for c in sorted(last) if c in judged and c not in now and last[c] is not None]
        if not changed:
            continue
        drift = [
            d
            for d in ledger.drift_events(run_id=run.id)
            if (d.event.resource_id or "").lower() == wanted and d.event.check_id in changed
        ]
        for check_id in changed:
            finding = now.get(check_id)
            entries.append(
                {
                    "run": run.id,
                    "kind": run.kind,
                    "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                    "digest": run.digest,
                    "check_id": check_id,
                    "requirements": list(finding.requirements) if finding else [],
                    "before": last.get(check_id),
                    "after": str(finding.status) if finding else None,
                    "reason_ja": finding.reason_ja if finding else "この実行ではこのリソースの所見がありません",
                    "reason_en": finding.reason_en if finding else "no finding on this resource in this run",
                    "drift": [drift_entry(d) for d in drift if d.event.check_id == check_id],
                }
            )
            last[check_id] = str(finding.status) if finding else None
    return entries


def resource_history_text(resource_id: str, number: int | None, entries: list[dict[str, Any]], lang: str) -> str:
    scope = f" (checks of No {number})" if number is not None else ""
    lines = [f"{resource_id}{scope}: {len(entries)} status change(s), oldest first (the first is its first judgement)"]
    for e in entries:
        change = f"{e['before'] or '-'} → {e['after'] or '-'}"
        lines.append(f"run {e['run']} ({e['kind']})  {e['finished_at']}  {e['check_id']}  {change}")
        if lang in ("ja", "both"):
            lines.append(f"  {e['reason_ja']}")
        if lang in ("en", "both"):
            lines.append(f"  {e['reason_en']}")
        for d in e["drift"]:
            what = f"{d['kind']} {KIND_JA.get(d['kind'], '')}".strip()
            lines.append(f"  · {what}: {d['before']} → {d['after']}")
        if e["requirements"]:
            lines.append(f"  → shoko explain {number or e['requirements'][0]} --run {e['run']}")
    return "\n".join(lines)


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
