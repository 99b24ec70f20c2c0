"""The MHLW 6.0 reference file: what it cites, that every check is accounted for, and the validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controls.catalog import EvidenceMode, load_catalog
from controls.checks import ALL_CHECKS
from controls.mhlw6 import DEFAULT_PATH, Mhlw6, Mhlw6Error, judge_controls, load_mhlw6
from controls.model import Finding, Status


@pytest.fixture(scope="module")
def refs() -> Mhlw6:
    return load_mhlw6()


# --- the packaged file -----------------------------------------------------------------------------


def test_every_check_has_a_confirmed_reference_or_a_reason(refs: Mhlw6) -> None:
    for c in ALL_CHECKS:
        mapping = refs.check(c.id)
        assert mapping is not None, f"{c.id} has no entry in {DEFAULT_PATH.name}"
        confirmed = [r for r in refs.refs_of_check(c.id) if r.confirmed]
        assert confirmed or (mapping.reason_ja and mapping.reason_en), c.id


def test_checks_with_a_reason_have_no_references(refs: Mhlw6) -> None:
    with_reason = {c.id for c in ALL_CHECKS if refs.check(c.id).reason_en}  # type: ignore[union-attr]
    assert with_reason == {
        "app-service-remote-debugging-off",
        "disk-encryption",
        "key-vault-recoverable",
        "key-vault-key-expiry-rotation",
        "sql-tde-enabled",
        "storage-encryption-at-rest",
    }
    assert all(refs.refs_of_check(c) == () for c in with_reason)


def test_automated_requirements_have_a_reference_or_a_reason(refs: Mhlw6) -> None:
    cat = load_catalog()
    without = set()
    for req in cat.with_mode(EvidenceMode.AUTOMATED):
        mapping = refs.requirement(req.number)
        assert mapping is not None, req.number
        if not mapping.refs:
            assert mapping.reason_ja and mapping.reason_en
            without.add(req.number)
    assert without == {113, 124, 126}


def test_every_reference_records_its_source(refs: Mhlw6) -> None:
    for ref in refs.references.values():
        assert ref.source.url.startswith("https://") and ref.source.page >= 1, ref.id
        assert ref.source.official_url.startswith(("https://www.mhlw.go.jp/", "https://www.soumu.go.jp/")), ref.id
        assert ref.source.title_ja
        if not ref.confirmed:
            assert ref.note, ref.id
        if not ref.is_chapter:
            assert ref.quote_ja and ref.summary_en
            assert ref.chapter_id in refs.references, ref.id  # every item's chapter is cited too
    for entry in refs.annex2.values():
        assert entry.url.startswith("https://") and all(r in refs.references for r in entry.maps_to)


def test_known_readings(refs: Mhlw6) -> None:
    # Read on the pages cited: logs, time, accounts, backups.
    assert "時刻情報は、信頼できるもの" in (refs["シス17③"].quote_ja or "")
    assert refs["シス17③"].source.url.endswith("/9466/53") and refs["シス17③"].confirmed
    assert [r.id for r in refs.refs_of_requirement(130)] == ["シス17③"]
    assert refs["シス14"].title_ja == "認証・認可に関する安全管理措置"
    assert "数世代バックアップ" in (refs["シス11①"].quote_ja or "")
    # The TLS 1.3 requirement is cited but not confirmed, and so never a check's only support.
    tls = refs["シス13:tls1.3"]
    assert not tls.confirmed and tls.item is None and "TLS1.3" in (tls.quote_ja or "")
    assert {r.id for r in refs.refs_of_check("storage-min-tls-1-2")} == {"シス13", "シス13:tls1.3"}
    assert refs["シス13"].confirmed
    # 別紙2 entries as read.
    assert [a.id for a in refs.annex2_of_requirement(88)] == ["別紙2-p29-①-1"]
    assert refs.annex2["別紙2-p27-①-12"].maps_to == ("シス10④",)


def test_labels_and_order(refs: Mhlw6) -> None:
    assert refs["シス14④"].label() == "システム運用編 14 ④ 認証・認可に関する安全管理措置"
    assert refs["企画5"].label() == "企画管理編 5 安全管理におけるエビデンス"
    ids = list(refs.references)
    assert ids.index("シス2") < ids.index("シス2②") < ids.index("シス5") < ids.index("企画4")
    assert [c.id for c in refs.chapters()][:3] == ["シス1", "シス2", "シス5"]
    assert [i.id for i in refs.items_of("シス14")] == ["シス14①", "シス14②", "シス14③", "シス14④"]


def test_one_cell_per_requirement_for_reports(refs: Mhlw6) -> None:
    assert refs.cell(128) == "シス17①; 企画5①"
    assert refs.cell(123) == "シス13; シス13:tls1.3?"
    assert refs.cell(113).startswith("none: no 6.0 遵守事項")
    assert refs.cell(1) == ""


def test_views_are_json_ready(refs: Mhlw6) -> None:
    view = refs.requirement_view(147)
    assert [r["id"] for r in view["mhlw6"]] == ["シス17①", "シス10④"]
    assert view["meti_mic_1_1_annex2"][0]["page"] == 27
    assert refs.check_view("disk-encryption")["mhlw6"] == []
    assert refs.check_view("disk-encryption")["mhlw6_reason_en"]
    assert refs.check_view("no-such-check")["mhlw6_recorded"] is False


def _finding(check_id: str, status: Status, resource: str = "r1") -> Finding:
    return Finding(check_id, (148,), status, resource, f"{resource} ja", f"{resource} {status.value}")


def test_6_0_only_controls_are_keyed_by_a_confirmed_reference_and_judged_from_findings(refs: Mhlw6) -> None:
    assert [(c.id, c.ref) for c in refs.controls] == [("シス14①:mfa", "シス14①"), ("シス11①:backup", "シス11①")]
    mfa = refs.controls[0]
    ran = [c.id for c in ALL_CHECKS]
    passing = [_finding(c, Status.PASS) for c in mfa.checks]
    judged = {c["id"]: c for c in judge_controls(refs, passing, ran)}
    # All passing is never more than partial: the checks prove one slice, the coverage says what remains.
    assert judged["シス14①:mfa"]["status"] == "partial" and "To attest" in judged["シス14①:mfa"]["reason_en"]
    assert judged["シス14①:mfa"]["label"] == "システム運用編 14 ① 認証・認可に関する安全管理措置"
    failing = [*passing, _finding("admin-mfa-required", Status.FAIL, "ca-policy")]
    assert judge_controls(refs, failing, ran)[0]["status"] == "fail"
    assert "ca-policy fail" in judge_controls(refs, failing, ran)[0]["reason_en"]
    erroring = [*passing, _finding("admin-mfa-required", Status.ERROR, "tenant")]
    assert judge_controls(refs, erroring, ran)[0]["status"] == "error"
    # Nothing judged, or a check that did not run, is an error, never a quiet pass.
    assert (
        judged["シス11①:backup"]["status"] == "error" and "nothing evaluated" in judged["シス11①:backup"]["reason_en"]
    )
    missing = judge_controls(refs, passing, [c for c in ran if c != "admin-mfa-required"])[0]
    assert missing["status"] == "error" and "admin-mfa-required did not run" in missing["reason_en"]


# --- validation -------------------------------------------------------------------------------------


def _doc() -> dict:
    return yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))


def _load(tmp_path: Path, doc: dict) -> Mhlw6:
    file = tmp_path / "mhlw.yaml"
    file.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_mhlw6(file)


def _error(tmp_path: Path, doc: dict) -> str:
    with pytest.raises(Mhlw6Error) as exc:
        _load(tmp_path, doc)
    message = str(exc.value)
    assert "\n" not in message and str(tmp_path) in message
    return message


def test_a_reference_to_an_unknown_item_is_refused(tmp_path: Path) -> None:
    doc = _doc()
    doc["checks"]["vm-time-sync-compliant"] = {"mhlw6": ["シス17⑨"]}
    assert "check vm-time-sync-compliant: 'mhlw6' names unknown 'シス17⑨'" in _error(tmp_path, doc)
    doc = _doc()
    doc["requirements"][0]["mhlw6"] = ["企画99"]
    assert "requirements No 2: 'mhlw6' names unknown '企画99'" in _error(tmp_path, doc)
    doc = _doc()
    doc["requirements"][0]["mhlw6"] = []
    assert "requirements No 2: neither 6.0 references nor a reason" in _error(tmp_path, doc)


def test_a_check_needs_a_confirmed_reference_or_a_reason(tmp_path: Path) -> None:
    doc = _doc()
    doc["checks"]["storage-min-tls-1-2"] = {"mhlw6": ["シス13:tls1.3"]}
    assert "no confirmed reference among シス13:tls1.3" in _error(tmp_path, doc)
    doc = _doc()
    doc["checks"]["storage-min-tls-1-2"] = {}
    assert "neither 6.0 references nor a reason" in _error(tmp_path, doc)
    doc = _doc()
    doc["checks"]["storage-min-tls-1-2"] = {"mhlw6": ["シス13"], "reason_ja": "x", "reason_en": "y"}
    assert "not both" in _error(tmp_path, doc)
    doc = _doc()
    doc["checks"]["disk-encryption"].pop("reason_en")
    assert "both reason_ja and reason_en" in _error(tmp_path, doc)


def test_unknown_checks_and_numbers_are_refused(tmp_path: Path) -> None:
    doc = _doc()
    doc["checks"]["no-such-check"] = {"mhlw6": ["シス13"]}
    assert "check no-such-check: no such check" in _error(tmp_path, doc)
    doc = _doc()
    doc["requirements"][0]["numbers"] = [183]
    assert "No 183 is not in the METI catalog" in _error(tmp_path, doc)
    doc = _doc()
    doc["requirements"][1]["numbers"] = [2]
    assert "No 2 is mapped twice" in _error(tmp_path, doc)


def test_sources_and_status_are_required(tmp_path: Path) -> None:
    doc = _doc()
    del doc["items"][0]["source"]
    assert "item シス2①: missing key 'source'" in _error(tmp_path, doc)
    doc = _doc()
    doc["items"][0]["source"]["document"] = "elsewhere"
    assert "source names unknown document 'elsewhere'" in _error(tmp_path, doc)
    doc = _doc()
    doc["items"][0]["source"]["url"] = "wic-net.com/x"
    assert "url must be an https:// address" in _error(tmp_path, doc)
    doc = _doc()
    doc["items"][0]["status"] = "unconfirmed"
    doc["items"][0].pop("note")
    assert "unconfirmed without a 'note'" in _error(tmp_path, doc)
    doc = _doc()
    tls = next(i for i in doc["items"] if i["id"] == "シス13:tls1.3")
    tls["status"] = "confirmed"
    assert "numeral is unknown cannot be confirmed" in _error(tmp_path, doc)


def test_controls_need_a_confirmed_reference_and_known_checks(tmp_path: Path) -> None:
    doc = _doc()
    doc["controls"][0]["ref"] = "シス13:tls1.3"
    assert "ref シス13:tls1.3 is unconfirmed" in _error(tmp_path, doc)
    doc = _doc()
    doc["controls"][0]["id"] = "mfa"
    assert "id must be its ref and a name" in _error(tmp_path, doc)
    doc = _doc()
    doc["controls"][0]["checks"] = ["no-such-check"]
    assert "control シス14①:mfa: 'checks' names unknown 'no-such-check'" in _error(tmp_path, doc)


def test_ids_must_match_their_chapter(tmp_path: Path) -> None:
    doc = _doc()
    doc["items"][0]["id"] = "シス99②"
    assert "chapter シス99 is not in 'chapters'" in _error(tmp_path, doc)
    doc = _doc()
    doc["chapters"][0]["id"] = "Sys1"
    assert "must be シス or 企画" in _error(tmp_path, doc)


def test_repeated_and_unknown_keys_name_the_line(tmp_path: Path) -> None:
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    file = tmp_path / "mhlw.yaml"
    file.write_text(text.replace("  vm-time-source-approved: {mhlw6: [シス17③]}",
                                 "  vm-time-source-approved: {mhlw6: [シス17③], mhlw6: [シス17③]}"),
                    encoding="utf-8")  # fmt: skip
    with pytest.raises(Mhlw6Error, match=r"line \d+: check vm-time-source-approved: key 'mhlw6' given twice"):
        load_mhlw6(file)
    doc = _doc()
    doc["chapters"][0]["page"] = 3
    assert "chapter シス1: unknown key 'page'" in _error(tmp_path, doc)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(Mhlw6Error, match="cannot read"):
        load_mhlw6(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("chapters: [\n", encoding="utf-8")
    with pytest.raises(Mhlw6Error, match="not valid YAML"):
        load_mhlw6(bad)
