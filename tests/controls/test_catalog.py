"""The packaged requirement catalog and the validation that guards it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from controls.catalog import (
    DEFAULT_PATH,
    MARK_NOT_EXTRACTED,
    Catalog,
    CatalogError,
    Coverage,
    EvidenceMode,
    Requirement,
    Responsibility,
    load_catalog,
)

AUTOMATED = {37, 48, 61, 62, 67, 72, 73, 74, 86, 87, 90, 91, 92, 93, 94, 96, 112, 113, 117, 118, 119, 123, 124,
             125, 126, 128, 129, 130, 131, 132, 138, 140, 142, 144, 145, 146, 147, 148, 149, 151, 155, 158,
             159, 179}  # fmt: skip
# Checks whose findings support a claim they cannot decide (the rest needs a person's attestation).
SUPPORTED = {18: ("resource-region-allowed",), 97: ("nsg-flow-logs-enabled", "log-query-alerts-enabled"),
             135: ("pim-activation-requires-mfa-and-approval",),
             141: ("privileged-role-assignments-max", "global-admin-count"),
             178: ("sql-database-zone-redundant", "app-service-plan-zone-redundant"),
             181: ("site-recovery-test-failover-recent",)}  # fmt: skip
# Rows with no answer or mark of their own whose ○ row's merged answer covers them, read as shared.
MERGED_SHARED = {10, 76, 77, 87, 90, 91, 92, 93, 96, 114, 134, 137, 146, 147, 148, 171, 176, 177, 178, 182}
# Case (2) of 2.5.2 (rack space rented in a data centre): the vendor answers under case (3).
RENTED_RACK = {31, 32, 33, 34, 35}


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


# --- the packaged catalog ------------------------------------------------------------------------


def test_every_number_once_in_order(cat: Catalog) -> None:
    assert len(cat) == 182
    assert [r.number for r in cat] == list(range(1, 183))
    assert cat.numbers() == tuple(range(1, 183))
    assert all(isinstance(r, Requirement) for r in cat)


def test_lookup_by_number(cat: Catalog) -> None:
    assert cat[86].number == 86
    assert 86 in cat and 0 not in cat and "86" not in cat
    assert cat.get(183) is None
    for bad in (0, 183, -1, "86", True, 86.0):
        with pytest.raises(KeyError):
            cat[bad]  # type: ignore[index]


def test_no_1_is_the_certification_item(cat: Catalog) -> None:
    r = cat[1]
    assert (r.section, r.item, r.source_mark) == ("2.1", None, "○")
    assert "認証" in r.section_title_ja
    assert r.responsibility is Responsibility.SHARED and r.evidence_mode is EvidenceMode.MANUAL
    assert "Privacy Mark" in (r.manual_evidence_en or "")


def test_network_items_86_87_in_2_6_6(cat: Catalog) -> None:
    for number, item in ((86, "(1)"), (87, "(2)")):
        r = cat[number]
        assert (r.section, r.item) == ("2.6.6", item)
        assert r.section_title_ja == "ネットワークセキュリティ管理"
    # 86: NSGs and client certificates evidence part of the boundary's access control.
    assert cat[86].evidence_mode is EvidenceMode.AUTOMATED and cat[86].coverage is Coverage.PARTIAL
    assert {"nsg-no-internet-management-ports", "app-service-client-cert-required"} <= set(cat[86].checks)
    assert {"app-service-access-restricted", "app-service-scm-restricted"} <= set(cat[86].checks)
    perimeter = {"subnet-nsg-attached", "vm-nsg-covered", "vm-no-public-ip"}
    assert set(cat[86].checks) >= {"nsg-no-internet-management-ports", "app-service-client-cert-required"} | perimeter
    assert "NSG" in (cat[86].evidence_hint_en or "") and "client-certificate" in (cat[86].evidence_hint_en or "")
    # 87 asks for blocking illegitimate source addresses: private address space and the NSG check prove a slice.
    assert cat[87].evidence_mode is EvidenceMode.AUTOMATED and cat[87].coverage is Coverage.PARTIAL
    assert set(cat[87].checks) >= {"vnet-private-address-space", "nsg-no-internet-management-ports"}


def test_coverage_of_every_automated_requirement(cat: Catalog) -> None:
    for r in cat:
        if r.evidence_mode is EvidenceMode.AUTOMATED:
            assert r.checks and r.coverage in (Coverage.FULL, Coverage.PARTIAL), r.number
        else:
            assert r.checks == () and r.coverage is None, r.number
        if r.coverage is Coverage.PARTIAL:
            # What the checks prove and what a person must still attest, in both languages.
            assert r.coverage_ja and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", r.coverage_ja), r.number
            assert r.coverage_en and r.coverage_en.isascii() and len(r.coverage_en) > 40, r.number
            assert "確認" in r.coverage_ja and "要証明" in r.coverage_ja, r.number
            assert "Checked:" in r.coverage_en and "To attest:" in r.coverage_en, r.number
        else:
            assert r.coverage_ja is None and r.coverage_en is None, r.number
    assert {n: cat[n].supporting_checks for n in SUPPORTED} == SUPPORTED
    assert {r.number for r in cat if r.supporting_checks} == set(SUPPORTED)


def test_no_99_vpn_is_not_applicable(cat: Catalog) -> None:
    r = cat[99]
    assert r.responsibility is Responsibility.NOT_APPLICABLE
    assert r.evidence_mode is EvidenceMode.NOT_APPLICABLE
    assert r.source_mark == "—"
    assert "VPN" in (r.reason_en or "") and "VPN" in (r.reason_ja or "")


def test_only_8_9_160_have_inferred_numbers(cat: Catalog) -> None:
    assert {r.number for r in cat if r.inferred_number} == {8, 9, 160}
    for number in (8, 9, 160):
        assert "position" in (cat[number].note or "")
    # Neighbours: 2.2.2 runs (1)..(6) over No 7–12; 160 opens 2.6.15 before 161 = (1).
    assert [cat[n].item for n in range(7, 13)] == [f"({i})" for i in range(1, 7)]
    assert {cat[n].section for n in range(7, 13)} == {"2.2.2"}
    assert (cat[159].section, cat[159].item) == ("2.6.14", "(22)")
    assert (cat[160].section, cat[160].item) == ("2.6.15", None)
    assert (cat[161].section, cat[161].item) == ("2.6.15", "(1)")


def test_section_spot_checks_against_the_reference(cat: Catalog) -> None:
    # (No, section, item) read off the answer sheet's section boundaries.
    expected = [
        (2, "2.2.1", "(1)"),
        (13, "2.3", "(1)"),
        (18, "2.4", None),
        (19, "2.5.1", "(1)"),
        (36, "2.5.2", "(3)"),
        (37, "2.5.3", "(1)"),
        (49, "2.5.3", "(13)"),
        (50, "2.5.4", "(1)"),
        (56, "2.6.1", "(1)"),
        (100, "2.6.7", "(1)"),
        (123, "2.6.11", "(1)"),
        (128, "2.6.12", "(1)"),
        (138, "2.6.14", "(1)"),
        (164, "2.7", "(1)"),
        (172, "2.9", None),
        (173, "2.10.1", "(1)"),
        (182, "2.10.2", "(3)"),
    ]
    assert [(n, cat[n].section, cat[n].item) for n, _, _ in expected] == expected


def test_sections_are_contiguous_and_in_guideline_order(cat: Catalog) -> None:
    def key(section: str) -> tuple[int, ...]:
        return tuple(int(p) for p in section.split("."))

    sections = [r.section for r in cat]
    assert [key(s) for s in sections] == sorted(key(s) for s in sections)
    for section in set(sections):
        numbers = [r.number for r in cat.in_section(section)]
        assert numbers == list(range(numbers[0], numbers[-1] + 1)), section
        items = [int(r.item[1:-1]) for r in cat.in_section(section) if r.item]
        assert items == sorted(items), section  # 2.5.2 repeats (1)/(2) for its bullets


def test_evidence_modes(cat: Catalog) -> None:
    assert {r.number for r in cat.with_mode(EvidenceMode.AUTOMATED)} == AUTOMATED
    for r in cat:
        if r.evidence_mode is EvidenceMode.AUTOMATED:
            assert r.evidence_hint_ja and r.evidence_hint_en
        if r.evidence_mode is EvidenceMode.MANUAL:
            assert r.manual_evidence_ja and r.manual_evidence_en
        if r.evidence_mode is EvidenceMode.INHERITED:
            assert r.responsibility is Responsibility.AZURE
        if r.responsibility is Responsibility.NOT_APPLICABLE:
            assert r.evidence_mode is EvidenceMode.NOT_APPLICABLE and r.reason_ja and r.reason_en
    assert {r.number for r in cat.with_mode("not_applicable")} == {*RENTED_RACK, 99, 101, 102, 103, 104, 105, 107, 111}


def test_physical_items_are_inherited_from_azure(cat: Catalog) -> None:
    # Data-centre building and entry, and disk disposal, are Microsoft's in the reference.
    for number in (*range(19, 31), 41, 46, 50, 53, 98, 106, 170):
        assert cat[number].responsibility is Responsibility.AZURE, number
    # A ○ that the operator answers for its own virtual layer stays shared; so does the backup site
    # (No 179), whose geo-redundancy and failover the operator chooses in Azure.
    assert cat[48].responsibility is cat[179].responsibility is Responsibility.SHARED


def test_marks_follow_the_column(cat: Catalog) -> None:
    marks = {r.number: r.source_mark for r in cat}
    assert marks[99] == marks[111] == "—"
    assert {n for n, m in marks.items() if m == "—"} == {99, 111}
    assert {n for n, m in marks.items() if m == MARK_NOT_EXTRACTED} == {123}
    assert marks[16] == marks[96] == marks[182] == "blank"
    assert marks[97] == marks[138] == marks[169] == "○"
    for r in cat:
        if r.source_mark == "○":
            assert r.responsibility is not Responsibility.CUSTOMER, r.number
        if r.responsibility is Responsibility.SHARED and r.source_mark != "○":
            # The ○ of a merged answer cell above, or a mark cell the extraction lost; the note says which.
            assert r.number in MERGED_SHARED | {123}, r.number
            assert "○" in (r.note or ""), r.number
    # A blank row reads customer only where the sheet gives it an answer of its own without a mark.
    blank_customer = {r.number for r in cat if r.source_mark == "blank" and r.responsibility is Responsibility.CUSTOMER}
    assert blank_customer == {16, 160}


def test_corrected_readings_of_the_answer_sheet(cat: Catalog) -> None:
    # No 123: the extracted row is shifted a column and lost its mark cell; its neighbours carry ○.
    r = cat[123]
    assert (r.responsibility, r.source_mark) == (Responsibility.SHARED, MARK_NOT_EXTRACTED)
    assert r.evidence_mode is EvidenceMode.AUTOMATED and r.coverage is Coverage.PARTIAL and r.checks
    assert "2.6.11. 暗号による管理策" in (r.note or "")
    # No 169: marked ○, the operator bans removable media and refers physical disks to Microsoft.
    r = cat[169]
    assert (r.responsibility, r.evidence_mode, r.source_mark) == (Responsibility.SHARED, EvidenceMode.MANUAL, "○")
    assert r.reason_ja is None and "No 100" in (r.manual_evidence_en or "")
    assert "No169～No171" in (r.note or "")
    # No 179: Microsoft keeps the facilities; the operator chooses geo-redundancy and failover.
    r = cat[179]
    assert (r.responsibility, r.evidence_mode, r.source_mark) == (Responsibility.SHARED, EvidenceMode.AUTOMATED, "○")
    assert "geo" in (r.coverage_en or "") and "ファシリティ面" in (r.note or "")
    # No 31–35: case (2) of 2.5.2 is not the vendor's; it answers under case (3) (No 36, shared).
    for number in sorted(RENTED_RACK):
        r = cat[number]
        assert (r.responsibility, r.source_mark) == (Responsibility.NOT_APPLICABLE, "blank"), number
        assert "(3)" in (r.reason_ja or "") and "(2)" in (r.reason_ja or ""), number
        assert "case (3)" in (r.reason_en or "") and "rack space" in (r.reason_en or ""), number
    assert "No 36" in (cat[31].reason_en or "")
    assert cat[36].responsibility is Responsibility.SHARED
    # Merged answer cells: the ○ above applies; evidence modes are kept.
    for number in sorted(MERGED_SHARED):
        r = cat[number]
        assert (r.responsibility, r.source_mark) == (Responsibility.SHARED, "blank"), number
        assert "「" in (r.note or "") and "applies here too" in (r.note or ""), number
    merged_automated = {n for n in MERGED_SHARED if cat[n].evidence_mode is EvidenceMode.AUTOMATED}
    assert merged_automated == {87, 90, 91, 92, 93, 96, 146, 147, 148}
    assert cat[133].responsibility is Responsibility.SHARED and "not shifted" in (cat[133].note or "")
    # Notes quote the sheet: Japanese in 「」 inside an English line.
    for number in (10, 11, 31, 34, 73, 100, 123, 169, 179):
        note = cat[number].note or ""
        assert "「" in note and "」" in note and re.search(r"[A-Za-z]{4}", note), number


def test_titles_carry_every_part_of_the_requirement(cat: Catalog) -> None:
    parts = {
        11: (("ラベル", "承認"), ("Label", "approval")),
        31: (("(1)", "不正操作"), ("(1)", "tampering")),
        34: (("事前連絡", "影響"), ("advance notice", "not affect")),
        73: (
            ("リアルタイム", "定期", "媒体", "更新", "管理者以外"),
            ("real time", "schedule", "media", "update", "non-administrators"),
        ),
        100: (("持ち出さず", "追記不能", "廃棄"), ("off-site", "write-once", "destroy")),
    }
    for number, (ja, en) in parts.items():
        r = cat[number]
        assert all(p in r.title_ja for p in ja), (number, r.title_ja)
        assert all(p in r.title_en for p in en), (number, r.title_en)


def test_titles_are_single_lines_in_both_languages(cat: Catalog) -> None:
    for r in cat:
        assert "\n" not in r.title_ja and "\n" not in r.title_en
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", r.title_ja), r.number
        assert r.title_en.isascii(), r.number


def test_load_from_an_explicit_path(tmp_path: Path) -> None:
    copy = tmp_path / "copy.yaml"
    shutil.copy(DEFAULT_PATH, copy)
    loaded = load_catalog(copy)
    assert loaded.source == copy and len(loaded) == 182
    assert load_catalog(str(copy))[99].reason_en == load_catalog()[99].reason_en


# --- validation ----------------------------------------------------------------------------------


def entry(number: int, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "number": number,
        "section": "2.6.6",
        "section_title_ja": "ネットワークセキュリティ管理",
        "item": "(1)",
        "title_ja": "テスト項目",
        "title_en": "Test item",
        "responsibility": "customer",
        "evidence_mode": "manual",
        "source_mark": "blank",
        "manual_evidence_ja": "記録",
        "manual_evidence_en": "A record",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()
# A valid automated entry's keys, to override one at a time.
_AUTO: dict[str, Any] = {
    "evidence_mode": "automated",
    "manual_evidence_ja": _DROP,
    "manual_evidence_en": _DROP,
    "evidence_hint_ja": "TLS",
    "evidence_hint_en": "TLS",
    "checks": ["sql-min-tls-1-2"],
    "coverage": "full",
}


def write(tmp_path: Path, entries: list[dict[str, Any]] | None = None, raw: str | None = None) -> Path:
    path = tmp_path / "bad-catalog.yaml"
    if raw is None:
        raw = yaml.safe_dump({"requirements": entries}, allow_unicode=True, sort_keys=False)
    path.write_text(raw, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    return message


@pytest.mark.parametrize(
    ("entries", "no", "problem"),
    [
        ([entry(1, colour="red")], 1, "unknown key 'colour'"),
        ([entry(1), entry(2), entry(2)], 2, "duplicate number (first at line"),
        ([entry(1), entry(183)], 183, "number outside 1–182"),
        ([entry(1), entry(0)], 0, "number outside 1–182"),
        ([entry(1), entry(3), entry(2)], 2, "out of order after No 3"),
        ([entry(5, responsibility="vendor")], 5, "responsibility must be one of customer, azure, shared"),
        ([entry(5, evidence_mode="robotic")], 5, "evidence_mode must be one of automated, manual"),
        ([entry(5, source_mark="x")], 5, "source_mark must be one of ○, —, blank, not_extracted"),
        ([entry(5, source_mark="not_extracted")], 5, "source_mark not_extracted but there is no note"),
        (
            [entry(86, evidence_mode="automated", manual_evidence_ja=_DROP, manual_evidence_en=_DROP)],
            86,
            "automated item without 'evidence_hint_ja'",
        ),
        (
            [
                entry(
                    86,
                    evidence_mode="automated",
                    manual_evidence_ja=_DROP,
                    manual_evidence_en=_DROP,
                    evidence_hint_ja="NSG",
                )
            ],
            86,
            "automated item without 'evidence_hint_en'",
        ),
        (
            [
                entry(
                    99,
                    responsibility="not_applicable",
                    evidence_mode="not_applicable",
                    manual_evidence_ja=_DROP,
                    manual_evidence_en=_DROP,
                )
            ],
            99,
            "not_applicable item without 'reason_ja'",
        ),
        ([entry(99, responsibility="not_applicable")], 99, "responsibility not_applicable goes with"),
        ([entry(7, manual_evidence_en=_DROP)], 7, "manual item without 'manual_evidence_en'"),
        ([entry(7, reason_en="because")], 7, "'reason_en' is only for not_applicable items"),
        ([entry(19, responsibility="azure")], 19, "evidence_mode inherited goes with responsibility azure"),
        ([entry(8, inferred_number=True)], 8, "inferred_number is true but there is no note"),
        ([entry(8, inferred_number="yes please")], 8, "inferred_number must be true or false"),
        ([entry(3, section=2.1)], 3, "section must be quoted text"),
        ([entry(3, section="3.1.x")], 3, "does not look like a guideline section"),
        ([entry(3, item="1")], 3, "item must be null or a label"),
        ([entry(3, title_en="")], 3, "'title_en' must be non-empty text"),
        ([entry(3, title_en="two\nlines")], 3, "'title_en' must be one line"),
        ([entry(3, title_ja=_DROP)], 3, "missing key 'title_ja'"),
        ([entry(1), entry(2, section_title_ja="別名")], 2, "section_title_ja of 2.6.6 differs from No 1"),
        ([entry(1), entry(3)], 2, "missing: every No 1–182 must appear exactly once; 179 more missing"),
        ([entry(86, **{**_AUTO, "checks": _DROP})], 86, "automated item without 'checks'"),
        ([entry(86, **{**_AUTO, "coverage": _DROP})], 86, "automated item without 'coverage' (full or partial)"),
        ([entry(86, **{**_AUTO, "coverage": "most"})], 86, "coverage must be one of full, partial; got 'most'"),
        ([entry(86, **{**_AUTO, "checks": ["no-such-check"]})], 86, "'checks' names unknown check 'no-such-check'"),
        ([entry(86, **{**_AUTO, "checks": "sql-min-tls-1-2"})], 86, "'checks' must be a list of check ids"),
        ([entry(86, **{**_AUTO, "checks": ["sql-min-tls-1-2"] * 2})], 86, "'checks' names a check twice"),
        ([entry(86, **{**_AUTO, "coverage": "partial"})], 86, "partial coverage without 'coverage_ja'"),
        ([entry(86, **{**_AUTO, "coverage_ja": "確認"})], 86, "'coverage_ja' is only for partial coverage"),
        ([entry(7, checks=["sql-min-tls-1-2"])], 7, "'checks' is only for automated items (this one is manual)"),
        ([entry(7, coverage="full")], 7, "'coverage' is only for automated items"),
        (
            [entry(86, **{**_AUTO, "supporting_checks": ["sql-min-tls-1-2"]})],
            86,
            "'supporting_checks' is only for manual items (this one is automated)",
        ),
        ([entry(7, supporting_checks=["nope"])], 7, "'supporting_checks' names unknown check 'nope'"),
    ],
)
def test_each_problem_is_one_line_naming_file_no_and_problem(
    tmp_path: Path, entries: list[dict[str, Any]], no: int, problem: str
) -> None:
    message = error_of(write(tmp_path, entries))
    assert re.search(rf": No {no}\b", message), message
    assert problem in message, message


def test_line_numbers_point_at_the_entry(tmp_path: Path) -> None:
    path = write(tmp_path, [entry(1), entry(2, colour="red")])
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "number: 2" in text)
    assert f"No 2 (line {line}): unknown key 'colour'" in error_of(path)


def test_repeated_key_is_refused_not_silently_overwritten(tmp_path: Path) -> None:
    raw = yaml.safe_dump({"requirements": [entry(4)]}, allow_unicode=True, sort_keys=False)
    raw = raw.replace("  title_en: Test item\n", "  title_en: Test item\n  title_en: Other\n")
    message = error_of(write(tmp_path, raw=raw))
    assert "No 4" in message and "key 'title_en' given twice" in message


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "empty file"),
        ("- 1\n- 2\n", "top level must be a mapping"),
        ("requirements: []\n", "'requirements' must be a non-empty list"),
        ("requirements: [1]\nextra: 2\n", "unknown top-level key 'extra'"),
        ("requirements: [7]\n", "requirement #1 must be a mapping"),
        ("requirements:\n  - title_en: x\n", "requirement #1 has no 'number'"),
        ("requirements:\n  - number: seven\n", "number 'seven' is not an integer"),
        ("requirements:\n  - number: [1\n", "not valid YAML"),
    ],
)
def test_file_level_problems(tmp_path: Path, raw: str, problem: str) -> None:
    assert problem in error_of(write(tmp_path, raw=raw))


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(CatalogError, match=r"nope\.yaml: cannot read"):
        load_catalog(missing)


def test_a_single_edit_to_the_packaged_file_is_caught(tmp_path: Path) -> None:
    """Validation runs on the real file's shape too, not only on toy files."""
    doc = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    doc["requirements"][85]["evidence_hint_en"] = None  # No 86
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    message = error_of(path)
    assert "No 86" in message and "automated item without 'evidence_hint_en'" in message


def test_a_lost_mark_cell_loads_when_the_note_says_how_the_row_was_read(tmp_path: Path) -> None:
    note = "Row shifted a column; read from its neighbours."
    loaded = load_catalog(
        write(
            tmp_path,
            [entry(n) for n in range(1, 5)]
            + [entry(5, source_mark="not_extracted", note=note)]
            + [entry(n) for n in range(6, 183)],
        )
    )
    assert (loaded[5].source_mark, loaded[5].note) == (MARK_NOT_EXTRACTED, note)


# --- notes quote the answer sheet ----------------------------------------------------------------

SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "kirin-karte-meti-reference.txt"


def test_every_mapping_to_checks_is_explained_in_its_note(cat: Catalog) -> None:
    for r in cat:
        if r.checks or r.supporting_checks:
            assert r.note and "Mapping:" in r.note and "「" in r.note, r.number


@pytest.mark.skipif(not SEED.exists(), reason=f"the seed answer sheet is not beside the checkout ({SEED})")
def test_every_quote_in_a_note_is_the_answer_sheets_own_words(cat: Catalog) -> None:
    # The extraction breaks lines and sometimes words; compare without whitespace.
    sheet = re.sub(r"\s+", "", SEED.read_text(encoding="utf-8"))
    quotes = [(r.number, q) for r in cat for q in re.findall(r"「([^」]+)」", r.note or "")]
    assert len(quotes) > 40
    assert [(n, q) for n, q in quotes if re.sub(r"\s+", "", q) not in sheet] == []
