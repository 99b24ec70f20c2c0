"""report.html: the answer sheet and what stands beside it, self-contained, escaped, printable."""

from __future__ import annotations

import re

import pytest

from reports.answer_sheet import ANSWER_COLUMNS, STATUS_FILL, STATUS_FONT, STATUSES
from reports.html import LISTED_FILES, render_report
from tests.reports.html_cells import parse_cells
from tests.reports.sample_rows import ATTESTATIONS, DIGEST, ERRORS, FINDINGS, KV, META, STATUS_BY_NO

HOSTILE = "<script>alert('x')</script><img src=\"http://evil.example/p.png\">&amp;\"'"


def _render(requirements: list[dict], lang: str = "ja", **kw) -> str:  # type: ignore[no-untyped-def]
    args = {"findings": FINDINGS, "attestations": ATTESTATIONS, "errors": ERRORS, "meta": META, **kw}
    return render_report(requirements=requirements, lang=lang, **args)


def test_one_row_per_number_with_its_status_word_on_its_colour(requirements):
    html = _render(requirements, fingerprint="3b:85:04")
    cells = parse_cells(html)
    head, *rows = cells.rows["answers"]
    assert head == [c[0] for c in ANSWER_COLUMNS]
    assert head[:6] == ["項目番号", "No", "要求事項", "仮想レイヤーの対応", "物理レイヤー Azure", "状況"]
    assert [int(r[1]) for r in rows] == list(range(1, 183))
    status_ja = {"fail": "不適合", "error": "取得不可", "partial": "一部確認", "pass": "適合", "attested": "確認済"}
    status_ja |= {"expired": "期限切れ", "inherited": "継承", "not_applicable": "対象外", "manual": "要確認"}
    classes = cells.row_classes["answers"][1:]
    for no in range(1, 183):
        status = STATUS_BY_NO.get(no, "manual")
        assert rows[no - 1][5] == status_ja[status]
        assert classes[no - 1][5] == f"status s-{status}"
    row_124 = rows[123]
    assert row_124[0] == f"{requirements[123]['section']} {requirements[123]['item']}".strip()
    assert "enablePurgeProtection" in row_124[7]
    assert row_124[8].split("\n") == ["evidence/run-0007/key_vault/kv-aozora-emr.json",
                                      "evidence/run-0007/storage_account/staozoraemrlogs.json"]  # fmt: skip
    # The summary: as-of, the run with its digest, counts per status, the fingerprint.
    facts = {r[0]: r[1] for r in cells.rows["facts"]}
    assert facts["基準日時"] == META["as_of"] and facts["要求事項数"] == "182"
    assert facts["署名鍵フィンガープリント"] == "3b:85:04"
    legend = {r[0]: r[2:] for r in cells.rows["legend"][1:]}
    assert legend["不適合"] == ["1", "1"] and legend["要確認"] == [str(182 - len(STATUS_BY_NO)), ""]
    assert legend["合計"] == ["182", "3"]
    assert cells.rows["runs"][1] == ["7", DIGEST, "2026-12-02T08:00:00+00:00"]
    # Findings failures first, then errors, then passes; attestations and collection errors listed.
    assert [r[0] for r in cells.rows["findings"][1:]] == ["不適合", "取得不可", "適合"]
    assert cells.rows["findings"][1][2] == KV
    assert [r[0] for r in cells.rows["attestations"][1:]] == ["att-privacy-mark", "att-training-2025"]
    assert cells.rows["errors"][1][5] == "403"


def test_status_colours_keep_text_readable():
    def luminance(hex_colour: str) -> float:
        rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    for status in STATUSES:
        fill, font = luminance(STATUS_FILL[status]), luminance(STATUS_FONT.get(status, "000000"))
        assert (max(fill, font) + 0.05) / (min(fill, font) + 0.05) >= 4.5, status


def test_self_contained_and_printable(requirements):
    html = _render(requirements)
    tags = parse_cells(html).tags
    assert not [t for t, _ in tags if t in ("script", "link", "img", "iframe", "object", "embed")]
    for _, attrs in tags:
        for name in ("src", "href"):
            assert not re.match(r"\s*([a-z][a-z0-9+.-]*:|//)", attrs.get(name) or "", re.I), attrs
    css = html[html.index("<style>") : html.index("</style>")]
    assert not re.search(r"url\(|@import|https?:", css)
    assert "size: A4 landscape" in css and "display: table-header-group" in css and "break-inside: avoid" in css
    assert '"Noto Sans CJK JP"' in css


def test_everything_from_the_data_is_escaped(requirements):
    rows = [dict(r) for r in requirements]
    rows[85] |= {"reason_ja": HOSTILE, "answer": HOSTILE, "evidence": [f"evidence/x/{HOSTILE}.json"]}
    findings = [FINDINGS[0] | {"resource_id": HOSTILE, "evidence": ["javascript:alert(1)"]}]
    errors = [ERRORS[0] | {"message": HOSTILE}]
    attestations = [ATTESTATIONS[0] | {"owner": HOSTILE}]
    html = _render(rows, findings=findings, errors=errors, attestations=attestations, fingerprint=HOSTILE)
    assert "<script" not in html and "<img" not in html
    cells = parse_cells(html)
    assert cells.rows["answers"][86][7] == HOSTILE and cells.rows["answers"][86][3] == HOSTILE
    assert cells.rows["findings"][1][2] == HOSTILE and cells.rows["errors"][1][6] == HOSTILE
    assert cells.rows["attestations"][1][2] == HOSTILE
    hrefs = [a["href"] for t, a in cells.tags if t == "a"]
    assert "javascript%3Aalert%281%29" in hrefs  # a relative path, not a script
    assert all(not h.lower().startswith("javascript:") for h in hrefs)


def test_english_and_both(requirements):
    en = parse_cells(_render(requirements, "en"))
    assert en.rows["answers"][0][:3] == ["Item", "No", "Requirement"]
    assert en.rows["answers"][124][5] == "fail"
    assert '<html lang="en">' in _render(requirements, "en")
    both = parse_cells(_render(requirements, "both"))
    assert both.rows["answers"][0][2] == "要求事項\nRequirement"
    assert both.rows["answers"][124][5] == "不適合 / fail"
    assert both.rows["answers"][124][7].split("\n")[1].startswith("Key vault kv-aozora-emr")


def test_many_evidence_files_are_shown_by_folder(requirements):
    rows = [dict(r) for r in requirements]
    many = [f"evidence/nsg-rules/nsg-{i}--network--{i:012x}.json" for i in range(40)]
    rows[0] |= {"evidence": [*many, "attestations/ATT-1/minutes.pdf"]}
    rows[1] |= {"evidence": many[:LISTED_FILES]}
    cells = parse_cells(_render(rows, "en"))
    assert cells.rows["answers"][1][8].split("\n") == [
        "evidence/nsg-rules/ (40 files)",
        "attestations/ATT-1/ (1 file)",
    ]
    assert cells.rows["answers"][2][8].split("\n") == many[:LISTED_FILES]


def test_the_same_checks_as_the_workbook(requirements):
    with pytest.raises(ValueError, match="missing No 86"):
        _render([r for r in requirements if r["no"] != 86])
    with pytest.raises(ValueError, match="lang must be one of"):
        _render(requirements, "fr")


def test_the_printed_report_lists_failures_each_and_passes_per_check(requirements):
    passes = [
        {"check_id": "storage-min-tls-1-2", "resource_id": f"/subscriptions/s/storageAccounts/st{i}", "status": "pass",
         "requirements": [123], "reason_ja": "TLS1_2", "reason_en": "TLS1_2", "evidence": [f"evidence/st{i}.json"]}
        for i in range(40)
    ]  # fmt: skip
    findings = [*FINDINGS, *passes]
    full = parse_cells(_render(requirements, findings=findings)).rows["findings"][1:]
    assert len(full) == len(findings)
    printed = parse_cells(_render(requirements, findings=findings, passes_by_check=True)).rows["findings"][1:]
    failing = [f for f in findings if f["status"] != "pass"]
    assert [r[0] for r in printed[: len(failing)]] == ["不適合", "取得不可"]  # each, failures first
    grouped = {r[1]: r for r in printed[len(failing) :]}
    assert grouped["storage-min-tls-1-2"][0] == "適合"
    assert grouped["storage-min-tls-1-2"][2].startswith("40 件のリソース")
    assert len(printed) == len(failing) + len({f["check_id"] for f in findings if f["status"] == "pass"})
