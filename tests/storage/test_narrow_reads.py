"""The ledger's narrow reads give exactly what filtering every run, finding or evidence record gives (on SQLite
and PostgreSQL); status, explain and a requirement's history read through them."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta

from sqlalchemy import Engine

from controls.model import Evidence, Finding, Status
from storage.ledger import EvidenceRecord, EvidenceRef, Ledger

from .helpers import T0, drop_protection, execute, record_run, sample


def _history(ledger: Ledger) -> dict[str, int]:
    """Three completed full runs, a completed partial run, a failed, an interrupted and a running run."""
    runs = {f"full{i}": record_run(ledger, T0 + timedelta(hours=i))[0] for i in range(3)}
    partial = ledger.start_run(
        T0 + timedelta(hours=3), agent_version="0.1.0", config_digest="c0ffee", scope={"partial": True, "kinds": []}
    )
    ledger.complete_run(partial, T0 + timedelta(hours=3, minutes=1))
    runs["partial"] = partial
    runs["failed"] = record_run(ledger, T0 + timedelta(hours=4), fail="boom")[0]
    runs["full3"] = record_run(ledger, T0 + timedelta(hours=5))[0]
    interrupted = ledger.start_run(T0 + timedelta(hours=6), agent_version="0.1.0", config_digest="c0ffee", scope={})
    ledger.interrupt_run(interrupted, T0 + timedelta(hours=6, minutes=1), "stopped")
    runs["interrupted"] = interrupted
    runs["running"] = ledger.start_run(T0 + timedelta(hours=7), agent_version="0.1.0", config_digest="c0ffee", scope={})
    return runs


def test_unfinished_and_partial_runs_by_query(ledger: Ledger) -> None:
    runs = _history(ledger)
    every = ledger.runs()
    assert ledger.recent_runs(3) == every[::-1][:3]
    assert ledger.recent_runs(100) == every[::-1]
    notes = ledger.runs_with_status(("running", "interrupted"))
    assert notes == [r for r in every if r.status in ("running", "interrupted")]
    assert [r.id for r in notes] == [runs["interrupted"], runs["running"]]
    for after in (None, runs["full0"], runs["partial"], runs["full3"]):
        expected = [r for r in every if r.sealed and r.kind == "partial" and (after is None or r.id > after)]
        assert ledger.partial_runs_after(after) == expected
    assert [r.id for r in ledger.partial_runs_after(runs["full2"])] == [runs["partial"]]
    before_it = T0 + timedelta(hours=3)  # the partial run finished a minute later
    assert ledger.partial_runs_after(None, before_it) == []
    assert [r.id for r in ledger.partial_runs_after(None, before_it + timedelta(minutes=1))] == [runs["partial"]]


def test_one_requirements_verdicts_across_the_completed_runs(ledger: Ledger) -> None:
    runs = _history(ledger)
    completed = [r for r in ledger.runs() if r.status == "completed"]
    for number in (86, 141, 23):
        got = ledger.requirement_verdicts(number)
        expected = [
            (r.id, r.kind, r.finished_at, r.digest, v)
            for r in completed
            for v in ledger.verdicts(r.id)
            if v.requirement == number
        ]
        assert [(g.run_id, g.kind, g.finished_at, g.digest, g.verdict) for g in got] == expected
    assert [g.run_id for g in ledger.requirement_verdicts(86)] == [
        runs["full0"],
        runs["full1"],
        runs["full2"],
        runs["full3"],
    ]


def test_one_requirements_findings_and_the_evidence_records_they_cite(ledger: Ledger) -> None:
    run_id, _ = record_run(ledger)
    findings = ledger.findings(run_id)
    for number in (86, 87, 148, 23, 141, 1):
        assert ledger.requirement_findings(run_id, number) == [f for f in findings if number in f.requirements]
    assert [f.check_id for f in ledger.requirement_findings(run_id, 23)] == ["app-service-min-tls-1-2"]
    nsg = sample().evidence[0]
    records = ledger.evidence_records(run_id, {nsg.sha256})
    # The same document stored for two resources is two records, both cited.
    assert [_record(e) for e in ledger.evidence(run_id) if e.sha256 == nsg.sha256] == records
    assert len(records) == 2
    cited = {sha for f in findings for sha in f.evidence}
    assert ledger.evidence_records(run_id, cited) == [_record(e) for e in ledger.evidence(run_id)]
    assert ledger.evidence_records(run_id, set()) == []


def test_a_run_holding_earlier_rows_reads_them_narrowly_too(ledger: Ledger) -> None:
    """An unchanged second run stores its findings and evidence by reference to the first run's rows: one
    requirement's findings and the records they cite are still all of them, with the second run's own times."""
    record_run(ledger, T0)
    second, _ = record_run(ledger, T0 + timedelta(hours=1))
    findings = ledger.findings(second)
    evidence = ledger.evidence(second)
    assert findings and evidence
    for number in (86, 87, 148, 23, 141, 1):
        assert ledger.requirement_findings(second, number) == [f for f in findings if number in f.requirements]
    cited = {sha for f in findings for sha in f.evidence}
    assert ledger.evidence_records(second, cited) == [_record(e) for e in evidence if e.sha256 in cited]
    assert {r.collected_at for r in ledger.evidence_records(second, cited)} == {e.collected_at for e in evidence}


def _record(ev: Evidence) -> EvidenceRecord:
    """An evidence record as read with its document, without the document."""
    fields = {f.name: getattr(ev, f.name) for f in dataclasses.fields(EvidenceRecord)}
    return EvidenceRecord(**{**fields, "kind": str(ev.kind)})


def test_one_runs_findings_of_some_checks_equal_filtering_all_its_findings(ledger: Ledger) -> None:
    """`status` reads a 6.0 run's control findings through run_findings_of: the same findings, in the same
    order, as findings_of and as filtering the run's every finding, for runs that hold earlier runs' rows."""
    first = sample(T0)
    extra = [
        dataclasses.replace(f, resource_id=f"{f.resource_id}/{n}", reason_en=f"{f.reason_en} ({n})")
        for n in range(3)
        for f in first.findings
    ]
    changed = [dataclasses.replace(f, status="fail", reason_en="changed") for f in extra[:2]]
    datas = [
        dataclasses.replace(first, findings=[*first.findings, *extra]),
        dataclasses.replace(first, findings=[*first.findings, *changed, *extra[2:]]),  # two rows new, the rest held
        dataclasses.replace(first, findings=[*extra[::-1], *first.findings[:1]]),  # fewer, other order
    ]
    runs = [record_run(ledger, T0 + timedelta(hours=i), data)[0] for i, data in enumerate(datas)]
    running = ledger.start_run(T0 + timedelta(hours=5), agent_version="0.1.0", config_digest="c0ffee", scope={})
    ledger.add_evidence(running, first.evidence)
    ledger.add_findings(running, first.findings)
    every_check = sorted({f.check_id for f in datas[0].findings})
    assert len(every_check) == 2
    for run_id in [*runs, running]:
        findings = ledger.findings(run_id)
        assert findings
        for wanted in ([], every_check[:1], every_check[1:], every_check, ["no-such-check"]):
            expected = [f for f in findings if f.check_id in wanted]
            assert ledger.run_findings_of(run_id, wanted) == expected
            assert ledger.findings_of([run_id], wanted)[run_id] == expected
            outcomes = [(f.check_id, f.status, f.reason_ja, f.reason_en) for f in expected]
            assert [dataclasses.astuple(o) for o in ledger.finding_outcomes_of(run_id, wanted)] == outcomes
            held_states = [(f.check_id, f.resource_id, f.status) for f in expected]
            assert [dataclasses.astuple(s) for s in ledger.finding_states_of(run_id, wanted)] == held_states
    assert [f.reason_en for f in ledger.run_findings_of(runs[1], every_check)].count("changed") == 2


def _runs_to_page(ledger: Ledger, raw: Engine) -> tuple[list[Finding], tuple[int, int, int, int]]:
    """31 findings more than the sample's, of every status, naming No 86 (a third also No 23), and four runs of
    them: one that owns its rows (made to look as if sealed before parts existed), an unchanged one holding them by
    reference, one holding some and storing the first four turned to fail, and one of the 31 holding its first
    five twice."""
    first = sample(T0)
    statuses = (Status.PASS, Status.FAIL, Status.ERROR)
    extra = [
        dataclasses.replace(
            first.findings[n % 2],
            requirements=(86,) if n % 3 else (86, 23),
            status=statuses[n % 3],
            resource_id=f"{first.findings[0].resource_id}/{'Sub' if n % 4 else 'sub'}-{n % 5}",
            reason_en=f"finding {n}",
        )
        for n in range(31)
    ]
    data = dataclasses.replace(first, findings=[*first.findings, *extra])
    owner, _ = record_run(ledger, T0, data)
    held, _ = record_run(ledger, T0 + timedelta(hours=1), data)
    changed = [dataclasses.replace(f, status=Status.FAIL, reason_en="changed") for f in extra[:4]]
    mixed, _ = record_run(ledger, T0 + timedelta(hours=2), dataclasses.replace(data, findings=[*changed, *extra[4:]]))
    twice, _ = record_run(ledger, T0 + timedelta(hours=3), dataclasses.replace(data, findings=[*extra, *extra[:5]]))
    before = ledger.findings(owner)
    drop_protection(raw)
    assert execute(raw, "DELETE FROM run_states WHERE run_id = :run", run=owner)
    assert ledger.findings(owner) == before == ledger.findings(held)
    return extra, (owner, held, mixed, twice)


def test_a_page_of_a_requirements_findings_equals_cutting_the_ordered_list(ledger: Ledger, raw: Engine) -> None:
    """requirement_findings_page gives what ordering every finding of the requirement failures first (by check,
    then resource id in any case, stored order last) and slicing gives, with the count per status of them all:
    for a run that owns its rows (no parts, as sealed before parts existed), for an unchanged run that holds the
    first run's rows by reference, and for a run that holds some and stores the rest."""
    _, (owner, held, mixed, _) = _runs_to_page(ledger, raw)
    order = {"fail": 0, "error": 1, "pass": 2}
    for run_id in (owner, held, mixed):
        findings = ledger.findings(run_id)
        for number in (86, 23, 1):
            every = [f for f in findings if number in f.requirements]
            ordered = sorted(every, key=lambda f: (order[str(f.status)], f.check_id, f.resource_id.lower()))
            counts = Counter(str(f.status) for f in every)
            for status in (None, "fail", "pass", "error"):
                for resource in (None, "SUB-1", "/sub-", "%_", "no-such"):
                    kept = [
                        f
                        for f in ordered
                        if (status is None or f.status == status)
                        and (resource is None or resource.lower() in f.resource_id.lower())
                    ]
                    for limit, offset in ((None, 0), (5, 0), (5, 5), (7, 20), (50, 0), (3, 1000)):
                        page = ledger.requirement_findings_page(
                            run_id, number, limit=limit, offset=offset, status=status, resource=resource
                        )
                        end = None if limit is None else offset + limit
                        assert page.findings == kept[offset:end], (run_id, number, status, resource, limit, offset)
                        assert page.total == len(kept) and page.counts == counts
    # The mixed run's four findings turned to fail come in its first page of failures, before any error or pass.
    page = ledger.requirement_findings_page(mixed, 86, limit=None)
    failing = page.counts["fail"]
    assert [str(f.status) for f in page.findings[:failing]] == ["fail"] * failing
    assert sum(f.reason_en == "changed" for f in page.findings[:failing]) == 4
    assert page.findings[failing].status == "error"


def test_a_page_of_a_runs_findings_equals_cutting_them_all(ledger: Ledger, raw: Engine) -> None:
    """findings_page gives what filtering the run's every finding by status and No and slicing gives, with how
    many there are: for a run that owns its rows (no parts), an unchanged run holding them by reference, a run
    holding some and storing the rest, and a run holding the same content twice."""
    extra, (owner, held, mixed, twice) = _runs_to_page(ledger, raw)
    for run_id in (owner, held, mixed, twice):
        findings = ledger.findings(run_id)
        assert len(findings) >= 31
        for status in (None, "fail", "pass", "error"):
            for number in (None, 86, 23, 1):
                kept = [
                    f
                    for f in findings
                    if (status is None or f.status == status) and (number is None or number in f.requirements)
                ]
                for limit, offset in ((5, 0), (5, 5), (7, 20), (100, 0), (3, 1000)):
                    total, page = ledger.findings_page(run_id, offset, limit, status=status, requirement=number)
                    assert page == kept[offset : offset + limit], (run_id, status, number, limit, offset)
                    assert total == len(kept)
    assert [f.reason_en for f in ledger.findings_page(mixed, 0, 4)[1]] == ["changed"] * 4
    assert ledger.findings_page(twice, 31, 100)[1] == extra[:5]


def test_evidence_refs_and_kinds_are_read_apart_from_parts_or_from_the_rows_a_run_owns(
    ledger: Ledger, raw: Engine
) -> None:
    data = sample(T0)
    owner, _ = record_run(ledger, T0, data)
    held, _ = record_run(ledger, T0 + timedelta(hours=1), data)  # the same rows, held by reference

    def refs(run_id: int) -> list[EvidenceRef]:
        return [EvidenceRef(e.sha256, e.kind, e.resource_id, e.source, e.collected_at) for e in ledger.evidence(run_id)]

    def by_kind(run_id: int) -> None:
        """evidence(kinds=): each kind's records in stored order, the kinds in the order first stored."""
        every = ledger.evidence(run_id)
        kinds = list(dict.fromkeys(str(e.kind) for e in every))
        grouped = sorted(every, key=lambda e: kinds.index(str(e.kind)))
        assert len(kinds) > 1 and ledger.evidence(run_id, kinds=kinds) == grouped
        assert ledger.evidence(run_id, kinds={kinds[-1], "nothing"}) == [e for e in grouped if e.kind == kinds[-1]]

    expected = refs(owner)
    assert len(expected) == 3  # size=2: more than one chunk
    for run_id in (owner, held):
        assert list(ledger.evidence_refs(run_id, size=2)) == list(ledger.evidence_refs(run_id)) == refs(run_id)
        by_kind(run_id)
    drop_protection(raw)
    assert execute(raw, "DELETE FROM run_states WHERE run_id = :run", run=owner)  # as if sealed before parts
    assert list(ledger.evidence_refs(owner, size=2)) == list(ledger.evidence_refs(owner)) == expected
    by_kind(owner)


def test_a_resources_findings_in_some_runs_equal_each_runs_findings_filtered(ledger: Ledger, raw: Engine) -> None:
    """findings_of_resource, for a run that owns its rows, one that holds them by reference and one that holds some
    and stores the rest; ids in any case, and one with a letter beyond ASCII."""
    first = sample(T0)
    rid = first.findings[0].resource_id
    extra = [
        dataclasses.replace(
            first.findings[n % 2],
            resource_id=(rid.upper() if n % 2 else rid) + ("/child" if n % 3 == 0 else ""),
            reason_en=f"finding {n}",
        )
        for n in range(7)
    ]
    extra.append(dataclasses.replace(first.findings[1], resource_id=f"{rid}/Ärzte", reason_en="beyond ascii"))
    data = dataclasses.replace(first, findings=[*first.findings, *extra])
    owner, _ = record_run(ledger, T0, data)
    held, _ = record_run(ledger, T0 + timedelta(hours=1), data)
    changed = [dataclasses.replace(f, status=Status.FAIL, reason_en="changed") for f in extra[:3]]
    mixed, _ = record_run(ledger, T0 + timedelta(hours=2), dataclasses.replace(data, findings=[*changed, *extra[3:]]))
    drop_protection(raw)
    assert execute(raw, "DELETE FROM run_states WHERE run_id = :run", run=owner)  # as if sealed before parts
    runs = [owner, held, mixed]
    for asked in (rid, rid.upper(), f"{rid}/CHILD", f"{rid}/ärzte", f"{rid}/Ärzte", "/no/such"):
        found = ledger.findings_of_resource(runs, asked)
        for run_id in runs:
            every = ledger.findings(run_id)
            assert found[run_id] == [f for f in every if f.resource_id.lower() == asked.lower()], (asked, run_id)
    found = ledger.findings_of_resource(runs, rid)
    assert all(len(found[r]) >= 4 for r in runs) and {f.reason_en for f in found[mixed]} >= {"changed"}


def test_a_page_of_runs_equals_cutting_them_all_newest_first(ledger: Ledger) -> None:
    _history(ledger)
    every = ledger.runs()[::-1]
    for started_by in (None, T0 + timedelta(hours=3), T0 - timedelta(hours=1)):
        kept = [r for r in every if started_by is None or r.started_at <= started_by]
        for limit, offset in ((1, 0), (3, 2), (100, 0), (5, 7)):
            assert ledger.runs_page(limit, offset, started_by) == (kept[offset : offset + limit], len(kept))
