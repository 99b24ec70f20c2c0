"""Management locks are listed at a subscription or resource group with every lock beneath it (on the scope, its
resource groups and its resources), as Management Locks - List At Subscription / Resource Group Level answer;
other extension types (subscription diagnostic settings) list only what sits directly on the scope."""

from __future__ import annotations

from sandbox import ids
from sandbox.arm import ArmIndex
from sandbox.estate import estate_from_mapping
from tests.estates import PROD, estate, rid

SUB = f"/subscriptions/{PROD}"
WS = rid("Microsoft.OperationalInsights/workspaces/log-prod", PROD, "rg-ops")


def lock(scope: str, name: str) -> dict:
    return {"id": f"{scope}/providers/Microsoft.Authorization/locks/{name}", "name": name,
            "type": "Microsoft.Authorization/locks", "properties": {"level": "CanNotDelete"}}  # fmt: skip


def index() -> ArmIndex:
    docs = [
        {"id": f"{SUB}/resourceGroups/rg-ops", "name": "rg-ops", "type": "Microsoft.Resources/resourceGroups",
         "location": "japaneast", "properties": {}},
        {"id": WS, "name": "log-prod", "type": "Microsoft.OperationalInsights/workspaces", "location": "japaneast",
         "properties": {}},
        lock(SUB, "on-sub"), lock(f"{SUB}/resourceGroups/rg-ops", "on-rg"), lock(WS, "on-ws"),
        {"id": f"{SUB}/providers/Microsoft.Insights/diagnosticSettings/activity", "name": "activity",
         "type": "Microsoft.Insights/diagnosticSettings", "properties": {"logs": []}},
        {"id": f"{WS}/providers/Microsoft.Insights/diagnosticSettings/ws-audit", "name": "ws-audit",
         "type": "Microsoft.Insights/diagnosticSettings", "properties": {"logs": []}},
    ]  # fmt: skip
    return ArmIndex(estate_from_mapping(estate(docs)))


def names(found: object) -> set[str]:
    assert isinstance(found, list)
    return {d["name"] for d in found}


def test_locks_listed_at_a_subscription_include_every_scope_beneath_it():
    arm = index()
    assert names(arm.read(ids.parse(f"{SUB}/providers/Microsoft.Authorization/locks"))) == {"on-sub", "on-rg", "on-ws"}
    rg_locks = arm.read(ids.parse(f"{SUB}/resourceGroups/rg-ops/providers/Microsoft.Authorization/locks"))
    assert names(rg_locks) == {"on-rg", "on-ws"}
    assert names(arm.read(ids.parse(f"{WS}/providers/Microsoft.Authorization/locks"))) == {"on-ws"}


def test_subscription_diagnostic_settings_list_only_the_subscriptions_own():
    arm = index()
    assert names(arm.read(ids.parse(f"{SUB}/providers/Microsoft.Insights/diagnosticSettings"))) == {"activity"}


def test_guest_configuration_assignments_listed_at_a_subscription_include_those_on_each_vm():
    vm = rid("Microsoft.Compute/virtualMachines/vm-app", PROD, "rg-ops")
    docs = [
        {"id": f"{SUB}/resourceGroups/rg-ops", "name": "rg-ops", "type": "Microsoft.Resources/resourceGroups",
         "location": "japaneast", "properties": {}},
        {"id": vm, "name": "vm-app", "type": "Microsoft.Compute/virtualMachines", "location": "japaneast",
         "properties": {}},
        {"id": f"{vm}/providers/Microsoft.GuestConfiguration/guestConfigurationAssignments/TimeSync",
         "name": "TimeSync", "type": "Microsoft.GuestConfiguration/guestConfigurationAssignments",
         "properties": {"complianceStatus": "Compliant"}},
    ]  # fmt: skip
    arm = ArmIndex(estate_from_mapping(estate(docs)))
    listing = "providers/Microsoft.GuestConfiguration/guestConfigurationAssignments"
    assert names(arm.read(ids.parse(f"{SUB}/{listing}"))) == {"TimeSync"}
    assert names(arm.read(ids.parse(f"{SUB}/resourceGroups/rg-ops/{listing}"))) == {"TimeSync"}
