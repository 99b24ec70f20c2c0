"""Which of a run's recorded settings are weaker than the shipped defaults.

A run records the thresholds it judged with and its guideline profile (collector/pipeline.py, the run's
sealed scope). Each threshold's weaker direction is data beside its definition (controls.model.THRESHOLD_LIMITS);
this module only applies it, so every view (status, explain, snapshots) flags the same settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from controls.model import THRESHOLD_LIMITS, Thresholds
from controls.profiles import DEFAULT_PROFILE, PROFILES

# Guideline profiles ordered weakest first: meti2012 lets a TLS 1.2 minimum pass that mhlw6 asks to justify.
PROFILE_ORDER = PROFILES


@dataclass(frozen=True)
class Weakened:
    """One setting a run judged with that lets more pass than the shipped default would."""

    key: str  # e.g. "thresholds.allowed_regions"
    value: Any
    default: Any
    why_ja: str
    why_en: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "default": self.default, "why_ja": self.why_ja,
                "why_en": self.why_en}  # fmt: skip

    def line(self) -> str:
        return f"{self.key}: {self.why_ja} / {self.why_en}"


def default_thresholds() -> dict[str, Any]:
    """The shipped defaults as a run records them (JSON: lists, not tuples)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(Thresholds()).items()}


def recorded_thresholds(scope: Mapping[str, Any]) -> dict[str, Any] | None:
    """The thresholds a run recorded in its scope; None for a run stored before runs recorded them."""
    value = scope.get("thresholds")
    return dict(value) if isinstance(value, Mapping) else None


def run_thresholds(scope: Mapping[str, Any]) -> Thresholds | None:
    """The run's recorded thresholds as `Thresholds` (a threshold it did not record keeps its default)."""
    recorded = recorded_thresholds(scope)
    if recorded is None:
        return None
    known = {f.name: f for f in fields(Thresholds)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k in known}
    return Thresholds(**values)


def _norm(item: Any) -> str:
    # Names, regions and patterns compare case- and space-insensitively ("Japan East" == "japaneast").
    return "".join(str(item).split()).lower()


def _show(values: Any) -> str:
    return ", ".join(str(v) for v in values) if isinstance(values, list | tuple) else str(values)


def _compare(name: str, value: Any, default: Any) -> tuple[str, str] | None:
    """(why_ja, why_en) when `value` is weaker than `default` for threshold `name`, else None."""
    weaker = THRESHOLD_LIMITS[name].weaker
    if isinstance(weaker, tuple):
        if value in weaker and default in weaker and weaker.index(value) < weaker.index(default):
            return f"{value}（既定 {default} より狭い範囲）", f"{value} (narrower than the default {default})"
        return None
    if weaker in ("lower", "higher"):
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        if (value < default) if weaker == "lower" else (value > default):
            word_ja, word_en = ("低い", "lower") if weaker == "lower" else ("高い", "higher")
            return f"{value}（既定 {default} より{word_ja}）", f"{value} ({word_en} than the default {default})"
        return None
    if weaker in ("true", "false"):
        if value is (weaker == "true") and value != default:
            return f"{value}（既定 {default}）", f"{value} (default {default})"
        return None
    if weaker in ("fewer", "more"):
        values = {_norm(v): v for v in value or ()}
        defaults = {_norm(v): v for v in default or ()}
        if weaker == "fewer":
            gone = [defaults[k] for k in defaults if k not in values]
            if gone:
                return f"既定から {_show(gone)} を除外", f"drops {_show(gone)} from the default"
        else:
            added = [values[k] for k in values if k not in defaults]
            if added:
                return f"既定に {_show(added)} を追加", f"adds {_show(added)} to the default"
        return None
    return None  # "none": it names or classifies


def weakened_settings(scope: Mapping[str, Any]) -> list[Weakened]:
    """The run's settings weaker than the shipped defaults, in the order of the threshold definitions; empty
    when it recorded no thresholds (see `recorded_thresholds`)."""
    out = []
    profile = scope.get("profile")
    if profile in PROFILE_ORDER and PROFILE_ORDER.index(profile) < PROFILE_ORDER.index(DEFAULT_PROFILE):
        out.append(
            Weakened(
                "guideline.profile",
                profile,
                DEFAULT_PROFILE,
                f"{profile}（既定 {DEFAULT_PROFILE} より低い基準）",
                f"{profile} (a lower bar than the default {DEFAULT_PROFILE})",
            )
        )
    recorded = recorded_thresholds(scope)
    if recorded is None:
        return out
    defaults = default_thresholds()
    for name in THRESHOLD_LIMITS:
        if name not in recorded or name not in defaults:  # a threshold of another shoko version
            continue
        why = _compare(name, recorded[name], defaults[name])
        if why is not None:
            out.append(Weakened(f"thresholds.{name}", recorded[name], defaults[name], *why))
    return out


def thresholds_of_checks(scope: Mapping[str, Any], check_ids: list[str]) -> list[dict[str, Any]]:
    """Each check's thresholds with the values the run judged with, its default, and whether it is weaker."""
    from controls.checks import CHECKS_BY_ID

    recorded = recorded_thresholds(scope)
    defaults = default_thresholds()
    weak = {w.key: w for w in weakened_settings(scope)}
    rows = []
    for check_id in check_ids:
        check = CHECKS_BY_ID.get(check_id)
        names = list(check.thresholds) if check is not None else []
        values = []
        for name in names:
            w = weak.get(f"thresholds.{name}")
            values.append(
                {
                    "name": name,
                    "value": recorded.get(name) if recorded is not None else None,
                    "recorded": recorded is not None and name in recorded,
                    "default": defaults.get(name),
                    "weaker": w.as_dict() if w else None,
                }
            )
        rows.append({"check": check_id, "thresholds": values})
    return rows
