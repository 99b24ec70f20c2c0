"""Storage accounts: TLS minimum and HTTPS-only transfer."""

from __future__ import annotations

from collections.abc import Iterator

from controls.checks.base import Outcome, check, failed, passed
from controls.checks.helpers import display_name, min_tls_outcome, props, shown
from controls.model import Evidence, FactKind, FactSet, Thresholds


def _subject(account: Evidence) -> tuple[str, str]:
    name = display_name(account)
    return f"ストレージアカウント {name}", f"storage account {name}"


@check(
    id="storage-min-tls-1-2",
    title_ja="ストレージアカウントの最小 TLS バージョンが TLS1_2 以上",
    title_en="Storage account minimum TLS version is TLS1_2 or newer",
    judges=("microsoft.storage/storageaccounts",),
    reads=(FactKind.STORAGE_ACCOUNT,),
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
