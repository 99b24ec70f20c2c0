"""Secrets never become evidence: the rules of `redaction.yaml`, applied to each raw document before it is
stored or judged.

`redact(document)` returns a copy with every secret value replaced by the marker, and the list of what was
blanked (JSON path and rule id), which travels with the evidence record so the gap is visible and explained.
Checks judge the redacted document, so a verdict never rests on a value the ledger does not hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from controls.model import Redaction

RULES_FILE = Path(__file__).with_name("redaction.yaml")


@dataclass(frozen=True)
class NameRule:
    id: str
    match: re.Pattern[str]
    leaves: bool  # blank every string inside the value (objects, lists), not only a string value itself
    keep: frozenset[str]  # keys inside (or, for a string-only rule, names) left alone
    why: str

    def applies(self, key: str) -> bool:
        return key not in self.keep and self.match.fullmatch(key) is not None


@dataclass(frozen=True)
class ValueRule:
    id: str
    match: re.Pattern[str]
    why: str


@dataclass(frozen=True)
class Rules:
    marker: str
    names: tuple[NameRule, ...]
    values: tuple[ValueRule, ...]
    # The rule of each key seen: documents repeat the same few hundred keys, and matching every rule against
    # each of them was most of the cost of redacting a document.
    _by_key: dict[str, NameRule | None] = field(default_factory=dict, compare=False, repr=False)
    # Strings no value rule matched: most strings of a run repeat (locations, types, states, shared ids), so
    # each is searched once (bounded: emptied when full).
    _clean: set[str] = field(default_factory=set, compare=False, repr=False)

    def name_rule(self, key: str) -> NameRule | None:
        try:
            return self._by_key[key]
        except KeyError:
            found = self._by_key[key] = next((r for r in self.names if r.applies(key)), None)
            return found


class RulesError(ValueError):
    """The rules file is malformed; one line naming the entry."""


def parse_rules(data: Any, where: str = str(RULES_FILE)) -> Rules:
    if not isinstance(data, dict) or not isinstance(data.get("marker"), str) or not data["marker"]:
        raise RulesError(f"{where}: needs a non-empty `marker`, `names` and `values`")
    seen: set[str] = set()

    def common(entry: Any, section: str) -> tuple[str, re.Pattern[str], str]:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("id", "match", "why")):
            raise RulesError(f"{where}: every {section} entry needs an id, a match and a why: {entry!r}")
        if entry["id"] in seen:
            raise RulesError(f"{where}: rule id {entry['id']!r} is used twice")
        seen.add(entry["id"])
        try:
            pattern = re.compile(entry["match"])
        except re.error as exc:
            raise RulesError(f"{where}: rule {entry['id']}: match is not a valid regex ({exc})") from None
        return entry["id"], pattern, " ".join(entry["why"].split())

    names = []
    for entry in data.get("names") or []:
        rule_id, pattern, why = common(entry, "names")
        unknown = set(entry) - {"id", "match", "why", "leaves", "keep"}
        if unknown:
            raise RulesError(f"{where}: rule {rule_id}: unknown keys {sorted(unknown)}")
        names.append(NameRule(rule_id, pattern, bool(entry.get("leaves")), frozenset(entry.get("keep") or ()), why))
    values = []
    for entry in data.get("values") or []:
        rule_id, pattern, why = common(entry, "values")
        if "secret" not in pattern.groupindex:
            raise RulesError(f"{where}: rule {rule_id}: match needs a (?P<secret>...) group")
        values.append(ValueRule(rule_id, pattern, why))
    return Rules(data["marker"], tuple(names), tuple(values))


@cache
def shipped_rules() -> Rules:
    return parse_rules(yaml.safe_load(RULES_FILE.read_text(encoding="utf-8")))


_PLAIN_KEY = re.compile(r"[A-Za-z_@$][A-Za-z0-9_@$-]*")


@lru_cache(maxsize=4096)
def _key_step(key: str) -> str:
    return f".{key}" if _PLAIN_KEY.fullmatch(key) else f"[{key!r}]"


def _step(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return path + _key_step(key)


_CLEAN_LIMIT = 200_000


class _Redactor:
    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.found: list[Redaction] = []

    def blank(self, path: str, rule: str) -> str:
        self.found.append(Redaction(path, rule))
        return self.rules.marker

    def value(self, node: Any, path: str) -> Any:
        if isinstance(node, dict):
            return {k: self.member(k, v, path) for k, v in node.items()}
        if isinstance(node, list):
            return [self.value(v, _step(path, i)) for i, v in enumerate(node)]
        if isinstance(node, str):
            return self.text(node, path)
        return node

    def member(self, key: str, node: Any, path: str) -> Any:
        here = _step(path, key)
        rule = self.rules.name_rule(key)
        if rule is None or node is None or isinstance(node, bool):
            return self.value(node, here)
        if isinstance(node, str):
            return node if node == self.rules.marker else self.blank(here, rule.id)
        if rule.leaves:
            return self.leaves(node, here, rule)
        return self.value(node, here)  # an object named like a key describes one; its strings are judged

    def leaves(self, node: Any, path: str, rule: NameRule) -> Any:
        if isinstance(node, dict):
            return {
                k: self.value(v, _step(path, k)) if k in rule.keep else self.leaves(v, _step(path, k), rule)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [self.leaves(v, _step(path, i), rule) for i, v in enumerate(node)]
        if isinstance(node, str) and node != self.rules.marker:
            return self.blank(path, rule.id)
        return node

    def text(self, text: str, path: str) -> str:
        clean = self.rules._clean
        if text in clean:
            return text
        if not any(rule.match.search(text) for rule in self.rules.values):
            if len(clean) >= _CLEAN_LIMIT:
                clean.clear()
            clean.add(text)
            return text
        for rule in self.rules.values:
            hit = False

            def replace(m: re.Match[str]) -> str:
                nonlocal hit
                start, end = m.span("secret")
                if m.group("secret") == self.rules.marker:
                    return m.group(0)
                hit = True
                return m.group(0)[: start - m.start()] + self.rules.marker + m.group(0)[end - m.start() :]

            text = rule.match.sub(replace, text)
            if hit:
                self.found.append(Redaction(path, rule.id))
        return text


def redact_text(text: str, rules: Rules | None = None) -> str:
    """`text` with secret-shaped parts blanked (the `values` rules), for messages such as a failed call's error."""
    return _Redactor(rules or shipped_rules()).text(text, "$")


def redact(document: Any, rules: Rules | None = None) -> tuple[Any, tuple[Redaction, ...]]:
    """A copy of `document` with every secret blanked, and where each was and which rule blanked it."""
    redactor = _Redactor(rules or shipped_rules())
    out = redactor.value(document, "$")
    return out, tuple(redactor.found)
