"""report.xlsx: the answer sheet's shape, read back with openpyxl."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from reports.xlsx import write_report
from tests.reports.sample_rows import (
    ATTESTATIONS,
    DIGEST,
    ERRORS,
    EVIDENCE_KV,
    EVIDENCE_ST,
    FINDINGS,
    KV,
    META,
    STATUS_BY_NO,
)


def _write(tmp_path: Path, requirements: list[dict], lang: str = "ja") -> Path:
    path = tmp_path / f"report-{lang}.xlsx"
    write_report(
        path,
        requirements=requirements,
        findings=FINDINGS,
        attestations=ATTESTATIONS,
        errors=ERRORS,
        lang=lang,
        meta=META,
    )
    return path


def _row_of(ws, no: int) -> int:
    return next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=2).value == no)


def test_japanese_workbook_has_the_answer_sheet_shape(tmp_path, requirements):
    wb = load_workbook(_write(tmp_path, requirements))
    assert wb.sheetnames == ["回答表", "検出事項", "アテステーション", "収集エラー", "概要"]
    ws = wb["回答表"]
    assert [c.value for c in ws[1]] == [
        "項目番号",
        "No",
        "要求事項",
        "仮想レイヤーの対応",
        "物理レイヤー Azure",
        "状況",
        "範囲",
        "根拠",
        "証跡",
        "最終確認日時",
        "MHLW 6.0",
    ]
    assert ws.max_row == 183
    assert [ws.cell(row=r, column=2).value for r in range(2, 184)] == list(range(1, 183))
    row = _row_of(ws, 124)
    assert ws.cell(row=row, column=1).value == "2.6.11 (2)"
    assert ws.cell(row=2, column=1).value == "2.1"  # No 1 has no item label
    assert ws.cell(row=row, column=6).value == "不適合"
    assert ws.cell(row=row, column=7).value == "全体"
    assert ws.cell(row=row, column=9).value == f"{EVIDENCE_KV}\n{EVIDENCE_ST}"
    assert ws.cell(row=row, column=10).value == "2026-12-02T08:00:00+00:00"
    assert ws.cell(row=2, column=4).value.startswith("当社は、第三者認定として")
    labels = {ws.cell(row=_row_of(ws, no), column=6).value for no in STATUS_BY_NO}
    assert labels == {"不適合", "取得不可", "一部確認", "適合", "確認済", "期限切れ", "継承", "対象外"}
    assert ws.cell(row=_row_of(ws, 2), column=6).value == "要確認"


def test_status_cells_are_coloured_and_the_summary_carries_a_legend(tmp_path, requirements):
    wb = load_workbook(_write(tmp_path, requirements))
    ws = wb["回答表"]
    fail = ws.cell(row=_row_of(ws, 124), column=6)
    assert fail.fill.fill_type == "solid" and fail.fill.fgColor.rgb == "00FFC7CE"
    assert ws.cell(row=_row_of(ws, 61), column=6).fill.fgColor.rgb == "00C6EFCE"
    assert ws.cell(row=_row_of(ws, 125), column=6).fill.fgColor.rgb == "00FFD8A8"
    assert ws.cell(row=_row_of(ws, 15), column=6).fill.fgColor.rgb == "00FFEB9C"
    assert ws.cell(row=_row_of(ws, 2), column=6).fill.fgColor.rgb == "00D9D9D9"

    summary = wb["概要"]
    cells = {c.value: c for row in summary.iter_rows() for c in row if isinstance(c.value, str)}
    assert cells["不適合"].fill.fgColor.rgb == "00FFC7CE"
    legend_row = cells["不適合"].row
    assert summary.cell(row=legend_row, column=3).value == 1  # requirements failing
    assert summary.cell(row=legend_row, column=4).value == 1  # findings failing
    assert summary.cell(row=cells["要確認"].row, column=3).value == 182 - len(STATUS_BY_NO)
    assert cells[DIGEST].column == 2
    assert "2026-12-02T08:00:00+00:00" in cells and "meti-2012 r14" in cells
    assert summary.auto_filter.ref


def test_every_table_is_frozen_filtered_wrapped_and_prints_on_a4_landscape(tmp_path, requirements):
    wb = load_workbook(_write(tmp_path, requirements))
    for ws in wb.worksheets:
        assert ws.freeze_panes in ("A2", "C2"), ws.title
        assert ws.auto_filter.ref, ws.title
        assert int(ws.page_setup.paperSize) == 9, ws.title  # A4
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0, ws.title
    answers = wb["回答表"]
    assert answers.auto_filter.ref == "A1:K183"
    assert answers.print_title_rows == "$1:$1"
    assert wb["検出事項"].print_title_rows == "$1:$1"
    reason = answers.cell(row=_row_of(answers, 124), column=8)
    assert reason.alignment.wrap_text
    assert answers.cell(row=1, column=8).alignment.wrap_text
    assert all(15 <= answers.column_dimensions[c].width <= 60 for c in "CDHI")


def test_text_that_looks_like_a_formula_stays_text(tmp_path, requirements):
    path = _write(tmp_path, requirements)
    wb = load_workbook(path)
    cell = wb["回答表"].cell(row=_row_of(wb["回答表"], 125), column=8)
    assert cell.data_type == "s"
    assert cell.value.startswith('=HYPERLINK("http://example.invalid"')
    assert cell.quotePrefix
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        sheets = "".join(z.read(n).decode() for n in names if n.startswith("xl/worksheets/sheet"))
    assert "<f>" not in sheets
    assert not [n for n in names if "externalLink" in n or "vba" in n.lower() or n.endswith(".bin")]
    assert not [n for n in names if "hyperlink" in n.lower()]


def test_findings_failures_first_then_attestations_and_errors(tmp_path, requirements):
    wb = load_workbook(_write(tmp_path, requirements))
    findings = wb["検出事項"]
    assert [c.value for c in findings[1]] == ["状況", "チェック ID", "リソース ID", "要求事項 No", "根拠", "証跡"]
    assert [findings.cell(row=r, column=1).value for r in (2, 3, 4)] == ["不適合", "取得不可", "適合"]
    assert findings.cell(row=2, column=3).value == KV
    assert findings.cell(row=3, column=4).value == "125, 126"
    assert findings.cell(row=2, column=1).fill.fgColor.rgb == "00FFC7CE"

    att = wb["アテステーション"]
    assert att.max_row == 3
    assert att.cell(row=2, column=1).value == "att-privacy-mark"
    assert att.cell(row=3, column=6).value == "期限切れ"
    assert att.cell(row=3, column=2).value == "15, 16"

    errors = wb["収集エラー"]
    assert errors.cell(row=2, column=5).value == "AuthorizationFailed"
    assert errors.cell(row=2, column=6).value == 403
    assert errors.cell(row=2, column=7).value.endswith("storageAccounts/read'.")  # the control character is dropped


def test_english_and_bilingual_headers(tmp_path, requirements):
    wb = load_workbook(_write(tmp_path, requirements, lang="en"))
    assert wb.sheetnames == ["Answer sheet", "Findings", "Attestations", "Collection errors", "Summary"]
    ws = wb["Answer sheet"]
    headers = [c.value for c in ws[1]]
    assert headers[:3] == ["Item", "No", "Requirement"]
    assert headers[3:8] == ["Virtual layer (vendor's answer)", "Physical layer Azure", "Status", "Coverage", "Reason"]
    assert headers[8:] == ["Evidence", "Last checked", "MHLW 6.0"]
    row = _row_of(ws, 124)
    assert ws.cell(row=row, column=6).value == "fail"
    assert ws.cell(row=row, column=8).value.startswith("Key vault kv-aozora-emr")
    assert ws.cell(row=_row_of(ws, 45), column=6).value == "not applicable"
    assert ws.max_row == 183

    wb = load_workbook(_write(tmp_path, requirements, lang="both"))
    ws = wb.worksheets[0]
    assert ws.title == "回答表 Answer sheet"
    assert ws.cell(row=1, column=1).value == "項目番号\nItem"
    assert ws.cell(row=1, column=2).value == "No"
    row = _row_of(ws, 124)
    reason = ws.cell(row=row, column=8).value
    assert reason.startswith("キー コンテナー") and "\nKey vault kv-aozora-emr" in reason
    assert ws.cell(row=row, column=6).value == "不適合 / fail"


def test_blank_mark_stays_blank_and_a_lost_mark_says_so(tmp_path, requirements):
    wb = load_workbook(_write(tmp_path, requirements))
    ws = wb["回答表"]
    by_mark = {r["source_mark"]: r["no"] for r in requirements}
    assert ws.cell(row=_row_of(ws, by_mark["○"]), column=5).value == "○"
    if "" in by_mark:
        assert ws.cell(row=_row_of(ws, by_mark[""]), column=5).value is None
    if "not_extracted" in by_mark:
        assert ws.cell(row=_row_of(ws, by_mark["not_extracted"]), column=5).value == "未抽出"


def test_a_missing_number_or_unknown_status_is_refused(tmp_path, requirements):
    with pytest.raises(ValueError, match=r"missing No 7"):
        _write(tmp_path, [r for r in requirements if r["no"] != 7])
    with pytest.raises(ValueError, match=r"No 7 given more than once"):
        _write(tmp_path, [*requirements, requirements[6]])
    broken = [dict(r, status="passed") if r["no"] == 3 else r for r in requirements]
    with pytest.raises(ValueError, match=r"No 3: unknown status 'passed'"):
        _write(tmp_path, broken)
    with pytest.raises(ValueError, match=r"lang"):
        _write(tmp_path, requirements, lang="fr")
    assert not list(tmp_path.iterdir())


def test_an_estate_with_no_findings_errors_or_runs_still_gives_every_sheet(tmp_path, requirements):
    path = tmp_path / "empty.xlsx"
    meta = {"as_of": "2026-12-02T08:00:00+00:00", "generated_at": "2026-12-02T08:05:00+00:00", "runs": []}
    write_report(path, requirements=requirements, findings=[], attestations=[], errors=[], meta=meta)
    wb = load_workbook(path)
    assert wb["検出事項"].max_row == 1 and wb["検出事項"].auto_filter.ref == "A1:F1"
    assert wb["収集エラー"].max_row == 1
    summary = [c.value for row in wb["概要"].iter_rows() for c in row]
    assert "（収集実行なし）" in summary
    assert wb.properties.creator == "shoko"
