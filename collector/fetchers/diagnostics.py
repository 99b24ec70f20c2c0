"""Diagnostic settings of every resource whose logs a check judges.

Settings are extension resources, so they are read per resource: the resource list comes from
resources.list, filtered to the types the run's checks judge with diagnostic settings (the plan's
`wanted_types`), and the id read for each resource is where Azure keeps that type's log settings
(for storage the blob service, for SQL servers the master database).

resources.list returns nested tracked resources as well as top-level ones: deployment slots
(`Microsoft.Web/sites/slots`, named `site/slot`) and SQL databases are in it, so slots need no listing of
their own here (sources in sandbox/arm.py, NESTED_TRACKED_TYPES). The listing is the one the inventory
stores (made once per run); the reads, one per resource, go to the run's call pool.
"""

from collections.abc import Iterable

from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from collector.fetchers.base import AS_PLANNED, FetchContext, Fetcher, list_raw
from collector.fetchers.inventory import RESOURCES
from controls.log_targets import log_settings_target
from controls.model import FactKind


def monitored_targets(resources: list[dict], types: Iterable[str]) -> list[str]:
    """The ids whose diagnostic settings are read, one per resource of one of `types`."""
    wanted = {t.lower() for t in types}
    return [
        log_settings_target(res["id"], str(res.get("type", "")))
        for res in resources
        if str(res.get("type", "")).lower() in wanted
    ]


def _run(ctx: FetchContext) -> None:
    types = ctx.wanted_types.get(FactKind.DIAGNOSTIC_SETTINGS, ())
    if not types:
        return
    resources_client = ctx.clients.arm(ResourceManagementClient, ctx.subscription_id)
    monitor = ctx.clients.arm(MonitorManagementClient, ctx.subscription_id)
    resources = [doc for doc, _ in ctx.listing(RESOURCES, resources_client.resources.list).documents()]
    # Taken once: the multi-API client builds the operation group (and its models' table) on every access.
    settings_ops = monitor.diagnostic_settings

    def read(target: str) -> None:
        try:
            capture = list_raw(settings_ops.list, target)
        except Exception as exc:  # recorded against this resource; the others go on
            ctx.sink.error(FactKind.DIAGNOSTIC_SETTINGS, ctx.fetcher.name, target, exc)
            return
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

    ctx.each(monitored_targets(resources, types), read)


FETCHER = Fetcher(
    "monitor.diagnostic_settings",
    {FactKind.DIAGNOSTIC_SETTINGS: (AS_PLANNED,)},
    tenant_wide=False,
    run=_run,
    listings=(RESOURCES,),
)
