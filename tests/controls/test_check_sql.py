"""Azure SQL, PostgreSQL flexible server and Redis checks, judged on evidence built here."""

from datetime import UTC, datetime

import pytest

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds

PROD = "a8233bec-16ce-49d8-af36-5decabf6c438"
DEV = "91142ddd-0943-48c0-91d5-e66f9c050145"
SERVER = f"/subscriptions/{PROD}/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-karte"
PG = f"/subscriptions/{PROD}/resourceGroups/rg-data/providers/Microsoft.DBforPostgreSQL/flexibleServers/psql-karte"
REDIS = f"/subscriptions/{PROD}/resourceGroups/rg-data/providers/Microsoft.Cache/Redis/redis-karte"


def ev(kind: str, doc: dict, scope: str = f"/subscriptions/{PROD}", resource_id: str | None = None) -> Evidence:
    rid = resource_id or doc["id"]
    return Evidence(kind, "test", scope, rid, "2025-01-01", None, datetime(2026, 3, 31, tzinfo=UTC), doc)


def server(rid: str = SERVER, **props) -> Evidence:
    return ev(FactKind.SQL_SERVER, {"id": rid, "name": rid.rsplit("/", 1)[-1], "properties": props})


def rule(owner: str, name: str, start: str, end: str) -> dict:
    return {"id": f"{owner}/firewallRules/{name}", "name": name, "properties": {"startIpAddress": start,
            "endIpAddress": end}}  # fmt: skip


def rules(kind: str, owner: str, *items: dict) -> Evidence:
    return ev(kind, {"value": list(items)}, resource_id=owner)


def run(check_id: str, *evidence: Evidence, errors=(), **thresholds) -> list:
    facts = FactSet(list(evidence), list(errors))
    return CHECKS_BY_ID[check_id].evaluate(facts, Thresholds(**thresholds))


def error(kind: str, scope: str) -> CollectionError:
    return CollectionError(
        kind, "test", scope, "AuthorizationFailed", "denied", 403, None, datetime(2026, 3, 31, tzinfo=UTC)
    )


# ---------------------------------------------------------------- SQL exposure


def test_sql_public_access_disabled_passes_whatever_the_rules():
    s = server(publicNetworkAccess="Disabled")
    [f] = run("sql-public-network-restricted", s, rules("sql_firewall_rules", SERVER))
    assert f.status == Status.PASS
    assert f.reason_en == "SQL server sql-karte publicNetworkAccess is Disabled (not reachable over the public network)"
    assert (
        f.reason_ja
        == "SQL サーバー sql-karte の publicNetworkAccess は Disabled です（パブリックネットワークから接続できない）"
    )
    # A network security perimeter governs access: also closed.
    [f] = run("sql-public-network-restricted", server(publicNetworkAccess="SecuredByPerimeter"))
    assert f.status == Status.PASS


def test_sql_public_access_enabled_is_judged_on_its_firewall_rules():
    s = server(publicNetworkAccess="Enabled")
    office = rules("sql_firewall_rules", SERVER, rule(SERVER, "office", "203.0.113.8", "203.0.113.15"))
    # The office range is public, and nobody vouched for it.
    [f] = run("sql-public-network-restricted", s, office)
    assert f.status == Status.FAIL
    assert "rule office (203.0.113.8-203.0.113.15: public addresses outside trusted_sources)" in f.reason_en
    assert f.evidence == (s.sha256, office.sha256)
    # Vouched for in trusted_sources: passes.
    [f] = run("sql-public-network-restricted", s, office, trusted_sources=("203.0.113.8/29",))
    assert f.status == Status.PASS and "1 firewall rule(s) admit only private addresses" in f.reason_en
    # Enabled with no rules admits nobody over the public network.
    [f] = run("sql-public-network-restricted", s, rules("sql_firewall_rules", SERVER))
    assert f.status == Status.PASS


def test_sql_allow_azure_services_is_exposure():
    azure = rules("sql_firewall_rules", SERVER, rule(SERVER, "AllowAllWindowsAzureIps", "0.0.0.0", "0.0.0.0"))
    [f] = run("sql-public-network-restricted", server(publicNetworkAccess="Enabled"), azure)
    assert f.status == Status.FAIL and "Allow Azure services, which admits every Azure customer" in f.reason_en
    [f] = run("sql-firewall-no-any-ip", server(publicNetworkAccess="Enabled"), azure)
    assert f.status == Status.FAIL and "AllowAllWindowsAzureIps (0.0.0.0-0.0.0.0" in f.reason_en


def test_sql_public_access_missing_is_enabled_and_missing_rules_are_an_error():
    [f] = run("sql-public-network-restricted", server())
    assert f.status == Status.ERROR
    assert (
        f.reason_en == "SQL server sql-karte publicNetworkAccess is Enabled, but its firewall rules were not collected"
    )
    [f] = run("sql-public-network-restricted", server(), errors=[error("sql_firewall_rules", SERVER)])
    assert f.status == Status.ERROR and f.reason_en.endswith("(AuthorizationFailed)")


def test_sql_unreadable_rule_is_an_error_not_a_pass():
    bad = rules("sql_firewall_rules", SERVER, rule(SERVER, "odd", "10.0.0.9", "10.0.0.1"))
    [f] = run("sql-public-network-restricted", server(publicNetworkAccess="Enabled"), bad)
    assert f.status == Status.ERROR and "startIpAddress 10.0.0.9 is after endIpAddress 10.0.0.1" in f.reason_en
    bad = rules("sql_firewall_rules", SERVER, rule(SERVER, "v6", "2001:db8::1", "2001:db8::1"))
    [f] = run("sql-firewall-no-any-ip", server(), bad)
    assert f.status == Status.ERROR
    # An open rule beside an unreadable one is still a failure.
    both = rules("sql_firewall_rules", SERVER, rule(SERVER, "v6", "x", "y"), rule(SERVER, "all", "0.0.0.0",
                 "255.255.255.255"))  # fmt: skip
    [f] = run("sql-public-network-restricted", server(publicNetworkAccess="Enabled"), both)
    assert f.status == Status.FAIL and "rule all (0.0.0.0-255.255.255.255: the whole Internet)" in f.reason_en


def test_sql_firewall_no_any_ip_counts_addresses_even_when_public_access_is_disabled():
    s = server(publicNetworkAccess="Disabled")
    wide = rules("sql_firewall_rules", SERVER, rule(SERVER, "AllowAll", "0.0.0.0", "255.255.255.255"),
                 rule(SERVER, "office", "203.0.113.0", "203.0.113.255"))  # fmt: skip
    [f] = run("sql-firewall-no-any-ip", s, wide)
    assert f.status == Status.FAIL
    assert f.reason_en == (
        "SQL server sql-karte has firewall rules admitting any address: AllowAll (0.0.0.0-255.255.255.255: "
        "4294967296 addresses) (at most 256 addresses per rule, and no Allow Azure services rule, required)"
    )
    # A /24 is exactly the default limit; a /23 is not.
    assert (
        run("sql-firewall-no-any-ip", s, rules("sql_firewall_rules", SERVER, wide.content["value"][1]))[0].status
        == Status.PASS
    )
    slash23 = rules("sql_firewall_rules", SERVER, rule(SERVER, "wide", "203.0.112.0", "203.0.113.255"))
    assert run("sql-firewall-no-any-ip", s, slash23)[0].status == Status.FAIL
    assert run("sql-firewall-no-any-ip", s, slash23, database_firewall_max_addresses=512)[0].status == Status.PASS
    [f] = run("sql-firewall-no-any-ip", s, rules("sql_firewall_rules", SERVER))
    assert f.status == Status.PASS and f.reason_en == "SQL server sql-karte has no firewall rules"
    [f] = run("sql-firewall-no-any-ip", s)
    assert f.status == Status.ERROR and "firewall rules were not collected" in f.reason_en


# ---------------------------------------------------------------- SQL auditing


def policy(**props) -> Evidence:
    rid = f"{SERVER}/auditingSettings/Default"
    return ev("sql_auditing_policy", {"id": rid, "name": "Default", "type": "Microsoft.Sql/servers/auditingSettings",
                                      "properties": props})  # fmt: skip


def test_sql_auditing():
    s = server()
    [f] = run("sql-auditing-enabled", s, policy(state="Enabled", isAzureMonitorTargetEnabled=True, retentionDays=0))
    assert (
        f.status == Status.PASS and f.reason_en == "SQL server sql-karte auditing is Enabled, writing to Azure Monitor"
    )
    [f] = run("sql-auditing-enabled", s, policy(state="Disabled"))
    assert (
        f.status == Status.FAIL and f.reason_en == "SQL server sql-karte auditing state is Disabled (Enabled required)"
    )
    [f] = run("sql-auditing-enabled", s, policy(state="Enabled", isAzureMonitorTargetEnabled=False))
    assert f.status == Status.FAIL and "has no destination" in f.reason_en
    endpoint = "https://stauditje.blob.core.windows.net/"
    [f] = run("sql-auditing-enabled", s, policy(state="Enabled", storageEndpoint=endpoint, retentionDays=90))
    assert f.status == Status.FAIL and "for 90 days (365 or more, or 0 for forever, required)" in f.reason_en
    [f] = run("sql-auditing-enabled", s, policy(state="Enabled", storageEndpoint=endpoint, retentionDays=0))
    assert f.status == Status.PASS and f.reason_en.endswith(f"writing to storage {endpoint}, kept forever")
    [f] = run("sql-auditing-enabled", s, policy(state="Enabled", storageEndpoint=endpoint, retentionDays=90),
              sql_audit_retention_days=90)  # fmt: skip
    assert f.status == Status.PASS
    [f] = run("sql-auditing-enabled", s, policy(state="Enabled", storageEndpoint=endpoint))
    assert f.status == Status.ERROR and "retentionDays has an unrecognised value not set" in f.reason_en


def test_sql_auditing_not_collected_is_an_error():
    [f] = run("sql-auditing-enabled", server())
    assert f.status == Status.ERROR and "auditing policy (auditingSettings/Default) was not collected" in f.reason_en


# ---------------------------------------------------------------- SQL databases


def database(name: str, sub: str = PROD, kind: str = "v12.0,user,vcore", **props) -> Evidence:
    rid = f"/subscriptions/{sub}/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-karte/databases/{name}"
    doc = {"id": rid, "name": name, "type": "Microsoft.Sql/servers/databases", "kind": kind, "properties": props}
    return ev("sql_database", doc)


def child(db: Evidence, kind: str, path: str, **props) -> Evidence:
    rid = f"{db.resource_id}/{path}"
    return ev(kind, {"id": rid, "name": path.rsplit("/", 1)[-1], "properties": props})


MASTER = database("master", kind="v12.0,system")


def test_sql_tde():
    db = database("sqldb-karte")
    [f] = run("sql-tde-enabled", MASTER, db, child(db, "sql_tde", "transparentDataEncryption/current", state="Enabled"))
    assert f.status == Status.PASS
    assert f.reason_en == "database sqldb-karte on SQL server sql-karte transparent data encryption state is Enabled"
    [f] = run("sql-tde-enabled", db, child(db, "sql_tde", "transparentDataEncryption/current", state="Disabled"))
    assert f.status == Status.FAIL
    assert (
        f.reason_ja == "SQL サーバー sql-karte のデータベース sqldb-karte の透過的データ暗号化 state が Disabled です"
        "（Enabled が必要）"
    )
    # master is Azure's and is not judged; a user database without its TDE document is an error.
    [f] = run("sql-tde-enabled", MASTER, db, errors=[error("sql_tde", db.resource_id)])
    assert f.status == Status.ERROR and f.resource_id == db.resource_id and "(AuthorizationFailed)" in f.reason_en


def test_sql_backup_retention():
    db = database("sqldb-karte")
    str7 = child(db, "sql_backup_retention", "backupShortTermRetentionPolicies/default", retentionDays=7)
    [f] = run("sql-backup-retention", MASTER, db, str7)
    assert f.status == Status.PASS
    assert (
        f.reason_en == "database sqldb-karte on SQL server sql-karte keeps point-in-time restore backups for 7 days "
        "(7 or more required)"
    )
    [f] = run("sql-backup-retention", db, str7, sql_backup_retention_days=14)
    assert f.status == Status.FAIL and "for 7 days (14 or more required)" in f.reason_en
    [f] = run("sql-backup-retention", db)
    assert f.status == Status.ERROR and "backup retention policy was not collected" in f.reason_en
    bad = child(db, "sql_backup_retention", "backupShortTermRetentionPolicies/default", retentionDays="7")
    assert run("sql-backup-retention", db, bad)[0].status == Status.ERROR
    # A geo-secondary keeps no backups of its own: its primary is judged.
    assert run("sql-backup-retention", database("sqldb-karte", secondaryType="Geo")) == []
    # A dedicated SQL pool keeps restore points, not a point-in-time retention policy.
    assert run("sql-backup-retention", database("sqldw-karte", kind="v12.0,user,datawarehouse,gen2")) == []


def subscription(sid: str, env: str | None) -> Evidence:
    doc = {"id": f"/subscriptions/{sid}", "subscriptionId": sid, "displayName": f"sub-{sid[:4]}"}
    if env:
        doc["tags"] = {"environment": env}
    return ev(FactKind.SUBSCRIPTION, doc, scope="tenant")


def test_sql_zone_redundant_only_in_production():
    subs = [subscription(PROD, "prod"), subscription(DEV, "dev")]
    zr = database("sqldb-karte", zoneRedundant=True)
    single = database("sqldb-report", zoneRedundant=False)
    dev = database("sqldb-dev", DEV, zoneRedundant=False)
    secondary = database("sqldb-dr", zoneRedundant=False, secondaryType="Geo")
    found = {f.resource_id.rsplit("/", 1)[-1]: f for f in run("sql-database-zone-redundant", *subs, MASTER, zr,
                                                                single, dev, secondary)}  # fmt: skip
    assert {k: f.status for k, f in found.items()} == {"sqldb-karte": Status.PASS, "sqldb-report": Status.FAIL}
    assert found["sqldb-report"].reason_en == (
        f"database sqldb-report on SQL server sql-karte in production subscription sub-a823 ({PROD}) "
        "(tag environment=prod): zoneRedundant is false (true required)"
    )
    # Production by a configured list; without the subscription document (tags needed) it is an error.
    [f] = run("sql-database-zone-redundant", dev, production_subscriptions=(DEV,))
    assert f.status == Status.FAIL
    [f] = run("sql-database-zone-redundant", zr)
    assert f.status == Status.ERROR and "cannot be decided" in f.reason_en


# ---------------------------------------------------------------- PostgreSQL


def pg(access: str | None = "Disabled") -> Evidence:
    network = {} if access is None else {"publicNetworkAccess": access}
    return ev("postgresql_server", {"id": PG, "name": "psql-karte", "properties": {"network": network}})


def parameter(name: str, value: str) -> Evidence:
    return ev("postgresql_configuration", {"id": f"{PG}/configurations/{name}", "name": name,
                                           "properties": {"value": value}})  # fmt: skip


def test_postgresql_public_network():
    [f] = run("postgresql-public-network-restricted", pg("Disabled"))
    assert f.status == Status.PASS
    assert (
        f.reason_en == "PostgreSQL server psql-karte network.publicNetworkAccess is Disabled "
        "(not reachable over the public network)"
    )
    any_ip = rules("postgresql_firewall_rules", PG, rule(PG, "AllowAll_2026", "0.0.0.0", "255.255.255.255"))
    [f] = run("postgresql-public-network-restricted", pg("Enabled"), any_ip)
    assert f.status == Status.FAIL and "AllowAll_2026 (0.0.0.0-255.255.255.255: the whole Internet)" in f.reason_en
    private = rules("postgresql_firewall_rules", PG, rule(PG, "vnet", "10.20.0.0", "10.20.255.255"))
    assert run("postgresql-public-network-restricted", pg(None), private)[0].status == Status.PASS
    [f] = run("postgresql-public-network-restricted", pg("Enabled"), errors=[error("postgresql_firewall_rules", PG)])
    assert f.status == Status.ERROR


@pytest.mark.parametrize(
    ("secure", "minimum", "status"),
    [
        ("on", "TLSv1.2", Status.PASS),
        ("ON", "TLSv1.3", Status.PASS),
        ("off", "TLSv1.2", Status.FAIL),
        ("on", "TLSv1.1", Status.FAIL),
        ("on", "TLSv1", Status.FAIL),
        ("on", "SSLv3?", Status.ERROR),
        ("maybe", "TLSv1.2", Status.ERROR),
    ],
)
def test_postgresql_tls(secure, minimum, status):
    [f] = run("postgresql-tls-min", pg(), parameter("require_secure_transport", secure),
              parameter("ssl_min_protocol_version", minimum))  # fmt: skip
    assert f.status == status, f.reason_en


def test_postgresql_tls_reasons_and_missing_parameters():
    [f] = run("postgresql-tls-min", pg(), parameter("require_secure_transport", "off"),
              parameter("ssl_min_protocol_version", "TLSv1.1"))  # fmt: skip
    assert f.reason_en == (
        "PostgreSQL server psql-karte: require_secure_transport is off (plain-text connections accepted); "
        "ssl_min_protocol_version is TLSv1.1 (require_secure_transport on and TLSv1.2 or newer required)"
    )
    [f] = run("postgresql-tls-min", pg(), parameter("require_secure_transport", "on"),
              errors=[error("postgresql_configuration", PG)])  # fmt: skip
    assert f.status == Status.ERROR
    assert f.reason_en == (
        "PostgreSQL server psql-karte: server parameter(s) ssl_min_protocol_version were not collected "
        "(AuthorizationFailed)"
    )


# ---------------------------------------------------------------- Redis


def cache(**props) -> Evidence:
    return ev("redis_cache", {"id": REDIS, "name": "redis-karte", "type": "Microsoft.Cache/Redis", "properties": props})


def test_redis_tls():
    [f] = run("redis-tls-min", cache(minimumTlsVersion="1.2", enableNonSslPort=False))
    assert f.status == Status.PASS
    assert (
        f.reason_en
        == "Redis cache redis-karte minimumTlsVersion is 1.2 (1.2 or newer required); enableNonSslPort is false"
    )
    [f] = run("redis-tls-min", cache(minimumTlsVersion="1.2", enableNonSslPort=True))
    assert f.status == Status.FAIL
    assert f.reason_en == "Redis cache redis-karte enableNonSslPort is true (plain-text port 6379 open; false required)"
    [f] = run("redis-tls-min", cache(minimumTlsVersion="1.0", enableNonSslPort=True))
    assert f.status == Status.FAIL and "also Redis cache redis-karte minimumTlsVersion is 1.0" in f.reason_en
    # No minimum accepts old TLS; an unknown value or a missing port setting cannot be judged.
    assert run("redis-tls-min", cache(enableNonSslPort=False))[0].status == Status.FAIL
    assert run("redis-tls-min", cache(minimumTlsVersion="tls-ish", enableNonSslPort=False))[0].status == Status.ERROR
    [f] = run("redis-tls-min", cache(minimumTlsVersion="1.2"))
    assert f.status == Status.ERROR and "enableNonSslPort is not set" in f.reason_en


def test_checks_judge_what_they_say():
    judged = {c: CHECKS_BY_ID[c].judges for c in ("sql-tde-enabled", "postgresql-tls-min", "redis-tls-min")}
    assert judged == {
        "sql-tde-enabled": ("microsoft.sql/servers/databases",),
        "postgresql-tls-min": ("microsoft.dbforpostgresql/flexibleservers",),
        "redis-tls-min": ("microsoft.cache/redis",),
    }
    # The evidence a finding names is the evidence it was judged on.
    db = database("sqldb-karte")
    tde = child(db, "sql_tde", "transparentDataEncryption/current", state="Enabled")
    assert run("sql-tde-enabled", db, tde)[0].evidence == (db.sha256, tde.sha256)
