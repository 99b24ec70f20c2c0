"""Evidence records are streamed into a bundle's JSON Lines files a batch at a time from the ledger, hashed as
they are written, and the signed manifest (written last) lists the files; a record missing from the ledger leaves
no bundle behind; a record changed, moved or cut is named by verify."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Collection
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import reports.bundle
from controls.model import Evidence
from reports.bundle import (
    EVIDENCE_BATCH,
    RECORDS_PER_FILE,
    Bundle,
    SnapshotError,
    _json,
    evidence_document,
    evidence_file_name,
    verify_bundle,
    write_bundle,
)

AT = datetime(2026, 3, 31, tzinfo=UTC)


def _record(i: int) -> Evidence:
    rid = f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st{i:04d}"
    return Evidence("storage_account", "storage.accounts", "/subscriptions/s", rid, "2024-01-01", f"r{i}", AT,
                    {"id": rid, "properties": {"minimumTlsVersion": "TLS1_2"}})  # fmt: skip


def test_evidence_is_read_in_batches_and_listed_in_the_signed_manifest(tmp_path) -> None:
    records = {ev.sha256: ev for ev in map(_record, range(2 * EVIDENCE_BATCH + 50))}
    batches: list[int] = []

    def read(shas: Collection[str]) -> dict[str, Evidence]:
        batches.append(len(shas))
        return {sha: records[sha] for sha in shas}

    path = evidence_file_name("storage_account", "0" * 64, len(records))
    assert path == "evidence/storage_account.jsonl"
    bundle = Bundle({"verdicts.json": b"{}\n"}, {"as_of": AT.isoformat(), "runs": []}, {path: set(records)}, read)
    out = tmp_path / "snap.zip"
    manifest = write_bundle(bundle, Ed25519PrivateKey.generate(), out)
    assert batches == [EVIDENCE_BATCH, EVIDENCE_BATCH, 50]
    assert {f["path"] for f in manifest["files"]} == {"verdicts.json", path}
    result = verify_bundle(out)
    assert result.ok and result.evidence_checked == len(records)
    # One record a line, in SHA-256 order, each with its collection record and the content it hashes to.
    with zipfile.ZipFile(out) as z:
        lines = [json.loads(line) for line in z.read(path).splitlines()]
    assert [d["collection"]["sha256"] for d in lines] == sorted(records)
    assert all(d["content"] == records[d["collection"]["sha256"]].content for d in lines)


def test_a_kind_beyond_so_many_records_is_split_by_the_first_digits_of_their_hash() -> None:
    sha = "ab" + "0" * 62
    assert evidence_file_name("resource", sha, RECORDS_PER_FILE) == "evidence/resource.jsonl"
    assert evidence_file_name("resource", sha, RECORDS_PER_FILE + 1) == "evidence/resource/a.jsonl"
    assert evidence_file_name("resource", sha, 16 * RECORDS_PER_FILE + 1) == "evidence/resource/ab.jsonl"
    assert evidence_file_name("resource", sha, 10**9) == "evidence/resource/ab.jsonl"  # 256 files at most
    assert evidence_file_name("a/b c", sha, 1) == "evidence/a_b_c.jsonl"


def _signed(tmp_path, monkeypatch, line: bytes, path: str):  # type: ignore[no-untyped-def]
    """verify's answer on a bundle whose one evidence file holds exactly `line`, signed as written (as a vendor
    whose export went wrong would have signed it)."""
    monkeypatch.setattr(reports.bundle, "evidence_line", lambda ev: line)
    bundle = Bundle({}, {"runs": []}, {path: {"0" * 64}}, lambda shas: {sha: sha for sha in shas})
    out = tmp_path / "snap.zip"
    write_bundle(bundle, Ed25519PrivateKey.generate(), out)
    return verify_bundle(out)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["content"].update(id="other"), "line 1: the raw response does not hash to its evidence SHA-256"),
        (lambda d: d["collection"].update(kind="key_vault"), "line 1: a key_vault record"),
        (lambda d: d["collection"].update(sha256="1" + d["collection"]["sha256"][1:]), "line 1: the raw response"),
        (lambda d: d.pop("content"), "line 1 is not an evidence record"),
    ],
)
def test_verify_names_a_record_that_does_not_hash_or_is_filed_elsewhere(tmp_path, monkeypatch, change, problem):  # type: ignore[no-untyped-def]
    ev = _record(1)
    doc = evidence_document(ev)
    path = evidence_file_name("storage_account", ev.sha256, 2 * RECORDS_PER_FILE)
    assert _signed(tmp_path, monkeypatch, json.dumps(doc).encode() + b"\n", path).ok
    change(doc)
    result = _signed(tmp_path, monkeypatch, json.dumps(doc).encode() + b"\n", path)
    assert not result.ok and result.problem.startswith(path) and problem in result.problem


def test_a_record_missing_from_the_ledger_leaves_no_bundle(tmp_path) -> None:
    ev = _record(1)
    bundle = Bundle({}, {"runs": []}, {evidence_file_name("c", ev.sha256, 1): {ev.sha256}}, lambda shas: {})
    out = tmp_path / "snap.zip"
    with pytest.raises(SnapshotError, match="is missing from the ledger"):
        write_bundle(bundle, Ed25519PrivateKey.generate(), out)
    assert list(tmp_path.iterdir()) == []


def test_a_bundle_of_the_first_format_with_a_file_per_record_still_verifies(tmp_path) -> None:
    """shoko-snapshot/1 bundles, already in auditors' hands: evidence/{check}/{resource}--{kind}--{sha}.json."""
    ev = _record(1)
    name = f"evidence/storage-min-tls/st0001--storage_account--{ev.sha256[:12]}.json"
    out = tmp_path / "v1.zip"
    write_bundle(Bundle({name: _json(evidence_document(ev))}, {"runs": []}), Ed25519PrivateKey.generate(), out)
    result = verify_bundle(out)
    assert result.ok and result.evidence_checked == 1
    forged = evidence_document(ev)
    forged["content"]["properties"]["minimumTlsVersion"] = "TLS1_0"
    write_bundle(Bundle({name: _json(forged)}, {"runs": []}), Ed25519PrivateKey.generate(), out)
    result = verify_bundle(out)
    assert not result.ok and result.problem == f"{name}: the raw response does not hash to its evidence SHA-256"
