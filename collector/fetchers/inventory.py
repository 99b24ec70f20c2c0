"""Every top-level resource of a subscription (resources.list): the account of what exists."""

from azure.mgmt.resource.resources import ResourceManagementClient

from collector.fetchers.base import ANY_TYPE, FetchContext, Fetcher
from controls.model import FactKind

# The run's listing of a subscription's resources, made once (diagnostic settings read the same pages).
RESOURCES = "resources"


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(ResourceManagementClient, ctx.subscription_id)
    ctx.record(FactKind.RESOURCE, ctx.listing(RESOURCES, client.resources.list))


FETCHER = Fetcher(
    "resource.inventory", {FactKind.RESOURCE: (ANY_TYPE,)}, tenant_wide=False, run=_run, listings=(RESOURCES,)
)
