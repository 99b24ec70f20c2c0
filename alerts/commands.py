"""`shoko alerts test [--channel NAME]`: a test message to each (or one) configured channel, sent now."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from alerts.message import channel_test_message
from alerts.notifiers import DeliveryError, build_notifiers
from collector.settings import ConfigError, Settings, load_settings


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest test class

    channel: str
    type: str
    ok: bool
    detail: str


def send_test(
    settings: Settings, channel: str | None = None, *, environ: Mapping[str, str] | None = None
) -> list[TestOutcome]:
    """Send a test message to each channel (or the one named) directly, not through the outbox."""
    alerts = settings.alerts
    if not alerts.channels:
        raise ConfigError("no alert channel is configured (alerts.channels)")
    names = [c.name for c in alerts.channels]
    if channel is not None and channel not in names:
        raise ConfigError(f"no alert channel named {channel!r} (channels: {', '.join(names)})")
    notifiers = build_notifiers(alerts, environ)
    outcomes = []
    for c in alerts.channels:
        if channel is not None and c.name != channel:
            continue
        try:
            detail = notifiers[c.name].send(channel_test_message(c.name, datetime.now(UTC)))
            outcomes.append(TestOutcome(c.name, c.type, True, detail))
        except DeliveryError as exc:
            outcomes.append(TestOutcome(c.name, c.type, False, str(exc)))
    return outcomes


def cmd_alerts_test(args: argparse.Namespace) -> int:
    outcomes = send_test(load_settings(args.config), args.channel)
    for o in outcomes:
        print(f"{o.channel} ({o.type}): {'ok' if o.ok else 'FAILED'}: {o.detail}")
    return 0 if all(o.ok for o in outcomes) else 1
