"""ARM resource-id grammar, shared by estate validation and request routing.

An ARM path is `/subscriptions/{s}[/resourceGroups/{rg}]` followed by zero or more provider blocks
`/providers/{Namespace}/{type}/{name}[/{childType}/{childName}...]`. A second provider block makes an
extension resource of whatever the first block named (diagnostic settings, role assignments, ...).
A path that ends on a type segment names a collection. ARM compares every segment case-insensitively.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SUBSCRIPTION_TYPE = "Microsoft.Resources/subscriptions"
RESOURCE_GROUP_TYPE = "Microsoft.Resources/resourceGroups"

PathKind = Literal["resource", "collection", "resources_listing"]


class NotAnArmPath(ValueError):
    """The path is not shaped like an ARM resource id or collection."""


@dataclass(frozen=True)
class ArmPath:
    path: str  # normalised: leading slash, no trailing slash, original case
    kind: PathKind
    subscription: str | None
    resource_group: str | None
    # For a resource: its type. For a collection: the type of its members. None for /subscriptions/{s}/resources.
    type: str | None
    # The scope a collection hangs off, or the parent a resource belongs to; None for /subscriptions.
    parent: str | None
    # True when the last provider block sits directly under a subscription or resource group
    # (a tracked top-level resource, or a subscription/resource-group level extension such as a role assignment).
    top_level: bool = False

    @property
    def key(self) -> str:
        return self.path.lower()


def normalise(path: str) -> str:
    stripped = path.strip("/")
    return "/" + stripped if stripped else "/"


def parse(path: str) -> ArmPath:
    """Classify an ARM path. Raises NotAnArmPath when it does not follow the grammar."""
    norm = normalise(path)
    segs = [s for s in norm.split("/") if s != ""]
    if not segs or segs[0].lower() != "subscriptions":
        raise NotAnArmPath(f"path does not start with /subscriptions: {norm}")
    if any(s.strip() != s or s == "" for s in segs):
        raise NotAnArmPath(f"path has an empty or padded segment: {norm}")
    if len(segs) == 1:
        return ArmPath(norm, "collection", None, None, SUBSCRIPTION_TYPE, None)
    sub = segs[1]
    sub_path = f"/{segs[0]}/{sub}"
    if len(segs) == 2:
        return ArmPath(norm, "resource", sub, None, SUBSCRIPTION_TYPE, None)
    i = 2
    rg: str | None = None
    scope = sub_path
    if segs[2].lower() == "resourcegroups":
        if len(segs) == 3:
            return ArmPath(norm, "collection", sub, None, RESOURCE_GROUP_TYPE, sub_path)
        rg = segs[3]
        scope = f"{sub_path}/{segs[2]}/{rg}"
        if len(segs) == 4:
            return ArmPath(norm, "resource", sub, rg, RESOURCE_GROUP_TYPE, sub_path)
        i = 4
    if len(segs) == i + 1 and segs[i].lower() == "resources":
        return ArmPath(norm, "resources_listing", sub, rg, None, scope)

    # Provider blocks. `block_scope` is what the current block hangs off (subscription, resource group, or
    # the resource an extension belongs to).
    block_scope = scope
    top_level = True
    while True:
        if i >= len(segs) or segs[i].lower() != "providers":
            raise NotAnArmPath(f"expected 'providers' at segment {i + 1}: {norm}")
        if i + 1 >= len(segs):
            raise NotAnArmPath(f"'providers' without a namespace: {norm}")
        namespace = segs[i + 1]
        first = i + 2
        j = first
        while j < len(segs):
            pos = j - first
            # A 'providers' segment where a type would go, after complete type/name pairs, opens an extension.
            if pos > 0 and pos % 2 == 0 and segs[j].lower() == "providers":
                break
            j += 1
        consumed = segs[first:j]
        if not consumed:
            raise NotAnArmPath(f"namespace {namespace} without a resource type: {norm}")
        rtype = namespace + "/" + "/".join(consumed[0::2])
        if j < len(segs):
            block_scope = "/" + "/".join(segs[:j])
            top_level = False
            i = j
            continue
        single = len(consumed) <= 2
        if len(consumed) % 2 == 1:
            # Ends on a type segment: a collection owned by the path before that segment.
            owner = block_scope if single else "/" + "/".join(segs[: j - 1])
            return ArmPath(norm, "collection", sub, rg, rtype, owner, top_level and single)
        owner = block_scope if single else "/" + "/".join(segs[: j - 2])
        return ArmPath(norm, "resource", sub, rg, rtype, owner, top_level and single)


def type_of(resource_id: str) -> str:
    """The resource type an id implies, e.g. `.../sites/app1/config/web` -> `Microsoft.Web/sites/config`."""
    parsed = parse(resource_id)
    if parsed.kind != "resource" or parsed.type is None:
        raise NotAnArmPath(f"not a resource id: {resource_id}")
    return parsed.type
