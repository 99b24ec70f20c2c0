"""Schedules as people write them in the config file: "every 1h", "every 90s" or a cron expression.

parse_schedule("every 10m")   -> Schedule(text="every 10m", seconds=600, cron=None)
parse_schedule("0 * * * *")   -> Schedule(text="0 * * * *", seconds=None, cron="0 * * * *")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"^every\s+(\d+)\s*([smhd])$", re.IGNORECASE)


class ScheduleError(ValueError):
    """A schedule that cannot be read; the message says what was expected."""


@dataclass(frozen=True)
class Schedule:
    text: str
    seconds: int | None  # interval schedules
    cron: str | None  # cron schedules (UTC)

    def trigger(self) -> BaseTrigger:
        if self.seconds is not None:
            return IntervalTrigger(seconds=self.seconds, timezone=UTC)
        assert self.cron is not None
        return CronTrigger.from_crontab(self.cron, timezone=UTC)

    def period(self, now: datetime | None = None) -> timedelta:
        """The time between two runs (for a cron schedule, between the next two firings)."""
        if self.seconds is not None:
            return timedelta(seconds=self.seconds)
        trigger = self.trigger()
        now = now or datetime.now(UTC)
        first = trigger.get_next_fire_time(None, now)
        second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
        return (second - first) if first and second else timedelta(hours=1)


def parse_schedule(text: str) -> Schedule:
    value = " ".join(str(text).split())
    m = _EVERY.match(value)
    if m:
        seconds = int(m.group(1)) * _UNITS[m.group(2).lower()]
        if seconds < 1:
            raise ScheduleError(f"{text!r}: an interval must be at least 1s")
        return Schedule(value, seconds, None)
    try:
        CronTrigger.from_crontab(value, timezone=UTC)
    except ValueError as exc:
        raise ScheduleError(f"{text!r} is neither 'every N[s|m|h|d]' nor a 5-field cron expression ({exc})") from None
    return Schedule(value, None, value)
