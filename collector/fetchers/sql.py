"""Azure SQL logical servers (minimal TLS version)."""

from azure.mgmt.sql import SqlManagementClient

from collector.fetchers.base import FetchContext, Fetcher
from controls.model import FactKind


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(SqlManagementClient, ctx.subscription_id)
    ctx.list_into(FactKind.SQL_SERVER, client.servers.list)


FETCHER = Fetcher("sql.servers", {FactKind.SQL_SERVER: ("microsoft.sql/servers",)}, tenant_wide=False, run=_run)
