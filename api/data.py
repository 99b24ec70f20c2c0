"""What the JSON routes and the dashboard's pages both answer with: one function per read or write, over the
ledger and the catalog, raising HTTPException (404, 409, 422, 503) with a one-line reason. The routes add
pagination, except for the long lists (a requirement's findings, drift) whose page the database cuts here; the
pages render the same rows."""

from __future__ import annotations

import logging
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request

from collector.attest_cli import record_drafts
from collector.drift_view import drift_row
from collector.history_view import drift_entry
from collector.render import explain, verdict_rows
from controls.attestations import Attestation, AttestationError, draft, parse_requirements
from controls.catalog import Catalog
from controls.model import Finding
from reports.bundle import SnapshotError, load_private_key
from storage.actions import ATTESTATION_ADD, ATTESTATION_REVOKE, COLLECT_NOW, DRIFT_ACKNOWLEDGE
from storage.ledger import Ledger, LedgerError, RunRecord

from .auth import Principal
from .common import ledger_of, settings_of
from .snapshot_export import SentThenRemoved, SnapshotBuildError, build_snapshot
from .uploads import Upload

log = logging.getLogger("shoko.api")


# -- the compliance matrix and one requirement --------------------------------------------------------------


def matrix(
    catalog: Catalog,
    ledger: Ledger,
    run: RunRecord,
    *,
    status: str | None = None,
    section: str | None = None,
    responsibility: str | None = None,
    check: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The requirement rows of one run (its verdicts only: one query, whatever the history) filtered, and the
    count per status over the rows the other filters keep (so the counts still show what `status` hides)."""
    rows = verdict_rows(catalog, ledger.verdicts(run.id))
    if section:
        rows = [r for r in rows if r["section"] == section or r["section"].startswith(section.rstrip(".") + ".")]
    if responsibility:
        rows = [r for r in rows if r["responsibility"] == responsibility]
    if check:
        rows = [r for r in rows if check in r["checks"] or check in _catalog_checks(catalog, r["no"])]
    counts = Counter(r["status"] for r in rows)
    if status:
        rows = [r for r in rows if r["status"] == status]
    return rows, dict(counts)


def _catalog_checks(catalog: Catalog, number: int) -> tuple[str, ...]:
    req = catalog[number]
    return tuple(req.checks) + tuple(req.supporting_checks)


HISTORY_PAGE = 50  # runs of a requirement's status history shown at once
FINDINGS_PAGE = 50  # findings of a requirement shown at once


def requirement_detail(
    catalog: Catalog,
    ledger: Ledger,
    run: RunRecord,
    no: int,
    *,
    history_limit: int = HISTORY_PAGE,
    history_before: int | None = None,
    limit: int = FINDINGS_PAGE,
    offset: int = 0,
    status: str | None = None,
    resource: str | None = None,
) -> dict[str, Any]:
    """One requirement's verdict in `run`, one page of its findings (failures first; `limit` from `offset`, of
    those with `status` and a resource id holding `resource`) with their evidence, the count per status of all
    its findings (`counts`) and how many meet the filters (`total`), and its status history up to that run: the
    verdict of each completed run that judged it, newest first, `history_limit` at a time (`history_before`:
    older than that run; `history_next` continues)."""
    if no not in catalog:
        raise HTTPException(404, f"no requirement No {no} (the catalog has No 1–{len(catalog)})")
    verdict = next((v for v in ledger.verdicts(run.id) if v.requirement == no), None)
    # Only the page's findings and the evidence records they cite are read whole, not the whole run.
    page = ledger.requirement_findings_page(run.id, no, limit=limit, offset=offset, status=status, resource=resource)
    evidence = ledger.evidence_records(run.id, {sha for f in page.findings for sha in f.evidence})
    data = explain(catalog[no], verdict, page.findings, evidence, run, page=page, limit=limit, offset=offset)
    data["history"], data["history_next"] = status_history(ledger, run, no, history_limit, history_before)
    return data


def status_history(
    ledger: Ledger, run: RunRecord, no: int, limit: int, before_run: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of requirement `no`'s verdicts (newest first) up to `run`, each with the status before it, and
    the run id the next (older) page starts before, if there is one. One more verdict than the page is read: the
    status before the page's oldest."""
    upto = run.chain_index
    if before_run is not None:
        older_than = run_started_by(ledger, before_run, None)
        if older_than.chain_index is None:
            raise HTTPException(422, f"history_before: run {before_run} is not sealed yet")
        upto = older_than.chain_index - 1 if upto is None else min(upto, older_than.chain_index - 1)
    rows = ledger.recent_requirement_verdicts(no, upto_chain_index=upto, limit=limit + 1)
    entries = []
    for i, v in enumerate(rows[:limit]):
        before = rows[i + 1].status if i + 1 < len(rows) else None
        changed = before != v.status
        drift = (
            [
                drift_entry(d)
                for d in ledger.drift_events(run_id=v.run_id)
                if no in d.event.requirements and d.event.kind != "verdict_changed"
            ]
            if changed
            else []
        )
        entries.append(
            {
                "run": v.run_id,
                "kind": v.kind,
                "finished_at": v.finished_at.isoformat() if v.finished_at else None,
                "digest": v.digest,
                "before": before,
                "after": v.status,
                "changed": changed,
                "reason_ja": v.reason_ja,
                "reason_en": v.reason_en,
                "drift": drift,
            }
        )
    return entries, (rows[limit - 1].run_id if len(rows) > limit else None)


# -- findings, runs, drift ----------------------------------------------------------------------------------


def finding_rows(
    ledger: Ledger,
    run: RunRecord,
    *,
    resource_id: str | None = None,
    check: str | None = None,
    status: str | None = None,
    requirement: int | None = None,
) -> list[dict[str, Any]]:
    """The findings of one run (a resource id matches in any case), in stored order."""
    # One resource's or one check's findings are read alone, not as the run's every finding.
    if resource_id is not None:
        found = ledger.findings_of_resource([run.id], resource_id)[run.id]
    elif check is not None:
        found = ledger.run_findings_of(run.id, [check])
    else:
        found = ledger.findings(run.id)
    rows = [
        f
        for f in found
        if (resource_id is None or f.resource_id.lower() == resource_id.lower())
        and (check is None or f.check_id == check)
        and (status is None or str(f.status) == status)
        and (requirement is None or requirement in f.requirements)
    ]
    return [finding_out(f) for f in rows]


def finding_out(f: Finding) -> dict[str, Any]:
    """A finding as the API gives it."""
    return {
        "check_id": f.check_id,
        "status": str(f.status),
        "resource_id": f.resource_id,
        "requirements": list(f.requirements),
        "reason_ja": f.reason_ja,
        "reason_en": f.reason_en,
        "evidence": list(f.evidence),
    }


def run_started_by(ledger: Ledger, run_id: int, moment: datetime | None) -> RunRecord:
    try:
        run: RunRecord | None = ledger.run(run_id)
    except LedgerError:  # no such run
        run = None
    if run is None or (moment is not None and run.started_at > moment):
        raise HTTPException(404, f"no run {run_id}" + (" started at or before as_of" if moment else ""))
    return run


def collection_errors(ledger: Ledger, run: RunRecord) -> list[dict[str, Any]]:
    return [
        {
            "kind": str(e.kind),
            "source": e.source,
            "scope": e.scope,
            "code": e.code,
            "message": e.message,
            "status_code": e.status_code,
            "request_id": e.request_id,
            "occurred_at": e.occurred_at,
        }
        for e in ledger.collection_errors(run.id)
    ]


def acknowledgements(ledger: Ledger) -> dict[str, dict[str, Any]]:
    return {
        a.subject: {"by": a.actor, "at": a.recorded_at, "note": str(a.content.get("note") or "")}
        for a in ledger.actions(DRIFT_ACKNOWLEDGE)
    }


def drift_rows(
    ledger: Ledger,
    moment: datetime | None,
    *,
    since: datetime | None = None,
    run: int | None = None,
    kind: str | None = None,
    requirement: int | None = None,
) -> list[dict[str, Any]]:
    """Drift events, newest first, found by runs sealed by `moment`, with their acknowledgement then."""
    return drift_page(ledger, moment, since=since, run=run, kind=kind, requirement=requirement)[0]


def drift_page(
    ledger: Ledger,
    moment: datetime | None,
    *,
    since: datetime | None = None,
    run: int | None = None,
    kind: str | None = None,
    requirement: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """One page (`limit` from `offset`, cut by the database) of what drift_rows gives, and how many there are."""
    records, total = ledger.drift_events_page(
        since=since, until=moment, run_id=run, kind=kind, requirement=requirement, limit=limit, offset=offset
    )
    acks = acknowledgements(ledger) if records else {}
    rows = []
    for record in records:
        ack = acks.get(str(record.id))
        rows.append(
            {**drift_row(record), "acknowledged": ack if ack and (moment is None or ack["at"] <= moment) else None}
        )
    return rows, total


def acknowledge_drift(request: Request, principal: Principal, event_id: int, note: str) -> dict[str, Any]:
    """Record that `principal` acknowledged drift event `event_id` (an action with who, their role and the note);
    404 for an unknown event, 409 when it is already acknowledged."""
    ledger = ledger_of(request)
    if not any(d.id == event_id for d in ledger.drift_events()):
        raise HTTPException(404, f"no drift event {event_id}")
    done = acknowledgements(ledger).get(str(event_id))
    if done is not None:
        raise HTTPException(409, f"drift event {event_id} was acknowledged by {done['by']} at {done['at'].isoformat()}")
    chain = ledger.record_action(
        DRIFT_ACKNOWLEDGE, str(event_id), principal.name, {**principal.describe(), "note": note}
    )
    record = ledger.actions(DRIFT_ACKNOWLEDGE)[-1]
    return {
        "action": record.action,
        "subject": record.subject,
        "actor": record.actor,
        "recorded_at": record.recorded_at,
        "chain_hash": chain,
    }


# -- attestations -------------------------------------------------------------------------------------------


def attestation_out(a: Attestation, on: date) -> dict[str, Any]:
    revoked = a.revoked
    return {
        **a.content(),
        "state": a.state(on),
        "revoked": None
        if revoked is None
        else {"by": revoked.revoked_by, "at": revoked.revoked_at, "reason": revoked.reason},
    }


def attestation_rows(
    ledger: Ledger, moment: datetime | None, *, include_revoked: bool = False, requirement: int | None = None
) -> list[dict[str, Any]]:
    """Attestations recorded by `moment`, oldest first, with their state that day."""
    rows = []
    for a in ledger.attestations():
        if moment is not None:
            if a.recorded_at is not None and a.recorded_at > moment:
                continue
            if a.revoked is not None and a.revoked.revoked_at > moment:
                a = a.with_revocation(None)  # revoked later: still standing then
        if (a.revoked is not None and not include_revoked) or (
            requirement is not None and requirement not in a.requirements
        ):
            continue
        rows.append(attestation_out(a, (moment or datetime.now(UTC)).date()))
    return rows


def add_attestation(
    request: Request,
    principal: Principal,
    fields: dict[str, Any],
    att_id: str | None = None,
    documents: Sequence[Upload] = (),
) -> dict[str, Any]:
    """Record an attestation (`fields`: requirements, owner, attested_on, valid_until, statement_ja/_en, all as
    text) with its uploaded `documents` (already checked by api.uploads; each one's SHA-256 is cited in the
    attestation and its bytes stored in the ledger) and the action with who did it. It counts from the next
    run's evaluation."""
    ledger = ledger_of(request)
    entry: dict[str, Any] = {**fields, "documents": [d.name for d in documents]}
    if att_id:
        if any(a.id == att_id for a in ledger.attestations()):
            raise HTTPException(409, f"attestation {att_id} is already recorded (revoke it, then use a new id)")
        entry["id"] = att_id
    # The documents go through the same reading as `shoko attest add --document`: from files, by name.
    with tempfile.TemporaryDirectory(prefix="shoko-upload-") as tmp:
        for d in documents:
            (Path(tmp) / d.name).write_bytes(d.data)
        try:
            made = draft(entry, "attestation", Path(tmp), request.app.state.catalog.numbers())
            record_drafts(ledger, [made], principal.name)
        except AttestationError as exc:
            raise HTTPException(422, str(exc).replace(tmp + "/", "")) from None
        except LedgerError as exc:
            raise HTTPException(409, str(exc)) from None
    recorded = ledger.attestations()[-1]
    ledger.record_action(
        ATTESTATION_ADD,
        recorded.id,
        principal.name,
        {
            **principal.describe(),
            "requirements": list(recorded.requirements),
            "documents": [d.sha256 for d in recorded.documents],
        },
    )
    return attestation_out(recorded, datetime.now(UTC).date())


def revoke_attestation(request: Request, principal: Principal, att_id: str, reason: str) -> dict[str, Any]:
    ledger = ledger_of(request)
    if not any(a.id == att_id for a in ledger.attestations()):
        raise HTTPException(404, f"no attestation {att_id}")
    try:
        ledger.revoke_attestation(att_id, principal.name, reason, datetime.now(UTC))
    except LedgerError as exc:
        raise HTTPException(409, str(exc)) from None
    ledger.record_action(ATTESTATION_REVOKE, att_id, principal.name, {**principal.describe(), "reason": reason})
    found = next(a for a in ledger.attestations() if a.id == att_id)
    return attestation_out(found, datetime.now(UTC).date())


# -- snapshot and "collect now" ----------------------------------------------------------------------------


def snapshot_file(
    request: Request, run: RunRecord, moment: datetime | None, requirements: str | None, lang: str
) -> SentThenRemoved:
    """The signed snapshot bundle `shoko snapshot export` writes, as a download: built by a child process
    (api.snapshot_export) into a temporary file, sent from there and removed once sent (or sending it failed)."""
    settings, catalog = settings_of(request), request.app.state.catalog
    try:
        numbers = parse_requirements(requirements, "requirements", catalog.numbers()) if requirements else None
    except AttestationError as exc:
        raise HTTPException(422, str(exc)) from None
    try:
        load_private_key(settings.api.signing_key_file)  # refused here, before a process is started for it
    except SnapshotError as exc:
        raise HTTPException(503, f"snapshot signing is not configured: {exc}") from None
    try:
        built = build_snapshot(
            settings.database.url, catalog, moment, numbers, lang, settings.thresholds, settings.api.signing_key_file
        )
    except SnapshotBuildError as exc:
        log.error("snapshot of run %d could not be built: %s", run.id, exc, extra={"run_id": run.id})
        raise HTTPException(
            500, f"the snapshot could not be built: {exc}" if exc.stated else "the snapshot could not be built; "
            "the server's log says why",
        ) from None  # fmt: skip
    return SentThenRemoved(built.path, built.cleanup, filename=f"shoko-snapshot-run{run.id}.zip")


def collect_now(request: Request, principal: Principal) -> dict[str, Any]:
    """Start one full collection (queued to the agent's worker, or run here in a thread) and record who asked;
    409 when one is already queued or running."""
    from collector.pipeline import run_once

    ledger, settings, catalog = ledger_of(request), settings_of(request), request.app.state.catalog
    queue_run = request.app.state.start_collection
    if queue_run is not None:  # inside the agent: its worker runs it, as a scheduled run
        detail = queue_run()
        if not detail:
            raise HTTPException(409, "a full collection is already queued or running; see GET /api/v1/runs")
        return _collect_recorded(ledger, principal, detail)
    busy: threading.Lock = request.app.state.collect_lock  # one API-started collection at a time
    if not busy.acquire(blocking=False):
        raise HTTPException(409, "a collection started through the API is still running; see GET /api/v1/runs")
    try:
        started = _collect_recorded(ledger, principal, "collection started; it appears in GET /api/v1/runs")
    except Exception:
        busy.release()
        raise

    def collect() -> None:
        try:
            outcome = run_once(settings, ledger, catalog)
            log.info("collection requested by %s: run %s %s", principal.name, outcome.run.id, outcome.run.status)
        except Exception as exc:  # the run itself is sealed failed by run_once; this is what could not start it
            log.error("collection requested by %s did not run: %s", principal.name, exc)
        finally:
            busy.release()

    threading.Thread(target=collect, name="shoko-api-collect", daemon=True).start()
    return started


def _collect_recorded(ledger: Ledger, principal: Principal, detail: str) -> dict[str, Any]:
    chain = ledger.record_action(COLLECT_NOW, "full", principal.name, principal.describe())
    record = ledger.actions(COLLECT_NOW)[-1]
    return {
        "action": COLLECT_NOW,
        "subject": "full",
        "actor": principal.name,
        "recorded_at": record.recorded_at,
        "chain_hash": chain,
        "detail": detail,
    }
