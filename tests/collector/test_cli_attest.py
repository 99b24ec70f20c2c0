"""`shoko attest`: record, import, list, revoke, fetch a document; the next collection judges with them."""

from __future__ import annotations

import json
from pathlib import Path

from collector.cli import main
from sandbox.server import Sandbox
from tests.collector.conftest import EMR

SHEET = """\
attestations:
- id: ATT-2026-001
  requirements: [13, 14]
  owner: 情報セキュリティ委員会
  attested_on: 2026-04-01
  valid_until: 2099-03-31
  statement_ja: 方針を承認済み
  statement_en: policies approved
  documents: [minutes.pdf]
- id: ATT-2025-009
  requirements: [182]
  owner: BCP 責任者
  attested_on: 2025-04-01
  valid_until: 2025-09-30
  statement_ja: 計画を見直した
  statement_en: plan reviewed
"""


def test_attestations_recorded_then_judged_by_the_next_collection(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path}/shoko.db")
    monkeypatch.setenv("SHOKO_ACTOR", "compliance-owner")
    (tmp_path / "minutes.pdf").write_bytes(b"%PDF-1.4 minutes")
    (tmp_path / "sheet.yaml").write_text(SHEET, encoding="utf-8")
    assert main(["attest", "import", str(tmp_path / "sheet.yaml")]) == 0
    assert "recorded: ATT-2026-001  No 13, 14" in capsys.readouterr().out
    assert main(["attest", "import", str(tmp_path / "sheet.yaml")]) == 0  # the same sheet again adds nothing
    assert "already recorded: ATT-2025-009" in capsys.readouterr().out
    assert main([
        "attest", "add", "--requirements", "1", "--owner", "個人情報保護管理者", "--statement-ja", "Pマーク取得",
        "--statement-en", "Privacy Mark held", "--valid-until", "2099-01-01", "--attested-on", "2026-01-01",
    ]) == 0  # fmt: skip
    added = capsys.readouterr().out
    assert added.startswith("recorded: ATT-") and "No 1 " in added

    assert main(["attest", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["ATT-2026-001"]["state"] == "valid" and rows["ATT-2026-001"]["recorded_by"] == "compliance-owner"
    assert rows["ATT-2025-009"]["state"] == "expired"
    assert main(["attest", "document", "ATT-2026-001", "minutes.pdf", "--out", str(tmp_path / "out.pdf")]) == 0
    assert (tmp_path / "out.pdf").read_bytes() == b"%PDF-1.4 minutes"

    with Sandbox.from_file(EMR) as sb:
        info = tmp_path / "sandbox.json"
        info.write_text(json.dumps(sb.info.to_dict()), encoding="utf-8")
        assert main(["collect", "--sandbox-info", str(info)]) == 0
        capsys.readouterr()
        assert main(["status", "--json"]) == 0
        verdicts = {v["no"]: v for v in json.loads(capsys.readouterr().out)["requirements"]}
        assert verdicts[13]["status"] == "attested" and verdicts[14]["status"] == "attested"
        assert verdicts[182]["status"] == "expired" and verdicts[1]["status"] == "attested"

        # Revoked: the next run no longer counts it; the ledger keeps the record and still verifies.
        assert main(["attest", "revoke", "ATT-2026-001", "--reason", "方針改訂"]) == 0
        assert main(["collect", "--sandbox-info", str(info)]) == 0
        capsys.readouterr()
        assert main(["status", "--json"]) == 0
        verdicts = {v["no"]: v for v in json.loads(capsys.readouterr().out)["requirements"]}
    assert verdicts[13]["status"] == "manual"
    assert main(["verify"]) == 0
    assert "attestation record(s) verified" in capsys.readouterr().out


def test_bad_input_is_one_line_exit_2(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path}/shoko.db")
    (tmp_path / "notes.exe").write_bytes(b"MZ")
    code = main([
        "attest", "add", "--requirements", "1", "--owner", "o", "--statement-ja", "a", "--statement-en", "b",
        "--valid-until", "2099-01-01", "--document", str(tmp_path / "notes.exe"),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "is not accepted (allowed: .csv, .docx" in err and err.count("\n") == 1


def test_an_attestation_near_expiry_is_drift_once(tmp_path: Path, monkeypatch, capsys):
    from datetime import date, timedelta

    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path}/shoko.db")
    soon = (date.today() + timedelta(days=10)).isoformat()
    assert main([
        "attest", "add", "--id", "ATT-SOON", "--requirements", "165", "--owner", "人事部",
        "--statement-ja", "教育済み", "--statement-en", "trained", "--valid-until", soon, "--attested-on", "2026-01-01",
    ]) == 0  # fmt: skip
    with Sandbox.from_file(EMR) as sb:
        info = tmp_path / "sandbox.json"
        info.write_text(json.dumps(sb.info.to_dict()), encoding="utf-8")
        assert main(["collect", "--sandbox-info", str(info)]) == 0
        assert main(["collect", "--sandbox-info", str(info)]) == 0
    capsys.readouterr()
    assert main(["drift", "--json"]) == 0
    events = [e for e in json.loads(capsys.readouterr().out) if e["kind"] == "attestation_expiring"]
    assert len(events) == 1 and events[0]["run"] == 1 and events[0]["resource_id"] == "attestation:ATT-SOON"
    assert f"expires on {soon}, in 10 day(s)" in events[0]["reason_en"]
