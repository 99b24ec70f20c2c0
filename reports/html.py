"""The auditor's report.html: the answer sheet and everything beside it, as one printable page.

:func:`render_report` turns the same rows report.xlsx is written from into a self-contained document: no
external assets, no script, the style inline; it prints on A4 landscape with the table headers repeated on each
page, and reports/pdf.py renders report.pdf from it. Every value taken from the rows is escaped; evidence file
names link to the files beside report.html in the bundle.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reports.answer_sheet import (
    ANSWER_COLUMNS,
    ATTESTATION_COLUMNS,
    ERROR_COLUMNS,
    FINDING_COLUMNS,
    FINDING_STATUSES,
    FINGERPRINT,
    LEGEND_COLUMNS,
    NO_RUNS,
    NONE_LISTED,
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

# Named so WeasyPrint uses Debian's Noto CJK (fonts-noto-cjk) for report.pdf; a browser falls back to the others.
FONT_FAMILY = "Noto Sans CJK JP"
_FONTS = f'"{FONT_FAMILY}", "Noto Sans JP", "Hiragino Sans", "Yu Gothic", Meiryo, sans-serif'
# A requirement citing more evidence files than this shows them by folder with a count (a printed row of a hundred
# file names would fill pages); the findings table lists every file, each beside the finding it backs.
LISTED_FILES = 6
MIN_COLUMN_WIDTH = 11
ANSWERS_NOTE = (
    f"証跡が {LISTED_FILES} ファイルを超える要求事項はフォルダごとのファイル数を示します。"
    "個々のファイルは検出事項の表に、検出事項ごとに示します。",
    f"Where a requirement cites more than {LISTED_FILES} evidence files, they are shown by folder with a count; "
    "the findings table names every file beside its finding.",
)
VERIFY_NOTE = (
    "この報告書を含むバンドルの改ざん有無は `shoko snapshot verify` で確認できます。"
    "署名鍵フィンガープリントはベンダーが公開するものと照合してください。",
    "Check that the bundle holding this report is unaltered with `shoko snapshot verify`, and compare the signing "
    "key fingerprint with the one the vendor publishes.",
)


# The printed report lists at most this many failures (and errors) per check, then how many more there are: a
# large estate's thousands of failures would otherwise make report.pdf slow and huge to lay out (WeasyPrint holds
# about 0.17 MB per printed row). report.html, report.xlsx and findings.json list every one.
PRINTED_PER_CHECK = 5


def render_report(
    *,
    requirements: list[dict],
    findings: list[dict],
    attestations: list[dict],
    errors: list[dict],
    lang: str = "ja",
    meta: dict,
    fingerprint: str | None = None,
    passes_by_check: bool = False,
    listed_per_check: int | None = None,
) -> str:
    """The report as HTML text; the same checks on the rows as report.xlsx (ValueError names what is wrong).
    `passes_by_check`: passing findings as one row per check with their count (the printed report: a large
    estate's every passing resource would run to thousands of pages; report.xlsx and findings.json list each).
    `listed_per_check`: at most this many failures and errors of each check, then a row saying how many more."""
    return "".join(
        report_chunks(
            requirements=requirements,
            findings=findings,
            attestations=attestations,
            errors=errors,
            lang=lang,
            meta=meta,
            fingerprint=fingerprint,
            passes_by_check=passes_by_check,
            listed_per_check=listed_per_check,
        )
    )


def write_html(path: Path, **rows: Any) -> None:
    """render_report's document written to `path` a piece at a time (a large estate's findings table is never
    one string in memory)."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        for chunk in report_chunks(**rows):
            out.write(chunk)


def report_chunks(
    *,
    requirements: list[dict],
    findings: list[dict],
    attestations: list[dict],
    errors: list[dict],
    lang: str = "ja",
    meta: dict,
    fingerprint: str | None = None,
    passes_by_check: bool = False,
    listed_per_check: int | None = None,
) -> Iterator[str]:
    """render_report's text in pieces, in order."""
    validate(requirements, findings, attestations, meta, lang)
    title = text(TITLE, lang, " / ")
    head = [
        "<!DOCTYPE html>",
        f'<html lang="{"en" if lang == "en" else "ja"}">',
        '<head><meta charset="utf-8">',
        f"<title>{_e(title)}</title>",
        f"<style>{_css(title)}</style>",
        "</head><body>",
        f"<h1>{_e(title)}</h1>",
        _summary(requirements, findings, attestations, errors, meta, lang, fingerprint),
        _answers(requirements, lang),
    ]
    yield "\n".join(head) + "\n"
    yield from _findings(findings, lang, passes_by_check, listed_per_check)
    yield "\n" + "\n".join([_attestations(attestations, lang), _errors(errors, lang), "</body></html>"]) + "\n"


# -- sections -----------------------------------------------------------------------------------------------


def _summary(
    requirements: list[dict],
    findings: list[dict],
    attestations: list[dict],
    errors: list[dict],
    meta: dict,
    lang: str,
    fingerprint: str | None,
) -> str:
    """Key facts, the status legend with counts, the runs the verdicts were built from."""
    facts = [*summary_facts(requirements, findings, attestations, errors, meta)]
    if fingerprint:
        facts.append((FINGERPRINT, fingerprint))
    rows = [
        f'<tr><th scope="row">{_e(text(label, lang))}</th><td class="mono">{_e(value)}</td></tr>'
        for label, value in facts
    ]
    out = [
        _section_start("summary", lang),
        f'<table class="facts"><colgroup><col style="width:25%"><col></colgroup><tbody>{"".join(rows)}</tbody></table>',
        f'<p class="note">{_e(text(VERIFY_NOTE, lang))}</p>',
    ]
    req_counts = Counter(r["status"] for r in requirements)
    finding_counts = Counter(f["status"] for f in findings)
    legend = []
    for status in STATUSES:
        found = finding_counts.get(status, 0) if status in FINDING_STATUSES else ""
        legend.append(
            _tr(
                [
                    _status_cell(status, status_label(status, lang)),
                    _td(text(STATUS_MEANING[status], lang)),
                    _td(req_counts.get(status, 0), "num"),
                    _td(found, "num"),
                ]
            )
        )
    legend.append(
        f'<tr class="total"><th scope="row">{_e(text(TOTAL, lang))}</th><td></td>'
        f'<td class="num">{len(requirements)}</td><td class="num">{len(findings)}</td></tr>'
    )
    out.append(_table(_plain_columns(LEGEND_COLUMNS, (14, 60, 13, 13)), legend, lang, "legend"))
    runs = [
        _tr([_td(r.get("id") or "", "mono"), _td(r.get("digest") or "", "mono"), _td(r.get("finished_at") or "")])
        for r in meta.get("runs") or []
    ] or [_empty_row(len(RUN_COLUMNS), NO_RUNS, lang)]
    out.append(_table(_plain_columns(RUN_COLUMNS, (12, 60, 28)), runs, lang, "runs"))
    out.append("</section>")
    return "\n".join(out)


def _answers(requirements: list[dict], lang: str) -> str:
    rows = [
        f'<tr id="no-{int(r["no"])}">'
        + "".join(
            [
                _td(item_of(r)),
                _td(r["no"], "num"),
                _td(bilingual(r, "title", lang)),
                _td(r.get("answer") or ""),
                _td(mark_of(r, lang), "mark"),
                _status_cell(r["status"], status_label(r["status"], lang)),
                _td(coverage_of(r, lang)),
                _td(bilingual(r, "reason", lang)),
                _evidence(r.get("evidence"), lang),
                _td(r.get("last_checked") or ""),
                _td(r.get("mhlw6") or ""),
            ]
        )
        + "</tr>"
        for r in ranked_requirements(requirements)
    ]
    return _section("answers", ANSWER_COLUMNS, rows, lang, ANSWERS_NOTE)


def _findings(
    findings: list[dict], lang: str, passes_by_check: bool = False, listed_per_check: int | None = None
) -> Iterator[str]:
    listed = (f for f in ranked_findings(findings) if not passes_by_check or f["status"] != "pass")
    rows = _finding_rows(listed, lang, listed_per_check)
    if passes_by_check:
        rows = itertools.chain(rows, (_passes_row(*passed, lang) for passed in _passes(findings)))
    return _section_chunks("findings", FINDING_COLUMNS, rows, lang)


def _finding_rows(ranked: Iterable[dict], lang: str, per_check: int | None) -> Iterator[str]:
    """A row per finding; with `per_check`, the first of each check and status, then one row for the rest."""
    for (status, check_id), group in itertools.groupby(ranked, key=lambda f: (f["status"], f.get("check_id"))):
        more, numbers = 0, set()
        for i, f in enumerate(group):
            if per_check is not None and i >= per_check:
                more += 1
                numbers.update(f.get("requirements") or [])
                continue
            yield _tr(
                [
                    _status_cell(f["status"], status_label(f["status"], lang)),
                    _td(f.get("check_id") or "", "mono"),
                    _td(f.get("resource_id") or "", "mono"),
                    _td(numbers_of(f.get("requirements"))),
                    _td(bilingual(f, "reason", lang)),
                    _links(f.get("evidence")),
                ]
            )
        if more:
            yield _more_row(status, str(check_id or ""), more, sorted(numbers), lang)


def _more_row(status: str, check_id: str, more: int, numbers: list[int], lang: str) -> str:
    where = text(
        (
            f"ほか {more} 件のリソース（個別は report.html・report.xlsx・findings.json）",
            f"{more} more resource(s) (each in report.html, report.xlsx and findings.json)",
        ),
        lang,
    )
    return _tr(
        [
            _status_cell(status, status_label(status, lang)),
            _td(check_id, "mono"),
            _td(where),
            _td(numbers_of(numbers)),
            _td(""),
            _td(""),
        ]
    )


def _passes(findings: Iterable[dict]) -> list[tuple[str, int, list[int]]]:
    """(check, how many passed, the requirement numbers they bear on) of each check with passing findings."""
    by_check: dict[str, tuple[int, set[int]]] = {}
    for f in findings:
        if f["status"] == "pass":
            count, numbers = by_check.get(str(f.get("check_id") or ""), (0, set()))
            numbers.update(f.get("requirements") or [])
            by_check[str(f.get("check_id") or "")] = (count + 1, numbers)
    return [(check_id, count, sorted(numbers)) for check_id, (count, numbers) in sorted(by_check.items())]


def _passes_row(check_id: str, count: int, numbers: list[int], lang: str) -> str:
    where = text((f"{count} 件のリソース（個別は report.xlsx・findings.json）",
                  f"{count} resource(s) (each in report.xlsx and findings.json)"), lang)  # fmt: skip
    reason = text(("すべて合格", "all passed"), lang)
    return _tr(
        [
            _status_cell("pass", status_label("pass", lang)),
            _td(check_id, "mono"),
            _td(where),
            _td(numbers_of(numbers)),
            _td(reason),
            _td(""),
        ]
    )


def _attestations(attestations: list[dict], lang: str) -> str:
    rows = [
        _tr(
            [
                _td(a.get("id") or "", "mono"),
                _td(numbers_of(a.get("requirements"))),
                _td(a.get("owner") or ""),
                _td(a.get("attested_on") or ""),
                _td(a.get("valid_until") or ""),
                _status_cell(STATE_COLOUR[a["state"]], state_label(a["state"], lang)),
                _td(bilingual(a, "statement", lang)),
                _links(a.get("documents")),
            ]
        )
        for a in ranked_attestations(attestations)
    ]
    return _section("attestations", ATTESTATION_COLUMNS, rows, lang)


def _errors(errors: list[dict], lang: str) -> str:
    rows = [
        _tr(
            [
                _td(e.get("occurred_at") or ""),
                _status_cell("error", e.get("kind") or ""),
                _td(e.get("source") or ""),
                _td(e.get("scope") or "", "mono"),
                _td(e.get("code") or ""),
                _td(status_code_of(e), "num"),
                _td(e.get("message") or ""),
                _td(e.get("request_id") or "", "mono"),
            ]
        )
        for e in ranked_errors(errors)
    ]
    return _section("errors", ERROR_COLUMNS, rows, lang)


# -- building blocks ----------------------------------------------------------------------------------------


def _section_start(name: str, lang: str) -> str:
    return f'<section id="{name}"><h2>{_e(text(SECTION_NAMES[name], lang, " / "))}</h2>'


def _section(
    name: str,
    columns: Sequence[tuple[str, str, int]],
    rows: list[str],
    lang: str,
    note: tuple[str, str] | None = None,
) -> str:
    return "".join(_section_chunks(name, columns, rows, lang, note))


def _section_chunks(
    name: str,
    columns: Sequence[tuple[str, str, int]],
    rows: Iterable[str],
    lang: str,
    note: tuple[str, str] | None = None,
) -> Iterator[str]:
    """A section with its table, in pieces: the rows are taken one at a time."""
    rows = iter(rows)
    first = next(rows, None)
    body = itertools.chain([first], rows) if first is not None else iter([_empty_row(len(columns), NONE_LISTED, lang)])
    lead = f'<p class="note">{_e(text(note, lang))}</p>' if note else ""
    yield f"{_section_start(name, lang)}{lead}\n"
    yield from _table_chunks(columns, body, lang, name)
    yield "\n</section>"


def _table(columns: Sequence[tuple[str, str, int]], rows: list[str], lang: str, name: str) -> str:
    return "".join(_table_chunks(columns, rows, lang, name))


def _table_chunks(columns: Sequence[tuple[str, str, int]], rows: Iterable[str], lang: str, name: str) -> Iterator[str]:
    """A table whose header row repeats on every printed page; column widths in proportion to the xlsx's (the
    narrowest widened, as a printed status word or number must not break)."""
    widths = [max(width, MIN_COLUMN_WIDTH) for _, _, width in columns]
    total = sum(widths)
    cols = "".join(f'<col style="width:{100 * width / total:.1f}%">' for width in widths)
    heads = "".join(f'<th scope="col">{_e(text((ja, en), lang))}</th>' for ja, en, _ in columns)
    yield f'<table class="{name}"><colgroup>{cols}</colgroup><thead><tr>{heads}</tr></thead><tbody>\n'
    for i, row in enumerate(rows):
        yield f"\n{row}" if i else row
    yield "\n</tbody></table>"


def _plain_columns(labels: Sequence[tuple[str, str]], widths: Sequence[int]) -> tuple[tuple[str, str, int], ...]:
    return tuple((ja, en, width) for (ja, en), width in zip(labels, widths, strict=True))


def _empty_row(span: int, label: tuple[str, str], lang: str) -> str:
    return f'<tr><td colspan="{span}" class="empty">{_e(text(label, lang))}</td></tr>'


def _tr(cells: Iterable[str]) -> str:
    return "<tr>" + "".join(cells) + "</tr>"


def _td(value: Any, cls: str = "") -> str:
    return f'<td class="{cls}">{_e(value)}</td>' if cls else f"<td>{_e(value)}</td>"


def _status_cell(status: str, label: str) -> str:
    """The status word itself, on its colour (never the colour alone)."""
    return f'<td class="status s-{status}">{_e(label)}</td>'


def _links(paths: Iterable[Any] | None) -> str:
    """Evidence file names, each a link relative to report.html inside the unzipped bundle."""
    return f'<td class="files">{"<br>".join(_link(str(p)) for p in paths or [])}</td>'


def _evidence(paths: Iterable[Any] | None, lang: str) -> str:
    """A requirement's evidence files; beyond LISTED_FILES, their folders with how many files each holds."""
    names = [str(p) for p in paths or []]
    if len(names) <= LISTED_FILES:
        return _links(names)
    folders = Counter(name.rsplit("/", 1)[0] + "/" if "/" in name else name for name in names)
    lines = [f"{_link(folder)} ({_e(text(_files(n), lang, ' / '))})" for folder, n in folders.items()]
    return f'<td class="files">{"<br>".join(lines)}</td>'


def _files(n: int) -> tuple[str, str]:
    return f"{n} ファイル", f"{n} file" if n == 1 else f"{n} files"


def _link(path: str) -> str:
    # An evidence record is cited as its file, `#` and its SHA-256: the file is what the link opens.
    file, mark, record = path.partition("#") if path.startswith("evidence/") else (path, "", "")
    return f'<a href="{escape(quote(file, safe="/") + mark + quote(record), quote=True)}">{_e(path)}</a>'


def _e(value: Any) -> str:
    """Escaped text; line breaks kept."""
    return "" if value is None else escape(str(value), quote=True).replace("\n", "<br>")


def _css(title: str) -> str:
    statuses = "\n".join(
        f".s-{status} {{ background: #{STATUS_FILL[status]}; color: #{STATUS_FONT.get(status, '000000')};"
        f"{' font-weight: bold;' if status in STRONG_STATUSES else ''} }}"
        for status in STATUSES
    )
    # The title in the page header is a CSS string: escape what would end it.
    header = title.replace("\\", "\\\\").replace('"', '\\"')
    return f"""
@page {{ size: A4 landscape; margin: 12mm 10mm 14mm 10mm;
  @top-right {{ content: "{header}"; font-size: 7pt; color: #595959; }}
  @bottom-center {{ content: counter(page) " / " counter(pages); font-size: 7pt; color: #595959; }} }}
html {{ font-family: {_FONTS}; font-size: 8pt; line-height: 1.35; color: #000; background: #fff; }}
h1 {{ font-size: 14pt; margin: 0 0 4mm; }}
h2 {{ font-size: 11pt; margin: 6mm 0 2mm; }}
section + section {{ break-before: page; }}
table {{ border-collapse: collapse; width: 100%; table-layout: fixed; margin-bottom: 4mm; }}
thead {{ display: table-header-group; }}
tr {{ break-inside: avoid; page-break-inside: avoid; }}
th, td {{ border: 0.5pt solid #808080; padding: 1.5pt 3pt; vertical-align: top; text-align: left;
  overflow-wrap: anywhere; }}
thead th {{ background: #DDEBF7; text-align: center; vertical-align: middle; overflow-wrap: break-word;
  font-size: 7pt; }}
tbody th {{ background: #F2F2F2; }}
td.num, td.mark {{ text-align: center; white-space: nowrap; }}
td.status {{ overflow-wrap: break-word; }}
td.mono, td.files {{ font-size: 7pt; }}
td.empty {{ color: #404040; text-align: center; }}
tr.total th, tr.total td {{ font-weight: bold; }}
p.note {{ font-size: 7.5pt; color: #404040; }}
a {{ color: #1F4E79; }}
@media print {{ a {{ color: inherit; text-decoration: none; }} }}
{statuses}
"""
