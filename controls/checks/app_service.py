"""App Service (web apps and function apps): TLS minimum, HTTPS only, client certificates."""

from __future__ import annotations

from collections.abc import Iterator

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, error_covering, min_tls_outcome, norm_id, props, shown
from controls.model import FactKind, FactSet, Thresholds

# Deployment slots have their own host names and settings, so they are judged like sites.
_SITES = ("microsoft.web/sites", "microsoft.web/sites/slots")


@check(
    id="app-service-min-tls-1-2",
    title_ja="App Service の最小 TLS バージョンが 1.2 以上",
    title_en="App Service minimum TLS version is 1.2 or newer",
    judges=_SITES,
    reads=(FactKind.WEB_SITE, FactKind.WEB_CONFIG),
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
