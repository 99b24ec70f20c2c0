"""Findings stored as they are judged (`Ledger.findings_writer`), in batches of their own transactions: the same
rows, part and seal as storing them all at once, and a failure part-way leaves a run that seals failed and verifies."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

import storage.ledger as ledger_module
from controls.model import Finding, Status
from storage.ledger import Ledger, LedgerError

from .helpers import T0
from .test_states import estate, owned, verdict


def judged(size: int) -> tuple[list, list[Finding]]:
    evidence, findings = estate(size, T0, open_ssh=frozenset(range(0, size, 3)))
    # Two findings of another check on the same documents, so the part interleaves content held twice.
    findings += [replace(f, check_id="nsg-flow-logs", reason_en=f"{f.reason_en} (flow)") for f in findings[:5]]
    return evidence, findings


def stored_in_batches(ledger: Ledger, findings: list[Finding], at=T0, evidence=None) -> int:
    evidence = evidence if evidence is not None else judged(len(findings))[0]
    run_id = ledger.start_run(at, agent_version="v", config_digest="d", scope={"subscriptions": ["0000"]})
    ledger.add_evidence(run_id, evidence)
    writer = ledger.findings_writer(run_id)
    for start in range(0, len(findings), 7):  # as checks hand them on: pieces that do not align with the batches
        writer.add(findings[start : start + 7])
    writer.close()
    return run_id


def test_findings_stored_in_batches_are_stored_and_sealed_as_storing_them_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_module, "FINDINGS_BATCH", 4)
    evidence, findings = judged(30)
    assert len(findings) > 4 * 5
    with Ledger(f"sqlite:///{tmp_path}/once.db") as once, Ledger(f"sqlite:///{tmp_path}/batched.db") as batched:
        run_a = once.start_run(T0, agent_version="v", config_digest="d", scope={"subscriptions": ["0000"]})
        once.add_evidence(run_a, evidence)
        once.add_findings(run_a, findings)
        run_b = stored_in_batches(batched, findings, evidence=evidence)
        for led, run_id in ((once, run_a), (batched, run_b)):
            led.add_verdicts(run_id, [verdict(findings[:30])])
            led.complete_run(run_id, T0 + timedelta(minutes=5))
        assert batched.findings(run_b) == once.findings(run_a) == findings
        assert batched.run(run_b).digest == once.run(run_a).digest  # the same rows, part and seal
        assert batched.verify().ok


def test_a_second_run_stored_in_batches_holds_its_unchanged_findings_by_reference(
    ledger: Ledger, raw: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_module, "FINDINGS_BATCH", 4)
    evidence, findings = judged(20)
    first = stored_in_batches(ledger, findings, evidence=evidence)
    ledger.add_verdicts(first, [verdict(findings[:20])])
    ledger.complete_run(first, T0 + timedelta(minutes=5))
    later = T0 + timedelta(hours=1)
    second = stored_in_batches(ledger, findings, at=later, evidence=evidence)
    ledger.add_verdicts(second, [verdict(findings[:20])])
    ledger.complete_run(second, later + timedelta(minutes=5))
    assert owned(raw, "findings", first) == len(findings) and owned(raw, "findings", second) == 0
    assert ledger.findings(second) == findings
    assert ledger.verify().ok


def test_a_ledger_keeps_a_runs_keys_up_to_its_limit_and_past_it_the_next_run_reads_them_back(
    database_url: str, raw: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_module, "FINDINGS_BATCH", 4)
    small, large = judged(10), judged(20)  # 10 and 20 evidence records, 15 and 25 findings
    with Ledger(database_url, keys_remembered_up_to=20) as ledger:
        at = T0
        runs = []
        for evidence, findings in (small, large, large):
            run_id = stored_in_batches(ledger, findings, at=at, evidence=evidence)
            ledger.add_verdicts(run_id, [verdict(findings[: len(evidence)])])
            ledger.complete_run(run_id, at + timedelta(minutes=5))
            runs.append((run_id, {table: kept[0] for table, kept in ledger._held_keys.items()}))
            at += timedelta(hours=1)
        (first, kept_first), (second, kept_second), (third, kept_third) = runs
        assert kept_first == {"run_evidence": first, "findings": first}  # 10 and 15 rows: both kept
        # 25 findings are more than the ledger keeps: the first run's keys are let go, the second's not gathered.
        assert kept_second == {"run_evidence": second} and kept_third == {"run_evidence": third}
        # The third run read its predecessor's finding keys from the database and holds them all by reference.
        assert owned(raw, "findings", third) == 0 and owned(raw, "run_evidence", third) == 0
        assert ledger.findings(third) == large[1]
        assert ledger.verify().ok


def test_a_finding_refused_part_way_leaves_those_stored_before_it_listed_and_the_run_seals_failed(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_module, "FINDINGS_BATCH", 4)
    evidence, findings = judged(12)
    run_id = ledger.start_run(T0, agent_version="v", config_digest="d", scope={"subscriptions": ["0000"]})
    ledger.add_evidence(run_id, evidence)
    writer = ledger.findings_writer(run_id)
    writer.add(findings[:8])
    forged = replace(findings[8], status=Status.PASS, evidence=())
    with pytest.raises(LedgerError, match="is a pass that cites no evidence record"):
        writer.add([forged, *findings[9:]])
    writer.close()
    with pytest.raises(LedgerError, match="no finding can be added"):
        writer.add(findings[9:])
    ledger.fail_run(run_id, T0 + timedelta(minutes=1), "LedgerError: a forged finding")
    assert ledger.run(run_id).status == "failed"
    assert ledger.findings(run_id) == findings[:8]
    assert ledger.verify().ok


def test_add_findings_refuses_them_all_when_one_cannot_be_stored(ledger: Ledger) -> None:
    evidence, findings = judged(12)
    run_id = ledger.start_run(T0, agent_version="v", config_digest="d", scope={"subscriptions": ["0000"]})
    ledger.add_evidence(run_id, evidence)
    unstored = replace(findings[-1], evidence=("0" * 64,))
    with pytest.raises(LedgerError, match="that run 1 has not stored"):
        ledger.add_findings(run_id, [*findings[:-1], unstored])
    assert ledger.findings(run_id) == []


def test_verdicts_are_checked_against_every_finding_the_run_holds_whichever_ledger_stored_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger checks a run's verdicts against the counts its own writers kept while storing the findings, and
    reads the findings when another ledger (another process, a replica) stored some of them: a verdict counting
    findings the run does not hold is refused either way, and one counting all it holds is taken."""
    reads: list[int] = []
    held_counts = ledger_module.states.held_counts

    def counted_read(session, model, run_id, names):  # type: ignore[no-untyped-def]
        reads.append(run_id)
        return held_counts(session, model, run_id, names)

    monkeypatch.setattr(ledger_module.states, "held_counts", counted_read)
    url = f"sqlite:///{tmp_path / 'shoko.db'}"
    evidence, findings = judged(12)
    mine, theirs = findings[:6], findings[6:12]
    with Ledger(url) as ledger, Ledger(url) as other:
        run_id = stored_in_batches(ledger, mine, evidence=evidence)
        too_many = replace(verdict(mine), findings_pass=verdict(mine).findings_pass + 1)
        with pytest.raises(LedgerError, match="but the run stored"):
            ledger.add_verdicts(run_id, [too_many])  # the counts its writer kept
        assert [r for r in reads if r == run_id] == [run_id]  # the writer's own read of the run's evidence only
        with pytest.raises(LedgerError, match="but the run stored"):
            other.add_verdicts(run_id, [too_many])  # the findings read
        writer = other.findings_writer(run_id)  # the rest stored by another ledger
        writer.add(theirs)
        writer.close()
        ledger.add_verdicts(run_id, [verdict(mine + theirs)])  # its own counts are not all the run holds: read
        assert ledger.verdicts(run_id) == [verdict(mine + theirs)]
