"""The collection plan: what a run collects follows from the checks it runs.

Each check declares the kinds it reads, the resource types it judges and the kinds it needs for
every judged resource; each fetcher declares the kinds it provides and the resource types their
documents describe. `plan_for` matches the two and refuses, before anything is collected, a check
that reads a kind no fetcher provides or judges a type whose per-resource facts nobody collects:
such a check could only ever report "not collected". A check judging the pseudo type "inventory"
(every resource, whatever its type) must read the generic inventory and ask no per-resource kinds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from collector.fetchers import FETCHERS
from collector.fetchers.base import ANY_TYPE, AS_PLANNED, Fetcher
from controls.checks import ALL_CHECKS, Check
from controls.checks.base import INVENTORY
from controls.model import FactKind, Kind


class PlanError(ValueError):
    """The checks ask for facts the fetchers cannot give; one line naming the check and the gap."""


@dataclass(frozen=True)
class CollectionPlan:
    checks: tuple[Check, ...]
    fetchers: tuple[Fetcher, ...]  # those that provide a kind some check reads
    wanted_types: dict[Kind, tuple[str, ...]]  # per-resource kind -> the types the checks judge with it


# Kinds every run collects before anything else (collector.fetchers.SUBSCRIPTIONS: the subscription list is
# the scope of every other fetcher), so a check may read them without a fetcher in the plan.
ALWAYS_COLLECTED = frozenset({FactKind.SUBSCRIPTION})


def _is_arm_type(resource_type: str) -> bool:
    return resource_type.startswith("microsoft.")


def plan_for(checks: Sequence[Check] = ALL_CHECKS, fetchers: Iterable[Fetcher] = FETCHERS) -> CollectionPlan:
    fetchers = tuple(fetchers)
    for check in checks:
        for kind in check.reads:
            if kind in ALWAYS_COLLECTED:
                continue
            if not any(kind in f.provides for f in fetchers):
                raise PlanError(f"check {check.id} reads fact kind '{kind}', which no fetcher provides")
        for resource_type in check.judges:
            if resource_type == INVENTORY:
                # Every inventoried resource: some kind the check reads must be the generic inventory, and
                # nothing can be collected per resource for "every type".
                if not any(ANY_TYPE in f.provides.get(k, ()) for f in fetchers for k in check.reads):
                    raise PlanError(f"check {check.id} judges every inventoried resource, but reads no inventory")
                if check.per_resource:
                    raise PlanError(f"check {check.id} judges every inventoried resource: no per-resource kinds")
                continue
            if not _is_arm_type(resource_type):
                continue
            # The resources judged must be listed by some kind the check reads (a type-specific listing,
            # or the generic inventory), or the check never sees them.
            if not any(f.covers(k, resource_type) and AS_PLANNED not in f.provides[k] for f in fetchers for k in
                       check.reads if k in f.provides):  # fmt: skip
                raise PlanError(f"check {check.id} judges {resource_type}, but no kind it reads lists that type")
            for kind in check.per_resource:
                if not any(f.covers(kind, resource_type) for f in fetchers):
                    raise PlanError(
                        f"check {check.id} needs '{kind}' for every {resource_type}, but no fetcher collects it "
                        "for that type"
                    )
    read = {k for c in checks for k in c.reads}
    wanted: dict[Kind, list[str]] = {}
    for check in checks:
        for kind in check.per_resource:
            wanted.setdefault(kind, [])
            wanted[kind] += [t for t in check.judges if t not in wanted[kind]]
    return CollectionPlan(
        checks=tuple(checks),
        fetchers=tuple(f for f in fetchers if read & set(f.kinds)),
        wanted_types={k: tuple(v) for k, v in wanted.items()},
    )
