"""Tampering behind the API's back: the triggers refuse it, and `verify` names what changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from storage.hashing import row_hash
from storage.ledger import Ledger, LedgerError
from storage.models import RunFinding

from .helpers import NSG_ID, T0, drop_protection, execute, nsg_evidence, record_run, reseal, sample


@dataclass
class Chain:
    run_ids: list[int]
    digests: list[str]
    run_only_blob: str  # sha256 of a document stored by the second run only

    @property
    def middle(self) -> int:
        return self.run_ids[1]


def build_chain(ledger: Ledger) -> Chain:
    run_ids, digests = [], []
    for i in range(3):
        data = sample(T0 + timedelta(hours=i))
        # Each run sees other content, so each stores rows of its own (an unchanged run holds the previous
        # run's rows by reference: tests/storage/test_states.py).
        data.evidence = [replace(e, api_version=f"{e.api_version}-{i}") for e in data.evidence]
        data.findings = [replace(f, reason_en=f"{f.reason_en} ({i})") for f in data.findings]
        data.evidence.append(nsg_evidence(f"{NSG_ID}-run{i}"))
        run_id, digest = record_run(ledger, T0 + timedelta(hours=i), data)
        run_ids.append(run_id)
        digests.append(digest)
    return Chain(run_ids, digests, nsg_evidence(f"{NSG_ID}-run1").sha256)


def row_ids(engine: Engine, table: str, run_id: int) -> list[int]:
    with engine.connect() as connection:
        query = text(f"SELECT id FROM {table} WHERE run_id = :r ORDER BY id")
        return list(connection.execute(query, {"r": run_id}).scalars())


def edit_blob(engine: Engine, chain: Chain) -> tuple[str, int | str, str]:
    execute(
        engine,
        "UPDATE evidence_blobs SET content = replace(content, '\"443\"', '\"22\"') WHERE sha256 = :s",
        s=chain.run_only_blob,
    )
    return "evidence_blobs", chain.run_only_blob, "content no longer hashes to its sha256"


def edit_finding_status(engine: Engine, chain: Chain) -> tuple[str, int | str, str]:
    failing = row_ids(engine, "findings", chain.middle)[1]  # the "fail" finding
    execute(engine, "UPDATE findings SET status = 'pass' WHERE id = :i", i=failing)
    return "findings", failing, "content changed after it was stored"


def edit_verdict_reason(engine: Engine, chain: Chain) -> tuple[str, int | str, str]:
    verdict = row_ids(engine, "verdicts", chain.middle)[0]
    execute(engine, "UPDATE verdicts SET reason_ja = '問題なし' WHERE id = :i", i=verdict)
    return "verdicts", verdict, "content changed after it was stored"


def delete_evidence_row(engine: Engine, chain: Chain) -> tuple[str, int | str, str]:
    victim = row_ids(engine, "run_evidence", chain.middle)[2]
    execute(engine, "DELETE FROM run_evidence WHERE id = :i", i=victim)
    return "run_evidence", victim, "row was deleted"


def edit_prev_digest(engine: Engine, chain: Chain) -> tuple[str, int | str, str]:
    execute(engine, "UPDATE runs SET prev_digest = :d WHERE id = :i", d="0" * 64, i=chain.middle)
    return "runs", chain.middle, "prev_digest is"


# Each edits the middle run by hand and returns (table, row id, what verify should say).
Tamper = Callable[[Engine, Chain], tuple[str, int | str, str]]
TAMPERING: list[Tamper] = [edit_blob, edit_finding_status, edit_verdict_reason, delete_evidence_row, edit_prev_digest]


@pytest.mark.parametrize("tamper", TAMPERING, ids=lambda f: f.__name__)
def test_verify_names_the_run_table_and_row_that_changed(ledger: Ledger, raw: Engine, tamper: Tamper) -> None:
    chain = build_chain(ledger)
    assert ledger.verify().ok
    drop_protection(raw)
    table, row_id, what = tamper(raw, chain)

    report = ledger.verify()
    assert not report.ok
    assert (report.run_id, report.table, report.row_id) == (chain.middle, table, row_id)
    assert report.runs_checked == 2
    assert report.problem is not None and "\n" not in report.problem
    assert report.problem.startswith(f"run {chain.middle}: {table} row {row_id}: ")
    assert what in report.problem


@pytest.mark.parametrize("tamper", TAMPERING, ids=lambda f: f.__name__)
def test_triggers_refuse_the_same_tampering(ledger: Ledger, raw: Engine, tamper: Tamper) -> None:
    chain = build_chain(ledger)
    before = (ledger.runs(), [ledger.findings(r) for r in chain.run_ids], [ledger.evidence(r) for r in chain.run_ids])
    with pytest.raises(DBAPIError, match="shoko ledger"):
        tamper(raw, chain)
    after = (ledger.runs(), [ledger.findings(r) for r in chain.run_ids], [ledger.evidence(r) for r in chain.run_ids])
    assert after == before
    assert ledger.verify().ok


def test_triggers_refuse_deleting_runs_and_adding_rows_to_a_sealed_run(ledger: Ledger, raw: Engine) -> None:
    chain = build_chain(ledger)
    with pytest.raises(DBAPIError, match="shoko ledger"):
        execute(raw, "DELETE FROM runs WHERE id = :i", i=chain.run_ids[-1])
    with pytest.raises(DBAPIError, match="shoko ledger"):
        execute(raw, "UPDATE runs SET status = 'running' WHERE id = :i", i=chain.middle)
    with pytest.raises(DBAPIError, match="shoko ledger"):
        execute(
            raw,
            "INSERT INTO verdicts (run_id, requirement, status, reason_ja, reason_en, check_ids, "
            "findings_pass, findings_fail, findings_error, row_hash) "
            "VALUES (:r, 99, 'pass', 'ja', 'en', '[]', 0, 0, 0, 'x')",
            r=chain.middle,
        )
    if raw.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="shoko ledger"):
            execute(raw, "TRUNCATE findings")
    assert len(ledger.runs()) == 3
    assert ledger.verify().ok


def forge_finding_with_its_row_hash(ledger: Ledger, raw: Engine, run_id: int) -> int:
    """Turn the run's failing finding into a pass and give it the row hash of its new content."""
    drop_protection(raw)
    finding_id = row_ids(raw, "findings", run_id)[1]
    with raw.connect() as connection:
        values = dict(
            connection.execute(text("SELECT * FROM findings WHERE id = :i"), {"i": finding_id}).mappings().one()
        )
    forged = ledger.findings(run_id)[1]
    values.update(status="pass", requirements=list(forged.requirements), evidence=list(forged.evidence))
    execute(
        raw,
        "UPDATE findings SET status = 'pass', row_hash = :h WHERE id = :i",
        h=row_hash(RunFinding, values),
        i=finding_id,
    )
    return finding_id


def test_a_row_changed_together_with_its_row_hash_is_caught_by_the_seal(ledger: Ledger, raw: Engine) -> None:
    chain = build_chain(ledger)
    forge_finding_with_its_row_hash(ledger, raw, chain.middle)
    report = ledger.verify()
    # A version 3 seal holds a digest of the findings the run's parts hold, not each one's hash: it says which
    # run and table changed, and cannot say which of its rows.
    assert (report.ok, report.run_id, report.table, report.row_id) == (False, chain.middle, "findings", None)
    assert "a row and its row hash changed together" in (report.problem or "")
    assert report.runs_checked == 2  # the first run, and the one that differs


def test_a_version_2_seal_still_names_the_row_changed_with_its_row_hash(ledger: Ledger, raw: Engine) -> None:
    chain = build_chain(ledger)
    drop_protection(raw)
    reseal(raw, 2)
    assert ledger.verify().ok
    with raw.connect() as connection:
        versions = connection.execute(text("SELECT seal FROM runs ORDER BY chain_index")).scalars().all()
    assert {json.loads(seal)["version"] for seal in versions} == {2}
    finding_id = forge_finding_with_its_row_hash(ledger, raw, chain.middle)
    report = ledger.verify()
    assert (report.ok, report.run_id, report.table, report.row_id) == (False, chain.middle, "findings", finding_id)
    assert "row hash were both changed" in (report.problem or "")


def test_a_row_added_to_a_sealed_run_is_named(ledger: Ledger, raw: Engine) -> None:
    chain = build_chain(ledger)
    drop_protection(raw)
    execute(
        raw,
        "INSERT INTO collection_errors (run_id, kind, source, scope, code, message, status_code, request_id, "
        "occurred_at, row_hash) SELECT run_id, kind, source, scope, code, 'forged', status_code, request_id, "
        "occurred_at, row_hash FROM collection_errors WHERE run_id = :r",
        r=chain.run_ids[0],
    )
    added = row_ids(raw, "collection_errors", chain.run_ids[0])[-1]
    report = ledger.verify()
    assert (report.run_id, report.table, report.row_id) == (chain.run_ids[0], "collection_errors", added)
    # The forged row has another row's hash but its own content, so the content check fires first.
    assert "content changed" in (report.problem or "")


def test_a_removed_run_breaks_the_chain_at_the_next_run(ledger: Ledger, raw: Engine) -> None:
    chain = build_chain(ledger)
    drop_protection(raw)
    for table in ("run_states", "run_evidence", "collection_errors", "findings", "verdicts", "runs"):
        column = "id" if table == "runs" else "run_id"
        execute(raw, f"DELETE FROM {table} WHERE {column} = :r", r=chain.middle)
    report = ledger.verify()
    last = chain.run_ids[2]
    assert (report.ok, report.run_id, report.table, report.row_id) == (False, last, "runs", last)
    assert "a sealed run before it is missing" in (report.problem or "")


def test_an_edited_seal_document_or_status_is_named(ledger: Ledger, raw: Engine) -> None:
    chain = build_chain(ledger)
    drop_protection(raw)
    execute(raw, "UPDATE runs SET seal = seal || ' ' WHERE id = :i", i=chain.run_ids[2])
    report = ledger.verify()
    assert (report.run_id, report.table, report.row_id) == (chain.run_ids[2], "runs", chain.run_ids[2])
    assert "seal document no longer hashes" in (report.problem or "")

    execute(raw, "UPDATE runs SET status = 'running' WHERE id = :i", i=chain.run_ids[0])
    report = ledger.verify()
    assert (report.run_id, report.table, report.row_id) == (chain.run_ids[0], "runs", chain.run_ids[0])
    assert "status is 'running'" in (report.problem or "")


def test_a_row_edited_while_its_run_was_still_running_is_caught_after_sealing(ledger: Ledger, raw: Engine) -> None:
    data = sample()
    run_id = ledger.start_run(T0, agent_version="v", config_digest="d", scope={})
    ledger.add_evidence(run_id, data.evidence)
    ledger.add_findings(run_id, data.findings)
    drop_protection(raw)
    finding_id = row_ids(raw, "findings", run_id)[0]
    execute(raw, "UPDATE findings SET reason_en = 'edited' WHERE id = :i", i=finding_id)
    ledger.complete_run(run_id, T0 + timedelta(minutes=1))
    report = ledger.verify()
    assert (report.ok, report.run_id, report.table, report.row_id) == (False, run_id, "findings", finding_id)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_value_edited_into_unreadable_json_is_named(ledger: Ledger, raw: Engine) -> None:
    # Only SQLite accepts this: PostgreSQL's json column refuses the text outright.
    chain = build_chain(ledger)
    drop_protection(raw)
    verdict = row_ids(raw, "verdicts", chain.middle)[1]
    execute(raw, "UPDATE verdicts SET check_ids = '[not json' WHERE id = :i", i=verdict)
    report = ledger.verify()
    assert (report.ok, report.run_id, report.table, report.row_id) == (False, chain.middle, "verdicts", verdict)
    assert "cannot be read" in (report.problem or "")
    with pytest.raises(LedgerError, match="cannot be read"):
        ledger.verdicts(chain.middle)


def test_verify_on_an_empty_ledger(ledger: Ledger) -> None:
    report = ledger.verify()
    assert report.ok and report.runs_checked == 0 and report.problem is None
