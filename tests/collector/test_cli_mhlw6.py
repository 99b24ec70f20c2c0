"""MHLW 6.0 references in `shoko checks`, `shoko explain` and `shoko status --by mhlw6`."""

from __future__ import annotations

import json

from collector.cli import main
from collector.mhlw6_view import by_mhlw6, summarise
from controls.mhlw6 import load_mhlw6


def _row(no: int, status: str) -> dict:
    return {"no": no, "status": status}


def test_a_group_shows_its_least_favourable_verdict_and_counts() -> None:
    assert summarise(["pass", "manual", "fail"]) == "fail"
    assert summarise(["attested", "partial"]) == "partial"
    assert summarise(["inherited", "not_applicable"]) == "inherited"
    assert summarise([]) is None
    # No 130 and 131 (time) sit under シス17③; No 128 under シス17① and 企画5①.
    rows = [_row(n, "pass") for n in range(1, 183)]
    rows[130 - 1] = _row(130, "fail")
    rows[128 - 1] = _row(128, "error")
    view = by_mhlw6(load_mhlw6(), rows)
    sys17 = next(c for c in view["chapters"] if c["id"] == "シス17")
    assert sys17["status"] == "fail" and sys17["counts"] == {"fail": 1, "error": 1, "pass": 4}
    items = {g["id"]: g for g in sys17["items"]}
    assert items["シス17③"]["status"] == "fail" and items["シス17③"]["counts"] == {"fail": 1, "pass": 1}
    assert items["シス17①"]["status"] == "error"
    kikaku5 = next(c for c in view["chapters"] if c["id"] == "企画5")
    assert {"no": 128, "status": "error"} in next(g for g in kikaku5["items"] if g["id"] == "企画5①")["requirements"]
    # Nothing is dropped: Nos without a 6.0 reference are listed, with the reason where one is recorded.
    unmapped = {r["no"]: r for r in view["not_mapped"]}
    assert 1 in unmapped and unmapped[1]["reason_en"] == "no MHLW 6.0 reference recorded"
    assert "development code" in unmapped[113]["reason_en"]
    cited = {r["no"] for c in view["chapters"] for g in c["items"] for r in g["requirements"]}
    assert cited | set(unmapped) == set(range(1, 183)) and not cited & set(unmapped)


def test_checks_show_their_6_0_references(capsys) -> None:
    assert main(["checks", "--json"]) == 0
    listed = {c["id"]: c for c in json.loads(capsys.readouterr().out)}
    sync = listed["vm-time-sync-compliant"]
    assert [r["id"] for r in sync["mhlw6"]] == ["シス17③"] and sync["mhlw6"][0]["status"] == "confirmed"
    assert sync["mhlw6"][0]["source"]["url"] == "https://wic-net.com/material/document/9466/53"
    assert listed["disk-encryption"]["mhlw6"] == [] and listed["disk-encryption"]["mhlw6_reason_en"]
    assert main(["checks", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "MHLW 6.0: シス13 ネットワークに関する安全管理措置, シス13:tls1.3? ネットワークに関する安全管理措置" in out
    assert "MHLW 6.0: none — no 6.0 遵守事項 on encrypting stored data" in out


def test_explain_and_status_by_mhlw6(collected, capsys) -> None:
    capsys.readouterr()
    assert main(["explain", "130", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in data["mhlw6"]] == ["シス17③"] and "時刻情報" in data["mhlw6"][0]["quote_ja"]
    assert main(["explain", "147"]) == 0
    out = capsys.readouterr().out
    assert "システム運用編 17 ① 証跡のレビュー・システム監査 [confirmed]" in out
    assert "METI/MIC 1.1 別紙2 p27" in out and "https://wic-net.com/material/document/9466/53" in out

    assert main(["status", "--by", "mhlw6", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["by"] == "mhlw6" and len(data["requirements"]) == 182  # the METI rows stay beside the grouping
    chapters = {c["id"]: c for c in data["mhlw6"]["chapters"]}
    by_no = {r["no"]: r["status"] for r in data["requirements"]}
    time_item = next(g for g in chapters["シス17"]["items"] if g["id"] == "シス17③")
    assert time_item["requirements"] == [{"no": 130, "status": by_no[130]}, {"no": 131, "status": by_no[131]}]
    assert time_item["source"]["page"] == 53
    assert summarise([by_no[130], by_no[131]]) == time_item["status"]
    assert main(["status", "--by", "mhlw6", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "システム運用編 17 Reviewing audit trails and system audit" in out
    assert "no MHLW 6.0 reference:" in out and "least favourable" in out
    assert "182 requirements:" in out  # the usual summary line still closes the view
    assert "judged by the mhlw6 guideline profile" in out


def test_status_shows_the_6_0_only_controls_of_a_mhlw6_run(collected, capsys) -> None:
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run"]["profile"] == "mhlw6"
    controls = {c["id"]: c for c in data["mhlw6_controls"]}
    assert set(controls) == {"シス14①:mfa", "シス11①:backup"}
    # The example estate breaks both: a jump host reachable on its public IP, a failed VM backup.
    assert controls["シス14①:mfa"]["status"] == "fail" and "vm-emr-jump-prod" in controls["シス14①:mfa"]["reason_en"]
    assert controls["シス11①:backup"]["status"] == "fail" and controls["シス11①:backup"]["findings"]["fail"] >= 1
    assert main(["status", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "MHLW 6.0 items with no 2012 No:" in out and "シス14①:mfa" in out
