"""Managed disks: encryption at rest and the kind of key it uses."""

from __future__ import annotations

from collections.abc import Iterator

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, field, props, shown
from controls.model import FactSet, Thresholds

# Disks - List (collector.fetchers.compute_disks).
MANAGED_DISK = "managed_disk"

_TYPES = {
    "encryptionatrestwithplatformkey": ("プラットフォーム管理キー", "platform-managed key"),
    "encryptionatrestwithcustomerkey": ("カスタマー管理キー", "customer-managed key"),
    "encryptionatrestwithplatformandcustomerkeys": (
        "プラットフォーム管理キーとカスタマー管理キーの二重暗号化",
        "double encryption with platform-managed and customer-managed keys",
    ),
}


@check(
    id="disk-encryption",
    title_ja="マネージドディスクが保存時に暗号化されている（鍵の種類を記録）",
    title_en="Managed disk is encrypted at rest (key type recorded)",
    judges=("microsoft.compute/disks",),
    reads=(MANAGED_DISK,),
    per_subscription=True,  # one document at a time
    api="Disks - List (Microsoft.Compute/disks, api-version 2026-03-02): properties.encryption.type, "
    "properties.encryption.diskEncryptionSetId, properties.encryptionSettingsCollection.enabled (Azure Disk "
    "Encryption)",
    rule_ja="encryption.type が EncryptionAtRestWithPlatformKey・EncryptionAtRestWithCustomerKey・"
    "EncryptionAtRestWithPlatformAndCustomerKeys のいずれかなら合格（Azure のサーバー側暗号化は AES-256）。"
    "require_customer_managed_keys が true のときはプラットフォーム管理キーのみを不合格とする。type が読めない・"
    "未知の値ならエラー。ディスク暗号化セットと Azure Disk Encryption の有無を理由に記録する。",
    rule_en="Passes when encryption.type is EncryptionAtRestWithPlatformKey, EncryptionAtRestWithCustomerKey or "
    "EncryptionAtRestWithPlatformAndCustomerKeys (Azure server-side encryption is AES-256). With "
    "require_customer_managed_keys true, a platform-managed key alone fails. A missing or unknown type is an error. "
    "The disk encryption set and Azure Disk Encryption are recorded in the reason.",
    remediation_ja="カスタマー管理キーを求める場合は、Key Vault のキーでディスク暗号化セットを作成し、"
    "ディスクに割り当てる"
    "（az disk update --encryption-type EncryptionAtRestWithCustomerKey --disk-encryption-set …）。",
    remediation_en="Where customer-managed keys are required, create a disk encryption set with a Key Vault key and "
    "assign it to the disk (az disk update --encryption-type EncryptionAtRestWithCustomerKey "
    "--disk-encryption-set …).",
    thresholds=("require_customer_managed_keys",),
)
def disk_encryption(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for disk in facts.of(MANAGED_DISK):
        name = display_name(disk)
        subject_ja, subject_en = f"マネージドディスク {name}", f"managed disk {name}"
        p = props(disk.content)
        etype = field(p, "encryption", "type")
        kind = _TYPES.get(etype.strip().lower()) if isinstance(etype, str) else None
        if kind is None:
            tj, te = shown(etype)
            yield errored(
                disk.resource_id,
                f"{subject_ja} の encryption.type {tj} を解釈できません",
                f"{subject_en} encryption.type {te} cannot be interpreted",
                disk,
            )
            continue
        des = field(p, "encryption", "diskEncryptionSetId")
        ade = field(p, "encryptionSettingsCollection", "enabled") is True
        des_name = str(des).rstrip("/").rsplit("/", 1)[-1] if des else None
        extra_ja = f"、ディスク暗号化セット {des_name}" if des_name else ""
        extra_en = f", disk encryption set {des_name}" if des_name else ""
        extra_ja += "、Azure Disk Encryption 有効" if ade else ""
        extra_en += ", Azure Disk Encryption on" if ade else ""
        detail_ja, detail_en = f"{etype}（{kind[0]}{extra_ja}）", f"{etype} ({kind[1]}{extra_en})"
        if thresholds.require_customer_managed_keys and etype.strip().lower() == "encryptionatrestwithplatformkey":
            yield failed(
                disk.resource_id,
                f"{subject_ja} はプラットフォーム管理キーのみで暗号化されています: {detail_ja}。"
                "require_customer_managed_keys によりカスタマー管理キーが必要",
                f"{subject_en} is encrypted with a platform-managed key only: {detail_en}; "
                "require_customer_managed_keys requires a customer-managed key",
                disk,
            )
        else:
            yield passed(
                disk.resource_id,
                f"{subject_ja} は保存時に暗号化されています: {detail_ja}",
                f"{subject_en} is encrypted at rest: {detail_en}",
                disk,
            )
