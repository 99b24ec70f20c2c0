"""Reads against the estate, the way ARM answers them. Generic by resource id; no per-type code (one
table of data: the nested types ARM tracks in its inventory).

- a resource id                          -> that document
- a collection path                      -> the documents directly under it ([] if the owner exists), or, for
                                            a provider's descendant listing (DESCENDANT_LISTINGS), its
                                            descendants of the listed type
- /subscriptions/{s}/providers/{ns}/{t}  -> those directly under the subscription plus those in each of
                                            its resource groups (how list_all / list_for_subscription work)
- /subscriptions[/{s}[/resourcegroups[/{rg}]]], .../resources -> subscriptions, groups, tracked resources
  (top-level ones, and the nested types ARM tracks, such as deployment slots and SQL databases)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sandbox import ids
from sandbox.estate import LISTED_ACROSS_LOCATIONS, Estate

# Collections the SDK reads as a single response (its pager never follows nextLink), so ARM does not
# page them: azure-mgmt-monitor 6.0.2 `diagnostic_settings.list` returns `None` as continuation;
# azure-mgmt-security 7.0 `pricings.list` (2024-01-01) returns one `PricingList`; azure-mgmt-compute 39
# `virtual_machine_extensions.list` returns one `VirtualMachineExtensionsListResult`.
UNPAGED_TYPES = frozenset(
    {
        "microsoft.insights/diagnosticsettings",
        "microsoft.security/pricings",
        "microsoft.compute/virtualmachines/extensions",
    }
)

# Nested (child) resource types that ARM tracks in its resource inventory, so `/resources` lists them beside
# the top-level ones, named `parent/child`. Proxy children (config/web, blob services, auditing settings,
# subnets, rules) are never listed, whatever their documents carry. Which types are tracked is the resource
# provider's registration, so it is data here, not derivable from a document. Sources: Azure PowerShell
# finds a slot through the inventory (src/Websites/Websites/Models.WebApp/ResourceClient.cs,
# `GetAppResource`: Resources.List with `resourceType eq 'Microsoft.Web/sites/slots' and name eq
# '{site}/{slot}'`); `Get-AzResource -ResourceGroupName` prints `Microsoft.Sql/servers/databases` entries
# named `server/database` (Azure/azure-powershell#11692); `az resource list --resource-group` returns
# sites with their `Microsoft.Web/sites/slots` (Azure/azure-cli#23924). Add a type here only with a source.
NESTED_TRACKED_TYPES = frozenset({"microsoft.web/sites/slots", "microsoft.sql/servers/databases"})

# Collections a resource provider serves under a resource that list its descendants of a deeper type, wherever
# they sit beneath it (the provider walks its own hierarchy): {collection type: member type}. Which collections
# do this is the provider's API, so it is data here. Sources: Backup Protected Items - List
# (GET .../vaults/{v}/backupProtectedItems) returns items whose type is
# Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems; Replication Protected
# Items - List (GET .../vaults/{v}/replicationProtectedItems) returns items of type
# Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems
# (azure-rest-api-specs examples AzureIaasVm/BackupProtectedItems_List.json, ReplicationProtectedItems_List.json).
DESCENDANT_LISTINGS = {
    "microsoft.recoveryservices/vaults/backupprotecteditems": (
        "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems"
    ),
    "microsoft.recoveryservices/vaults/replicationprotecteditems": (
        "microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers/replicationprotecteditems"
    ),
}

# Extension collections that ARM answers at a subscription or resource-group scope with every document of a type
# anywhere under that scope, on whatever resource it is attached to (listing type -> member type). Which
# collections behave so is the provider's API, so it is data here. Sources: Assessments - List, "Get security
# assessments on all your scanned resources inside a scope" (Microsoft.Security 2021-06-01, example
# ListAssessments_example.json lists assessments on scale sets for scope subscriptions/{id}); Sub Assessments -
# List All, "Get security sub-assessments on all your scanned resources inside a subscription scope" (2019-01-01-
# preview, ListSubscriptionSubAssessments_example.json); Management Locks - List At Subscription Level "Gets all
# the management locks for a subscription" and List At Resource Group Level "Gets all the management locks for a
# resource group" (Microsoft.Authorization 2020-05-01 locks.json; `az lock list` prints resource-level locks from
# the subscription listing); Guest Configuration Assignments - Subscription List / RG List "List all guest
# configuration assignments for a subscription / resource group" (Microsoft.GuestConfiguration 2024-04-05, example
# listSubGuestConfigurationAssignments.json lists assignments on virtual machines). Subscription diagnostic
# settings are not such a type: their listing holds only the subscription's own settings.
# Add a type here only with a source.
SCOPE_WIDE_LISTINGS = {
    "microsoft.security/assessments": "microsoft.security/assessments",
    "microsoft.security/subassessments": "microsoft.security/assessments/subassessments",
    "microsoft.authorization/locks": "microsoft.authorization/locks",
    "microsoft.guestconfiguration/guestconfigurationassignments": (
        "microsoft.guestconfiguration/guestconfigurationassignments"
    ),
}

# Listings longer than this are kept by the index for their next pages; shorter ones are cheap to rebuild.
_KEEP_LISTINGS_LONGER_THAN = 20

# Fields `/resources` returns: ARM's inventory listing leaves `properties` out.
_INVENTORY_FIELDS = (
    "id",
    "name",
    "type",
    "location",
    "kind",
    "sku",
    "tags",
    "managedBy",
    "identity",
    "plan",
    "zones",
    "extendedLocation",
    "createdTime",
    "changedTime",
    "provisioningState",
)


def _inventory_entry(parsed: ids.ArmPath, doc: dict[str, Any]) -> dict[str, Any]:
    """A tracked resource as `/resources` lists it: ARM's inventory fields; a nested resource's name is
    every name segment after the provider namespace joined by `/` (`app1/staging`), whatever its own GET says."""
    entry = {k: doc[k] for k in _INVENTORY_FIELDS if k in doc}
    if not parsed.top_level:
        tail = re.split(r"/providers/", parsed.path, flags=re.IGNORECASE)[-1].split("/")  # ns, type, name, ...
        entry["name"] = "/".join(tail[2::2])
    return entry


class ArmError(Exception):
    """An ARM error response: `{"error": {"code", "message"}}` with this HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class ArmIndex:
    """An immutable lookup structure over one estate; rebuilt when the estate changes."""

    def __init__(self, estate: Estate) -> None:
        self.estate = estate
        self.subscriptions: dict[str, dict[str, Any]] = {s["subscriptionId"].lower(): s for s in estate.subscriptions}
        self.groups: dict[str, dict[str, Any]] = {str(g["id"]).lower(): g for g in estate.resource_groups}
        self.docs: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[dict[str, Any]]] = {}
        self.tracked: list[tuple[ids.ArmPath, dict[str, Any]]] = []
        self.by_type: dict[str, list[tuple[ids.ArmPath, dict[str, Any]]]] = {}
        for doc in estate.resources:
            rid = str(doc["id"])
            parsed = ids.parse(rid)
            self.docs[parsed.key] = doc
            self.by_type.setdefault(str(parsed.type).lower(), []).append((parsed, doc))
            self.children.setdefault(rid.rsplit("/", 1)[0].lower(), []).append(doc)
            if str(parsed.type).lower() in LISTED_ACROSS_LOCATIONS:
                across = re.sub(r"/locations/[^/]+(/[^/]+)/[^/]+$", r"\1", rid, flags=re.IGNORECASE)
                self.children.setdefault(across.lower(), []).append(doc)
            # Inventory (/resources) lists tracked resources: those in a resource group with a location, at the
            # top level or of a nested type ARM tracks.
            nested = str(parsed.type).lower() in NESTED_TRACKED_TYPES
            if (parsed.top_level or nested) and parsed.resource_group is not None and doc.get("location"):
                self.tracked.append((parsed, doc))
        # Per-scope lookups, so a listing costs what it returns rather than a scan of the whole estate.
        self.groups_by_subscription: dict[str, list[str]] = {}
        for gkey in self.groups:
            self.groups_by_subscription.setdefault(gkey.split("/")[2], []).append(gkey)
        self.tracked_by_scope: dict[str, list[tuple[ids.ArmPath, dict[str, Any]]]] = {}
        for p, doc in self.tracked:
            sub_key = f"/subscriptions/{str(p.subscription).lower()}"
            self.tracked_by_scope.setdefault(sub_key, []).append((p, doc))
            self.tracked_by_scope.setdefault(f"{sub_key}/resourcegroups/{str(p.resource_group).lower()}", []).append(
                (p, doc)
            )
        # Filtered listings already answered, by (path, $filter): the pages after the first slice this list
        # instead of rebuilding it. The index is rebuilt whenever the estate changes, and this with it.
        self._listings: dict[tuple[str, str | None], list[dict[str, Any]]] = {}

    def exists(self, path: str) -> bool:
        key = ids.normalise(path).lower()
        if key in self.docs or key in self.groups:
            return True
        parts = key.strip("/").split("/")
        return len(parts) == 2 and parts[0] == "subscriptions" and parts[1] in self.subscriptions

    # -- reads --------------------------------------------------------------------------------------

    def read(self, parsed: ids.ArmPath) -> dict[str, Any] | list[dict[str, Any]]:
        """The document, or the full (unpaged) list, a GET of `parsed` returns. Raises ArmError."""
        if parsed.kind == "collection" and parsed.subscription is None:
            return list(self.subscriptions.values())
        self._require_scope(parsed)
        if parsed.kind == "resource":
            if parsed.type == ids.SUBSCRIPTION_TYPE:
                return self.subscriptions[str(parsed.subscription).lower()]
            if parsed.type == ids.RESOURCE_GROUP_TYPE:
                return self.groups[parsed.key]
            doc = self.docs.get(parsed.key)
            if doc is None:
                raise self._not_found(parsed)
            return doc
        if parsed.kind == "resources_listing":
            scope = f"/subscriptions/{str(parsed.subscription).lower()}"
            if parsed.resource_group:
                scope += f"/resourcegroups/{parsed.resource_group.lower()}"
            return [_inventory_entry(p, doc) for p, doc in self.tracked_by_scope.get(scope, [])]
        if parsed.type == ids.RESOURCE_GROUP_TYPE:
            return [self.groups[k] for k in self.groups_by_subscription.get(str(parsed.subscription).lower(), [])]
        # A collection: its owner must exist.
        if parsed.parent is not None and not self.exists(parsed.parent):
            raise self._not_found(ids.parse(parsed.parent))
        member_type = DESCENDANT_LISTINGS.get(str(parsed.type).lower())
        if member_type is not None and parsed.parent is not None:
            owner = parsed.parent.lower() + "/"
            return [doc for p, doc in self.by_type.get(member_type, []) if p.key.startswith(owner)]
        member = SCOPE_WIDE_LISTINGS.get(str(parsed.type).lower())
        if member is not None and parsed.top_level:
            scope = str(parsed.parent).lower() + "/"
            return [doc for p, doc in self.by_type.get(member, []) if p.key.startswith(scope)]
        found = list(self.children.get(parsed.key, []))
        if parsed.top_level and parsed.resource_group is None:
            # Subscription-wide provider listing: add the same collection in every resource group.
            tail = parsed.path.split("/", 3)[3].lower()  # providers/{ns}/{type}
            for gkey in self.groups_by_subscription.get(str(parsed.subscription).lower(), []):
                found.extend(self.children.get(f"{gkey}/{tail}", []))
        return found

    def listing(self, parsed: ids.ArmPath, filter_text: str | None) -> list[dict[str, Any]]:
        """The full (unpaged) list a GET of collection `parsed` returns, `$filter` applied; a long one is kept,
        so serving its later pages does not rebuild it. Raises ArmError, FilterError."""
        key = (parsed.key, filter_text)
        found = self._listings.get(key)
        if found is None:
            result = self.read(parsed)
            assert isinstance(result, list)
            found = filter_docs(result, filter_text, resolve_arm, parsed.parent or parsed.path)
            if len(found) > _KEEP_LISTINGS_LONGER_THAN:
                self._listings[key] = found
        return found

    def _require_scope(self, parsed: ids.ArmPath) -> None:
        sub = str(parsed.subscription).lower()
        if sub not in self.subscriptions:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{parsed.subscription}' could not be found.")
        if parsed.resource_group is not None:
            gkey = f"/subscriptions/{sub}/resourcegroups/{parsed.resource_group.lower()}"
            if gkey not in self.groups:
                raise ArmError(
                    404, "ResourceGroupNotFound", f"Resource group '{parsed.resource_group}' could not be found."
                )

    def _not_found(self, parsed: ids.ArmPath) -> ArmError:
        self._require_scope(parsed)
        if parsed.type == ids.RESOURCE_GROUP_TYPE:
            return ArmError(
                404, "ResourceGroupNotFound", f"Resource group '{parsed.resource_group}' could not be found."
            )
        tail = re.split(r"/providers/", parsed.path, flags=re.IGNORECASE)[-1]
        where = f"under resource group '{parsed.resource_group}'" if parsed.resource_group else "in the subscription"
        return ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{tail}' {where} was not found. "
            "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )


# -- $filter ---------------------------------------------------------------------------------------

_CLAUSE = re.compile(
    r"\s*(?:(?P<atscope>atScope\(\))|(?P<field>[A-Za-z_][\w.]*)\s+eq\s+"
    r"(?:'(?P<str>(?:[^']|'')*)'|(?P<lit>true|false|null)))\s*",
    re.IGNORECASE,
)
_AND = re.compile(r"and\b", re.IGNORECASE)

Resolver = Callable[[Mapping[str, Any], str], Any]


class FilterError(ValueError):
    pass


def compile_filter(text: str, resolve: Resolver, scope: str | None = None) -> Callable[[Mapping[str, Any]], bool]:
    """A small OData subset: clauses `field eq 'v'` / `field eq true|false|null` / `atScope()` joined by `and`.

    Anything else raises FilterError, so a caller never gets silently unfiltered data.
    """
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    pos = 0
    while True:
        m = _CLAUSE.match(text, pos)
        if not m:
            raise FilterError(f"unsupported $filter expression near {text[pos : pos + 40]!r}")
        if m.group("atscope"):
            tests.append(_at_scope(scope))
        else:
            field = m.group("field")
            if m.group("str") is not None:
                want: Any = m.group("str").replace("''", "'")
            else:
                want = {"true": True, "false": False, "null": None}[m.group("lit").lower()]
            tests.append(_equals(field, want, resolve))
        pos = m.end()
        if pos >= len(text):
            break
        a = _AND.match(text, pos)
        if not a:
            raise FilterError(f"unsupported $filter expression near {text[pos : pos + 40]!r}")
        pos = a.end()
    return lambda doc: all(t(doc) for t in tests)


def _equals(field: str, want: Any, resolve: Resolver) -> Callable[[Mapping[str, Any]], bool]:
    def test(doc: Mapping[str, Any]) -> bool:
        have = resolve(doc, field)
        if isinstance(want, str) and isinstance(have, str):
            return have.lower() == want.lower()
        return bool(have == want and type(have) is type(want))

    return test


def _at_scope(scope: str | None) -> Callable[[Mapping[str, Any]], bool]:
    target = (scope or "/").lower().rstrip("/") + "/"

    def test(doc: Mapping[str, Any]) -> bool:
        props = doc.get("properties")
        s = props.get("scope") if isinstance(props, Mapping) else None
        if not isinstance(s, str):
            return True
        return target.startswith(s.lower().rstrip("/") + "/")

    return test


def dotted(doc: Mapping[str, Any], field: str) -> Any:
    cur: Any = doc
    for part in field.split("."):
        if not isinstance(cur, Mapping):
            return None
        match = next((k for k in cur if k.lower() == part.lower()), None)
        if match is None:
            return None
        cur = cur[match]
    return cur


def resolve_arm(doc: Mapping[str, Any], field: str) -> Any:
    """ARM filter fields: `resourceType`, `resourceGroup`, then `properties.{field}`, then the document."""
    low = field.lower()
    if low == "resourcetype":
        return doc.get("type")
    if low == "resourcegroup":
        try:
            return ids.parse(str(doc.get("id", ""))).resource_group
        except ids.NotAnArmPath:
            return None
    props = doc.get("properties")
    if isinstance(props, Mapping) and "." not in field:
        value = dotted(props, field)
        if value is not None:
            return value
    return dotted(doc, field)


def filter_docs(
    docs: Iterable[dict[str, Any]], text: str | None, resolve: Resolver, scope: str | None = None
) -> list[dict[str, Any]]:
    if text is None or not text.strip():
        return list(docs)
    keep = compile_filter(text, resolve, scope)
    return [d for d in docs if keep(d)]
