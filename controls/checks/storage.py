"""Storage accounts: TLS minimum and HTTPS-only transfer, network access, encryption at rest, blob soft
delete and versioning, geo-redundancy within the allowed regions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, error_covering, field, min_tls_outcome, norm_id, props, shown
from controls.checks.inventory import normalise_location
from controls.model import Evidence, FactKind, FactSet, Thresholds

# Blob Services - List of each account (collector.fetchers.storage).
STORAGE_BLOB_SERVICE = "storage_blob_service"
# Account kinds with no blob service (premium file shares only).
NO_BLOB_SERVICE = frozenset({"filestorage"})
# Redundancy SKUs that keep a copy in a second region (the paired secondary location).
GEO_REDUNDANT = frozenset({"grs", "ragrs", "gzrs", "ragzrs"})


def _subject(account: Evidence) -> tuple[str, str]:
    name = display_name(account)
    return f"ストレージアカウント {name}", f"storage account {name}"


@check(
    id="storage-min-tls-1-2",
    title_ja="ストレージアカウントの最小 TLS バージョンが TLS1_2 以上",
    title_en="Storage account minimum TLS version is TLS1_2 or newer",
    judges=("microsoft.storage/storageaccounts",),
    reads=(FactKind.STORAGE_ACCOUNT,),
    per_subscription=True,  # an account and its blob service lie in one subscription
    api="Storage Accounts - List (Microsoft.Storage/storageAccounts): properties.minimumTlsVersion",
    rule_ja="minimumTlsVersion が TLS1_2 または TLS1_3 なら合格。未設定は TLS1_0 を受け付けるため不合格。",
    rule_en="Passes when minimumTlsVersion is TLS1_2 or TLS1_3. A missing value means TLS1_0 is accepted and fails.",
    remediation_ja="ストレージアカウントの [構成] で最小 TLS バージョンを 1.2 にする"
    "（az storage account update --min-tls-version TLS1_2）。",
    remediation_en="Set Minimum TLS version to 1.2 under the account's Configuration "
    "(az storage account update --min-tls-version TLS1_2).",
)
def storage_min_tls(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for account in facts.of(FactKind.STORAGE_ACCOUNT):
        ja, en = _subject(account)
        yield min_tls_outcome(
            account.resource_id,
            ja,
            en,
            "minimumTlsVersion",
            props(account.content).get("minimumTlsVersion"),
            "TLS1_2",
            account,
        )


@check(
    id="storage-https-only",
    title_ja="ストレージアカウントが HTTPS のみを受け付ける",
    title_en="Storage account accepts HTTPS only",
    judges=("microsoft.storage/storageaccounts",),
    reads=(FactKind.STORAGE_ACCOUNT,),
    per_subscription=True,  # an account and its blob service lie in one subscription
    api="Storage Accounts - List (Microsoft.Storage/storageAccounts): properties.supportsHttpsTrafficOnly",
    rule_ja="supportsHttpsTrafficOnly が true なら合格。false または未設定は不合格。",
    rule_en="Passes when supportsHttpsTrafficOnly is true; false or missing fails.",
    remediation_ja="ストレージアカウントの [構成] で「安全な転送が必須」を有効にする"
    "（az storage account update --https-only true）。",
    remediation_en="Enable Secure transfer required under the account's Configuration "
    "(az storage account update --https-only true).",
)
def storage_https_only(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for account in facts.of(FactKind.STORAGE_ACCOUNT):
        subject_ja, subject_en = _subject(account)
        value = props(account.content).get("supportsHttpsTrafficOnly")
        ja, en = shown(value)
        if value is True:
            yield passed(
                account.resource_id,
                f"{subject_ja} の supportsHttpsTrafficOnly は true です",
                f"{subject_en} supportsHttpsTrafficOnly is true",
                account,
            )
        else:
            yield failed(
                account.resource_id,
                f"{subject_ja} の supportsHttpsTrafficOnly が {ja} です（true が必要）",
                f"{subject_en} supportsHttpsTrafficOnly is {en} (true required)",
                account,
            )


def _tag(doc: dict[str, Any], name: str) -> tuple[str, Any] | None:
    """(the tag's own name, its value) for a tag named `name` case-insensitively, or None."""
    tags = doc.get("tags")
    if not isinstance(tags, dict):
        return None
    return next(((k, v) for k, v in tags.items() if str(k).lower() == name.lower()), None)


def medical_scope(account: Evidence, thresholds: Thresholds) -> tuple[bool, str, str]:
    """Whether an account holds medical data by its classification tag, and the basis in both languages.

    Tagged with one of medical_data_tag_values: yes. Without the tag: assumed yes (nothing is skipped
    for want of a tag). Tagged with another value: no."""
    tag = _tag(account.content, thresholds.medical_data_tag)
    if tag is None:
        name = thresholds.medical_data_tag
        ja = f"タグ {name} がないため医療データありとして扱う"
        return True, ja, f"no {name} tag: treated as holding medical data"
    name, value = tag
    wanted = {v.strip().lower() for v in thresholds.medical_data_tag_values}
    return str(value).strip().lower() in wanted, f"タグ {name}={value}", f"tag {name}={value}"


def _is_value(value: Any, expected: str) -> bool:
    return isinstance(value, str) and value.strip().lower() == expected.lower()


def _network_rules(acls: dict[str, Any]) -> tuple[str, str]:
    """What networkAcls still let in, in both languages."""
    ips = [str(r.get("value")) for r in acls.get("ipRules") or [] if isinstance(r, dict)]
    vnets = [str(r.get("id", "")).rstrip("/").rsplit("/", 1)[-1] for r in acls.get("virtualNetworkRules") or []
             if isinstance(r, dict)]  # fmt: skip
    bypass = acls.get("bypass")
    parts_ja, parts_en = [], []
    if ips:
        parts_ja.append(f"許可 IP {', '.join(ips)}")
        parts_en.append(f"allowed IPs {', '.join(ips)}")
    if vnets:
        parts_ja.append(f"許可サブネット {', '.join(vnets)}")
        parts_en.append(f"allowed subnets {', '.join(vnets)}")
    if bypass:
        parts_ja.append(f"bypass {bypass}")
        parts_en.append(f"bypass {bypass}")
    if not parts_ja:
        return "IP・仮想ネットワークの許可規則なし", "no IP or virtual network allow rules"
    return "、".join(parts_ja), ", ".join(parts_en)


@check(
    id="storage-public-network-restricted",
    title_ja="ストレージアカウントがパブリックネットワークからのアクセスを制限している",
    title_en="Storage account restricts public network access",
    judges=("microsoft.storage/storageaccounts",),
    reads=(FactKind.STORAGE_ACCOUNT,),
    per_subscription=True,  # an account and its blob service lie in one subscription
    api="Storage Accounts - List (Microsoft.Storage/storageAccounts, api-version 2026-09-01): "
    "properties.publicNetworkAccess, properties.networkAcls (defaultAction, ipRules, virtualNetworkRules, "
    "bypass), properties.allowBlobPublicAccess",
    rule_ja="publicNetworkAccess が Disabled、または networkAcls.defaultAction が Deny"
    "（許可規則に一致しない通信を拒否）"
    "で、かつ allowBlobPublicAccess が true でなければ合格（未設定は Azure の解釈どおり false）。"
    "Deny の場合は残る許可 IP・サブネットを理由に示す。",
    rule_en="Passes when publicNetworkAccess is Disabled or networkAcls.defaultAction is Deny (traffic matching no "
    "allow rule is refused), and allowBlobPublicAccess is not true (not set reads as false, as Azure interprets "
    "it). With Deny, the finding lists the IP and subnet rules still allowed.",
    remediation_ja="ストレージアカウントの [ネットワーク] で「パブリックネットワークアクセス」を無効にして"
    "プライベートエンドポイントを使うか、"
    "「選択した仮想ネットワークと IP アドレスから有効」にする（az storage account update --default-action Deny）。"
    "匿名 BLOB アクセスは無効にする（--allow-blob-public-access false）。",
    remediation_en="Under the account's Networking, disable public network access and use a private endpoint, or "
    "allow only selected virtual networks and IP addresses (az storage account update --default-action Deny). "
    "Disable anonymous blob access (--allow-blob-public-access false).",
)
def storage_public_network_restricted(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for account in facts.of(FactKind.STORAGE_ACCOUNT):
        subject_ja, subject_en = _subject(account)
        p = props(account.content)
        pna, acls = p.get("publicNetworkAccess"), p.get("networkAcls")
        acls = acls if isinstance(acls, dict) else {}
        default = acls.get("defaultAction")
        blob_public = p.get("allowBlobPublicAccess")
        problems_ja, problems_en = [], []
        if _is_value(pna, "Disabled"):
            net_ja, net_en = "publicNetworkAccess は Disabled", "publicNetworkAccess is Disabled"
        elif _is_value(default, "Deny"):
            rules_ja, rules_en = _network_rules(acls)
            pj, pe = shown(pna)
            net_ja = f"publicNetworkAccess {pj}、networkAcls.defaultAction は Deny（{rules_ja}）"
            net_en = f"publicNetworkAccess {pe}, networkAcls.defaultAction is Deny ({rules_en})"
        else:
            (pj, pe), (dj, de) = shown(pna), shown(default)
            net_ja = f"publicNetworkAccess が {pj}、networkAcls.defaultAction が {dj}"
            net_en = f"publicNetworkAccess is {pe} and networkAcls.defaultAction is {de}"
            problems_ja.append(f"{net_ja}（Disabled または Deny が必要: どのネットワークからも到達可能）")
            problems_en.append(f"{net_en} (Disabled or Deny required: reachable from any network)")
        if blob_public is True:
            problems_ja.append("allowBlobPublicAccess が true（匿名 BLOB アクセスを許可）")
            problems_en.append("allowBlobPublicAccess is true (anonymous blob access allowed)")
        if problems_ja:
            yield failed(
                account.resource_id,
                f"{subject_ja}: " + "。".join(problems_ja),
                f"{subject_en}: " + "; ".join(problems_en),
                account,
            )
        else:
            unset = ("未設定（false と解釈）", "not set (read as false)")
            bj, be = ("false", "false") if blob_public is False else unset
            yield passed(
                account.resource_id,
                f"{subject_ja} の {net_ja}、allowBlobPublicAccess は {bj} です",
                f"{subject_en} {net_en}; allowBlobPublicAccess is {be}",
                account,
            )


_KEY_SOURCES = {
    "microsoft.storage": ("プラットフォーム管理キー", "platform-managed keys"),
    "microsoft.keyvault": ("カスタマー管理キー", "customer-managed keys"),
}


@check(
    id="storage-encryption-at-rest",
    title_ja="ストレージアカウントの保存データが暗号化されている（鍵の種類を記録）",
    title_en="Storage account data is encrypted at rest (key source recorded)",
    judges=("microsoft.storage/storageaccounts",),
    reads=(FactKind.STORAGE_ACCOUNT,),
    per_subscription=True,  # an account and its blob service lie in one subscription
    api="Storage Accounts - List (Microsoft.Storage/storageAccounts, api-version 2026-09-01): "
    "properties.encryption (services.*.enabled, keySource, keyvaultproperties, requireInfrastructureEncryption)",
    rule_ja="encryption.services に示された各サービス（blob, file, table, queue）の enabled が true で、keySource が "
    "Microsoft.Storage（プラットフォーム管理キー）または Microsoft.Keyvault（カスタマー管理キー）なら合格"
    "（Azure Storage の暗号化は AES-256）。require_customer_managed_keys が true のときは"
    "プラットフォーム管理キーを不合格とする。"
    "encryption や keySource が読めない場合はエラー。インフラ暗号化（二重暗号化）の有無は理由に記録する。",
    rule_en="Passes when every service listed in encryption.services (blob, file, table, queue) has enabled true "
    "and keySource is Microsoft.Storage (platform-managed keys) or Microsoft.Keyvault (customer-managed keys); "
    "Azure Storage encrypts with AES-256. With require_customer_managed_keys true, platform-managed keys fail. "
    "Unreadable encryption or keySource is an error. Infrastructure (double) encryption is recorded in the reason.",
    remediation_ja="require_customer_managed_keys を求める場合は、ストレージアカウントの [暗号化] で Key Vault のキー"
    "（カスタマー管理キー）を設定する（az storage account update --encryption-key-source Microsoft.Keyvault "
    "--encryption-key-vault … --encryption-key-name …）。",
    remediation_en="Where customer-managed keys are required, set a Key Vault key under the account's Encryption "
    "(az storage account update --encryption-key-source Microsoft.Keyvault --encryption-key-vault … "
    "--encryption-key-name …).",
    thresholds=("require_customer_managed_keys",),
)
def storage_encryption_at_rest(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for account in facts.of(FactKind.STORAGE_ACCOUNT):
        subject_ja, subject_en = _subject(account)
        enc = props(account.content).get("encryption")
        services = enc.get("services") if isinstance(enc, dict) else None
        source = enc.get("keySource") if isinstance(enc, dict) else None
        if not isinstance(services, dict) or not services or not isinstance(source, str):
            sj, se = shown(source)
            yield errored(
                account.resource_id,
                f"{subject_ja} の encryption.services または keySource を読めません（keySource {sj}）",
                f"{subject_en} encryption.services or keySource cannot be read (keySource {se})",
                account,
            )
            continue
        kind = _KEY_SOURCES.get(source.strip().lower())
        if kind is None:
            yield errored(
                account.resource_id,
                f"{subject_ja} の encryption.keySource の値 {source} を解釈できません",
                f"{subject_en} encryption.keySource has an unrecognised value {source}",
                account,
            )
            continue
        names = sorted(services)
        disabled = [n for n in names if field(services, n, "enabled") is not True]
        infra = field(enc, "requireInfrastructureEncryption")
        ij, ie = ("あり", "on") if infra is True else ("なし", "off")
        key_uri = field(enc, "keyvaultproperties", "keyvaulturi")
        key_name = field(enc, "keyvaultproperties", "keyname")
        where_ja = where_en = ""
        if key_uri or key_name:
            where_ja = f"、キー {key_name} @ {key_uri}"
            where_en = f", key {key_name} in {key_uri}"
        detail_ja = f"keySource {source}（{kind[0]}{where_ja}）、インフラ暗号化 {ij}、サービス {', '.join(names)}"
        detail_en = (
            f"keySource {source} ({kind[1]}{where_en}), infrastructure encryption {ie}, services {', '.join(names)}"
        )
        if disabled:
            yield failed(
                account.resource_id,
                f"{subject_ja} で {', '.join(disabled)} の暗号化 enabled が true ではありません（{detail_ja}）",
                f"{subject_en} encryption is not enabled for {', '.join(disabled)} ({detail_en})",
                account,
            )
        elif thresholds.require_customer_managed_keys and source.strip().lower() == "microsoft.storage":
            yield failed(
                account.resource_id,
                f"{subject_ja} はプラットフォーム管理キーで暗号化されています（{detail_ja}）。"
                "require_customer_managed_keys によりカスタマー管理キー（Microsoft.Keyvault）が必要",
                f"{subject_en} is encrypted with platform-managed keys ({detail_en}); require_customer_managed_keys "
                "requires customer-managed keys (Microsoft.Keyvault)",
                account,
            )
        else:
            yield passed(
                account.resource_id,
                f"{subject_ja} の保存データは暗号化されています（{detail_ja}）",
                f"{subject_en} data is encrypted at rest ({detail_en})",
                account,
            )


def _retention(policy: Any, label: str, minimum: int) -> tuple[str, str, bool]:
    """A retention policy (`{enabled, days}`) as written in a reason, and whether it meets `minimum` days."""
    if not isinstance(policy, dict) or policy.get("enabled") is not True:
        ej, ee = shown(policy.get("enabled") if isinstance(policy, dict) else None)
        return f"{label} が無効（enabled {ej}）", f"{label} is off (enabled {ee})", False
    days = policy.get("days")
    if isinstance(days, bool) or not isinstance(days, int):
        dj, de = shown(days)
        return f"{label} の日数が {dj}", f"{label} days is {de}", False
    ok = days >= minimum
    note_ja, note_en = ("", "") if ok else (f"（{minimum} 日以上が必要）", f" ({minimum} or more required)")
    return f"{label} {days} 日{note_ja}", f"{label} {days} days{note_en}", ok


@check(
    id="storage-blob-recoverable",
    title_ja="医療データを保持するストレージアカウントで削除・上書きされた BLOB を復元できる",
    title_en="Storage accounts holding medical data can recover deleted or overwritten blobs",
    judges=("microsoft.storage/storageaccounts",),
    reads=(FactKind.STORAGE_ACCOUNT, STORAGE_BLOB_SERVICE),
    per_subscription=True,  # an account and its blob service lie in one subscription
    per_resource=(STORAGE_BLOB_SERVICE,),
    api="Storage Accounts - List and Blob Services - List (Microsoft.Storage/storageAccounts/blobServices, "
    "api-version 2026-09-01; one call per account): properties.deleteRetentionPolicy (enabled, days), "
    "properties.containerDeleteRetentionPolicy (enabled, days), properties.isVersioningEnabled; the account's "
    "tags",
    rule_ja="医療データを保持するアカウント（タグ medical_data_tag が medical_data_tag_values のいずれか、"
    "またはタグなし）の BLOB サービスで、BLOB の論理削除とコンテナーの論理削除が有効かつ"
    "保持日数が blob_soft_delete_min_days 以上、"
    "isVersioningEnabled が true なら合格。BLOB サービスが収集できなければエラー。FileStorage アカウント（BLOB なし）と"
    "他の値のタグを持つアカウントは判定しない。",
    rule_en="For accounts holding medical data (tag medical_data_tag holding one of medical_data_tag_values, or no "
    "such tag), passes when the blob service has blob soft delete and container soft delete enabled for at least "
    "blob_soft_delete_min_days days and isVersioningEnabled is true. A blob service that was not collected is an "
    "error. FileStorage accounts (no blobs) and accounts tagged with another value are not judged.",
    remediation_ja="ストレージアカウントの [データ保護] で BLOB・コンテナーの論理削除（保持日数）と"
    "バージョン管理を有効にする"
    "（az storage account blob-service-properties update --enable-delete-retention true --delete-retention-days N "
    "--enable-container-delete-retention true --container-delete-retention-days N --enable-versioning true）。",
    remediation_en="Under the account's Data protection, enable soft delete for blobs and containers (with their "
    "retention days) and versioning (az storage account blob-service-properties update --enable-delete-retention "
    "true --delete-retention-days N --enable-container-delete-retention true --container-delete-retention-days N "
    "--enable-versioning true).",
    thresholds=("blob_soft_delete_min_days", "medical_data_tag", "medical_data_tag_values"),
)
def storage_blob_recoverable(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    services = facts.by_id(STORAGE_BLOB_SERVICE)
    minimum = thresholds.blob_soft_delete_min_days
    for account in facts.of(FactKind.STORAGE_ACCOUNT):
        if str(account.content.get("kind") or "").lower() in NO_BLOB_SERVICE:
            continue
        medical, basis_ja, basis_en = medical_scope(account, thresholds)
        if not medical:
            continue
        subject_ja, subject_en = _subject(account)
        service = services.get(norm_id(account.resource_id) + "/blobservices/default")
        if service is None:
            err = error_covering(facts, [STORAGE_BLOB_SERVICE], account.resource_id)
            cause_ja = f": {err.code}" if err else ""
            cause_en = f": {err.code}" if err else ""
            yield errored(
                account.resource_id,
                f"{subject_ja}（{basis_ja}）の BLOB サービス（blobServices/default）が収集されていません{cause_ja}",
                f"{subject_en} ({basis_en}) blob service (blobServices/default) was not collected{cause_en}",
                account,
            )
            continue
        p = props(service.content)
        blob_ja, blob_en, blob_ok = _retention(p.get("deleteRetentionPolicy"), "deleteRetentionPolicy", minimum)
        cont_ja, cont_en, cont_ok = _retention(
            p.get("containerDeleteRetentionPolicy"), "containerDeleteRetentionPolicy", minimum
        )
        versioning = p.get("isVersioningEnabled")
        vj, ve = shown(versioning)
        ver_ja = f"isVersioningEnabled {vj}" + ("" if versioning is True else "（true が必要）")
        ver_en = f"isVersioningEnabled {ve}" + ("" if versioning is True else " (true required)")
        detail_ja = f"{blob_ja}、{cont_ja}、{ver_ja}"
        detail_en = f"{blob_en}, {cont_en}, {ver_en}"
        if blob_ok and cont_ok and versioning is True:
            yield passed(
                account.resource_id,
                f"{subject_ja}（{basis_ja}）の BLOB サービス: {detail_ja}",
                f"{subject_en} ({basis_en}) blob service: {detail_en}",
                account,
                service,
            )
        else:
            yield failed(
                account.resource_id,
                f"{subject_ja}（{basis_ja}）の BLOB サービスで削除・上書きからの復元が不十分です: {detail_ja}",
                f"{subject_en} ({basis_en}) blob service cannot fully recover deleted or overwritten data: {detail_en}",
                account,
                service,
            )


@check(
    id="storage-geo-redundant-in-japan",
    title_ja="医療データを保持するストレージアカウントが許可リージョン内の別リージョンへ複製されている",
    title_en="Storage accounts holding medical data replicate to a second region within the allowed regions",
    judges=("microsoft.storage/storageaccounts",),
    reads=(FactKind.STORAGE_ACCOUNT,),
    per_subscription=True,  # an account and its blob service lie in one subscription
    api="Storage Accounts - List (Microsoft.Storage/storageAccounts, api-version 2026-09-01): sku.name, "
    "properties.primaryLocation, properties.secondaryLocation, properties.statusOfSecondary; the account's tags",
    rule_ja="医療データを保持するアカウント（タグ medical_data_tag が medical_data_tag_values のいずれか、"
    "またはタグなし）の sku.name が GRS・RAGRS・GZRS・RAGZRS のいずれかで、"
    "secondaryLocation が allowed_regions のいずれかなら合格。"
    "LRS・ZRS（単一リージョン）や国外のセカンダリは不合格。geo 冗長なのに secondaryLocation がなければエラー。"
    "他の値のタグを持つアカウントは判定しない。",
    rule_en="For accounts holding medical data (tag medical_data_tag holding one of medical_data_tag_values, or no "
    "such tag), passes when sku.name is GRS, RAGRS, GZRS or RAGZRS and secondaryLocation is one of allowed_regions. "
    "LRS or ZRS (one region) or a secondary outside the allowed regions fails; a geo-redundant SKU without a "
    "secondaryLocation is an error. Accounts tagged with another value are not judged.",
    remediation_ja="ストレージアカウントの [冗長性] を GRS または GZRS（読み取りが必要なら RA-）に変更する"
    "（az storage account update --sku Standard_GZRS）。japaneast と japanwest は互いのペアリージョン。",
    remediation_en="Change the account's Redundancy to GRS or GZRS (RA- for read access to the secondary) "
    "(az storage account update --sku Standard_GZRS); japaneast and japanwest are each other's paired region.",
    thresholds=("allowed_regions", "medical_data_tag", "medical_data_tag_values"),
)
def storage_geo_redundant_in_japan(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    allowed = {normalise_location(r) for r in thresholds.allowed_regions}
    for account in facts.of(FactKind.STORAGE_ACCOUNT):
        medical, basis_ja, basis_en = medical_scope(account, thresholds)
        if not medical:
            continue
        subject_ja, subject_en = _subject(account)
        sku = field(account.content, "sku", "name")
        p = props(account.content)
        primary = p.get("primaryLocation") or account.content.get("location")
        secondary = p.get("secondaryLocation")
        if not isinstance(sku, str) or not sku.strip():
            yield errored(
                account.resource_id,
                f"{subject_ja}（{basis_ja}）の sku.name を読めません",
                f"{subject_en} ({basis_en}) sku.name cannot be read",
                account,
            )
            continue
        redundancy = sku.rsplit("_", 1)[-1].lower()
        if redundancy not in GEO_REDUNDANT:
            yield failed(
                account.resource_id,
                f"{subject_ja}（{basis_ja}）の冗長性は {sku} で、{primary} の 1 リージョン内にしか複製されません"
                "（GRS・RAGRS・GZRS・RAGZRS が必要）",
                f"{subject_en} ({basis_en}) redundancy is {sku}, replicated within {primary} only "
                "(GRS, RAGRS, GZRS or RAGZRS required)",
                account,
            )
            continue
        if not isinstance(secondary, str) or not secondary.strip():
            yield errored(
                account.resource_id,
                f"{subject_ja}（{basis_ja}）は {sku} ですが secondaryLocation を読めません",
                f"{subject_en} ({basis_en}) is {sku} but its secondaryLocation cannot be read",
                account,
            )
            continue
        status = p.get("statusOfSecondary")
        sj, se = shown(status)
        if normalise_location(secondary) not in allowed:
            yield failed(
                account.resource_id,
                f"{subject_ja}（{basis_ja}）は {sku} で、セカンダリ {secondary} が許可リージョン "
                f"{', '.join(thresholds.allowed_regions)} の外です",
                f"{subject_en} ({basis_en}) is {sku} with its secondary in {secondary}, outside the allowed regions "
                f"{', '.join(thresholds.allowed_regions)}",
                account,
            )
        else:
            yield passed(
                account.resource_id,
                f"{subject_ja}（{basis_ja}）は {sku} で、{primary} からセカンダリ {secondary}（statusOfSecondary {sj}）"
                "へ複製されています",
                f"{subject_en} ({basis_en}) is {sku}, replicated from {primary} to secondary {secondary} "
                f"(statusOfSecondary {se})",
                account,
            )
