"""What keeps a large estate's export in bounded memory: files on disk copied into the zip and hashed as they go,
JSON lists written an item at a time (byte for byte what one json.dumps gives), finding rows kept on disk and
read back in either order, and a printed report that lists a bounded number of failures per check."""

from __future__ import annotations

import json
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.inventory_view import inventory_items, inventory_order, inventory_rows
from controls.model import Evidence
from reports.answer_sheet import ranked_findings
from reports.bundle import Bundle, JsonList, _json, verify_bundle, write_bundle, write_json
from reports.contents import RefsBySha
from reports.finding_rows import FindingRows, SortedRows
from reports.html import render_report
from storage.ledger import EvidenceRef
from tests.reports.html_cells import parse_cells
from tests.reports.sample_rows import ATTESTATIONS, ERRORS, FINDINGS, META

DOCUMENT = {
    "format": "x/1",
    "run": {"id": 1, "requirements": [86, 96]},
    "findings": [{"check_id": "c", "reason_ja": "日本語\n改行", "evidence": ["a", "b"]}, {"empty": [], "n": {}}],
    "nested": {"deeper": [[1, 2], {"k": [3]}], "none": []},
}


def _lazy(document: dict) -> dict:
    return {k: JsonList(lambda v=v: iter(v)) if isinstance(v, list) else v for k, v in document.items()}


def test_json_lists_written_an_item_at_a_time_match_one_dump(tmp_path) -> None:
    out = tmp_path / "doc.json"
    write_json(out, _lazy(DOCUMENT))
    assert out.read_bytes() == _json(DOCUMENT)
    nested = {**DOCUMENT, "nested": {"deeper": JsonList(lambda: DOCUMENT["nested"]["deeper"]), "none": []}}
    write_json(out, nested)
    assert out.read_bytes() == _json(DOCUMENT)
    write_json(out, _lazy(DOCUMENT), compact=True)
    assert out.read_bytes() == (json.dumps(DOCUMENT, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def test_files_on_disk_are_copied_in_and_hashed_like_the_others(tmp_path) -> None:
    workdir = tempfile.TemporaryDirectory(dir=tmp_path)
    report = tmp_path / workdir.name / "report.html"
    report.write_bytes(b"<html>" + b"x" * (3 << 20) + b"</html>\n")  # larger than one copied block
    bundle = Bundle({"report.html": report, "verdicts.json": b"{}\n"}, {"runs": []}, workdir=workdir)
    out = tmp_path / "snap.zip"
    manifest = write_bundle(bundle, Ed25519PrivateKey.generate(), out)
    listed = {f["path"]: f["size"] for f in manifest["files"]}
    assert listed == {"report.html": (3 << 20) + 14, "verdicts.json": 3}
    assert verify_bundle(out).ok
    assert not report.exists()  # the temporary folder goes once the bundle is written
    with zipfile.ZipFile(out) as z:
        assert z.read("report.html").endswith(b"x</html>\n")


@pytest.mark.parametrize("at_once", [1, 2, 3, 20_000])  # rows sorted at once: below 7, sorted files merged
def test_finding_rows_on_disk_read_back_in_both_orders(tmp_path, at_once) -> None:
    rows = [
        {"check_id": "b", "resource_id": "/R/x", "status": "pass", "requirements": [1]},
        {"check_id": "a", "resource_id": "/r/y", "status": "fail", "requirements": [2]},
        {"check_id": "a", "resource_id": "/R/z", "status": "fail", "requirements": [3]},
        {"check_id": "a", "resource_id": "/r/a", "status": "error", "requirements": []},
        {"check_id": "a", "resource_id": "/R/Z", "status": "fail", "requirements": [4]},  # equal keys: kept in order
        {"check_id": "a", "resource_id": "/r/y", "status": "fail", "requirements": [5]},
        {"check_id": "a", "resource_id": "/R/z", "status": "fail", "requirements": [6]},
    ]
    order = {"fail": 0, "error": 1, "pass": 2}
    key = lambda f: (order[f["status"]], f["check_id"], f["resource_id"].lower())  # noqa: E731
    kept = FindingRows(tmp_path / "rows.jsonl", iter(rows), key=key, at_once=at_once)
    assert len(kept) == 7 and kept
    assert list(kept) == sorted(rows, key=key)
    assert [f["requirements"] for f in kept] == [[2], [5], [3], [4], [6], [], [1]]
    assert list(kept) == list(kept)  # read as often as needed
    assert list(ranked_findings(kept)) == ranked_findings(rows)  # the reports' own order, resource case kept
    assert [f["resource_id"] for f in ranked_findings(kept)][:3] == ["/R/Z", "/R/z", "/R/z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl", "rows.jsonl.ranked"]  # no sorted file left
    empty = FindingRows(tmp_path / "none.jsonl", iter([]), key=key, at_once=at_once)
    assert len(empty) == 0 and not empty and list(empty) == list(empty.ranked()) == []


def test_the_printed_report_lists_at_most_so_many_failures_per_check(requirements) -> None:
    failing = [
        {"check_id": "storage-min-tls-1-2", "resource_id": f"/subscriptions/s/storageAccounts/st{i:02d}",
         "status": "fail", "requirements": [123 + i % 2], "reason_ja": "TLS1_0", "reason_en": "TLS1_0",
         "evidence": [f"evidence/st{i}.json"]}
        for i in range(12)
    ]  # fmt: skip
    args = {"attestations": ATTESTATIONS, "errors": ERRORS, "meta": META, "lang": "ja"}
    findings = [*FINDINGS, *failing]
    full = parse_cells(render_report(requirements=requirements, findings=findings, **args)).rows["findings"][1:]
    assert len(full) == len(findings)  # report.html lists every one
    printed = render_report(
        requirements=requirements, findings=findings, passes_by_check=True, listed_per_check=5, **args
    )
    rows = [r for r in parse_cells(printed).rows["findings"][1:] if r[1] == "storage-min-tls-1-2"]
    assert [r[2] for r in rows[:5]] == [f"/subscriptions/s/storageAccounts/st{i:02d}" for i in range(5)]
    assert len(rows) == 6 and rows[5][0] == "不適合"
    assert rows[5][2].startswith("ほか 7 件のリソース") and rows[5][3] == "123, 124"


def test_evidence_refs_held_as_columns_read_back_as_they_were_given() -> None:
    at = datetime(2026, 3, 31, 9, 0, 0, 123456, tzinfo=UTC)
    refs = [
        EvidenceRef(f"{i:064x}", ("resource", "key_vault")[i % 2], f"/subscriptions/s/r{i}", "arm", at + timedelta(i))
        for i in range(5)
    ]
    again = EvidenceRef(refs[1].sha256, "resource", "/subscriptions/s/other", "graph", at)  # the first one is kept
    held = RefsBySha([*refs, again])
    assert len(held) == 5 and list(held) == [r.sha256 for r in refs]
    assert [held[r.sha256] for r in refs] == refs and held.get(refs[3].sha256) == refs[3]
    assert held.kinds() == {"resource": 3, "key_vault": 2}
    assert held.get("f" * 64) is None and held.get("not hex") is None


def test_the_inventory_sorted_on_disk_is_the_registers_own_order(tmp_path) -> None:
    at = datetime(2026, 3, 31, tzinfo=UTC)

    def resource(sub: str, kind: str, name: str) -> Evidence:
        rid = f"/subscriptions/{sub}/resourceGroups/rg/providers/{kind}/{name}"
        return Evidence("resource", "arm.resources", f"/subscriptions/{sub}", rid, "2021-04-01", "r", at,
                        {"id": rid, "name": name, "type": kind, "location": "japaneast"})  # fmt: skip

    documents = [
        resource(sub, kind, name)
        for name in ("b", "A", "a", "c")
        for sub in ("s2", "S1")
        for kind in ("Microsoft.Web/sites", "microsoft.storage/storageAccounts")
    ]
    expected = inventory_rows(documents, [], "owner")
    for at_once in (1, 3, 20_000):
        kept = SortedRows(tmp_path / f"inventory-{at_once}.jsonl", inventory_items(documents, [], "owner"),
                          inventory_order, at_once=at_once)  # fmt: skip
        assert list(kept) == expected and len(kept) == len(documents) == 16
