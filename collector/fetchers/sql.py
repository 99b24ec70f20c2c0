"""Azure SQL logical servers, and what each one holds: its firewall rules, its auditing policy, its databases,
and for each user database its transparent data encryption state and point-in-time backup retention.

Servers - List is one call per subscription. Azure offers no subscription-wide listing of the rest, so it is
read per server and per database (azure-mgmt-sql 4.0, api-version 2025-01-01):

- Firewall Rules - List By Server (one call per server). Stored as ONE document per server,
  `{"value": [rules...]}` with the server's id, so "no rules" is a fact and not a missing document.
- Server Blob Auditing Policies - List By Server (one call per server): the server's `auditingSettings/Default`.
- Databases - List By Server (one call per server): every database, `master` included; with
  `collection.resource_graph`, one Resource Graph query per subscription instead (collector/fetchers/resource_graph.py).
- Transparent Data Encryptions - Get `current` (one call per user database).
- Backup Short Term Retention Policies - Get `default` (one call per user database that keeps its own
  backups: a geo-secondary or named replica, `properties.secondaryType` set, takes none of its own, and a
  dedicated SQL pool, kind `datawarehouse`, keeps restore points instead).

`master` is Azure's system database: TDE cannot be turned on for it and it has no retention policy of its
own, so neither is read for it. A call that fails is recorded against that server or database alone; the
others go on. Each server's reads go to the run's call pool.
"""

from typing import Any

from azure.mgmt.sql import SqlManagementClient

from collector.fetchers import resource_graph
from collector.fetchers.base import FetchContext, Fetcher, get_raw, list_raw, resource_group_of
from controls.model import FactKind

SQL_FIREWALL_RULES = "sql_firewall_rules"  # one {"value": [...]} document per server
SQL_AUDITING_POLICY = "sql_auditing_policy"  # the server's auditingSettings/Default
SQL_DATABASE = "sql_database"
SQL_TDE = "sql_tde"  # a database's transparentDataEncryption/current
SQL_BACKUP_RETENTION = "sql_backup_retention"  # a database's backupShortTermRetentionPolicies/default
DATABASE_TYPE = "microsoft.sql/servers/databases"
_server_of_database = resource_graph.parent_by_segment("databases")


def is_system_database(doc: dict[str, Any]) -> bool:
    """Azure's `master` (kind `v12.0,system`): not the customer's to encrypt or back up."""
    kind = str(doc.get("kind") or "").lower()
    return str(doc.get("name", "")).lower() == "master" or "system" in kind.split(",")


def keeps_own_backups(doc: dict[str, Any]) -> bool:
    """False for a geo-secondary or named replica (its backups are its primary's) and for a dedicated SQL pool
    (kind `...,datawarehouse`: restore points, not a point-in-time retention policy)."""
    properties = doc.get("properties")
    replica = isinstance(properties, dict) and bool(properties.get("secondaryType"))
    return not replica and "datawarehouse" not in str(doc.get("kind") or "").lower().split(",")


def _get(ctx: FetchContext, kind: str, scope_id: str, call: Any, *args: str) -> None:
    try:
        capture = get_raw(call, *args)
    except Exception as exc:  # recorded against this server or database only; the others go on
        ctx.sink.error(kind, ctx.fetcher.name, scope_id, exc)
        return
    ctx.record(kind, capture)


def _firewall_rules(ctx: FetchContext, client: SqlManagementClient, server_id: str, rg: str, name: str) -> None:
    try:
        capture = list_raw(client.firewall_rules.list_by_server, rg, name)
    except Exception as exc:
        ctx.sink.error(SQL_FIREWALL_RULES, ctx.fetcher.name, server_id, exc)
        return
    page = capture.pages[-1] if capture.pages else None
    ctx.record_document(
        SQL_FIREWALL_RULES,
        {"value": [doc for doc, _ in capture.documents()]},
        resource_id=server_id,
        api_version=page.api_version if page else "",
        request_id=page.request_id if page else None,
    )


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(SqlManagementClient, ctx.subscription_id)
    # Expanded so each server carries its Microsoft Entra administrator and azureADOnlyAuthentication
    # (properties.administrators), which the plain listing leaves out.
    expanded = lambda **kw: client.servers.list(expand="administrators/activedirectory", **kw)  # noqa: E731

    def read(server: dict[str, Any]) -> None:
        server_id, name = server["id"], server["name"]
        rg = resource_group_of(server_id)
        _firewall_rules(ctx, client, server_id, rg, name)
        try:
            ctx.list_into(SQL_AUDITING_POLICY, client.server_blob_auditing_policies.list_by_server, rg, name)
        except Exception as exc:
            ctx.sink.error(SQL_AUDITING_POLICY, ctx.fetcher.name, server_id, exc)
        try:
            children = resource_graph.children_of(ctx, "resources", DATABASE_TYPE, _server_of_database)
            if children is not None:
                databases = ctx.record(SQL_DATABASE, resource_graph.listing_of(children, server_id))
            else:
                databases = ctx.list_into(SQL_DATABASE, client.databases.list_by_server, rg, name)
        except Exception as exc:
            ctx.sink.error(SQL_DATABASE, ctx.fetcher.name, server_id, exc)
            return
        for db in databases:
            if is_system_database(db):
                continue
            db_name = str(db["id"]).rstrip("/").rsplit("/", 1)[-1]
            _get(ctx, SQL_TDE, db["id"], client.transparent_data_encryptions.get, rg, name, db_name, "current")
            if keeps_own_backups(db):
                get = client.backup_short_term_retention_policies.get
                _get(ctx, SQL_BACKUP_RETENTION, db["id"], get, rg, name, db_name, "default")

    ctx.each(ctx.list_into(FactKind.SQL_SERVER, expanded), read)


_SERVERS = ("microsoft.sql/servers",)
_DATABASES = ("microsoft.sql/servers/databases",)
FETCHER = Fetcher(
    "sql.servers",
    {
        FactKind.SQL_SERVER: _SERVERS,
        SQL_FIREWALL_RULES: _SERVERS,
        SQL_AUDITING_POLICY: _SERVERS,
        SQL_DATABASE: _DATABASES,
        SQL_TDE: _DATABASES,
        SQL_BACKUP_RETENTION: _DATABASES,
    },
    tenant_wide=False,
    run=_run,
    listings=(resource_graph.shared_listing(DATABASE_TYPE),),
)
