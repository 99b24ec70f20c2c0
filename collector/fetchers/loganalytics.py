"""Log Analytics workspaces (retention)."""

from azure.mgmt.loganalytics import LogAnalyticsManagementClient

from collector.fetchers.base import FetchContext, Fetcher
from controls.model import FactKind


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(LogAnalyticsManagementClient, ctx.subscription_id)
    ctx.list_into(FactKind.LOG_ANALYTICS_WORKSPACE, client.workspaces.list)


FETCHER = Fetcher(
    "loganalytics.workspaces",
    {FactKind.LOG_ANALYTICS_WORKSPACE: ("microsoft.operationalinsights/workspaces",)},
    tenant_wide=False,
    run=_run,
)
