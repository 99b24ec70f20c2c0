"""Signed runs and published anchors: what a rewrite with recomputed seals can no longer hide."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from reports.bundle import fingerprint
from storage import anchors
from storage.ledger import Ledger
from storage.signatures import UNSIGNED_BEFORE, Anchor, RunSigner, TrustedKey

from .helpers import T0, drop_protection, execute, record_run, rewrite_from

KEY = RunSigner(Ed25519PrivateKey.generate())


@pytest.fixture
def published() -> list[Anchor]:
    return []


@pytest.fixture
def signed(database_url: str, published: list[Anchor]) -> Iterator[Ledger]:
    """A ledger that signs every run it seals and hands each anchor to `published`."""
    led = Ledger(database_url, signer=KEY, on_sealed=published.append)
    try:
        yield led
    finally:
        led.close()


def _runs(ledger: Ledger, count: int = 3, start: int = 0) -> list[int]:
    return [record_run(ledger, T0 + timedelta(hours=start + i))[0] for i in range(count)]


def test_every_sealed_run_is_signed_and_verifies(signed: Ledger, published: list[Anchor]) -> None:
    run_ids = _runs(signed)
    report = signed.verify(TrustedKey.of(KEY.key.public_key()))
    assert report.ok, report.problem
    assert (report.signed, report.unsigned, report.signed_by) == (3, (), (KEY.fingerprint,))
    assert [a.run_id for a in published] == run_ids
    assert [a.digest for a in published] == [r.digest for r in signed.runs()]
    assert all(a.problem() is None for a in published)


def test_a_failed_run_is_signed_too(signed: Ledger, published: list[Anchor]) -> None:
    run_id, digest = record_run(signed, fail="RuntimeError: boom")
    assert signed.verify().signed == 1
    assert (published[0].run_id, published[0].digest, published[0].status) == (run_id, digest, "failed")


def test_a_chain_rewritten_from_a_middle_run_verifies_without_signatures_but_not_with_them(
    database_url: str, raw: Engine
) -> None:
    # Without signing, recomputed seals hide the rewrite from the chain: that is what signing is for.
    with Ledger(database_url) as plain:
        middle = _runs(plain)[1]
        drop_protection(raw)
        rewrite_from(raw, middle)
        assert plain.verify().ok


def test_a_signed_chain_rewritten_from_a_middle_run_fails_verify(signed: Ledger, raw: Engine) -> None:
    middle = _runs(signed)[1]
    drop_protection(raw)
    rewrite_from(raw, middle)
    report = signed.verify()
    assert not report.ok
    assert (report.run_id, report.table) == (middle, "run_signatures")
    assert report.problem == (
        f"run {middle}: run_signatures: the run's digest is not the one signed: the run was re-sealed after it "
        "was signed"
    )


def test_removing_the_signatures_of_the_rewritten_runs_is_caught(signed: Ledger, raw: Engine) -> None:
    first, middle, _last = _runs(signed)
    drop_protection(raw)
    rewrite_from(raw, middle)
    execute(raw, "DELETE FROM run_signatures WHERE run_id >= :r", r=middle)
    report = signed.verify()
    assert not report.ok and report.run_id == middle
    assert f"unsigned, but run {first} before it was signed" in (report.problem or "")


def test_runs_sealed_before_signing_are_named_not_failed(database_url: str, published: list[Anchor]) -> None:
    with Ledger(database_url) as plain:
        before = _runs(plain, 2)
    with Ledger(database_url, signer=KEY, on_sealed=published.append) as signed:
        after = _runs(signed, 1, start=5)
        report = signed.verify()
    assert report.ok, report.problem
    assert (report.signed, report.unsigned) == (1, tuple(before))
    assert [a.run_id for a in published] == after
    assert UNSIGNED_BEFORE == "unsigned (sealed before signing was configured)"


def test_a_run_signed_with_another_key_than_the_configured_one_fails(signed: Ledger) -> None:
    run_id = _runs(signed, 1)[0]
    other = Ed25519PrivateKey.generate().public_key()
    report = signed.verify(TrustedKey.of(other))
    assert not report.ok and report.run_id == run_id
    assert f"signed by key {KEY.fingerprint}, not the configured key {fingerprint(other)}" in (report.problem or "")
    assert signed.verify(TrustedKey(KEY.fingerprint.replace(":", "").upper())).ok


def test_a_stolen_key_re_signing_the_rewrite_passes_verify_but_not_the_anchors(
    signed: Ledger, raw: Engine, published: list[Anchor], tmp_path: Path
) -> None:
    run_ids = _runs(signed)
    path = tmp_path / "anchors.jsonl"
    for anchor in published:
        anchors.append(path, anchor)
    assert anchors.compare(signed.chain(), anchors.read(path), None).matched == tuple(run_ids)

    drop_protection(raw)
    rewrite_from(raw, run_ids[1], signer=KEY)
    assert signed.verify().ok  # the database alone cannot tell: the key signed the rewrite
    result = anchors.compare(signed.chain(), anchors.read(path), TrustedKey(KEY.fingerprint))
    assert not result.ok
    assert [p.split(":")[0] for p in result.problems] == [f"run {run_ids[1]}", f"run {run_ids[2]}"]
    assert all("different" in p and "(rewritten)" in p for p in result.problems)


def test_anchors_name_a_removed_run_a_missing_anchor_and_an_edited_line(
    signed: Ledger, raw: Engine, published: list[Anchor], tmp_path: Path
) -> None:
    run_ids = _runs(signed)
    path = tmp_path / "anchors.jsonl"
    for anchor in published[:2]:  # the third was never published (e.g. the share was down)
        anchors.append(path, anchor)
    result = anchors.compare(signed.chain(), anchors.read(path), None)
    assert result.problems == (f"run {run_ids[2]}: missing from the anchors (its signed digest was never published)",)

    anchors.append(path, published[2])
    drop_protection(raw)
    # Cut from the end of the chain, with its signature: the database alone still verifies.
    for table in ("run_signatures", "run_states", "run_evidence", "collection_errors", "findings", "verdicts", "runs"):
        execute(raw, f"DELETE FROM {table} WHERE {'id' if table == 'runs' else 'run_id'} = :r", r=run_ids[2])
    assert signed.verify().ok
    result = anchors.compare(signed.chain(), anchors.read(path), None)
    assert result.problems == (f"run {run_ids[2]}: anchored, but the ledger holds no such sealed run (removed)",)

    text = path.read_text(encoding="utf-8").splitlines()
    text[0] = text[0].replace(published[0].digest, "0" * 64)
    path.write_text("\n".join(text) + "\nnot json\n", encoding="utf-8")
    result = anchors.compare(signed.chain(), anchors.read(path), None)
    assert f"{path}:4: not an anchor" in result.problems[0]
    assert result.problems[1].startswith(f"anchor line 1 (run {run_ids[0]}): the signature does not match")
    assert f"run {run_ids[0]}: missing from the anchors" in result.problems[2]


def test_unsigned_runs_before_the_first_anchor_are_named_as_before_signing(
    database_url: str, published: list[Anchor], tmp_path: Path
) -> None:
    with Ledger(database_url) as plain:
        before = _runs(plain, 2)
    with Ledger(database_url, signer=KEY, on_sealed=published.append) as signed:
        after = _runs(signed, 1, start=5)
        path = tmp_path / "a.jsonl"
        anchors.append(path, published[0])
        result = anchors.compare(signed.chain(), anchors.read(path), None)
    assert result.ok and result.before_signing == tuple(before) and result.matched == tuple(after)


def test_triggers_refuse_changing_or_deleting_a_signature(signed: Ledger, raw: Engine) -> None:
    run_id = _runs(signed, 1)[0]
    with pytest.raises(DBAPIError, match="shoko ledger"):
        execute(raw, "UPDATE run_signatures SET signature = 'x' WHERE run_id = :r", r=run_id)
    with pytest.raises(DBAPIError, match="shoko ledger"):
        execute(raw, "DELETE FROM run_signatures WHERE run_id = :r", r=run_id)
    assert signed.verify().ok
