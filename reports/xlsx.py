"""The auditor's report.xlsx: the METI answer sheet's own shape, filled with shoko's verdicts.

One pure function, :func:`write_report`, turns plain dicts (requirements, findings, attestations,
collection errors, run metadata) into a workbook an auditor can lay beside the vendor's checklist:
「回答表」 (one row per No 1–182), 「検出事項」, 「アテステーション」, 「収集エラー」 and 「概要」 last.
Every value taken from the input is written as text, never as a formula; the workbook has no
external links and no macros.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
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
    wb = Workbook()
    wb.remove(wb.active)
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


def _answer_sheet(ws: Worksheet, requirements: list[dict], lang: str) -> None:
    _header(ws, ANSWER_COLUMNS, lang)
    for row, r in enumerate(ranked_requirements(requirements), start=2):
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
        _row(ws, row, values)
        _colour(ws.cell(row=row, column=6), r["status"])
        ws.cell(row=row, column=2).alignment = Alignment(horizontal="center", vertical="top")
        ws.cell(row=row, column=5).alignment = Alignment(horizontal="center", vertical="top", wrap_text=True)
    _finish(ws, ANSWER_COLUMNS, freeze="C2")


def _findings_sheet(ws: Worksheet, findings: list[dict], lang: str) -> None:
    _header(ws, FINDING_COLUMNS, lang)
    for row, f in enumerate(ranked_findings(findings), start=2):
        values = (
            status_label(f["status"], lang),
            f.get("check_id") or "",
            f.get("resource_id") or "",
            numbers_of(f.get("requirements")),
            bilingual(f, "reason", lang),
            _lines(f.get("evidence")),
        )
        _row(ws, row, values)
        _colour(ws.cell(row=row, column=1), f["status"])
    _finish(ws, FINDING_COLUMNS)


def _attestations_sheet(ws: Worksheet, attestations: list[dict], lang: str) -> None:
    _header(ws, ATTESTATION_COLUMNS, lang)
    for row, a in enumerate(ranked_attestations(attestations), start=2):
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
        _row(ws, row, values)
        _colour(ws.cell(row=row, column=6), STATE_COLOUR[a["state"]])
    _finish(ws, ATTESTATION_COLUMNS)


def _errors_sheet(ws: Worksheet, errors: list[dict], lang: str) -> None:
    _header(ws, ERROR_COLUMNS, lang)
    for row, e in enumerate(ranked_errors(errors), start=2):
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
        _row(ws, row, values)
        _colour(ws.cell(row=row, column=2), "error")
    _finish(ws, ERROR_COLUMNS)


def _summary_sheet(
    ws: Worksheet,
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
    row = 2
    for label, value in facts:
        _row(ws, row, (text(label, lang), "" if value is None else value))
        ws.cell(row=row, column=1).font = _HEADER_FONT
        row += 1

    row += 1
    legend_header = row
    for col, label in enumerate(LEGEND_COLUMNS, start=1):
        _heading_cell(ws.cell(row=row, column=col), text(label, lang))
    req_counts = Counter(r["status"] for r in requirements)
    finding_counts = Counter(f["status"] for f in findings)
    for status in STATUSES:
        row += 1
        found = finding_counts.get(status, 0) if status in FINDING_STATUSES else ""
        meaning = text(STATUS_MEANING[status], lang)
        _row(ws, row, (status_label(status, lang), meaning, req_counts.get(status, 0), found))
        _colour(ws.cell(row=row, column=1), status)
    ws.auto_filter.ref = f"A{legend_header}:D{row}"
    row += 1
    _row(ws, row, (text(TOTAL, lang), "", len(requirements), len(findings)))
    ws.cell(row=row, column=1).font = _HEADER_FONT

    row += 2
    runs_header = row
    for col, label in enumerate(RUN_COLUMNS, start=1):
        _heading_cell(ws.cell(row=row, column=col), text(label, lang))
    for run in meta.get("runs") or []:
        row += 1
        _row(ws, row, (run.get("id") or "", run.get("digest") or "", run.get("finished_at") or ""))
    if row == runs_header:
        row += 1
        _row(ws, row, (text(NO_RUNS, lang), "", ""))
    ws.freeze_panes = "A2"
    _print_setup(ws)


# -- cells ------------------------------------------------------------------------------------------


def _lines(values: Iterable[Any] | None) -> str:
    return "\n".join(str(v) for v in values or [])


def _header(ws: Worksheet, columns: Sequence[tuple[str, str, int]], lang: str) -> None:
    for col, (ja, en, width) in enumerate(columns, start=1):
        if ja or en:
            _heading_cell(ws.cell(row=1, column=col), text((ja, en), lang))
        if width:
            ws.column_dimensions[get_column_letter(col)].width = width


def _heading_cell(cell: Any, text: str) -> None:
    _set(cell, text)
    cell.font = _HEADER_FONT
    cell.fill = _HEADER_FILL
    cell.border = _BORDER
    cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")


def _row(ws: Worksheet, row: int, values: Sequence[Any]) -> None:
    for col, value in enumerate(values, start=1):
        cell = ws.cell(row=row, column=col)
        _set(cell, value)
        cell.alignment = _WRAP
        cell.border = _BORDER


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


def _finish(ws: Worksheet, columns: Sequence[tuple[str, str, int]], freeze: str = "A2") -> None:
    last = get_column_letter(len(columns))
    ws.freeze_panes = freeze
    ws.auto_filter.ref = f"A1:{last}{max(ws.max_row, 1)}"
    ws.print_title_rows = "1:1"
    _print_setup(ws)


def _print_setup(ws: Worksheet) -> None:
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as the rows need
    ws.sheet_properties.pageSetUpPr.fitToPage = True
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
