"""The auditor's report.xlsx: the METI answer sheet's own shape, filled with shoko's verdicts.

One pure function, :func:`write_report`, turns plain dicts (requirements, findings, attestations,
collection errors, run metadata) into a workbook an auditor can lay beside the vendor's checklist:
「回答表」 (one row per No 1–182), 「検出事項」, 「アテステーション」, 「収集エラー」 and 「概要」 last.
Every value taken from the input is written as text, never as a formula; the workbook has no
external links and no macros. It is written in openpyxl's write-only mode, a row at a time, so a large
estate's tens of thousands of findings are never held as cells in memory.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

from reports.answer_sheet import (
    ANSWER_COLUMNS,
    ATTESTATION_COLUMNS,
    ERROR_COLUMNS,
    FINDING_COLUMNS,
    FINDING_STATUSES,
    LEGEND_COLUMNS,
    NO_RUNS,
    RUN_COLUMNS,
    SECTION_NAMES,
    STATE_COLOUR,
    STATUS_FILL,
    STATUS_FONT,
    STATUS_MEANING,
    STATUSES,
    STRONG_STATUSES,
    TITLE,
    TOTAL,
    bilingual,
    coverage_of,
    item_of,
    mark_of,
    numbers_of,
    ranked_attestations,
    ranked_errors,
    ranked_findings,
    ranked_requirements,
    state_label,
    status_code_of,
    status_label,
    summary_facts,
    text,
    validate,
)

MAX_CELL_TEXT = 32767  # Excel's limit on the characters in one cell
_TRUNCATED = "…（以下省略 truncated）"
_FORMULA_LEAD = ("=", "+", "-", "@")
_WRAP = Alignment(wrap_text=True, vertical="top")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_HEADER_FONT = Font(bold=True)
_THIN = Side(style="thin", color="BFBFBF")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_ISO_DIGITS = re.compile(r"^\d{4}-\d{2}-\d{2}")


def write_report(
    path: Path,
    *,
    requirements: list[dict],
    findings: list[dict],
    attestations: list[dict],
    errors: list[dict],
    lang: str = "ja",
    meta: dict,
) -> None:
    """Write the auditor's workbook to ``path`` (overwritten).

    ``lang`` is "ja", "en" or "both" (Japanese above English in headers and reasons).
    ``requirements`` must hold exactly one entry for each No 1–182 (or for each No ``meta["requirements"]``
    lists, when a snapshot covers chosen numbers) and every status must be one shoko knows; otherwise
    ValueError names what is wrong, and nothing is written.
    """
    validate(requirements, findings, attestations, meta, lang)
    wb = Workbook(write_only=True)
    _answer_sheet(wb.create_sheet(text(SECTION_NAMES["answers"], lang, " ")), requirements, lang)
    _findings_sheet(wb.create_sheet(text(SECTION_NAMES["findings"], lang, " ")), findings, lang)
    _attestations_sheet(wb.create_sheet(text(SECTION_NAMES["attestations"], lang, " ")), attestations, lang)
    _errors_sheet(wb.create_sheet(text(SECTION_NAMES["errors"], lang, " ")), errors, lang)
    summary = wb.create_sheet(text(SECTION_NAMES["summary"], lang, " "))
    _summary_sheet(summary, requirements, findings, errors, attestations, meta, lang)
    wb.active = 0
    _properties(wb, meta, lang)
    wb.save(Path(path))


# -- sheets -----------------------------------------------------------------------------------------
# Write-only sheets take whole rows in order: each row's cells are made, styled, then appended.


def _answer_sheet(ws: WriteOnlyWorksheet, requirements: list[dict], lang: str) -> None:
    _header(ws, ANSWER_COLUMNS, lang, freeze="C2")
    for r in ranked_requirements(requirements):
        values = (
            item_of(r),
            r["no"],
            bilingual(r, "title", lang),
            r.get("answer") or "",
            mark_of(r, lang),
            status_label(r["status"], lang),
            coverage_of(r, lang),
            bilingual(r, "reason", lang),
            _lines(r.get("evidence")),
            r.get("last_checked") or "",
            r.get("mhlw6") or "",
        )
        cells = _row(ws, values)
        _colour(cells[5], r["status"])
        cells[1].alignment = Alignment(horizontal="center", vertical="top")
        cells[4].alignment = Alignment(horizontal="center", vertical="top", wrap_text=True)
        ws.append(cells)
    _finish(ws, ANSWER_COLUMNS, len(requirements) + 1)


def _findings_sheet(ws: WriteOnlyWorksheet, findings: list[dict], lang: str) -> None:
    _header(ws, FINDING_COLUMNS, lang)
    for f in ranked_findings(findings):
        values = (
            status_label(f["status"], lang),
            f.get("check_id") or "",
            f.get("resource_id") or "",
            numbers_of(f.get("requirements")),
            bilingual(f, "reason", lang),
            _lines(f.get("evidence")),
        )
        cells = _row(ws, values)
        _colour(cells[0], f["status"])
        ws.append(cells)
    _finish(ws, FINDING_COLUMNS, len(findings) + 1)


def _attestations_sheet(ws: WriteOnlyWorksheet, attestations: list[dict], lang: str) -> None:
    _header(ws, ATTESTATION_COLUMNS, lang)
    for a in ranked_attestations(attestations):
        values = (
            a.get("id") or "",
            numbers_of(a.get("requirements")),
            a.get("owner") or "",
            a.get("attested_on") or "",
            a.get("valid_until") or "",
            state_label(a["state"], lang),
            bilingual(a, "statement", lang),
            _lines(a.get("documents")),
        )
        cells = _row(ws, values)
        _colour(cells[5], STATE_COLOUR[a["state"]])
        ws.append(cells)
    _finish(ws, ATTESTATION_COLUMNS, len(attestations) + 1)


def _errors_sheet(ws: WriteOnlyWorksheet, errors: list[dict], lang: str) -> None:
    _header(ws, ERROR_COLUMNS, lang)
    for e in ranked_errors(errors):
        values = (
            e.get("occurred_at") or "",
            e.get("kind") or "",
            e.get("source") or "",
            e.get("scope") or "",
            e.get("code") or "",
            status_code_of(e),
            e.get("message") or "",
            e.get("request_id") or "",
        )
        cells = _row(ws, values)
        _colour(cells[1], "error")
        ws.append(cells)
    _finish(ws, ERROR_COLUMNS, len(errors) + 1)


def _summary_sheet(
    ws: WriteOnlyWorksheet,
    requirements: list[dict],
    findings: list[dict],
    errors: list[dict],
    attestations: list[dict],
    meta: dict,
    lang: str,
) -> None:
    """Key facts, then the status legend with counts, then the runs the verdicts were built from."""
    facts = summary_facts(requirements, findings, attestations, errors, meta)
    _header(ws, (("項目", "Item", 24), ("値", "Value", 66), ("", "", 22), ("", "", 12)), lang)
    row = 1
    for label, value in facts:
        cells = _row(ws, (text(label, lang), "" if value is None else value))
        cells[0].font = _HEADER_FONT
        ws.append(cells)
        row += 1

    ws.append([])
    row += 2
    legend_header = row
    ws.append([_heading_cell(ws, text(label, lang)) for label in LEGEND_COLUMNS])
    req_counts = Counter(r["status"] for r in requirements)
    finding_counts = Counter(f["status"] for f in findings)
    for status in STATUSES:
        row += 1
        found = finding_counts.get(status, 0) if status in FINDING_STATUSES else ""
        meaning = text(STATUS_MEANING[status], lang)
        cells = _row(ws, (status_label(status, lang), meaning, req_counts.get(status, 0), found))
        _colour(cells[0], status)
        ws.append(cells)
    ws.auto_filter.ref = f"A{legend_header}:D{row}"
    cells = _row(ws, (text(TOTAL, lang), "", len(requirements), len(findings)))
    cells[0].font = _HEADER_FONT
    ws.append(cells)

    ws.append([])
    ws.append([_heading_cell(ws, text(label, lang)) for label in RUN_COLUMNS])
    runs = meta.get("runs") or []
    for run in runs:
        ws.append(_row(ws, (run.get("id") or "", run.get("digest") or "", run.get("finished_at") or "")))
    if not runs:
        ws.append(_row(ws, (text(NO_RUNS, lang), "", "")))
    _print_setup(ws)


# -- cells ------------------------------------------------------------------------------------------


def _lines(values: Iterable[Any] | None) -> str:
    return "\n".join(str(v) for v in values or [])


def _header(ws: WriteOnlyWorksheet, columns: Sequence[tuple[str, str, int]], lang: str, freeze: str = "A2") -> None:
    """The heading row, with what a write-only sheet writes before its first row: the column widths, the frozen
    panes and fitting to the page's width."""
    for col, (_, _, width) in enumerate(columns, start=1):
        if width:
            ws.column_dimensions[get_column_letter(col)].width = width
    ws.freeze_panes = freeze
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.append([_heading_cell(ws, text((ja, en), lang)) if ja or en else None for ja, en, _ in columns])


def _heading_cell(ws: WriteOnlyWorksheet, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws)
    _set(cell, text)
    cell.font = _HEADER_FONT
    cell.fill = _HEADER_FILL
    cell.border = _BORDER
    cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    return cell


def _row(ws: WriteOnlyWorksheet, values: Sequence[Any]) -> list[Any]:
    cells = []
    for value in values:
        cell = WriteOnlyCell(ws)
        _set(cell, value)
        cell.alignment = _WRAP
        cell.border = _BORDER
        cells.append(cell)
    return cells


def _set(cell: Any, value: Any) -> None:
    """Numbers stay numbers; everything else is written as a string, never as a formula."""
    if isinstance(value, int) and not isinstance(value, bool):
        cell.value = value
        return
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    if len(text) > MAX_CELL_TEXT:
        text = text[: MAX_CELL_TEXT - len(_TRUNCATED)] + _TRUNCATED
    cell.value = text
    cell.data_type = "s"  # openpyxl types "=…" as a formula; an auditor's report must show it as written
    if text.startswith(_FORMULA_LEAD):
        cell.quotePrefix = True  # and Excel keeps it text when someone edits the cell


def _colour(cell: Any, status: str) -> None:
    cell.fill = PatternFill("solid", fgColor=STATUS_FILL[status])
    cell.font = Font(bold=status in STRONG_STATUSES, color=STATUS_FONT.get(status, "000000"))


def _finish(ws: WriteOnlyWorksheet, columns: Sequence[tuple[str, str, int]], rows: int) -> None:
    """A filter over the `rows` written (heading included), the heading on every printed page, print setup."""
    last = get_column_letter(len(columns))
    ws.auto_filter.ref = f"A1:{last}{rows}"
    ws.print_title_rows = "1:1"
    _print_setup(ws)


def _print_setup(ws: WriteOnlyWorksheet) -> None:
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.page_setup.orientation = Worksheet.ORIENTATION_LANDSCAPE
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as the rows need
    ws.print_options.gridLines = False
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.oddFooter.center.text = "&P / &N"
    ws.oddHeader.right.text = "&A"


def _properties(wb: Workbook, meta: dict, lang: str) -> None:
    wb.properties.creator = "shoko"
    wb.properties.lastModifiedBy = "shoko"
    wb.properties.title = text(TITLE, lang, " / ")
    generated = _naive_utc(meta.get("generated_at"))
    if generated is not None:
        wb.properties.created = wb.properties.modified = generated


def _naive_utc(value: Any) -> datetime | None:
    """The workbook's document dates from meta's generated_at (Excel keeps them without a timezone)."""
    if not isinstance(value, str) or not _ISO_DIGITS.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
