"""Writing and reading runs through the ledger API, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, text

from controls.model import Finding, Status, Verdict, canonical_json
from storage.ledger import Ledger, LedgerError, RunStatus

from .helpers import NSG_ID, T0, nsg_evidence, record_run, sample, site_config_evidence


def test_round_trip_of_every_type(ledger: Ledger) -> None:
    data = sample()
    run_id, digest = record_run(ledger, data=data)

    assert ledger.evidence(run_id) == data.evidence
    assert ledger.collection_errors(run_id) == data.errors
    assert ledger.findings(run_id) == data.findings
    assert ledger.verdicts(run_id) == data.verdicts

    run = ledger.run(run_id)
    assert run.status == RunStatus.COMPLETED == "completed"
    assert run.digest == digest and run.prev_digest is None and run.error is None
    assert run.agent_version == "0.1.0" and run.config_digest == "c0ffee"
    assert run.scope == {"subscriptions": ["0000"]}
    assert run.counts == {"evidence": 3, "errors": 1, "findings": 2, "verdicts": 2}
    assert run.started_at == T0 and run.finished_at == T0 + timedelta(minutes=5)
    stored_times = [run.started_at, run.finished_at, *(e.collected_at for e in ledger.evidence(run_id))]
    assert all(t is not None and t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in stored_times)
    # Microseconds survive both backends.
    assert ledger.evidence(run_id)[0].collected_at.microsecond == 123456


def test_text_that_copy_escapes_is_stored_and_read_back_as_given(ledger: Ledger, raw: Engine) -> None:
    # PostgreSQL writes run rows with COPY, whose text format escapes these; SQLite binds them as parameters.
    awkward = "tab\there, new line\nand CR\r\n, back\\slash, \\N, \\., 電子カルテ"
    data = sample()
    data = replace(
        data,
        evidence=[replace(data.evidence[0], request_id=awkward, resource_id=data.evidence[0].resource_id + "\t1")],
        errors=[replace(data.errors[0], message=awkward, status_code=None, request_id=None)],
        findings=[replace(data.findings[0], reason_ja=awkward, reason_en="\\N")],
        verdicts=[replace(data.verdicts[0], reason_en=awkward)],
    )
    run_id, _ = record_run(ledger, data=data)

    assert ledger.evidence(run_id) == data.evidence
    assert ledger.collection_errors(run_id) == data.errors
    assert ledger.findings(run_id) == data.findings
    assert ledger.verdicts(run_id) == data.verdicts
    with raw.connect() as connection:
        stored = connection.execute(text("SELECT reason_ja, evidence FROM findings")).one()
    assert stored.reason_ja == awkward
    cited = stored.evidence if isinstance(stored.evidence, list) else json.loads(stored.evidence)
    assert cited == [data.evidence[0].sha256]
    assert ledger.verify().ok


def test_evidence_content_is_stored_as_canonical_json_and_read_back_identically(ledger: Ledger, raw: Engine) -> None:
    record_run(ledger)
    nsg = nsg_evidence()
    assert ledger.evidence_by_sha(nsg.sha256) == nsg.content
    with raw.connect() as connection:
        stored = connection.execute(
            text("SELECT content, size FROM evidence_blobs WHERE sha256 = :s"), {"s": nsg.sha256}
        ).one()
    assert stored.content.encode() == canonical_json(nsg.content)
    assert hashlib.sha256(stored.content.encode()).hexdigest() == nsg.sha256
    assert stored.size == len(canonical_json(nsg.content))
    with pytest.raises(LedgerError, match="no evidence with sha256"):
        ledger.evidence_by_sha("0" * 64)


def test_non_utc_input_is_stored_as_the_same_instant_in_utc(ledger: Ledger) -> None:
    jst = timezone(timedelta(hours=9))
    run_id = ledger.start_run(datetime(2026, 4, 1, 9, 0, tzinfo=jst), agent_version="v", config_digest="d", scope={})
    ledger.add_evidence(run_id, [nsg_evidence(at=datetime(2026, 4, 1, 9, 0, 30, tzinfo=jst))])
    ledger.complete_run(run_id, datetime(2026, 4, 1, 9, 5, tzinfo=jst))
    run = ledger.run(run_id)
    assert run.started_at == datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    assert run.started_at.utcoffset() == timedelta(0)
    assert ledger.evidence(run_id)[0].collected_at == datetime(2026, 4, 1, 0, 0, 30, tzinfo=UTC)
    assert ledger.verify().ok


def test_identical_content_is_stored_once_across_runs(ledger: Ledger, raw: Engine) -> None:
    first, _ = record_run(ledger, T0)
    second, _ = record_run(ledger, T0 + timedelta(hours=1))
    changed = nsg_evidence(port="22", at=T0 + timedelta(hours=2))
    third = ledger.start_run(T0 + timedelta(hours=2), agent_version="v", config_digest="d", scope={})
    ledger.add_evidence(third, [changed])

    with raw.connect() as connection:
        blobs = connection.execute(text("SELECT count(*) FROM evidence_blobs")).scalar_one()
        refs = connection.execute(
            text("SELECT run_id, sha256 FROM run_evidence WHERE sha256 = :s ORDER BY id"),
            {"s": nsg_evidence().sha256},
        ).all()
    # nsg (shared by both runs and the twin row) + site config + the changed nsg.
    assert blobs == 3
    # The second run collected the same documents: it holds the first run's rows instead of storing its own.
    assert [r.run_id for r in refs] == [first, first]
    assert ledger.evidence(second)[0].content == ledger.evidence(first)[0].content
    assert ledger.run(second).counts == ledger.run(first).counts
    assert ledger.evidence(third)[0].sha256 != nsg_evidence().sha256


@pytest.mark.parametrize("seal", ["complete", "fail"])
def test_a_sealed_run_rejects_every_insert_and_a_second_seal(ledger: Ledger, seal: str) -> None:
    run_id, _ = record_run(ledger, fail="RuntimeError: boom" if seal == "fail" else None)
    data = sample()
    before = ledger.run(run_id)
    attempts = [
        lambda: ledger.add_evidence(run_id, [site_config_evidence()]),
        lambda: ledger.add_collection_errors(run_id, data.errors),
        lambda: ledger.add_findings(run_id, data.findings[:1]),
        lambda: ledger.add_verdicts(run_id, [replace(data.verdicts[0], requirement=99)]),
        lambda: ledger.complete_run(run_id, T0 + timedelta(hours=1)),
        lambda: ledger.fail_run(run_id, T0 + timedelta(hours=1), "late"),
    ]
    for attempt in attempts:
        with pytest.raises(LedgerError, match=f"run {run_id} is (already )?sealed"):
            attempt()
    assert ledger.run(run_id) == before
    assert ledger.verify().ok


def test_failed_run_is_sealed_chained_and_visible(ledger: Ledger) -> None:
    first, first_digest = record_run(ledger, T0)
    crashed = ledger.start_run(T0 + timedelta(hours=1), agent_version="v", config_digest="d", scope={})
    ledger.add_evidence(crashed, [site_config_evidence()])
    digest = ledger.fail_run(crashed, T0 + timedelta(hours=1, minutes=1), "ServiceRequestError: ARM unreachable")
    run = ledger.run(crashed)
    assert run.status == RunStatus.FAILED and run.sealed
    assert run.error == "ServiceRequestError: ARM unreachable"
    assert run.digest == digest and run.prev_digest == first_digest
    assert run.counts["evidence"] == 1
    assert ledger.latest_run() == run
    assert ledger.latest_run(completed_only=True) == ledger.run(first)
    assert ledger.verify().ok


def test_runs_are_hash_chained_in_seal_order(ledger: Ledger) -> None:
    assert ledger.latest_run() is None
    early = ledger.start_run(T0, agent_version="v", config_digest="d", scope={})
    late = ledger.start_run(T0 + timedelta(minutes=1), agent_version="v", config_digest="d", scope={})
    assert ledger.run(early).status == RunStatus.RUNNING and ledger.run(early).digest is None
    # The later-started run seals first, so it comes first in the chain.
    late_digest = ledger.complete_run(late, T0 + timedelta(minutes=2))
    early_digest = ledger.complete_run(early, T0 + timedelta(minutes=3))
    third, third_digest = record_run(ledger, T0 + timedelta(hours=1))

    assert ledger.run(late).prev_digest is None
    assert ledger.run(early).prev_digest == late_digest
    assert ledger.run(third).prev_digest == early_digest
    assert len({late_digest, early_digest, third_digest}) == 3
    assert all(len(d) == 64 for d in (late_digest, early_digest, third_digest))
    assert [r.id for r in ledger.runs()] == [early, late, third]
    assert ledger.latest_run() == ledger.run(third)
    report = ledger.verify()
    assert report.ok and report.runs_checked == 3 and report.problem is None


def test_digest_is_the_hash_of_the_sealed_document(ledger: Ledger, raw: Engine) -> None:
    run_id, digest = record_run(ledger)
    with raw.connect() as connection:
        seal = connection.execute(text("SELECT seal FROM runs WHERE id = :i"), {"i": run_id}).scalar_one()
    assert hashlib.sha256(seal.encode()).hexdigest() == digest
    document = json.loads(seal)
    assert document["run"]["id"] == run_id and document["run"]["status"] == "completed"
    # Version 3: the evidence and findings the run stored are held by its parts and covered by the count and
    # digest of what they hold; only the rows no part holds (its collection error, its verdicts) are listed.
    assert document["version"] == 3
    assert [len(document["rows"][t]) for t in ("run_evidence", "collection_errors", "findings", "verdicts")] == [
        0,
        1,
        0,
        2,
    ]
    assert [document["state"][t][0] for t in ("run_evidence", "findings")] == [3, 2]


def test_running_runs_are_not_current_and_run_as_of_picks_the_latest_sealed(ledger: Ledger) -> None:
    first, _ = record_run(ledger, T0)  # sealed at T0+5m
    second, _ = record_run(ledger, T0 + timedelta(days=1), fail="crash")  # sealed at T0+1d+5m
    ledger.start_run(T0 + timedelta(days=2), agent_version="v", config_digest="d", scope={})  # never sealed

    assert ledger.run_as_of(T0) is None
    assert ledger.run_as_of(T0 + timedelta(minutes=5)).id == first  # type: ignore[union-attr]
    assert ledger.run_as_of(T0 + timedelta(days=1)).id == first  # type: ignore[union-attr]
    assert ledger.run_as_of(T0 + timedelta(days=1, minutes=5)).id == second  # type: ignore[union-attr]
    as_of = ledger.run_as_of(T0 + timedelta(days=30), completed_only=True)
    assert as_of is not None and as_of.id == first
    assert ledger.latest_run().id == second  # type: ignore[union-attr]
    assert len(ledger.runs()) == 3 and ledger.runs()[-1].status == RunStatus.RUNNING
    with pytest.raises(LedgerError, match="timezone-aware"):
        ledger.run_as_of(datetime(2026, 3, 2))


def test_collected_evidence_is_stored_as_the_canonical_text_its_hash_was_taken_of(ledger: Ledger) -> None:
    plain = nsg_evidence()
    kept = replace(plain, sha256="", keep_canonical=True)
    assert kept.sha256 == plain.sha256 and kept.canonical == canonical_json(plain.content).decode()
    assert plain.canonical is None and kept == plain  # the text is a cache, not part of the record

    run_id = ledger.start_run(T0, agent_version="v", config_digest="d", scope={})
    altered = replace(kept, canonical=kept.canonical.replace('"name":', '"nam":'))
    with pytest.raises(LedgerError, match="does not match its content"):
        ledger.add_evidence(run_id, [altered])
    ledger.add_evidence(run_id, [kept])
    assert ledger.evidence(run_id) == [plain]
    assert ledger.evidence(run_id)[0].content == plain.content

    # A copy with new content and sha256 "" is hashed afresh and does not carry the old text along.
    changed = replace(kept, content={**kept.content, "name": "changed"}, sha256="")
    assert changed.canonical is None and changed.sha256 != kept.sha256
    ledger.add_evidence(run_id, [changed])
    assert ledger.evidence(run_id)[-1].content["name"] == "changed"


def test_documents_read_together_share_their_repeated_strings_and_read_back_as_stored(ledger: Ledger) -> None:
    """A kind's documents repeat keys and short values; one read holds each such string once (memory while
    judging a large run), and what is read is what was stored."""
    first, second = nsg_evidence(port="22"), nsg_evidence(NSG_ID.replace("web", "db"), port="3389")
    run_id = ledger.start_run(T0, agent_version="v", config_digest="d", scope={})
    ledger.add_evidence(run_id, [first, second])
    a, b = ledger.evidence(run_id)
    assert (a, b) == (first, second) and (a.content, b.content) == (first.content, second.content)
    key_a, key_b = (next(k for k in e.content["properties"] if k == "securityRules") for e in (a, b))
    assert key_a is key_b
    rule_a, rule_b = (e.content["properties"]["securityRules"][0]["properties"]["access"] for e in (a, b))
    assert rule_a == "Allow" and rule_a is rule_b
    assert a.source is b.source and a.scope is b.scope


def test_bad_input_is_refused_with_one_clear_line_and_nothing_is_stored(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="started_at must be a timezone-aware"):
        ledger.start_run(datetime(2026, 3, 1), agent_version="v", config_digest="d", scope={})
    with pytest.raises(LedgerError, match="scope is not JSON"):
        ledger.start_run(T0, agent_version="v", config_digest="d", scope={"when": object()})
    run_id = ledger.start_run(T0, agent_version="v", config_digest="d", scope={})
    good = nsg_evidence()

    with pytest.raises(LedgerError, match=r"collected_at of evidence .* timezone-aware"):
        ledger.add_evidence(run_id, [good, replace(site_config_evidence(), collected_at=datetime(2026, 3, 1))])
    with pytest.raises(LedgerError, match="does not match its content"):
        ledger.add_evidence(run_id, [replace(good, content={**good.content, "name": "other"})])
    with pytest.raises(LedgerError, match=r"cites evidence .* that run .* has not stored"):
        ledger.add_findings(run_id, sample().findings)
    assert ledger.run(run_id).counts == {"evidence": 0, "errors": 0, "findings": 0, "verdicts": 0}

    ledger.add_evidence(run_id, [good])
    for spelled in (good.sha256.upper(), f"{good.sha256[:32]} {good.sha256[32:]}"):  # not the stored record's name
        with pytest.raises(LedgerError, match=r"cites evidence .* that run .* has not stored"):
            ledger.add_findings(run_id, [Finding("c", (1,), Status.FAIL, "r", "ja", "en", (spelled,))])
    with pytest.raises(LedgerError, match="unknown status"):
        ledger.add_findings(run_id, [Finding("c", (1,), "maybe", "r", "ja", "en", (good.sha256,))])  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match=r"finding c on r is a pass that cites no evidence record"):
        ledger.add_findings(run_id, [Finding("c", (86,), Status.PASS, "r", "ja", "en")])
    with pytest.raises(LedgerError, match=r"verdict pass for No 86 in run \d+ cites no pass finding"):
        ledger.add_verdicts(run_id, [Verdict(86, Status.PASS, "ja", "en")])
    with pytest.raises(LedgerError, match=r"verdict fail for No 86 .* counts 1 fail finding\(s\) .* stored 0"):
        ledger.add_verdicts(run_id, [Verdict(86, Status.FAIL, "ja", "en", ("c",), findings_fail=1)])
    verdict = Verdict(86, Status.ERROR, "ja", "en")  # could not judge: it may cite no finding
    with pytest.raises(LedgerError, match="two verdicts for requirement No 86"):
        ledger.add_verdicts(run_id, [verdict, verdict])
    ledger.add_verdicts(run_id, [verdict])
    with pytest.raises(LedgerError, match="already has a verdict"):
        ledger.add_verdicts(run_id, [verdict])
    with pytest.raises(LedgerError, match="before started_at"):
        ledger.complete_run(run_id, T0 - timedelta(seconds=1))
    with pytest.raises(LedgerError, match="run 999 does not exist"):
        ledger.add_evidence(999, [good])
    with pytest.raises(LedgerError, match="run 999 does not exist"):
        ledger.findings(999)

    assert ledger.run(run_id).counts == {"evidence": 1, "errors": 0, "findings": 0, "verdicts": 1}
    ledger.complete_run(run_id, T0 + timedelta(minutes=1))
    assert ledger.verify().ok


def test_reopening_keeps_everything_and_verifies(database_url: str) -> None:
    with Ledger(database_url) as first:
        run_id, digest = record_run(first)
    with Ledger(database_url) as again:
        assert again.run(run_id).digest == digest
        assert again.findings(run_id) == sample().findings
        assert again.verify().ok
