"""Estates of a chosen size for the scale benchmark, built from the sandbox's example estate.

Every document is one the example estate already serves in ARM's own shape (sandbox/estates/hospital-emr.yaml):
the generator copies it under new subscriptions, resource groups and names, so the collector reads the same
documents it reads in the demo, only many more of them.

- Each generated subscription is a copy of one example subscription (two in three the production one, one in
  three the development one, with its intentional violations): its subscription-scope documents (Defender plans,
  role definitions and assignments, PIM, activity-log export) and its one-per-subscription resources (workspace,
  alerts, vaults, network watchers, firewall, gateways, ...).
- The rest of the requested resources are *units* copied from the example's web apps (config, slots, publishing
  policies, diagnostic settings), storage accounts (blob services), SQL servers (databases, auditing, TDE), NSGs
  (rules), VNets (subnets), VMs (NIC, OS disk, extensions, Defender assessments, guest configuration) and Key
  Vaults (keys), forty units to a resource group, with two role assignments on each group.
- A unit breaks one rule with probability `violation_rate` (a TLS minimum lowered, SSH opened to the Internet,
  purge protection off, password SSH allowed), on top of what the copied documents already break.
- Entra: the example directory plus one generated member user per 50 resources (at least 10).

"Resources" counts what ARM's `/resources` inventory lists (tracked resources: top-level ones, deployment slots and
SQL databases); child and extension documents (config, rules, diagnostic settings, ...) come on top.
"""

from __future__ import annotations

import copy
import json
import random
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import ids
from sandbox.arm import NESTED_TRACKED_TYPES
from sandbox.estate import read_data

EXAMPLE_ESTATE = Path(__file__).resolve().parent.parent / "sandbox" / "estates" / "hospital-emr.yaml"

# Unit kinds: the example's top-level type, the share of units, and the types that travel with it (by
# reference from the unit's own documents: a VM's NIC, OS disk and public IP).
UNIT_WEIGHTS = {
    "microsoft.web/sites": 0.18,
    "microsoft.storage/storageaccounts": 0.20,
    "microsoft.sql/servers": 0.08,
    "microsoft.network/networksecuritygroups": 0.14,
    "microsoft.network/virtualnetworks": 0.08,
    "microsoft.compute/virtualmachines": 0.22,
    "microsoft.keyvault/vaults": 0.10,
}
VM_COMPANIONS = (
    "microsoft.network/networkinterfaces",
    "microsoft.compute/disks",
    "microsoft.network/publicipaddresses",
)
UNITS_PER_GROUP = 40
ROLE_ASSIGNMENTS_PER_GROUP = 2
RESOURCES_PER_USER = 50


class GenerateError(ValueError):
    pass


@dataclass(frozen=True)
class Unit:
    """Documents copied together: a top-level resource with its children, extensions and companions."""

    subscription: str  # the example subscription it comes from
    kind: str  # UNIT_WEIGHTS key
    resource_group: str
    names: tuple[str, ...]  # top-level names, renamed in the copy
    docs: tuple[dict[str, Any], ...]
    tracked: int


@dataclass(frozen=True)
class _Template:
    subscription: dict[str, Any]
    base: tuple[dict[str, Any], ...]  # subscription-scope documents and one-per-subscription resources
    base_tracked: int
    units: dict[str, tuple[Unit, ...]]
    role_assignment: dict[str, Any]  # an assignment at resource-group scope, copied per group
    role_definitions: dict[str, str]  # role name -> definition id


def _tracked(doc: Mapping[str, Any]) -> bool:
    parsed = ids.parse(str(doc["id"]))
    nested = str(parsed.type).lower() in NESTED_TRACKED_TYPES
    return (parsed.top_level or nested) and parsed.resource_group is not None and bool(doc.get("location"))


def _top_level_id(rid: str) -> str | None:
    """The id of the top-level resource a document belongs to (itself, or the owner of a child/extension)."""
    m = re.match(r"(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/[^/]+/[^/]+)", rid, re.IGNORECASE)
    return m.group(1).lower() if m else None


def _load_templates(example: Mapping[str, Any]) -> list[_Template]:
    resources: list[dict[str, Any]] = example["resources"]
    by_owner: dict[str, list[dict[str, Any]]] = {}
    for doc in resources:
        owner = _top_level_id(str(doc["id"]))
        if owner is not None:
            by_owner.setdefault(owner, []).append(doc)
    templates = []
    for sub in example["subscriptions"]:
        sid = sub["subscriptionId"].lower()
        prefix = f"/subscriptions/{sid}/"
        mine = {k: v for k, v in by_owner.items() if k.startswith(prefix)}
        in_units: set[str] = set()
        units: dict[str, list[Unit]] = {}
        for owner, docs in mine.items():
            kind = str(ids.type_of(owner)).lower()
            if kind not in UNIT_WEIGHTS:
                continue
            group = [owner]
            if kind == "microsoft.compute/virtualmachines":
                text = json.dumps(docs).lower()
                group += [o for o in mine if str(ids.type_of(o)).lower() in VM_COMPANIONS and o in text]
                nic_text = json.dumps([mine[o] for o in group]).lower()
                group += [
                    o for o in mine if o not in group and str(ids.type_of(o)).lower() in VM_COMPANIONS and o in nic_text
                ]
            unit_docs = [d for o in group for d in mine[o]]
            in_units.update(group)
            units.setdefault(kind, []).append(
                Unit(
                    subscription=sid,
                    kind=kind,
                    resource_group=str(ids.parse(owner).resource_group),
                    names=tuple(o.rsplit("/", 1)[1] for o in group),
                    docs=tuple(unit_docs),
                    tracked=sum(1 for d in unit_docs if _tracked(d)),
                )
            )
        base = [
            d
            for d in resources
            if str(d["id"]).lower().startswith(prefix) and _top_level_id(str(d["id"])) not in in_units
        ]
        rg_assignments = [
            d
            for d in base
            if str(d["type"]).lower() == "microsoft.authorization/roleassignments"
            and ids.parse(str(d["id"])).resource_group
        ]
        definitions = {
            str(d["properties"].get("roleName")): str(d["id"])
            for d in base
            if str(d["type"]).lower() == "microsoft.authorization/roledefinitions"
        }
        missing = [k for k in UNIT_WEIGHTS if k not in units]
        if missing:
            continue  # a subscription without every unit kind is not a template
        templates.append(
            _Template(
                subscription=sub,
                base=tuple(base),
                base_tracked=sum(1 for d in base if _tracked(d)),
                units={k: tuple(v) for k, v in units.items()},
                role_assignment=rg_assignments[0] if rg_assignments else {},
                role_definitions=definitions,
            )
        )
    return templates


def _rewrite(docs: Any, replacements: list[tuple[str, str]]) -> Any:
    """Copy documents with every id, name and reference renamed (case-insensitive, longest first)."""
    text = json.dumps(docs, ensure_ascii=False)
    for old, new in sorted(replacements, key=lambda p: -len(p[0])):
        text = re.sub(re.escape(old), lambda _m, new=new: new, text, flags=re.IGNORECASE)
    return json.loads(text)


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _break_one(kind: str, docs: list[dict[str, Any]], rng: random.Random) -> bool:
    """Make one copied unit break a rule the checks judge. Returns whether it found the field to change."""
    for doc in docs:
        props = doc.get("properties")
        if not isinstance(props, dict):
            continue
        t = str(doc["type"]).lower()
        if kind == "microsoft.web/sites" and t == "microsoft.web/sites/config":
            props["minTlsVersion"] = "1.0"
            return True
        if kind == "microsoft.storage/storageaccounts" and t == "microsoft.storage/storageaccounts":
            props["minimumTlsVersion"] = "TLS1_0"
            return True
        if kind == "microsoft.sql/servers" and t == "microsoft.sql/servers":
            props["minimalTlsVersion"] = "1.0"
            return True
        if kind == "microsoft.keyvault/vaults" and t == "microsoft.keyvault/vaults":
            props["enablePurgeProtection"] = None
            return True
        if kind == "microsoft.network/networksecuritygroups" and t == kind:
            rules = props.get("securityRules") or []
            allow = [r for r in rules if (r.get("properties") or {}).get("access") == "Allow"]
            if allow:
                rp = rng.choice(allow)["properties"]
                rp.update({"direction": "Inbound", "sourceAddressPrefix": "*", "destinationPortRange": "22"})
                rp.pop("sourceAddressPrefixes", None)
                rp.pop("destinationPortRanges", None)
                return True
        if kind == "microsoft.compute/virtualmachines" and t == kind:
            linux = (props.get("osProfile") or {}).get("linuxConfiguration")
            if isinstance(linux, dict):
                linux["disablePasswordAuthentication"] = False
                return True
            (props.get("osProfile") or {})["adminUsername"] = "administrator"
            return True
    return False


@dataclass(frozen=True)
class GeneratedEstate:
    estate: dict[str, Any]
    resources: int  # tracked resources, as `/resources` lists them
    documents: int  # every ARM document written under `resources`
    units_broken: int
    users: int


def generate(
    subscriptions: int,
    resources: int,
    *,
    seed: int = 1,
    violation_rate: float = 0.05,
    example: Path = EXAMPLE_ESTATE,
) -> GeneratedEstate:
    """An estate mapping with `subscriptions` subscriptions and exactly `resources` tracked resources."""
    if subscriptions < 1:
        raise GenerateError("--subscriptions must be at least 1")
    if not 0 <= violation_rate <= 1:
        raise GenerateError("--violation-rate must be between 0 and 1")
    source = read_data(example)
    templates = _load_templates(source)
    if not templates:
        raise GenerateError(f"{example}: no subscription has every unit kind ({', '.join(UNIT_WEIGHTS)})")
    rng = random.Random(seed)
    # Two in three subscriptions copy the first template (production), one in three the last (development).
    chosen = [templates[-1] if i % 3 == 2 else templates[0] for i in range(subscriptions)]
    floor = sum(t.base_tracked for t in chosen)
    if resources < floor:
        raise GenerateError(
            f"--resources {resources} is below the {floor} resources that {subscriptions} subscription(s) "
            "hold before any unit (workspaces, vaults, gateways, ...); ask for more resources or fewer subscriptions"
        )
    users = _users(source, max(10, resources // RESOURCES_PER_USER), rng)
    out_subs: list[dict[str, Any]] = []
    out_resources: list[dict[str, Any]] = []
    remaining = resources - floor
    broken = 0
    kinds = list(UNIT_WEIGHTS)
    weights = [UNIT_WEIGHTS[k] for k in kinds]
    serial = 0
    for i, template in enumerate(chosen):
        sid = _guid(rng)
        old_sid = template.subscription["subscriptionId"]
        sub_doc = copy.deepcopy(template.subscription)
        sub_doc["subscriptionId"] = sid
        sub_doc["displayName"] = f"{sub_doc.get('displayName', 'subscription')} #{i + 1:03d}"
        sub_doc.pop("id", None)
        out_subs.append(sub_doc)
        out_resources.extend(_rewrite(list(template.base), [(old_sid, sid)]))
        want = remaining // (subscriptions - i)
        remaining -= want
        done = units = 0
        while done < want:
            kind = rng.choices(kinds, weights)[0]
            unit = rng.choice(template.units[kind])
            if unit.tracked > want - done:  # fill the last few with single-resource units
                unit = next(u for k in kinds for u in template.units[k] if u.tracked <= want - done)
            serial += 1
            group = f"rg-{'prod' if template is templates[0] else 'dev'}-{units // UNITS_PER_GROUP + 1:03d}"
            new_group = f"/subscriptions/{sid}/resourceGroups/{group}"
            old_group = f"/subscriptions/{old_sid}/resourceGroups/{unit.resource_group}"
            renames = [(n, _new_name(n, serial)) for n in unit.names]
            docs = _rewrite(list(unit.docs), [(old_group, new_group), (old_sid, sid), *renames])
            if rng.random() < violation_rate and _break_one(unit.kind, docs, rng):
                broken += 1
            if units % UNITS_PER_GROUP == 0 and template.role_assignment:
                out_resources.extend(_group_role_assignments(template, old_sid, sid, new_group, users, rng))
            out_resources.extend(docs)
            done += unit.tracked
            units += 1
    directory = copy.deepcopy(source.get("directory") or {})
    directory["users"] = list(directory.get("users") or []) + users
    estate = {
        "tenant": copy.deepcopy(source["tenant"]),
        "subscriptions": out_subs,
        "resources": out_resources,
        "directory": directory,
    }
    return GeneratedEstate(estate, resources, len(out_resources), broken, len(users))


def _new_name(name: str, serial: int) -> str:
    # Storage account and registry names are lowercase letters and digits only, at most 24 characters.
    if re.fullmatch(r"[a-z0-9]+", name):
        return f"{name[:16]}{serial:06d}"
    return f"{name}-{serial:06d}"


def _group_role_assignments(
    template: _Template, old_sid: str, sid: str, group_id: str, users: list[dict[str, Any]], rng: random.Random
) -> list[dict[str, Any]]:
    out = []
    for role in ("Contributor", "Reader")[:ROLE_ASSIGNMENTS_PER_GROUP]:
        definition = template.role_definitions.get(role)
        if definition is None:
            continue
        doc = _rewrite(copy.deepcopy(template.role_assignment), [(old_sid, sid)])
        name = _guid(rng)
        doc["id"] = f"{group_id}/providers/Microsoft.Authorization/roleAssignments/{name}"
        doc["name"] = name
        props = doc["properties"]
        props["roleDefinitionId"] = _rewrite(definition, [(old_sid, sid)])
        props["principalId"] = rng.choice(users)["id"]
        props["principalType"] = "User"
        props["scope"] = group_id
        out.append(doc)
    return out


def _users(source: Mapping[str, Any], count: int, rng: random.Random) -> list[dict[str, Any]]:
    existing = (source.get("directory") or {}).get("users") or []
    model = next((u for u in existing if u.get("accountEnabled") and u.get("userType") == "Member"), None)
    if model is None:
        raise GenerateError("the example estate has no enabled member user to copy")
    domain = str(model["userPrincipalName"]).split("@", 1)[1]
    out = []
    for n in range(1, count + 1):
        user = copy.deepcopy(model)
        user.update(
            {
                "id": _guid(rng),
                "displayName": f"運用担当 {n:05d} (Operator {n:05d})",
                "givenName": f"{n:05d}",
                "surname": "運用担当",
                "userPrincipalName": f"operator{n:05d}@{domain}",
                "mail": f"operator{n:05d}@{domain}",
            }
        )
        out.append(user)
    return out


def write_estate(generated: GeneratedEstate, path: Path) -> None:
    """JSON: the sandbox reads `.json` files as JSON, several times faster than YAML at this size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        json.dump(generated.estate, fh, ensure_ascii=False, separators=(",", ":"))
