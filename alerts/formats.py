"""The bytes each kind of channel receives for one `AlertMessage`.

- webhook: the message document as compact UTF-8 JSON (schema in README "Alerts");
- teams: a Teams Workflows webhook message carrying one Adaptive Card (1.4), under Teams' 28 KB limit;
- slack: an incoming-webhook payload with Block Kit `blocks` and a `text` fallback, within Slack's
  limits (50 blocks, 3000 characters per section, 150 per header);
- email: multipart/alternative text + HTML (alerts/notifiers.py builds the MIME message).

Teams and Slack list fewer items when the payload would be too large; the rest are counted as omitted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from alerts.message import AlertMessage, footer, item_heading, item_lines

TEAMS_MAX_BYTES = 26_000  # Teams refuses messages over about 28 KB
SLACK_MAX_BYTES = 30_000
SLACK_MAX_ITEMS = 45  # + header, context and footer blocks stay under Slack's 50
SLACK_SECTION_CHARS = 2_900
SLACK_HEADER_CHARS = 150

_TEAMS_COLORS = {"high": "Attention", "medium": "Warning", "low": "Default", "info": "Good"}


def dumps(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def webhook_body(message: AlertMessage) -> bytes:
    return dumps(message.to_document())


def fit(message: AlertMessage, render: Callable[[AlertMessage], dict[str, Any]], limit: int) -> bytes:
    """The rendered payload, listing as many of the message's items as fit in `limit` bytes."""
    body = dumps(render(message))
    while len(body) > limit and message.items:
        keep = min(len(message.items) - 1, int(len(message.items) * limit / len(body)))
        message = message.trimmed(keep)
        body = dumps(render(message))
    return body


def teams_card(message: AlertMessage) -> dict[str, Any]:
    ja, en = message.title()
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": ja,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": _TEAMS_COLORS[message.severity],
        },
        {"type": "TextBlock", "text": en, "wrap": True, "spacing": "None", "isSubtle": True},
    ]
    for item in message.items:
        facts = [{"title": label or " ", "value": value} for label, value in item_lines(item)]
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    {"type": "TextBlock", "text": item_heading(item), "weight": "Bolder", "wrap": True},
                    {"type": "FactSet", "facts": facts},
                ],
            }
        )
    f_ja, f_en = footer(message)
    body.append({"type": "TextBlock", "text": f"{f_ja}\n\n{f_en}", "wrap": True, "separator": True, "size": "Small"})
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "msteams": {"width": "Full"},
                    "body": body,
                },
            }
        ],
    }


def teams_body(message: AlertMessage) -> bytes:
    return fit(message, teams_card, TEAMS_MAX_BYTES)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(message: AlertMessage) -> dict[str, Any]:
    ja, en = message.title()
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(en, SLACK_HEADER_CHARS), "emoji": False}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(ja)}]},
    ]
    for item in message.items[:SLACK_MAX_ITEMS]:
        lines = [f"*{_slack_escape(item_heading(item))}*"]
        lines += [f"{_slack_escape(label)}: {_slack_escape(value)}" if label else f"    {_slack_escape(value)}"
                  for label, value in item_lines(item)]  # fmt: skip
        text = _clip("\n".join(lines), SLACK_SECTION_CHARS)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    f_ja, f_en = footer(message)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(f"{f_ja}\n{f_en}")}]})
    return {"text": f"{en}\n{ja}", "blocks": blocks}


def slack_body(message: AlertMessage) -> bytes:
    if len(message.items) > SLACK_MAX_ITEMS:
        message = message.trimmed(SLACK_MAX_ITEMS)
    return fit(message, slack_payload, SLACK_MAX_BYTES)
