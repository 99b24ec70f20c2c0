"""Azure SQL, PostgreSQL flexible server and Redis checks, collected through the sandbox by the real SDK clients
(azure-mgmt-sql, -postgresqlflexibleservers, -redis): per-server and per-database reads included."""

from typing import Any

from controls.model import Status
from tests.estates import DEV, PROD, doc, estate, rid

CLOSED = rid("Microsoft.Sql/servers/sql-closed")
OPEN = rid("Microsoft.Sql/servers/sql-open")


def sql_server(name: str, access: str, *, subscription: str = PROD, audit: dict | None = None) -> list[dict]:
    """A server with Azure's master database and its auditing policy (Azure always has both)."""
    path = f"Microsoft.Sql/servers/{name}"
    policy = audit or {"state": "Enabled", "isAzureMonitorTargetEnabled": True, "retentionDays": 0}
    return [
        doc(path, {"minimalTlsVersion": "1.2", "publicNetworkAccess": access}, subscription=subscription, kind="v12.0"),
        doc(f"{path}/databases/master", {"status": "Online", "zoneRedundant": False}, subscription=subscription,
            kind="v12.0,system"),
        doc(f"{path}/auditingSettings/Default", policy, subscription=subscription),
    ]  # fmt: skip


def database(server: str, name: str, *, tde: str, days: int | None, zone: bool, subscription: str = PROD,
             **props: Any) -> list[dict]:  # fmt: skip
    path = f"Microsoft.Sql/servers/{server}/databases/{name}"
    out = [
        doc(path, {"status": "Online", "zoneRedundant": zone, **props}, subscription=subscription,
            kind="v12.0,user,vcore"),
        doc(f"{path}/transparentDataEncryption/current", {"state": tde}, subscription=subscription),
    ]  # fmt: skip
    if days is not None:
        policy = {"retentionDays": days, "diffBackupIntervalInHours": 24}
        out.append(doc(f"{path}/backupShortTermRetentionPolicies/default", policy, subscription=subscription))
    return out


def firewall_rule(owner_path: str, name: str, start: str, end: str) -> dict:
    return doc(f"{owner_path}/firewallRules/{name}", {"startIpAddress": start, "endIpAddress": end})


def postgresql(name: str, access: str, secure: str = "on", minimum: str = "TLSv1.2") -> list[dict]:
    path = f"Microsoft.DBforPostgreSQL/flexibleServers/{name}"
    server = {"network": {"publicNetworkAccess": access}, "version": "16", "state": "Ready"}
    return [
        doc(path, server, sku={"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"}),
        doc(f"{path}/configurations/require_secure_transport", {"value": secure, "dataType": "Boolean"}),
        doc(f"{path}/configurations/ssl_min_protocol_version", {"value": minimum, "dataType": "Enumeration"}),
    ]


def redis(name: str, **props: Any) -> dict:
    return doc(f"Microsoft.Cache/Redis/{name}", {"provisioningState": "Succeeded", "sslPort": 6380, **props})


def statuses(judged: Any, check_id: str) -> dict[str, Status]:
    return {r.rsplit("/", 1)[-1]: f.status for r, f in judged.findings(check_id).items()}


def test_passing_and_failing_servers_databases_and_caches(judge):
    resources = [
        *sql_server("sql-closed", "Disabled"),
        *database("sql-closed", "sqldb-ok", tde="Enabled", days=35, zone=True),
        *database("sql-closed", "sqldb-dr", tde="Enabled", days=None, zone=False, secondaryType="Geo"),
        *sql_server("sql-open", "Enabled", audit={"state": "Disabled", "isAzureMonitorTargetEnabled": False}),
        firewall_rule("Microsoft.Sql/servers/sql-open", "AllowAllWindowsAzureIps", "0.0.0.0", "0.0.0.0"),
        firewall_rule("Microsoft.Sql/servers/sql-open", "office", "203.0.113.8", "203.0.113.15"),
        *database("sql-open", "sqldb-plain", tde="Disabled", days=3, zone=False),
        *sql_server("sql-dev", "Disabled", subscription=DEV),
        *database("sql-dev", "sqldb-dev", tde="Enabled", days=7, zone=False, subscription=DEV),
        *postgresql("psql-ok", "Disabled"),
        *postgresql("psql-open", "Enabled", secure="off", minimum="TLSv1.1"),
        firewall_rule("Microsoft.DBforPostgreSQL/flexibleServers/psql-open", "AllowAll_2026", "0.0.0.0",
                      "255.255.255.255"),
        redis("redis-ok", minimumTlsVersion="1.2", enableNonSslPort=False),
        redis("redis-plain", minimumTlsVersion="1.0", enableNonSslPort=True),
    ]  # fmt: skip
    judged = judge(estate(resources))
    assert judged.facts.errors == []
    pass_, fail = Status.PASS, Status.FAIL
    servers = {"sql-closed": pass_, "sql-open": fail, "sql-dev": pass_}
    assert statuses(judged, "sql-public-network-restricted") == servers
    assert statuses(judged, "sql-firewall-no-any-ip") == servers
    assert statuses(judged, "sql-auditing-enabled") == servers
    # master is Azure's; the geo-secondary has its primary's backups and is its primary's redundancy.
    assert statuses(judged, "sql-tde-enabled") == {"sqldb-ok": pass_, "sqldb-dr": pass_, "sqldb-plain": fail,
                                                   "sqldb-dev": pass_}  # fmt: skip
    assert statuses(judged, "sql-backup-retention") == {"sqldb-ok": pass_, "sqldb-plain": fail, "sqldb-dev": pass_}
    # Only databases in the production subscription are judged for zone redundancy.
    assert statuses(judged, "sql-database-zone-redundant") == {"sqldb-ok": pass_, "sqldb-plain": fail}
    assert statuses(judged, "postgresql-public-network-restricted") == {"psql-ok": pass_, "psql-open": fail}
    assert statuses(judged, "postgresql-tls-min") == {"psql-ok": pass_, "psql-open": fail}
    assert statuses(judged, "redis-tls-min") == {"redis-ok": pass_, "redis-plain": fail}

    open_server = judged.findings("sql-public-network-restricted")[OPEN.lower()]
    assert "rule AllowAllWindowsAzureIps (0.0.0.0-0.0.0.0: Allow Azure services" in open_server.reason_en
    assert "rule office (203.0.113.8-203.0.113.15: public addresses outside trusted_sources)" in open_server.reason_en
    tde = judged.findings("sql-tde-enabled")
    assert tde[f"{OPEN}/databases/sqldb-plain".lower()].reason_en == (
        "database sqldb-plain on SQL server sql-open transparent data encryption state is Disabled (Enabled required)"
    )
    # Evidence is the raw per-resource document, with the api-version the SDK called.
    (policy,) = [e for e in judged.facts.of("sql_backup_retention") if "sqldb-ok" in e.resource_id]
    assert policy.content["properties"]["retentionDays"] == 35 and policy.api_version == "2025-01-01"
    (rules,) = [e for e in judged.facts.of("sql_firewall_rules") if e.resource_id.lower() == CLOSED.lower()]
    assert rules.content == {"value": []}
    for n in (86, 123, 128):
        assert judged.verdict(n) == Status.FAIL
    # Supporting checks on manual requirements: a failure contradicts the claim.
    assert judged.verdict(48) == Status.FAIL and judged.verdict(178) == Status.FAIL


def test_vouched_for_addresses_pass(judge):
    resources = [
        *sql_server("sql-open", "Enabled"),
        firewall_rule("Microsoft.Sql/servers/sql-open", "office", "203.0.113.8", "203.0.113.15"),
        *postgresql("psql-open", "Enabled"),
        firewall_rule("Microsoft.DBforPostgreSQL/flexibleServers/psql-open", "office", "203.0.113.8", "203.0.113.15"),
    ]
    judged = judge(estate(resources), thresholds={"trusted_sources": ["203.0.113.8/29"]})
    assert statuses(judged, "sql-public-network-restricted") == {"sql-open": Status.PASS}
    assert statuses(judged, "sql-firewall-no-any-ip") == {"sql-open": Status.PASS}
    assert statuses(judged, "postgresql-public-network-restricted") == {"psql-open": Status.PASS}


def test_refused_reads_are_errors_never_passes(judge):
    resources = [
        *sql_server("sql-closed", "Disabled"),
        *database("sql-closed", "sqldb-ok", tde="Enabled", days=35, zone=True),
        *sql_server("sql-open", "Enabled"),
        *postgresql("psql-ok", "Disabled"),
        redis("redis-ok", minimumTlsVersion="1.2", enableNonSslPort=False),
    ]
    faults = [
        # Firewall rules of one server, every TDE state, PostgreSQL parameters, and the Redis listing are refused.
        {"kind": "forbidden", "path": "*/servers/sql-open/firewallRules"},
        {"kind": "forbidden", "path": "*/transparentDataEncryption/current"},
        {"kind": "forbidden", "path": "*/flexibleServers/psql-ok/configurations/*"},
        {"kind": "forbidden", "resourceType": "Microsoft.Cache/Redis"},
    ]
    judged = judge(estate(resources, faults=faults))
    # The server whose rules were refused is an error for both firewall checks; the other still passes.
    public = judged.findings("sql-public-network-restricted")
    assert public[OPEN.lower()].status == Status.ERROR and "AuthorizationFailed" in public[OPEN.lower()].reason_en
    assert public[CLOSED.lower()].status == Status.PASS
    assert judged.findings("sql-firewall-no-any-ip")[OPEN.lower()].status == Status.ERROR
    # Other per-server reads of that server went on.
    assert judged.findings("sql-auditing-enabled")[OPEN.lower()].status == Status.PASS
    assert {f.status for f in judged.findings("sql-tde-enabled").values()} == {Status.ERROR}
    assert statuses(judged, "sql-backup-retention") == {"sqldb-ok": Status.PASS}
    assert {f.status for f in judged.findings("postgresql-tls-min").values()} == {Status.ERROR}
    assert statuses(judged, "postgresql-public-network-restricted") == {"psql-ok": Status.PASS}
    redis_findings = judged.findings("redis-tls-min")
    assert redis_findings and {f.status for f in redis_findings.values()} == {Status.ERROR}
    assert judged.verdict(123) == Status.ERROR
