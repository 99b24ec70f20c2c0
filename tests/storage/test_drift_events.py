"""Drift events in the ledger: stored with their run, sealed and verified like findings, read back newest
first; and the previous state drift detection reads (the last completed run that judged each check)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

import storage.ledger
from alerts.drift import detect_for_run, previous_state
from controls.model import DriftEvent, DriftKind, Finding, Status, Verdict
from storage.ledger import Ledger, LedgerError
from storage.models import RunCollectionError, RunEvidence, RunFinding, RunVerdict

from .helpers import NSG_ID, SITE_ID, T0, drop_protection, execute, nsg_evidence, record_run, site_config_evidence
from .test_verify import row_ids

NSG_CHECK = "nsg-no-internet-management-ports"
TLS_CHECK = "app-service-min-tls-1-2"
SUB = "/subscriptions/0000"


def gone_event(previous_run: int | None = 1) -> DriftEvent:
    return DriftEvent(
        kind=DriftKind.RESOURCE_GONE,
        check_id=NSG_CHECK,
        resource_id=NSG_ID,
        requirements=(86, 87, 148),
        before=Status.PASS,
        after=None,
        reason_ja="資源の消失: nsg-web",
        reason_en="resource gone: nsg-web",
        previous_run=previous_run,
    )


def verdict_event() -> DriftEvent:
    return DriftEvent(DriftKind.VERDICT_CHANGED, None, None, (86,), Status.PARTIAL, Status.FAIL, "変化", "changed", 1)


def record_with_drift(ledger: Ledger, hour: int, events: list[DriftEvent], *, fail: str | None = None) -> int:
    at = T0 + timedelta(hours=hour)
    run_id = ledger.start_run(at, agent_version="0.1.0", config_digest="c0ffee", scope={})
    ledger.add_drift_events(run_id, events)
    finish = at + timedelta(minutes=5)
    ledger.fail_run(run_id, finish, fail) if fail else ledger.complete_run(run_id, finish)
    return run_id


def test_drift_events_round_trip_newest_run_first(ledger: Ledger) -> None:
    first = record_with_drift(ledger, 0, [gone_event(None)])
    second = record_with_drift(ledger, 1, [gone_event(first), verdict_event()])
    record_with_drift(ledger, 2, [gone_event(second)], fail="RuntimeError: boom")  # a failed run's drift is not real

    records = ledger.drift_events()
    assert [(r.run_id, r.event) for r in records] == [
        (second, gone_event(first)),
        (second, verdict_event()),
        (first, gone_event(None)),
    ]
    assert records[0].detected_at == T0 + timedelta(hours=1, minutes=5)
    assert [r.run_id for r in ledger.drift_events(since=T0 + timedelta(hours=1))] == [second, second]
    assert [r.event.kind for r in ledger.drift_events(run_id=first)] == [DriftKind.RESOURCE_GONE]
    assert ledger.drift_events(since=T0 + timedelta(days=1)) == []
    assert ledger.verify().ok


def test_drift_events_are_refused_for_a_sealed_run_or_an_unknown_kind(ledger: Ledger) -> None:
    run_id = record_with_drift(ledger, 0, [])
    with pytest.raises(LedgerError, match=f"run {run_id} is sealed"):
        ledger.add_drift_events(run_id, [gone_event()])
    running = ledger.start_run(T0 + timedelta(hours=1), agent_version="v", config_digest="d", scope={})
    with pytest.raises(LedgerError, match="unknown drift kind"):
        ledger.add_drift_events(running, [DriftEvent("drifted", None, None, (), None, None, "", "")])  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="run 999 does not exist"):
        ledger.drift_events(run_id=999)


def test_an_edited_drift_row_is_named_by_verify(ledger: Ledger, raw: Engine) -> None:
    runs = [record_with_drift(ledger, h, [gone_event(), verdict_event()]) for h in range(3)]
    drop_protection(raw)
    victim = row_ids(raw, "drift_events", runs[1])[1]
    execute(raw, "UPDATE drift_events SET status_after = 'pass' WHERE id = :i", i=victim)
    report = ledger.verify()
    assert (report.ok, report.run_id, report.table, report.row_id) == (False, runs[1], "drift_events", victim)
    assert "content changed after it was stored" in (report.problem or "")


def test_a_deleted_drift_row_is_named_by_verify(ledger: Ledger, raw: Engine) -> None:
    runs = [record_with_drift(ledger, h, [gone_event(), verdict_event()]) for h in range(2)]
    drop_protection(raw)
    victim = row_ids(raw, "drift_events", runs[0])[0]
    execute(raw, "DELETE FROM drift_events WHERE id = :i", i=victim)
    report = ledger.verify()
    assert (report.run_id, report.table, report.row_id) == (runs[0], "drift_events", victim)
    assert "row was deleted" in (report.problem or "")


def test_triggers_refuse_changing_drift_rows_or_adding_to_a_sealed_run(ledger: Ledger, raw: Engine) -> None:
    run_id = record_with_drift(ledger, 0, [gone_event()])
    victim = row_ids(raw, "drift_events", run_id)[0]
    for sql in (
        "UPDATE drift_events SET reason_en = 'nothing happened' WHERE id = :i",
        "DELETE FROM drift_events WHERE id = :i",
        "INSERT INTO drift_events (run_id, kind, requirements, reason_ja, reason_en, row_hash) "
        "SELECT run_id, kind, requirements, reason_ja, reason_en, row_hash FROM drift_events WHERE id = :i",
    ):
        with pytest.raises(DBAPIError, match="shoko ledger"):
            execute(raw, sql, i=victim)
    if raw.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="shoko ledger"):
            execute(raw, "TRUNCATE drift_events")
    assert [r.event for r in ledger.drift_events()] == [gone_event()]
    assert ledger.verify().ok


def test_runs_sealed_before_drift_events_existed_still_verify(ledger: Ledger, monkeypatch) -> None:
    # What the first schema's code sealed: no drift_events entry in the seal document.
    with monkeypatch.context() as patch:
        patch.setattr(storage.ledger, "RUN_TABLES", (RunEvidence, RunCollectionError, RunFinding, RunVerdict))
        old, _ = record_run(ledger)
    new = record_with_drift(ledger, 1, [gone_event(old)])
    assert ledger.verify().ok and ledger.verify().runs_checked == 2
    assert [r.run_id for r in ledger.drift_events()] == [new]


# -- the previous state --------------------------------------------------------------------------


# The documents the findings below cite (the ledger refuses a pass that cites none).
EVIDENCE = [nsg_evidence(), site_config_evidence()]


def nsg(status: Status, resource: str = NSG_ID) -> Finding:
    return Finding(NSG_CHECK, (86, 87, 148), status, resource, f"NSG {status}", f"NSG {status}", (EVIDENCE[0].sha256,))


def site(status: Status) -> Finding:
    return Finding(TLS_CHECK, (118, 123), status, SITE_ID, f"サイト {status}", f"site {status}", (EVIDENCE[1].sha256,))


def verdicts(**by_number: Status) -> list[Verdict]:
    # Each counts the one NSG finding it rests on (the ledger refuses a judged verdict that cites none).
    counts = {Status.FAIL: {"findings_fail": 1}}
    return [
        Verdict(int(n[1:]), s, "ja", "en", (NSG_CHECK,), **counts.get(s, {"findings_pass": 1}))
        for n, s in by_number.items()
    ]


def judged_run(
    ledger: Ledger, hour: int, findings: list[Finding], marks: list[Verdict], *, partial: list[str] | None = None
) -> tuple[int, list[DriftEvent]]:
    """Store a run as run_once does (findings, verdicts, its drift), seal it; returns its id and drift."""
    scope = {"partial": True, "kinds": ["network_security_group"], "checks": partial} if partial else {}
    at = T0 + timedelta(hours=hour)
    run_id = ledger.start_run(at, agent_version="0.1.0", config_digest="c0ffee", scope=scope)
    ledger.add_evidence(run_id, EVIDENCE)
    ledger.add_findings(run_id, findings)
    ledger.add_verdicts(run_id, marks)
    events = detect_for_run(ledger, run_id, partial or [NSG_CHECK, TLS_CHECK], findings, marks)
    ledger.add_drift_events(run_id, events)
    ledger.complete_run(run_id, at + timedelta(minutes=5))
    return run_id, events


def test_a_partial_run_is_compared_with_the_last_run_that_judged_its_checks(ledger: Ledger) -> None:
    first, baseline = judged_run(ledger, 0, [nsg(Status.PASS), site(Status.FAIL)], verdicts(n86=Status.PARTIAL))
    assert baseline == []  # the first run ever

    partial, events = judged_run(ledger, 1, [nsg(Status.FAIL)], verdicts(n148=Status.FAIL), partial=[NSG_CHECK])
    # The site was not judged by this partial run: it is not gone; No 148 had no verdict before.
    assert [(e.kind, e.resource_id, e.previous_run) for e in events] == [(DriftKind.NEW_FAILURE, NSG_ID, first)]

    failed = ledger.start_run(T0 + timedelta(hours=2), agent_version="v", config_digest="d", scope={})
    ledger.add_evidence(failed, EVIDENCE)
    ledger.add_findings(failed, [nsg(Status.PASS), site(Status.PASS)])
    ledger.fail_run(failed, T0 + timedelta(hours=2, minutes=5), "RuntimeError: boom")  # never a baseline

    _, events = judged_run(
        ledger, 3, [nsg(Status.FAIL), site(Status.PASS)], verdicts(n86=Status.FAIL, n148=Status.FAIL)
    )
    # The NSG is compared with the partial run (already failing there), the site with the first full run.
    assert [(e.kind, e.check_id, e.requirements, e.previous_run) for e in events] == [
        (DriftKind.RESOLVED, TLS_CHECK, (118, 123), first),
        (DriftKind.VERDICT_CHANGED, None, (86,), first),
    ]
    assert [(r.run_id, r.event.kind) for r in ledger.drift_events()][:2] == [
        (partial + 2, DriftKind.RESOLVED),
        (partial + 2, DriftKind.VERDICT_CHANGED),
    ]


def test_a_lasting_collection_error_is_one_new_error_then_one_resolution(ledger: Ledger) -> None:
    scope_error = Finding(NSG_CHECK, (86,), Status.ERROR, SUB, "取得できません", "could not be collected in " + SUB)
    judged_run(ledger, 0, [nsg(Status.PASS), nsg(Status.FAIL, NSG_ID + "-db")], [])
    _, onset = judged_run(ledger, 1, [scope_error], [])
    assert [(e.kind, e.before, e.after) for e in onset] == [
        (DriftKind.NEW_ERROR, Status.PASS, Status.ERROR),
        (DriftKind.NEW_ERROR, Status.FAIL, Status.ERROR),
    ]
    for hour in range(2, 9):  # longer than the first batches previous_state reads back
        assert judged_run(ledger, hour, [scope_error], [])[1] == []  # still unreadable: no news
    last, recovered = judged_run(ledger, 9, [nsg(Status.PASS)], [])
    # The NSG comes back as resolved (not new); the one deleted meanwhile is gone, from the last run seen.
    assert [(e.kind, e.resource_id, e.before, e.after) for e in recovered] == [
        (DriftKind.RESOLVED, NSG_ID, Status.ERROR, Status.PASS),
        (DriftKind.RESOURCE_GONE, NSG_ID + "-db", Status.ERROR, None),
    ]
    # Read before the last run, the baseline holds the error and what it stood for; after it, what was seen.
    before_last = previous_state(ledger, last, [NSG_CHECK], [])
    assert {f.resource_id: f.status for f in before_last.findings} == {
        SUB: Status.ERROR,
        NSG_ID: Status.ERROR,
        NSG_ID + "-db": Status.ERROR,
    }
    assert {f.reason_en for f in before_last.findings} == {scope_error.reason_en}
    following = ledger.start_run(T0 + timedelta(hours=10), agent_version="v", config_digest="d", scope={})
    after_last = previous_state(ledger, following, [NSG_CHECK], [])
    assert {f.resource_id: f.status for f in after_last.findings} == {NSG_ID: Status.PASS}
    assert after_last.check_runs == {NSG_CHECK: last}


def test_judged_history_pages_back_through_completed_runs_only(ledger: Ledger) -> None:
    full, _ = judged_run(ledger, 0, [nsg(Status.PASS), site(Status.PASS)], verdicts(n86=Status.PARTIAL))
    partial, _ = judged_run(ledger, 1, [], [], partial=[NSG_CHECK])
    failed = ledger.start_run(T0 + timedelta(hours=2), agent_version="v", config_digest="d", scope={})
    ledger.fail_run(failed, T0 + timedelta(hours=2, minutes=1), "RuntimeError: boom")
    later = [judged_run(ledger, h, [nsg(Status.PASS)], [])[0] for h in (3, 4, 5)]
    current = ledger.start_run(T0 + timedelta(hours=6), agent_version="v", config_digest="d", scope={})

    history = list(ledger.judged_history(current, page=2))
    assert [(r.id, r.full) for r in history] == [(r, True) for r in reversed(later)] + [(partial, False), (full, True)]
    assert history[-1].checks == {NSG_CHECK, TLS_CHECK}  # from its findings and verdicts
    assert history[-2].checks == {NSG_CHECK}  # from its scope, though it found nothing
    assert [r.id for r in ledger.judged_history(later[0])] == [partial, full]  # before a sealed run


def test_a_page_of_drift_events_equals_filtering_and_cutting_them_all(ledger: Ledger) -> None:
    """drift_events_page cuts in the database what filtering every event (by run, kind, requirement, sealed
    since/until) and slicing gives, and counts them all."""
    runs = [record_with_drift(ledger, 0, [gone_event(None)])]
    for hour in range(1, 5):
        runs.append(record_with_drift(ledger, hour, [gone_event(runs[-1]), verdict_event(), gone_event(runs[-1])]))
    record_with_drift(ledger, 6, [gone_event(runs[-1])], fail="RuntimeError: boom")
    every = ledger.drift_events()
    assert len(every) == 13
    times = sorted({r.detected_at for r in every})
    for run_id in (None, runs[2]):
        for kind in (None, "resource_gone", "verdict_changed", "new_failure"):
            for requirement in (None, 86, 87, 23):
                for since, until in ((None, None), (times[1], None), (None, times[2]), (times[1], times[3])):
                    kept = [
                        r
                        for r in every
                        if (run_id is None or r.run_id == run_id)
                        and (kind is None or str(r.event.kind) == kind)
                        and (requirement is None or requirement in r.event.requirements)
                        and (since is None or r.detected_at >= since)
                        and (until is None or r.detected_at <= until)
                    ]
                    for limit, offset in ((None, 0), (2, 0), (2, 3), (5, 10), (100, 0)):
                        got, total = ledger.drift_events_page(
                            since=since,
                            until=until,
                            run_id=run_id,
                            kind=kind,
                            requirement=requirement,
                            limit=limit,
                            offset=offset,
                        )
                        end = None if limit is None else offset + limit
                        assert got == kept[offset:end] and total == len(kept)


def test_a_check_holding_the_rows_its_last_run_held_is_not_read_for_drift(ledger: Ledger, monkeypatch) -> None:
    lasting = Finding(TLS_CHECK, (118,), Status.ERROR, SUB, "取得できません", "could not be collected in " + SUB)
    asked: list[int] = []
    real_rows = Ledger.check_rows
    monkeypatch.setattr(Ledger, "check_rows", lambda self, run_id: asked.append(run_id) or real_rows(self, run_id))
    first = ledger.start_run(T0, agent_version="0.1.0", config_digest="c0ffee", scope={})
    ledger.add_evidence(first, EVIDENCE)
    ledger.add_findings(first, [nsg(Status.PASS), nsg(Status.FAIL, NSG_ID + "-db"), lasting])
    assert detect_for_run(ledger, first, [NSG_CHECK, TLS_CHECK], None, []) == []
    assert asked == []  # the first run ever: no earlier run's rows to compare, its own are not read
    ledger.complete_run(first, T0 + timedelta(minutes=5))
    read: list[str] = []
    for name in ("findings_of", "run_findings_of"):
        real = getattr(Ledger, name)
        monkeypatch.setattr(
            Ledger,
            name,
            lambda self, *a, _real=real: read.extend(a[-1]) or _real(self, *a),  # type: ignore[misc]
        )

    def drift_of(hour: int, findings: list[Finding]) -> list[DriftEvent]:
        run_id = ledger.start_run(T0 + timedelta(hours=hour), agent_version="0.1.0", config_digest="c0ffee", scope={})
        ledger.add_evidence(run_id, EVIDENCE)
        ledger.add_findings(run_id, findings)
        events = detect_for_run(ledger, run_id, [NSG_CHECK, TLS_CHECK], None, [])  # read from the ledger
        ledger.complete_run(run_id, T0 + timedelta(hours=hour, minutes=5))
        return events

    # Unchanged: the NSG check's rows are the last run's, so it is not read; a lasting error is looked into.
    assert ledger.check_rows(first)[NSG_CHECK].ids.tolist() != []
    assert drift_of(1, [nsg(Status.PASS), nsg(Status.FAIL, NSG_ID + "-db"), lasting]) == []
    assert ledger.check_rows(first + 1)[NSG_CHECK].same_rows(ledger.check_rows(first)[NSG_CHECK])
    assert NSG_CHECK not in read and TLS_CHECK in read
    read.clear()
    # One NSG changed: its check is read, and the change found as when every check was read.
    events = drift_of(2, [nsg(Status.FAIL), nsg(Status.FAIL, NSG_ID + "-db"), lasting])
    assert [(e.kind, e.resource_id) for e in events] == [(DriftKind.NEW_FAILURE, NSG_ID)]
    assert NSG_CHECK in read
    read.clear()
    # A row of the same check gone (the same rows otherwise): read, and the resource is gone.
    events = drift_of(3, [nsg(Status.FAIL), lasting])
    assert [(e.kind, e.resource_id) for e in events] == [(DriftKind.RESOURCE_GONE, NSG_ID + "-db")]
    assert NSG_CHECK in read
