from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.model import Evidence, FactKind, FactSet, Status, Thresholds

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"


def ev(kind: FactKind, doc: dict) -> Evidence:
    return Evidence(kind, "test", SUB, doc["id"], "2024-01-01", None, datetime(2026, 3, 31, tzinfo=UTC), doc)


def account(**props) -> Evidence:
    base = {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": True}
    base.update(props)
    rid = f"{SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stlogs"
    return ev(FactKind.STORAGE_ACCOUNT, {"id": rid, "name": "stlogs", "kind": "StorageV2", "properties": base})


def server(**props) -> Evidence:
    rid = f"{SUB}/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-karte"
    return ev(FactKind.SQL_SERVER, {"id": rid, "name": "sql-karte", "properties": props})


def run(check_id: str, *evidence: Evidence) -> list:
    return CHECKS_BY_ID[check_id].evaluate(FactSet(list(evidence)), Thresholds())


def test_storage_tls1_0_fails_with_the_reason_auditors_read():
    a = account(minimumTlsVersion="TLS1_0")
    [f] = run("storage-min-tls-1-2", a)
    assert f.status == Status.FAIL
    assert f.reason_ja == "ストレージアカウント stlogs の minimumTlsVersion が TLS1_0 です（TLS1_2 以上が必要）"
    assert f.reason_en == "storage account stlogs minimumTlsVersion is TLS1_0 (TLS1_2 or newer required)"
    assert f.evidence == (a.sha256,)
    assert f.resource_id.endswith("/storageAccounts/stlogs")


def test_storage_tls_versions():
    assert run("storage-min-tls-1-2", account())[0].status == Status.PASS
    assert run("storage-min-tls-1-2", account(minimumTlsVersion="TLS1_3"))[0].status == Status.PASS
    assert run("storage-min-tls-1-2", account(minimumTlsVersion="TLS1_1"))[0].status == Status.FAIL
    assert run("storage-min-tls-1-2", account(minimumTlsVersion=None))[0].status == Status.FAIL


def test_storage_https_only():
    assert run("storage-https-only", account())[0].status == Status.PASS
    [f] = run("storage-https-only", account(supportsHttpsTrafficOnly=False))
    assert f.status == Status.FAIL and "supportsHttpsTrafficOnly is false" in f.reason_en


def test_sql_min_tls():
    assert run("sql-min-tls-1-2", server(minimalTlsVersion="1.2"))[0].status == Status.PASS
    assert run("sql-min-tls-1-2", server(minimalTlsVersion="1.3"))[0].status == Status.PASS
    [f] = run("sql-min-tls-1-2", server(minimalTlsVersion="1.1"))
    assert (
        f.status == Status.FAIL
        and f.reason_en == "SQL server sql-karte minimalTlsVersion is 1.1 (1.2 or newer required)"
    )
    # "None" means the server accepts any TLS version.
    [f] = run("sql-min-tls-1-2", server(minimalTlsVersion="None"))
    assert f.status == Status.FAIL and "None" in f.reason_en
    [f] = run("sql-min-tls-1-2", server())
    assert f.status == Status.FAIL and "not set" in f.reason_en


def test_several_resources_one_finding_each():
    a, b = (
        account(),
        ev(
            FactKind.STORAGE_ACCOUNT,
            {"id": f"{SUB}/x/storageAccounts/st2", "name": "st2", "properties": {"minimumTlsVersion": "TLS1_0"}},
        ),
    )
    statuses = {f.resource_id.rsplit("/", 1)[-1]: f.status for f in run("storage-min-tls-1-2", a, b)}
    assert statuses == {"stlogs": Status.PASS, "st2": Status.FAIL}
