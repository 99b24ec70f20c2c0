"""Plain-text and JSON views of a run's verdicts for people at a terminal."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from controls.catalog import Catalog, Requirement
from controls.mhlw6 import Mhlw6, short
from controls.model import STATUS_JA, Evidence, Finding, Status, Verdict
from controls.weakened import Weakened, recorded_thresholds, thresholds_of_checks, weakened_settings
from storage.ledger import FINDING_ORDER, EvidenceRecord, FindingsPage, RunRecord

# The terminal's status words: the English value (upper case where it needs attention) beside the Japanese word
# the reports and alerts use (controls.model.STATUS_JA).
_LOUD = frozenset({Status.FAIL, Status.ERROR, Status.EXPIRED})
_SHORT = {Status.NOT_APPLICABLE: "n/a"}
STATUS_LABELS = {s: f"{_SHORT.get(s, s.value.upper() if s in _LOUD else s.value)} {STATUS_JA[s.value]}" for s in Status}


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def coverage_of(req: Requirement) -> str:
    """How far checks reach into the requirement: full, partial, supporting (manual with checks) or none."""
    if req.coverage is not None:
        return str(req.coverage)
    return "supporting" if req.supporting_checks else "none"


COVERAGE_LABELS = {"full": "full 全体", "partial": "partial 一部", "supporting": "support 補助", "none": "-"}


def verdict_rows(catalog: Catalog, verdicts: Iterable[Verdict]) -> list[dict[str, Any]]:
    by_number = {v.requirement: v for v in verdicts}
    rows = []
    for req in catalog:
        v = by_number.get(req.number)
        rows.append(
            {
                "no": req.number,
                "section": req.section,
                "item": req.item,
                "title_ja": req.title_ja,
                "title_en": req.title_en,
                "responsibility": str(req.responsibility),
                "evidence_mode": str(req.evidence_mode),
                "coverage": coverage_of(req),
                "coverage_ja": req.coverage_ja,
                "coverage_en": req.coverage_en,
                # A requirement the run has no verdict for is shown as error, never left blank.
                "status": str(v.status) if v else str(Status.ERROR),
                "reason_ja": v.reason_ja if v else "この実行に判定がありません",
                "reason_en": v.reason_en if v else "no verdict stored for this run",
                "checks": list(v.check_ids) if v else [],
                "findings": {"pass": v.findings_pass, "fail": v.findings_fail, "error": v.findings_error} if v else {},
            }
        )
    return rows


def table(rows: list[dict[str, Any]], lang: str = "both") -> str:
    lines = []
    header = (
        f"{'No':>3}  {_pad('項目 section', 12)}  {_pad('状況 status', 16)}  {_pad('範囲 cov', 12)}  "
        "要求事項 / requirement — 理由 / reason"
    )
    lines.append(header)
    lines.append("-" * 100)
    for r in rows:
        status = STATUS_LABELS.get(Status(r["status"]), r["status"])
        section = r["section"] + (f" {r['item']}" if r["item"] else "")
        if lang == "ja":
            title, reason = r["title_ja"], r["reason_ja"]
        elif lang == "en":
            title, reason = r["title_en"], r["reason_en"]
        else:
            title, reason = f"{r['title_ja']} / {r['title_en']}", f"{r['reason_ja']} / {r['reason_en']}"
        cov = COVERAGE_LABELS.get(r["coverage"], r["coverage"])
        lines.append(f"{r['no']:>3}  {_pad(section, 12)}  {_pad(status, 16)}  {_pad(cov, 12)}  {title} — {reason}")
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]], run: RunRecord) -> str:
    counts = Counter(r["status"] for r in rows)
    order = [s.value for s in Status]
    parts = ", ".join(f"{counts[s]} {s}" for s in order if counts[s])
    cov = Counter(r["coverage"] for r in rows)
    kind = f"partial run ({', '.join(run.scope['kinds'])}): " if run.scope.get("partial") else ""
    line = kind + (
        f"{len(rows)} requirements: {parts} — checks decide {cov['full']} fully, {cov['partial']} partly, "
        f"support {cov['supporting']} manual — run {run.id} {run.status} at "
        f"{run.finished_at.isoformat() if run.finished_at else '?'}, digest {(run.digest or '')[:16]}"
    )
    if run.scope.get("profile"):
        line += f", judged by the {run.scope['profile']} guideline profile"
    return f"{line} — run error: {run.error}" if run.error else line


def check_mapping(catalog: Catalog, check_id: str) -> list[dict[str, Any]]:
    """The requirements a check evidences, each with how: full, partial or supporting."""
    return [{"no": n, "coverage": coverage_of(catalog[n])} for n in catalog.requirements_of(check_id)]


def mhlw6_line(refs: Mhlw6, check_id: str, lang: str = "both") -> str:
    """A check's MHLW 6.0 references in one line ('?' marks an unconfirmed one), or why none applies."""
    mapping = refs.check(check_id)
    if mapping is None:
        return "MHLW 6.0: not recorded"
    if not mapping.refs:
        reason = {"ja": mapping.reason_ja, "en": mapping.reason_en}.get(
            lang, f"{mapping.reason_ja} / {mapping.reason_en}"
        )
        return f"MHLW 6.0: none — {reason}"
    return "MHLW 6.0: " + ", ".join(f"{short(r)} {r.title_ja}" for r in refs.refs_of_check(check_id))


def check_reference(checks: Iterable[Any], catalog: Catalog, lang: str = "both", refs: Mhlw6 | None = None) -> str:
    """Each check's documented rule: what it reads, how it passes, how to fix it (for reviewers and auditors)."""
    blocks = []
    for c in checks:
        nos = ", ".join(f"No {m['no']} {m['coverage']}" for m in check_mapping(catalog, c.id)) or "not mapped"
        lines = [f"{c.id}  [METI 2012: {nos}]"]
        if refs is not None:
            lines.append(f"  {mhlw6_line(refs, c.id, lang)}")
        if lang in ("ja", "both"):
            lines += [f"  {c.title_ja}", f"  判定: {c.rule_ja}", f"  是正: {c.remediation_ja}"]
        if lang in ("en", "both"):
            lines += [f"  {c.title_en}", f"  rule: {c.rule_en}", f"  fix:  {c.remediation_en}"]
        lines.append(f"  judges: {', '.join(c.judges)}")
        lines.append(f"  reads: {c.api}")
        if c.thresholds:
            lines.append(f"  thresholds: {', '.join(c.thresholds)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def explain(
    req: Any,
    verdict: Verdict | None,
    findings: list[Finding],
    evidence: Sequence[Evidence | EvidenceRecord],
    run: RunRecord,
    refs: Mhlw6 | None = None,
    *,
    page: FindingsPage | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    """One requirement's verdict with every finding behind it and the evidence records each was judged on; given
    `page` (`findings` is its page, cut at `offset` and `limit`), also the count per status of all the findings and
    how many meet the page's filters (`total`)."""
    by_sha: dict[str, list[Evidence | EvidenceRecord]] = {}
    for ev in evidence:
        by_sha.setdefault(ev.sha256, []).append(ev)
    ordered = sorted(findings, key=lambda f: (FINDING_ORDER.get(f.status, 3), f.check_id, f.resource_id.lower()))
    checks = list(verdict.check_ids) if verdict and verdict.check_ids else list(req.checks or req.supporting_checks)
    profile_weaker = [w.as_dict() for w in weakened_settings(run.scope) if w.key == "guideline.profile"]
    return {
        "run": {
            "id": run.id,
            "status": str(run.status),
            "digest": run.digest,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "profile": run.scope.get("profile"),
            "profile_weaker": profile_weaker[0] if profile_weaker else None,
        },
        # The values the checks behind the verdict judged with, as the run recorded them (not today's config).
        "thresholds_recorded": recorded_thresholds(run.scope) is not None,
        "thresholds": thresholds_of_checks(run.scope, checks),
        "no": req.number,
        "section": req.section,
        "item": req.item,
        "title_ja": req.title_ja,
        "title_en": req.title_en,
        "coverage": coverage_of(req),
        "coverage_ja": req.coverage_ja,
        "coverage_en": req.coverage_en,
        "checks": list(req.checks or req.supporting_checks),
        **(refs.requirement_view(req.number) if refs is not None else {}),
        "status": str(verdict.status) if verdict else str(Status.ERROR),
        "reason_ja": verdict.reason_ja if verdict else "この実行に判定がありません",
        "reason_en": verdict.reason_en if verdict else "no verdict stored for this run",
        "findings": [
            {
                "check": f.check_id,
                "status": str(f.status),
                "resource_id": f.resource_id,
                "reason_ja": f.reason_ja,
                "reason_en": f.reason_en,
                "evidence": [
                    {
                        "sha256": ev.sha256,
                        "kind": str(ev.kind),
                        "source": ev.source,
                        "resource_id": ev.resource_id,
                        "api_version": ev.api_version,
                        "request_id": ev.request_id,
                        "collected_at": ev.collected_at.isoformat(),
                        "redactions": [r.as_dict() for r in ev.redactions],
                    }
                    for sha in f.evidence
                    for ev in by_sha.get(sha, [])
                ],
            }
            for f in ordered
        ],
        **(_paging(page, limit, offset) if page is not None else {}),
    }


def _paging(page: FindingsPage, limit: int | None, offset: int) -> dict[str, Any]:
    order = {s.value: n for n, s in enumerate(STATUS_LABELS)}
    counts = dict(sorted(page.counts.items(), key=lambda kv: (FINDING_ORDER.get(kv[0], 3), order.get(kv[0], 99))))
    return {"counts": counts, "total": page.total, "limit": limit, "offset": offset}


def _mhlw6_lines(data: dict[str, Any]) -> list[str]:
    """The MHLW 6.0 and METI/MIC 1.1 別紙2 references of an explained requirement, with their sources."""
    if "mhlw6" not in data:
        return []
    if not data["mhlw6"]:
        reason = data.get("mhlw6_reason_en") or "no reference recorded"
        ja = f"{data['mhlw6_reason_ja']} / " if data.get("mhlw6_reason_ja") else ""
        return [f"MHLW 6.0: none — {ja}{reason}"]
    lines = ["MHLW 6.0:"]
    for ref in data["mhlw6"]:
        lines.append(f"  {ref['label']} [{ref['status']}]")
        if ref["quote_ja"]:
            lines.append(f"    「{ref['quote_ja']}」")
        lines.append(f"    source: {ref['source']['title_ja']} p{ref['source']['page']} {ref['source']['url']}")
    for entry in data.get("meti_mic_1_1_annex2", []):
        lines.append(f"  METI/MIC 1.1 別紙2 p{entry['page']} {entry['heading_ja']} [{entry['status']}] {entry['url']}")
    return lines


def explain_text(data: dict[str, Any]) -> str:
    status = STATUS_LABELS.get(Status(data["status"]), data["status"])
    item = f" {data['item']}" if data["item"] else ""
    lines = [
        f"No {data['no']}  {data['section']}{item}  {data['title_ja']} / {data['title_en']}",
        f"{status}: {data['reason_ja']}",
        f"{' ' * _width(status)}  {data['reason_en']}",
        f"coverage: {COVERAGE_LABELS.get(data['coverage'], data['coverage'])}"
        + (f" ({', '.join(data['checks'])})" if data["checks"] else ""),
        f"run {data['run']['id']} {data['run']['status']} at {data['run']['finished_at']}, "
        f"digest {data['run']['digest']}",
    ]
    lines += _mhlw6_lines(data)
    lines += _threshold_lines(data)
    shown, total = len(data["findings"]), data.get("total", len(data["findings"]))
    if shown < total:  # a page of many: the counts, and how to see the rest
        counts = "  ".join(f"{STATUS_LABELS.get(Status(s), s)} {n:,}" for s, n in data["counts"].items())
        lines += [
            f"findings: {total:,}  ({counts})",
            f"showing {shown:,} of {total:,} findings (failures first); --all for every finding / 全件は --all",
        ]
    else:
        lines.append(f"findings: {shown}")
    for f in data["findings"]:
        lines += [
            "",
            f"  {STATUS_LABELS.get(Status(f['status']), f['status'])}  {f['check']}  {f['resource_id']}",
            f"    {f['reason_ja']}",
            f"    {f['reason_en']}",
        ]
        for ev in f["evidence"]:
            lines.append(
                f"    evidence {ev['sha256'][:16]}  {ev['kind']} via {ev['source']} (api-version {ev['api_version']}, "
                f"request {ev['request_id']}, {ev['collected_at']})  {ev['resource_id']}"
            )
            if ev.get("redactions"):
                rules = ", ".join(sorted({r["rule"] for r in ev["redactions"]}))
                lines.append(f"      {len(ev['redactions'])} secret value(s) blanked before storing ({rules})")
    return "\n".join(lines)


def _value(value: Any) -> str:
    return "[" + ", ".join(str(v) for v in value) + "]" if isinstance(value, list) else str(value)


def _threshold_lines(data: dict[str, Any]) -> list[str]:
    """The thresholds the verdict's checks judged with, as the run recorded them; weaker ones flagged."""
    run = data["run"]
    lines = []
    if run.get("profile_weaker"):
        w = run["profile_weaker"]
        lines.append(f"WEAKER THAN DEFAULT 既定より緩い設定  guideline.profile: {w['why_ja']} / {w['why_en']}")
    with_values = [c for c in data["thresholds"] if c["thresholds"]]
    if not with_values:
        return lines
    if not data["thresholds_recorded"]:
        return [*lines, f"thresholds: not recorded by run {run['id']} (it was collected before runs recorded them)"]
    lines.append(f"thresholds judged with 判定に用いた閾値 (recorded by run {run['id']}):")
    for c in with_values:
        lines.append(f"  {c['check']}")
        for t in c["thresholds"]:
            shown = _value(t["value"]) if t["recorded"] else "not recorded"
            if t["weaker"]:
                why = f"{t['weaker']['why_ja']} / {t['weaker']['why_en']}"
                lines.append(f"    {t['name']} = {shown}  WEAKER THAN DEFAULT 既定より緩い: {why}")
            else:
                lines.append(f"    {t['name']} = {shown}")
    return lines


def weakened_lines(weakened: list[Weakened]) -> list[str]:
    """`shoko status`'s lines for the run's settings weaker than the shipped defaults (none: no line). A run stored
    before runs recorded thresholds has `thresholds: null` in --json, and explain says so."""
    return [f"WEAKER THAN DEFAULT 既定より緩い設定  {w.line()}" for w in weakened]
