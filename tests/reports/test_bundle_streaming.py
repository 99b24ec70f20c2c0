"""Evidence files are streamed into a bundle a batch at a time from the ledger, hashed as they are written, and
the signed manifest (written last) lists them; a record missing from the ledger leaves no bundle behind."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controls.model import Evidence
from reports.bundle import EVIDENCE_BATCH, Bundle, SnapshotError, evidence_file_name, verify_bundle, write_bundle

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

    paths = {evidence_file_name("storage-min-tls", ev): sha for sha, ev in records.items()}
    bundle = Bundle({"verdicts.json": b"{}\n"}, {"as_of": AT.isoformat(), "runs": []}, paths, read)
    out = tmp_path / "snap.zip"
    manifest = write_bundle(bundle, Ed25519PrivateKey.generate(), out)
    assert batches == [EVIDENCE_BATCH, EVIDENCE_BATCH, 50]
    assert {f["path"] for f in manifest["files"]} == {"verdicts.json", *paths}
    result = verify_bundle(out)
    assert result.ok and result.evidence_checked == len(records)


def test_a_record_missing_from_the_ledger_leaves_no_bundle(tmp_path) -> None:
    ev = _record(1)
    bundle = Bundle({}, {"runs": []}, {evidence_file_name("c", ev): ev.sha256}, lambda shas: {})
    out = tmp_path / "snap.zip"
    with pytest.raises(SnapshotError, match="is missing from the ledger"):
        write_bundle(bundle, Ed25519PrivateKey.generate(), out)
    assert list(tmp_path.iterdir()) == []
