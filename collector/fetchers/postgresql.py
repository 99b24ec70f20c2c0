"""Azure Database for PostgreSQL flexible servers, their firewall rules and the two server parameters that
decide transport security (azure-mgmt-postgresqlflexibleservers 3.0, api-version 2026-10-01).

- Servers - List By Subscription: one call per subscription (`properties.network.publicNetworkAccess`).
- Firewall Rules - List By Server: one call per server, stored as ONE document per server,
  `{"value": [rules...]}` with the server's id, so "no rules" is a fact and not a missing document.
- Configurations - Get: one call per server per parameter, for `require_secure_transport` and
  `ssl_min_protocol_version` only (Configurations - List By Server would return every one of the server's
  several hundred parameters, page by page, to read two).

A call that fails is recorded against that server alone; the others go on.
"""

from typing import Any

from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient

from collector.fetchers.base import FetchContext, Fetcher, get_raw, list_raw, resource_group_of

POSTGRESQL_SERVER = "postgresql_server"
POSTGRESQL_FIREWALL_RULES = "postgresql_firewall_rules"  # one {"value": [...]} document per server
POSTGRESQL_CONFIGURATION = "postgresql_configuration"  # flexibleServers/{s}/configurations/{parameter}
# The server parameters read for every server.
TLS_PARAMETERS = ("require_secure_transport", "ssl_min_protocol_version")


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(PostgreSQLManagementClient, ctx.subscription_id)

    def read(server: dict[str, Any]) -> None:
        server_id, name = server["id"], server["name"]
        rg = resource_group_of(server_id)
        try:
            capture = list_raw(client.firewall_rules.list_by_server, rg, name)
        except Exception as exc:  # recorded against this server only; the others go on
            ctx.sink.error(POSTGRESQL_FIREWALL_RULES, ctx.fetcher.name, server_id, exc)
        else:
            page = capture.pages[-1] if capture.pages else None
            ctx.record_document(
                POSTGRESQL_FIREWALL_RULES,
                {"value": [doc for doc, _ in capture.documents()]},
                resource_id=server_id,
                api_version=page.api_version if page else "",
                request_id=page.request_id if page else None,
            )
        for parameter in TLS_PARAMETERS:
            try:
                one = get_raw(client.configurations.get, rg, name, parameter)
            except Exception as exc:
                ctx.sink.error(POSTGRESQL_CONFIGURATION, ctx.fetcher.name, server_id, exc)
                continue
            ctx.record(POSTGRESQL_CONFIGURATION, one)

    ctx.each(ctx.list_into(POSTGRESQL_SERVER, client.servers.list_by_subscription), read)


_SERVERS = ("microsoft.dbforpostgresql/flexibleservers",)
FETCHER = Fetcher(
    "postgresql.flexible_servers",
    {POSTGRESQL_SERVER: _SERVERS, POSTGRESQL_FIREWALL_RULES: _SERVERS, POSTGRESQL_CONFIGURATION: _SERVERS},
    tenant_wide=False,
    run=_run,
)
