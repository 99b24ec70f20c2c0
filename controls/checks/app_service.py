"""App Service (web apps and function apps): TLS minimum and cipher suites, HTTPS only, client certificates,
who can reach the site and its SCM (Kudu) site, remote debugging, FTP, the runtime stack's support, App Service
certificates and production plans' zone redundancy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import (
    display_name,
    error_covering,
    field,
    min_tls_outcome,
    norm_id,
    observed_at,
    parse_time,
    props,
    shown,
    subscription_of,
    tls_version,
)
from controls.checks.network_isolation import classify
from controls.model import Evidence, FactKind, FactSet, Thresholds

# Deployment slots have their own host names and settings, so they are judged like sites.
_SITES = ("microsoft.web/sites", "microsoft.web/sites/slots")
# App Service certificates and plans, one listing each per subscription (collector.fetchers.web).
WEB_CERTIFICATE = "web_certificate"
APP_SERVICE_PLAN = "app_service_plan"


@check(
    id="app-service-min-tls-1-2",
    title_ja="App Service の最小 TLS バージョンが 1.2 以上",
    title_en="App Service minimum TLS version is 1.2 or newer",
    judges=_SITES,
    reads=(FactKind.WEB_SITE, FactKind.WEB_CONFIG),
    per_subscription=True,  # a site and its configuration lie in one subscription
    per_resource=(FactKind.WEB_CONFIG,),
    api="Web Apps - List, List Slots, Get Configuration (Slot) (Microsoft.Web/sites, sites/slots, "
    ".../config/web): properties.minTlsVersion",
    rule_ja="各サイトの config/web の minTlsVersion が 1.2 または 1.3 なら合格。"
    "未設定・不明な値・構成が取得できない場合は合格にしない。",
    rule_en="Passes when the site's config/web minTlsVersion is 1.2 or 1.3. A missing value, an unknown "
    "value or a configuration that could not be read never passes.",
    remediation_ja="サイトの [構成] > [全般設定] で最小 TLS バージョンを 1.2 にする"
    "（az webapp config set --min-tls-version 1.2）。",
    remediation_en="Set the minimum TLS version to 1.2 under Configuration > General settings "
    "(az webapp config set --min-tls-version 1.2).",
)
def app_service_min_tls(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    configs = facts.by_id(FactKind.WEB_CONFIG)
    for site in facts.of(FactKind.WEB_SITE):
        name = display_name(site)
        cfg = configs.get(norm_id(site.resource_id) + "/config/web")
        if cfg is None:
            err = error_covering(facts, [FactKind.WEB_CONFIG], site.resource_id)
            code = f"（{err.code}）" if err else ""
            code_en = f" ({err.code})" if err else ""
            yield errored(
                site.resource_id,
                f"App Service {name} の構成 config/web を取得できず minTlsVersion を判定できません{code}",
                f"App Service {name} config/web was not collected; minTlsVersion cannot be judged{code_en}",
                site,
            )
            continue
        yield min_tls_outcome(
            site.resource_id,
            f"App Service {name}",
            f"App Service {name}",
            "minTlsVersion",
            props(cfg.content).get("minTlsVersion"),
            "1.2",
            site,
            cfg,
        )


@check(
    id="app-service-https-only",
    title_ja="App Service が HTTPS のみを受け付ける",
    title_en="App Service accepts HTTPS only",
    judges=_SITES,
    reads=(FactKind.WEB_SITE,),
    per_subscription=True,  # a site and its configuration lie in one subscription
    api="Web Apps - List, List Slots (Microsoft.Web/sites, sites/slots): properties.httpsOnly",
    rule_ja="サイトの httpsOnly が true なら合格。false または未設定は不合格（HTTP で平文通信できる）。",
    rule_en="Passes when the site's httpsOnly is true; false or missing fails (plain HTTP is served).",
    remediation_ja="サイトの [構成] > [全般設定] で「HTTPS のみ」をオンにする（az webapp update --https-only true）。",
    remediation_en="Turn on HTTPS Only under Configuration > General settings (az webapp update --https-only true).",
)
def app_service_https_only(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for site in facts.of(FactKind.WEB_SITE):
        name = display_name(site)
        value = props(site.content).get("httpsOnly")
        ja, en = shown(value)
        if value is True:
            yield passed(
                site.resource_id,
                f"App Service {name} の httpsOnly は true です",
                f"App Service {name} httpsOnly is true",
                site,
            )
        else:
            yield failed(
                site.resource_id,
                f"App Service {name} の httpsOnly が {ja} です（true が必要）",
                f"App Service {name} httpsOnly is {en} (true required)",
                site,
            )


@check(
    id="app-service-client-cert-required",
    judges=_SITES,
    title_ja="App Service がクライアント証明書を必須にしている",
    title_en="App Service requires client certificates",
    reads=(FactKind.WEB_SITE,),
    per_subscription=True,  # a site and its configuration lie in one subscription
    api="Web Apps - List, List Slots (Microsoft.Web/sites, sites/slots): properties.clientCertEnabled, "
    "properties.clientCertMode, "
    "properties.clientCertExclusionPaths",
    rule_ja="clientCertEnabled が true かつ clientCertMode が Required で、除外パス（clientCertExclusionPaths）が"
    "ない場合に合格。Optional / OptionalInteractiveUser や除外パスは証明書なしの接続を許すため不合格。",
    rule_en="Passes when clientCertEnabled is true, clientCertMode is Required and no "
    "clientCertExclusionPaths are set. Optional modes and exclusion paths let clients in without a "
    "certificate and fail.",
    remediation_ja="サイトの [構成] > [全般設定] でクライアント証明書モードを「必須」にし、除外パスを削除する"
    "（az webapp update --client-cert-enabled true --client-cert-mode Required）。",
    remediation_en="Set Client certificate mode to Required and remove exclusion paths under Configuration > "
    "General settings (az webapp update --client-cert-enabled true --client-cert-mode Required).",
)
def app_service_client_cert(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for site in facts.of(FactKind.WEB_SITE):
        name = display_name(site)
        p = props(site.content)
        enabled, mode, excluded = p.get("clientCertEnabled"), p.get("clientCertMode"), p.get("clientCertExclusionPaths")
        if enabled is not True:
            ja, en = shown(enabled)
            yield failed(
                site.resource_id,
                f"App Service {name} の clientCertEnabled が {ja} です（true かつ clientCertMode=Required が必要）",
                f"App Service {name} clientCertEnabled is {en} (true with clientCertMode Required required)",
                site,
            )
        elif not isinstance(mode, str) or mode.lower() != "required":
            ja, en = shown(mode)
            yield failed(
                site.resource_id,
                f"App Service {name} の clientCertMode が {ja} です（Required が必要）",
                f"App Service {name} clientCertMode is {en} (Required required)",
                site,
            )
        elif isinstance(excluded, str) and excluded.strip():
            yield failed(
                site.resource_id,
                f"App Service {name} の clientCertExclusionPaths が {excluded} です（除外パスでは証明書が不要になる）",
                f"App Service {name} clientCertExclusionPaths is {excluded} (those paths need no certificate)",
                site,
            )
        else:
            yield passed(
                site.resource_id,
                f"App Service {name} は clientCertEnabled=true, clientCertMode=Required です",
                f"App Service {name} clientCertEnabled is true and clientCertMode is Required",
                site,
            )


# ---------------------------------------------------------------- config/web: the site's own settings


def _with_config(facts: FactSet, field_name: str) -> Iterator[tuple[Evidence, Evidence | None, Outcome | None]]:
    """Each site or slot with its config/web document, or the error finding that stands for it when that
    document was not collected (naming the collection error when there is one)."""
    configs = facts.by_id(FactKind.WEB_CONFIG)
    for site in facts.of(FactKind.WEB_SITE):
        cfg = configs.get(norm_id(site.resource_id) + "/config/web")
        if cfg is not None:
            yield site, cfg, None
            continue
        name = display_name(site)
        err = error_covering(facts, [FactKind.WEB_CONFIG], site.resource_id)
        code_ja = f"（{err.code}）" if err else ""
        code_en = f" ({err.code})" if err else ""
        yield (
            site,
            None,
            errored(
                site.resource_id,
                f"App Service {name} の構成 config/web を取得できず {field_name} を判定できません{code_ja}",
                f"App Service {name} config/web was not collected; {field_name} cannot be judged{code_en}",
                site,
            ),
        )


# Addresses and service tags that let anyone in: the Internet, any Azure customer's resources.
_EVERYONE = frozenset({"any", "*", "0.0.0.0/0", "::/0", "internet"})
_EVERYONE_TAGS = ("internet", "azurecloud")
_FRONT_DOOR_TAG = "azurefrontdoor.backend"
_NO_PRIORITY = 2**31


def _priority(rule: Any) -> int:
    value = rule.get("priority") if isinstance(rule, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else _NO_PRIORITY


def _front_door_ids(rule: dict[str, Any]) -> list[str]:
    headers = rule.get("headers")
    if not isinstance(headers, dict):
        return []
    for key, values in headers.items():
        if str(key).lower() == "x-azure-fdid" and isinstance(values, list):
            return [str(v) for v in values if str(v).strip()]
    return []


def _lets_everyone_in(rule: dict[str, Any]) -> tuple[str, str] | None:
    """Why this rule matches anyone on the Internet (ja, en), or None when it matches a bounded source."""
    address = str(rule.get("ipAddress") or "").strip()
    low = address.lower()
    if rule.get("vnetSubnetResourceId"):
        return None
    if str(rule.get("tag") or "").lower() == "servicetag":
        if low == _FRONT_DOOR_TAG and not _front_door_ids(rule):
            return (
                f"サービスタグ {address}（X-Azure-FDID ヘッダー指定なし、どの利用者の Front Door からも到達できる）",
                f"service tag {address} without an X-Azure-FDID header (any customer's Front Door can reach it)",
            )
        if any(low == t or low.startswith(t + ".") for t in _EVERYONE_TAGS):
            return f"サービスタグ {address}", f"service tag {address}"
        return None
    if low in _EVERYONE:
        return f"送信元 {address}", f"source {address}"
    return None


def _exposure(rules: Any, default_action: Any, field_ja: str, field_en: str) -> tuple[bool | None, str, str]:
    """(restricted?, ja, en) for an access-restriction list and its default action, as App Service applies
    them: rules in priority order, the first match decides, and unmatched traffic gets the default action.
    None when the documents do not say (no default action and no catch-all rule)."""
    if rules is None:
        rules = []
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        return None, f"{field_ja} を解釈できません", f"{field_en} is not a list of rules"
    bounded: list[str] = []
    for rule in sorted(rules, key=_priority):
        name = str(rule.get("name") or rule.get("ipAddress") or rule.get("vnetSubnetResourceId") or "?")
        everyone = _lets_everyone_in(rule)
        action = str(rule.get("action") or "").lower()
        if everyone is None:
            if action == "allow":
                bounded.append(name)
            continue
        if action == "deny":
            allowed = "、".join(bounded) or "なし"
            allowed_en = ", ".join(bounded) or "none"
            return (
                True,
                f"{field_ja} は規則「{name}」（{everyone[0]}）で残りを拒否しています（許可: {allowed}）",
                f"{field_en} denies the rest with rule '{name}' ({everyone[1]}); allowed: {allowed_en}",
            )
        if action == "allow":
            return (
                False,
                f"{field_ja} の規則「{name}」が {everyone[0]} を許可しています",
                f"{field_en} rule '{name}' allows {everyone[1]}",
            )
        return (
            None,
            f"{field_ja} の規則「{name}」の action {action or '未設定'} を解釈できません",
            (f"{field_en} rule '{name}' has an unrecognised action {action or 'not set'}"),
        )
    allowed = "、".join(bounded) or "なし"
    allowed_en = ", ".join(bounded) or "none"
    default = str(default_action or "").lower()
    if default == "deny":
        return (
            True,
            f"{field_ja} の既定動作は Deny です（許可: {allowed}）",
            f"{field_en} default action is Deny; allowed: {allowed_en}",
        )
    if default == "allow":
        return (
            False,
            f"{field_ja} の既定動作が Allow で、規則に一致しない通信をすべて許可しています",
            f"{field_en} default action is Allow: traffic matching no rule is let in",
        )
    ja, en = shown(default_action)
    return (
        None,
        f"{field_ja} の既定動作が {ja} で、すべてを拒否する規則もないため、規則外の通信の扱いを判定できません",
        f"{field_en} default action is {en} and no rule denies everyone, so what happens to other traffic "
        "cannot be told",
    )


def _public_access_disabled(site: Evidence, cfg: Evidence) -> bool:
    value = props(site.content).get("publicNetworkAccess") or props(cfg.content).get("publicNetworkAccess")
    return isinstance(value, str) and value.strip().lower() == "disabled"


def _judge_exposure(
    site: Evidence, cfg: Evidence, restricted: bool | None, ja: str, en: str, subject_ja: str, subject_en: str
) -> Outcome:
    if restricted is True:
        return passed(site.resource_id, f"{subject_ja}: {ja}", f"{subject_en}: {en}", site, cfg)
    if restricted is False:
        return failed(
            site.resource_id,
            f"{subject_ja}: {ja}（インターネット全体に開いています。送信元を限定し残りを拒否する必要があります）",
            f"{subject_en}: {en} (open to the whole Internet; allow named sources only and deny the rest)",
            site,
            cfg,
        )
    return errored(site.resource_id, f"{subject_ja}: {ja}", f"{subject_en}: {en}", site, cfg)


@check(
    id="app-service-access-restricted",
    title_ja="App Service がインターネット全体に開かれていない",
    title_en="App Service is not open to the whole Internet",
    judges=_SITES,
    reads=(FactKind.WEB_SITE, FactKind.WEB_CONFIG),
    per_subscription=True,  # a site and its configuration lie in one subscription
    per_resource=(FactKind.WEB_CONFIG,),
    api="Web Apps - List, List Slots, Get Configuration (Slot): properties.publicNetworkAccess; config/web "
    "ipSecurityRestrictions[] (ipAddress, tag, vnetSubnetResourceId, action, priority, headers.x-azure-fdid), "
    "ipSecurityRestrictionsDefaultAction",
    rule_ja="publicNetworkAccess が Disabled、またはアクセス制限が優先度順に評価して送信元を限定し残りを拒否する"
    "（既定動作 Deny、またはすべてを拒否する規則）場合に合格。Any・0.0.0.0/0・サービスタグ Internet / AzureCloud、"
    "X-Azure-FDID ヘッダーで自社の Front Door に限定していない AzureFrontDoor.Backend を許可する規則や、既定動作 "
    "Allow は不合格。自社 Front Door（FDID 指定）、Application Gateway のサブネット、特定の IP 範囲のみの許可は"
    "限定とみなす。既定動作も拒否規則もなく判断できない場合はエラー。",
    rule_en="Passes when publicNetworkAccess is Disabled, or when the access restrictions, taken in priority order, "
    "allow named sources and deny the rest (default action Deny, or a rule denying everyone). A rule allowing "
    "Any, 0.0.0.0/0, the Internet or AzureCloud service tags, or AzureFrontDoor.Backend without an X-Azure-FDID "
    "header pinning the operator's own Front Door, or a default action of Allow, fails. The operator's own Front "
    "Door (FDID pinned), an Application Gateway subnet or named IP ranges count as restricted. With neither a "
    "default action nor a deny-all rule the outcome is an error.",
    remediation_ja="[ネットワーク] > [アクセス制限] で許可する送信元（医療機関の固定 IP、自社 Front Door の FDID 付き"
    "サービスタグ、Application Gateway のサブネット）だけを追加し、一致しない場合の動作を Deny にする"
    "（az webapp config access-restriction set --default-action Deny）。",
    remediation_en="Under Networking > Access restrictions add only the sources to allow (the hospitals' fixed "
    "addresses, the AzureFrontDoor.Backend tag with your Front Door's X-Azure-FDID, the Application Gateway subnet) "
    "and set unmatched traffic to Deny (az webapp config access-restriction set --default-action Deny).",
)
def app_service_access_restricted(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for site, cfg, missing in _with_config(facts, "ipSecurityRestrictions"):
        if cfg is None:
            yield missing  # type: ignore[misc]
            continue
        name = display_name(site)
        subject_ja, subject_en = f"App Service {name}", f"App Service {name}"
        if _public_access_disabled(site, cfg):
            yield passed(
                site.resource_id,
                f"{subject_ja} は publicNetworkAccess が Disabled です（プライベートエンドポイント経由のみ）",
                f"{subject_en} publicNetworkAccess is Disabled (reachable through private endpoints only)",
                site,
                cfg,
            )
            continue
        p = props(cfg.content)
        restricted, ja, en = _exposure(
            p.get("ipSecurityRestrictions"),
            p.get("ipSecurityRestrictionsDefaultAction"),
            "ipSecurityRestrictions",
            "ipSecurityRestrictions",
        )
        yield _judge_exposure(site, cfg, restricted, ja, en, subject_ja, subject_en)


@check(
    id="app-service-scm-restricted",
    title_ja="App Service の SCM（Kudu・デプロイ）サイトへのアクセスが限定されている",
    title_en="App Service SCM (Kudu, deployment) site access is restricted",
    judges=_SITES,
    reads=(FactKind.WEB_SITE, FactKind.WEB_CONFIG),
    per_subscription=True,  # a site and its configuration lie in one subscription
    per_resource=(FactKind.WEB_CONFIG,),
    api="Web Apps - List, List Slots, Get Configuration (Slot): properties.publicNetworkAccess; config/web "
    "scmIpSecurityRestrictionsUseMain, scmIpSecurityRestrictions[], scmIpSecurityRestrictionsDefaultAction "
    "(or, when the main rules apply, ipSecurityRestrictions[] and ipSecurityRestrictionsDefaultAction)",
    rule_ja="publicNetworkAccess が Disabled、または SCM サイトに適用される規則（scmIpSecurityRestrictionsUseMain が "
    "true ならメインサイトの規則、false なら SCM 独自の規則）が送信元を限定し残りを拒否する場合に合格。判定方法は "
    "app-service-access-restricted と同じ。",
    rule_en="Passes when publicNetworkAccess is Disabled, or when the rules that apply to the SCM site (the main "
    "site's when scmIpSecurityRestrictionsUseMain is true, else its own) allow named sources and deny the rest, "
    "judged as in app-service-access-restricted.",
    remediation_ja="[ネットワーク] > [アクセス制限] の「詳細ツールサイト」タブで、デプロイ元（CI の送信元 IP や"
    "サブネット）だけを許可し、一致しない場合の動作を Deny にする（az webapp config access-restriction set "
    "--scm-default-action Deny）。",
    remediation_en="On the Advanced tool site tab of Networking > Access restrictions allow only the deployment "
    "sources (the CI runners' addresses or subnet) and set unmatched traffic to Deny (az webapp config "
    "access-restriction set --scm-default-action Deny).",
)
def app_service_scm_restricted(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for site, cfg, missing in _with_config(facts, "scmIpSecurityRestrictions"):
        if cfg is None:
            yield missing  # type: ignore[misc]
            continue
        name = display_name(site)
        subject_ja, subject_en = f"App Service {name} の SCM サイト", f"App Service {name} SCM site"
        if _public_access_disabled(site, cfg):
            yield passed(
                site.resource_id,
                f"{subject_ja}: publicNetworkAccess が Disabled です（プライベートエンドポイント経由のみ）",
                f"{subject_en}: publicNetworkAccess is Disabled (reachable through private endpoints only)",
                site,
                cfg,
            )
            continue
        p = props(cfg.content)
        use_main = p.get("scmIpSecurityRestrictionsUseMain")
        if use_main is True:
            restricted, ja, en = _exposure(
                p.get("ipSecurityRestrictions"),
                p.get("ipSecurityRestrictionsDefaultAction"),
                "scmIpSecurityRestrictionsUseMain=true によりメインサイトの ipSecurityRestrictions",
                "with scmIpSecurityRestrictionsUseMain true, the main site's ipSecurityRestrictions",
            )
        else:
            restricted, ja, en = _exposure(
                p.get("scmIpSecurityRestrictions"),
                p.get("scmIpSecurityRestrictionsDefaultAction"),
                "scmIpSecurityRestrictions",
                "scmIpSecurityRestrictions",
            )
        yield _judge_exposure(site, cfg, restricted, ja, en, subject_ja, subject_en)


@check(
    id="app-service-remote-debugging-off",
    title_ja="App Service のリモートデバッグが無効",
    title_en="App Service remote debugging is off",
    judges=_SITES,
    reads=(FactKind.WEB_SITE, FactKind.WEB_CONFIG),
    per_subscription=True,  # a site and its configuration lie in one subscription
    per_resource=(FactKind.WEB_CONFIG,),
    api="Web Apps - Get Configuration (Slot) (.../config/web): properties.remoteDebuggingEnabled, "
    "remoteDebuggingVersion",
    rule_ja="config/web の remoteDebuggingEnabled が false なら合格、true なら不合格（本番環境にデバッガーを"
    "接続できる）。値が返されない場合はエラー。",
    rule_en="Passes when config/web remoteDebuggingEnabled is false and fails when it is true (a debugger can "
    "attach to the running site). A missing value is an error.",
    remediation_ja="[構成] > [全般設定] でリモートデバッグをオフにする"
    "（az webapp config set --remote-debugging-enabled false）。",
    remediation_en="Turn off Remote debugging under Configuration > General settings "
    "(az webapp config set --remote-debugging-enabled false).",
)
def app_service_remote_debugging_off(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for site, cfg, missing in _with_config(facts, "remoteDebuggingEnabled"):
        if cfg is None:
            yield missing  # type: ignore[misc]
            continue
        name = display_name(site)
        p = props(cfg.content)
        value = p.get("remoteDebuggingEnabled")
        if value is False:
            yield passed(
                site.resource_id,
                f"App Service {name} の remoteDebuggingEnabled は false です",
                f"App Service {name} remoteDebuggingEnabled is false",
                site,
                cfg,
            )
        elif value is True:
            version = p.get("remoteDebuggingVersion")
            ver_ja = f"（remoteDebuggingVersion {version}）" if version else ""
            ver_en = f" (remoteDebuggingVersion {version})" if version else ""
            yield failed(
                site.resource_id,
                f"App Service {name} の remoteDebuggingEnabled が true です{ver_ja}（false が必要: 稼働中のサイトに"
                "デバッガーを接続できる）",
                f"App Service {name} remoteDebuggingEnabled is true{ver_en} (false required: a debugger can attach "
                "to the running site)",
                site,
                cfg,
            )
        else:
            ja, en = shown(value)
            yield errored(
                site.resource_id,
                f"App Service {name} の remoteDebuggingEnabled が {ja} で、リモートデバッグの状態を判定できません",
                f"App Service {name} remoteDebuggingEnabled is {en}; whether remote debugging is on cannot be told",
                site,
                cfg,
            )


@check(
    id="app-service-ftp-disabled",
    title_ja="App Service が平文の FTP を受け付けない",
    title_en="App Service accepts no plain FTP",
    judges=_SITES,
    reads=(FactKind.WEB_SITE, FactKind.WEB_CONFIG),
    per_subscription=True,  # a site and its configuration lie in one subscription
    per_resource=(FactKind.WEB_CONFIG,),
    api="Web Apps - Get Configuration (Slot) (.../config/web): properties.ftpsState",
    rule_ja="config/web の ftpsState が Disabled（FTP・FTPS とも不可）または FtpsOnly（TLS で暗号化された FTPS のみ）"
    "なら合格、AllAllowed（平文 FTP も可）は不合格。値が返されない・不明な値の場合はエラー。",
    rule_en="Passes when config/web ftpsState is Disabled (no FTP or FTPS) or FtpsOnly (only TLS-encrypted FTPS); "
    "AllAllowed (plain FTP too) fails. A missing or unrecognised value is an error.",
    remediation_ja="[構成] > [全般設定] で FTP の状態を「無効」（または「FTPS のみ」）にする"
    "（az webapp config set --ftps-state Disabled）。",
    remediation_en="Set FTP state to Disabled (or FTPS only) under Configuration > General settings "
    "(az webapp config set --ftps-state Disabled).",
)
def app_service_ftp_disabled(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for site, cfg, missing in _with_config(facts, "ftpsState"):
        if cfg is None:
            yield missing  # type: ignore[misc]
            continue
        name = display_name(site)
        value = props(cfg.content).get("ftpsState")
        low = value.strip().lower() if isinstance(value, str) else None
        if low in ("disabled", "ftpsonly"):
            what_ja = "FTP・FTPS とも無効" if low == "disabled" else "TLS で暗号化された FTPS のみ"
            what_en = "neither FTP nor FTPS" if low == "disabled" else "TLS-encrypted FTPS only"
            yield passed(
                site.resource_id,
                f"App Service {name} の ftpsState は {value} です（{what_ja}）",
                f"App Service {name} ftpsState is {value} ({what_en})",
                site,
                cfg,
            )
        elif low == "allallowed":
            yield failed(
                site.resource_id,
                f"App Service {name} の ftpsState が {value} です（平文の FTP で資格情報とファイルが送られる。"
                "Disabled または FtpsOnly が必要）",
                f"App Service {name} ftpsState is {value} (plain FTP sends credentials and files unencrypted; "
                "Disabled or FtpsOnly required)",
                site,
                cfg,
            )
        else:
            ja, en = shown(value)
            yield errored(
                site.resource_id,
                f"App Service {name} の ftpsState が {ja} で、平文 FTP を受け付けるか判定できません",
                f"App Service {name} ftpsState is {en}; whether plain FTP is accepted cannot be told",
                site,
                cfg,
            )


# ---------------------------------------------------------------- TLS cipher suites

_DATA = Path(__file__).resolve().parents[1] / "data"


@cache
def _cipher_suites() -> tuple[tuple[str, bool, bool], ...]:
    """(name, forward secrecy, SHA-1) of each suite, strongest first, from
    controls/data/app_service_tls_cipher_suites.yaml."""
    doc = yaml.safe_load((_DATA / "app_service_tls_cipher_suites.yaml").read_text(encoding="utf-8"))
    return tuple((str(s["name"]), bool(s["forward_secrecy"]), bool(s["sha1"])) for s in doc["suites"])


def _weak(suites: Iterator[tuple[str, bool, bool]] | tuple[tuple[str, bool, bool], ...]) -> list[str]:
    return [name for name, forward_secrecy, sha1 in suites if not forward_secrecy or sha1]


@check(
    id="app-service-min-tls-cipher-suite",
    title_ja="App Service が弱い TLS 暗号スイートを受け付けない",
    title_en="App Service accepts no weak TLS cipher suite",
    judges=_SITES,
    reads=(FactKind.WEB_SITE, FactKind.WEB_CONFIG),
    per_subscription=True,  # a site and its configuration lie in one subscription
    per_resource=(FactKind.WEB_CONFIG,),
    api="Web Apps - Get Configuration (Slot) (.../config/web): properties.minTlsCipherSuite, minTlsVersion; "
    "the suites' order and strength: controls/data/app_service_tls_cipher_suites.yaml",
    rule_ja="minTlsCipherSuite で有効なまま残る暗号スイート（指定したスイートとそれより強いもの）に、前方秘匿性のない"
    "もの（TLS_RSA_*）や SHA-1 のもの（*_CBC_SHA）がなければ合格。未設定はプラットフォーム既定で全スイートが有効の"
    "ため不合格。minTlsVersion が 1.3 なら TLS 1.3 のスイートだけが使われるため合格。一覧にない値はエラー。",
    rule_en="Passes when the suites minTlsCipherSuite leaves enabled (the one named and every stronger one) include "
    "none without forward secrecy (TLS_RSA_*) or with SHA-1 (*_CBC_SHA). Unset is the platform default, every suite "
    "enabled, and fails. A minTlsVersion of 1.3 uses TLS 1.3 suites only and passes. A value not in the list is an "
    "error.",
    remediation_ja="[構成] > [全般設定] の「最小 TLS 暗号スイート」を TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 など"
    "前方秘匿性のある AEAD スイートにする（az resource update --ids <site>/config/web --set "
    "properties.minTlsCipherSuite=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256）。",
    remediation_en="Set Minimum TLS cipher suite under Configuration > General settings to a forward-secret AEAD suite "
    "such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (az resource update --ids <site>/config/web --set "
    "properties.minTlsCipherSuite=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256).",
)
def app_service_min_tls_cipher_suite(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    suites = _cipher_suites()
    names = [name.lower() for name, _, _ in suites]
    for site, cfg, missing in _with_config(facts, "minTlsCipherSuite"):
        if cfg is None:
            yield missing  # type: ignore[misc]
            continue
        name = display_name(site)
        p = props(cfg.content)
        value = p.get("minTlsCipherSuite")
        min_tls = p.get("minTlsVersion")
        version = tls_version(min_tls)
        if version is not None and version >= (1, 3):
            yield passed(
                site.resource_id,
                f"App Service {name} の minTlsVersion は {min_tls} で、TLS 1.3 の暗号スイートだけが使われます",
                f"App Service {name} minTlsVersion is {min_tls}: only TLS 1.3 cipher suites are used",
                site,
                cfg,
            )
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            weak = _weak(suites)
            yield failed(
                site.resource_id,
                f"App Service {name} の minTlsCipherSuite が未設定です（既定ではすべてのスイートが有効で、弱い "
                f"{weak[-1]} など {len(weak)} 件も受け付ける）",
                f"App Service {name} minTlsCipherSuite is not set (by default every suite is enabled, {len(weak)} "
                f"weak ones such as {weak[-1]} among them)",
                site,
                cfg,
            )
            continue
        if not isinstance(value, str) or value.strip().lower() not in names:
            ja, en = shown(value)
            yield errored(
                site.resource_id,
                f"App Service {name} の minTlsCipherSuite の値 {ja} は既知の暗号スイート一覧にありません",
                f"App Service {name} minTlsCipherSuite {en} is not in the list of known cipher suites",
                site,
                cfg,
            )
            continue
        enabled = suites[: names.index(value.strip().lower()) + 1]
        weak = _weak(enabled)
        if weak:
            yield failed(
                site.resource_id,
                f"App Service {name} の minTlsCipherSuite が {value} で、弱いスイート {', '.join(weak)} が有効です"
                "（前方秘匿性のないもの・SHA-1 のものより強いスイートを最小にする必要があります）",
                f"App Service {name} minTlsCipherSuite is {value}, which leaves weak suites enabled: {', '.join(weak)} "
                "(the minimum must be above every suite without forward secrecy or with SHA-1)",
                site,
                cfg,
            )
        else:
            yield passed(
                site.resource_id,
                f"App Service {name} の minTlsCipherSuite は {value} で、有効な {len(enabled)} スイートはすべて"
                "前方秘匿性があり SHA-1 を使いません",
                f"App Service {name} minTlsCipherSuite is {value}: all {len(enabled)} enabled suites have forward "
                "secrecy and none uses SHA-1",
                site,
                cfg,
            )


# ---------------------------------------------------------------- certificates


def _common_name(value: Any) -> str:
    """ "CN=karte.example, O=Aozora" and "karte.example" name the same subject."""
    text = str(value or "").strip()
    for part in text.split(","):
        key, _, rest = part.strip().partition("=")
        if key.strip().upper() == "CN" and rest.strip():
            return rest.strip().lower()
    return text.lower()


@check(
    id="app-service-certificates-valid",
    title_ja="App Service 証明書が有効期限内で、期限が迫っておらず、自己署名でない",
    title_en="App Service certificates are in date, not about to expire, and not self-signed",
    judges=("microsoft.web/certificates",),
    reads=(WEB_CERTIFICATE,),
    api="Certificates - List (Microsoft.Web/certificates, one call per subscription): properties.expirationDate, "
    "issuer, subjectName, hostNames, thumbprint",
    rule_ja="収集時点で expirationDate を過ぎておらず、残り日数が certificate_expiry_warning_days（既定 30 日）以上で、"
    "発行者（issuer）がサブジェクトと異なる（自己署名でない）証明書は合格。期限切れ・期限間近・自己署名は不合格。"
    "有効期限や発行者が読めない場合はエラー。発行者が信頼できる認証局かどうかは理由に示し、判断は人が行う。",
    rule_en="Passes a certificate whose expirationDate is after the collection time by at least "
    "certificate_expiry_warning_days (default 30) and whose issuer differs from its subject (not self-signed). "
    "Expired, soon-expiring and self-signed certificates fail; an unreadable expiry date or issuer is an error. The "
    "issuer is shown in the reason; whether it is a trustworthy authority is for a person to confirm.",
    remediation_ja="認証局（WebTrust 準拠）から証明書を更新・再発行して App Service にアップロード（または Key Vault "
    "から再インポート）し、TLS/SSL バインドを新しい拇印に切り替える。自己署名証明書は公的認証局の証明書に置き換える。",
    remediation_en="Renew or reissue the certificate from a (WebTrust-audited) certificate authority, upload it to "
    "App Service (or re-import it from Key Vault) and move the TLS/SSL bindings to the new thumbprint; replace "
    "self-signed certificates with ones from a public authority.",
    thresholds=("certificate_expiry_warning_days",),
)
def app_service_certificates_valid(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    warn_days = thresholds.certificate_expiry_warning_days
    for cert in facts.of(WEB_CERTIFICATE):
        name = display_name(cert)
        p = props(cert.content)
        subject, issuer = p.get("subjectName"), p.get("issuer")
        hosts = p.get("hostNames")
        for_hosts = f"（{', '.join(map(str, hosts))}）" if isinstance(hosts, list) and hosts else ""
        for_hosts_en = f" ({', '.join(map(str, hosts))})" if isinstance(hosts, list) and hosts else ""
        subject_ja, subject_en = (
            f"App Service 証明書 {name}{for_hosts}",
            f"App Service certificate {name}{for_hosts_en}",
        )
        expires = parse_time(p.get("expirationDate"))
        if expires is None or not isinstance(issuer, str) or not issuer.strip():
            missing = "expirationDate" if expires is None else "issuer"
            ja, en = shown(p.get(missing))
            yield errored(
                cert.resource_id,
                f"{subject_ja} の {missing} が {ja} で、有効性を判定できません",
                f"{subject_en} {missing} is {en}; its validity cannot be judged",
                cert,
            )
            continue
        now = observed_at(cert)
        left = expires - now
        days = int(left.total_seconds() // 86400)
        on = expires.strftime("%Y-%m-%d")
        if left.total_seconds() <= 0:
            yield failed(
                cert.resource_id,
                f"{subject_ja}（発行者 {issuer}）は {on} に有効期限が切れています",
                f"{subject_en} (issuer {issuer}) expired on {on}",
                cert,
            )
        elif _common_name(issuer) == _common_name(subject):
            yield failed(
                cert.resource_id,
                f"{subject_ja} は自己署名です（発行者 {issuer} がサブジェクト {subject} と同じ。信頼できる認証局の"
                "証明書が必要）",
                f"{subject_en} is self-signed (issuer {issuer} is its subject {subject}; a certificate from a "
                "trustworthy authority is required)",
                cert,
            )
        elif days < warn_days:
            yield failed(
                cert.resource_id,
                f"{subject_ja}（発行者 {issuer}）は {on} に有効期限が切れます（残り {days} 日、"
                f"{warn_days} 日以上が必要）",
                f"{subject_en} (issuer {issuer}) expires on {on}, in {days} days ({warn_days} or more required)",
                cert,
            )
        else:
            yield passed(
                cert.resource_id,
                f"{subject_ja} は発行者 {issuer}、有効期限 {on}（残り {days} 日）です",
                f"{subject_en} is issued by {issuer} and valid until {on} ({days} days left)",
                cert,
            )


# ---------------------------------------------------------------- plans: zone redundancy

_MIN_ZONE_INSTANCES = 2  # App Service spreads a zone-redundant plan's instances over at least two zones


@check(
    id="app-service-plan-zone-redundant",
    title_ja="本番の App Service プランがゾーン冗長で 2 インスタンス以上",
    title_en="Production App Service plans are zone-redundant with two or more instances",
    judges=("microsoft.web/serverfarms",),
    reads=(APP_SERVICE_PLAN, FactKind.SUBSCRIPTION),
    api="App Service Plans - List (Microsoft.Web/serverfarms, one call per subscription): properties.zoneRedundant, "
    "sku.capacity, sku.tier; Subscriptions - List: tags (which subscriptions are production)",
    rule_ja="本番サブスクリプション（production_subscriptions、またはタグ environment_tag が production_tag_values の"
    "いずれか）の App Service プランごとに、zoneRedundant が true かつ sku.capacity（インスタンス数）が 2 以上なら"
    "合格。ゾーン冗長でない・1 インスタンスは不合格、インスタンス数が読めない場合はエラー。"
    "非本番のプランは判定しない。",
    rule_en="For each App Service plan in a production subscription (listed in production_subscriptions, or whose "
    "environment_tag is one of production_tag_values), passes when zoneRedundant is true and sku.capacity (the "
    "instance count) is 2 or more. A plan that is not zone-redundant or runs one instance fails; an unreadable "
    "instance count is an error. Plans in non-production subscriptions are not judged.",
    remediation_ja="ゾーン対応リージョン（japaneast 等）の Premium v3 以上で、ゾーン冗長を有効にしたプランに移し"
    "（az appservice plan create --zone-redundant --number-of-workers 2 以上）、インスタンス数を 2 以上にする。",
    remediation_en="Move the apps to a Premium v3 (or higher) plan in a zone-enabled region such as japaneast with "
    "zone redundancy on (az appservice plan create --zone-redundant --number-of-workers 2 or more) and keep two "
    "or more instances.",
    thresholds=("production_subscriptions", "environment_tag", "production_tag_values"),
    # A resource and the subscription that says whether it is production: nothing in another subscription.
    per_subscription=True,
)
def app_service_plan_zone_redundant(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    subscriptions = {str(ev.content.get("subscriptionId", "")).lower(): ev for ev in facts.of(FactKind.SUBSCRIPTION)}
    for plan in facts.of(APP_SERVICE_PLAN):
        name = display_name(plan)
        sub = subscription_of(plan.resource_id)
        env = classify(sub.split("/")[-1], subscriptions, thresholds) if sub else None
        if env is None:
            yield errored(
                plan.resource_id,
                f"App Service プラン {name} のサブスクリプションの文書が収集されておらず、本番かどうか判定できません",
                f"App Service plan {name}: its subscription's document was not collected, so whether it is "
                "production cannot be decided",
                plan,
            )
            continue
        if not env.production:
            continue
        subject_ja = f"本番サブスクリプション {env.name}（{env.basis_ja}）の App Service プラン {name}"
        subject_en = f"App Service plan {name} in production subscription {env.name} ({env.basis_en})"
        zone = props(plan.content).get("zoneRedundant")
        capacity = field(plan.content, "sku", "capacity")
        tier = field(plan.content, "sku", "tier") or field(plan.content, "sku", "name") or "?"
        used = [plan, env.evidence]
        if zone is not True:
            ja, en = shown(zone)
            yield failed(
                plan.resource_id,
                f"{subject_ja}（{tier}）の zoneRedundant が {ja} です（true が必要: 1 つのゾーンの障害で"
                "全インスタンスが止まる）",
                f"{subject_en} ({tier}) zoneRedundant is {en} (true required: one zone's failure stops every instance)",
                *used,
            )
        elif not isinstance(capacity, int) or isinstance(capacity, bool):
            ja, en = shown(capacity)
            yield errored(
                plan.resource_id,
                f"{subject_ja} の sku.capacity が {ja} で、インスタンス数を判定できません",
                f"{subject_en} sku.capacity is {en}; its instance count cannot be judged",
                *used,
            )
        elif capacity < _MIN_ZONE_INSTANCES:
            yield failed(
                plan.resource_id,
                f"{subject_ja} はゾーン冗長ですが sku.capacity が {capacity} です（{_MIN_ZONE_INSTANCES} 以上が必要）",
                f"{subject_en} is zone-redundant but sku.capacity is {capacity} ({_MIN_ZONE_INSTANCES} or more "
                "required)",
                *used,
            )
        else:
            yield passed(
                plan.resource_id,
                f"{subject_ja} は zoneRedundant=true、sku.capacity {capacity} です",
                f"{subject_en} is zone-redundant (zoneRedundant true) with sku.capacity {capacity}",
                *used,
            )


# ---------------------------------------------------------------- runtime stacks

_STACK_NAMES = {"dotnet": ".NET", "dotnetframework": ".NET Framework", "node": "Node.js", "python": "Python",
                "php": "PHP", "java": "Java", "tomcat": "Tomcat", "powershell": "PowerShell"}  # fmt: skip
_LINUX_STACKS = {"dotnetcore": "dotnet", "dotnet": "dotnet", "dotnet-isolated": "dotnet", "node": "node",
                 "python": "python", "php": "php", "java": "java", "tomcat": "tomcat",
                 "powershell": "powershell"}  # fmt: skip
_CONTAINERS = frozenset({"docker", "compose", "kube", "sitecontainers"})


@dataclass(frozen=True)
class _Runtime:
    """One runtime component a site runs: where it was read, the stack and version it names."""

    source: str  # "linuxFxVersion DOTNETCORE|8.0"
    stack: str  # a key of the table ("dotnet"), or "" when it cannot be told
    version: str  # "8.0", or "" when it cannot be told


@cache
def _runtime_table() -> tuple[str, dict[str, dict[str, date | None]]]:
    """(compiled, {stack: {version: end of support or None}}) from controls/data/app_service_runtimes.yaml."""
    doc = yaml.safe_load((_DATA / "app_service_runtimes.yaml").read_text(encoding="utf-8"))
    stacks = {str(k): {str(v): d for v, d in versions.items()} for k, versions in doc["stacks"].items()}
    return str(doc["compiled"]), stacks


def _major_minor(text: str, *, minor: bool) -> str:
    """ "8" -> "8.0" (minor) or "8"; "20-lts" / "~20" -> "20"; "1.8" (Java) -> "8"; "" when no number leads."""
    m = re.match(r"^[~v^]?(\d+)(?:\.(\d+))?", text.strip().lower())
    if not m:
        return ""
    major, rest = m.group(1), m.group(2)
    if major == "1" and rest == "8":  # Java 8 written 1.8
        return "8"
    return f"{major}.{rest or 0}" if minor else major


_MINOR = {"dotnet", "python", "php", "tomcat", "powershell", "dotnetframework"}


def _component(stack: str, version_text: str, source: str) -> _Runtime:
    return _Runtime(source, stack, _major_minor(version_text, minor=stack in _MINOR))


def _runtimes(site: Evidence, cfg: Evidence) -> tuple[list[_Runtime], str | None]:
    """The runtime components config/web names, or ([], why they cannot be told)."""
    p = props(cfg.content)
    linux = str(p.get("linuxFxVersion") or "").strip()
    windows_fx = str(p.get("windowsFxVersion") or "").strip()
    if linux or windows_fx:
        fx_field, fx = ("linuxFxVersion", linux) if linux else ("windowsFxVersion", windows_fx)
        stack_text, _, version_text = fx.partition("|")
        stack = stack_text.strip().lower()
        source = f"{fx_field} {fx}"
        if stack in _CONTAINERS:
            return [], f"{source}: a custom container; its runtime is inside the image"
        if stack not in _LINUX_STACKS:
            return [_Runtime(source, "", "")], None
        key = _LINUX_STACKS[stack]
        parts = [_component(key, version_text, source)]
        java = re.search(r"-(?:java|jre)(\d+)", version_text.lower())
        if key == "tomcat" and java:
            parts.append(_component("java", java.group(1), source))
        return parts, None
    if "linux" in str(site.content.get("kind") or "").lower():
        return [], "linuxFxVersion is not set on a Linux site"
    found: list[_Runtime] = []
    framework = str(p.get("netFrameworkVersion") or "").strip()
    if framework:
        number = _major_minor(framework, minor=True)
        source = f"netFrameworkVersion {framework}"
        if number in ("4.0", "2.0"):  # the CLR version: ASP.NET 4.8 or 3.5
            found.append(_Runtime(source, "dotnetframework", "4.8" if number == "4.0" else "3.5"))
        else:
            found.append(_Runtime(source, "dotnet", number))
    for field_name, key in (("phpVersion", "php"), ("pythonVersion", "python"), ("nodeVersion", "node"),
                            ("javaVersion", "java"), ("powerShellVersion", "powershell")):  # fmt: skip
        value = str(p.get(field_name) or "").strip()
        if value and value.lower() != "off":
            found.append(_component(key, value, f"{field_name} {value}"))
    container = str(p.get("javaContainer") or "").strip()
    if p.get("javaVersion") and container.lower() == "tomcat":
        version = str(p.get("javaContainerVersion") or "")
        found.append(_component("tomcat", version, f"javaContainer {container} {version}"))
    if not found:
        return [], "no runtime field is set (linuxFxVersion, windowsFxVersion, netFrameworkVersion, ...)"
    return found, None


@check(
    id="app-service-runtime-supported",
    title_ja="App Service のランタイムがサポート期間内",
    title_en="App Service runtime stack is still supported",
    judges=_SITES,
    reads=(FactKind.WEB_SITE, FactKind.WEB_CONFIG),
    per_subscription=True,  # a site and its configuration lie in one subscription
    per_resource=(FactKind.WEB_CONFIG,),
    api="Web Apps - Get Configuration (Slot) (.../config/web): properties.linuxFxVersion, windowsFxVersion, "
    "netFrameworkVersion, phpVersion, pythonVersion, nodeVersion, javaVersion, javaContainer, javaContainerVersion, "
    "powerShellVersion; end-of-support dates: controls/data/app_service_runtimes.yaml",
    rule_ja="サイトが使うランタイム（Linux は linuxFxVersion、Windows は netFrameworkVersion・phpVersion・"
    "pythonVersion・nodeVersion・javaVersion 等）のすべてが、収集時点でサポート終了日を過ぎていなければ合格。"
    "1 つでも過ぎていれば不合格。表にないバージョン、カスタムコンテナー、ランタイムが読めない場合はエラー。"
    "アプリ設定（WEBSITE_NODE_DEFAULT_VERSION、FUNCTIONS_WORKER_RUNTIME 等）だけで指定したバージョンは、"
    "アプリ設定に秘密情報が含まれるため収集せず、判定しない。",
    rule_en="Passes when every runtime the site uses (linuxFxVersion on Linux; netFrameworkVersion, phpVersion, "
    "pythonVersion, nodeVersion, javaVersion and the like on Windows) is before its end-of-support date at "
    "collection. One past its date fails. A version not in the table, a custom container, or a runtime that cannot "
    "be read is an error. A version set only in app settings (WEBSITE_NODE_DEFAULT_VERSION, "
    "FUNCTIONS_WORKER_RUNTIME) is not judged: app settings hold secrets and are not collected.",
    remediation_ja="[構成] > [全般設定] でサポート中のバージョン（例: DOTNETCORE|10.0、NODE|22-lts、PYTHON|3.12）に"
    '更新し、アプリを再ビルド・テストしてデプロイする（az webapp config set --linux-fx-version "DOTNETCORE|10.0"）。',
    remediation_en="Move to a supported version under Configuration > General settings (e.g. DOTNETCORE|10.0, "
    "NODE|22-lts, PYTHON|3.12), rebuilding and testing the app first "
    '(az webapp config set --linux-fx-version "DOTNETCORE|10.0").',
)
def app_service_runtime_supported(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    compiled, table = _runtime_table()
    for site, cfg, missing in _with_config(facts, "linuxFxVersion"):
        if cfg is None:
            yield missing  # type: ignore[misc]
            continue
        name = display_name(site)
        parts, why = _runtimes(site, cfg)
        if why:
            yield errored(
                site.resource_id,
                f"App Service {name} のランタイムを判定できません（{why}）",
                f"App Service {name} runtime cannot be judged ({why})",
                site,
                cfg,
            )
            continue
        today = observed_at(cfg).date()
        ended_ja, ended_en, unknown, fine_ja, fine_en = [], [], [], [], []
        for part in parts:
            label = f"{_STACK_NAMES.get(part.stack, part.stack)} {part.version}".strip()
            versions = table.get(part.stack)
            if not part.stack or versions is None or part.version not in versions:
                unknown.append(part.source)
                continue
            end = versions[part.version]
            if end is not None and end <= today:
                ended_ja.append(f"{part.source}（{label}、{end.isoformat()} にサポート終了）")
                ended_en.append(f"{part.source} ({label}, support ended {end.isoformat()})")
            elif end is None:
                fine_ja.append(f"{part.source}（{label}、終了日の発表なし）")
                fine_en.append(f"{part.source} ({label}, no end announced)")
            else:
                fine_ja.append(f"{part.source}（{label}、{end.isoformat()} までサポート）")
                fine_en.append(f"{part.source} ({label}, supported until {end.isoformat()})")
        also_ja = f"。表にないもの: {', '.join(unknown)}" if unknown else ""
        also_en = f"; not in the table: {', '.join(unknown)}" if unknown else ""
        if ended_en:
            yield failed(
                site.resource_id,
                f"App Service {name} のランタイムがサポート終了しています: {'; '.join(ended_ja)}{also_ja}",
                f"App Service {name} runs a runtime past its end of support: {'; '.join(ended_en)}{also_en}",
                site,
                cfg,
            )
        elif unknown:
            yield errored(
                site.resource_id,
                f"App Service {name} のランタイム {', '.join(unknown)} はサポート期限の表（{compiled} 作成）に"
                "ありません",
                f"App Service {name} runtime {', '.join(unknown)} is not in the end-of-support table (compiled "
                f"{compiled})",
                site,
                cfg,
            )
        else:
            yield passed(
                site.resource_id,
                f"App Service {name} のランタイムはサポート期間内です: {'; '.join(fine_ja)}",
                f"App Service {name} runtime is supported: {'; '.join(fine_en)}",
                site,
                cfg,
            )
