"""Diagnostic settings of every resource whose logs the guideline needs kept (No 128).

Settings are extension resources, so they are read per resource: the resource list comes from
resources.list, and the id read for each resource is the one the check judges (for storage the blob
service, for SQL servers the master database: that is where their logs are configured).
"""

from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from collector.fetchers.base import FetchContext, Fetcher, list_raw
from controls.log_targets import MONITORED_TYPES, log_settings_target
from controls.model import FactKind


def monitored_targets(resources: list[dict]) -> list[str]:
    """The ids whose diagnostic settings the check judges, one per monitored resource."""
    return [
        log_settings_target(res["id"], str(res.get("type", "")))
        for res in resources
        if str(res.get("type", "")).lower() in MONITORED_TYPES
    ]


def _run(ctx: FetchContext) -> None:
    resources_client = ctx.clients.arm(ResourceManagementClient, ctx.subscription_id)
    monitor = ctx.clients.arm(MonitorManagementClient, ctx.subscription_id)
    for target in monitored_targets([doc for doc, _ in list_raw(resources_client.resources.list).documents()]):
        try:
            capture = list_raw(monitor.diagnostic_settings.list, target)
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
