"""Changing a serving sandbox's estate, from this process and from another one: the real SDK sees each change
on its next call."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from azure.mgmt.network import NetworkManagementClient

from collector.pipeline import checks_for_kinds, collect
from collector.plan import plan_for
from controls.catalog import load_catalog
from controls.engine import evaluate
from controls.model import Status
from sandbox.admin import SandboxAdmin, SandboxAdminError
from sandbox.estate import Estate, EstateError, load_estate
from sandbox.serve import main as sandbox_main
from sandbox.server import Sandbox
from tests.pipeline.conftest import sandbox_settings
from tests.sandbox.sdk import client_for

ESTATE = Path(__file__).resolve().parents[2] / "sandbox" / "estates" / "hospital-emr.yaml"
PROD = "a8233bec-16ce-49d8-af36-5decabf6c438"
RG = "rg-emr-prod-net"
NSG = f"/subscriptions/{PROD}/resourceGroups/{RG}/providers/Microsoft.Network/networkSecurityGroups/nsg-emr-prod-app"
SSH_RULE = f"{NSG}/securityRules/AllowSshFromInternet"


def ssh_rule(name: str = "AllowSshFromInternet", priority: int = 150) -> dict:
    return {
        "name": name,
        "id": f"{NSG}/securityRules/{name}",
        "type": "Microsoft.Network/networkSecurityGroups/securityRules",
        "properties": {
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": "22",
            "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "*",
            "access": "Allow",
            "priority": priority,
            "direction": "Inbound",
        },
    }


@pytest.fixture(scope="module")
def emr() -> Estate:
    return load_estate(ESTATE)


@pytest.fixture
def sb(emr):
    with Sandbox(emr) as sandbox:  # its own: these tests change what it serves (an Estate itself never changes)
        yield sandbox


def rules(sb: Sandbox) -> set[str]:
    net = client_for(sb.info, NetworkManagementClient, PROD)
    return {r.name for r in net.network_security_groups.get(RG, "nsg-emr-prod-app").security_rules}


def test_an_nsg_rule_put_over_http_is_seen_by_the_real_sdk_on_its_next_call(sb):
    assert rules(sb) == {"AllowHttpsFromInternet", "AllowSqlToDataSubnet"}
    admin = SandboxAdmin.from_info(sb.info)
    answer = admin.put_resource(ssh_rule())
    assert answer["put"] == SSH_RULE
    # The rule is in its NSG's document (as ARM embeds it) and addressable on its own.
    assert rules(sb) == {"AllowHttpsFromInternet", "AllowSqlToDataSubnet", "AllowSshFromInternet"}
    net = client_for(sb.info, NetworkManagementClient, PROD)
    assert net.security_rules.get(RG, "nsg-emr-prod-app", "AllowSshFromInternet").destination_port_range == "22"
    # Replacing it keeps one rule of that name; deleting it takes it out of the NSG again.
    admin.put_resource({**ssh_rule(), "properties": {**ssh_rule()["properties"], "access": "Deny"}})
    assert net.security_rules.get(RG, "nsg-emr-prod-app", "AllowSshFromInternet").access == "Deny"
    assert len([r for r in sb.estate.raw["resources"] if r["id"] == SSH_RULE]) == 0  # embedded, not declared
    admin.delete_resource(SSH_RULE)
    assert rules(sb) == {"AllowHttpsFromInternet", "AllowSqlToDataSubnet"}
    assert [r.path for r in sb.requests if r.api == "admin"] == ["/_sandbox/resources"] * 3


def test_a_rule_opened_between_two_collections_turns_the_nsg_check_to_fail(sb):
    catalog = load_catalog()
    checks = checks_for_kinds(["network_security_group"])
    plan = plan_for(checks)
    settings = sandbox_settings(sb)

    def nsg_finding() -> Status:
        facts = collect(settings, plan=plan)
        result = evaluate(facts, catalog, settings.thresholds, plan.checks)
        (finding,) = [
            f
            for f in result.findings
            if f.check_id == "nsg-no-internet-management-ports" and f.resource_id.lower() == NSG.lower()
        ]
        return finding.status

    assert nsg_finding() == Status.PASS
    SandboxAdmin.from_info(sb.info).put_resource(ssh_rule())
    assert nsg_finding() == Status.FAIL


def test_admin_endpoints_need_the_sandboxs_admin_token(sb):
    for token in ("", "wrong", sb.issue_token("arm")):  # an ARM bearer token is not an admin token
        admin = SandboxAdmin(sb.info.base_url, token, sb.info.ca_bundle)
        with pytest.raises(SandboxAdminError, match="401"):
            admin.put_resource(ssh_rule())
    assert "AllowSshFromInternet" not in rules(sb)


def test_a_bad_document_is_refused_with_one_line_and_changes_nothing(sb):
    admin = SandboxAdmin.from_info(sb.info)
    before = sb.estate
    wrong_type = {**ssh_rule(), "type": "Microsoft.Network/networkSecurityGroups"}
    with pytest.raises(SandboxAdminError, match=r"400 .*type") as caught:
        admin.put_resource(wrong_type)
    assert "\n" not in str(caught.value)
    with pytest.raises(SandboxAdminError, match="404 no resource with id"):
        admin.delete_resource(f"{NSG}/securityRules/NoSuchRule")
    assert sb.estate is before


def test_the_whole_estate_can_be_replaced_but_not_its_tenant(sb):
    admin = SandboxAdmin.from_info(sb.info)
    raw = admin.estate()
    fewer = {
        **raw,
        "resources": [r for r in raw["resources"] if "networkSecurityGroups/nsg-emr-prod-app" not in r["id"]],
    }
    admin.set_estate(fewer)
    net = client_for(sb.info, NetworkManagementClient, PROD)
    assert "nsg-emr-prod-app" not in {n.name for n in net.network_security_groups.list_all()}
    other = {**raw, "tenant": {**raw["tenant"], "id": "00000000-0000-4000-8000-000000000001"}}
    with pytest.raises(SandboxAdminError, match="start a new sandbox"):
        admin.set_estate(other)
    with pytest.raises(EstateError, match="start a new sandbox"):
        sb.set_estate(other)


def test_concurrent_changes_are_not_lost(sb):
    names = [f"AllowSsh{n}" for n in range(8)]
    threads = [threading.Thread(target=sb.put_resource, args=(ssh_rule(n, 200 + i),)) for i, n in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(names) <= rules(sb)


def test_the_command_line_changes_a_running_sandbox(sb, tmp_path, capsys):
    info = tmp_path / "sb.json"
    info.write_text(json.dumps(sb.info.to_dict()))
    doc = tmp_path / "rule.json"
    doc.write_text(json.dumps([ssh_rule()]))
    assert sandbox_main(["put", "--info-file", str(info), str(doc)]) == 0
    assert capsys.readouterr().out.strip() == f"put {SSH_RULE}"
    assert "AllowSshFromInternet" in rules(sb)
    assert sandbox_main(["delete", "--info-file", str(info), SSH_RULE]) == 0
    assert "AllowSshFromInternet" not in rules(sb)
    assert sandbox_main(["delete", "--info-file", str(info), SSH_RULE]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shoko sandbox delete:") and "no resource with id" in err and "\n" not in err
    assert sandbox_main(["set-estate", "--info-file", str(info), str(ESTATE)]) == 0
    assert sandbox_main(["put", "--info-file", str(tmp_path / "missing.json"), str(doc)]) == 2
