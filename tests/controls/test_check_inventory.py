"""Inventory and residency checks: every inventoried resource in an allowed region, with an owner tag."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from collector.fetchers import FETCHERS
from collector.plan import PlanError, plan_for
from controls.checks import CHECKS_BY_ID
from controls.checks.base import INVENTORY
from controls.model import Evidence, FactKind, FactSet, Status, Thresholds

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"


def resource(path: str, location: str | None = "japaneast", tags: object = None, **extra) -> Evidence:
    parts = path.split("/")
    doc = {"id": f"{SUB}/resourceGroups/rg-emr/providers/{path}", "name": "/".join(parts[2::2]),
           "type": "/".join([parts[0], *parts[1::2]])}  # fmt: skip
    if location is not None:
        doc["location"] = location
    if tags is not None:
        doc["tags"] = tags
    doc.update(extra)
    return Evidence(
        FactKind.RESOURCE, "test", SUB, doc["id"], "2021-04-01", None, datetime(2026, 3, 31, tzinfo=UTC), doc
    )


def run(check_id: str, *evidence: Evidence, **thresholds) -> list:
    return CHECKS_BY_ID[check_id].evaluate(FactSet(list(evidence)), Thresholds(**thresholds))


def test_a_resource_outside_japan_fails_naming_its_type_and_location():
    vm = resource("Microsoft.Compute/virtualMachines/vm-test", "eastus")
    [f] = run("resource-region-allowed", vm)
    assert f.status == Status.FAIL
    assert f.reason_en == ("Microsoft.Compute/virtualMachines vm-test location is eastus "
                           "(allowed regions: japaneast, japanwest)")  # fmt: skip
    assert (
        f.reason_ja == "Microsoft.Compute/virtualMachines vm-test の location が eastus です"
        "（許可リージョン: japaneast, japanwest）"
    )
    assert f.evidence == (vm.sha256,)
    assert f.resource_id.endswith("/virtualMachines/vm-test")


def test_region_names_compare_case_and_space_insensitively():
    found = run(
        "resource-region-allowed",
        resource("Microsoft.Storage/storageAccounts/st1", "japaneast"),
        resource("Microsoft.Storage/storageAccounts/st2", "Japan West"),
        resource("Microsoft.Storage/storageAccounts/st3", "JAPANEAST"),
        allowed_regions=("Japan East", "japanwest"),
    )
    assert [f.status for f in found] == [Status.PASS] * 3


def test_global_and_locationless_resources_are_not_region_bound():
    found = run(
        "resource-region-allowed",
        resource("Microsoft.Network/dnszones/clinic.example", "global"),
        resource("Microsoft.Network/frontDoors/fd1", "Global"),
        resource("Microsoft.Insights/actionGroups/ag1", None),
        resource("Microsoft.Insights/actionGroups/ag2", ""),
    )
    assert [f.status for f in found] == [Status.PASS] * 4
    assert "not bound to a region" in found[0].reason_en and "has no location" in found[2].reason_en


def test_a_configured_region_list_is_what_counts():
    found = run("resource-region-allowed", resource("Microsoft.Web/sites/app1", "southeastasia"),
                allowed_regions=("southeastasia",))  # fmt: skip
    assert found[0].status == Status.PASS
    assert run("resource-region-allowed", resource("Microsoft.Web/sites/app1", "japaneast"),
               allowed_regions=("southeastasia",))[0].status == Status.FAIL  # fmt: skip


def test_one_finding_per_inventoried_resource_and_none_without_inventory():
    assert run("resource-region-allowed") == []
    assert run("resource-owner-tagged") == []
    found = run(
        "resource-region-allowed",
        resource("Microsoft.Web/sites/app1"),
        resource("Microsoft.Web/sites/app1/slots/staging"),
    )
    assert len(found) == 2


def test_owner_tag_passes_with_a_value_and_compares_names_case_insensitively():
    [f] = run("resource-owner-tagged", resource("Microsoft.Sql/servers/sql-emr", tags={"Owner": "emr-team"}))
    assert f.status == Status.PASS and f.reason_en == "Microsoft.Sql/servers sql-emr tag Owner is emr-team"
    [f] = run(
        "resource-owner-tagged", resource("Microsoft.Sql/servers/sql-emr", tags={"OWNER": "x"}), owner_tag="Owner"
    )
    assert f.status == Status.PASS


def test_missing_or_empty_owner_tag_fails():
    untagged, other, empty, blank = run(
        "resource-owner-tagged",
        resource("Microsoft.Compute/virtualMachines/vm1"),
        resource("Microsoft.Compute/virtualMachines/vm2", tags={"env": "dev"}),
        resource("Microsoft.Compute/virtualMachines/vm3", tags={"owner": ""}),
        resource("Microsoft.Compute/virtualMachines/vm4", tags={"owner": "  "}),
    )
    assert {untagged.status, other.status, empty.status, blank.status} == {Status.FAIL}
    assert untagged.reason_en == "Microsoft.Compute/virtualMachines vm1 has no owner tag (tags: none)"
    assert untagged.reason_ja == "Microsoft.Compute/virtualMachines vm1 にタグ owner がありません（タグ: なし）"
    assert other.reason_en == "Microsoft.Compute/virtualMachines vm2 has no owner tag (tags: env)"
    assert empty.reason_en == "Microsoft.Compute/virtualMachines vm3 tag owner is empty"


def test_a_custom_owner_tag_name():
    ev = resource("Microsoft.KeyVault/vaults/kv1", tags={"owner": "a"})
    [f] = run("resource-owner-tagged", ev, owner_tag="managed-by")
    assert f.status == Status.FAIL and "has no managed-by tag" in f.reason_en


def test_a_sql_master_database_is_azure_s_and_not_judged_for_an_owner():
    master = resource("Microsoft.Sql/servers/sql-emr/databases/master", kind="v12.0,system")
    user_db = resource("Microsoft.Sql/servers/sql-emr/databases/emr", kind="v12.0,user")
    found = run("resource-owner-tagged", master, user_db)
    assert [f.resource_id for f in found] == [user_db.resource_id]
    assert run("resource-region-allowed", master, user_db)[0].status == Status.PASS


def test_the_checks_judge_every_inventoried_resource_through_the_generic_inventory():
    for cid in ("resource-region-allowed", "resource-owner-tagged"):
        assert CHECKS_BY_ID[cid].judges == (INVENTORY,)
        assert CHECKS_BY_ID[cid].reads == (FactKind.RESOURCE,)
    plan_for([CHECKS_BY_ID["resource-region-allowed"]])  # the inventory fetcher lists every type


def test_an_inventory_check_without_the_inventory_or_with_per_resource_kinds_fails_before_collection():
    region = CHECKS_BY_ID["resource-region-allowed"]
    no_inventory = [f for f in FETCHERS if FactKind.RESOURCE not in f.provides]
    with pytest.raises(PlanError, match="judges every inventoried resource, but reads no inventory"):
        plan_for([replace(region, reads=(FactKind.STORAGE_ACCOUNT,))], no_inventory)
    per = replace(region, reads=(FactKind.RESOURCE, FactKind.DIAGNOSTIC_SETTINGS),
                  per_resource=(FactKind.DIAGNOSTIC_SETTINGS,))  # fmt: skip
    with pytest.raises(PlanError, match="no per-resource kinds"):
        plan_for([per])
