"""Storage and SQL TLS checks, collected through the sandbox by the real SDK clients."""

from controls.model import Status
from tests.estates import doc, estate


def storage(name: str, tls: str | None, https_only: bool = True) -> dict:
    props = {"supportsHttpsTrafficOnly": https_only, "minimumTlsVersion": tls}
    return doc(f"Microsoft.Storage/storageAccounts/{name}", {k: v for k, v in props.items() if v is not None},
               kind="StorageV2", sku={"name": "Standard_LRS", "tier": "Standard"})  # fmt: skip


def test_storage_tls_passes_at_1_2_and_newer_and_fails_below(judge):
    judged = judge(estate([storage("stok12", "TLS1_2"), storage("stok13", "TLS1_3"), storage("stold", "TLS1_0")]))
    findings = judged.findings("storage-min-tls-1-2")
    by_name = {rid.rsplit("/", 1)[-1]: f.status for rid, f in findings.items()}
    assert by_name == {"stok12": Status.PASS, "stok13": Status.PASS, "stold": Status.FAIL}
    assert "TLS1_0" in findings[next(r for r in findings if r.endswith("stold"))].reason_en
    assert judged.verdict(123) == Status.FAIL


def test_storage_and_sql_all_compliant_pass(judge):
    sql = doc("Microsoft.Sql/servers/sql1", {"minimalTlsVersion": "1.2"}, kind="v12.0")
    judged = judge(estate([storage("stok", "TLS1_2"), sql]))
    assert {f.status for f in judged.findings("storage-min-tls-1-2").values()} == {Status.PASS}
    assert {f.status for f in judged.findings("storage-https-only").values()} == {Status.PASS}
    assert {f.status for f in judged.findings("sql-min-tls-1-2").values()} == {Status.PASS}


def test_sql_without_minimal_tls_fails(judge):
    judged = judge(estate([doc("Microsoft.Sql/servers/sqlold", {"minimalTlsVersion": "1.0"}, kind="v12.0")]))
    (finding,) = judged.findings("sql-min-tls-1-2").values()
    assert finding.status == Status.FAIL and "1.0" in finding.reason_en
