"""What an alert says: one message per channel per run, listing items (one per drift event, reminder or
resolve), in Japanese and English, with where to see the evidence.

The message is stored in the outbox as the JSON document `AlertMessage.to_document()` (that document
is also the generic webhook's body, see README "Alerts"); every channel's format is rendered from it at
send time, so a message survives a restart exactly as it was decided.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from alerts.config import SEVERITIES
from controls.model import STATUS_JA

SCHEMA = "shoko.alert/v1"

SEVERITY_LABELS = {"high": "高 HIGH", "medium": "中 MEDIUM", "low": "低 LOW", "info": "情報 INFO"}
# (ja, en singular, en plural), in the order a message lists them.
EVENT_LABELS: dict[str, tuple[str, str, str]] = {
    "new_failure": ("新たな不適合", "new failure", "new failures"),
    "new_error": ("新たな取得不可", "new error (could not see)", "new errors (could not see)"),
    "reminder": ("未解消(再通知)", "still open (reminder)", "still open (reminder)"),
    "resolved": ("解消", "resolved", "resolved"),
    "resource_gone": ("判定対象から消えたリソース", "resource no longer judged", "resources no longer judged"),
    "verdict_changed": ("判定の変化", "verdict change", "verdict changes"),
    "attestation_expiring": ("期限が近いアテステーション", "attestation expiring", "attestations expiring"),
    "new_resource": ("新たに判定されたリソース(適合)", "new resource (passing)", "new resources (passing)"),
}


def status_label(status: str | None) -> str:
    if status is None:
        return "なし none"
    return f"{STATUS_JA.get(status, status)} {status}"


@dataclass(frozen=True)
class RequirementRef:
    number: int
    title_ja: str
    title_en: str


@dataclass(frozen=True)
class AlertItem:
    event: str  # a DriftKind value, or "reminder"
    severity: str
    requirements: tuple[RequirementRef, ...]
    check_id: str | None
    check_title_ja: str | None
    check_title_en: str | None
    resource_id: str | None
    before: str | None
    after: str | None
    reason_ja: str
    reason_en: str
    run_id: int  # the run whose evidence shows it (for a reminder: the run that first alerted it)
    opened_run_id: int | None = None  # reminders and resolves: the run that first alerted it
    explain: str = ""  # e.g. "shoko explain 148 --run 42"

    def sort_key(self) -> tuple[Any, ...]:
        return (
            -SEVERITIES.index(self.severity),
            list(EVENT_LABELS).index(self.event) if self.event in EVENT_LABELS else len(EVENT_LABELS),
            self.requirements[0].number if self.requirements else 0,
            self.check_id or "",
            (self.resource_id or "").lower(),
        )

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> AlertItem:
        refs = tuple(RequirementRef(**r) for r in data.get("requirements", ()))
        return cls(**{**data, "requirements": refs})


@dataclass(frozen=True)
class AlertMessage:
    id: str  # the delivery id, stable across retries: receivers drop duplicates by it
    type: str  # "alert" | "test"
    channel: str
    run_id: int | None
    created_at: datetime
    items: tuple[AlertItem, ...]  # at most max_items, most severe first
    counts: dict[str, int] = field(default_factory=dict)  # per event, over every item (listed or not)
    omitted: int = 0  # items not listed

    @property
    def severity(self) -> str:
        severities = [i.severity for i in self.items] or ["info"]
        return max(severities, key=SEVERITIES.index)

    def title(self) -> tuple[str, str]:
        """(ja, en) one-line summary."""
        if self.type == "test":
            return (
                f"[shoko] テスト送信: チャネル {self.channel}",
                f"[shoko] test message for channel {self.channel}",
            )
        order = [e for e in EVENT_LABELS if self.counts.get(e)]
        ja = "・".join(f"{EVENT_LABELS[e][0]} {self.counts[e]}件" for e in order)
        en = ", ".join(
            f"{self.counts[e]} {EVENT_LABELS[e][1] if self.counts[e] == 1 else EVENT_LABELS[e][2]}" for e in order
        )
        label_ja, label_en = SEVERITY_LABELS[self.severity].split()
        return (f"[shoko] {label_ja}: {ja} (run {self.run_id})", f"[shoko] {label_en}: {en} (run {self.run_id})")

    def to_document(self) -> dict[str, Any]:
        ja, en = self.title()
        return {
            "schema": SCHEMA,
            "id": self.id,
            "type": self.type,
            "channel": self.channel,
            "run_id": self.run_id,
            "created_at": self.created_at.isoformat(),
            "severity": self.severity,
            "title_ja": ja,
            "title_en": en,
            "counts": dict(self.counts),
            "omitted": self.omitted,
            "items": [asdict(i) for i in self.items],
            "drift": f"shoko drift --run {self.run_id}" if self.run_id is not None else None,
        }

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> AlertMessage:
        return cls(
            id=data["id"],
            type=data["type"],
            channel=data["channel"],
            run_id=data["run_id"],
            created_at=datetime.fromisoformat(data["created_at"]),
            items=tuple(AlertItem.from_document(i) for i in data["items"]),
            counts=dict(data["counts"]),
            omitted=int(data["omitted"]),
        )

    def trimmed(self, keep: int) -> AlertMessage:
        """The same message listing only its first `keep` items (the rest counted as omitted)."""
        keep = max(0, min(keep, len(self.items)))
        return AlertMessage(
            id=self.id,
            type=self.type,
            channel=self.channel,
            run_id=self.run_id,
            created_at=self.created_at,
            items=self.items[:keep],
            counts=self.counts,
            omitted=self.omitted + len(self.items) - keep,
        )


def build_message(
    channel: str, run_id: int, items: list[AlertItem], created_at: datetime, max_items: int
) -> AlertMessage:
    ordered = sorted(items, key=AlertItem.sort_key)
    counts = Counter(i.event for i in ordered)
    return AlertMessage(
        id=f"shoko-run-{run_id}-{channel}",
        type="alert",
        channel=channel,
        run_id=run_id,
        created_at=created_at,
        items=tuple(ordered[:max_items]),
        counts=dict(counts),
        omitted=max(0, len(ordered) - max_items),
    )


def channel_test_message(channel: str, created_at: datetime) -> AlertMessage:
    return AlertMessage(
        id=f"shoko-test-{channel}-{created_at.strftime('%Y%m%dT%H%M%S%fZ')}",
        type="test",
        channel=channel,
        run_id=None,
        created_at=created_at,
        items=(),
    )


# -- plain text and HTML --------------------------------------------------------------------------


def _requirements_line(item: AlertItem) -> tuple[str, str]:
    ja = "、".join(f"No {r.number} {r.title_ja}" for r in item.requirements) or "—"
    en = "; ".join(f"No {r.number} {r.title_en}" for r in item.requirements) or "—"
    return ja, en


def item_heading(item: AlertItem) -> str:
    ja, en, _ = EVENT_LABELS.get(item.event, (item.event, item.event, item.event))
    numbers = ", ".join(str(r.number) for r in item.requirements)
    return f"[{SEVERITY_LABELS[item.severity]}] {ja} / {en}" + (f" — No {numbers}" if numbers else "")


def item_lines(item: AlertItem) -> list[tuple[str, str]]:
    """(label, value) pairs describing one item, labels in Japanese and English."""
    req_ja, req_en = _requirements_line(item)
    lines = [("要求事項 Requirement", req_ja), ("", req_en)]
    if item.check_id:
        check = item.check_id
        if item.check_title_ja or item.check_title_en:
            check += f" ({item.check_title_ja} / {item.check_title_en})"
        lines.append(("チェック Check", check))
    if item.resource_id:
        lines.append(("リソース Resource", item.resource_id))
    lines.append(("変化 Change", f"{status_label(item.before)} → {status_label(item.after)}"))
    lines.append(("理由", item.reason_ja))
    lines.append(("Reason", item.reason_en))
    if item.opened_run_id is not None:
        lines.append(("初回通知 First alerted", f"run {item.opened_run_id}"))
    if item.explain:
        lines.append(("証跡 Evidence", item.explain))
    return lines


def footer(message: AlertMessage) -> tuple[str, str]:
    if message.type == "test":
        return (
            "shoko からのテスト送信です。このチャネルに警告が届きます。",
            "This is a test message from shoko: alerts will arrive in this channel.",
        )
    more_ja = f"ほか {message.omitted} 件は省略しました。" if message.omitted else ""
    more_en = f"{message.omitted} more not listed. " if message.omitted else ""
    return (
        f"{more_ja}すべての変化: shoko drift --run {message.run_id}",
        f"{more_en}All changes: shoko drift --run {message.run_id}",
    )


def render_text(message: AlertMessage) -> str:
    ja, en = message.title()
    out = [ja, en, ""]
    for item in message.items:
        out.append(item_heading(item))
        for label, value in item_lines(item):
            out.append(f"  {label}: {value}" if label else f"    {value}")
        out.append("")
    f_ja, f_en = footer(message)
    out += [f_ja, f_en, f"delivery id: {message.id}"]
    return "\n".join(out) + "\n"


def render_html(message: AlertMessage) -> str:
    e = html.escape
    ja, en = message.title()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="ja"><head><meta charset="utf-8"><title>' + e(en) + "</title></head>",
        '<body style="font-family: sans-serif">',
        f"<h2>{e(ja)}<br>{e(en)}</h2>",
    ]
    for item in message.items:
        parts.append(f"<h3>{e(item_heading(item))}</h3>")
        parts.append('<table cellpadding="3" style="border-collapse: collapse">')
        for label, value in item_lines(item):
            parts.append(f'<tr><th align="left" valign="top">{e(label)}</th><td>{e(value)}</td></tr>')
        parts.append("</table>")
    f_ja, f_en = footer(message)
    parts += [f"<p>{e(f_ja)}<br>{e(f_en)}</p>", f"<p><small>delivery id: {e(message.id)}</small></p>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
