"""Backups and continuity: VM backups, vault soft delete / immutability / geo-redundancy, Site Recovery drills."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from collector.settings import ConfigError, load_settings
from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds

PROD = "a8233bec-16ce-49d8-af36-5decabf6c438"
DEV = "91142ddd-0943-48c0-91d5-e66f9c050145"
AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def ago(**kw: float) -> str:
    return (AT - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ev(kind: str, doc: dict, scope: str) -> Evidence:
    return Evidence(kind, "test", scope, doc["id"], "2026-11-01", None, AT, doc)


def sub(sid: str, env: str) -> Evidence:
    doc = {"id": f"/subscriptions/{sid}", "subscriptionId": sid, "displayName": env, "tags": {"environment": env}}
    return ev(FactKind.SUBSCRIPTION, doc, "tenant")


SUBS = [sub(PROD, "prod"), sub(DEV, "dev")]


def vm_id(name: str, sid: str = PROD) -> str:
    return f"/subscriptions/{sid}/resourceGroups/rg-ops/providers/Microsoft.Compute/virtualMachines/{name}"


def vm(name: str, sid: str = PROD) -> Evidence:
    doc = {"id": vm_id(name, sid), "name": name, "type": "Microsoft.Compute/virtualMachines", "location": "japaneast"}
    return ev(FactKind.RESOURCE, doc, f"/subscriptions/{sid}")


def vault_id(name: str) -> str:
    return f"/subscriptions/{PROD}/resourceGroups/rg-ops/providers/Microsoft.RecoveryServices/vaults/{name}"


def vault(name: str = "rsv", location: str = "japaneast", **properties) -> Evidence:
    doc = {"id": vault_id(name), "name": name, "type": "Microsoft.RecoveryServices/vaults", "location": location,
           "properties": properties}  # fmt: skip
    return ev("recovery_vault", doc, f"/subscriptions/{PROD}")


def item(vm_name: str, vault_name: str = "rsv", **properties) -> Evidence:
    base = {"sourceResourceId": vm_id(vm_name), "virtualMachineId": vm_id(vm_name), "protectionState": "Protected",
            "lastBackupStatus": "Completed", "lastBackupTime": ago(hours=20),
            "backupManagementType": "AzureIaasVM"}  # fmt: skip
    doc = {"id": f"{vault_id(vault_name)}/backupFabrics/Azure/protectionContainers/c/protectedItems/VM;{vm_name}",
           "name": f"VM;{vm_name}", "properties": {**base, **properties}}  # fmt: skip
    return ev("backup_protected_item", doc, vault_id(vault_name))


def replicated(name: str, **properties) -> Evidence:
    doc = {"id": f"{vault_id('rsv-dr')}/replicationFabrics/f/replicationProtectionContainers/c/"
                 f"replicationProtectedItems/{name}",
           "name": name, "properties": {"friendlyName": name, "protectionState": "Protected",
                                        "replicationHealth": "Normal", **properties}}  # fmt: skip
    return ev("replication_protected_item", doc, vault_id("rsv-dr"))


def run(check_id: str, *evidence: Evidence, errors=(), t: Thresholds | None = None) -> dict[str, object]:
    findings = CHECKS_BY_ID[check_id].evaluate(FactSet(list(evidence), list(errors)), t or Thresholds())
    return {f.resource_id.rsplit("/", 1)[-1]: f for f in findings}


def statuses(findings: dict) -> dict[str, Status]:
    return {k: f.status for k, f in findings.items()}


# --- vm-backup-protected --------------------------------------------------------------------------


def test_production_vms_are_judged_by_their_protected_items():
    found = run("vm-backup-protected", *SUBS, vm("vm-a"), vm("vm-b"), vm("vm-dev", DEV), vault(), item("vm-a"))
    assert statuses(found) == {"vm-a": Status.PASS, "vm-b": Status.FAIL}
    assert found["vm-a"].reason_en == (
        f"virtual machine vm-a (production subscription prod ({PROD}), tag environment=prod) is a backup protected "
        "item in vault rsv (protectionState Protected)"
    )
    assert "どの Recovery Services コンテナーでもバックアップされていません" in found["vm-b"].reason_ja
    # Matched by virtualMachineId too, ids compared case-insensitively.
    only_vm_id = item("vm-b", sourceResourceId=None, virtualMachineId=vm_id("vm-b").upper())
    assert run("vm-backup-protected", *SUBS, vm("vm-b"), only_vm_id)["vm-b"].status == Status.PASS


def test_scope_all_and_unclassifiable_subscriptions():
    all_vms = replace(Thresholds(), backup_vm_scope="all")
    assert statuses(run("vm-backup-protected", vm("vm-dev", DEV), t=all_vms)) == {"vm-dev": Status.FAIL}
    [f] = run("vm-backup-protected", vm("vm-x")).values()  # the subscription document is missing
    assert f.status == Status.ERROR and "cannot be decided" in f.reason_en


def test_unmatched_vm_is_an_error_when_a_vault_could_not_be_read():
    err = CollectionError("backup_protected_item", "t", vault_id("rsv2"), "AuthorizationFailed", "no", 403, None, AT)
    found = run("vm-backup-protected", *SUBS, vm("vm-a"), vm("vm-b"), vault(), item("vm-a"), errors=[err])
    assert found["vm-a"].status == Status.PASS
    assert found["vm-b"].status == Status.ERROR and vault_id("rsv2") in found["vm-b"].reason_en


# --- vm-backup-recent -----------------------------------------------------------------------------


def test_recent_successful_backup_passes_and_old_failed_or_stopped_fail():
    found = run(
        "vm-backup-recent", *SUBS, vm("ok"), vm("old"), vm("bad"), vm("stopped"), vm("never"), vm("unprotected"),
        item("ok", lastBackupTime=ago(hours=25, minutes=59)),
        item("old", lastBackupTime=ago(hours=27)),
        item("bad", lastBackupStatus="Failed"),
        item("stopped", protectionState="ProtectionStopped"),
        item("never", protectionState="IRPending", lastBackupStatus=None, lastBackupTime=None),
    )  # fmt: skip
    assert statuses(found) == {"ok": Status.PASS, "old": Status.FAIL, "bad": Status.FAIL, "stopped": Status.FAIL,
                               "never": Status.FAIL}  # fmt: skip
    assert "was 27 hours before collection (26 hours at most)" in found["old"].reason_en
    assert "lastBackupStatus is Failed (Completed required)" in found["bad"].reason_en
    assert "protectionState is ProtectionStopped" in found["stopped"].reason_en
    assert "no backup has completed" in found["never"].reason_en
    assert "時間前" in found["old"].reason_ja


def test_warnings_count_and_a_running_backup_is_judged_by_its_newest_recovery_point():
    found = run(
        "vm-backup-recent", *SUBS, vm("warn"), vm("running"), vm("running-old"), vm("first"),
        item("warn", lastBackupStatus="CompletedWithWarnings"),
        item("running", lastBackupStatus="InProgress", lastBackupTime=ago(hours=50), lastRecoveryPoint=ago(hours=24)),
        item("running-old", lastBackupStatus="InProgress", lastRecoveryPoint=ago(hours=49)),
        item("first", lastBackupStatus="InProgress", lastBackupTime=None),
    )  # fmt: skip
    assert statuses(found) == {"warn": Status.PASS, "running": Status.PASS, "running-old": Status.FAIL,
                               "first": Status.FAIL}  # fmt: skip
    assert "lastBackupStatus InProgress, newest recovery point" in found["running"].reason_en
    assert "newest recovery point" in found["running-old"].reason_en and "49 hours" in found["running-old"].reason_en
    assert "lastRecoveryPoint is not set (no backup has completed)" in found["first"].reason_en


def test_one_good_item_of_several_passes_and_unreadable_time_is_an_error():
    found = run("vm-backup-recent", *SUBS, vm("a"), item("a", "rsv1", lastBackupStatus="Failed"), item("a", "rsv2"))
    assert found["a"].status == Status.PASS and "vault rsv2" in found["a"].reason_en
    [f] = run("vm-backup-recent", *SUBS, vm("a"), item("a", lastBackupTime="yesterday")).values()
    assert f.status == Status.ERROR and "lastBackupTime yesterday is not a timestamp" in f.reason_en
    t = replace(Thresholds(), backup_max_age_hours=12)
    assert run("vm-backup-recent", *SUBS, vm("a"), item("a"), t=t)["a"].status == Status.FAIL


# --- vaults ---------------------------------------------------------------------------------------


def security(soft: str | None = "Enabled", immutable: str | None = "Locked") -> dict:
    s: dict = {}
    if soft is not None:
        s["softDeleteSettings"] = {"softDeleteState": soft, "softDeleteRetentionPeriodInDays": 14}
    if immutable is not None:
        s["immutabilitySettings"] = {"state": immutable}
    return s


@pytest.mark.parametrize(("state", "status"), [("Enabled", Status.PASS), ("AlwaysON", Status.PASS),
                                               ("Disabled", Status.FAIL), ("Invalid", Status.FAIL),
                                               ("Sometimes", Status.ERROR), (None, Status.ERROR)])  # fmt: skip
def test_soft_delete(state, status):
    [f] = run("recovery-vault-soft-delete", vault(securitySettings=security(soft=state))).values()
    assert f.status == status
    if status == Status.PASS:
        assert f.reason_en == f"Recovery Services vault rsv softDeleteState is {state}, kept 14 days"
    [g] = run("recovery-vault-soft-delete", vault()).values()
    assert g.status == Status.ERROR and "securitySettings was not returned" in g.reason_en


@pytest.mark.parametrize(("state", "status"), [("Locked", Status.PASS), ("Unlocked", Status.FAIL),
                                               ("Disabled", Status.FAIL), (None, Status.FAIL),
                                               ("Frozen", Status.ERROR)])  # fmt: skip
def test_immutability(state, status):
    [f] = run("recovery-vault-immutable", vault(securitySettings=security(immutable=state))).values()
    assert f.status == status
    if state == "Unlocked":
        assert "can turn it off" in f.reason_en and "無効化できる" in f.reason_ja
    [g] = run("recovery-vault-immutable", vault()).values()
    assert g.status == Status.ERROR


@pytest.mark.parametrize(
    ("location", "redundancy", "status", "words"),
    [
        ("japaneast", "GeoRedundant", Status.PASS, "with its copy in the paired region japanwest (allowed)"),
        ("Japan West", "GeoRedundant", Status.PASS, "paired region japaneast"),
        ("japaneast", "LocallyRedundant", Status.FAIL, "backups stay in region japaneast only"),
        ("japaneast", "ZoneRedundant", Status.FAIL, "GeoRedundant required"),
        ("koreacentral", "GeoRedundant", Status.FAIL, "outside the allowed regions"),
        ("japaneast", "Invalid", Status.ERROR, "unrecognised value Invalid"),
        ("japaneast", None, Status.ERROR, "was not returned"),
    ],
)
def test_geo_redundancy_in_japan(location, redundancy, status, words):
    settings = {"standardTierStorageRedundancy": redundancy, "crossRegionRestore": "Disabled"} if redundancy else None
    [f] = run("recovery-vault-geo-redundant-in-japan", vault(location=location, redundancySettings=settings)).values()
    assert f.status == status and words in f.reason_en


def test_geo_redundancy_follows_allowed_regions():
    geo = {"standardTierStorageRedundancy": "GeoRedundant"}
    only_east = replace(Thresholds(), allowed_regions=("japaneast",))
    [f] = run("recovery-vault-geo-redundant-in-japan", vault(redundancySettings=geo), t=only_east).values()
    assert f.status == Status.FAIL and "paired region japanwest, outside the allowed regions" in f.reason_en
    anywhere = replace(Thresholds(), allowed_regions=("brazilsouth",))
    [g] = run("recovery-vault-geo-redundant-in-japan", vault(location="brazilsouth", redundancySettings=geo),
              t=anywhere).values()  # fmt: skip
    assert g.status == Status.ERROR and "paired region of brazilsouth is not known" in g.reason_en


# --- site-recovery-test-failover-recent ----------------------------------------------------------


def test_test_failovers():
    found = run(
        "site-recovery-test-failover-recent",
        replicated("recent", lastSuccessfulTestFailoverTime=ago(days=365)),
        replicated("old", lastSuccessfulTestFailoverTime=ago(days=365, hours=1)),
        replicated("never"),
        replicated("garbled", lastSuccessfulTestFailoverTime="n/a"),
    )
    assert statuses(found) == {"recent": Status.PASS, "old": Status.FAIL, "never": Status.FAIL,
                               "garbled": Status.ERROR}  # fmt: skip
    assert found["old"].reason_en.startswith("replicated item old in vault rsv-dr (protectionState Protected")
    assert "365 days before collection (365 days at most)" in found["old"].reason_en
    assert "テスト フェールオーバーの記録がありません" in found["never"].reason_ja
    t = replace(Thresholds(), dr_test_max_age_days=180)
    assert run("site-recovery-test-failover-recent", replicated("recent", lastSuccessfulTestFailoverTime=ago(days=200)),
               t=t)["recent"].status == Status.FAIL  # fmt: skip
    assert run("site-recovery-test-failover-recent", vault()) == {}  # a vault without replicated items


# --- thresholds -----------------------------------------------------------------------------------


def test_defaults_and_validation(tmp_path):
    t = Thresholds()
    assert (t.backup_vm_scope, t.backup_max_age_hours, t.dr_test_max_age_days) == ("production", 26, 365)
    assert load_settings(environ={}).thresholds.backup_max_age_hours == 26
    for key, value, message in [
        ("backup_vm_scope", "some", "'thresholds.backup_vm_scope': 'some' must be production or all"),
        ("backup_max_age_hours", 0, "'thresholds.backup_max_age_hours': must be at least 1 hour"),
        ("dr_test_max_age_days", 0, "'thresholds.dr_test_max_age_days': must be at least 1 day"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_settings(environ={}, overrides={"thresholds": {key: value}})
