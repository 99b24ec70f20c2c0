"""Subscriptions the identity can see (tenant-wide): the scope of every other fetcher."""

from azure.mgmt.resource.subscriptions import SubscriptionClient

from collector.fetchers.base import FetchContext, Fetcher
from controls.model import FactKind


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(SubscriptionClient)
    ctx.list_into(FactKind.SUBSCRIPTION, client.subscriptions.list)


FETCHER = Fetcher("resource.subscriptions", {FactKind.SUBSCRIPTION: ("subscription",)}, tenant_wide=True, run=_run)
