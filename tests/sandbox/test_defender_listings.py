"""Defender for Cloud and VM agent listings as the real SDK reads them: pricings and VM extensions in one
response (their SDK operations never follow nextLink), assessments and sub-assessments listed for a whole
subscription or resource group from wherever they are attached."""

from __future__ import annotations

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.security import SecurityCenter

from sandbox.server import Sandbox
from tests.estates import DEV, PROD, doc, estate, rid
from tests.sandbox.sdk import client_for

VM = rid("Microsoft.Compute/virtualMachines/vm1", PROD, "rg-a")
VM_B = rid("Microsoft.Compute/virtualMachines/vm2", PROD, "rg-b")
VM_DEV = rid("Microsoft.Compute/virtualMachines/vm3", DEV, "rg-a")
KEY = "1195afff-c881-495e-9bc5-1486211ae03f"


def _assessment(resource: str) -> dict:
    return {"id": f"{resource}/providers/Microsoft.Security/assessments/{KEY}", "name": KEY,
            "type": "Microsoft.Security/assessments",
            "properties": {"resourceDetails": {"source": "Azure", "id": resource},
                           "status": {"code": "Unhealthy"}}}  # fmt: skip


def _finding(resource: str, n: int) -> dict:
    return {"id": f"{resource}/providers/Microsoft.Security/assessments/{KEY}/subAssessments/0000000{n}",
            "name": f"0000000{n}", "type": "Microsoft.Security/assessments/subAssessments",
            "properties": {"displayName": f"finding {n}",
                           "status": {"code": "Unhealthy", "severity": "High"}}}  # fmt: skip


def _estate() -> dict:
    docs: list[dict] = []
    for plan in ("VirtualMachines", "AppServices", "KeyVaults"):
        docs.append({"id": f"/subscriptions/{PROD}/providers/Microsoft.Security/pricings/{plan}", "name": plan,
                     "type": "Microsoft.Security/pricings", "properties": {"pricingTier": "Standard"}})  # fmt: skip
    for vm_id in (VM, VM_B, VM_DEV):
        sub, rg, name = vm_id.split("/")[2], vm_id.split("/")[4], vm_id.rsplit("/", 1)[-1]
        docs.append(doc(f"Microsoft.Compute/virtualMachines/{name}", {}, subscription=sub, rg=rg))
        docs += [_assessment(vm_id), _finding(vm_id, 1), _finding(vm_id, 2)]
    for ext in ("MDE.Linux", "AzureMonitorLinuxAgent", "Custom"):
        docs.append(doc(f"Microsoft.Compute/virtualMachines/vm1/extensions/{ext}", {"type": ext}, rg="rg-a"))
    return estate(docs)


def test_defender_listings() -> None:
    with Sandbox.from_dict(_estate(), page_size=2) as sb:
        security = client_for(sb.info, SecurityCenter, PROD)
        # One response each, though longer than a page.
        plans = security.pricings.list(f"subscriptions/{PROD}").value
        assert sorted(p.name for p in plans) == ["AppServices", "KeyVaults", "VirtualMachines"]
        compute = client_for(sb.info, ComputeManagementClient, PROD)
        assert len(compute.virtual_machine_extensions.list("rg-a", "vm1").value) == 3
        # Subscription scope: the assessments on every resource of that subscription, and only those.
        listed = [a.id.lower() for a in security.assessments.list(f"subscriptions/{PROD}")]
        assert listed == [_assessment(VM)["id"].lower(), _assessment(VM_B)["id"].lower()]
        findings = [f.id.lower() for f in security.sub_assessments.list_all(f"subscriptions/{PROD}")]
        assert len(findings) == 4 and all(VM_DEV.lower() not in f for f in findings)
        # Resource-group scope, and a single resource's own collection.
        in_group = [a.id for a in security.assessments.list(f"subscriptions/{PROD}/resourceGroups/rg-b")]
        assert in_group == [_assessment(VM_B)["id"]]
        assert len(list(security.sub_assessments.list(VM.lstrip("/"), KEY))) == 2
