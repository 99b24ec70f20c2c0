"""Backups and continuity, collected through the sandbox by the real SDK clients: Vaults - List By Subscription
Id, Backup Protected Items - List and Replication Protected Items - List (one call each per vault), with the
VMs from the generic inventory."""

from urllib.parse import unquote

from controls.model import Status
from tests.estates import DEV, PROD, estate
from tests.recovery_docs import backup_item, replicated_item, unique, vault, vm

VM_OK, VM_STALE, VM_FAILED, VM_NONE = (vm(n) for n in ("vm-ok", "vm-stale", "vm-failed", "vm-none"))
VM_DEV = vm("vm-dev", subscription=DEV, rg="rg-dev")
GOOD = vault("rsv-good")
WEAK = vault("rsv-weak", redundancy="LocallyRedundant", soft_delete="Disabled", immutability="Unlocked")
GOOD_ID, WEAK_ID = GOOD[0]["id"], WEAK[0]["id"]


def _ids(findings: dict) -> dict[str, Status]:
    return {rid.rsplit("/", 1)[-1]: f.status for rid, f in findings.items()}


def test_backups_vaults_and_test_failovers_pass_and_fail(judge):
    never = replicated_item(WEAK_ID, VM_NONE["id"], tested=None)
    served = []
    judged = judge(estate(unique([
        VM_OK, VM_STALE, VM_FAILED, VM_NONE, VM_DEV, *GOOD, *WEAK,
        *backup_item(GOOD_ID, VM_OK["id"]),
        *backup_item(GOOD_ID, VM_STALE["id"], last="${now-50h}"),
        *backup_item(GOOD_ID, VM_FAILED["id"], state="ProtectionError", status="Failed", last="${now-20h}"),
        *replicated_item(GOOD_ID, VM_OK["id"], tested="${now-90d}"),
        *replicated_item(WEAK_ID, VM_STALE["id"], tested="${now-400d}"),
        *never,
    ])), setup=served.append)  # fmt: skip
    # One vault listing per subscription, and one listing per vault for each kind of protected item (pages of
    # two documents: rsv-good's three backup items come in two pages of one listing).
    paths = [(r.path.lower(), r.query) for r in served[0].requests if "recoveryservices" in r.path.lower()]
    assert {p for p, _ in paths} == {f"/subscriptions/{s}/providers/microsoft.recoveryservices/vaults"
                                     for s in (PROD, DEV)} | {
        f"{v.lower()}/{kind}" for v in (GOOD_ID, WEAK_ID) for kind in ("backupprotecteditems",
                                                                        "replicationprotecteditems")}  # fmt: skip
    assert len(paths) == 2 + 2 + 2 + 1  # vault listings, rsv-good's backup items (2 pages), the other listings
    assert all("AzureIaasVM" in unquote(q) for p, q in paths if p.endswith("backupprotecteditems"))
    # VMs in the production subscription only (default scope); vm-dev is not judged.
    protected = judged.findings("vm-backup-protected")
    assert _ids(protected) == {"vm-ok": Status.PASS, "vm-stale": Status.PASS, "vm-failed": Status.PASS,
                               "vm-none": Status.FAIL}  # fmt: skip
    assert (
        "is not backed up in any Recovery Services vault (2 vault(s) checked)"
        in protected[VM_NONE["id"].lower()].reason_en
    )
    recent = judged.findings("vm-backup-recent")
    assert _ids(recent) == {"vm-ok": Status.PASS, "vm-stale": Status.FAIL, "vm-failed": Status.FAIL}
    assert "was 50 hours before collection (26 hours at most)" in recent[VM_STALE["id"].lower()].reason_en
    failed_reason = recent[VM_FAILED["id"].lower()].reason_en
    assert "protectionState is ProtectionError" in failed_reason and "lastBackupStatus is Failed" in failed_reason
    for check_id in ("recovery-vault-soft-delete", "recovery-vault-immutable", "recovery-vault-geo-redundant-in-japan"):
        assert _ids(judged.findings(check_id)) == {"rsv-good": Status.PASS, "rsv-weak": Status.FAIL}, check_id
    geo = judged.findings("recovery-vault-geo-redundant-in-japan")[GOOD_ID.lower()]
    assert "paired region japanwest" in geo.reason_en and "crossRegionRestore Enabled" in geo.reason_en
    tests = judged.findings("site-recovery-test-failover-recent")
    assert {f.reason_en.split(" (")[0]: f.status for f in tests.values()} == {
        "replicated item vm-ok in vault rsv-good": Status.PASS,
        "replicated item vm-stale in vault rsv-weak": Status.FAIL,
        "replicated item vm-none in vault rsv-weak": Status.FAIL,
    }
    assert "has no successful test failover on record" in tests[never[-1]["id"].lower()].reason_en
    assert (judged.verdict(48), judged.verdict(179), judged.verdict(181)) == (Status.FAIL,) * 3


def test_passing_estate_is_partial_and_scope_all_judges_dev_vms(judge):
    docs = unique([VM_OK, VM_DEV, *GOOD, *backup_item(GOOD_ID, VM_OK["id"]),
                   *replicated_item(GOOD_ID, VM_OK["id"], tested="${now-30d}")])  # fmt: skip
    judged = judge(estate(docs), thresholds={"backup_vm_scope": "all"})
    assert _ids(judged.findings("vm-backup-protected")) == {"vm-ok": Status.PASS, "vm-dev": Status.FAIL}
    judged = judge(estate(docs))
    assert (judged.verdict(48), judged.verdict(179)) == (Status.PARTIAL, Status.PARTIAL)
    assert judged.verdict(181) == Status.MANUAL


def test_refused_listings_are_errors_never_passes(judge):
    dev_vault = vault("rsv-dev", subscription=DEV, rg="rg-dev")
    est = estate(
        unique([VM_OK, VM_DEV, *GOOD, *backup_item(GOOD_ID, VM_OK["id"]), *dev_vault]),
        faults=[
            {"kind": "forbidden", "subscription": PROD,
             "resourceType": "Microsoft.RecoveryServices/vaults/backupProtectedItems"},
            {"kind": "forbidden", "subscription": DEV, "resourceType": "Microsoft.RecoveryServices/vaults"},
        ],
    )  # fmt: skip
    judged = judge(est, thresholds={"backup_vm_scope": "all"})
    protected = judged.findings("vm-backup-protected")
    # vm-ok may be protected in the vault whose items could not be read, vm-dev in a vault not listed.
    assert protected[VM_OK["id"].lower()].status == Status.ERROR
    assert protected[VM_DEV["id"].lower()].status == Status.ERROR
    assert "could not be read" in protected[VM_OK["id"].lower()].reason_en
    # The refused scopes themselves are error findings of every check reading them.
    assert protected[GOOD_ID.lower()].status == Status.ERROR
    assert judged.findings("vm-backup-recent")[GOOD_ID.lower()].status == Status.ERROR
    assert judged.findings("recovery-vault-soft-delete")[f"/subscriptions/{DEV}"].status == Status.ERROR
    statuses = {f.status for c in ("vm-backup-protected", "vm-backup-recent") for f in judged.findings(c).values()}
    assert Status.PASS not in statuses
    assert judged.verdict(48) == Status.ERROR and judged.verdict(179) == Status.ERROR
