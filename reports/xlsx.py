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

REQUIREMENT_NUMBERS = range(1, 183)
LANGS = ("ja", "en", "both")
STATUSES = ("pass", "fail", "error", "partial", "manual", "attested", "expired", "inherited", "not_applicable")
FINDING_STATUSES = ("fail", "error", "pass")  # the order findings are listed in: failures first
ATTESTATION_STATES = ("valid", "expired", "revoked", "not_yet")

STATUS_JA = {
    "pass": "適合",
    "fail": "不適合",
    "error": "取得不可",
    "partial": "一部確認",
    "manual": "要確認",
    "attested": "確認済",
    "expired": "期限切れ",
    "inherited": "継承",
    "not_applicable": "対象外",
}
STATUS_EN = {s: s.replace("_", " ") for s in STATUSES}
STATUS_MEANING = {
    "pass": ("チェックが全範囲を確認し全件合格（一部範囲なら残りを有効なアテステーションで確認）",
             "The checks cover it and all passed (if partly, a valid attestation covers the rest)"),
    "fail": ("不合格の検出事項がある（補助チェックの不合格を含む）",
             "At least one finding failed (a failing supporting check included)"),
    "error": ("収集または評価ができなかった（権限不足等）。合格とはみなさない",
              "Something could not be collected or evaluated (e.g. a missing permission); never a pass"),
    "partial": ("チェックは全件合格だが範囲は一部。残りは人の証明が必要",
                "Every check passed but covers only part; a person must attest the rest"),
    "manual": ("Azure からは確認できない。人のアテステーションが必要",
               "Azure cannot show it; needs a person's attestation"),
    "attested": ("有効なアテステーションで確認済", "A person's attestation covers it and is valid"),
    "expired": ("アテステーションの有効期限切れ。更新が必要", "Its attestations have passed their valid-until date"),
    "inherited": ("Azure 物理層（Microsoft の管理範囲）から継承", "Microsoft's physical layer"),
    "not_applicable": ("このシステムには該当しない（理由は根拠欄）", "Does not apply (the reason column says why)"),
}  # fmt: skip
STATE_LABELS = {
    "valid": ("有効", "valid"),
    "expired": ("期限切れ", "expired"),
    "revoked": ("取消", "revoked"),
    "not_yet": ("有効期間前", "not yet valid"),
}
STATE_COLOUR = {"valid": "attested", "expired": "expired", "revoked": "fail", "not_yet": "manual"}
COVERAGE_LABELS = {"full": ("全体", "full"), "partial": ("一部", "partial"), "supporting": ("補助", "supporting")}
SOURCE_MARKS = ("○", "—", "", "blank", "not_extracted")  # "blank" as the catalog spells it: shown blank
NOT_EXTRACTED = ("未抽出", "not extracted")

# (fill, font) per status: fail red, error orange, partial/expired yellow, pass/attested green, the rest grey.
_RED, _ORANGE, _YELLOW, _GREEN, _GREY = "FFC7CE", "FFD8A8", "FFEB9C", "C6EFCE", "D9D9D9"
STATUS_FILL = {
    "fail": _RED,
    "error": _ORANGE,
    "partial": _YELLOW,
    "expired": _YELLOW,
    "pass": _GREEN,
    "attested": _GREEN,
    "manual": _GREY,
    "inherited": _GREY,
    "not_applicable": _GREY,
}
STATUS_FONT = {"fail": "9C0006", "error": "833C0B", "partial": "7F6000", "expired": "7F6000", "pass": "006100"}

SHEET_NAMES = {
    "answers": ("回答表", "Answer sheet"),
    "findings": ("検出事項", "Findings"),
    "attestations": ("アテステーション", "Attestations"),
    "errors": ("収集エラー", "Collection errors"),
    "summary": ("概要", "Summary"),
}

# (ja header, en header, column width)
ANSWER_COLUMNS = (
    ("項目番号", "Item", 12),
    ("No", "No", 6),
    ("要求事項", "Requirement", 48),
    ("仮想レイヤーの対応", "Virtual layer (vendor's answer)", 36),
    ("物理レイヤー Azure", "Physical layer Azure", 11),
    ("状況", "Status", 12),
    ("範囲", "Coverage", 10),
    ("根拠", "Reason", 60),
    ("証跡", "Evidence", 40),
    ("最終確認日時", "Last checked", 22),
)
FINDING_COLUMNS = (
    ("状況", "Status", 12),
    ("チェック ID", "Check ID", 30),
    ("リソース ID", "Resource ID", 50),
    ("要求事項 No", "Requirement No", 14),
    ("根拠", "Reason", 60),
    ("証跡", "Evidence", 40),
)
ATTESTATION_COLUMNS = (
    ("ID", "ID", 24),
    ("要求事項 No", "Requirement No", 14),
    ("担当者", "Owner", 20),
    ("確認日", "Attested on", 13),
    ("有効期限", "Valid until", 13),
    ("状態", "State", 12),
    ("申告内容", "Statement", 60),
    ("文書", "Documents", 40),
)
ERROR_COLUMNS = (
    ("発生日時", "Occurred at", 22),
    ("種類", "Kind", 20),
    ("取得元", "Source", 20),
    ("範囲", "Scope", 45),
    ("コード", "Code", 20),
    ("HTTP ステータス", "HTTP status", 10),
    ("メッセージ", "Message", 60),
    ("リクエスト ID", "Request ID", 38),
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
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    _validate(requirements, findings, attestations, meta.get("requirements") or REQUIREMENT_NUMBERS)
    wb = Workbook()
    wb.remove(wb.active)
    _answer_sheet(wb.create_sheet(_text(SHEET_NAMES["answers"], lang, " ")), requirements, lang)
    _findings_sheet(wb.create_sheet(_text(SHEET_NAMES["findings"], lang, " ")), findings, lang)
    _attestations_sheet(wb.create_sheet(_text(SHEET_NAMES["attestations"], lang, " ")), attestations, lang)
    _errors_sheet(wb.create_sheet(_text(SHEET_NAMES["errors"], lang, " ")), errors, lang)
    summary = wb.create_sheet(_text(SHEET_NAMES["summary"], lang, " "))
    _summary_sheet(summary, requirements, findings, errors, attestations, meta, lang)
    wb.active = 0
    _properties(wb, meta, lang)
    wb.save(Path(path))


# -- validation -------------------------------------------------------------------------------------


def _validate(
    requirements: list[dict], findings: list[dict], attestations: list[dict], expected: Iterable[int]
) -> None:
    counts = Counter(r.get("no") for r in requirements)
    missing = [n for n in expected if n not in counts]
    extra = sorted((n for n in counts if n not in REQUIREMENT_NUMBERS), key=str)
    twice = sorted(n for n, c in counts.items() if c > 1 and n in REQUIREMENT_NUMBERS)
    problems = []
    if missing:
        problems.append(f"missing No {_numbers(missing)}")
    if twice:
        problems.append(f"No {_numbers(twice)} given more than once")
    if extra:
        problems.append(f"unknown No {', '.join(map(str, extra))}")
    if problems:
        raise ValueError("requirements must list each No once: " + "; ".join(problems))
    for r in requirements:
        if r.get("status") not in STATUSES:
            raise ValueError(f"No {r['no']}: unknown status {r.get('status')!r}")
        if r.get("source_mark") is not None and r["source_mark"] not in SOURCE_MARKS:
            raise ValueError(f"No {r['no']}: unknown source_mark {r['source_mark']!r}")
        if r.get("coverage") is not None and r["coverage"] not in COVERAGE_LABELS:
            raise ValueError(f"No {r['no']}: unknown coverage {r['coverage']!r}")
    for f in findings:
        if f.get("status") not in FINDING_STATUSES:
            raise ValueError(f"finding {f.get('check_id')} {f.get('resource_id')}: unknown status {f.get('status')!r}")
    for a in attestations:
        if a.get("state") not in ATTESTATION_STATES:
            raise ValueError(f"attestation {a.get('id')}: unknown state {a.get('state')!r}")


def _numbers(numbers: Sequence[int]) -> str:
    shown = ", ".join(map(str, numbers[:10]))
    return shown + (f" … ({len(numbers)} in all)" if len(numbers) > 10 else "")


# -- sheets -----------------------------------------------------------------------------------------


def _answer_sheet(ws: Worksheet, requirements: list[dict], lang: str) -> None:
    _header(ws, ANSWER_COLUMNS, lang)
    for row, r in enumerate(sorted(requirements, key=lambda r: r["no"]), start=2):
        item = " ".join(p for p in (r.get("section") or "", r.get("item") or "") if p)
        mark = r.get("source_mark")
        mark_text = _text(NOT_EXTRACTED, lang) if mark == "not_extracted" else {"○": "○", "—": "—"}.get(mark, "")
        values = (
            item,
            r["no"],
            _text((r.get("title_ja") or "", r.get("title_en") or ""), lang),
            r.get("answer") or "",
            mark_text,
            _status_label(r["status"], lang),
            _text(COVERAGE_LABELS[r["coverage"]], lang, " / ") if r.get("coverage") else "",
            _text((r.get("reason_ja") or "", r.get("reason_en") or ""), lang),
            _lines(r.get("evidence")),
            r.get("last_checked") or "",
        )
        _row(ws, row, values)
        _colour(ws.cell(row=row, column=6), r["status"])
        ws.cell(row=row, column=2).alignment = Alignment(horizontal="center", vertical="top")
        ws.cell(row=row, column=5).alignment = Alignment(horizontal="center", vertical="top", wrap_text=True)
    _finish(ws, ANSWER_COLUMNS, freeze="C2")


def _findings_sheet(ws: Worksheet, findings: list[dict], lang: str) -> None:
    _header(ws, FINDING_COLUMNS, lang)
    order = {s: i for i, s in enumerate(FINDING_STATUSES)}
    ranked = sorted(findings, key=lambda f: (order[f["status"]], str(f.get("check_id")), str(f.get("resource_id"))))
    for row, f in enumerate(ranked, start=2):
        values = (
            _status_label(f["status"], lang),
            f.get("check_id") or "",
            f.get("resource_id") or "",
            _joined(f.get("requirements")),
            _text((f.get("reason_ja") or "", f.get("reason_en") or ""), lang),
            _lines(f.get("evidence")),
        )
        _row(ws, row, values)
        _colour(ws.cell(row=row, column=1), f["status"])
    _finish(ws, FINDING_COLUMNS)


def _attestations_sheet(ws: Worksheet, attestations: list[dict], lang: str) -> None:
    _header(ws, ATTESTATION_COLUMNS, lang)
    ranked = sorted(attestations, key=lambda a: (min(a.get("requirements") or [0]), str(a.get("id"))))
    for row, a in enumerate(ranked, start=2):
        values = (
            a.get("id") or "",
            _joined(a.get("requirements")),
            a.get("owner") or "",
            a.get("attested_on") or "",
            a.get("valid_until") or "",
            _text(STATE_LABELS[a["state"]], lang, " / "),
            _text((a.get("statement_ja") or "", a.get("statement_en") or ""), lang),
            _lines(a.get("documents")),
        )
        _row(ws, row, values)
        _colour(ws.cell(row=row, column=6), STATE_COLOUR[a["state"]])
    _finish(ws, ATTESTATION_COLUMNS)


def _errors_sheet(ws: Worksheet, errors: list[dict], lang: str) -> None:
    _header(ws, ERROR_COLUMNS, lang)
    ranked = sorted(errors, key=lambda e: (str(e.get("occurred_at") or ""), str(e.get("source")), str(e.get("scope"))))
    for row, e in enumerate(ranked, start=2):
        status_code = e.get("status_code")
        values = (
            e.get("occurred_at") or "",
            e.get("kind") or "",
            e.get("source") or "",
            e.get("scope") or "",
            e.get("code") or "",
            status_code if isinstance(status_code, int) and not isinstance(status_code, bool) else (status_code or ""),
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
    facts = (
        (("基準日時", "As of"), meta.get("as_of")),
        (("作成日時", "Generated at"), meta.get("generated_at")),
        (("shoko バージョン", "shoko version"), meta.get("shoko_version")),
        (("カタログバージョン", "Catalog version"), meta.get("catalog_version")),
        (("要求事項数", "Requirements"), len(requirements)),
        (("検出事項数", "Findings"), len(findings)),
        (("アテステーション数", "Attestations"), len(attestations)),
        (("収集エラー数", "Collection errors"), len(errors)),
    )
    _header(ws, (("項目", "Item", 24), ("値", "Value", 66), ("", "", 22), ("", "", 12)), lang)
    row = 2
    for label, value in facts:
        _row(ws, row, (_text(label, lang), "" if value is None else value))
        ws.cell(row=row, column=1).font = _HEADER_FONT
        row += 1

    row += 1
    legend_header = row
    legend = (("状況", "Status"), ("意味", "Meaning"), ("要求事項数", "Requirements"), ("検出事項数", "Findings"))
    for col, label in enumerate(legend, start=1):
        _heading_cell(ws.cell(row=row, column=col), _text(label, lang))
    req_counts = Counter(r["status"] for r in requirements)
    finding_counts = Counter(f["status"] for f in findings)
    for status in STATUSES:
        row += 1
        found = finding_counts.get(status, 0) if status in FINDING_STATUSES else ""
        meaning = _text(STATUS_MEANING[status], lang)
        _row(ws, row, (_status_label(status, lang), meaning, req_counts.get(status, 0), found))
        _colour(ws.cell(row=row, column=1), status)
    ws.auto_filter.ref = f"A{legend_header}:D{row}"
    row += 1
    _row(ws, row, (_text(("合計", "Total"), lang), "", len(requirements), len(findings)))
    ws.cell(row=row, column=1).font = _HEADER_FONT

    row += 2
    runs_header = row
    run_columns = (("収集実行 ID", "Run ID"), ("ダイジェスト", "Digest"), ("完了日時", "Finished at"))
    for col, label in enumerate(run_columns, start=1):
        _heading_cell(ws.cell(row=row, column=col), _text(label, lang))
    for run in meta.get("runs") or []:
        row += 1
        _row(ws, row, (run.get("id") or "", run.get("digest") or "", run.get("finished_at") or ""))
    if row == runs_header:
        row += 1
        _row(ws, row, (_text(("（収集実行なし）", "(no runs)"), lang), "", ""))
    ws.freeze_panes = "A2"
    _print_setup(ws)


# -- cells ------------------------------------------------------------------------------------------


def _text(pair: tuple[str, str], lang: str, sep: str = "\n") -> str:
    ja, en = pair
    if lang == "ja":
        return ja or en
    if lang == "en":
        return en or ja
    return sep.join(p for p in (ja, en) if p) if ja != en else ja


def _status_label(status: str, lang: str) -> str:
    return _text((STATUS_JA[status], STATUS_EN[status]), lang, " / ")


def _lines(values: Iterable[Any] | None) -> str:
    return "\n".join(str(v) for v in values or [])


def _joined(values: Iterable[Any] | None) -> str:
    return ", ".join(str(v) for v in values or [])


def _header(ws: Worksheet, columns: Sequence[tuple[str, str, int]], lang: str) -> None:
    for col, (ja, en, width) in enumerate(columns, start=1):
        if ja or en:
            _heading_cell(ws.cell(row=1, column=col), _text((ja, en), lang))
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
    cell.font = Font(bold=status in ("fail", "error", "expired"), color=STATUS_FONT.get(status, "000000"))


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
    title = ("3省2ガイドライン 回答表（shoko 証跡）", "METI answer sheet (shoko evidence)")
    wb.properties.title = _text(title, lang, " / ")
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
