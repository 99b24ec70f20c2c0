"""Runs that hold unchanged rows by reference (storage/states.py): what they store, what readers get back, and
what `verify` catches — in full and from a checkpoint."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from controls.model import Evidence, FactKind, Finding, Status, Verdict
from storage import states
from storage.hashing import row_hash
from storage.ledger import Ledger
from storage.models import RunEvidence, RunFinding
from storage.verify import Checkpoint

from .helpers import T0, drop_protection, execute

SUB = "/subscriptions/0000"


def document(n: int, *, port: str = "443", at: datetime = T0, request: str | None = None) -> Evidence:
    rid = f"{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-{n}"
    return Evidence(
        kind=FactKind.NSG,
        source="network.nsgs",
        scope=SUB,
        resource_id=rid,
        api_version="2024-05-01",
        request_id=request or f"req-{at.isoformat()}-{n // 10}",  # one page of ten documents per request
        collected_at=at + timedelta(microseconds=37 * n),
        content={"id": rid, "properties": {"securityRules": [{"destinationPortRange": port}]}},
    )


def finding(ev: Evidence) -> Finding:
    port = ev.content["properties"]["securityRules"][0]["destinationPortRange"]
    status = Status.FAIL if port == "22" else Status.PASS
    return Finding(
        check_id="nsg-no-internet-management-ports",
        requirements=(86,),
        status=status,
        resource_id=ev.resource_id,
        reason_ja=f"ポート {port}",
        reason_en=f"port {port}",
        evidence=(ev.sha256,),
    )


def verdict(findings: list[Finding]) -> Verdict:
    failed = sum(1 for f in findings if f.status == Status.FAIL)
    return Verdict(
        requirement=86,
        status=Status.FAIL if failed else Status.PASS,
        reason_ja="判定",
        reason_en="judged",
        check_ids=("nsg-no-internet-management-ports",),
        findings_pass=len(findings) - failed,
        findings_fail=failed,
    )


def estate(size: int, at: datetime, *, open_ssh: frozenset[int] = frozenset(), gone: frozenset[int] = frozenset()):
    evidence = [document(n, port="22" if n in open_ssh else "443", at=at) for n in range(size) if n not in gone]
    return evidence, [finding(e) for e in evidence]


def store(
    ledger: Ledger, at: datetime, evidence: list[Evidence], findings: list[Finding], scope: dict | None = None
) -> int:
    run_id = ledger.start_run(at, agent_version="v", config_digest="d", scope=scope or {"subscriptions": ["0000"]})
    ledger.add_evidence(run_id, evidence)
    ledger.add_findings(run_id, findings)
    ledger.add_verdicts(run_id, [verdict(findings)])
    ledger.complete_run(run_id, at + timedelta(minutes=5))
    return run_id


def owned(engine: Engine, table: str, run_id: int) -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table} WHERE run_id = :r"), {"r": run_id}).scalar_one()


def test_an_unchanged_second_run_stores_no_evidence_or_finding_row_and_reads_back_whole(
    ledger: Ledger, raw: Engine
) -> None:
    first_items = estate(400, T0)
    first = store(ledger, T0, *first_items)
    later = T0 + timedelta(hours=1)
    second_items = estate(400, later)  # same documents, new collection times and request ids
    second = store(ledger, later, *second_items)

    assert (owned(raw, "run_evidence", second), owned(raw, "findings", second)) == (0, 0)
    assert owned(raw, "verdicts", second) == 1
    assert ledger.evidence(second) == second_items[0]  # its own times and request ids, in its order
    assert ledger.findings(second) == second_items[1]
    assert ledger.evidence(first) == first_items[0]
    assert (
        ledger.run(second).counts
        == ledger.run(first).counts
        == {
            "evidence": 400,
            "errors": 0,
            "findings": 400,
            "verdicts": 1,
        }
    )
    if raw.dialect.name == "sqlite":
        with raw.connect() as connection:
            parts = connection.execute(
                text("SELECT sum(length(content)) FROM run_states WHERE run_id = :r"), {"r": second}
            ).scalar_one()
            stored = connection.execute(
                text(
                    "SELECT (SELECT sum(length(content)) FROM evidence_blobs)"
                    " + (SELECT sum(length(resource_id) + length(scope) + length(row_hash) + 80) FROM run_evidence)"
                    " + (SELECT sum(length(reason_en) + length(resource_id) + length(row_hash) + 120) FROM findings)"
                )
            ).scalar_one()
        # What the second run added for its 800 evidence and finding records, against what the first stored.
        assert parts < stored * 0.01, (parts, stored)
    assert ledger.verify().ok


def test_a_run_held_by_reference_reads_as_the_same_run_stored_whole(ledger: Ledger, tmp_path: Path) -> None:
    store(ledger, T0, *estate(50, T0, open_ssh=frozenset({3})))
    at = T0 + timedelta(hours=1)
    # Changed (5 opened, 3 closed), removed (7, 8), added (50, 51) and a document listed twice.
    evidence, findings = estate(52, at, open_ssh=frozenset({5}), gone=frozenset({7, 8}))
    evidence.insert(10, replace(evidence[20], request_id="req-again"))
    findings.insert(10, findings[20])
    delta = store(ledger, at, evidence, findings)

    with Ledger(f"sqlite:///{tmp_path / 'whole.db'}") as whole:
        alone = store(whole, at, evidence, findings)  # no predecessor: every row stored
        assert ledger.evidence(delta) == whole.evidence(alone) == evidence
        assert ledger.findings(delta) == whole.findings(alone) == findings
        assert list(ledger.evidence_refs(delta)) == list(whole.evidence_refs(alone))
        assert list(ledger.evidence_refs(delta, size=7)) == list(ledger.evidence_refs(delta))  # read in chunks
        assert [r.sha256 for r in ledger.evidence_refs(delta)] == [e.sha256 for e in evidence]
        shas = {evidence[5].sha256, evidence[20].sha256, "0" * 64}
        assert ledger.evidence_by_sha256(delta, shas) == whole.evidence_by_sha256(alone, shas)
        read = ledger.evidence_reader(delta)  # many batches, the part decoded once: the same records
        for batch in (shas, {evidence[9].sha256, evidence[10].sha256}, shas):
            assert read(batch) == ledger.evidence_by_sha256(delta, batch) and read(batch)
        assert [f for batch in ledger.findings_in_batches(delta, 7) for f in batch] == findings
        assert ledger.findings_of([delta], ["nsg-no-internet-management-ports"]) == {delta: findings}
        assert ledger.evidence(delta, kinds=[FactKind.NSG]) == evidence
        assert ledger.run(delta).counts == whole.run(alone).counts
    assert ledger.verify().ok


def test_runs_stored_by_one_ledger_hold_the_same_rows_as_runs_stored_by_a_ledger_opened_for_each(
    tmp_path: Path,
) -> None:
    # One ledger keeps each run's rows by content key for the next run; a new ledger reads them from the database.
    def history(ledger_for_run) -> list[str]:
        for hour, (size, open_ssh, batches) in enumerate([(30, {3}, 1), (31, {5}, 2), (30, {3}, 3), (30, {3}, 1)]):
            at = T0 + timedelta(hours=hour)
            evidence, findings = estate(size, at, open_ssh=frozenset(open_ssh))
            evidence.insert(4, replace(evidence[9], request_id="req-again"))  # a document listed twice
            findings.insert(4, findings[9])
            ledger = ledger_for_run()
            run_id = ledger.start_run(at, agent_version="v", config_digest="d", scope={"subscriptions": ["0000"]})
            step = -(-len(evidence) // batches)
            for start in range(0, len(evidence), step):  # a pipeline may store a run's evidence in parts
                ledger.add_evidence(run_id, evidence[start : start + step])
            ledger.add_findings(run_id, findings)
            ledger.add_verdicts(run_id, [verdict(findings)])
            ledger.complete_run(run_id, at + timedelta(minutes=5))
            assert ledger.evidence(run_id) == evidence and ledger.findings(run_id) == findings
        return [run.digest for run in ledger.runs()]

    with Ledger(f"sqlite:///{tmp_path / 'kept.db'}") as kept:
        kept_digests = history(lambda: kept)
        assert kept.verify().ok
    opened: list[Ledger] = []

    def fresh() -> Ledger:
        opened.append(Ledger(f"sqlite:///{tmp_path / 'read.db'}"))
        return opened[-1]

    try:
        assert history(fresh) == kept_digests  # the same rows, parts and seals
    finally:
        for ledger in opened:
            ledger.close()


def test_as_of_a_middle_run_is_exact_and_evidence_record_names_the_newest_run_holding_it(ledger: Ledger) -> None:
    runs = []
    for i, (ssh, gone) in enumerate([({1}, set()), ({2}, {4}), ({2}, {4, 5}), (set(), {5})]):
        at = T0 + timedelta(hours=i)
        items = estate(30, at, open_ssh=frozenset(ssh), gone=frozenset(gone))
        runs.append((store(ledger, at, *items), items))
    for run_id, (evidence, findings) in runs:
        assert ledger.evidence(run_id) == evidence and ledger.findings(run_id) == findings
    middle = ledger.run_as_of(T0 + timedelta(hours=1, minutes=6))
    assert middle is not None and middle.id == runs[1][0]
    assert ledger.evidence(middle.id) == runs[1][1][0]

    unchanged = runs[0][1][0][0]  # document 0: the same in every run
    record = ledger.evidence_record(unchanged.sha256)
    assert record is not None and record[0] == runs[3][0]
    assert record[1] == runs[3][1][0][0]  # with the newest run's own collection time
    as_of = ledger.evidence_record(unchanged.sha256, as_of=T0 + timedelta(hours=1, minutes=6))
    assert as_of is not None and as_of[0] == runs[1][0] and as_of[1].collected_at == runs[1][1][0][0].collected_at
    gone = runs[0][1][0][4]  # document 4: absent from the second and third runs, back in the fourth
    record = ledger.evidence_record(gone.sha256, as_of=T0 + timedelta(hours=2, minutes=6))
    assert record is not None and record[0] == runs[0][0]


def test_a_partial_run_does_not_hold_a_full_runs_rows(ledger: Ledger, raw: Engine) -> None:
    store(ledger, T0, *estate(10, T0))
    partial = {"subscriptions": ["0000"], "partial": True, "kinds": [str(FactKind.NSG)]}
    first = store(ledger, T0 + timedelta(hours=1), *estate(10, T0 + timedelta(hours=1)), scope=partial)
    second = store(ledger, T0 + timedelta(hours=2), *estate(10, T0 + timedelta(hours=2)), scope=partial)
    assert owned(raw, "run_evidence", first) == 10 and owned(raw, "run_evidence", second) == 0
    assert ledger.evidence(second) == estate(10, T0 + timedelta(hours=2))[0]


def three_runs(ledger: Ledger) -> list[int]:
    return [store(ledger, T0 + timedelta(hours=i), *estate(20, T0 + timedelta(hours=i))) for i in range(3)]


def part_id(engine: Engine, run_id: int, table: str) -> int:
    with engine.connect() as connection:
        query = text("SELECT id FROM run_states WHERE run_id = :r AND table_name = :t ORDER BY id")
        return connection.execute(query, {"r": run_id, "t": table}).scalars().first()


def test_the_triggers_refuse_changing_or_removing_a_part(ledger: Ledger, raw: Engine) -> None:
    runs = three_runs(ledger)
    with pytest.raises(DBAPIError, match="shoko ledger"):
        execute(raw, "DELETE FROM run_states WHERE run_id = :r", r=runs[1])
    with pytest.raises(DBAPIError, match="shoko ledger"):
        execute(raw, "UPDATE run_states SET entries = 1 WHERE run_id = :r", r=runs[1])
    assert ledger.verify().ok


def test_an_edited_or_removed_part_is_named(ledger: Ledger, raw: Engine) -> None:
    runs = three_runs(ledger)
    drop_protection(raw)
    earlier = part_id(raw, runs[0], "run_evidence")
    victim = part_id(raw, runs[1], "run_evidence")
    # The middle run's evidence part swapped for the first run's: the same rows, with the first run's times.
    execute(
        raw,
        "UPDATE run_states SET content = (SELECT content FROM run_states WHERE id = :e) WHERE id = :v",
        e=earlier,
        v=victim,
    )
    report = ledger.verify()
    assert (report.ok, report.run_id, report.table, report.row_id) == (False, runs[1], "run_states", victim)
    assert "content changed after it was sealed" in (report.problem or "")
    # From a checkpoint at that run, its parts name the rows this pass need not re-hash: they are checked first.
    since = ledger.verify(since=Checkpoint(2, runs[1], ledger.run(runs[1]).digest or ""))
    assert (since.ok, since.run_id, since.table, since.row_id) == (False, runs[1], "run_states", victim)

    execute(raw, "DELETE FROM run_states WHERE id = :v", v=victim)
    report = ledger.verify()
    assert (report.run_id, report.row_id) == (runs[1], victim) and "part was deleted" in (report.problem or "")
    since = ledger.verify(since=Checkpoint(2, runs[1], ledger.run(runs[1]).digest or ""))
    assert (since.run_id, since.row_id) == (runs[1], victim) and "part was deleted" in (since.problem or "")


def test_a_held_row_changed_with_its_row_hash_is_caught_at_the_run_that_stored_it(ledger: Ledger, raw: Engine) -> None:
    runs = three_runs(ledger)
    checkpoint = ledger.verify().last
    assert checkpoint is not None and checkpoint.run_id == runs[2]
    store(ledger, T0 + timedelta(hours=4), *estate(20, T0 + timedelta(hours=4)))
    drop_protection(raw)
    with raw.connect() as connection:
        values = dict(
            connection.execute(text("SELECT * FROM findings WHERE run_id = :r ORDER BY id"), {"r": runs[0]})
            .mappings()
            .first()
        )
    for key in ("requirements", "evidence"):  # SQLite hands JSON back as text to plain SQL
        values[key] = json.loads(values[key]) if isinstance(values[key], str) else values[key]
    values["status"] = "fail"
    execute(
        raw,
        "UPDATE findings SET status = 'fail', row_hash = :h WHERE id = :i",
        h=row_hash(RunFinding, values),
        i=values["id"],
    )
    full = ledger.verify()
    # The first run's seal (version 3) covers the findings its parts hold with a digest: it names the run and the
    # table, not the row.
    assert (full.ok, full.run_id, full.table, full.row_id) == (False, runs[0], "findings", None)
    assert "differ from its seal's digest" in (full.problem or "")
    # From the checkpoint the first run is not re-checked, but the newer run holds the row: its seal's digest of
    # what it holds no longer matches.
    since = ledger.verify(since=checkpoint)
    assert (since.ok, since.table) == (False, "findings") and since.run_id == ledger.latest_run().id  # type: ignore[union-attr]
    assert "differ from its seal's digest" in (since.problem or "")


def test_verify_from_a_checkpoint_checks_only_later_runs_and_catches_tampering_after_it(
    ledger: Ledger, raw: Engine, tmp_path: Path
) -> None:
    runs = three_runs(ledger)
    full = ledger.verify()
    assert full.ok and full.runs_checked == 3 and full.last == Checkpoint(3, runs[2], ledger.run(runs[2]).digest or "")
    path = tmp_path / "checkpoint.json"
    path.write_text(full.last.dumps(), encoding="utf-8")
    assert Checkpoint.read(path) == full.last

    at = T0 + timedelta(hours=5)
    newer = store(ledger, at, *estate(20, at, open_ssh=frozenset({2})))
    report = ledger.verify(since=Checkpoint.read(path))
    assert report.ok and report.runs_checked == 1 and report.last is not None and report.last.run_id == newer

    drop_protection(raw)
    [changed] = _ids(raw, "findings", newer)  # the one finding that differs from the run before
    execute(raw, "UPDATE findings SET status = 'pass' WHERE id = :i", i=changed)
    report = ledger.verify(since=Checkpoint.read(path))
    assert (report.ok, report.run_id, report.table, report.row_id) == (False, newer, "findings", changed)


def test_a_checkpointed_pass_does_not_re_hash_rows_from_before_its_checkpoint_that_a_later_run_holds(
    ledger: Ledger, raw: Engine
) -> None:
    runs = three_runs(ledger)
    checkpoint = ledger.verify().last
    assert checkpoint is not None and checkpoint.run_id == runs[2]
    newer = store(ledger, T0 + timedelta(hours=4), *estate(20, T0 + timedelta(hours=4)))
    drop_protection(raw)
    [first, *_] = _ids(raw, "findings", runs[0])
    with raw.connect() as connection:
        held = connection.execute(text("SELECT content FROM run_states WHERE run_id = :r"), {"r": newer}).scalars()
        assert first in {i for content in held for i in states.part_row_ids(content)}  # the newer run holds it
    # Its content alone changes: its row hash, which the newer run's seal digests, stays.
    flip = "UPDATE findings SET status = CASE WHEN status = 'pass' THEN 'fail' ELSE 'pass' END WHERE id = :i"
    execute(raw, flip, i=first)
    since = ledger.verify(since=checkpoint)
    assert since.ok and since.runs_checked == 1  # the checkpoint's pass re-hashed it; this one does not again
    full = ledger.verify()
    assert (full.ok, full.run_id, full.table, full.row_id) == (False, runs[0], "findings", first)
    assert "row hash mismatch" in (full.problem or "")
    # A deleted one is still named from the checkpoint.
    execute(raw, "DELETE FROM findings WHERE id = :i", i=first)
    since = ledger.verify(since=checkpoint)
    assert (since.ok, since.run_id, since.table, since.row_id) == (False, newer, "findings", first)
    assert "row was deleted" in (since.problem or "")


def test_a_newer_row_passed_off_as_an_older_one_is_still_re_hashed_from_a_checkpoint(
    ledger: Ledger, raw: Engine
) -> None:
    runs = three_runs(ledger)
    checkpoint = ledger.verify().last
    at = T0 + timedelta(hours=5)
    newer = store(ledger, at, *estate(20, at, open_ssh=frozenset({2})))
    drop_protection(raw)
    [changed] = _ids(raw, "findings", newer)  # the one finding that differs from the run before
    # Its content changed, and its run id made the first run's: as if the checkpoint's pass had re-hashed it.
    execute(raw, "UPDATE findings SET status = 'pass', run_id = :r WHERE id = :i", r=runs[0], i=changed)
    report = ledger.verify(since=checkpoint)
    assert (report.ok, report.run_id, report.table, report.row_id) == (False, newer, "findings", changed)
    assert "row hash mismatch" in (report.problem or "")


def test_a_checkpoint_that_no_longer_matches_is_refused_and_a_full_pass_still_sees_before_it(
    ledger: Ledger, raw: Engine
) -> None:
    runs = three_runs(ledger)
    checkpoint = ledger.verify().last
    assert checkpoint is not None
    drop_protection(raw)
    execute(raw, "UPDATE verdicts SET reason_en = 'edited' WHERE run_id = :r", r=runs[1])
    assert ledger.verify(since=checkpoint).ok  # before the checkpoint: not this pass's job ...
    full = ledger.verify()
    assert (full.ok, full.run_id, full.table) == (False, runs[1], "verdicts")  # ... a full pass's
    forged = replace(checkpoint, digest="0" * 64)
    report = ledger.verify(since=forged)
    assert not report.ok and "differs from the checkpoint" in (report.problem or "")
    report = ledger.verify(since=replace(checkpoint, chain_index=9))
    assert not report.ok and "ledger holds 3 sealed runs" in (report.problem or "")


def _ids(engine: Engine, table: str, run_id: int) -> list[int]:
    with engine.connect() as connection:
        query = text(f"SELECT id FROM {table} WHERE run_id = :r ORDER BY id")
        return list(connection.execute(query, {"r": run_id}).scalars())


def test_held_keys_give_each_row_once_in_order_and_take_back_an_unstored_batchs_rows() -> None:
    held = states.HeldKeys()
    for key, row_id in [(b"a", 1), (b"b", 2), (b"a", 3), (b"a", 4)]:
        held.add(key, row_id)
    assert held.as_dict() == {b"a": [1, 3, 4], b"b": [2]}
    copy = held.copy()
    assert [held.take(b"a"), held.take(b"b"), held.take(b"b"), held.take(b"c")] == [1, 2, None, None]
    held.put_back(b"a", 1)  # the batch that took it was not stored
    held.put_back(b"b", 2)
    assert held.as_dict() == {b"a": [1, 3, 4], b"b": [2]}
    assert [held.take(b"a") for _ in range(4)] == [1, 3, 4, None] and len(held) == 1
    assert copy.as_dict() == {b"a": [1, 3, 4], b"b": [2]}  # a copy is not consumed with the original


class _ListKeys:
    """What HeldKeys promises, kept the plain way: each key's rows in a list, the first offered first."""

    def __init__(self) -> None:
        self.rows: dict[bytes, list[int]] = {}

    def add(self, key: bytes, row_id: int) -> None:
        self.rows.setdefault(key, []).append(row_id)

    def take(self, key: bytes) -> int | None:
        rows = self.rows.get(key)
        if not rows:
            return None
        row_id = rows.pop(0)
        if not rows:
            del self.rows[key]
        return row_id

    def put_back(self, key: bytes, row_id: int) -> None:
        self.rows.setdefault(key, []).insert(0, row_id)


def test_held_keys_behave_as_lists_of_rows_per_key_through_adds_takes_put_backs_and_copies() -> None:
    rng = random.Random(7)
    for trial in range(30):
        held, plain = states.HeldKeys(), _ListKeys()
        # 32-byte digests as the ledger's content keys, and short keys; few enough that content repeats.
        keys = [
            hashlib.sha256(bytes([n])).digest() if n % 2 else bytes([n]) * (n % 5) for n in range(rng.randint(1, 40))
        ]
        taken: list[tuple[bytes, int]] = []
        copies = []
        for step in range(600):
            key, action = rng.choice(keys), rng.random()
            if action < 0.45:
                row_id = 1000 * trial + step
                held.add(key, row_id)
                plain.add(key, row_id)
            elif action < 0.85:
                got = held.take(key)
                assert got == plain.take(key), (trial, step)
                if got is not None:
                    taken.append((key, got))
            elif taken and action < 0.95:  # a batch not stored: its rows offered again, the last taken first
                for key, row_id in reversed(taken[-rng.randint(1, len(taken)) :]):
                    held.put_back(key, row_id)
                    plain.put_back(key, row_id)
                    taken.remove((key, row_id))
            else:  # any taken row, or one never held, offered again first
                key, row_id = taken.pop(rng.randrange(len(taken))) if taken else (key, -step)
                held.put_back(key, row_id)
                plain.put_back(key, row_id)
            if step % 97 == 0:
                copies.append((held.copy(), {k: list(v) for k, v in plain.rows.items()}))
            assert len(held) == len(plain.rows), (trial, step)
        assert held.as_dict() == plain.rows
        for copy, rows in copies:  # a copy is not consumed with the original
            assert copy.as_dict() == rows
        for copy, _ in copies:  # nor the original with a copy
            for key in keys:
                while (row_id := copy.take(key)) is not None:
                    if row_id % 3 == 0:  # taken, offered again, taken again
                        copy.put_back(key, row_id)
                        copy.take(key)
                copy.add(key, -1)
        assert held.as_dict() == plain.rows


def test_a_missing_held_row_is_named_when_the_next_run_reads_its_predecessors_keys(ledger: Ledger, raw: Engine) -> None:
    first = store(ledger, T0, *estate(12, T0))
    victim = _ids(raw, "findings", first)[5]
    drop_protection(raw)
    execute(raw, "DELETE FROM findings WHERE id = :i", i=victim)
    with Session(raw) as session, pytest.raises(states.StateError, match=f"findings row {victim} held by run {first}"):
        states.held_keys(session, RunFinding, first)
    with Session(raw) as session:
        evidence = states.held_keys(session, RunEvidence, first)
    assert len(evidence) == 12 and sorted(i for ids in evidence.as_dict().values() for i in ids) == _ids(
        raw, "run_evidence", first
    )


@pytest.mark.parametrize("batch", [1, 3, 4096])
def test_pending_entries_come_back_in_key_order_with_equal_keys_in_the_order_added(
    batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(states.PendingEntries, "BATCH", batch)
    rng = random.Random(batch)
    pending, records = states.PendingEntries(), []
    for n in range(5000):
        # Few distinct keys (ties across batches), some long and incompressible (a batch read in several pieces).
        place = rng.choice([b"\x01", b"\x00a", b"\x00b", b"\x00" + rng.randbytes(rng.randint(0, 3000))])
        at = T0 + timedelta(microseconds=rng.randint(-(10**12), 10**12))
        request = rng.choice([None, "", f"req-{n}", "récupéré-\udc80"])
        key = rng.choice([b"", rng.randbytes(32)])
        row_id = rng.randint(1, 2**40)  # not in the order added: equal keys must not come back sorted by row id
        records.append((place, row_id, at, request, key))
        pending.add(place, row_id, at, request, key)
    assert pending.count == 5000
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    in_order = sorted(records, key=lambda r: r[0])
    micros = [(n, (at - epoch) // timedelta(microseconds=1), req, key) for _, n, at, req, key in in_order]
    assert list(pending.merged()) == micros


def test_a_part_made_from_columns_is_the_part_made_from_entries() -> None:
    entries = [states.Entry(7, T0, "req-a"), states.Entry(3, T0 + timedelta(seconds=1), None), states.Entry(9, T0, "é")]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    micros = [(e.collected_at - epoch) // timedelta(microseconds=1) for e in entries]  # type: ignore[operator]
    columns = states.encode_columns("run_evidence", [7, 3, 9], micros, ["req-a", None, "é"])
    assert columns == states.encode("run_evidence", entries)
    assert states.decode("run_evidence", columns) == entries
    findings = [states.Entry(i) for i in (7, 3, 9)]
    assert states.encode_columns("findings", [7, 3, 9]) == states.encode("findings", findings)
    with pytest.raises(ValueError, match="collection time"):
        states.encode_columns("run_evidence", [7, 3], micros[:1], ["req-a", None])


def test_refs_read_back_as_the_entries_their_columns_came_from() -> None:
    entries = [states.Entry(7, T0, "req-a"), states.Entry(3, T0 + timedelta(microseconds=1), None), states.Entry(9)]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    refs = states.Refs()
    for e in entries:
        at = None if e.collected_at is None else (e.collected_at - epoch) // timedelta(microseconds=1)
        refs.add(e.row_id, at, e.request_id)
    assert len(refs) == 3 and list(refs) == entries
    assert refs[1] == entries[1] and refs[-1] == entries[-1] and refs[:2] == entries[:2]
    with pytest.raises(IndexError):
        refs[3]
    ids, micros, requests = states.columns("run_evidence", states.encode("run_evidence", [*entries[:2], entries[0]]))
    assert (ids.tolist(), requests) == ([7, 3, 7], ["req-a", None, "req-a"]) and micros is not None
    first, second = ((e.collected_at - epoch) // timedelta(microseconds=1) for e in entries[:2])  # type: ignore[operator]
    assert micros.tolist() == [first, second, first]
    assert requests[0] is requests[2]  # one text for a request id given to several records
    bad = states.encode_columns("run_evidence", [1], [0], [5])  # type: ignore[list-item]
    with pytest.raises(states.StateError, match="not text"):
        states.columns("run_evidence", bad)


def test_places_of_row_ids_close_together_or_far_apart_read_back_what_was_set() -> None:
    from storage.ledger import _Places

    # An array over the span of the ids, then (ids far apart) a dict: the same answers. A row id set twice keeps
    # its last value; one never set, inside the span or out of it, has none.
    for ids, expected in (([3, 4, 4, 6, 9], [0, 2, 2, 3, 4]), ([5, 10_000_000], [0, 1])):
        places = _Places(min(ids), max(ids), len(ids))
        for n, row_id in enumerate(ids):
            places[row_id] = n
        assert [places.get(row_id) for row_id in ids] == expected
        assert places.get(ids[0] - 1) is None and places.get(ids[-1] + 1) is None and places.get(7) is None


def test_a_part_is_read_a_piece_at_a_time_as_parsing_it_whole_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import zlib

    rng = random.Random(3)
    for n in (0, 1, 30_000):  # 30,000 numbers are several pieces of `_PIECE` bytes
        ids = [rng.randrange(1, 10**7) for _ in range(n)]
        micros = [rng.randrange(-(10**15), 10**17) for _ in range(n)]
        requests = [rng.choice([None, 'é "\\ ],\u2028', f"r{rng.random()}", "", "null"]) for _ in range(n)]
        evidence = states.encode_columns("run_evidence", ids, micros, requests)
        assert zlib.decompress(evidence) == json.dumps(
            {"at": states._differences(micros), "ids": states._differences(ids), "request": requests},
            sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        ).encode()  # fmt: skip
        got_ids, got_micros, got_requests = states.columns("run_evidence", evidence)
        assert (got_ids.tolist(), got_micros.tolist(), got_requests) == (ids, micros, requests)  # type: ignore[union-attr]
        assert states.part_row_ids(evidence).tolist() == ids
        assert states._canonical_columns(evidence, keep_requests=False)[0].tolist() == ids  # read piecewise
        assert states.part_row_ids(states.encode_columns("findings", ids)).tolist() == ids

    # Inflated a few bytes at a time, so that numbers, request ids, escapes and UTF-8 characters are cut anywhere.
    ids = [rng.randrange(1, 10**7) for _ in range(300)]
    micros = [rng.randrange(-(10**15), 10**17) for _ in range(300)]
    requests = [rng.choice([None, 'é "\\ ],\u2028', f"r{rng.random()}", "", "null", "\U0001f3e5"]) for _ in range(300)]
    evidence = states.encode_columns("run_evidence", ids, micros, requests)
    for size in (1, 2, 3, 7, 64):
        monkeypatch.setattr(states, "_INFLATED", size)
        got_ids, got_micros, got_requests = states.columns("run_evidence", evidence)
        assert (got_ids.tolist(), got_micros.tolist(), got_requests) == (ids, micros, requests)  # type: ignore[union-attr]
    # What follows the stream's end is ignored and a stream cut short is refused, as when it was inflated whole.
    assert states.columns("run_evidence", evidence + b"after")[0].tolist() == ids
    with pytest.raises(states.StateError, match=r"cannot be decoded.*truncated"):
        states.columns("run_evidence", evidence[:-6])

    # A part in another form is parsed whole: the same ids, or the same refusal, as parsing it whole always gave.
    def whole(part: str) -> object:
        try:
            doc = json.loads(part)
            return [int(i) for i in states._sums(doc["ids"])]
        except (ValueError, states.StateError):
            return "refused"

    def piecewise(part: str) -> object:
        try:
            return states.part_row_ids(zlib.compress(part.encode())).tolist()
        except states.StateError:
            return "refused"

    for part in (
        '{"ids":[1,2]} ', '{"ids": [1]}', '{"ids":[1],"ids":[2]}', '{"at":[1],"ids":[1],"request":[1]}',
        '{"ids":[1,2]}x', '{"at":[1,],"ids":[1],"request":["a"]}', '{"at":[1],"ids":[1],"request":["a",]}',
        '{"at":[1],"ids":[1],"request":["\\\\x"]}', '{"ids":[1.5]}', '{"ids":[1,[2]]}', '{"ids":[1,,2]}',
    ):  # fmt: skip
        assert piecewise(part) == whole(part), part


def test_held_counts_count_each_row_as_often_as_the_run_holds_it_and_name_one_missing(
    ledger: Ledger, raw: Engine
) -> None:
    from collections import Counter

    from .helpers import record_run

    run_id, _ = record_run(ledger)
    drop_protection(raw)
    names = ("check_id", "status", "requirements")

    def counted_with_part(ids: list[int]) -> Counter[str]:
        execute(raw, "DELETE FROM run_states WHERE run_id = :r AND table_name = 'findings'", r=run_id)
        with Session(raw) as session, session.begin():
            states.add_part_columns(session, run_id, "findings", ids)
        with Session(raw) as session:
            counted: Counter[str] = Counter()
            for times, values in states.held_counts(session, RunFinding, run_id, names):
                counted[repr(values)] += times
            rows = states.held_rows(session, RunFinding, run_id) or []
            assert counted == Counter(repr(tuple(getattr(row, name) for name in names)) for row in rows)
            return counted

    with Session(raw) as session:
        ids = list(states.row_ids_of(session, run_id, "findings") or [])
    assert ids and sum(counted_with_part(ids).values()) == len(ids)
    # A part listing one row twice (a run never stores one so) counts it twice, as the list of its rows does.
    assert sum(counted_with_part([*ids, ids[0]]).values()) == len(ids) + 1
    with pytest.raises(states.StateError, match=f"findings row {10**9} held by run {run_id} is missing"):
        counted_with_part([*ids, 10**9])
