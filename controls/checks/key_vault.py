"""Key Vault: public network access, recoverability (soft delete, purge protection), and each key's expiry
and rotation policy, read through ARM."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, field, observed_at, props, shown
from controls.model import Evidence, FactSet, Thresholds

# Vaults - List By Subscription and Keys - List (collector.fetchers.keyvault).
KEY_VAULT = "key_vault"
KEY_VAULT_KEY = "key_vault_key"


def _vault(ev: Evidence) -> tuple[str, str]:
    name = display_name(ev)
    return f"Key Vault {name}", f"key vault {name}"


def _is(value: Any, expected: str) -> bool:
    return isinstance(value, str) and value.strip().lower() == expected.lower()


@check(
    id="key-vault-public-network-restricted",
    title_ja="Key Vault がパブリックネットワークからのアクセスを制限している",
    title_en="Key vault restricts public network access",
    judges=("microsoft.keyvault/vaults",),
    reads=(KEY_VAULT,),
    per_subscription=True,  # each judged on its own document alone
    api="Vaults - List By Subscription (Microsoft.KeyVault/vaults, api-version 2026-05-15): "
    "properties.publicNetworkAccess, properties.networkAcls (defaultAction, ipRules, virtualNetworkRules, bypass)",
    rule_ja="publicNetworkAccess が Disabled、または networkAcls.defaultAction が Deny なら合格"
    "（Deny の場合は残る許可 IP・"
    "サブネットを理由に示す）。networkAcls がなければ既定の Allow としてすべてのネットワークから到達可能で不合格。",
    rule_en="Passes when publicNetworkAccess is Disabled or networkAcls.defaultAction is Deny (with Deny, the finding "
    "lists the IP and subnet rules still allowed). Without networkAcls the vault defaults to Allow, reachable from "
    "any network, and fails.",
    remediation_ja="Key Vault の [ネットワーク] でパブリックアクセスを無効にしてプライベートエンドポイントを使うか、"
    "「特定の仮想ネットワークと IP アドレスからのパブリックアクセスを許可」にする"
    "（az keyvault update --public-network-access Disabled または --default-action Deny）。",
    remediation_en="Under the vault's Networking, disable public access and use a private endpoint, or allow public "
    "access only from specific virtual networks and IP addresses (az keyvault update --public-network-access "
    "Disabled, or --default-action Deny).",
)
def key_vault_public_network_restricted(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for vault in facts.of(KEY_VAULT):
        subject_ja, subject_en = _vault(vault)
        p = props(vault.content)
        pna, acls = p.get("publicNetworkAccess"), p.get("networkAcls")
        acls = acls if isinstance(acls, dict) else {}
        default = acls.get("defaultAction")
        (pj, pe), (dj, de) = shown(pna), shown(default)
        if _is(pna, "Disabled"):
            yield passed(
                vault.resource_id,
                f"{subject_ja} の publicNetworkAccess は Disabled です",
                f"{subject_en} publicNetworkAccess is Disabled",
                vault,
            )
        elif _is(default, "Deny"):
            ips = [str(r.get("value")) for r in acls.get("ipRules") or [] if isinstance(r, dict)]
            nets = [str(r.get("id", "")).rstrip("/").rsplit("/", 1)[-1] for r in acls.get("virtualNetworkRules") or []
                    if isinstance(r, dict)]  # fmt: skip
            rules_ja = (
                f"許可 IP {', '.join(ips) or 'なし'}、許可サブネット {', '.join(nets) or 'なし'}、"
                f"bypass {acls.get('bypass')}"
            )
            rules_en = f"allowed IPs {', '.join(ips) or 'none'}, allowed subnets {', '.join(nets) or 'none'}, " + (
                f"bypass {acls.get('bypass')}"
            )
            yield passed(
                vault.resource_id,
                f"{subject_ja} の publicNetworkAccess は {pj}、networkAcls.defaultAction は Deny です（{rules_ja}）",
                f"{subject_en} publicNetworkAccess is {pe}, networkAcls.defaultAction is Deny ({rules_en})",
                vault,
            )
        else:
            yield failed(
                vault.resource_id,
                f"{subject_ja} の publicNetworkAccess が {pj}、networkAcls.defaultAction が {dj} で、"
                "どのネットワークからも到達可能です（Disabled または Deny が必要）",
                f"{subject_en} publicNetworkAccess is {pe} and networkAcls.defaultAction is {de}: reachable from any "
                "network (Disabled or Deny required)",
                vault,
            )


@check(
    id="key-vault-recoverable",
    title_ja="Key Vault で論理削除と消去保護が有効（漏洩・誤削除時に鍵を失わない）",
    title_en="Key vault has soft delete and purge protection enabled",
    judges=("microsoft.keyvault/vaults",),
    reads=(KEY_VAULT,),
    per_subscription=True,  # each judged on its own document alone
    api="Vaults - List By Subscription (Microsoft.KeyVault/vaults, api-version 2026-05-15): "
    "properties.enableSoftDelete, properties.softDeleteRetentionInDays, properties.enablePurgeProtection",
    rule_ja="enableSoftDelete と enablePurgeProtection がともに true なら合格"
    "（消去保護がないと、削除された鍵を保持期間内に"
    "完全消去でき、鍵で保護したデータを復元できなくなる）。未設定は無効として不合格。",
    rule_en="Passes when enableSoftDelete and enablePurgeProtection are both true (without purge protection a deleted "
    "key can be purged within the retention period, and data protected by it can no longer be recovered). A missing "
    "value counts as off and fails.",
    remediation_ja="Key Vault の [プロパティ] で消去保護を有効にする"
    "（az keyvault update --enable-purge-protection true）。"
    "一度有効にすると無効に戻せない。",
    remediation_en="Enable purge protection under the vault's Properties (az keyvault update --enable-purge-protection "
    "true); once on, it cannot be turned off.",
)
def key_vault_recoverable(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for vault in facts.of(KEY_VAULT):
        subject_ja, subject_en = _vault(vault)
        p = props(vault.content)
        soft, purge = p.get("enableSoftDelete"), p.get("enablePurgeProtection")
        days = p.get("softDeleteRetentionInDays")
        (sj, se), (uj, ue), (dj, de) = shown(soft), shown(purge), shown(days)
        detail_ja = f"enableSoftDelete {sj}（保持 {dj} 日）、enablePurgeProtection {uj}"
        detail_en = f"enableSoftDelete {se} (retention {de} days), enablePurgeProtection {ue}"
        if soft is True and purge is True:
            yield passed(vault.resource_id, f"{subject_ja}: {detail_ja}", f"{subject_en}: {detail_en}", vault)
        else:
            missing = [n for n, v in (("enableSoftDelete", soft), ("enablePurgeProtection", purge)) if v is not True]
            yield failed(
                vault.resource_id,
                f"{subject_ja}: {detail_ja}（{' と '.join(missing)} が true である必要があります）",
                f"{subject_en}: {detail_en} ({' and '.join(missing)} must be true)",
                vault,
            )


def _vault_of(key_id: str) -> str:
    """`.../vaults/{v}/keys/{k}` -> `{v}`."""
    parts = key_id.rstrip("/").split("/")
    return parts[-3] if len(parts) >= 3 else "?"


def _rotate_trigger(policy: Any) -> tuple[str, str] | None:
    """The trigger of the policy's Rotate lifetime action ("timeAfterCreate P90D"), or None without one."""
    for action in field(policy, "lifetimeActions") or []:
        if _is(field(action, "action", "type"), "rotate"):
            trigger = field(action, "trigger")
            if isinstance(trigger, dict):
                for name in ("timeAfterCreate", "timeBeforeExpiry"):
                    if isinstance(trigger.get(name), str) and trigger[name].strip():
                        text = f"{name} {trigger[name]}"
                        return text, text
    return None


@check(
    id="key-vault-key-expiry-rotation",
    title_ja="Key Vault の各キーに有効期限と自動ローテーションポリシーがある",
    title_en="Every Key Vault key has an expiry date and an automatic rotation policy",
    judges=("microsoft.keyvault/vaults/keys",),
    reads=(KEY_VAULT_KEY,),
    per_subscription=True,  # one key at a time
    api="Keys - List (Microsoft.KeyVault/vaults/keys, ARM, api-version 2026-05-15; one call per vault) and "
    "Keys - Get (one call per key: the listing leaves out the rotation policy): properties.attributes.exp "
    "(seconds since 1970), properties.rotationPolicy.lifetimeActions (action.type, trigger), "
    "properties.rotationPolicy.attributes.expiryTime",
    rule_ja="各キーの attributes.exp があり、収集時点で期限切れでも key_expiry_warning_days 日以内の期限でもなく、"
    "rotationPolicy.lifetimeActions に Rotate アクション（timeAfterCreate または timeBeforeExpiry のトリガー付き）が"
    "あれば合格。期限なし・期限切れ・期限間近・ローテーションなしは不合格、exp が数値でなければエラー。",
    rule_en="Passes when the key has attributes.exp, is neither expired nor expiring within key_expiry_warning_days "
    "of collection, and rotationPolicy.lifetimeActions has a Rotate action with a timeAfterCreate or timeBeforeExpiry "
    "trigger. No expiry, expired, expiring soon or no rotation fails; an exp that is not a number is an error.",
    remediation_ja="キーの [ローテーションポリシー] で自動ローテーション（例: 作成後 P90D）と新しいバージョンの有効期限"
    "（例: P1Y）を設定し、期限の近いキーはローテーションする（az keyvault key rotation-policy update）。",
    remediation_en="Set the key's Rotation policy with automatic rotation (e.g. P90D after creation) and an expiry "
    "for new versions (e.g. P1Y), and rotate keys close to expiry (az keyvault key rotation-policy update).",
    thresholds=("key_expiry_warning_days",),
)
def key_vault_key_expiry_rotation(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    warning = timedelta(days=thresholds.key_expiry_warning_days)
    for key in facts.of(KEY_VAULT_KEY):
        name, vault = display_name(key), _vault_of(key.resource_id)
        subject_ja, subject_en = f"Key Vault {vault} のキー {name}", f"key {name} in key vault {vault}"
        p = props(key.content)
        exp = field(p, "attributes", "exp")
        now = observed_at(key)
        if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int | float)):
            ej, ee = shown(exp)
            yield errored(
                key.resource_id,
                f"{subject_ja} の attributes.exp の値 {ej} を解釈できません",
                f"{subject_en} attributes.exp has an unrecognised value {ee}",
                key,
            )
            continue
        problems_ja: list[str] = []
        problems_en: list[str] = []
        if exp is None:
            exp_ja, exp_en = "有効期限なし", "no expiry date"
            problems_ja.append("有効期限（attributes.exp）が未設定")
            problems_en.append("no expiry date (attributes.exp not set)")
        else:
            at = datetime.fromtimestamp(exp, UTC)
            when = at.strftime("%Y-%m-%d %H:%M UTC")
            exp_ja, exp_en = f"有効期限 {when}", f"expires {when}"
            if at <= now:
                problems_ja.append(f"{when} に期限切れ")
                problems_en.append(f"expired at {when}")
            elif at - now < warning:
                days = (at - now).days
                problems_ja.append(
                    f"{when} に期限切れ（残り {days} 日、{thresholds.key_expiry_warning_days} 日以上が必要）"
                )
                problems_en.append(
                    f"expires at {when} (in {days} days; {thresholds.key_expiry_warning_days} or more required)"
                )
        trigger = _rotate_trigger(p.get("rotationPolicy"))
        if trigger is None:
            problems_ja.append("rotationPolicy に Rotate アクションがない（自動ローテーションなし）")
            problems_en.append("no Rotate action in rotationPolicy (no automatic rotation)")
            rot_ja = rot_en = ""
        else:
            new_exp = field(p, "rotationPolicy", "attributes", "expiryTime")
            rot_ja = f"、自動ローテーション {trigger[0]}、新バージョンの有効期間 {shown(new_exp)[0]}"
            rot_en = f", rotates automatically at {trigger[1]}, new versions expire after {shown(new_exp)[1]}"
        if problems_ja:
            yield failed(
                key.resource_id,
                f"{subject_ja}: " + "、".join(problems_ja),
                f"{subject_en}: " + "; ".join(problems_en),
                key,
            )
        else:
            yield passed(key.resource_id, f"{subject_ja}: {exp_ja}{rot_ja}", f"{subject_en}: {exp_en}{rot_en}", key)
