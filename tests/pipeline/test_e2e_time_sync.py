"""Time synchronisation collected through the sandbox by the real SDK clients: machine configuration assignments from
Guest Configuration Assignments - Subscription List, and, when enabled, each VM's clock read with Virtual Machines -
Run Command (a long-running POST) and parsed from chrony / w32tm output."""

from pathlib import Path

from collector.pipeline import collect
from collector.plan import plan_for
from controls.catalog import load_catalog
from controls.checks import ALL_CHECKS
from controls.engine import evaluate
from controls.model import Status
from sandbox.server import Sandbox
from tests.controls.test_check_time_sync import CHRONY_POOL_DRIFT, CHRONY_PTP, W32TM_CMOS, W32TM_HOST
from tests.estates import doc, estate
from tests.pipeline.conftest import Judged, sandbox_settings

SYNC, SOURCE = "vm-time-sync-compliant", "vm-time-source-approved"
EXAMPLE = Path(__file__).resolve().parents[2] / "sandbox" / "estates" / "hospital-emr.yaml"


def vm(name: str, os_type: str) -> dict:
    return doc(f"Microsoft.Compute/virtualMachines/{name}", {"storageProfile": {"osDisk": {"osType": os_type}}})


def assignment(vm_doc: dict, status: str) -> dict:
    name = "TimeSync"
    return {"id": f"{vm_doc['id']}/providers/Microsoft.GuestConfiguration/guestConfigurationAssignments/{name}",
            "name": name, "type": "Microsoft.GuestConfiguration/guestConfigurationAssignments",
            "location": "japaneast",
            "properties": {"assignmentHash": "content hash", "complianceStatus": status, "context": None,
                           "guestConfiguration": {"name": name, "configurationParameter": [], "version": "1.0.0",
                                                  "contentHash": "content hash", "kind": None},
                           "lastComplianceStatusChecked": "2026-11-21T22:14:13Z",
                           "provisioningState": "Succeeded"}}  # fmt: skip


def output(vm_doc: dict, stdout: str) -> dict:
    windows = vm_doc["properties"]["storageProfile"]["osDisk"]["osType"] == "Windows"
    return {"vm": vm_doc["id"], "commandId": "RunPowerShellScript" if windows else "RunShellScript",
            "scriptContains": "w32tm /query /status" if windows else "chronyc tracking", "stdout": stdout}  # fmt: skip


PTP, DRIFT = vm("vm-ptp", "Linux"), vm("vm-drift", "Linux")
HOST, CMOS = vm("vm-host", "Windows"), vm("vm-cmos", "Windows")
SILENT = vm("vm-silent", "Linux")  # the sandbox answers an empty stdout: nothing to read


def judged_with_run_command(e: dict) -> Judged:
    with Sandbox.from_dict(e) as sb:
        settings = sandbox_settings(sb, collection={"time_sync_run_command": True})
        facts = collect(settings)
    return Judged(facts, evaluate(facts, load_catalog(), settings.thresholds))


def test_clocks_read_with_run_command_judge_source_and_offset():
    e = estate([PTP, DRIFT, HOST, CMOS, SILENT, assignment(DRIFT, "Compliant")])
    e["runCommands"] = [output(PTP, CHRONY_PTP), output(DRIFT, CHRONY_POOL_DRIFT), output(HOST, W32TM_HOST),
                        output(CMOS, W32TM_CMOS)]  # fmt: skip
    judged = judged_with_run_command(e)
    sync = {k.rsplit("/", 1)[-1]: f for k, f in judged.findings(SYNC).items()}
    source = {k.rsplit("/", 1)[-1]: f for k, f in judged.findings(SOURCE).items()}
    assert {k: f.status for k, f in sync.items()} == {"vm-ptp": Status.PASS, "vm-drift": Status.FAIL,
        "vm-host": Status.PASS, "vm-cmos": Status.FAIL, "vm-silent": Status.ERROR}  # fmt: skip
    assert {k: f.status for k, f in source.items()} == {"vm-ptp": Status.PASS, "vm-drift": Status.FAIL,
        "vm-host": Status.PASS, "vm-cmos": Status.FAIL, "vm-silent": Status.ERROR}  # fmt: skip
    # The direct reading outweighs the Compliant assignment on the drifting VM.
    assert "2412.8 ms off its source alphyn.canonical.com" in sync["vm-drift"].reason_en
    assert "VM IC Time Synchronization Provider" in source["vm-host"].reason_en
    clocks = [ev for ev in judged.facts.evidence if ev.kind == "vm_clock"]
    assert len(clocks) == 5 and {ev.api_version for ev in clocks} == {"2026-04-01"}
    assert judged.verdict(130) == Status.FAIL and judged.verdict(131) == Status.FAIL


def test_run_command_forbidden_is_an_error_per_vm_never_a_pass():
    e = estate([PTP, HOST, assignment(PTP, "Compliant")],
               faults=[{"kind": "forbidden", "method": "POST", "path": "*/runCommand"}])  # fmt: skip
    e["runCommands"] = [output(PTP, CHRONY_PTP), output(HOST, W32TM_HOST)]
    judged = judged_with_run_command(e)
    for check_id in (SYNC, SOURCE):
        findings = judged.findings(check_id)
        assert {f.status for f in findings.values()} == {Status.ERROR}
        assert {k.rsplit("/", 1)[-1] for k in findings} == {"vm-ptp", "vm-host"}
        assert all("AuthorizationFailed" in f.reason_en for f in findings.values())
    assert judged.verdict(130) == Status.ERROR


def test_without_run_command_assignments_decide_and_a_forbidden_listing_is_an_error(judge):
    a, b, c = vm("vm-a", "Linux"), vm("vm-b", "Windows"), vm("vm-c", "Linux")
    judged = judge(estate([a, b, c, assignment(a, "Compliant"), assignment(b, "NonCompliant")]))
    found = {k.rsplit("/", 1)[-1]: f.status for k, f in judged.findings(SYNC).items()}
    assert found == {"vm-a": Status.PASS, "vm-b": Status.FAIL, "vm-c": Status.ERROR}
    assert not [ev for ev in judged.facts.evidence if ev.kind == "vm_clock"], "no run command unless enabled"
    fault = {"kind": "forbidden", "resourceType": "Microsoft.GuestConfiguration/guestConfigurationAssignments"}
    denied = judge(estate([a, assignment(a, "Compliant")], faults=[fault]))
    for check_id in (SYNC, SOURCE):
        findings = denied.findings(check_id)
        assert findings and {f.status for f in findings.values()} == {Status.ERROR}
    assert denied.verdict(131) == Status.ERROR


def test_the_example_estate_clocks_read_with_run_command():
    """The example estate's run command outputs parse into the story its TimeSync assignments tell."""
    checks = [c for c in ALL_CHECKS if c.id in (SYNC, SOURCE)]
    with Sandbox.from_file(EXAMPLE) as sb:
        settings = sandbox_settings(sb, collection={"time_sync_run_command": True})
        facts = collect(settings, plan=plan_for(checks))
    result = evaluate(facts, load_catalog(), settings.thresholds, checks)
    found = {(f.check_id, f.resource_id.rsplit("/", 1)[-1]): f for f in result.findings}
    for check_id in (SYNC, SOURCE):
        assert found[(check_id, "vm-emr-jump-prod")].status == Status.PASS
        assert found[(check_id, "vm-emr-batch-prod")].status == Status.PASS
        assert found[(check_id, "vm-emr-dev-build")].status == Status.FAIL
    assert "time.google.com, 0.4471 ms off" in found[(SYNC, "vm-emr-jump-prod")].reason_en
    assert "Azure host clock (PTP / VM IC) (PHC0)" in found[(SOURCE, "vm-emr-batch-prod")].reason_en
    assert "alphyn.canonical.com is not approved" in found[(SOURCE, "vm-emr-dev-build")].reason_en
