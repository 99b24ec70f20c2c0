"""Managed disks (encryption at rest): one Disks - List call per subscription."""

from azure.mgmt.compute import ComputeManagementClient

from collector.fetchers.base import FetchContext, Fetcher

MANAGED_DISK = "managed_disk"


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(ComputeManagementClient, ctx.subscription_id)
    ctx.list_into(MANAGED_DISK, client.disks.list)


FETCHER = Fetcher("compute.disks", {MANAGED_DISK: ("microsoft.compute/disks",)}, tenant_wide=False, run=_run)
