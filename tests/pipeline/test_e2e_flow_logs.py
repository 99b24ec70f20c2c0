"""NSG flow logs (No 96, 97), collected through the sandbox by the real SDK.

Network watchers live in NetworkWatcherRG; their `flowLogs` children target an NSG or a VNet, as
`Flow Logs - List` returns them. NSGs reach a VNet flow log through their `subnets` references.
"""

from __future__ import annotations

from typing import Any

from controls.model import Status
from tests.estates import PROD, estate, rid
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


HTTPS = rule("AllowHttpsFromInternet", 100, ports="443")


def flow_estate(cases: dict[str, dict[str, Any]], *extra: dict[str, Any]) -> dict[str, Any]:
    """cases: NSG name -> {"log": kwargs of its own NSG flow log (absent: none), "subnets": [subnet ids]}."""
    docs: list[dict[str, Any]] = [watcher(), storage_account(), *extra]
    for name, case in cases.items():
        docs.append(nsg(name, HTTPS, subnets=tuple(case.get("subnets", ()))))
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
