"""Checks judged one subscription at a time whose resources reach records in another subscription (a Bastion host
in a peered hub, a route table or flow log taken by id, the peer's subscription document): judged per
subscription, each says what it says judged over the whole run, because it reads those kinds `across`."""

import json
from collections import Counter
from dataclasses import replace

from controls.checks import CHECKS_BY_ID
from controls.engine import evaluate
from controls.model import Evidence, FactKind, FactSet, Finding, Status, Thresholds
from tests.controls.test_check_perimeter import (
    DEV,
    PROD,
    SUBS,
    bastion,
    forbidden,
    nic,
    rid,
    route_table,
    vm,
    vnet,
    vnet_id,
)


def to_dev(e: Evidence) -> Evidence:
    """`e` moved from the production subscription to the development one (its id, document and scope)."""

    def move(text: str) -> str:
        return text.replace(f"/subscriptions/{PROD}", f"/subscriptions/{DEV}")

    return replace(
        e, scope=move(e.scope), resource_id=move(e.resource_id), content=json.loads(move(json.dumps(e.content)))
    )


def both_ways(check_id: str, *evidence: Evidence, errors=(), thresholds=None) -> list[Finding]:
    """The check's findings judged per subscription, after asserting they are those judged over the whole run."""
    check = CHECKS_BY_ID[check_id]
    assert check.per_subscription and check.across

    def judged(c) -> list[Finding]:
        facts = FactSet(list(evidence), list(errors))
        return evaluate(facts, [], thresholds or Thresholds(), [c]).findings

    split = judged(check)
    assert Counter(split) == Counter(judged(replace(check, per_subscription=False, across=())))
    return split


def test_a_vm_in_a_spoke_subscription_reaches_the_bastion_of_a_hub_in_another() -> None:
    hub = vnet("vnet-hub", [("AzureBastionSubnet",)])  # production subscription
    spoke = vnet("vnet-spoke", [("snet-app", "nsg")], sub=DEV, peers=(vnet_id("vnet-hub"),))
    machine = vm("vm-app", sub=DEV)
    evidence = [hub, bastion("bas-hub", "vnet-hub"), spoke, machine,
                to_dev(nic("nic-app", machine, f"{spoke.resource_id}/subnets/snet-app"))]  # fmt: skip
    [f] = both_ways("management-access-via-bastion-or-jit", *evidence)
    assert f.resource_id == machine.resource_id and f.status == Status.PASS
    assert "reachable through Azure Bastion bas-hub" in f.reason_en
    # Given only its own subscription's Bastion hosts, the spoke's VM would fail.
    check = replace(CHECKS_BY_ID["management-access-via-bastion-or-jit"], across=())
    [alone] = evaluate(FactSet(evidence), [], Thresholds(), [check]).findings
    assert alone.status == Status.FAIL


def test_a_route_table_in_another_subscription_decides_and_its_failed_listing_is_named() -> None:
    everywhere = replace(Thresholds(), egress_firewall_scope="all")
    # The subnet's route table (rid: the production subscription) sends 0.0.0.0/0 to the firewall.
    net = vnet("vnet-dev", [("snet-app", "nsg", "rt-fw")], sub=DEV)
    table = route_table("rt-fw", ("0.0.0.0/0", "VirtualAppliance"))
    [f] = both_ways("egress-through-firewall", net, table, thresholds=everywhere)
    assert f.status == Status.PASS and "snet-app → " in f.reason_en
    # The production subscription's route tables could not be listed: the error names why.
    found = both_ways("egress-through-firewall", net, errors=[forbidden("route_table")], thresholds=everywhere)
    [g] = [f for f in found if f.resource_id == net.resource_id]
    assert g.status == Status.ERROR and "could not be listed: AuthorizationFailed" in g.reason_en


def test_a_production_vnet_peered_into_a_development_subscription_fails() -> None:
    prod = vnet("vnet-prod", [("snet-app", "nsg")], peers=(vnet_id("vnet-dev", DEV),))
    dev = vnet("vnet-dev", [("snet-app", "nsg")], sub=DEV)
    [f] = both_ways("dev-prod-network-isolated", *SUBS, prod, dev)
    assert f.resource_id == prod.resource_id and f.status == Status.FAIL
    assert "non-production subscription sub-dev" in f.reason_en


def test_an_nsg_recorded_by_a_flow_log_of_another_subscriptions_network_watcher_passes() -> None:
    nsg_id = rid("Microsoft.Network/networkSecurityGroups/nsg-app", DEV)
    nsg = Evidence(FactKind.NSG, "test", f"/subscriptions/{DEV}", nsg_id, "2024-05-01", None, SUBS[0].collected_at,
                   {"id": nsg_id, "name": "nsg-app", "properties": {"securityRules": []}})  # fmt: skip
    log_id = rid("Microsoft.Network/networkWatchers/NetworkWatcher_japaneast/flowLogs/fl-app", rg="NetworkWatcherRG")
    log = Evidence(FactKind.FLOW_LOG, "test", f"/subscriptions/{PROD}", log_id, "2024-05-01", None,
                   SUBS[0].collected_at, {"id": log_id, "name": "fl-app",
                                          "properties": {"targetResourceId": nsg_id, "enabled": True}})  # fmt: skip
    [f] = both_ways("nsg-flow-logs-enabled", nsg, log)
    assert f.resource_id == nsg_id and f.status == Status.PASS and "fl-app" in f.reason_en


def test_backups_are_matched_in_every_vault_and_a_failed_vault_listing_anywhere_leaves_a_vm_undecided() -> None:
    from tests.controls.test_check_backup import item, vault
    from tests.controls.test_check_backup import vm as backup_vm

    everywhere = replace(Thresholds(), backup_vm_scope="all")
    protected, unprotected = backup_vm("vm-prod"), backup_vm("vm-dev", DEV)
    evidence = [protected, unprotected, vault(), item("vm-prod")]
    found = {f.resource_id: f.status for f in both_ways("vm-backup-protected", *evidence, thresholds=everywhere)}
    assert found == {protected.resource_id: Status.PASS, unprotected.resource_id: Status.FAIL}
    # The production subscription's vaults could not be listed: the development VM is not shown unprotected.
    failed = both_ways("vm-backup-protected", *evidence, errors=[forbidden("recovery_vault")], thresholds=everywhere)
    assert {f.resource_id: f.status for f in failed}[unprotected.resource_id] == Status.ERROR
    [recent] = both_ways("vm-backup-recent", *evidence, thresholds=everywhere)
    assert recent.resource_id == protected.resource_id and recent.status == Status.PASS
