"""Diagnostic settings of every resource whose logs the guideline needs kept (No 128).

Settings are extension resources, so they are read per resource: the resource list comes from
resources.list, and for storage accounts the blob service is read too, because that is where
storage read/write/delete logs are configured.
"""

from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from collector.fetchers.base import FetchContext, Fetcher, RawCapture
from controls.model import FactKind

# Resource types whose diagnostic settings are collected (lower case, as ARM types compare).
MONITORED_TYPES = (
    "microsoft.web/sites",
    "microsoft.sql/servers",
    "microsoft.keyvault/vaults",
    "microsoft.network/networksecuritygroups",
    "microsoft.storage/storageaccounts",
)


def monitored_targets(resources: list[dict]) -> list[str]:
    targets: list[str] = []
    for res in resources:
        rtype = str(res.get("type", "")).lower()
        if rtype not in MONITORED_TYPES:
            continue
        targets.append(res["id"])
        if rtype == "microsoft.storage/storageaccounts":
            targets.append(f"{res['id']}/blobServices/default")
    return targets


def _run(ctx: FetchContext) -> None:
    resources_client = ctx.clients.arm(ResourceManagementClient, ctx.subscription_id)
    inventory = RawCapture()
    for _ in resources_client.resources.list(raw_response_hook=inventory):
        pass
    monitor = ctx.clients.arm(MonitorManagementClient, ctx.subscription_id)
    for target in monitored_targets([doc for doc, _ in inventory.documents()]):
        capture = RawCapture()
        try:
            for _ in monitor.diagnostic_settings.list(target, raw_response_hook=capture):
                pass
        except Exception as exc:  # recorded against this resource; the others go on
            ctx.sink.error(FactKind.DIAGNOSTIC_SETTINGS, ctx.fetcher.name, target, exc)
            continue
        # One record per monitored resource, even with no settings: "none configured" is a fact.
        settings = [doc for doc, _ in capture.documents()]
        page = capture.pages[-1] if capture.pages else None
        ctx.record_document(
            FactKind.DIAGNOSTIC_SETTINGS,
            {"value": settings},
            resource_id=target,
            api_version=page.api_version if page else "",
            request_id=page.request_id if page else None,
        )


FETCHER = Fetcher("monitor.diagnostic_settings", (FactKind.DIAGNOSTIC_SETTINGS,), tenant_wide=False, run=_run)
