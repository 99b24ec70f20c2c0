"""Backups and continuity: VMs backed up recently into Recovery Services vaults that resist deletion and keep a
geo-redundant copy in Japan, and Site Recovery test failovers done within the year."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import (
    display_name,
    field,
    inventory_of_type,
    name_from_id,
    norm_id,
    observed_at,
    parse_time,
    props,
)
from controls.checks.inventory import normalise_location
from controls.checks.network_isolation import classify
from controls.model import CollectionError, Evidence, FactKind, FactSet, Thresholds

# Fact kinds (collector.fetchers.recovery).
RECOVERY_VAULT = "recovery_vault"
BACKUP_PROTECTED_ITEM = "backup_protected_item"
REPLICATION_PROTECTED_ITEM = "replication_protected_item"

VM_TYPE = "microsoft.compute/virtualmachines"
VAULT_TYPE = "microsoft.recoveryservices/vaults"
REPLICATED_ITEM_TYPE = (
    "microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers/replicationprotecteditems"
)

# Azure region pairs (learn.microsoft.com, "Azure region pairs and nonpaired regions"): where a geo-redundant
# vault keeps its second copy. Only pairs whose secondary is named here can be judged.
REGION_PAIRS = {
    "japaneast": "japanwest",
    "japanwest": "japaneast",
    "koreacentral": "koreasouth",
    "koreasouth": "koreacentral",
    "eastasia": "southeastasia",
    "southeastasia": "eastasia",
    "australiaeast": "australiasoutheast",
    "australiasoutheast": "australiaeast",
    "centralindia": "southindia",
    "southindia": "centralindia",
    "eastus": "westus",
    "westus": "eastus",
    "eastus2": "centralus",
    "centralus": "eastus2",
    "westus2": "westcentralus",
    "westcentralus": "westus2",
    "northeurope": "westeurope",
    "westeurope": "northeurope",
    "uksouth": "ukwest",
    "ukwest": "uksouth",
}

# lastBackupStatus values of a last backup that made a recovery point (Azure VM backup items report Completed,
# CompletedWithWarnings, Failed, InProgress; the API also documents Healthy / Unhealthy).
_BACKUP_OK = frozenset({"completed", "completedwithwarnings", "healthy"})
_SOFT_DELETE_ON = frozenset({"enabled", "alwayson"})
_SOFT_DELETE_OFF = frozenset({"disabled", "invalid"})


def _vault_of(ev: Evidence) -> str:
    """The vault an item was listed from (its evidence scope), by name."""
    return name_from_id(ev.scope) if ev.scope.startswith("/") else "?"


def _subject(vault: Evidence) -> tuple[str, str]:
    return f"Recovery Services コンテナー {display_name(vault)}", f"Recovery Services vault {display_name(vault)}"


def _collection_errors(facts: FactSet) -> list[CollectionError]:
    return facts.errors_for((RECOVERY_VAULT, BACKUP_PROTECTED_ITEM))


def _vms_in_scope(
    facts: FactSet, t: Thresholds
) -> Iterator[tuple[Evidence, str, str, Evidence | None, Outcome | None]]:
    """Each VM the backup checks judge: (vm, where_ja, where_en, subscription evidence, error). With scope
    "production", VMs in non-production subscriptions are left out, and a VM whose subscription cannot be
    classified is an error."""
    subscriptions = {str(ev.content.get("subscriptionId", "")).lower(): ev for ev in facts.of(FactKind.SUBSCRIPTION)}
    for vm in inventory_of_type(facts, VM_TYPE):
        if t.backup_vm_scope == "all":
            yield vm, "", "", None, None
            continue
        sub_id = vm.resource_id.split("/")[2] if vm.resource_id.lower().startswith("/subscriptions/") else ""
        env = classify(sub_id, subscriptions, t) if sub_id else None
        if env is None:
            name = display_name(vm)
            yield (
                vm,
                "",
                "",
                None,
                errored(
                    vm.resource_id,
                    f"仮想マシン {name} のサブスクリプション {sub_id} の文書が収集されておらず、本番かどうか"
                    "（バックアップの対象か）を判定できません",
                    f"virtual machine {name}: subscription {sub_id} was not collected, so whether it is production "
                    "(and must be backed up) cannot be decided",
                    vm,
                ),
            )
            continue
        if env.production:
            where_ja = f"（本番サブスクリプション {env.name}、{env.basis_ja}）"
            where_en = f" (production subscription {env.name}, {env.basis_en})"
            yield vm, where_ja, where_en, env.evidence, None


def _items_by_vm(facts: FactSet) -> dict[str, list[Evidence]]:
    """Backup protected items by the lower-cased id of the VM they back up (sourceResourceId, or virtualMachineId)."""
    out: dict[str, list[Evidence]] = {}
    for item in facts.of(BACKUP_PROTECTED_ITEM):
        p = props(item.content)
        seen = set()
        for key in ("sourceResourceId", "virtualMachineId"):
            value = p.get(key)
            if isinstance(value, str) and value.strip() and norm_id(value) not in seen:
                seen.add(norm_id(value))
                out.setdefault(norm_id(value), []).append(item)
    return out


_SCOPE_RULE_JA = (
    "対象は backup_vm_scope が production なら本番サブスクリプション（production_subscriptions に記載、"
    "記載がなければ environment_tag の値が production_tag_values のいずれか）の仮想マシン、all ならすべての仮想マシン。"
)
_SCOPE_RULE_EN = (
    "The VMs judged are, with backup_vm_scope production, those in production subscriptions (listed in "
    "production_subscriptions, or, when that list is empty, whose environment_tag value is one of "
    "production_tag_values), and with all, every VM."
)


@check(
    id="vm-backup-protected",
    title_ja="仮想マシンが Azure Backup で保護されている",
    title_en="Virtual machines are protected by Azure Backup",
    judges=(VM_TYPE,),
    reads=(FactKind.RESOURCE, FactKind.SUBSCRIPTION, RECOVERY_VAULT, BACKUP_PROTECTED_ITEM),
    # A VM is classified by its own subscription's document; every vault and protected item is read from the
    # whole run (an item is matched by the VM's id wherever its vault lies).
    per_subscription=True,
    across=(RECOVERY_VAULT, BACKUP_PROTECTED_ITEM),
    api="Resources - List: virtual machines (id, name, type); Subscriptions - List: tags; Vaults - List By "
    "Subscription Id; Backup Protected Items - List ($filter=backupManagementType eq 'AzureIaasVM', one call per "
    "vault): properties.sourceResourceId, virtualMachineId, protectionState.",
    rule_ja="対象の仮想マシンごとに、いずれかの Recovery Services コンテナーの保護項目（sourceResourceId または "
    "virtualMachineId がその仮想マシンの id）があれば合格、なければ不合格。保護項目が見つからず、コンテナーまたは"
    "保護項目の一覧のどれかを収集できなかったときはエラー。" + _SCOPE_RULE_JA,
    rule_en="For each VM judged, passes when a Recovery Services vault has a backup protected item whose "
    "sourceResourceId or virtualMachineId is the VM's id, and fails when none has. When no item is found and a "
    "vault list or a vault's protected items could not be collected, the finding is an error. " + _SCOPE_RULE_EN,
    remediation_ja="仮想マシンのバックアップを有効にする（ポータルの仮想マシン > バックアップ、または "
    "az backup protection enable-for-vm --vault-name <コンテナー> --vm <VM> --policy-name <ポリシー>）。",
    remediation_en="Enable backup for the VM (portal: the VM > Backup, or az backup protection enable-for-vm "
    "--vault-name <vault> --vm <vm> --policy-name <policy>).",
    thresholds=("backup_vm_scope", "production_subscriptions", "environment_tag", "production_tag_values"),
)
def vm_backup_protected(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    by_vm = _items_by_vm(facts)
    vaults = facts.of(RECOVERY_VAULT)
    missing = _collection_errors(facts)
    for vm, where_ja, where_en, sub_ev, problem in _vms_in_scope(facts, thresholds):
        if problem is not None:
            yield problem
            continue
        name = display_name(vm)
        items = by_vm.get(norm_id(vm.resource_id), [])
        if items:
            found_ja = "、".join(
                f"コンテナー {_vault_of(i)}（protectionState {props(i.content).get('protectionState') or '未設定'}）"
                for i in items
            )
            found_en = ", ".join(
                f"vault {_vault_of(i)} (protectionState {props(i.content).get('protectionState') or 'not set'})"
                for i in items
            )
            yield passed(
                vm.resource_id,
                f"仮想マシン {name}{where_ja} は Azure Backup の保護項目です: {found_ja}",
                f"virtual machine {name}{where_en} is a backup protected item in {found_en}",
                vm,
                sub_ev,
                items,
            )
        elif missing:
            scopes = ", ".join(dict.fromkeys(e.scope for e in missing))
            yield errored(
                vm.resource_id,
                f"仮想マシン {name}{where_ja} の保護項目は収集できた {len(vaults)} 件のコンテナーにありませんが、"
                f"収集できなかったコンテナーまたは保護項目の一覧があるため判定できません（{scopes}）",
                f"virtual machine {name}{where_en} is not a protected item in the {len(vaults)} vault(s) collected, "
                f"but vaults or protected items could not be read in {scopes}",
                vm,
                sub_ev,
            )
        else:
            yield failed(
                vm.resource_id,
                f"仮想マシン {name}{where_ja} はどの Recovery Services コンテナーでもバックアップされていません"
                f"（コンテナー {len(vaults)} 件を確認）",
                f"virtual machine {name}{where_en} is not backed up in any Recovery Services vault "
                f"({len(vaults)} vault(s) checked)",
                vm,
                sub_ev,
                vaults,
            )


def _judge_backup_item(item: Evidence, max_age: timedelta) -> tuple[str, str, str]:
    """(status, ja, en) of one VM backup item: protectionState Protected, lastBackupStatus a success and
    lastBackupTime within max_age of collection. While a backup is running (InProgress) the outcome of the last
    one is not shown, so the newest recovery point (lastRecoveryPoint) is judged against max_age instead."""
    p = props(item.content)
    vault = _vault_of(item)
    state, status = p.get("protectionState"), p.get("lastBackupStatus")
    running = str(status or "").lower() == "inprogress"
    time_field = "lastRecoveryPoint" if running else "lastBackupTime"
    what_ja, what_en = (
        ("最新の復旧ポイント", "newest recovery point") if running else ("最終バックアップ", "last backup")
    )
    when = p.get(time_field)
    hours = int(max_age.total_seconds() // 3600)
    head_ja, head_en = f"コンテナー {vault}", f"vault {vault}"
    ok_ja = ok_en = ""
    problems_ja: list[str] = []
    problems_en: list[str] = []
    if str(state or "").lower() != "protected":
        problems_ja.append(f"protectionState が {state or '未設定'}（Protected が必要）")
        problems_en.append(f"protectionState is {state or 'not set'} (Protected required)")
    if not running and str(status or "").lower() not in _BACKUP_OK:
        problems_ja.append(f"lastBackupStatus が {status or '未設定'}（Completed が必要）")
        problems_en.append(f"lastBackupStatus is {status or 'not set'} (Completed required)")
    at = parse_time(when)
    if when in (None, ""):
        problems_ja.append(f"{time_field} がありません（完了したバックアップがない）")
        problems_en.append(f"{time_field} is not set (no backup has completed)")
    elif at is None:
        return (
            "error",
            f"{head_ja}: {time_field} の値 {when} を解釈できません",
            f"{head_en}: {time_field} {when} is not a timestamp",
        )
    else:
        age = observed_at(item) - at
        age_h = max(age.total_seconds(), 0) / 3600
        if age > max_age:
            problems_ja.append(f"{what_ja} {when} は収集時点で {age_h:.0f} 時間前（{hours} 時間以内が必要）")
            problems_en.append(f"{what_en} {when} was {age_h:.0f} hours before collection ({hours} hours at most)")
        else:
            ok_ja = f"{what_ja} {when}（収集時点で {age_h:.0f} 時間前、{hours} 時間以内）"
            ok_en = f"{what_en} {when} ({age_h:.0f} hours before collection, {hours} at most)"
    if problems_en:
        return "fail", f"{head_ja}: {'、'.join(problems_ja)}", f"{head_en}: {'; '.join(problems_en)}"
    return (
        "pass",
        f"{head_ja}: protectionState {state}、lastBackupStatus {status}、{ok_ja}",
        f"{head_en}: protectionState {state}, lastBackupStatus {status}, {ok_en}",
    )


@check(
    id="vm-backup-recent",
    title_ja="仮想マシンのバックアップが直近に成功している",
    title_en="Virtual machine backups succeeded recently",
    judges=(VM_TYPE,),
    reads=(FactKind.RESOURCE, FactKind.SUBSCRIPTION, RECOVERY_VAULT, BACKUP_PROTECTED_ITEM),
    # A VM is classified by its own subscription's document; every vault and protected item is read from the
    # whole run (an item is matched by the VM's id wherever its vault lies).
    per_subscription=True,
    across=(RECOVERY_VAULT, BACKUP_PROTECTED_ITEM),
    api="Resources - List: virtual machines; Subscriptions - List: tags; Vaults - List By Subscription Id; Backup "
    "Protected Items - List ($filter=backupManagementType eq 'AzureIaasVM', one call per vault): "
    "properties.sourceResourceId, virtualMachineId, protectionState, lastBackupStatus, lastBackupTime, "
    "lastRecoveryPoint.",
    rule_ja="Azure Backup の保護項目がある対象の仮想マシンごとに、いずれかの保護項目が protectionState Protected、"
    "lastBackupStatus Completed（CompletedWithWarnings、Healthy も可）で、lastBackupTime が収集時点から "
    "backup_max_age_hours 時間以内なら合格、どの保護項目もそうでなければ不合格（保護停止・失敗・古いバックアップ・"
    "未実行）。バックアップ実行中（InProgress）は最新の復旧ポイント lastRecoveryPoint の時刻で判定する。時刻を解釈"
    "できないときはエラー。保護項目のない仮想マシンは vm-backup-protected が判定する。" + _SCOPE_RULE_JA,
    rule_en="For each VM judged that has backup protected items, passes when one of them has protectionState "
    "Protected, lastBackupStatus Completed (CompletedWithWarnings and Healthy also count) and a lastBackupTime at "
    "most backup_max_age_hours before collection; fails when none has (protection stopped, a failed, old or "
    "missing backup). While a backup is running (InProgress), the newest recovery point (lastRecoveryPoint) is "
    "judged instead. An unreadable time is an error. VMs with no protected item are judged by "
    "vm-backup-protected. " + _SCOPE_RULE_EN,
    remediation_ja="バックアップ ジョブの失敗原因（エージェント、拡張機能、ネットワーク、ディスク）を解消して "
    "az backup protection backup-now で取り直し、保護が停止していれば再開する。バックアップ ポリシーは毎日実行にする。",
    remediation_en="Fix the cause of the failed backup jobs (VM agent, extension, network, disks), take a backup "
    "now (az backup protection backup-now) and resume protection if it was stopped; keep a daily backup policy.",
    thresholds=(
        "backup_max_age_hours",
        "backup_vm_scope",
        "production_subscriptions",
        "environment_tag",
        "production_tag_values",
    ),
)
def vm_backup_recent(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    by_vm = _items_by_vm(facts)
    max_age = timedelta(hours=thresholds.backup_max_age_hours)
    for vm, where_ja, where_en, sub_ev, problem in _vms_in_scope(facts, thresholds):
        items = by_vm.get(norm_id(vm.resource_id), [])
        if problem is not None or not items:
            continue  # an unclassifiable VM is reported by vm-backup-protected; an unprotected one fails there
        name = display_name(vm)
        judged = [_judge_backup_item(i, max_age) for i in items]
        ok = [j for j in judged if j[0] == "pass"]
        subject_ja, subject_en = (
            f"仮想マシン {name}{where_ja} のバックアップ",
            f"virtual machine {name}{where_en} backup",
        )
        if ok:
            yield passed(vm.resource_id, f"{subject_ja}: {ok[0][1]}", f"{subject_en}: {ok[0][2]}", vm, sub_ev, items)
            continue
        bad = [j for j in judged if j[0] == "fail"]
        shown_ja = "; ".join(j[1] for j in (bad or judged))
        shown_en = "; ".join(j[2] for j in (bad or judged))
        outcome = failed if bad else errored
        yield outcome(vm.resource_id, f"{subject_ja}: {shown_ja}", f"{subject_en}: {shown_en}", vm, sub_ev, items)


def _security(vault: Evidence) -> dict[str, Any] | None:
    settings = props(vault.content).get("securitySettings")
    return settings if isinstance(settings, dict) else None


@check(
    id="recovery-vault-soft-delete",
    title_ja="Recovery Services コンテナーの論理的な削除が有効",
    title_en="Recovery Services vaults keep deleted backups (soft delete)",
    judges=(VAULT_TYPE,),
    reads=(RECOVERY_VAULT,),
    api="Vaults - List By Subscription Id: properties.securitySettings.softDeleteSettings.softDeleteState, "
    "softDeleteRetentionPeriodInDays.",
    rule_ja="softDeleteState が Enabled または AlwaysON（無効化できない）なら合格、Disabled（または Invalid）なら"
    "不合格。"
    "securitySettings または softDeleteState が返されないとき、値を解釈できないときはエラー。",
    rule_en="Passes when softDeleteState is Enabled or AlwaysON (cannot be turned off); fails when it is Disabled "
    "(or Invalid). An error when securitySettings or softDeleteState is not returned, or the value is not understood.",
    remediation_ja="コンテナーの [プロパティ] > [セキュリティ設定] で論理的な削除を有効にし、可能なら常時オン"
    "（AlwaysON）にする（az backup vault update --soft-delete-state AlwaysON）。",
    remediation_en="Turn soft delete on in the vault's Properties > Security settings, and make it always-on where "
    "possible (az backup vault update --soft-delete-state AlwaysON).",
)
def recovery_vault_soft_delete(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for vault in facts.of(RECOVERY_VAULT):
        ja, en = _subject(vault)
        settings = _security(vault)
        state = field(settings, "softDeleteSettings", "softDeleteState")
        days = field(settings, "softDeleteSettings", "softDeleteRetentionPeriodInDays")
        kept_ja = f"、保持 {days} 日" if days is not None else ""
        kept_en = f", kept {days} days" if days is not None else ""
        if not isinstance(state, str) or not state:
            what = "securitySettings" if settings is None else "securitySettings.softDeleteSettings.softDeleteState"
            yield errored(
                vault.resource_id,
                f"{ja} の {what} が返されず、論理的な削除の状態を判定できません",
                f"{en}: {what} was not returned, so the soft delete state cannot be judged",
                vault,
            )
        elif state.lower() in _SOFT_DELETE_ON:
            yield passed(
                vault.resource_id,
                f"{ja} の softDeleteState は {state} です{kept_ja}",
                f"{en} softDeleteState is {state}{kept_en}",
                vault,
            )
        elif state.lower() in _SOFT_DELETE_OFF:
            yield failed(
                vault.resource_id,
                f"{ja} の softDeleteState が {state} です（Enabled または AlwaysON が必要）: 削除されたバックアップは"
                "すぐに消えます",
                f"{en} softDeleteState is {state} (Enabled or AlwaysON required): deleted backups are gone at once",
                vault,
            )
        else:
            yield errored(
                vault.resource_id,
                f"{ja} の softDeleteState の値 {state} を解釈できません",
                f"{en} softDeleteState has an unrecognised value {state}",
                vault,
            )


@check(
    id="recovery-vault-immutable",
    title_ja="Recovery Services コンテナーの不変性がロックされている（ランサムウェア対策）",
    title_en="Recovery Services vaults are immutable and locked (ransomware resistance)",
    judges=(VAULT_TYPE,),
    reads=(RECOVERY_VAULT,),
    api="Vaults - List By Subscription Id: properties.securitySettings.immutabilitySettings.state.",
    rule_ja="immutabilitySettings.state が Locked なら合格。Unlocked（コンテナーの権限があれば無効化できる）、"
    "Disabled、または immutabilitySettings がない（既定で無効）なら不合格。securitySettings が返されないとき、"
    "値を解釈できないときはエラー。",
    rule_en="Passes when immutabilitySettings.state is Locked. Fails when it is Unlocked (anyone with rights on "
    "the vault can turn it off), Disabled, or immutabilitySettings is absent (off by default). An error when "
    "securitySettings is not returned or the value is not understood.",
    remediation_ja="コンテナーの [プロパティ] > [不変コンテナー] で不変性を有効にし、動作を確認したうえでロックする"
    "（az backup vault update --immutability-state Locked）。ロックは元に戻せない。",
    remediation_en="Enable immutability in the vault's Properties > Immutable vault and, once verified, lock it "
    "(az backup vault update --immutability-state Locked); locking cannot be undone.",
)
def recovery_vault_immutable(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for vault in facts.of(RECOVERY_VAULT):
        ja, en = _subject(vault)
        settings = _security(vault)
        if settings is None:
            yield errored(
                vault.resource_id,
                f"{ja} の securitySettings が返されず、不変性を判定できません",
                f"{en}: securitySettings was not returned, so immutability cannot be judged",
                vault,
            )
            continue
        state = field(settings, "immutabilitySettings", "state")
        if state is None:
            yield failed(
                vault.resource_id,
                f"{ja} に immutabilitySettings がありません（不変性は既定で無効。Locked が必要）",
                f"{en} has no immutabilitySettings (immutability is off by default; Locked required)",
                vault,
            )
        elif str(state).lower() == "locked":
            yield passed(
                vault.resource_id,
                f"{ja} の不変性は Locked です（無効化できません）",
                f"{en} immutability is Locked (cannot be turned off)",
                vault,
            )
        elif str(state).lower() == "unlocked":
            yield failed(
                vault.resource_id,
                f"{ja} の不変性が Unlocked です（コンテナーの権限があれば無効化できるため Locked が必要）",
                f"{en} immutability is Unlocked (anyone with rights on the vault can turn it off; Locked required)",
                vault,
            )
        elif str(state).lower() == "disabled":
            yield failed(
                vault.resource_id,
                f"{ja} の不変性が Disabled です（Locked が必要）",
                f"{en} immutability is Disabled (Locked required)",
                vault,
            )
        else:
            yield errored(
                vault.resource_id,
                f"{ja} の immutabilitySettings.state の値 {state} を解釈できません",
                f"{en} immutabilitySettings.state has an unrecognised value {state}",
                vault,
            )


@check(
    id="recovery-vault-geo-redundant-in-japan",
    title_ja="Recovery Services コンテナーが国内のペア リージョンへ地理冗長で保管している",
    title_en="Recovery Services vaults keep a geo-redundant copy in the paired region in Japan",
    judges=(VAULT_TYPE,),
    reads=(RECOVERY_VAULT,),
    api="Vaults - List By Subscription Id: location, properties.redundancySettings.standardTierStorageRedundancy, "
    "crossRegionRestore (reported, not judged).",
    rule_ja="standardTierStorageRedundancy が GeoRedundant で、コンテナーの location とその Azure ペア リージョン"
    "（japaneast ↔ japanwest など）がともに allowed_regions にあれば合格。LocallyRedundant・ZoneRedundant"
    "（別リージョンに複製がない）、location またはペア リージョンが allowed_regions にないときは不合格。"
    "redundancySettings が返されないとき、値やペア リージョンが不明なときはエラー。crossRegionRestore は報告のみ。",
    rule_en="Passes when standardTierStorageRedundancy is GeoRedundant and both the vault's location and its Azure "
    "paired region (japaneast <-> japanwest, ...) are in allowed_regions. Fails on LocallyRedundant or "
    "ZoneRedundant (no copy in another region), or when the location or the paired region is outside "
    "allowed_regions. An error when redundancySettings is not returned, or the value or the paired region is not "
    "known. crossRegionRestore is reported, not judged.",
    remediation_ja="バックアップ項目を登録する前にコンテナーのストレージ冗長性を geo 冗長に設定する（登録後は変更"
    "できないため、新しい GRS コンテナーを作り保護を移す）。必要ならリージョンをまたがる復元を有効にする。",
    remediation_en="Set the vault's storage redundancy to geo-redundant before protecting any item (it cannot be "
    "changed afterwards: create a GRS vault and move protection to it); enable Cross Region Restore if needed.",
    thresholds=("allowed_regions",),
)
def recovery_vault_geo_redundant_in_japan(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    allowed = {normalise_location(r) for r in thresholds.allowed_regions}
    allowed_text = ", ".join(thresholds.allowed_regions)
    for vault in facts.of(RECOVERY_VAULT):
        ja, en = _subject(vault)
        location = normalise_location(str(vault.content.get("location") or ""))
        settings = props(vault.content).get("redundancySettings")
        redundancy = field(settings, "standardTierStorageRedundancy")
        crr = field(settings, "crossRegionRestore") or "未設定"
        crr_en = field(settings, "crossRegionRestore") or "not set"
        if not isinstance(redundancy, str) or not redundancy:
            yield errored(
                vault.resource_id,
                f"{ja}（{location or 'location 不明'}）の redundancySettings.standardTierStorageRedundancy が"
                "返されず、冗長性を判定できません",
                f"{en} ({location or 'no location'}): redundancySettings.standardTierStorageRedundancy was not "
                "returned, so its redundancy cannot be judged",
                vault,
            )
            continue
        if redundancy.lower() in ("locallyredundant", "zoneredundant"):
            yield failed(
                vault.resource_id,
                f"{ja} の standardTierStorageRedundancy が {redundancy} です: バックアップは {location} の"
                "リージョン内にしかありません（GeoRedundant が必要）",
                f"{en} standardTierStorageRedundancy is {redundancy}: backups stay in region {location} only "
                "(GeoRedundant required)",
                vault,
            )
            continue
        if redundancy.lower() != "georedundant":
            yield errored(
                vault.resource_id,
                f"{ja} の standardTierStorageRedundancy の値 {redundancy} を解釈できません",
                f"{en} standardTierStorageRedundancy has an unrecognised value {redundancy}",
                vault,
            )
            continue
        pair = REGION_PAIRS.get(location)
        if location not in allowed:
            yield failed(
                vault.resource_id,
                f"{ja} は GeoRedundant ですが location {location or '未設定'} が許可リージョン外です"
                f"（許可リージョン: {allowed_text}）",
                f"{en} is GeoRedundant but its location {location or 'not set'} is outside the allowed regions "
                f"({allowed_text})",
                vault,
            )
        elif pair is None:
            yield errored(
                vault.resource_id,
                f"{ja} は {location} で GeoRedundant ですが、{location} のペア リージョンが不明のため"
                "複製先を判定できません",
                f"{en} is GeoRedundant in {location}, but the paired region of {location} is not known, so where "
                "the second copy is kept cannot be judged",
                vault,
            )
        elif pair not in allowed:
            yield failed(
                vault.resource_id,
                f"{ja} は {location} で GeoRedundant ですが、複製先のペア リージョン {pair} が許可リージョン外です"
                f"（許可リージョン: {allowed_text}）",
                f"{en} is GeoRedundant in {location}, but its copy goes to the paired region {pair}, outside the "
                f"allowed regions ({allowed_text})",
                vault,
            )
        else:
            yield passed(
                vault.resource_id,
                f"{ja} は {location} で GeoRedundant、複製先はペア リージョン {pair}（許可リージョン内）、"
                f"crossRegionRestore は {crr} です",
                f"{en} is GeoRedundant in {location} with its copy in the paired region {pair} (allowed), "
                f"crossRegionRestore {crr_en}",
                vault,
            )


@check(
    id="site-recovery-test-failover-recent",
    title_ja="Site Recovery のテスト フェールオーバーを定期的に実施している",
    title_en="Site Recovery test failovers are done regularly",
    judges=(REPLICATED_ITEM_TYPE,),
    reads=(RECOVERY_VAULT, REPLICATION_PROTECTED_ITEM),
    api="Vaults - List By Subscription Id; Replication Protected Items - List (one call per vault): "
    "properties.friendlyName, protectionState, replicationHealth, lastSuccessfulTestFailoverTime.",
    rule_ja="Site Recovery でレプリケートされている項目ごとに、lastSuccessfulTestFailoverTime が収集時点から "
    "dr_test_max_age_days 日以内なら合格、それより古い、または未実施（値がない）なら不合格。値を解釈できないときは"
    "エラー。レプリケート項目のないコンテナーは判定しない（Site Recovery を使っていなければ所見はない）。",
    rule_en="For each item Site Recovery replicates, passes when lastSuccessfulTestFailoverTime is at most "
    "dr_test_max_age_days before collection; fails when it is older, or absent (never tested). An unreadable value "
    "is an error. Vaults without replicated items are not judged (no findings where Site Recovery is not used).",
    remediation_ja="復旧計画または項目ごとにテスト フェールオーバーを分離ネットワークで実施し、結果を確認してから "
    "クリーンアップする（az site-recovery protected-item test-failover 等）。年 1 回以上の訓練として記録する。",
    remediation_en="Run a test failover of the recovery plan or item into an isolated network, verify the result and "
    "clean it up (e.g. from the portal's Test failover); record it as at least a yearly DR exercise.",
    thresholds=("dr_test_max_age_days",),
)
def site_recovery_test_failover_recent(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    days = thresholds.dr_test_max_age_days
    for item in facts.of(REPLICATION_PROTECTED_ITEM):
        p = props(item.content)
        name = p.get("friendlyName") or display_name(item)
        state = p.get("protectionState") or "?"
        health = p.get("replicationHealth") or "?"
        ja = (
            f"コンテナー {_vault_of(item)} のレプリケート項目 {name}"
            f"（protectionState {state}、replicationHealth {health}）"
        )
        en = f"replicated item {name} in vault {_vault_of(item)} (protectionState {state}, replicationHealth {health})"
        when = p.get("lastSuccessfulTestFailoverTime")
        at = parse_time(when)
        if when in (None, ""):
            yield failed(
                item.resource_id,
                f"{ja} は成功したテスト フェールオーバーの記録がありません（{days} 日以内が必要）",
                f"{en} has no successful test failover on record ({days} days at most required)",
                item,
            )
        elif at is None:
            yield errored(
                item.resource_id,
                f"{ja} の lastSuccessfulTestFailoverTime の値 {when} を解釈できません",
                f"{en}: lastSuccessfulTestFailoverTime {when} is not a timestamp",
                item,
            )
        else:
            delta = observed_at(item) - at
            age = max(delta.days, 0)
            if delta > timedelta(days=days):
                yield failed(
                    item.resource_id,
                    f"{ja} の最後に成功したテスト フェールオーバーは {when}"
                    f"（収集時点で {age} 日前、{days} 日以内が必要）",
                    f"{en}: last successful test failover {when} was {age} days before collection "
                    f"({days} days at most)",
                    item,
                )
            else:
                yield passed(
                    item.resource_id,
                    f"{ja} の最後に成功したテスト フェールオーバーは {when}（収集時点で {age} 日前、{days} 日以内）",
                    f"{en}: last successful test failover {when}, {age} days before collection ({days} at most)",
                    item,
                )
