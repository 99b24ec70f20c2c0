"""Rows as reports/contents.py hands them to the report writers: every No 1–182 from the catalog with each status
shoko knows, findings of each status, attestations, a collection error, run metadata."""

from __future__ import annotations

from pathlib import Path

import yaml

CATALOG = Path(__file__).resolve().parents[2] / "controls" / "frameworks" / "meti-2012.yaml"
PROD = "/subscriptions/a8233bec-16ce-49d8-af36-5decabf6c438/resourceGroups/rg-emr-prod"
KV = f"{PROD}/providers/Microsoft.KeyVault/vaults/kv-aozora-emr"
STORAGE = f"{PROD}/providers/Microsoft.Storage/storageAccounts/staozoraemrlogs"
EVIDENCE_KV = "evidence/run-0007/key_vault/kv-aozora-emr.json"
EVIDENCE_ST = "evidence/run-0007/storage_account/staozoraemrlogs.json"
DIGEST = "sha256:" + "3f" * 32

STATUS_BY_NO = {
    124: "fail",
    125: "error",
    60: "partial",
    61: "pass",
    1: "attested",
    15: "expired",
    30: "inherited",
    45: "not_applicable",
}


def _entries() -> list[dict]:
    return yaml.safe_load(CATALOG.read_text(encoding="utf-8"))["requirements"]


def _requirement(entry: dict) -> dict:
    no = entry["number"]
    status = STATUS_BY_NO.get(no, "manual")
    reason_ja, reason_en = "要証明: 手順書の提示が必要です。", "To attest: show the procedure."
    evidence, coverage = [], None
    if no == 124:
        reason_ja = "キー コンテナー kv-aozora-emr の properties.enablePurgeProtection が false です（true が必要）。"
        reason_en = "Key vault kv-aozora-emr has properties.enablePurgeProtection false (true is required)."
        evidence, coverage = [EVIDENCE_KV, EVIDENCE_ST], "full"
    elif no == 125:
        reason_ja = '=HYPERLINK("http://example.invalid","x") ストレージの取得が 403 で失敗しました。'
        reason_en = "=1+1 the storage read failed with 403."
        coverage = "partial"
    elif no == 60:
        coverage = "supporting"
    return {
        "no": no,
        "section": entry["section"],
        "item": entry.get("item"),
        "title_ja": entry["title_ja"],
        "title_en": entry["title_en"],
        "answer": "当社は、第三者認定としてプライバシーマークを取得しています。" if no == 1 else None,
        "source_mark": {"blank": ""}.get(entry["source_mark"], entry["source_mark"]),
        "status": status,
        "reason_ja": reason_ja,
        "reason_en": reason_en,
        "evidence": evidence,
        "last_checked": "2026-12-02T08:00:00+00:00" if status in ("pass", "fail", "error", "partial") else None,
        "coverage": coverage,
    }


FINDINGS = [
    {
        "check_id": "key-vault-recoverable",
        "resource_id": f"{PROD}/providers/Microsoft.KeyVault/vaults/kv-aozora-dr",
        "status": "pass",
        "requirements": [124],
        "reason_ja": "キー コンテナー kv-aozora-dr は消去保護が有効です。",
        "reason_en": "Key vault kv-aozora-dr has purge protection enabled.",
        "evidence": [EVIDENCE_KV],
    },
    {
        "check_id": "storage-https-only",
        "resource_id": STORAGE,
        "status": "error",
        "requirements": [125, 126],
        "reason_ja": "ストレージ アカウントを取得できませんでした（403）。",
        "reason_en": "The storage account could not be read (403).",
        "evidence": [],
    },
    {
        "check_id": "key-vault-recoverable",
        "resource_id": KV,
        "status": "fail",
        "requirements": [124],
        "reason_ja": "キー コンテナー kv-aozora-emr は消去保護が無効です。",
        "reason_en": "Key vault kv-aozora-emr has purge protection disabled.",
        "evidence": [EVIDENCE_KV],
    },
]
ATTESTATIONS = [
    {
        "id": "att-privacy-mark",
        "requirements": [1],
        "owner": "情報セキュリティ委員会 佐藤",
        "attested_on": "2026-04-01",
        "valid_until": "2027-03-31",
        "statement_ja": "プライバシーマーク（登録番号 第10824469(02)号）を取得・維持しています。",
        "statement_en": "The Privacy Mark (registration 10824469(02)) is held and kept current.",
        "state": "valid",
        "documents": ["attestations/att-privacy-mark/privacy-mark-certificate.pdf"],
    },
    {
        "id": "att-training-2025",
        "requirements": [15, 16],
        "owner": "人事部 鈴木",
        "attested_on": "2025-10-01",
        "valid_until": "2026-09-30",
        "statement_ja": "全従業員に年1回のセキュリティ教育を実施しました。",
        "statement_en": "All staff completed the yearly security training.",
        "state": "expired",
        "documents": [],
    },
]
ERRORS = [
    {
        "kind": "storage_account",
        "source": "storage",
        "scope": "/subscriptions/a8233bec-16ce-49d8-af36-5decabf6c438",
        "code": "AuthorizationFailed",
        "status_code": 403,
        "message": "The client does not have authorization to perform action "
        "'Microsoft.Storage/storageAccounts/read'.\x07",
        "request_id": "6f0b1c3e-2d4a-4b7e-9c1f-0a2b3c4d5e6f",
        "occurred_at": "2026-12-02T07:58:12+00:00",
    }
]
META = {
    "as_of": "2026-12-02T08:00:00+00:00",
    "generated_at": "2026-12-02T08:05:00Z",
    "shoko_version": "0.9.0",
    "catalog_version": "meti-2012 r14",
    "runs": [{"id": 7, "finished_at": "2026-12-02T08:00:00+00:00", "digest": DIGEST}],
}


def sample_requirements() -> list[dict]:
    return [_requirement(e) for e in _entries()]
