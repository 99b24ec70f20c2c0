"""Time synchronisation: each VM's clock read by Run Command (chrony, w32tm) or its machine configuration
assignment, judged from evidence built here."""

from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.checks.time_sync import parse_chrony, parse_w32tm
from controls.model import CollectionError, Evidence, FactSet, Status, Thresholds

SUB = "/subscriptions/a8233bec-16ce-49d8-af36-5decabf6c438"
AT = datetime(2026, 11, 22, tzinfo=UTC)
SYNC, SOURCE = "vm-time-sync-compliant", "vm-time-source-approved"

CHRONY_PTP = """## chronyc tracking
Reference ID    : 50484330 (PHC0)
Stratum         : 1
Ref time (UTC)  : Sun Nov 22 00:14:52 2026
System time     : 0.000000412 seconds slow of NTP time
Last offset     : -0.000000318 seconds
Leap status     : Normal
## chronyc sources
MS Name/IP address         Stratum Poll Reach LastRx Last sample
===============================================================================
#* PHC0                          0   3   377     8   -318ns[ -402ns] +/-  912ns
## refclock
refclock PHC /dev/ptp_hyperv poll 3 dpoll -2 offset 0 stratum 2
"""
CHRONY_POOL_DRIFT = """## chronyc tracking
Reference ID    : B97DBE38 (alphyn.canonical.com)
Stratum         : 3
System time     : 2.412803101 seconds fast of NTP time
Leap status     : Normal
## chronyc sources
MS Name/IP address         Stratum Poll Reach LastRx Last sample
===============================================================================
^* alphyn.canonical.com         2  10   377   712  +2412ms[+2412ms] +/-   48ms
^- golem.canonical.com         2  10   377   698  +2398ms[+2398ms] +/-   51ms
## refclock
"""
CHRONY_UNSYNCED = """## chronyc tracking
Reference ID    : 00000000 ()
Stratum         : 0
System time     : 0.000000000 seconds fast of NTP time
Leap status     : Not synchronised
## chronyc sources
MS Name/IP address         Stratum Poll Reach LastRx Last sample
===============================================================================
^? time.google.com               0   6     0     -     +0ns[   +0ns] +/-    0ns
## refclock
"""
W32TM_HOST = """Leap Indicator: 0(no warning)
Stratum: 2 (secondary reference - syncd by (S)NTP)
Phase Offset: 0.0000121s
Source: VM IC Time Synchronization Provider
Last Successful Sync Time: 11/22/2026 9:31:07 AM
"""
W32TM_GOOGLE = """Leap Indicator: 0(no warning)
Phase Offset: -0.0004470s
Source: time.google.com,0x9
"""
W32TM_STALE = """Leap Indicator: 0(no warning)
Stratum: 3 (secondary reference - syncd by (S)NTP)
Last Successful Sync Time: 11/14/2026 2:03:55 AM
Source: time.windows.com,0x9
Poll Interval: 10 (1024s)
Phase Offset: 1.8311426s
State Machine: 1 (Hold)
Last Sync Error: 1 (The computer did not resync because no time data was available.)
Time since Last Good Sync Time: 712381.2209371s
"""
W32TM_LARGE = """Leap Indicator: 0(no warning)
Phase Offset: -0.3120577s
Source: VM IC Time Synchronization Provider
Last Sync Error: 0 (The command completed successfully.)
"""
W32TM_CMOS = """Leap Indicator: 3(not synchronized)
Phase Offset: 0.0000000s
Source: Local CMOS Clock
"""


def ev(kind: str, doc: dict, resource_id: str | None = None) -> Evidence:
    return Evidence(kind, "test", SUB, resource_id or doc["id"], "2026-04-01", None, AT, doc)


def vm(name: str, os_type: str = "Linux") -> Evidence:
    doc = {"id": f"{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}", "name": name,
           "type": "Microsoft.Compute/virtualMachines",
           "properties": {"storageProfile": {"osDisk": {"osType": os_type}}}}  # fmt: skip
    return ev("virtual_machine", doc)


def clock(machine: Evidence, stdout: str) -> Evidence:
    if "## chronyc" in stdout:
        value = [{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
                  "message": f"Enable succeeded: \n[stdout]\n{stdout}\n[stderr]\n"}]  # fmt: skip
    else:
        value = [{"code": "ComponentStatus/StdOut/succeeded", "message": stdout},
                 {"code": "ComponentStatus/StdErr/succeeded", "message": ""}]  # fmt: skip
    return ev("vm_clock", {"value": value}, machine.resource_id)


def assignment(machine: Evidence, status: str, name: str = "TimeSync", phrase: str | None = None) -> Evidence:
    aid = f"{machine.resource_id}/providers/Microsoft.GuestConfiguration/guestConfigurationAssignments/{name}"
    props: dict = {"complianceStatus": status, "guestConfiguration": {"name": name, "version": "1.0.0"}}
    if phrase:
        props["latestAssignmentReport"] = {"resources": [{"reasons": [{"code": "x", "phrase": phrase}]}]}
    return ev("guest_configuration_assignment", {"id": aid, "name": name, "properties": props})


def run(check_id: str, *evidence: Evidence, errors=(), thresholds: Thresholds | None = None) -> dict:
    facts = FactSet(list(evidence), list(errors))
    found = CHECKS_BY_ID[check_id].evaluate(facts, thresholds or Thresholds())
    return {f.resource_id.rsplit("/", 1)[-1]: f for f in found}


def test_parsers_read_source_offset_and_state():
    ptp = parse_chrony(CHRONY_PTP)
    assert ptp is not None and ptp.host_clock and ptp.synchronised and ptp.source == "PHC0"
    assert abs((ptp.offset_ms or 0) - 0.000412) < 1e-9
    pool = parse_chrony(CHRONY_POOL_DRIFT)
    assert pool is not None and pool.source == "alphyn.canonical.com" and not pool.host_clock
    assert pool.offset_ms is not None and round(pool.offset_ms) == 2413
    unsynced = parse_chrony(CHRONY_UNSYNCED)
    assert unsynced is not None and not unsynced.synchronised
    host = parse_w32tm(W32TM_HOST)
    assert host is not None and host.host_clock and host.synchronised and abs((host.offset_ms or 0) - 0.0121) < 1e-9
    google = parse_w32tm(W32TM_GOOGLE)
    assert google is not None and google.source == "time.google.com" and google.offset_ms == -0.447
    cmos = parse_w32tm(W32TM_CMOS)
    assert cmos is not None and not cmos.synchronised
    assert parse_w32tm("The following error occurred: The service has not been started. (0x80070426)") is None
    assert parse_chrony("bash: chronyc: command not found") is None
    ja = parse_w32tm(
        "閏インジケーター: 0(警告なし)\nソース: VM IC Time Synchronization Provider\nフェーズ オフセット: 0.0000210s\n"
    )
    assert ja is not None and ja.host_clock and ja.synchronised and abs((ja.offset_ms or 0) - 0.021) < 1e-9


def test_run_command_readings_judge_sync_and_offset():
    a, b, c, d, w = vm("vm-a"), vm("vm-b"), vm("vm-c"), vm("vm-d"), vm("vm-w", "Windows")
    missing = clock(d, "## chronyc tracking\n## chronyc sources\n## refclock\n")
    missing.content["value"][0]["message"] += "bash: line 2: chronyc: command not found\n"
    found = run(SYNC, a, b, c, d, w, clock(a, CHRONY_PTP), clock(b, CHRONY_POOL_DRIFT), clock(c, CHRONY_UNSYNCED),
                missing, clock(w, W32TM_CMOS))  # fmt: skip
    assert found["vm-a"].status == Status.PASS and "synchronised with PHC0" in found["vm-a"].reason_en
    assert found["vm-b"].status == Status.FAIL
    assert found["vm-b"].reason_en == (
        "virtual machine vm-b (Linux): its clock is 2412.8 ms off its source alphyn.canonical.com; at most 100 ms "
        "is required"
    )
    assert found["vm-c"].status == Status.FAIL and "Leap status Not synchronised" in found["vm-c"].reason_en
    assert found["vm-d"].status == Status.ERROR
    assert "(first line: bash: line 2: chronyc: command not found)" in found["vm-d"].reason_en
    assert found["vm-w"].status == Status.FAIL and "Source Local CMOS Clock" in found["vm-w"].reason_en
    relaxed = run(SYNC, b, clock(b, CHRONY_POOL_DRIFT), thresholds=Thresholds(max_clock_offset_ms=3000))
    assert relaxed["vm-b"].status == Status.PASS


def test_windows_stale_sync_and_large_offset_fail():
    s, big = vm("vm-s", "Windows"), vm("vm-big", "Windows")
    found = run(SYNC, s, big, clock(s, W32TM_STALE), clock(big, W32TM_LARGE))
    assert found["vm-s"].status == Status.FAIL
    assert "Last Sync Error 1 (The computer did not resync" in found["vm-s"].reason_en
    assert found["vm-big"].status == Status.FAIL
    assert "its clock is -312.058 ms off its source VM IC Time Synchronization Provider" in found["vm-big"].reason_en
    # The host clock is still the approved source; the offset is judged by the other check.
    assert run(SOURCE, big, clock(big, W32TM_LARGE))["vm-big"].status == Status.PASS


def test_time_source_host_clock_or_approved_server_passes_others_fail():
    a, b, w, g = vm("vm-a"), vm("vm-b"), vm("vm-w", "Windows"), vm("vm-g", "Windows")
    found = run(SOURCE, a, b, w, g, clock(a, CHRONY_PTP), clock(b, CHRONY_POOL_DRIFT), clock(w, W32TM_HOST),
                clock(g, W32TM_GOOGLE))  # fmt: skip
    assert found["vm-a"].status == Status.PASS and "Azure host clock" in found["vm-a"].reason_en
    assert found["vm-w"].status == Status.PASS and "VM IC Time Synchronization Provider" in found["vm-w"].reason_en
    assert found["vm-g"].status == Status.PASS and "time.google.com is an approved" in found["vm-g"].reason_en
    assert found["vm-b"].status == Status.FAIL
    assert "its time source alphyn.canonical.com is not approved" in found["vm-b"].reason_en
    assert "alphyn.canonical.com は承認されていません" in found["vm-b"].reason_ja
    mine = Thresholds(approved_ntp_sources=("*.canonical.com",))
    assert run(SOURCE, b, clock(b, CHRONY_POOL_DRIFT), thresholds=mine)["vm-b"].status == Status.PASS


def test_a_phc_refclock_not_on_the_hyperv_device_is_not_the_host_clock():
    other = CHRONY_PTP.replace("/dev/ptp_hyperv", "/dev/ptp0")
    a = vm("vm-a")
    found = run(SOURCE, a, clock(a, other))
    assert found["vm-a"].status == Status.FAIL and "PHC0 is not approved" in found["vm-a"].reason_en


def test_without_run_command_the_machine_configuration_assignment_decides():
    a, b, c, d, e = vm("vm-a"), vm("vm-b"), vm("vm-c"), vm("vm-d"), vm("vm-e")
    evidence = [a, b, c, d, e, assignment(a, "Compliant"), assignment(b, "NonCompliant", phrase="offset 2.4 s"),
                assignment(c, "Pending"), assignment(d, "Compliant", name="AzureWindowsBaseline")]  # fmt: skip
    for check_id in (SYNC, SOURCE):
        found = run(check_id, *evidence)
        assert found["vm-a"].status == Status.PASS
        assert found["vm-b"].status == Status.FAIL and "reasons: offset 2.4 s" in found["vm-b"].reason_en
        assert found["vm-c"].status == Status.ERROR and "not been evaluated" in found["vm-c"].reason_en
        # An assignment of another configuration says nothing about the clock: never a pass.
        for unseen in ("vm-d", "vm-e"):
            assert found[unseen].status == Status.ERROR
            assert "no machine configuration (guest configuration) assignment of TimeSync" in found[unseen].reason_en
    named = run(SYNC, d, assignment(d, "Compliant", name="AzureWindowsBaseline"),
                thresholds=Thresholds(time_sync_guest_configurations=("AzureWindowsBaseline",)))  # fmt: skip
    assert named["vm-d"].status == Status.PASS


def test_a_direct_reading_outweighs_the_assignment():
    a = vm("vm-a")
    found = run(SYNC, a, assignment(a, "Compliant"), clock(a, CHRONY_POOL_DRIFT))
    assert found["vm-a"].status == Status.FAIL


def test_collection_errors_are_errors_never_passes():
    a, b = vm("vm-a"), vm("vm-b")
    forbidden = CollectionError("vm_clock", "test", a.resource_id, "AuthorizationFailed", "no runCommand/action",
                                403, None, AT)  # fmt: skip
    listing = CollectionError("guest_configuration_assignment", "test", SUB, "AuthorizationFailed", "denied", 403,
                              None, AT)  # fmt: skip
    facts = FactSet([a, b, assignment(a, "Compliant")], [forbidden, listing])
    for check_id in (SYNC, SOURCE):
        findings = CHECKS_BY_ID[check_id].evaluate(facts, Thresholds())
        assert findings == [], "VMs a collection error covers are left to the engine's error findings"
    from controls.catalog import load_catalog
    from controls.engine import evaluate

    result = evaluate(facts, load_catalog(), Thresholds())
    statuses = {(f.check_id, f.resource_id): f.status for f in result.findings if f.check_id in (SYNC, SOURCE)}
    assert statuses and set(statuses.values()) == {Status.ERROR}
    assert result.verdict(130).status == Status.ERROR and result.verdict(131).status == Status.ERROR
