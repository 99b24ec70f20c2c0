"""The real azure-mgmt-* clients against the sandbox serving the example estate."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import RunCommandInput
from azure.mgmt.loganalytics import LogAnalyticsManagementClient
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient
from azure.mgmt.sql import SqlManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.web import WebSiteManagementClient

from sandbox.server import Sandbox
from tests.sandbox.sdk import client_for


def rg_id(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def test_subscriptions_and_tenants(
    credential: ClientSecretCredential, client_kwargs: dict[str, Any], info: Any
) -> None:
    client = SubscriptionClient(credential, **client_kwargs)
    subs = list(client.subscriptions.list())
    assert [s.subscription_id for s in subs] == info.subscriptions
    assert subs[0].display_name == "EMR-Production (電子カルテ 本番)"
    assert subs[0].tenant_id == info.tenant_id
    assert [t.tenant_id for t in client.tenants.list()] == [info.tenant_id]


def test_inventory_lists_tracked_resources_over_pages(
    sb: Sandbox, credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str
) -> None:
    mark = sb.requests.mark()
    client = ResourceManagementClient(credential, prod, **client_kwargs)
    resources = list(client.resources.list())
    names = {r.name for r in resources}
    assert {"app-emr-web-prod", "vm-emr-jump-prod", "nsg-emr-prod-mgmt", "NetworkWatcher_japanwest"} <= names
    # Nested tracked resources are inventory too, named `parent/child` as ARM names them: deployment slots and
    # SQL databases (master included).
    nested: dict[str, set[str]] = {}
    for r in (r for r in resources if r.type.count("/") > 1):
        nested.setdefault(r.type.lower(), set()).add(r.name)
    assert nested == {
        "microsoft.web/sites/slots": {"app-emr-web-prod/staging"},
        "microsoft.sql/servers/databases": {
            "sql-emr-prod-je/master",
            "sql-emr-prod-je/sqldb-emr",
            "sql-emr-prod-jw/master",
            "sql-emr-prod-jw/sqldb-emr",
        },
    }
    # Proxy children (config/web, blob services, auditing settings), extension resources (diagnostic
    # settings, role assignments) and children embedded in their parent (subnets) are not.
    types = {r.type.lower() for r in resources}
    assert not types & {
        "microsoft.web/sites/config",
        "microsoft.web/sites/slots/config",
        "microsoft.storage/storageaccounts/blobservices",
        "microsoft.sql/servers/auditingsettings",
        "microsoft.insights/diagnosticsettings",
        "microsoft.authorization/roleassignments",
        "microsoft.network/virtualnetworks/subnets",
    }
    assert all(r.properties is None for r in resources)  # ARM's inventory leaves properties out
    pages = [r for r in sb.requests.since(mark) if r.path.endswith(f"{prod}/resources")]
    assert len(pages) == -(-len(resources) // 2)  # page size 2: every page fetched once
    assert all("api-version=" in r.query for r in pages)
    groups = {g.name for g in client.resource_groups.list()}
    assert groups == {
        "rg-emr-prod-app",
        "rg-emr-prod-data",
        "rg-emr-prod-net",
        "rg-emr-prod-ops",
        "rg-emr-prod-dr",
        "NetworkWatcherRG",
    }
    in_group = {r.name for r in client.resources.list_by_resource_group("rg-emr-prod-app")}
    assert in_group == {
        "asp-emr-prod-je",
        "app-emr-web-prod",
        "app-emr-web-prod/staging",
        "app-emr-api-prod",
        "karte-aozora-medical-example",  # App Service certificates
        "api-karte-aozora-medical-example",
        "cremrprodje",  # the production container registry
    }
    # How Azure PowerShell finds a slot (Websites ResourceClient.GetAppResource): type and `site/slot` name.
    query = "resourceType eq 'Microsoft.Web/sites/slots' and name eq 'app-emr-web-prod/staging'"
    slots = list(client.resources.list(filter=query))
    assert [s.id for s in slots] == [
        f"/subscriptions/{prod}/resourceGroups/rg-emr-prod-app/providers/Microsoft.Web/sites/app-emr-web-prod/slots/staging"
    ]


def test_network_security_groups(
    sb: Sandbox, credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str
) -> None:
    mark = sb.requests.mark()
    net = NetworkManagementClient(credential, prod, **client_kwargs)
    nsgs = {n.name: n for n in net.network_security_groups.list_all()}
    assert set(nsgs) == {"nsg-emr-prod-app", "nsg-emr-prod-data", "nsg-emr-prod-mgmt", "nsg-emr-prod-jw-app"}
    # The network client follows nextLink verbatim: it only works because the link repeats the api-version.
    follow_ups = [r for r in sb.requests.since(mark) if "skiptoken" in r.query]
    assert follow_ups and all(re.search(r"api-version=\d{4}-\d{2}-\d{2}", r.query) for r in follow_ups)

    mgmt = net.network_security_groups.get("rg-emr-prod-net", "nsg-emr-prod-mgmt")
    rdp = mgmt.security_rules[0]
    assert (rdp.destination_port_range, rdp.source_address_prefix, rdp.access) == ("3389", "*", "Allow")
    assert [r.name for r in mgmt.default_security_rules] == [
        "AllowVnetInBound",
        "AllowAzureLoadBalancerInBound",
        "DenyAllInBound",
        "AllowVnetOutBound",
        "AllowInternetOutBound",
        "DenyAllOutBound",
    ]
    assert mgmt.subnets[0].id.endswith("/subnets/snet-mgmt")
    assert mgmt.network_interfaces[0].id.endswith("/nic-vm-emr-jump-prod")
    plural = nsgs["nsg-emr-prod-jw-app"].security_rules[0]
    assert plural.destination_port_ranges == ["443", "8443"] and plural.destination_port_range is None
    assert plural.source_address_prefixes == ["203.0.113.0/27", "198.51.100.64/27"]
    # Rules embedded in the NSG are also addressable on their own, as in ARM.
    assert [r.name for r in net.security_rules.list("rg-emr-prod-net", "nsg-emr-prod-data")] == [
        "AllowSqlFromApp",
        "AllowHl7FromApp",
        "AllowSshFromJumpHost",
        "DenyVnetInbound",
    ]
    assert len(list(net.default_security_rules.list("rg-emr-prod-net", "nsg-emr-prod-app"))) == 6
    assert net.subnets.get("rg-emr-prod-net", "vnet-emr-prod-je", "snet-app").address_prefix == "10.10.1.0/24"


def test_network_watchers_and_flow_logs(
    credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str, dev: str
) -> None:
    net = NetworkManagementClient(credential, prod, **client_kwargs)
    assert {w.name for w in net.network_watchers.list_all()} == {"NetworkWatcher_japaneast", "NetworkWatcher_japanwest"}
    east = {f.name: f for f in net.flow_logs.list("NetworkWatcherRG", "NetworkWatcher_japaneast")}
    assert {n: f.retention_policy.days for n, f in east.items()} == {
        "fl-nsg-emr-prod-app": 365,
        "fl-nsg-emr-prod-data": 90,
        "fl-nsg-emr-prod-mgmt": 180,
    }
    (west,) = net.flow_logs.list("NetworkWatcherRG", "NetworkWatcher_japanwest")
    assert west.retention_policy.days == 30 and west.enabled
    assert west.target_resource_id.endswith("/virtualNetworks/vnet-emr-prod-jw")
    dev_net = NetworkManagementClient(credential, dev, **client_kwargs)
    assert all(
        f.retention_policy.days >= 90 for f in dev_net.flow_logs.list("NetworkWatcherRG", "NetworkWatcher_japaneast")
    )


def test_web_apps_and_their_configuration(
    credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str, dev: str
) -> None:
    web = WebSiteManagementClient(credential, prod, **client_kwargs)
    sites = {s.name: s for s in web.web_apps.list()}
    assert set(sites) == {"app-emr-web-prod", "app-emr-api-prod"}
    assert all(s.https_only and s.client_cert_enabled and s.client_cert_mode == "Required" for s in sites.values())
    config = web.web_apps.get_configuration("rg-emr-prod-app", "app-emr-web-prod")
    assert (config.min_tls_version, config.ftps_state, config.scm_min_tls_version) == ("1.2", "Disabled", "1.2")
    dev_site = WebSiteManagementClient(credential, dev, **client_kwargs).web_apps.get("rg-emr-dev", "app-emr-web-dev")
    assert dev_site.https_only is True and dev_site.client_cert_enabled is True


def test_storage_and_sql(
    credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str, dev: str
) -> None:
    prod_tls = {
        a.name: a.minimum_tls_version
        for a in StorageManagementClient(credential, prod, **client_kwargs).storage_accounts.list()
    }
    assert prod_tls == {"stemrlogsprodje": "TLS1_2", "stemrlogsprodjw": "TLS1_2"}
    (dev_account,) = StorageManagementClient(credential, dev, **client_kwargs).storage_accounts.list()
    assert (dev_account.name, dev_account.minimum_tls_version) == ("stemrdevje", "TLS1_0")
    assert dev_account.enable_https_traffic_only is False
    sql = SqlManagementClient(credential, prod, **client_kwargs)
    servers = {s.name: s for s in sql.servers.list()}
    assert set(servers) == {"sql-emr-prod-je", "sql-emr-prod-jw"}
    assert {s.minimal_tls_version for s in servers.values()} == {"1.2"}
    assert [d.name for d in sql.databases.list_by_server("rg-emr-prod-data", "sql-emr-prod-je")] == [
        "master",
        "sqldb-emr",
    ]


def test_diagnostic_settings(
    credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str, dev: str
) -> None:
    monitor = MonitorManagementClient(credential, prod, **client_kwargs)
    site = f"{rg_id(prod, 'rg-emr-prod-app')}/providers/Microsoft.Web/sites/app-emr-web-prod"
    (setting,) = monitor.diagnostic_settings.list(site)
    assert setting.workspace_id.endswith("/workspaces/log-emr-prod-je")
    assert "AppServiceAuditLogs" in {log.category for log in setting.logs}
    account = f"{rg_id(prod, 'rg-emr-prod-data')}/providers/Microsoft.Storage/storageAccounts/stemrlogsprodje"
    blob = f"{account}/blobServices/default"
    assert [s.name for s in monitor.diagnostic_settings.list(blob)] == ["send-to-law"]
    # Server auditing to Log Analytics is a diagnostic setting on the master database, as Azure does it.
    master = f"{rg_id(prod, 'rg-emr-prod-data')}/providers/Microsoft.Sql/servers/sql-emr-prod-je/databases/master"
    (audit,) = monitor.diagnostic_settings.list(master)
    assert audit.name.startswith("SQLSecurityAuditEvents_") and audit.logs[0].category == "SQLSecurityAuditEvents"
    dev_monitor = MonitorManagementClient(credential, dev, **client_kwargs)
    vault = f"{rg_id(dev, 'rg-emr-dev')}/providers/Microsoft.KeyVault/vaults/kv-emr-dev-je"
    assert list(dev_monitor.diagnostic_settings.list(vault)) == []  # exists, but has none
    with pytest.raises(ResourceNotFoundError):
        list(dev_monitor.diagnostic_settings.list(vault + "-missing"))


def test_diagnostic_settings_are_never_split_across_pages(
    credential: ClientSecretCredential, client_kwargs: dict[str, Any]
) -> None:
    # monitor 6.0.2's pager never follows nextLink for this collection; a paged answer would lose settings.
    tenant, sub = str(uuid.uuid4()), str(uuid.uuid4())
    rid = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
    settings = [
        {
            "id": f"{rid}/providers/Microsoft.Insights/diagnosticSettings/s{i}",
            "name": f"s{i}",
            "type": "Microsoft.Insights/diagnosticSettings",
            "properties": {"logs": []},
        }
        for i in range(5)
    ]
    estate = {
        "tenant": {"id": tenant},
        "subscriptions": [{"subscriptionId": sub}],
        "resources": [
            {"id": rid, "name": "kv", "type": "Microsoft.KeyVault/vaults", "location": "japaneast"},
            *settings,
        ],
    }
    with Sandbox.from_dict(estate, page_size=2) as small:
        monitor = client_for(small.info, MonitorManagementClient, sub)
        assert [s.name for s in monitor.diagnostic_settings.list(rid)] == ["s0", "s1", "s2", "s3", "s4"]


def test_role_assignments_and_definitions(
    credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str, emr_estate: Any
) -> None:
    auth = AuthorizationManagementClient(credential, prod, **client_kwargs)
    assignments = list(auth.role_assignments.list_for_subscription())
    at_sub = [a for a in assignments if a.scope == f"/subscriptions/{prod}"]
    assert len(at_sub) == 6 and len(assignments) == 9  # plus three at resource-group scope
    listed = list(auth.role_definitions.list(f"/subscriptions/{prod}"))
    definitions = {d.id.rsplit("/", 1)[1]: d.role_name for d in listed}
    assert definitions == {
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
        "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
        "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
        "50f8950f-4382-4818-83e9-7e704b7a5f33": "EMR Operator",
        "0b2b681a-4255-4095-8139-9c36ba105b4d": "EMR VM Operator",
    }
    # Custom roles come back with their permissions, as the role checks need them.
    custom = {d.role_name: d for d in listed if d.role_type == "CustomRole"}
    assert set(custom) == {"EMR Operator", "EMR VM Operator"}
    assert custom["EMR Operator"].permissions[0].actions == ["*"]
    builtins = ("Owner", "Contributor", "User Access Administrator")
    builtin_privileged = {k for k, v in definitions.items() if v in builtins}
    assert sum(a.role_definition_id.rsplit("/", 1)[1] in builtin_privileged for a in at_sub) == 3
    directory_ids = {
        str(o["id"]) for key in ("users", "groups", "servicePrincipals") for o in emr_estate.directory.collections[key]
    }
    orphans = [a for a in at_sub if a.principal_id not in directory_ids]
    assert len(orphans) == 1 and orphans[0].role_definition_id.endswith("8e3af657-a8ff-443c-a75c-2fe8c4bcb635")
    only_at_sub = list(auth.role_assignments.list_for_subscription(filter="atScope()"))
    assert len(only_at_sub) == 6


def test_workspaces(credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str, dev: str) -> None:
    days = {}
    for sub in (prod, dev):
        for w in LogAnalyticsManagementClient(credential, sub, **client_kwargs).workspaces.list():
            days[w.name] = w.retention_in_days
    assert days == {"log-emr-prod-je": 730, "log-emr-dev-je": 365}


def test_run_command_long_running_operation(
    sb: Sandbox, credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str, dev: str
) -> None:
    compute = ComputeManagementClient(credential, prod, **client_kwargs)
    assert {v.name for v in compute.virtual_machines.list_all()} == {"vm-emr-jump-prod", "vm-emr-batch-prod"}
    mark = sb.requests.mark()
    win = compute.virtual_machines.begin_run_command(
        "rg-emr-prod-ops",
        "vm-emr-jump-prod",
        RunCommandInput(command_id="RunPowerShellScript", script=["w32tm /query /status"]),
        polling_interval=0,
    ).result()
    assert win.value[0].code == "ComponentStatus/StdOut/succeeded"
    assert "Source: time.google.com,0x9" in win.value[0].message
    statuses = [r.status for r in sb.requests.since(mark)]
    assert statuses[0] == 202 and statuses[-1] == 200 and len(statuses) >= 3  # POST, poll(s), final GET
    linux = compute.virtual_machines.begin_run_command(
        "rg-emr-prod-ops",
        "vm-emr-batch-prod",
        RunCommandInput(command_id="RunShellScript", script=["chronyc tracking"]),
        polling_interval=0,
    ).result()
    assert "Reference ID    : D8EF2300 (time1.google.com)" in linux.value[0].message
    assert linux.value[0].message.startswith("Enable succeeded: \n[stdout]\n")
    undeclared = (
        ComputeManagementClient(credential, dev, **client_kwargs)
        .virtual_machines.begin_run_command(
            "rg-emr-dev",
            "vm-emr-dev-build",
            RunCommandInput(command_id="RunShellScript", script=["uptime"]),
            polling_interval=0,
        )
        .result()
    )
    assert undeclared.value[0].message == "Enable succeeded: \n[stdout]\n\n[stderr]\n"
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.begin_run_command(
            "rg-emr-prod-ops", "vm-nope", RunCommandInput(command_id="RunShellScript"), polling_interval=0
        ).result()
    with pytest.raises(HttpResponseError) as wrong_os:
        compute.virtual_machines.begin_run_command(
            "rg-emr-prod-ops", "vm-emr-jump-prod", RunCommandInput(command_id="RunShellScript"), polling_interval=0
        ).result()
    assert wrong_os.value.status_code == 409


def test_not_found_errors(credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str) -> None:
    web = WebSiteManagementClient(credential, prod, **client_kwargs)
    with pytest.raises(ResourceNotFoundError) as missing:
        web.web_apps.get("rg-emr-prod-app", "app-does-not-exist")
    assert missing.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as no_group:
        web.web_apps.get("rg-nope", "app-emr-web-prod")
    assert no_group.value.error.code == "ResourceGroupNotFound"


def test_response_headers(credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str) -> None:
    seen: list[dict[str, str]] = []
    client = ResourceManagementClient(
        credential, prod, raw_response_hook=lambda r: seen.append(dict(r.http_response.headers)), **client_kwargs
    )
    client.resource_groups.get("rg-emr-prod-app")
    client.resource_groups.get("rg-emr-prod-app")
    ids_ = [h["x-ms-request-id"] for h in seen]
    assert len(set(ids_)) == 2 and all(uuid.UUID(i) for i in ids_)
    assert all(int(h["x-ms-ratelimit-remaining-subscription-reads"]) >= 0 for h in seen)
