"""Inventory and residency checks, collected through the sandbox's Resources - List by the real SDK."""

from controls.model import Status
from tests.estates import DEV, doc, estate, rid, sql_server, storage_account

REGION, OWNER = "resource-region-allowed", "resource-owner-tagged"
OWNED = {"owner": "emr-team"}


def by_name(judged, check_id: str) -> dict[str, Status]:
    return {r.rsplit("/", 1)[-1]: f.status for r, f in judged.findings(check_id).items()}


def passing_estate() -> dict:
    return estate([
        *storage_account("stemr", {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": True}),
        doc("Microsoft.Compute/virtualMachines/vm-emr", {}, tags={"Owner": "emr-team"}),
        doc("Microsoft.KeyVault/vaults/kv-emr", {}, location="Japan West", tags=OWNED),
        doc("Microsoft.Network/dnszones/emr.clinic.example", {}, location="global", tags=OWNED),
        *sql_server("sql-emr", {"minimalTlsVersion": "1.2"}),
    ])  # fmt: skip


def _tag_all(est: dict) -> dict:
    for d in est["resources"]:
        if d["name"] == "master":  # Azure lists a server's master database, with the server's location
            d["location"] = "japaneast"
        if "location" in d and d["name"] != "master":
            d.setdefault("tags", OWNED)
    return est


def test_a_passing_estate_every_resource_in_japan_and_owned(judge):
    judged = judge(_tag_all(passing_estate()))
    assert judged.facts.errors == []
    regions = by_name(judged, REGION)
    # Every inventoried resource once: top-level ones and the SQL master database (a tracked nested type).
    assert regions == {"stemr": Status.PASS, "vm-emr": Status.PASS, "kv-emr": Status.PASS,
                       "emr.clinic.example": Status.PASS, "sql-emr": Status.PASS, "master": Status.PASS}  # fmt: skip
    owners = by_name(judged, OWNER)
    assert set(owners) == set(regions) - {"master"} and set(owners.values()) == {Status.PASS}
    assert judged.verdict(37) == Status.PARTIAL  # the register itself and its review are attested
    assert judged.verdict(18) == Status.MANUAL  # the region check supports it; the data-flow map is attested


def test_a_failing_estate_a_dev_resource_abroad_and_one_without_owner(judge):
    est = _tag_all(passing_estate())
    est["resources"] += [
        doc("Microsoft.Compute/virtualMachines/vm-test", {}, subscription=DEV, location="eastus", tags=OWNED),
        *storage_account("stscratch", {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": True}),
    ]
    est["resources"][-2]["tags"] = {"env": "dev"}
    judged = judge(est)
    assert judged.facts.errors == []
    vm = judged.findings(REGION)[rid("Microsoft.Compute/virtualMachines/vm-test", DEV).lower()]
    assert vm.status == Status.FAIL
    assert vm.reason_en == ("Microsoft.Compute/virtualMachines vm-test location is eastus "
                            "(allowed regions: japaneast, japanwest)")  # fmt: skip
    scratch = judged.findings(OWNER)[rid("Microsoft.Storage/storageAccounts/stscratch").lower()]
    assert scratch.status == Status.FAIL
    assert scratch.reason_en == "Microsoft.Storage/storageAccounts stscratch has no owner tag (tags: env)"
    assert by_name(judged, REGION)["stscratch"] == Status.PASS and by_name(judged, OWNER)["vm-test"] == Status.PASS
    assert judged.verdict(37) == Status.FAIL
    assert judged.verdict(18) == Status.FAIL  # the failing region check contradicts the attested claim


def test_configured_regions_and_owner_tag_are_what_count(judge):
    est = estate([doc("Microsoft.Compute/virtualMachines/vm-sg", {}, location="Southeast Asia",
                      tags={"CostOwner": "ops"})])  # fmt: skip
    judged = judge(est, thresholds={"allowed_regions": ["southeastasia"], "owner_tag": "costowner"})
    assert by_name(judged, REGION) == {"vm-sg": Status.PASS}
    assert by_name(judged, OWNER) == {"vm-sg": Status.PASS}


def test_an_unreadable_inventory_is_an_error_not_a_pass(judge):
    est = _tag_all(passing_estate())
    est["resources"].append(doc("Microsoft.Compute/virtualMachines/vm-dev", {}, subscription=DEV, tags=OWNED))
    fault = {"kind": "forbidden", "path": f"/subscriptions/{DEV}/resources"}
    judged = judge(estate(est["resources"], faults=[fault]))
    errors = [f for f in judged.result.findings if f.check_id in (REGION, OWNER) and f.status == Status.ERROR]
    assert {f.check_id for f in errors} == {REGION, OWNER}
    assert all(DEV in f.resource_id and "AuthorizationFailed" in f.reason_en for f in errors)
    assert "vm-dev" not in by_name(judged, REGION)
    assert by_name(judged, REGION)["stemr"] == Status.PASS  # the production subscription was still listed
    assert judged.verdict(37) == Status.ERROR
