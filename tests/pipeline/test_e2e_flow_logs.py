"""NSG flow logs (No 96, 97), collected through the sandbox by the real SDK.

Network watchers live in NetworkWatcherRG; their `flowLogs` children target an NSG or a VNet, as
`Flow Logs - List` returns them. NSGs reach a VNet flow log through their `subnets` references, and
through the NICs they are attached to: each NIC's `ipConfigurations[].properties.subnet.id` names its
subnet, whose VNet (or the subnet itself) a flow log may target.
"""

from __future__ import annotations

from typing import Any

from controls.model import Status
from tests.estates import PROD, activity_logged, estate, rid
from tests.pipeline.test_e2e_nsg import assert_finding, nsg, nsg_id, rule

CHECK = "nsg-flow-logs-enabled"
WATCHER = rid("Microsoft.Network/networkWatchers/NetworkWatcher_japaneast", PROD, "NetworkWatcherRG")
LOGS_ACCOUNT = rid("Microsoft.Storage/storageAccounts/stflowlogs")
VNET = rid("Microsoft.Network/virtualNetworks/vnet-karte")
BATCH_VNET = rid("Microsoft.Network/virtualNetworks/vnet-batch")


def subnet_id(name: str, vnet: str = VNET) -> str:
    return f"{vnet}/subnets/{name}"


def watcher() -> dict[str, Any]:
    return {
        "id": WATCHER,
        "name": "NetworkWatcher_japaneast",
        "type": "Microsoft.Network/networkWatchers",
        "location": "japaneast",
        "tags": {},
        "properties": {"provisioningState": "Succeeded"},
    }


def flow_log(name: str, target: str, *, enabled: bool = True, days: int = 90, policy: bool = True) -> dict[str, Any]:
    return {
        "id": f"{WATCHER}/flowLogs/{name}",
        "name": name,
        "type": "Microsoft.Network/networkWatchers/flowLogs",
        "location": "japaneast",
        "tags": {},
        "properties": {
            "provisioningState": "Succeeded",
            "targetResourceId": target,
            "storageId": LOGS_ACCOUNT,
            "enabled": enabled,
            "retentionPolicy": {"days": days, "enabled": policy},
            "format": {"type": "JSON", "version": 2},
        },
    }


def vnet(name: str, subnets: dict[str, str | None]) -> dict[str, Any]:
    """A VNet with subnets {name: associated NSG id or None}."""
    vid = rid(f"Microsoft.Network/virtualNetworks/{name}")
    embedded = []
    for i, (sname, nsg_ref) in enumerate(subnets.items(), start=1):
        props: dict[str, Any] = {"provisioningState": "Succeeded", "addressPrefix": f"10.10.{i}.0/24"}
        if nsg_ref:
            props["networkSecurityGroup"] = {"id": nsg_ref}
        embedded.append(
            {
                "name": sname,
                "id": subnet_id(sname, vid),
                "type": "Microsoft.Network/virtualNetworks/subnets",
                "properties": props,
            }
        )
    return {
        "id": vid,
        "name": name,
        "type": "Microsoft.Network/virtualNetworks",
        "location": "japaneast",
        "properties": {
            "provisioningState": "Succeeded",
            "addressSpace": {"addressPrefixes": ["10.10.0.0/16"]},
            "subnets": embedded,
        },
    }


def storage_account() -> dict[str, Any]:
    return {
        "id": LOGS_ACCOUNT,
        "name": "stflowlogs",
        "type": "Microsoft.Storage/storageAccounts",
        "location": "japaneast",
        "kind": "StorageV2",
        "sku": {"name": "Standard_LRS", "tier": "Standard"},
        "properties": {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": True},
    }


def nic_id(name: str) -> str:
    return rid(f"Microsoft.Network/networkInterfaces/{name}")


def nic(name: str, *subnets: str, nsg_ref: str | None = None) -> dict[str, Any]:
    """A NIC as `Network Interfaces - List All` returns it (shape of the REST spec example
    NetworkInterfaceListAll.json): one ipConfiguration per subnet, the NSG it is attached to."""
    nid = nic_id(name)
    configs = [
        {
            "name": f"ipconfig{i}",
            "id": f"{nid}/ipConfigurations/ipconfig{i}",
            "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
            "properties": {
                "provisioningState": "Succeeded",
                "privateIPAddress": f"10.10.{i}.4",
                "privateIPAllocationMethod": "Dynamic",
                "subnet": {"id": subnet},
                "primary": i == 1,
                "privateIPAddressVersion": "IPv4",
            },
        }
        for i, subnet in enumerate(subnets, start=1)
    ]
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "ipConfigurations": configs,
        "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
        "enableAcceleratedNetworking": True,
        "enableIPForwarding": False,
        "primary": True,
    }
    if nsg_ref:
        props["networkSecurityGroup"] = {"id": nsg_ref}
    return {"name": name, "id": nid, "location": "japaneast", "properties": props,
            "type": "Microsoft.Network/networkInterfaces"}  # fmt: skip


HTTPS = rule("AllowHttpsFromInternet", 100, ports="443")


def flow_estate(cases: dict[str, dict[str, Any]], *extra: dict[str, Any]) -> dict[str, Any]:
    """cases: NSG name -> {"log": kwargs of its own NSG flow log (absent: none), "subnets": [subnet ids],
    "nics": [NIC ids]}."""
    docs: list[dict[str, Any]] = [watcher(), storage_account(), *activity_logged(LOGS_ACCOUNT), *extra]
    for name, case in cases.items():
        docs.append(nsg(name, HTTPS, subnets=tuple(case.get("subnets", ())), nics=tuple(case.get("nics", ()))))
        if "log" in case:
            docs.append(flow_log(f"fl-{name}", nsg_id(name), **case["log"]))
    return estate(docs)


def _log_sha(judged: Any, name: str) -> str:
    (record,) = [e for e in judged.facts.evidence if e.resource_id.lower() == f"{WATCHER}/flowLogs/{name}".lower()]
    return record.sha256


def test_flow_logs_pass_and_fail_per_nsg(judge):
    cases: dict[str, dict[str, Any]] = {
        "nsg-direct-90": {"log": {"days": 90}},
        "nsg-forever": {"log": {"days": 0}},
        "nsg-policy-off": {"log": {"days": 7, "policy": False}},  # retention policy off: nothing is deleted
        "nsg-disabled": {"log": {"enabled": False, "days": 365}},
        "nsg-short": {"log": {"days": 30}},
        "nsg-none": {},
        "nsg-via-vnet": {"subnets": [subnet_id("snet-app"), subnet_id("snet-data")]},
        "nsg-uncovered-subnet": {"subnets": [subnet_id("snet-batch", BATCH_VNET)]},
        # One subnet covered by the VNet flow log, the other not: still not recorded.
        "nsg-half-covered": {"subnets": [subnet_id("snet-web"), subnet_id("snet-etl", BATCH_VNET)]},
    }
    judged = judge(
        flow_estate(
            cases,
            vnet(
                "vnet-karte",
                {
                    "snet-app": nsg_id("nsg-via-vnet"),
                    "snet-data": nsg_id("nsg-via-vnet"),
                    "snet-web": nsg_id("nsg-half-covered"),
                },
            ),
            # No flow log covers this VNet.
            vnet("vnet-batch", {"snet-batch": nsg_id("nsg-uncovered-subnet"), "snet-etl": nsg_id("nsg-half-covered")}),
            flow_log("fl-vnet-karte", VNET, days=365),
        )
    )

    assert set(judged.findings(CHECK)) == {nsg_id(n).lower() for n in cases}
    for name in ("nsg-direct-90", "nsg-forever", "nsg-policy-off"):
        f = assert_finding(judged, CHECK, nsg_id(name), Status.PASS, f"recorded by flow log fl-{name}")
        assert _log_sha(judged, f"fl-{name}") in f.evidence
    via = assert_finding(judged, CHECK, nsg_id("nsg-via-vnet"), Status.PASS, "fl-vnet-karte", "subnets/VNets/NICs")
    assert _log_sha(judged, "fl-vnet-karte") in via.evidence

    disabled = assert_finding(
        judged, CHECK, nsg_id("nsg-disabled"), Status.FAIL, "flow log fl-nsg-disabled enabled is false"
    )
    assert _log_sha(judged, "fl-nsg-disabled") in disabled.evidence
    short = assert_finding(judged, CHECK, nsg_id("nsg-short"), Status.FAIL, "retentionPolicy.days is 30", "90 or more")
    assert "30" in short.reason_ja and "90" in short.reason_ja
    assert_finding(judged, CHECK, nsg_id("nsg-none"), Status.FAIL, "associated with no subnet or NIC")
    assert_finding(judged, CHECK, nsg_id("nsg-uncovered-subnet"), Status.FAIL, "subnet snet-batch")
    half = assert_finding(judged, CHECK, nsg_id("nsg-half-covered"), Status.FAIL, "associated subnet snet-etl")
    assert "snet-web" not in half.reason_en
    # 97 (periodic review) is a person's claim; a missing flow log contradicts it.
    for number in (96, 97):
        assert judged.verdict(number) == Status.FAIL


def test_all_nsgs_recorded_pass_the_requirements(judge):
    judged = judge(
        flow_estate(
            {"nsg-direct": {"log": {"days": 180}}, "nsg-subnet": {"subnets": [subnet_id("snet-app")]}},
            vnet("vnet-karte", {"snet-app": nsg_id("nsg-subnet")}),
            flow_log("fl-vnet-karte", VNET, days=0),
        )
    )
    assert_finding(judged, CHECK, nsg_id("nsg-direct"), Status.PASS, "fl-nsg-direct")
    assert_finding(judged, CHECK, nsg_id("nsg-subnet"), Status.PASS, "fl-vnet-karte")
    assert judged.verdict(96) == Status.PARTIAL and judged.verdict(97) == Status.MANUAL


def test_retention_threshold_comes_from_config(judge):
    est = flow_estate({"nsg-short": {"log": {"days": 30}}, "nsg-week": {"log": {"days": 7}}})
    judged = judge(est, thresholds={"flow_log_retention_days": 30})
    assert_finding(judged, CHECK, nsg_id("nsg-short"), Status.PASS, "fl-nsg-short")
    assert_finding(judged, CHECK, nsg_id("nsg-week"), Status.FAIL, "retentionPolicy.days is 7", "30 or more")


def test_flow_log_listing_refused_is_an_error_not_a_fail(judge):
    est = flow_estate({"nsg-direct": {"log": {"days": 90}}})
    est["faults"] = [{"kind": "forbidden", "path": "*/networkWatchers/*/flowLogs"}]
    judged = judge(est)
    finding = judged.findings(CHECK)[nsg_id("nsg-direct").lower()]
    assert finding.status == Status.ERROR and "AuthorizationFailed" in finding.reason_en
    assert judged.verdict(96) == Status.ERROR


def _nic_estate(cases: dict[str, dict[str, Any]], *logs: dict[str, Any]) -> dict[str, Any]:
    """NSGs attached to NICs only (no subnet association): each NIC sits in a subnet of vnet-karte or
    vnet-batch, which carry no NSG of their own."""
    nics = [
        nic("nic-app", subnet_id("snet-app"), nsg_ref=nsg_id("nsg-nic-vnet")),
        nic("nic-batch", subnet_id("snet-batch", BATCH_VNET), nsg_ref=nsg_id("nsg-nic-subnet")),
        nic("nic-etl", subnet_id("snet-etl", BATCH_VNET), nsg_ref=nsg_id("nsg-nic-uncovered")),
        nic("nic-direct", subnet_id("snet-etl", BATCH_VNET), nsg_ref=nsg_id("nsg-nic-direct")),
    ]
    nets = [vnet("vnet-karte", {"snet-app": None}), vnet("vnet-batch", {"snet-batch": None, "snet-etl": None})]
    return flow_estate(cases, *nets, *nics, *logs)


def test_nic_attached_nsgs_are_covered_through_the_nics_subnet_or_vnet(judge):
    """Passing estate: a VNet flow log on the NIC's VNet, a subnet flow log on the NIC's subnet, or a
    flow log on the NIC itself records the traffic of an NSG attached to that NIC."""
    judged = judge(
        _nic_estate(
            {
                "nsg-nic-vnet": {"nics": [nic_id("nic-app")]},
                "nsg-nic-subnet": {"nics": [nic_id("nic-batch")]},
                "nsg-nic-direct": {"nics": [nic_id("nic-direct")]},
            },
            flow_log("fl-vnet-karte", VNET, days=365),
            flow_log("fl-snet-batch", subnet_id("snet-batch", BATCH_VNET), days=0),
            flow_log("fl-nic-direct", nic_id("nic-direct"), days=90),
        )
    )
    via_vnet = assert_finding(judged, CHECK, nsg_id("nsg-nic-vnet"), Status.PASS, "fl-vnet-karte")
    assert _log_sha(judged, "fl-vnet-karte") in via_vnet.evidence
    # The NIC document that led to the VNet is evidence of the verdict too.
    (nic_record,) = [e for e in judged.facts.of("network_interface") if e.resource_id == nic_id("nic-app")]
    assert nic_record.source == "network.interfaces" and nic_record.sha256 in via_vnet.evidence
    assert_finding(judged, CHECK, nsg_id("nsg-nic-subnet"), Status.PASS, "fl-snet-batch")
    assert_finding(judged, CHECK, nsg_id("nsg-nic-direct"), Status.PASS, "fl-nic-direct")
    assert judged.verdict(96) == Status.PARTIAL


def test_nic_attached_nsg_whose_nic_subnet_and_vnet_have_no_flow_log_fails(judge):
    """Failing estate: the NIC's subnet and VNet are not covered (a flow log on another VNet does not count)."""
    judged = judge(
        _nic_estate(
            {"nsg-nic-vnet": {"nics": [nic_id("nic-app")]}, "nsg-nic-uncovered": {"nics": [nic_id("nic-etl")]}},
            flow_log("fl-vnet-karte", VNET, days=365),
            flow_log("fl-snet-batch", subnet_id("snet-batch", BATCH_VNET), days=365),
        )
    )
    assert_finding(judged, CHECK, nsg_id("nsg-nic-vnet"), Status.PASS, "fl-vnet-karte")
    bad = assert_finding(judged, CHECK, nsg_id("nsg-nic-uncovered"), Status.FAIL, "NIC nic-etl")
    assert "fl-snet-batch" not in bad.reason_en
    assert judged.verdict(96) == Status.FAIL


def test_nic_whose_document_was_not_collected_makes_the_nsg_an_error(judge):
    """Without the NIC document its subnet is unknown: neither pass nor fail, an error naming the cause."""
    est = _nic_estate(
        {
            "nsg-nic-vnet": {"nics": [nic_id("nic-app")]},
            "nsg-direct": {"log": {"days": 90}},
            # Attached to a NIC ARM does not list (deleted, or the reference is stale): cannot be resolved.
            "nsg-nic-missing": {"nics": [nic_id("nic-gone")]},
        },
        flow_log("fl-vnet-karte", VNET, days=365),
    )
    judged = judge(est)
    gone = assert_finding(judged, CHECK, nsg_id("nsg-nic-missing"), Status.ERROR, "NIC nic-gone", "not collected")
    assert "収集されていません" in gone.reason_ja

    est["faults"] = [{"kind": "forbidden", "path": "*/providers/Microsoft.Network/networkInterfaces"}]
    judged = judge(est)
    locked = assert_finding(judged, CHECK, nsg_id("nsg-nic-vnet"), Status.ERROR, "NIC nic-app", "AuthorizationFailed")
    assert locked.status == Status.ERROR
    # An NSG with its own flow log does not depend on NIC documents.
    assert_finding(judged, CHECK, nsg_id("nsg-direct"), Status.PASS, "fl-nsg-direct")
    assert judged.verdict(96) == Status.ERROR
