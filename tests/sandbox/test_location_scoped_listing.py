"""Resources kept under `locations/{l}/` (Defender for Cloud JIT policies) are listed without the location,
subscription-wide and per resource group, the way Jit Network Access Policies - List answers."""

from __future__ import annotations

import pytest

from sandbox import ids
from sandbox.arm import ArmIndex
from sandbox.estate import EstateError, estate_from_mapping

TENANT = "11111111-1111-4111-8111-111111111111"
SUB = "22222222-2222-4222-8222-222222222222"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-app"
VM = f"{RG}/providers/Microsoft.Compute/virtualMachines/vm1"


def policy(location: str, rg: str = RG) -> dict:
    return {
        "id": f"{rg}/providers/Microsoft.Security/locations/{location}/jitNetworkAccessPolicies/default",
        "name": "default",
        "type": "Microsoft.Security/locations/jitNetworkAccessPolicies",
        "location": location,
        "kind": "Basic",
        "properties": {"virtualMachines": [{"id": VM, "ports": [{"number": 22}]}], "provisioningState": "Succeeded"},
    }


def index(*resources: dict) -> ArmIndex:
    data = {"tenant": {"id": TENANT}, "subscriptions": [{"subscriptionId": SUB}], "resources": list(resources)}
    return ArmIndex(estate_from_mapping(data))


def listed(idx: ArmIndex, path: str) -> list[str]:
    out = idx.read(ids.parse(path))
    assert isinstance(out, list)
    return sorted(d["id"] for d in out)


def test_jit_policies_are_listed_across_locations():
    east, west = policy("japaneast"), policy("japanwest", f"/subscriptions/{SUB}/resourceGroups/rg-dr")
    idx = index(east, west)
    # The policy's `locations/{l}` parent is a region: the estate accepts the policy without it.
    assert listed(idx, f"/subscriptions/{SUB}/providers/Microsoft.Security/jitNetworkAccessPolicies") == sorted(
        [east["id"], west["id"]]
    )
    assert listed(idx, f"{RG}/providers/Microsoft.Security/jitNetworkAccessPolicies") == [east["id"]]
    # Served at its own id.
    assert idx.read(ids.parse(east["id"]))["name"] == "default"
    # Nothing else gains a location-less listing.
    assert listed(idx, f"/subscriptions/{SUB}/providers/Microsoft.Security/pricings") == []


def test_other_location_children_still_need_their_parent():
    orphan = {
        "id": f"{RG}/providers/Microsoft.Security/locations/japaneast/tasks/t1",
        "name": "t1",
        "type": "Microsoft.Security/locations/tasks",
        "properties": {},
    }
    with pytest.raises(EstateError, match="is not in the estate"):
        index(orphan)
