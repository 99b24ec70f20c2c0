"""The estate file: what the sandbox pretends Azure contains.

`load_estate(path)` reads YAML or JSON and validates it; `estate_from_mapping(data)` does the same for
an in-memory mapping. Any problem raises `EstateError`, whose text is one line naming the file, the
document and the problem, e.g.

    estates/x.yaml: resources[3] (/subscriptions/.../sites/app1/config/web): type 'Microsoft.Web/sites'
    does not match the id, which implies 'Microsoft.Web/sites/config'

The format is described in sandbox/README.md.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from sandbox import ids
from sandbox.faults import Fault

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# Graph collections served from `directory:`; key in the estate -> path under /v1.0.
DIRECTORY_COLLECTIONS: dict[str, str] = {
    "users": "users",
    "groups": "groups",
    "servicePrincipals": "servicePrincipals",
    "applications": "applications",
    "directoryRoles": "directoryRoles",
    "conditionalAccessPolicies": "identity/conditionalAccess/policies",
    "domains": "domains",
    "groupSettings": "groupSettings",
    # Entra PIM: who is eligible for which directory role (unifiedRoleEligibilityScheduleInstance).
    "roleEligibilityScheduleInstances": "roleManagement/directory/roleEligibilityScheduleInstances",
}
DIRECTORY_SINGLETONS: dict[str, str] = {
    "authorizationPolicy": "policies/authorizationPolicy",
    "securityDefaults": "policies/identitySecurityDefaultsEnforcementPolicy",
}
# Singletons every tenant has, served as given here when the estate leaves them out (security defaults off).
DIRECTORY_SINGLETON_DEFAULTS: dict[str, dict[str, Any]] = {
    "securityDefaults": {
        "id": "00000000-0000-0000-0000-000000000005",
        "displayName": "Security Defaults",
        "isEnabled": False,
    },
}
# Collections whose objects may list `members:` (object ids), served at /v1.0/{collection}/{id}/members.
MEMBER_COLLECTIONS = ("groups", "directoryRoles")
# Sandbox-only key on a user: the password its sign-in page accepts. Never served by Graph (nor by real Entra).
SIGN_IN_PASSWORD_KEY = "sandboxPassword"
# The application-role assignments of a service principal (the resource), as Graph serves them at
# /servicePrincipals/{id}/appRoleAssignedTo; taken off the object like `members`.
APP_ROLE_ASSIGNMENTS_KEY = "appRoleAssignedTo"
# The appRoleId of an assignment that grants access to the application without a role ("Default Access").
DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000"
_PRINCIPAL_TYPES = {"users": "User", "groups": "Group", "servicePrincipals": "ServicePrincipal"}
# `@odata.type` of objects when they appear in a mixed list such as /members.
ODATA_TYPES = {
    "users": "#microsoft.graph.user",
    "groups": "#microsoft.graph.group",
    "servicePrincipals": "#microsoft.graph.servicePrincipal",
    "applications": "#microsoft.graph.application",
}

_TOP_KEYS = ("tenant", "subscriptions", "resources", "runCommands", "directory", "faults")
_RUN_COMMAND_KEYS = ("vm", "commandId", "scriptContains", "stdout", "stderr")
# Fixed namespace so an estate without `tenant.clientId` still gets a stable client id.
_CLIENT_NS = uuid.UUID("8f1c3a52-6a0e-4c59-a0d8-2b7f4e9d1c60")


# A string value `${now}`, `${now-26h}` or `${now+400d}` (units s, m, h, d) is served as that moment,
# ISO 8601 in UTC, counted from when the estate is loaded: backups, certificate expiry and the like stay
# as recent or as far off as the estate means them, whenever it is served. With the suffix `:epoch`
# (`${now+400d:epoch}`) it is served as whole seconds since 1970-01-01 UTC, as Key Vault writes its
# key attributes (`exp`, `nbf`, `created`).
RELATIVE_TIME_RE = re.compile(r"^\$\{now(?:([+-])(\d+)([smhd]))?(:epoch)?\}$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# Types whose resources live under `locations/{location}/` (a region, not a document of the estate) but which
# ARM also lists without the location, at `providers/{ns}/{type}` of the subscription or resource group, every
# location at once (sandbox.arm). Source: the REST spec, e.g. Jit Network Access Policies - List (GET
# /subscriptions/{s}/providers/Microsoft.Security/jitNetworkAccessPolicies, 2020-01-01) returns ids
# `.../providers/Microsoft.Security/locations/{l}/jitNetworkAccessPolicies/{name}`. Add a type only with a source.
LISTED_ACROSS_LOCATIONS = frozenset({"microsoft.security/locations/jitnetworkaccesspolicies"})


def resolve_relative_times(value: Any, now: datetime) -> Any:
    """A copy of `value` with every relative-time string replaced by its timestamp."""
    if isinstance(value, str):
        m = RELATIVE_TIME_RE.match(value)
        if not m:
            return value
        sign, amount, unit, epoch = m.groups()
        delta = timedelta(seconds=int(amount) * _UNIT_SECONDS[unit]) if amount else timedelta()
        at = now + delta if sign == "+" else now - delta
        if epoch:
            return int(at.timestamp())
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {k: resolve_relative_times(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_relative_times(v, now) for v in value]
    return value


class EstateError(ValueError):
    """An estate file that cannot be served. str() is one line: file, document, problem."""


# Microsoft Entra ID editions a tenant may declare (`tenant.license`): sign-in activity needs P1 or P2,
# Privileged Identity Management (role eligibility) P2.
ENTRA_LICENSES = ("Free", "P1", "P2")


@dataclass(frozen=True)
class Tenant:
    id: str
    display_name: str
    default_domain: str
    client_id: str  # the application the sandbox issues tokens to
    license: str = "P2"
    # The Microsoft Graph application permissions granted to the client; None: every one it asks for.
    graph_permissions: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RunCommandOutput:
    vm_id: str
    command_id: str | None
    script_contains: str | None
    stdout: str
    stderr: str

    def matches(self, vm_id: str, command_id: str, script: str) -> bool:
        if self.vm_id.lower() != vm_id.lower():
            return False
        if self.command_id is not None and self.command_id.lower() != command_id.lower():
            return False
        return self.script_contains is None or self.script_contains.lower() in script.lower()


@dataclass(frozen=True)
class Directory:
    """Entra ID objects for the Graph endpoints. `members` maps (collection, object id) -> member ids;
    `app_role_assignments` a service principal's id (lower case) -> its appRoleAssignedTo documents;
    `passwords` a user's id (lower case) -> its sandbox-only sign-in password."""

    collections: dict[str, tuple[dict[str, Any], ...]]
    singletons: dict[str, dict[str, Any]]
    members: dict[tuple[str, str], tuple[str, ...]]
    app_role_assignments: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict, repr=False)

    def find(self, object_id: str) -> tuple[str, dict[str, Any]] | None:
        """Locate a directory object by id in any collection: (collection key, document)."""
        for key, docs in self.collections.items():
            for doc in docs:
                if str(doc.get("id", "")).lower() == object_id.lower():
                    return key, doc
        return None


@dataclass(frozen=True)
class Estate:
    source: str  # file path or "<dict>", used in error lines
    tenant: Tenant
    subscriptions: tuple[dict[str, Any], ...]  # documents as GET /subscriptions returns them
    resources: tuple[dict[str, Any], ...]  # every addressable ARM document, declared ones first
    resource_groups: tuple[dict[str, Any], ...]  # declared or derived
    directory: Directory
    run_commands: tuple[RunCommandOutput, ...]
    faults: tuple[Fault, ...]
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def subscription_ids(self) -> list[str]:
        return [str(s["subscriptionId"]) for s in self.subscriptions]

    def with_resource(self, doc: Mapping[str, Any]) -> Estate:
        """A copy with `doc` added, or replacing the declared document with the same id. Validated.

        A child that its declared parent embeds in a `properties` list named like the child's type segment (an
        NSG's `securityRules`, a VNet's `subnets`, a NIC's `ipConfigurations`) goes into that list, as ARM keeps
        it, so the parent's own document (e.g. each NSG in a listing) shows the change."""
        raw = copy.deepcopy(self.raw)
        resources = list(raw.get("resources") or [])
        key = str(doc.get("id", "")).lower()
        positions = [i for i, r in enumerate(resources) if str(r.get("id", "")).lower() == key]
        embedded = None if positions else _embedding_list(resources, key)
        if positions:
            resources[positions[0]] = dict(doc)
        elif embedded is not None:
            # Embedded elements that do not look like resources are skipped when an estate is built; a document
            # put on its own must be one, so check it as such.
            _Builder(self.source).check_document(
                f"resource {doc.get('id')}", doc, {s.lower() for s in self.subscription_ids}
            )
            at = [i for i, item in enumerate(embedded) if _item_id(item) == key]
            if at:
                embedded[at[0]] = dict(doc)
            else:
                embedded.append(dict(doc))
        else:
            resources.append(dict(doc))
        raw["resources"] = resources
        return estate_from_mapping(raw, self.source)

    def without_resource(self, resource_id: str) -> Estate:
        """A copy without the declared document `resource_id` (or the embedded child of that id, taken out of its
        parent's list), and what hangs off it. Validated."""
        raw = copy.deepcopy(self.raw)
        prefix = resource_id.lower().rstrip("/")
        resources = raw.get("resources") or []
        kept = []
        for r in resources:
            rid = str(r.get("id", "")).lower()
            if rid == prefix or rid.startswith(prefix + "/"):
                continue
            kept.append(r)
        embedded = _embedding_list(kept, prefix)
        if embedded is not None and any(_item_id(item) == prefix for item in embedded):
            embedded[:] = [item for item in embedded if _item_id(item) != prefix]
        elif len(kept) == len(resources):
            raise KeyError(f"no declared resource with id {resource_id}")
        raw["resources"] = kept
        raw["runCommands"] = [rc for rc in raw.get("runCommands") or [] if str(rc.get("vm", "")).lower() != prefix]
        return estate_from_mapping(raw, self.source)


def _item_id(item: Any) -> str:
    return str(item.get("id", "")).lower() if isinstance(item, Mapping) else ""


def _embedding_list(resources: list[Any], child_id: str) -> list[Any] | None:
    """The `properties` list of a declared document that embeds children like `child_id` (`{parent}/{segment}/{name}`
    with a list `properties.<segment>`, compared case-insensitively), or None."""
    parent, _, name = child_id.rstrip("/").rpartition("/")
    parent, _, segment = parent.rpartition("/")
    if not parent or not segment or not name:
        return None
    for r in resources:
        if isinstance(r, Mapping) and str(r.get("id", "")).lower() == parent and isinstance(r.get("properties"), dict):
            props = r["properties"]
            key = next((k for k in props if k.lower() == segment and isinstance(props[k], list)), None)
            if key is not None:
                return props[key]
    return None


class _EstateLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings and only reads true/false as booleans.

    ARM and Graph documents carry ISO timestamps as strings; YAML 1.1 would turn them into datetime
    objects (not JSON) and turn `on`/`yes`/`no` into booleans.
    """


_EstateLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_EstateLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_estate(path: str | Path) -> Estate:
    """Read and validate an estate file (`.json` as JSON, anything else as YAML)."""
    return estate_from_mapping(read_data(path), str(path))


def read_data(path: str | Path) -> Any:
    """Parse an estate file, or a file of ARM documents, as the estate loader reads YAML (timestamps stay strings,
    only true/false are booleans) or JSON (`.json`). Raises EstateError (one line)."""
    p = Path(path)
    source = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise EstateError(f"{source}: cannot read the file: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise EstateError(f"{source}: not UTF-8 text (byte {e.start})") from None
    try:
        if p.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise EstateError(f"{source}: not valid JSON: line {e.lineno} column {e.colno}: {e.msg}") from None
        else:
            try:
                data = yaml.load(text, Loader=_EstateLoader)
            except yaml.YAMLError as e:
                raise EstateError(f"{source}: not valid YAML: {_yaml_problem(e)}") from None
    except RecursionError:  # both parsers recurse once per level of nesting
        raise EstateError(f"{source}: nested too deeply to be an estate file") from None
    return data


def _yaml_problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    what = f"{problem} ({context})" if context else str(problem)
    return " ".join(f"{where}{what}".split())


def estate_from_mapping(data: Any, source: str = "<dict>") -> Estate:
    """Validate an already-parsed estate. Raises EstateError (one line)."""
    return _Builder(source).build(data)


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> EstateError:
        where_part = f"{where}: " if where else ""
        return EstateError(" ".join(f"{self.source}: {where_part}{problem}".split()))

    def build(self, data: Any) -> Estate:
        if not isinstance(data, Mapping):
            raise self.fail("", f"the top level must be a mapping with keys {', '.join(_TOP_KEYS)}")
        unknown = [k for k in data if k not in _TOP_KEYS]
        if unknown:
            raise self.fail("", f"unknown top-level key {unknown[0]!r} (allowed: {', '.join(_TOP_KEYS)})")
        try:
            # Round-trip so every document is plain JSON data, and the estate owns its copy.
            raw = json.loads(json.dumps(data))
        except (TypeError, ValueError) as e:
            raise self.fail("", f"contains a value that is not JSON data: {e}") from None
        # Documents get relative times resolved; `raw` keeps them as written, so a rebuilt estate resolves anew.
        docs = resolve_relative_times(raw, datetime.now(UTC))
        tenant = self.tenant(docs.get("tenant"))
        subs = self.subscriptions(docs.get("subscriptions"), tenant)
        resources, groups = self.resources(docs.get("resources"), subs)
        directory = self.directory(docs.get("directory") or {}, tenant)
        runs = self.run_commands(docs.get("runCommands") or [], resources)
        faults = self.faults(docs.get("faults") or [])
        return Estate(self.source, tenant, subs, resources, groups, directory, runs, faults, raw)

    # -- tenant and subscriptions ---------------------------------------------------------------

    def tenant(self, t: Any) -> Tenant:
        if not isinstance(t, Mapping):
            raise self.fail("tenant", "missing; give at least tenant.id (a GUID)")
        tid = t.get("id")
        if not isinstance(tid, str) or not GUID_RE.match(tid):
            raise self.fail("tenant", f"id must be a GUID, got {tid!r}")
        allowed = ("id", "displayName", "defaultDomain", "clientId", "license", "graphPermissions")
        for key in t:
            if key not in allowed:
                raise self.fail("tenant", f"unknown key {key!r} (allowed: {', '.join(allowed)})")
        client_id = t.get("clientId") or str(uuid.uuid5(_CLIENT_NS, tid.lower()))
        if not isinstance(client_id, str) or not GUID_RE.match(client_id):
            raise self.fail("tenant", f"clientId must be a GUID, got {client_id!r}")
        license_ = t.get("license", "P2")
        if license_ not in ENTRA_LICENSES:
            raise self.fail("tenant", f"license must be one of {', '.join(ENTRA_LICENSES)}, got {license_!r}")
        permissions = t.get("graphPermissions")
        if permissions is not None and (
            not isinstance(permissions, list) or not all(isinstance(p, str) and p for p in permissions)
        ):
            raise self.fail("tenant", "graphPermissions must be a list of permission names, e.g. [Directory.Read.All]")
        return Tenant(
            id=tid,
            display_name=str(t.get("displayName") or "Sandbox tenant"),
            default_domain=str(t.get("defaultDomain") or "sandbox.onmicrosoft.com"),
            client_id=client_id,
            license=license_,
            graph_permissions=None if permissions is None else tuple(permissions),
        )

    def subscriptions(self, subs: Any, tenant: Tenant) -> tuple[dict[str, Any], ...]:
        if not isinstance(subs, list) or not subs:
            raise self.fail("subscriptions", "must be a non-empty list")
        out: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for n, s in enumerate(subs):
            where = f"subscriptions[{n}]"
            if not isinstance(s, Mapping):
                raise self.fail(where, "must be a mapping with subscriptionId")
            sid = s.get("subscriptionId")
            if sid is None and isinstance(s.get("id"), str):
                sid = s["id"].rstrip("/").split("/")[-1]
            if not isinstance(sid, str) or not GUID_RE.match(sid):
                raise self.fail(where, f"subscriptionId must be a GUID, got {sid!r}")
            if sid.lower() in seen:
                raise self.fail(
                    f"{where} ({sid})", f"duplicate subscription, same as subscriptions[{seen[sid.lower()]}]"
                )
            seen[sid.lower()] = n
            doc: dict[str, Any] = {
                "id": f"/subscriptions/{sid}",
                "authorizationSource": "RoleBased",
                "managedByTenants": [],
                "subscriptionId": sid,
                "tenantId": tenant.id,
                "displayName": sid,
                "state": "Enabled",
                "subscriptionPolicies": {
                    "locationPlacementId": "Public_2014-09-01",
                    "quotaId": "PayAsYouGo_2014-09-01",
                    "spendingLimit": "Off",
                },
            }
            doc.update(s)
            doc["id"] = f"/subscriptions/{sid}"
            doc["subscriptionId"] = sid
            out.append(doc)
        return tuple(out)

    # -- ARM documents ------------------------------------------------------------------------------

    def resources(
        self, docs: Any, subs: tuple[dict[str, Any], ...]
    ) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
        if docs is None:
            docs = []
        if not isinstance(docs, list):
            raise self.fail("resources", "must be a list of ARM documents")
        sub_keys = {s["subscriptionId"].lower() for s in subs}
        declared: list[tuple[str, dict[str, Any], ids.ArmPath]] = []
        index: dict[str, str] = {}  # lower id -> where it was declared
        groups: dict[str, dict[str, Any]] = {}
        for n, doc in enumerate(docs):
            where = f"resources[{n}]"
            parsed = self.check_document(where, doc, sub_keys)
            where = f"{where} ({doc['id']})"
            if parsed.key in index:
                raise self.fail(where, f"duplicate id (ids are case-insensitive), same as {index[parsed.key]}")
            index[parsed.key] = f"resources[{n}]"
            if parsed.kind == "resource" and parsed.type == ids.RESOURCE_GROUP_TYPE:
                groups[parsed.key] = doc
            else:
                declared.append((where, doc, parsed))

        # Child resources embedded in a parent's properties (NSG rules, subnets, IP configurations)
        # are addressable on their own in ARM; derive them unless declared explicitly.
        derived: list[tuple[str, dict[str, Any], ids.ArmPath]] = []
        queue = list(declared)
        while queue:
            where, doc, _ = queue.pop(0)
            for child_where, child in _embedded_children(where, doc):
                try:
                    parsed = self.check_document(child_where, child, sub_keys)
                except EstateError:
                    continue  # not shaped like a resource of its own (e.g. no type): stays embedded only
                if parsed.key in index:
                    continue
                index[parsed.key] = child_where
                entry = (f"{child_where} ({child['id']})", child, parsed)
                derived.append(entry)
                queue.append(entry)

        everything = declared + derived
        # Resource groups named by any id but not declared get a derived document.
        for _, doc, parsed in everything:
            if parsed.resource_group is None:
                continue
            rg_id = f"/subscriptions/{parsed.subscription}/resourceGroups/{parsed.resource_group}"
            if rg_id.lower() not in groups:
                groups[rg_id.lower()] = {
                    "id": rg_id,
                    "name": parsed.resource_group,
                    "type": ids.RESOURCE_GROUP_TYPE,
                    "location": doc.get("location") if isinstance(doc.get("location"), str) else "japaneast",
                    "properties": {"provisioningState": "Succeeded"},
                }
        known = set(groups) | {f"/subscriptions/{s}" for s in sub_keys} | {p.key for _, _, p in everything}
        for where, _, parsed in everything:
            if str(parsed.type).lower() in LISTED_ACROSS_LOCATIONS:
                continue  # its parent `locations/{l}` is a region
            if parsed.parent is not None and parsed.parent.lower() not in known:
                raise self.fail(where, f"its parent {parsed.parent} is not in the estate")
        return tuple(d for _, d, _ in everything), tuple(groups.values())

    def check_document(self, where: str, doc: Any, sub_keys: set[str]) -> ids.ArmPath:
        if not isinstance(doc, Mapping):
            raise self.fail(where, "must be a mapping (an ARM document)")
        rid = doc.get("id")
        if rid is None:
            hint = f" (name {doc['name']!r})" if isinstance(doc.get("name"), str) else ""
            raise self.fail(f"{where}{hint}", "has no 'id'")
        if not isinstance(rid, str) or not rid.startswith("/"):
            raise self.fail(where, f"id must be an ARM resource id starting with /subscriptions/, got {rid!r}")
        where = f"{where} ({rid})"
        try:
            parsed = ids.parse(rid)
        except ids.NotAnArmPath as e:
            raise self.fail(where, f"id is not a resource id: {e}") from None
        if parsed.kind != "resource" or parsed.subscription is None:
            raise self.fail(where, "id names a collection, not a resource (it ends on a type segment)")
        if ids.normalise(rid) != rid:
            raise self.fail(where, "id must start with '/' and have no trailing '/'")
        if parsed.subscription.lower() not in sub_keys:
            raise self.fail(where, f"subscription {parsed.subscription} is not declared under subscriptions")
        if parsed.type == ids.SUBSCRIPTION_TYPE:
            raise self.fail(where, "subscriptions are declared under subscriptions:, not resources:")
        dtype = doc.get("type")
        if not isinstance(dtype, str) or not dtype:
            raise self.fail(where, f"has no 'type' (the id implies {parsed.type!r})")
        if parsed.type is None or dtype.lower() != parsed.type.lower():
            raise self.fail(where, f"type {dtype!r} does not match the id, which implies {parsed.type!r}")
        return parsed

    # -- Entra directory ----------------------------------------------------------------------------

    def directory(self, d: Any, tenant: Tenant) -> Directory:
        if not isinstance(d, Mapping):
            raise self.fail("directory", "must be a mapping of Graph collections")
        allowed = list(DIRECTORY_COLLECTIONS) + list(DIRECTORY_SINGLETONS) + ["organization"]
        for key in d:
            if key not in allowed:
                raise self.fail("directory", f"unknown collection {key!r} (allowed: {', '.join(allowed)})")
        collections: dict[str, tuple[dict[str, Any], ...]] = {}
        members: dict[tuple[str, str], tuple[str, ...]] = {}
        passwords: dict[str, str] = {}
        pending_assignments: list[tuple[str, dict[str, Any], Any]] = []
        all_ids: dict[str, str] = {}
        for key in DIRECTORY_COLLECTIONS:
            items = d.get(key) or []
            if not isinstance(items, list):
                raise self.fail(f"directory.{key}", "must be a list of Graph objects")
            docs: list[dict[str, Any]] = []
            for n, obj in enumerate(items):
                where = f"directory.{key}[{n}]"
                if not isinstance(obj, Mapping):
                    raise self.fail(where, "must be a mapping (a Graph object)")
                oid = obj.get("id")
                if not isinstance(oid, str) or not oid:
                    raise self.fail(where, "has no 'id'")
                where = f"{where} ({oid})"
                if oid.lower() in all_ids:
                    raise self.fail(where, f"duplicate object id, same as {all_ids[oid.lower()]}")
                all_ids[oid.lower()] = f"directory.{key}[{n}]"
                obj = dict(obj)
                if "members" in obj:
                    if key not in MEMBER_COLLECTIONS:
                        raise self.fail(where, f"'members' is only allowed on {' and '.join(MEMBER_COLLECTIONS)}")
                    mem = obj.pop("members")
                    if not isinstance(mem, list) or not all(isinstance(m, str) for m in mem):
                        raise self.fail(where, "members must be a list of object ids")
                    members[(key, oid.lower())] = tuple(mem)
                if SIGN_IN_PASSWORD_KEY in obj:
                    if key != "users":
                        raise self.fail(where, f"'{SIGN_IN_PASSWORD_KEY}' is only allowed on users")
                    password = obj.pop(SIGN_IN_PASSWORD_KEY)
                    if not isinstance(password, str) or not password:
                        raise self.fail(where, f"{SIGN_IN_PASSWORD_KEY} must be a non-empty string")
                    passwords[oid.lower()] = password
                if APP_ROLE_ASSIGNMENTS_KEY in obj:
                    if key != "servicePrincipals":
                        raise self.fail(where, f"'{APP_ROLE_ASSIGNMENTS_KEY}' is only allowed on servicePrincipals")
                    pending_assignments.append((where, obj, obj.pop(APP_ROLE_ASSIGNMENTS_KEY)))
                docs.append(obj)
            collections[key] = tuple(docs)
        for (key, oid), mem in members.items():
            for m in mem:
                if m.lower() not in all_ids:
                    raise self.fail(f"directory.{key} ({oid})", f"member {m} is not a user, group or service principal")
        for n, obj in enumerate(collections["roleEligibilityScheduleInstances"]):
            principal = str(obj.get("principalId") or "")
            if principal.lower() not in all_ids or not GUID_RE.match(str(obj.get("roleDefinitionId") or "")):
                raise self.fail(
                    f"directory.roleEligibilityScheduleInstances[{n}] ({obj['id']})",
                    "needs a principalId naming a user, group or service principal and a roleDefinitionId (the "
                    "role's template id, a GUID)",
                )
        by_id = {str(doc["id"]).lower(): (key, doc) for key in _PRINCIPAL_TYPES for doc in collections.get(key, ())}
        assignments = {
            str(sp["id"]).lower(): self.app_role_assignments(where, sp, items, by_id, collections)
            for where, sp, items in pending_assignments
        }
        singletons: dict[str, dict[str, Any]] = {k: dict(v) for k, v in DIRECTORY_SINGLETON_DEFAULTS.items()}
        for key in DIRECTORY_SINGLETONS:
            if key in d:
                if not isinstance(d[key], Mapping):
                    raise self.fail(f"directory.{key}", "must be a mapping (a Graph object)")
                singletons[key] = dict(d[key])
        org = d.get("organization")
        if org is None:
            org = {
                "id": tenant.id,
                "displayName": tenant.display_name,
                "verifiedDomains": [
                    {
                        "name": dom.get("id"),
                        "isDefault": bool(dom.get("isDefault")),
                        "isInitial": bool(dom.get("isInitial")),
                        "type": "Managed",
                        "capabilities": "Email",
                    }
                    for dom in collections.get("domains", ())
                ],
            }
        if not isinstance(org, Mapping):
            raise self.fail("directory.organization", "must be a mapping (a Graph object)")
        collections["organization"] = (dict(org),)
        return Directory(collections, singletons, members, assignments, passwords)

    def app_role_assignments(
        self,
        where: str,
        sp: dict[str, Any],
        items: Any,
        principals: dict[str, tuple[str, dict[str, Any]]],
        collections: dict[str, tuple[dict[str, Any], ...]],
    ) -> tuple[dict[str, Any], ...]:
        """A service principal's appRoleAssignedTo, as Graph's appRoleAssignment documents: `principalId` and
        `appRoleId` are required; the rest (principalType, display names, resourceId, a stable id) is filled in."""
        where = f"{where}.{APP_ROLE_ASSIGNMENTS_KEY}"
        if not isinstance(items, list):
            raise self.fail(where, "must be a list of app role assignments")
        role_ids = {str(r.get("id", "")).lower() for r in app_roles_of(sp, collections)} | {DEFAULT_ACCESS_ROLE_ID}
        out = []
        for n, item in enumerate(items):
            at = f"{where}[{n}]"
            if not isinstance(item, Mapping):
                raise self.fail(at, "must be a mapping with principalId and appRoleId")
            principal_id, role_id = str(item.get("principalId", "")), str(item.get("appRoleId", ""))
            found = principals.get(principal_id.lower())
            if found is None:
                raise self.fail(at, f"principalId {principal_id!r} is not a user, group or service principal")
            if role_id.lower() not in role_ids:
                raise self.fail(
                    at,
                    f"appRoleId {role_id!r} is not one of the app roles of {sp.get('displayName')} "
                    f"(nor {DEFAULT_ACCESS_ROLE_ID}, default access)",
                )
            key, principal = found
            doc = {
                "id": item.get("id") or _assignment_id(str(sp["id"]), principal_id, role_id),
                "deletedDateTime": None,
                "appRoleId": role_id,
                "createdDateTime": item.get("createdDateTime"),
                "principalDisplayName": principal.get("displayName"),
                "principalId": principal_id,
                "principalType": _PRINCIPAL_TYPES[key],
                "resourceDisplayName": sp.get("displayName"),
                "resourceId": str(sp["id"]),
            }
            unknown = [k for k in item if k not in doc]
            if unknown:
                raise self.fail(at, f"unknown key {unknown[0]!r} (allowed: {', '.join(doc)})")
            out.append(doc)
        return tuple(out)

    # -- run command outputs and faults ---------------------------------------------------------------

    def run_commands(self, items: Any, resources: tuple[dict[str, Any], ...]) -> tuple[RunCommandOutput, ...]:
        if not isinstance(items, list):
            raise self.fail("runCommands", "must be a list")
        vms = {
            str(r["id"]).lower()
            for r in resources
            if str(r.get("type", "")).lower() == "microsoft.compute/virtualmachines"
        }
        out = []
        for n, rc in enumerate(items):
            where = f"runCommands[{n}]"
            if not isinstance(rc, Mapping):
                raise self.fail(where, "must be a mapping with vm and stdout")
            for key in rc:
                if key not in _RUN_COMMAND_KEYS:
                    raise self.fail(where, f"unknown key {key!r} (allowed: {', '.join(_RUN_COMMAND_KEYS)})")
            vm = rc.get("vm")
            if not isinstance(vm, str) or vm.lower() not in vms:
                raise self.fail(where, f"vm {vm!r} is not the id of a virtual machine in resources")
            for key in ("commandId", "scriptContains", "stdout", "stderr"):
                if rc.get(key) is not None and not isinstance(rc[key], str):
                    raise self.fail(where, f"{key} must be a string")
            out.append(
                RunCommandOutput(
                    vm_id=vm,
                    command_id=rc.get("commandId"),
                    script_contains=rc.get("scriptContains"),
                    stdout=rc.get("stdout") or "",
                    stderr=rc.get("stderr") or "",
                )
            )
        return tuple(out)

    def faults(self, items: Any) -> tuple[Fault, ...]:
        if not isinstance(items, list):
            raise self.fail("faults", "must be a list")
        out = []
        for n, f in enumerate(items):
            if not isinstance(f, Mapping):
                raise self.fail(f"faults[{n}]", "must be a mapping with at least 'kind'")
            try:
                out.append(Fault.from_mapping(f))
            except (ValueError, TypeError) as e:
                raise self.fail(f"faults[{n}]", str(e)) from None
        return tuple(out)


def app_roles_of(sp: Mapping[str, Any], collections: Mapping[str, tuple[dict[str, Any], ...]]) -> list[dict[str, Any]]:
    """A service principal's app roles: its own `appRoles`, else those of the application with its appId (Graph
    copies an application's roles onto its service principal)."""
    roles = sp.get("appRoles")
    if isinstance(roles, list):
        return [r for r in roles if isinstance(r, dict)]
    app_id = str(sp.get("appId", "")).lower()
    app = next((a for a in collections.get("applications", ()) if str(a.get("appId", "")).lower() == app_id), None)
    roles = app.get("appRoles") if app else None
    return [r for r in roles if isinstance(r, dict)] if isinstance(roles, list) else []


def _assignment_id(sp_id: str, principal_id: str, role_id: str) -> str:
    """A stable id for an assignment the estate gives without one (Graph's are opaque base64url strings)."""
    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"appRoleAssignment:{sp_id}:{principal_id}:{role_id}").bytes * 2
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _embedded_children(where: str, doc: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Objects inside `properties` lists that are themselves child resources of `doc`.

    An element counts when it is a mapping with `id` exactly `{doc id}/{segment}/{name}` and its own
    `properties` (a bare `{"id": ...}` is a reference, not an embedded resource).
    """
    props = doc.get("properties")
    base = str(doc.get("id", "")).lower()
    out: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(props, Mapping):
        return out
    for key, value in props.items():
        if not isinstance(value, list):
            continue
        for n, item in enumerate(value):
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                continue
            if "properties" not in item:
                continue
            cid = item["id"].lower()
            if not cid.startswith(base + "/"):
                continue
            rest = cid[len(base) + 1 :].split("/")
            if len(rest) != 2:
                continue
            label = where.split(" (")[0]
            out.append((f"{label}.properties.{key}[{n}]", dict(item)))
    return out
