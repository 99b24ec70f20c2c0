"""What the auditor's reports say, whatever they are written as (report.xlsx, report.html, report.pdf).

The status words and their meanings, the columns of each table in Japanese and English, the status colours,
the checks on the rows handed in, and how one row's values read as text. The writers only lay it out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from controls.model import STATUS_JA

REQUIREMENT_NUMBERS = range(1, 183)
LANGS = ("ja", "en", "both")
STATUSES = ("pass", "fail", "error", "partial", "manual", "attested", "expired", "inherited", "not_applicable")
FINDING_STATUSES = ("fail", "error", "pass")  # the order findings are listed in: failures first
ATTESTATION_STATES = ("valid", "expired", "revoked", "not_yet")

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

# Background and text colour per status (RGB hex): fail red, error orange, partial/expired yellow, pass/attested
# green, the rest grey. Every pair keeps a contrast of at least 4.5:1, and the status word is always written too.
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
STRONG_STATUSES = ("fail", "error", "expired")  # shown bold

TITLE = ("3省2ガイドライン 回答表（shoko 証跡）", "METI answer sheet (shoko evidence)")
SECTION_NAMES = {
    "answers": ("回答表", "Answer sheet"),
    "findings": ("検出事項", "Findings"),
    "attestations": ("アテステーション", "Attestations"),
    "errors": ("収集エラー", "Collection errors"),
    "summary": ("概要", "Summary"),
}

# (ja header, en header, column width in characters)
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
    # The current guideline's numbering beside the 2012 sheet's: '?' after a reading not confirmed in the text.
    ("MHLW 6.0", "MHLW 6.0", 18),
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
LEGEND_COLUMNS = (("状況", "Status"), ("意味", "Meaning"), ("要求事項数", "Requirements"), ("検出事項数", "Findings"))
RUN_COLUMNS = (("収集実行 ID", "Run ID"), ("ダイジェスト", "Digest"), ("完了日時", "Finished at"))
TOTAL = ("合計", "Total")
NO_RUNS = ("（収集実行なし）", "(no runs)")
NONE_LISTED = ("（なし）", "(none)")
FINGERPRINT = ("署名鍵フィンガープリント", "Signing key fingerprint")


# -- the rows handed in -----------------------------------------------------------------------------


def validate(requirements: list[dict], findings: list[dict], attestations: list[dict], meta: dict, lang: str) -> None:
    """ValueError naming what is wrong: an unknown language, a No missing or given twice (against the numbers
    ``meta["requirements"]`` lists, default 1–182), or a status shoko does not know."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    expected: Iterable[int] = meta.get("requirements") or REQUIREMENT_NUMBERS
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


# -- the order rows are listed in -------------------------------------------------------------------


def ranked_requirements(requirements: list[dict]) -> list[dict]:
    return sorted(requirements, key=lambda r: r["no"])


def ranked_findings(findings: Iterable[dict]) -> Iterable[dict]:
    if hasattr(findings, "ranked"):  # rows kept on disk (reports/finding_rows.py) read back in this order
        return findings.ranked()
    order = {s: i for i, s in enumerate(FINDING_STATUSES)}
    return sorted(findings, key=lambda f: (order[f["status"]], str(f.get("check_id")), str(f.get("resource_id"))))


def ranked_attestations(attestations: list[dict]) -> list[dict]:
    return sorted(attestations, key=lambda a: (min(a.get("requirements") or [0]), str(a.get("id"))))


def ranked_errors(errors: list[dict]) -> list[dict]:
    return sorted(errors, key=lambda e: (str(e.get("occurred_at") or ""), str(e.get("source")), str(e.get("scope"))))


# -- how values read ---------------------------------------------------------------------------------


def text(pair: tuple[str, str], lang: str, sep: str = "\n") -> str:
    """The Japanese or English of a pair; both (Japanese first) with lang "both"."""
    ja, en = pair
    if lang == "ja":
        return ja or en
    if lang == "en":
        return en or ja
    return sep.join(p for p in (ja, en) if p) if ja != en else ja


def status_label(status: str, lang: str) -> str:
    return text((STATUS_JA[status], STATUS_EN[status]), lang, " / ")


def state_label(state: str, lang: str) -> str:
    return text(STATE_LABELS[state], lang, " / ")


def item_of(r: dict) -> str:
    """項目番号: the section and the item within it."""
    return " ".join(p for p in (r.get("section") or "", r.get("item") or "") if p)


def mark_of(r: dict, lang: str) -> str:
    """物理レイヤー Azure as the answer sheet marks it: ○, — or blank (or that the mark was not extracted)."""
    mark = r.get("source_mark")
    return text(NOT_EXTRACTED, lang) if mark == "not_extracted" else {"○": "○", "—": "—"}.get(mark or "", "")


def coverage_of(r: dict, lang: str) -> str:
    return text(COVERAGE_LABELS[r["coverage"]], lang, " / ") if r.get("coverage") else ""


def bilingual(row: dict, field: str, lang: str) -> str:
    """``field_ja`` / ``field_en`` of a row (reason, title, statement) in the report's language."""
    return text((row.get(f"{field}_ja") or "", row.get(f"{field}_en") or ""), lang)


def numbers_of(values: Iterable[Any] | None) -> str:
    return ", ".join(str(v) for v in values or [])


def status_code_of(e: dict) -> int | str:
    code = e.get("status_code")
    return code if isinstance(code, int) and not isinstance(code, bool) else (code or "")


def summary_facts(
    requirements: list[dict], findings: list[dict], attestations: list[dict], errors: list[dict], meta: dict
) -> tuple[tuple[tuple[str, str], Any], ...]:
    """The key facts a report opens its summary with: (label, value)."""
    return (
        (("基準日時", "As of"), meta.get("as_of")),
        (("作成日時", "Generated at"), meta.get("generated_at")),
        (("shoko バージョン", "shoko version"), meta.get("shoko_version")),
        (("カタログバージョン", "Catalog version"), meta.get("catalog_version")),
        (("要求事項数", "Requirements"), len(requirements)),
        (("検出事項数", "Findings"), len(findings)),
        (("アテステーション数", "Attestations"), len(attestations)),
        (("収集エラー数", "Collection errors"), len(errors)),
        (("既定より緩い設定", "Settings weaker than default"), weaker_summary(meta)),
    )


def weaker_summary(meta: dict) -> str:
    """The run's settings weaker than the shipped defaults, in one cell (snapshot meta)."""
    weaker = meta.get("settings_weaker_than_default") or []
    parts = [f"{w['key']}: {w['why_ja']} / {w['why_en']}" for w in weaker]
    if "thresholds" in meta and meta["thresholds"] is None:
        parts.append("閾値は記録されていません / thresholds not recorded by this run")
    return "; ".join(parts) or "なし / none"
