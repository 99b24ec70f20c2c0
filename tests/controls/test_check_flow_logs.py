from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
NSG_ID = f"{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/networkSecurityGroups/nsg-web"
VNET = f"{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-karte"
WATCHER = f"{SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_japaneast"
AT = datetime(2026, 3, 31, tzinfo=UTC)


def nsg(subnets=(), nics=()) -> Evidence:
    doc = {
        "id": NSG_ID,
        "name": "nsg-web",
        "properties": {
            "securityRules": [],
            "subnets": [{"id": f"{VNET}/subnets/{s}"} for s in subnets],
            "networkInterfaces": [
                {"id": f"{SUB}/resourceGroups/rg-vm/providers/Microsoft.Network/networkInterfaces/{n}"} for n in nics
            ],
        },
    }
    return Evidence(FactKind.NSG, "test", SUB, NSG_ID, "2024-05-01", None, AT, doc)


def flow_log(name: str, target: str, *, enabled=True, days=90, retention_enabled=True) -> Evidence:
    doc = {
        "id": f"{WATCHER}/flowLogs/{name}",
        "name": name,
        "properties": {
            "targetResourceId": target,
            "enabled": enabled,
            "storageId": f"{SUB}/resourceGroups/rg-log/providers/Microsoft.Storage/storageAccounts/stflow",
            "retentionPolicy": {"days": days, "enabled": retention_enabled},
            "format": {"type": "JSON", "version": 2},
        },
    }
    return Evidence(FactKind.FLOW_LOG, "test", SUB, doc["id"], "2024-05-01", None, AT, doc)


def judge(*evidence: Evidence, errors=(), thresholds=None):
    findings = CHECKS_BY_ID["nsg-flow-logs-enabled"].evaluate(
        FactSet(list(evidence), list(errors)), thresholds or Thresholds()
    )
    [f] = findings
    assert f.resource_id == NSG_ID
    return f


def test_nsg_flow_log_with_90_days_passes():
    n, fl = nsg(), flow_log("fl-nsg", NSG_ID)
    f = judge(n, fl)
    assert f.status == Status.PASS and set(f.evidence) == {n.sha256, fl.sha256}


def test_target_id_compared_case_insensitively():
    assert judge(nsg(), flow_log("fl", NSG_ID.lower())).status == Status.PASS


def test_vnet_flow_log_covers_via_subnet():
    n, fl = nsg(subnets=["snet-web", "snet-app"]), flow_log("fl-vnet", VNET)
    f = judge(n, fl)
    assert f.status == Status.PASS and "fl-vnet" in f.reason_en and fl.sha256 in f.evidence


def nic(name: str, *subnets: str) -> Evidence:
    """A NIC document (Network Interfaces - List All) with one ipConfiguration per subnet of vnet-karte."""
    nid = f"{SUB}/resourceGroups/rg-vm/providers/Microsoft.Network/networkInterfaces/{name}"
    configs = [
        {"name": f"ipconfig{i}", "id": f"{nid}/ipConfigurations/ipconfig{i}",
         "properties": {"subnet": {"id": f"{VNET}/subnets/{s}"}, "primary": i == 1}}
        for i, s in enumerate(subnets, start=1)
    ]  # fmt: skip
    doc = {"id": nid, "name": name, "properties": {"ipConfigurations": configs}}
    return Evidence("network_interface", "test", SUB, nid, "2024-05-01", None, AT, doc)


def test_subnet_and_nic_flow_logs_cover_when_all_attachments_covered():
    n = nsg(subnets=["snet-web"], nics=["nic-vm1"])
    on_subnet = flow_log("fl-snet", f"{VNET}/subnets/snet-web")
    on_nic = flow_log("fl-nic", f"{SUB}/resourceGroups/rg-vm/providers/Microsoft.Network/networkInterfaces/nic-vm1")
    assert judge(n, on_subnet, on_nic).status == Status.PASS
    f = judge(n, on_subnet, nic("nic-vm1", "snet-batch"))
    assert f.status == Status.FAIL and "NIC nic-vm1" in f.reason_en


def test_nic_is_covered_through_its_subnet_or_that_subnets_vnet():
    n = nsg(nics=["nic-vm1"])
    vm1 = nic("nic-vm1", "snet-web")
    on_vnet = flow_log("fl-vnet", VNET)
    f = judge(n, vm1, on_vnet)
    assert f.status == Status.PASS and set(f.evidence) == {n.sha256, vm1.sha256, on_vnet.sha256}
    assert judge(n, vm1, flow_log("fl-snet", f"{VNET}/subnets/snet-web")).status == Status.PASS
    # Every IP configuration's subnet must be covered.
    two = nic("nic-vm1", "snet-web", "snet-batch")
    assert judge(n, two, flow_log("fl-snet", f"{VNET}/subnets/snet-web")).status == Status.FAIL
    assert judge(n, two, on_vnet).status == Status.PASS


def test_nic_without_its_document_is_an_error_unless_something_else_fails():
    n = nsg(nics=["nic-vm1"])
    f = judge(n, flow_log("fl-vnet", VNET))
    assert f.status == Status.ERROR and "NIC nic-vm1 document was not collected" in f.reason_en
    refused = CollectionError("network_interface", "network.interfaces", SUB, "AuthorizationFailed", "denied", 403,
                              None, AT)  # fmt: skip
    f = judge(n, flow_log("fl-vnet", VNET), errors=[refused])
    assert f.status == Status.ERROR and "could not be collected (AuthorizationFailed)" in f.reason_en
    # An uncovered subnet fails whatever the unknown NIC's subnet is; the NIC is still named.
    f = judge(nsg(subnets=["snet-web"], nics=["nic-vm1"]))
    assert f.status == Status.FAIL and "subnet snet-web" in f.reason_en and "NIC nic-vm1 document" in f.reason_en


def test_vnet_of_another_network_does_not_cover():
    other = f"{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-other"
    f = judge(nsg(subnets=["snet-web"]), flow_log("fl-other", other))
    assert f.status == Status.FAIL and "snet-web" in f.reason_en


def test_disabled_flow_log_fails_and_says_so():
    fl = flow_log("fl-nsg", NSG_ID, enabled=False)
    f = judge(nsg(), fl)
    assert f.status == Status.FAIL
    assert "flow log fl-nsg enabled is false" in f.reason_en and fl.sha256 in f.evidence


def test_30_days_fails_against_90_day_threshold():
    f = judge(nsg(), flow_log("fl-nsg", NSG_ID, days=30))
    assert f.status == Status.FAIL and "retentionPolicy.days is 30" in f.reason_en and "90" in f.reason_en
    assert (
        judge(nsg(), flow_log("fl", NSG_ID, days=30), thresholds=Thresholds(flow_log_retention_days=30)).status
        == Status.PASS
    )


def test_zero_days_and_disabled_retention_mean_unlimited():
    assert judge(nsg(), flow_log("fl", NSG_ID, days=0, retention_enabled=True)).status == Status.PASS
    assert judge(nsg(), flow_log("fl", NSG_ID, days=0, retention_enabled=False)).status == Status.PASS
    assert judge(nsg(), flow_log("fl", NSG_ID, days=7, retention_enabled=False)).status == Status.PASS


def test_one_good_flow_log_is_enough():
    assert judge(nsg(), flow_log("old", NSG_ID, enabled=False), flow_log("new", NSG_ID)).status == Status.PASS


def test_no_flow_log_fails():
    f = judge(nsg(subnets=["snet-web"]))
    assert f.status == Status.FAIL and "snet-web" in f.reason_en
    f = judge(nsg())
    assert f.status == Status.FAIL and "no qualifying flow log and is associated with no subnet or NIC" in f.reason_en


def test_flow_log_collection_error_in_the_subscription_is_error_not_fail():
    err = CollectionError(
        FactKind.FLOW_LOG, "network.flow_logs", WATCHER, "AuthorizationFailed", "denied", 403, None, AT
    )
    f = judge(nsg(subnets=["snet-web"]), errors=[err])
    assert f.status == Status.ERROR and "AuthorizationFailed" in f.reason_en
    # An error in another subscription does not excuse this one.
    elsewhere = CollectionError(
        FactKind.FLOW_LOG, "network.flow_logs", "/subscriptions/other", "Throttled", "x", 429, None, AT
    )
    assert judge(nsg(subnets=["snet-web"]), errors=[elsewhere]).status == Status.FAIL
