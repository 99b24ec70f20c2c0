"""`shoko status --by mhlw6`: a run's verdicts under the MHLW 6.0 numbering (編 / chapter / 遵守事項).

The verdicts are the METI No verdicts the run stored; this view only regroups them. A No cited under
several 6.0 references appears under each. A group's status is the least favourable of its Nos'
verdicts (SUMMARY_ORDER), so one failing No makes its 遵守事項 and chapter fail; the counts beside it
say how many of each. Nos with no 6.0 reference are listed last, never dropped.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from collector.render import STATUS_LABELS, _pad
from controls.mhlw6 import Mhlw6, Reference
from controls.model import Status

# Least favourable first: a group shows the first of these that any of its Nos has.
SUMMARY_ORDER = (
    Status.FAIL,
    Status.ERROR,
    Status.EXPIRED,
    Status.MANUAL,
    Status.PARTIAL,
    Status.ATTESTED,
    Status.PASS,
    Status.INHERITED,
    Status.NOT_APPLICABLE,
)
SUMMARY_RULE_EN = (
    "a group's status is the least favourable of its requirements' verdicts, in the order "
    + ", ".join(s.value for s in SUMMARY_ORDER)
    + "; a requirement cited under several 6.0 references counts under each"
)
SUMMARY_RULE_JA = (
    "グループの状況は、属する要求事項の判定のうち最も不利なもの（"
    + ", ".join(s.value for s in SUMMARY_ORDER)
    + " の順）。複数の 6.0 項目に対応する要求事項は各項目に数える"
)


def summarise(statuses: list[str]) -> str | None:
    present = set(statuses)
    return next((s.value for s in SUMMARY_ORDER if s.value in present), None)


def _counts(statuses: list[str]) -> dict[str, int]:
    counted = Counter(statuses)
    return {s.value: counted[s.value] for s in SUMMARY_ORDER if counted[s.value]}


def _group(ref: Reference, nos: list[int], by_no: dict[int, dict[str, Any]]) -> dict[str, Any]:
    statuses = [by_no[n]["status"] for n in nos]
    return {
        "id": ref.id,
        "item": ref.item,
        "label": ref.label(),
        "quote_ja": ref.quote_ja,
        "summary_en": ref.summary_en,
        "reference_status": "confirmed" if ref.confirmed else "unconfirmed",
        "source": {"url": ref.source.url, "page": ref.source.page},
        "status": summarise(statuses),
        "counts": _counts(statuses),
        "requirements": [{"no": n, "status": by_no[n]["status"]} for n in nos],
    }


def by_mhlw6(refs: Mhlw6, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Group verdict rows (collector.render.verdict_rows) by 6.0 chapter and 遵守事項."""
    by_no = {r["no"]: r for r in rows}
    chapters = []
    for chapter in refs.chapters():
        entries = [chapter, *refs.items_of(chapter.id)]
        groups = []
        for ref in entries:
            nos = [n for n in refs.numbers_under(ref.id) if n in by_no]
            if nos:
                groups.append(_group(ref, nos, by_no))
        if not groups:
            continue
        nos_in_chapter = sorted({r["no"] for g in groups for r in g["requirements"]})
        statuses = [by_no[n]["status"] for n in nos_in_chapter]
        chapters.append(
            {
                "id": chapter.id,
                "volume": chapter.volume_ja,
                "chapter": chapter.chapter,
                "title_ja": chapter.title_ja,
                "title_en": chapter.title_en,
                "reference_status": "confirmed" if chapter.confirmed else "unconfirmed",
                "status": summarise(statuses),
                "counts": _counts(statuses),
                "requirements": nos_in_chapter,
                "items": groups,
            }
        )
    not_mapped = []
    for row in rows:
        if refs.refs_of_requirement(row["no"]):
            continue
        mapping = refs.requirement(row["no"])
        not_mapped.append(
            {
                "no": row["no"],
                "status": row["status"],
                "reason_ja": mapping.reason_ja if mapping else None,
                "reason_en": mapping.reason_en if mapping else "no MHLW 6.0 reference recorded",
            }
        )
    return {
        "framework": "MHLW 6.0",
        "summary_rule_en": SUMMARY_RULE_EN,
        "summary_rule_ja": SUMMARY_RULE_JA,
        "chapters": chapters,
        "not_mapped": not_mapped,
    }


def _status(value: str | None) -> str:
    return STATUS_LABELS.get(Status(value), value) if value else "-"


def _nos(requirements: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['no']} {r['status']}" for r in requirements)


def mhlw6_table(view: dict[str, Any], lang: str = "both") -> str:
    lines = ["MHLW 6.0 医療情報システムの安全管理に関するガイドライン 第6.0版 — 編 / 章 / 遵守事項 ('?' = unconfirmed)"]
    for ch in view["chapters"]:
        title = {"ja": ch["title_ja"], "en": ch["title_en"]}.get(lang, f"{ch['title_ja']} / {ch['title_en']}")
        mark = "" if ch["reference_status"] == "confirmed" else "?"
        counts = ", ".join(f"{n} {s}" for s, n in ch["counts"].items())
        lines.append("")
        lines.append(f"{ch['volume']} {ch['chapter']}{mark} {title}  —  {_status(ch['status'])} ({counts})")
        for g in ch["items"]:
            if g["id"] == ch["id"]:
                where = "(章 chapter)"
            else:
                where = g["id"].removeprefix(ch["id"]) + ("" if g["reference_status"] == "confirmed" else "?")
            lines.append(f"  {_pad(where, 14)}  {_pad(_status(g['status']), 16)}  No {_nos(g['requirements'])}")
    if view["not_mapped"]:
        lines.append("")
        lines.append(f"6.0 の対応なし / no MHLW 6.0 reference: {len(view['not_mapped'])} requirement(s)")
        lines.append("  No " + ", ".join(f"{r['no']} {r['status']}" for r in view["not_mapped"]))
    lines.append("")
    if lang in ("ja", "both"):
        lines.append(SUMMARY_RULE_JA)
    if lang in ("en", "both"):
        lines.append(SUMMARY_RULE_EN)
    return "\n".join(lines)


def controls_table(controls: list[dict[str, Any]], lang: str = "both") -> str:
    """The 6.0 items with no 2012 number (controls.mhlw6.judge_controls), after the No 1–182 rows."""
    lines = ["", "2012 年版に番号のない 6.0 の項目 / MHLW 6.0 items with no 2012 No:"]
    for c in controls:
        if lang == "ja":
            title, reason = c["title_ja"], c["reason_ja"]
        elif lang == "en":
            title, reason = c["title_en"], c["reason_en"]
        else:
            title, reason = f"{c['title_ja']} / {c['title_en']}", f"{c['reason_ja']} / {c['reason_en']}"
        lines.append(f"  {_pad(c['id'], 16)}  {_pad(_status(c['status']), 16)}  {title} — {reason}")
    return "\n".join(lines)
