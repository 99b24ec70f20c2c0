"""Every resource type a check judges is really collected: the runtime half of the guard whose static half
is `collector.plan.plan_for` (tests/controls/test_catalog_matches_checks.py).

The plan compares declarations: a check's `judges` / `per_resource` against the fetchers' `provides`. It
cannot see a fetcher that declares a type but never asks Azure for it (deployment slots were declared by
the App Service listing, yet their diagnostic settings were never read). So this test builds an estate
holding one resource of every ARM type any registered check judges, collects it through the sandbox with
the real SDK, and requires that no check reports facts as "not collected", that every check judging a
type yields a finding for the planted resource of that type, and that every per-resource kind has a
document for every judged resource.

Documents are generic (id, name, type, location, empty properties) unless a type needs more to exist in
Azure's shape (a storage account always has its blob service, a SQL server its master database, a site
its config/web); those are in `BUILDERS`. A new judged type gets the generic document: if that is not
enough for its facts to be collected, this test fails and says which type to add a builder for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controls.checks import ALL_CHECKS
from controls.model import Status
from tests.estates import PROD, estate

RG = "rg-guard"
PRINCIPAL = "0c7c1f0e-5a53-4c25-9f3e-6f1d2b9a4e11"  # the guard user in the directory
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"  # built-in Owner (the same GUID in every subscription)
NOT_COLLECTED = ("not collected", "収集されていません")


def _id(resource_type: str) -> str:
    """`microsoft.web/sites/slots` -> `/subscriptions/{PROD}/resourceGroups/rg-guard/providers/microsoft.web/
    sites/guard-sites/slots/guard-slots`: one name per type segment."""
    namespace, *types = resource_type.split("/")
    path = "/".join(f"{t}/guard-{t}" for t in types)
    return f"/subscriptions/{PROD}/resourceGroups/{RG}/providers/{namespace}/{path}"


def _type_of(resource_id: str) -> str:
    tail = resource_id.split("/providers/", 1)[1].split("/")
    return "/".join([tail[0], *tail[1::2]]).lower()


def generic(resource_id: str, properties: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A tracked resource as ARM returns it: id, its name (`parent/child` for nested ones), type, location."""
    tail = resource_id.split("/providers/", 1)[1].split("/")
    return {"id": resource_id, "name": "/".join(tail[2::2]), "type": _type_of(resource_id), "location": "japaneast",
            "tags": {}, "properties": properties or {}, **extra}  # fmt: skip


def _proxy(resource_id: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A child proxy resource (no location of its own)."""
    return {**generic(resource_id, properties), "location": None}


def _site(rid: str) -> list[dict[str, Any]]:
    return [
        generic(rid, {"state": "Running", "httpsOnly": True, "clientCertEnabled": True}, kind="app,linux"),
        _proxy(f"{rid}/config/web", {"minTlsVersion": "1.2"}),
    ]


def _nsg(rid: str) -> list[dict[str, Any]]:
    return [generic(rid, {"provisioningState": "Succeeded", "securityRules": [], "defaultSecurityRules": []})]


def _storage(rid: str) -> list[dict[str, Any]]:
    account = {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": True}
    sku = {"name": "Standard_LRS", "tier": "Standard"}
    return [generic(rid, account, kind="StorageV2", sku=sku), _proxy(f"{rid}/blobServices/default", {})]


def _sql(rid: str) -> list[dict[str, Any]]:
    return [
        generic(rid, {"version": "12.0", "minimalTlsVersion": "1.2"}, kind="v12.0"),
        generic(f"{rid}/databases/master", {"status": "Online"}, kind="v12.0,system"),
        _proxy(f"{rid}/auditingSettings/Default", {"state": "Enabled", "isAzureMonitorTargetEnabled": True}),
    ]


def _role_assignment(_: str) -> list[dict[str, Any]]:
    """An Owner assignment at subscription scope (where role assignments live) and the definition it names."""
    sub = f"/subscriptions/{PROD}"
    definition = f"{sub}/providers/Microsoft.Authorization/roleDefinitions/{OWNER}"
    return [
        {"id": f"{sub}/providers/Microsoft.Authorization/roleAssignments/6a0d3d4e-8f2b-4b8e-9d7c-1e2f3a4b5c6d",
         "type": "Microsoft.Authorization/roleAssignments", "name": "6a0d3d4e-8f2b-4b8e-9d7c-1e2f3a4b5c6d",
         "properties": {"roleDefinitionId": definition, "principalId": PRINCIPAL, "principalType": "User",
                        "scope": sub}},
        {"id": definition, "type": "Microsoft.Authorization/roleDefinitions", "name": OWNER,
         "properties": {"roleName": "Owner", "type": "BuiltInRole", "assignableScopes": ["/"],
                        "permissions": [{"actions": ["*"], "notActions": []}]}},
    ]  # fmt: skip


def _role_definition(_: str) -> list[dict[str, Any]]:
    """A custom role (the built-in ones are Microsoft's), listed at subscription scope where it is assignable."""
    sub = f"/subscriptions/{PROD}"
    guid = "2f1e7a3c-9d4b-4c6e-8a5f-0b1c2d3e4f50"
    return [
        {"id": f"{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
         "type": "Microsoft.Authorization/roleDefinitions", "name": guid,
         "properties": {"roleName": "Guard Reader", "type": "CustomRole", "assignableScopes": [sub],
                        "permissions": [{"actions": ["*/read"], "notActions": [], "dataActions": [],
                                         "notDataActions": []}]}},
    ]  # fmt: skip


# Types whose generic document is not how Azure has them: the documents (the resource first, then what
# Azure always creates with it) for the resource id `_id(type)`.
# -- builders: Perimeter and exposure
def _vnet(rid: str) -> list[dict[str, Any]]:
    """A VNet in private space whose one subnet has an NSG (subnets are embedded in the VNet's document)."""
    nsg = _id("microsoft.network/networksecuritygroups")
    subnet = {"name": "default", "id": f"{rid}/subnets/default", "type": "Microsoft.Network/virtualNetworks/subnets",
              "properties": {"addressPrefix": "10.0.0.0/24", "networkSecurityGroup": {"id": nsg}}}  # fmt: skip
    return [generic(rid, {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [subnet],
                          "virtualNetworkPeerings": []})]  # fmt: skip


# -- builders: Edge protection: firewall IDPS, WAF, DDoS, gateway TLS


# -- builders: SQL, PostgreSQL, Redis
def _sql_database(rid: str) -> list[dict[str, Any]]:
    """A user database with its encryption state and point-in-time retention policy."""
    return [
        generic(rid, {"status": "Online", "zoneRedundant": True}, kind="v12.0,user,vcore"),
        _proxy(f"{rid}/transparentDataEncryption/current", {"state": "Enabled"}),
        _proxy(f"{rid}/backupShortTermRetentionPolicies/default", {"retentionDays": 7}),
    ]


def _postgresql(rid: str) -> list[dict[str, Any]]:
    """A flexible server with the two server parameters every server has."""
    return [
        generic(rid, {"network": {"publicNetworkAccess": "Disabled"}, "version": "16", "state": "Ready"}),
        _proxy(f"{rid}/configurations/require_secure_transport", {"value": "on"}),
        _proxy(f"{rid}/configurations/ssl_min_protocol_version", {"value": "TLSv1.2"}),
    ]


# -- builders: Storage, Key Vault, managed disks


# -- builders: App Service


# -- builders: Logging and monitoring
def _workspace(rid: str) -> list[dict[str, Any]]:
    """A workspace, and the subscription's activity log setting sending to it and to the guard storage account, so
    the workspace receives audit logs and the account is a log archive (both judged only as log destinations)."""
    capping = {"dailyQuotaGb": -1.0, "dataIngestionStatus": "RespectQuota"}
    setting = f"/subscriptions/{PROD}/providers/Microsoft.Insights/diagnosticSettings/guard-activity"
    return [
        generic(rid, {"retentionInDays": 730, "workspaceCapping": capping}),
        {"id": setting, "name": "guard-activity", "type": "Microsoft.Insights/diagnosticSettings",
         "properties": {"workspaceId": rid, "storageAccountId": _id("microsoft.storage/storageaccounts"),
                        "logs": [{"category": "Administrative", "enabled": True}]}},
    ]  # fmt: skip


# -- builders: Defender for Cloud and VM agents
def _vm(rid: str) -> list[dict[str, Any]]:
    """A VM with its network interface (a VM always has one) in the guard VNet's subnet, Defender for Endpoint,
    and its Defender for Cloud assessments (found by the subscription-wide Assessments - List, not under the
    VM's own listing), so the VM checks judge something real."""
    nic = f"/subscriptions/{PROD}/resourceGroups/{RG}/providers/Microsoft.Network/networkInterfaces/guard-nic"
    subnet = f"{_id('microsoft.network/virtualnetworks')}/subnets/default"
    config = {"name": "ipconfig1", "id": f"{nic}/ipConfigurations/ipconfig1",
              "properties": {"privateIPAddress": "10.0.0.4", "subnet": {"id": subnet}}}  # fmt: skip
    mde = {
        "publisher": "Microsoft.Azure.AzureDefenderForServers",
        "type": "MDE.Linux",
        "provisioningState": "Succeeded",
    }
    keys = ("dc5357d0-3858-4d17-a1a3-072840bff5be", "ffff0522-1e88-47fc-8382-2a80ba848f5d",
            "1195afff-c881-495e-9bc5-1486211ae03f")  # fmt: skip
    return [
        generic(rid, {"provisioningState": "Succeeded", "storageProfile": {"osDisk": {"osType": "Linux"}},
                      "networkProfile": {"networkInterfaces": [{"id": nic}]}}),
        generic(nic, {"ipConfigurations": [config], "virtualMachine": {"id": rid}}),
        _proxy(f"{rid}/extensions/MDE.Linux", mde),
        *({"id": f"{rid}/providers/Microsoft.Security/assessments/{key}", "name": key,
           "type": "Microsoft.Security/assessments",
           "properties": {"resourceDetails": {"source": "Azure", "id": rid}, "status": {"code": "Healthy"}}}
          for key in keys),
    ]  # fmt: skip


# -- builders: Backups and continuity
def _recovery_vault(rid: str) -> list[dict[str, Any]]:
    """A vault backing up the guard VM (so vm-backup-recent has an item to judge), with its backup fabric and the
    VM's protection container (the replicated item is planted generically, under generic parents)."""
    from tests.recovery_docs import backup_item, vault

    built = vault(rid.rsplit("/", 1)[-1], rg=RG)
    built[0]["id"], built[1]["id"] = rid, f"{rid}/backupFabrics/Azure"
    return [*built, *backup_item(rid, _id("microsoft.compute/virtualmachines"))]


# -- builders: Accounts and privileged identities


# -- builders: Local and shared admin accounts


# -- builders: Passwords, lockout and MFA


# -- builders: Time synchronisation


BUILDERS: dict[str, Callable[[str], list[dict[str, Any]]]] = {
    "microsoft.web/sites": _site,
    "microsoft.web/sites/slots": _site,
    "microsoft.network/networksecuritygroups": _nsg,
    "microsoft.storage/storageaccounts": _storage,
    "microsoft.sql/servers": _sql,
    "microsoft.authorization/roleassignments": _role_assignment,
    "microsoft.authorization/roledefinitions": _role_definition,
    # -- Perimeter and exposure
    "microsoft.network/virtualnetworks": _vnet,
    "microsoft.compute/virtualmachines": _vm,
    # -- Edge protection: firewall IDPS, WAF, DDoS, gateway TLS
    # -- SQL, PostgreSQL, Redis
    "microsoft.sql/servers/databases": _sql_database,
    "microsoft.dbforpostgresql/flexibleservers": _postgresql,
    # -- Storage, Key Vault, managed disks
    # -- App Service
    # -- Logging and monitoring
    "microsoft.operationalinsights/workspaces": _workspace,
    # -- Defender for Cloud and VM agents
    # -- Backups and continuity
    "microsoft.recoveryservices/vaults": _recovery_vault,
    # -- Accounts and privileged identities
    # -- Local and shared admin accounts
    # -- Passwords, lockout and MFA
    # -- Time synchronisation
}


def judged_arm_types() -> set[str]:
    return {t for c in ALL_CHECKS for t in c.judges if t.startswith("microsoft.")}


def guard_estate() -> tuple[dict[str, Any], dict[str, str]]:
    """The estate, and the planted resource id of each judged type."""
    docs: dict[str, dict[str, Any]] = {}
    planted: dict[str, str] = {}
    for rtype in sorted(judged_arm_types()):
        types = rtype.split("/")
        # Parents first (a slot needs its site), each built like a resource of its own type.
        for depth in range(2, len(types) + 1):
            level = "/".join(types[:depth])
            built = BUILDERS.get(level, lambda rid: [generic(rid)])(_id(level))
            for d in built:
                docs.setdefault(d["id"].lower(), d)
            planted.setdefault(level, built[0]["id"])
    directory = {
        "users": [{"id": PRINCIPAL, "displayName": "Guard User", "userPrincipalName": "guard@clinic.example",
                   "accountEnabled": True, "userType": "Member"}],
        "groups": [],
        "servicePrincipals": [],
    }  # fmt: skip
    return estate(list(docs.values()), directory=directory), planted


def _nearest_planted(resource_id: str, planted_ids: set[str]) -> str | None:
    """The deepest planted resource `resource_id` is, or lies beneath (ids compare case-insensitively)."""
    rid = resource_id.lower().rstrip("/")
    owners = [p for p in planted_ids if rid == p or rid.startswith(p + "/")]
    return max(owners, key=len) if owners else None


def test_every_judged_type_is_collected_for_every_check(judge):
    est, planted = guard_estate()
    judged = judge(est)
    assert judged.facts.errors == [], "the guard estate must collect without errors"

    not_collected = [
        (f.check_id, f.resource_id, f.reason_en)
        for f in judged.result.findings
        if f.status == Status.ERROR and (NOT_COLLECTED[0] in f.reason_en or NOT_COLLECTED[1] in f.reason_ja)
    ]
    assert not not_collected, f"checks judged resources whose facts were not collected: {not_collected}"

    planted_ids = {rid.lower() for rid in planted.values()}
    for check in ALL_CHECKS:
        findings = judged.findings(check.id)
        for rtype in (t for t in check.judges if t.startswith("microsoft.")):
            rid = planted[rtype]
            assert rid.lower() in findings, (
                f"check {check.id} judges {rtype} but gave no finding for {rid}: the generic document is "
                f"not enough for its facts to be collected; add a builder for {rtype} to BUILDERS"
            )
            for kind in check.per_resource:
                docs = [e for e in judged.facts.of(kind) if _nearest_planted(e.resource_id, planted_ids) == rid.lower()]
                assert docs, f"check {check.id} needs '{kind}' for every {rtype}, but none was collected for {rid}"


def test_the_guard_plants_every_judged_type():
    _, planted = guard_estate()
    assert judged_arm_types() <= set(planted)
    # Builders exist only for types some check judges (or a judged type's parent): none is left over.
    assert set(BUILDERS) <= set(planted)
