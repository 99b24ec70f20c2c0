"""The `Check` declaration and the registry every check family adds itself to.

A check is declared once, with its metadata beside the code (id, the resource types it judges, the
fact kinds it reads, the Azure API and fields, the pass rule, the remediation, the thresholds it
uses), by decorating a pure judge function::

    @check(id="storage-https-only", judges=("microsoft.storage/storageaccounts",),
           reads=(FactKind.STORAGE_ACCOUNT,), ...)
    def storage_https_only(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
        ...

A check knows no framework's numbering: which requirement numbers it evidences, and how fully, is
data in `controls/frameworks/`. The judge yields `Outcome`s; `Check.evaluate` stamps them with the
check's id and the requirement numbers the framework maps to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

from controls.model import BARS, Evidence, FactSet, Finding, Kind, Status, Thresholds

_ALLOWED = (Status.PASS, Status.FAIL, Status.ERROR)


@dataclass(frozen=True)
class Outcome:
    """What a judge saw for one resource; `Check.evaluate` turns it into a `Finding`."""

    status: Status
    resource_id: str
    reason_ja: str
    reason_en: str
    evidence: tuple[str, ...] = ()
    # Higher bars a passing outcome does not meet (see controls.model.BARS), e.g. ("tls1.3",) for a TLS 1.2
    # minimum: the check's own rule passed; a stricter guideline profile decides what that means.
    short_of: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in _ALLOWED:
            raise ValueError(f"a check outcome is pass, fail or error, not {self.status!r}")
        if self.short_of and self.status != Status.PASS:
            raise ValueError("only a passing outcome can fall short of a higher bar")
        unknown = set(self.short_of) - set(BARS)
        if unknown:
            raise ValueError(f"unknown bar(s) {sorted(unknown)}; known: {', '.join(BARS)}")


def shas(*records: Evidence | Iterable[Evidence] | None) -> tuple[str, ...]:
    """The sha256 of every evidence record given (single records or iterables), in order, once each."""
    out: dict[str, None] = {}  # ordered, and a membership test that does not grow with the records cited
    for item in records:
        if item is None:
            continue
        for ev in [item] if isinstance(item, Evidence) else item:
            out.setdefault(ev.sha256)
    return tuple(out)


def passed(resource_id: str, ja: str, en: str, *evidence: Evidence | Iterable[Evidence] | None) -> Outcome:
    return Outcome(Status.PASS, resource_id, ja, en, shas(*evidence))


def failed(resource_id: str, ja: str, en: str, *evidence: Evidence | Iterable[Evidence] | None) -> Outcome:
    return Outcome(Status.FAIL, resource_id, ja, en, shas(*evidence))


def errored(resource_id: str, ja: str, en: str, *evidence: Evidence | Iterable[Evidence] | None) -> Outcome:
    return Outcome(Status.ERROR, resource_id, ja, en, shas(*evidence))


Judge = Callable[[FactSet, Thresholds], Iterable[Outcome]]

_THRESHOLD_NAMES = frozenset(f.name for f in fields(Thresholds))
# A pseudo type: every resource the generic inventory (Resources - List) lists, whatever its type.
INVENTORY = "inventory"
# Lower-cased ARM resource types ("microsoft.web/sites/slots"), or a pseudo type for what is not one
# ARM resource type: "subscription", "tenant", "directory/<collection>", INVENTORY.
_TYPE_RE = re.compile(r"^(microsoft\.[a-z0-9.]+(/[a-z0-9]+)+|subscription|tenant|directory/[a-z]+|inventory)$")


@dataclass(frozen=True)
class Check:
    """One rule, documented where it is implemented (rendered into reports for auditors)."""

    id: str
    title_ja: str
    title_en: str
    judges: tuple[str, ...]  # the resource types it yields findings for
    reads: tuple[Kind, ...]  # the engine turns collection errors of these kinds into error findings
    # Kinds that must be collected for every judged resource (e.g. each site's config/web): what the
    # collection plan asks the fetchers for.
    per_resource: tuple[Kind, ...]
    api: str  # the Azure API(s) and the fields read
    rule_ja: str  # the pass rule in one or two sentences
    rule_en: str
    remediation_ja: str
    remediation_en: str
    thresholds: tuple[str, ...]  # names of `Thresholds` fields the rule uses
    judge: Judge
    # Judged one subscription at a time (FactSet.within): each outcome reads only facts of the judged resource's
    # own subscription (and the errors that can cover it), so the engine need not hold a kind for the whole run.
    per_subscription: bool = False
    # Of `reads`, the kinds such a check is given from the whole run: few records that a resource may reach in
    # another subscription (a Bastion host in a peered hub, the subscriptions' own documents).
    across: tuple[Kind, ...] = ()

    def documentation(self) -> dict[str, Any]:
        """What the check judges and how, as plain data (for `shoko checks --json` and the snapshot)."""
        return {
            "title_ja": self.title_ja,
            "title_en": self.title_en,
            "judges": list(self.judges),
            "reads": [str(k) for k in self.reads],
            "per_resource": [str(k) for k in self.per_resource],
            "api": self.api,
            "rule_ja": self.rule_ja,
            "rule_en": self.rule_en,
            "remediation_ja": self.remediation_ja,
            "remediation_en": self.remediation_en,
            "thresholds": list(self.thresholds),
        }

    def evaluate(self, facts: FactSet, thresholds: Thresholds, requirements: tuple[int, ...] = ()) -> list[Finding]:
        return [
            Finding(
                check_id=self.id,
                requirements=requirements,
                status=o.status,
                resource_id=o.resource_id,
                reason_ja=o.reason_ja,
                reason_en=o.reason_en,
                evidence=o.evidence,
                short_of=o.short_of,
            )
            for o in self.judge(facts, thresholds)
        ]


REGISTRY: list[Check] = []


def check(
    *,
    id: str,
    title_ja: str,
    title_en: str,
    judges: tuple[str, ...],
    reads: tuple[Kind, ...],
    per_resource: tuple[Kind, ...] = (),
    api: str,
    rule_ja: str,
    rule_en: str,
    remediation_ja: str,
    remediation_en: str,
    thresholds: tuple[str, ...] = (),
    per_subscription: bool = False,
    across: tuple[Kind, ...] = (),
) -> Callable[[Judge], Judge]:
    """Declare and register a check; the decorated judge function is returned unchanged. `per_subscription`
    declares that the judge, given one subscription's facts, says of that subscription's resources what it says
    given the whole run's (nothing it reads about a resource lies in another subscription or outside any, but
    the kinds named in `across`, which it is given whole)."""

    def register(judge: Judge) -> Judge:
        if any(c.id == id for c in REGISTRY):
            raise ValueError(f"check id {id!r} is declared twice")
        unknown = set(thresholds) - _THRESHOLD_NAMES
        if unknown:
            raise ValueError(f"check {id!r} names unknown thresholds: {sorted(unknown)}")
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", id):
            raise ValueError(f"check id {id!r} must be lower-case words joined by hyphens")
        bad_types = [t for t in judges if not _TYPE_RE.match(t)]
        if not judges or bad_types:
            raise ValueError(f"check {id!r} must name the lower-cased resource types it judges, got {bad_types}")
        if not set(per_resource) <= set(reads):
            raise ValueError(f"check {id!r}: per_resource kinds must also be in reads")
        if across and not (per_subscription and set(across) <= set(reads)):
            raise ValueError(f"check {id!r}: across names kinds it reads, for a check judged per subscription")
        REGISTRY.append(
            Check(
                id=id,
                title_ja=title_ja,
                title_en=title_en,
                judges=tuple(judges),
                reads=tuple(reads),
                per_resource=tuple(per_resource),
                api=api,
                rule_ja=rule_ja,
                rule_en=rule_en,
                remediation_ja=remediation_ja,
                remediation_en=remediation_en,
                thresholds=tuple(thresholds),
                judge=judge,
                per_subscription=per_subscription,
                across=tuple(across),
            )
        )
        return judge

    return register
