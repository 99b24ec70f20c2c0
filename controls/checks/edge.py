"""Edge protection: intrusion prevention on Azure Firewall, web application firewalls in Prevention mode with
current managed rule sets, DDoS protection of public endpoints, and the TLS policy of Application Gateways."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import (
    display_name,
    field,
    name_from_id,
    norm_id,
    props,
    shown,
    subscription_of,
    vnet_of_subnet,
)
from controls.checks.network_isolation import classify
from controls.model import Evidence, FactKind, FactSet, Thresholds

# Fact kinds (collector.fetchers.edge, collector.fetchers.network).
AZURE_FIREWALL = "azure_firewall"
FIREWALL_POLICY = "firewall_policy"
APPLICATION_GATEWAY = "application_gateway"
APP_GATEWAY_WAF_POLICY = "app_gateway_waf_policy"
FRONT_DOOR_WAF_POLICY = "front_door_waf_policy"
PUBLIC_IP_ADDRESS = "public_ip_address"
NETWORK_INTERFACE = "network_interface"
VIRTUAL_NETWORK = "virtual_network"

APP_GATEWAY_TYPE = "microsoft.network/applicationgateways"
AGW_WAF_POLICY_TYPE = "microsoft.network/applicationgatewaywebapplicationfirewallpolicies"
FD_WAF_POLICY_TYPE = "microsoft.network/frontdoorwebapplicationfirewallpolicies"


def _fmt(value: Any) -> str:
    return shown(value)[0]


def _fmt_en(value: Any) -> str:
    return shown(value)[1]


# ---------------------------------------------------------------- Azure Firewall IDPS


@check(
    id="firewall-idps-deny",
    title_ja="Azure Firewall が Premium のファイアウォールポリシーで IDPS と脅威インテリジェンスを有効にしている",
    title_en="Azure Firewalls run IDPS and threat intelligence through a Premium firewall policy",
    judges=("microsoft.network/azurefirewalls",),
    reads=(AZURE_FIREWALL, FIREWALL_POLICY),
    api="Azure Firewalls - List All: sku.tier, properties.firewallPolicy.id; Firewall Policies - List All: "
    "properties.sku.tier, properties.intrusionDetection.mode, properties.threatIntelMode",
    rule_ja="Azure Firewall ごとに、SKU が Premium で、関連付けられたファイアウォールポリシーの SKU が Premium、"
    "intrusionDetection.mode が idps_accepted_modes（既定 Deny のみ。Alert は検知のみで遮断しないため既定では不合格）の"
    "いずれか、threatIntelMode が Off 以外なら合格。ポリシーなし（クラシック規則）、Standard/Basic、IDPS が Off・"
    "未設定、threatIntelMode が Off なら不合格。関連付けたポリシーが収集されていない、threatIntelMode が読めない"
    "ときはエラー。",
    rule_en="For each Azure Firewall, passes when its SKU tier is Premium and its firewall policy has SKU tier "
    "Premium, intrusionDetection.mode in idps_accepted_modes (default Deny only: Alert detects but does not block, "
    "so it fails by default) and a threatIntelMode other than Off. Fails with no policy (classic rules), a "
    "Standard or Basic tier, IDPS Off or unset, or threat intelligence Off. A linked policy that was not "
    "collected, or an unreadable threatIntelMode, is an error.",
    remediation_ja="Azure Firewall とファイアウォールポリシーを Premium にし、ポリシーの [IDPS] を「アラートと拒否」"
    "（intrusionDetection.mode: Deny）、[脅威インテリジェンス] を「アラートと拒否」にする。",
    remediation_en="Use Premium for the firewall and its firewall policy; set the policy's IDPS to 'Alert and deny' "
    "(intrusionDetection.mode: Deny) and threat intelligence to Alert or Deny.",
    thresholds=("idps_accepted_modes",),
)
def firewall_idps_deny(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    policies = facts.by_id(FIREWALL_POLICY)
    accepted = {m.strip().lower() for m in thresholds.idps_accepted_modes}
    accepted_text = ", ".join(thresholds.idps_accepted_modes)
    for fw in facts.of(AZURE_FIREWALL):
        name = display_name(fw)
        subject_ja, subject_en = f"Azure Firewall {name}", f"Azure Firewall {name}"
        tier = field(fw.content, "properties", "sku", "tier") or field(fw.content, "sku", "tier")
        policy_id = field(fw.content, "properties", "firewallPolicy", "id")
        if str(tier or "").lower() != "premium":
            yield failed(
                fw.resource_id,
                f"{subject_ja} の SKU が {_fmt(tier)} です（IDPS には Premium が必要）",
                f"{subject_en} has SKU tier {_fmt_en(tier)}; IDPS requires Premium",
                fw,
            )
            continue
        if not isinstance(policy_id, str) or not policy_id:
            yield failed(
                fw.resource_id,
                f"{subject_ja} にファイアウォールポリシーが関連付けられていません"
                "（クラシック規則では IDPS を使えません）",
                f"{subject_en} has no firewallPolicy (classic rules cannot run IDPS)",
                fw,
            )
            continue
        policy = policies.get(norm_id(policy_id))
        pname = name_from_id(policy_id)
        if policy is None:
            yield errored(
                fw.resource_id,
                f"{subject_ja} のファイアウォールポリシー {pname} が収集されておらず、IDPS を判定できません",
                f"{subject_en}: its firewall policy {pname} was not collected, so IDPS cannot be judged",
                fw,
            )
            continue
        p = props(policy.content)
        ptier = field(p, "sku", "tier")
        mode = field(p, "intrusionDetection", "mode")
        intel = p.get("threatIntelMode")
        used: list[Evidence] = [fw, policy]
        base_id = field(p, "basePolicy", "id")
        if mode is None and isinstance(base_id, str) and base_id:
            # A child policy without IDPS settings of its own inherits its parent's.
            base = policies.get(norm_id(base_id))
            if base is None:
                yield errored(
                    fw.resource_id,
                    f"{subject_ja} のファイアウォールポリシー {pname} は IDPS 設定を親ポリシー "
                    f"{name_from_id(base_id)} から継承しますが、親ポリシーが収集されていません",
                    f"{subject_en} firewall policy {pname} inherits IDPS from parent policy "
                    f"{name_from_id(base_id)}, which was not collected",
                    fw,
                    policy,
                )
                continue
            used.append(base)
            mode = field(base.content, "properties", "intrusionDetection", "mode")
        problems_ja: list[str] = []
        problems_en: list[str] = []
        if str(ptier or "").lower() != "premium":
            problems_ja.append(f"ポリシーの SKU が {_fmt(ptier)}（Premium が必要）")
            problems_en.append(f"policy SKU tier is {_fmt_en(ptier)} (Premium required)")
        if str(mode or "").lower() not in accepted:
            problems_ja.append(f"intrusionDetection.mode が {_fmt(mode)}（許容: {accepted_text}）")
            problems_en.append(f"intrusionDetection.mode is {_fmt_en(mode)} (accepted: {accepted_text})")
        if isinstance(intel, str) and intel.lower() == "off":
            problems_ja.append("threatIntelMode が Off")
            problems_en.append("threatIntelMode is Off")
        if problems_en:
            yield failed(
                fw.resource_id,
                f"{subject_ja} のファイアウォールポリシー {pname}: {'、'.join(problems_ja)}",
                f"{subject_en} firewall policy {pname}: {'; '.join(problems_en)}",
                *used,
            )
        elif not isinstance(intel, str) or not intel:
            yield errored(
                fw.resource_id,
                f"{subject_ja} のファイアウォールポリシー {pname} の threatIntelMode を読めません",
                f"{subject_en} firewall policy {pname}: threatIntelMode is missing",
                *used,
            )
        else:
            yield passed(
                fw.resource_id,
                f"{subject_ja} は Premium のファイアウォールポリシー {pname} で IDPS {mode}、"
                f"脅威インテリジェンス {intel} です",
                f"{subject_en} uses Premium firewall policy {pname} with IDPS mode {mode} and threat "
                f"intelligence {intel}",
                *used,
            )


# ---------------------------------------------------------------- WAF in Prevention mode


def _gateway_policy_ids(gw: dict[str, Any]) -> list[str]:
    """The WAF policies a gateway applies: its own, and any per listener or per path rule."""
    ids: list[str] = []
    own = field(gw, "properties", "firewallPolicy", "id")
    if isinstance(own, str) and own:
        ids.append(own)
    for listener in field(gw, "properties", "httpListeners") or []:
        lid = field(listener, "properties", "firewallPolicy", "id")
        if isinstance(lid, str) and lid and norm_id(lid) not in {norm_id(i) for i in ids}:
            ids.append(lid)
    for path_map in field(gw, "properties", "urlPathMaps") or []:
        for rule in field(path_map, "properties", "pathRules") or []:
            rid = field(rule, "properties", "firewallPolicy", "id")
            if isinstance(rid, str) and rid and norm_id(rid) not in {norm_id(i) for i in ids}:
                ids.append(rid)
    return ids


def _waf_state(policy: dict[str, Any], front_door: bool) -> tuple[Any, Any]:
    settings = field(policy, "properties", "policySettings")
    state = field(settings, "enabledState" if front_door else "state")
    return state, field(settings, "mode")


@check(
    id="waf-prevention-mode",
    title_ja="Application Gateway と Front Door の WAF が有効で防止モードになっている",
    title_en="Application Gateway and Front Door web application firewalls are enabled in Prevention mode",
    judges=(APP_GATEWAY_TYPE, FD_WAF_POLICY_TYPE),
    reads=(APPLICATION_GATEWAY, APP_GATEWAY_WAF_POLICY, FRONT_DOOR_WAF_POLICY),
    api="Application Gateways - List All: sku.tier, properties.firewallPolicy.id, httpListeners[].properties."
    "firewallPolicy.id, urlPathMaps[].pathRules[].properties.firewallPolicy.id, "
    "webApplicationFirewallConfiguration.{enabled, firewallMode}; Web Application Firewall Policies - List All: "
    "properties.policySettings.{state, mode}; Front Door Policies - List By Subscription: "
    "properties.policySettings.{enabledState, mode}",
    rule_ja="Application Gateway ごとに、適用される WAF ポリシー（ゲートウェイ・リスナー・パス規則）がすべて "
    "policySettings.state Enabled かつ mode Prevention なら合格。ポリシーがなく旧来の WAF 構成"
    "（webApplicationFirewallConfiguration）なら enabled true かつ firewallMode Prevention で合格。WAF がない"
    "（Standard SKU でポリシーなし）、無効、Detection モードなら不合格。参照先ポリシーが収集されていなければ"
    "エラー。Front Door の WAF ポリシーは enabledState Enabled かつ mode Prevention で合格。",
    rule_en="For each Application Gateway, passes when every WAF policy it applies (gateway, listener and path "
    "rule) has policySettings.state Enabled and mode Prevention; without a policy, a legacy "
    "webApplicationFirewallConfiguration passes with enabled true and firewallMode Prevention. Fails with no "
    "WAF at all (Standard SKU, no policy), a disabled WAF or Detection mode. A referenced policy that was not "
    "collected is an error. Each Front Door WAF policy passes with enabledState Enabled and mode Prevention.",
    remediation_ja="WAF_v2 SKU の Application Gateway に WAF ポリシーを関連付け、ポリシーの [ポリシー設定] で状態を"
    "有効、モードを「防止」にする（Front Door WAF ポリシーも同様）。検知モードでの調整は期限を決めて終える。",
    remediation_en="Associate a WAF policy with each Application Gateway (WAF_v2 SKU) and set the policy to "
    "Enabled and Prevention mode (likewise for Front Door WAF policies); end any tuning in Detection mode on a "
    "fixed date.",
)
def waf_prevention_mode(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    policies = facts.by_id(APP_GATEWAY_WAF_POLICY)
    for gw in facts.of(APPLICATION_GATEWAY):
        name = display_name(gw)
        subject_ja, subject_en = f"Application Gateway {name}", f"Application Gateway {name}"
        ids = _gateway_policy_ids(gw.content)
        if ids:
            used: list[Evidence] = [gw]
            bad_ja: list[str] = []
            bad_en: list[str] = []
            good: list[str] = []
            missing: list[str] = []
            for pid in ids:
                policy = policies.get(norm_id(pid))
                pname = name_from_id(pid)
                if policy is None:
                    missing.append(pname)
                    continue
                used.append(policy)
                state, mode = _waf_state(policy.content, front_door=False)
                if str(state or "").lower() == "enabled" and str(mode or "").lower() == "prevention":
                    good.append(pname)
                else:
                    bad_ja.append(f"WAF ポリシー {pname} が state {_fmt(state)}・mode {_fmt(mode)}")
                    bad_en.append(f"WAF policy {pname} has state {_fmt_en(state)} and mode {_fmt_en(mode)}")
            if bad_en:
                yield failed(
                    gw.resource_id,
                    f"{subject_ja}: {'、'.join(bad_ja)}（Enabled かつ Prevention が必要）",
                    f"{subject_en}: {'; '.join(bad_en)} (Enabled and Prevention required)",
                    *used,
                )
            elif missing:
                yield errored(
                    gw.resource_id,
                    f"{subject_ja} の WAF ポリシー {', '.join(missing)} が収集されておらず、判定できません",
                    f"{subject_en}: WAF policy {', '.join(missing)} was not collected, so it cannot be judged",
                    *used,
                )
            else:
                yield passed(
                    gw.resource_id,
                    f"{subject_ja} の WAF ポリシー {', '.join(good)} は有効で防止モードです",
                    f"{subject_en} applies WAF policy {', '.join(good)}, Enabled in Prevention mode",
                    *used,
                )
            continue
        legacy = field(gw.content, "properties", "webApplicationFirewallConfiguration")
        if isinstance(legacy, dict):
            enabled, mode = legacy.get("enabled"), legacy.get("firewallMode")
            if enabled is True and str(mode or "").lower() == "prevention":
                yield passed(
                    gw.resource_id,
                    f"{subject_ja} の WAF 構成（webApplicationFirewallConfiguration）は有効で防止モードです",
                    f"{subject_en} WAF configuration (webApplicationFirewallConfiguration) is enabled in "
                    "Prevention mode",
                    gw,
                )
            else:
                yield failed(
                    gw.resource_id,
                    f"{subject_ja} の WAF 構成が enabled {_fmt(enabled)}・firewallMode {_fmt(mode)} です"
                    "（有効かつ Prevention が必要）",
                    f"{subject_en} WAF configuration has enabled {_fmt_en(enabled)} and firewallMode "
                    f"{_fmt_en(mode)} (enabled and Prevention required)",
                    gw,
                )
            continue
        tier = field(gw.content, "properties", "sku", "tier")
        yield failed(
            gw.resource_id,
            f"{subject_ja}（SKU {_fmt(tier)}）に WAF ポリシーも WAF 構成もなく、Web 攻撃を検知・遮断していません",
            f"{subject_en} (SKU tier {_fmt_en(tier)}) has neither a WAF policy nor a WAF configuration: web "
            "attacks are neither detected nor blocked",
            gw,
        )
    for policy in facts.of(FRONT_DOOR_WAF_POLICY):
        name = display_name(policy)
        state, mode = _waf_state(policy.content, front_door=True)
        if str(state or "").lower() == "enabled" and str(mode or "").lower() == "prevention":
            yield passed(
                policy.resource_id,
                f"Front Door WAF ポリシー {name} は有効で防止モードです",
                f"Front Door WAF policy {name} is Enabled in Prevention mode",
                policy,
            )
        else:
            yield failed(
                policy.resource_id,
                f"Front Door WAF ポリシー {name} が enabledState {_fmt(state)}・mode {_fmt(mode)} です"
                "（Enabled かつ Prevention が必要）",
                f"Front Door WAF policy {name} has enabledState {_fmt_en(state)} and mode {_fmt_en(mode)} "
                "(Enabled and Prevention required)",
                policy,
            )


# ---------------------------------------------------------------- current managed rule sets

# The oldest managed rule set version accepted per service and rule set type, as reviewed on 2026-12-01
# against Microsoft Learn: "Web Application Firewall DRS and CRS rule groups and rules" (Application
# Gateway: DRS 2.1 is the recommended default, CRS 3.2 the newest CRS; CRS 2.2.9, 3.0 and 3.1 are legacy),
# "Azure Web Application Firewall DRS rule groups and rules" (Front Door: Microsoft_DefaultRuleSet 2.1 is
# current; DefaultRuleSet 1.0 and Microsoft_DefaultRuleSet 1.1 / 2.0 are superseded) and the bot manager
# rule set pages (Microsoft_BotManagerRuleSet 0.1 is superseded by 1.0 / 1.1). A type not listed here
# cannot be judged and is an error until this table is reviewed again.
RULESET_SOURCE = "Microsoft Learn, WAF DRS/CRS and bot manager rule set pages, reviewed 2026-12-01"
CURRENT_RULESETS: dict[str, dict[str, tuple[int, ...] | None]] = {
    "application_gateway": {
        "owasp": (3, 2),
        "microsoft_defaultruleset": (2, 1),
        "microsoft_botmanagerruleset": (1, 0),
    },
    "front_door": {
        "microsoft_defaultruleset": (2, 1),
        "defaultruleset": None,  # superseded as a whole by Microsoft_DefaultRuleSet
        "microsoft_botmanagerruleset": (1, 0),
    },
}


def _version(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d+(\.\d+)*", value.strip()):
        return None
    return tuple(int(x) for x in value.strip().split("."))


def _dotted(v: tuple[int, ...]) -> str:
    return ".".join(str(x) for x in v)


@check(
    id="waf-managed-ruleset-current",
    title_ja="WAF ポリシーのマネージドルールセットが現行バージョンである",
    title_en="WAF policies use current managed rule set versions",
    judges=(AGW_WAF_POLICY_TYPE, FD_WAF_POLICY_TYPE),
    reads=(APP_GATEWAY_WAF_POLICY, FRONT_DOOR_WAF_POLICY),
    api="Web Application Firewall Policies - List All and Front Door Policies - List By Subscription: "
    "properties.managedRules.managedRuleSets[].{ruleSetType, ruleSetVersion}",
    rule_ja="WAF ポリシーごとに、マネージドルールセットが 1 つ以上あり、すべてが現行版以上（Application Gateway: "
    "OWASP 3.2、Microsoft_DefaultRuleSet 2.1、Microsoft_BotManagerRuleSet 1.0。Front Door: "
    "Microsoft_DefaultRuleSet 2.1、Microsoft_BotManagerRuleSet 1.0。DefaultRuleSet は旧版）なら合格。古い版、"
    "ルールセットなしは不合格。表にない種類や読めない版はエラー（表の出典と確認日はチェックの定義に記載）。",
    rule_en="For each WAF policy, passes when it has at least one managed rule set and every one is at or above "
    "the current version (Application Gateway: OWASP 3.2, Microsoft_DefaultRuleSet 2.1, "
    "Microsoft_BotManagerRuleSet 1.0; Front Door: Microsoft_DefaultRuleSet 2.1, Microsoft_BotManagerRuleSet "
    "1.0; DefaultRuleSet is superseded). Fails on an older version or no rule set. A type not in the table or "
    "an unreadable version is an error (the table's source and review date are in the check's definition).",
    remediation_ja="WAF ポリシーの [マネージドルール] でルールセットを DRS 2.1（Application Gateway で DRS を"
    "使えない場合は OWASP 3.2）に上げ、検知モードで誤検知を確認してから防止モードに戻す。",
    remediation_en="In the WAF policy's managed rules, move to DRS 2.1 (OWASP 3.2 where DRS cannot be used on "
    "Application Gateway); check false positives in Detection mode before returning to Prevention.",
)
def waf_managed_ruleset_current(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for kind, service, label_ja, label_en in (
        (
            APP_GATEWAY_WAF_POLICY,
            "application_gateway",
            "Application Gateway WAF ポリシー",
            "Application Gateway WAF policy",
        ),
        (FRONT_DOOR_WAF_POLICY, "front_door", "Front Door WAF ポリシー", "Front Door WAF policy"),
    ):
        table = CURRENT_RULESETS[service]
        for policy in facts.of(kind):
            subject_ja = f"{label_ja} {display_name(policy)}"
            subject_en = f"{label_en} {display_name(policy)}"
            sets = field(policy.content, "properties", "managedRules", "managedRuleSets")
            if sets is None or sets == []:
                yield failed(
                    policy.resource_id,
                    f"{subject_ja} にマネージドルールセットがありません（シグネチャによる検知なし）",
                    f"{subject_en} has no managed rule set (no signature-based detection)",
                    policy,
                )
                continue
            if not isinstance(sets, list):
                yield errored(
                    policy.resource_id,
                    f"{subject_ja} の managedRuleSets を解釈できません",
                    f"{subject_en}: managedRuleSets is not a list",
                    policy,
                )
                continue
            old_ja: list[str] = []
            old_en: list[str] = []
            unknown_ja: list[str] = []
            unknown_en: list[str] = []
            seen: list[str] = []
            for rs in sets:
                rtype, rver = field(rs, "ruleSetType"), field(rs, "ruleSetVersion")
                shown_set = f"{_fmt_en(rtype)} {_fmt_en(rver)}"
                seen.append(shown_set)
                key = str(rtype or "").lower()
                if key not in table:
                    unknown_ja.append(f"{shown_set}（現行版の表にない種類）")
                    unknown_en.append(f"{shown_set} (type not in the table of current versions)")
                    continue
                minimum = table[key]
                if minimum is None:
                    old_ja.append(f"{shown_set}（旧ルールセット。Microsoft_DefaultRuleSet へ移行が必要）")
                    old_en.append(f"{shown_set} (superseded; move to Microsoft_DefaultRuleSet)")
                    continue
                version = _version(rver)
                if version is None:
                    unknown_ja.append(f"{shown_set}（版を読めません）")
                    unknown_en.append(f"{shown_set} (version unreadable)")
                elif version < minimum:
                    old_ja.append(f"{shown_set}（現行は {_dotted(minimum)} 以上）")
                    old_en.append(f"{shown_set} (current is {_dotted(minimum)} or newer)")
            if old_en:
                also_ja = f"。ほかに判定できない: {'; '.join(unknown_ja)}" if unknown_ja else ""
                also_en = f"; also unjudged: {'; '.join(unknown_en)}" if unknown_en else ""
                yield failed(
                    policy.resource_id,
                    f"{subject_ja} のマネージドルールセットが古い版です: {'; '.join(old_ja)}{also_ja}",
                    f"{subject_en} uses an outdated managed rule set: {'; '.join(old_en)}{also_en}",
                    policy,
                )
            elif unknown_en:
                yield errored(
                    policy.resource_id,
                    f"{subject_ja} のマネージドルールセットを判定できません: {'; '.join(unknown_ja)}",
                    f"{subject_en} managed rule set cannot be judged: {'; '.join(unknown_en)}",
                    policy,
                )
            else:
                yield passed(
                    policy.resource_id,
                    f"{subject_ja} のマネージドルールセット {', '.join(seen)} は現行版です（{RULESET_SOURCE}）",
                    f"{subject_en} uses current managed rule sets {', '.join(seen)} ({RULESET_SOURCE})",
                    policy,
                )


# ---------------------------------------------------------------- Application Gateway TLS policy

# Predefined policies whose minimum protocol is TLS 1.2 (AppGwSslPolicy20150501 and AppGwSslPolicy20170401
# allow TLS 1.0 / 1.1). Source: Microsoft Learn, "Application Gateway TLS policy overview".
STRONG_PREDEFINED = ("AppGwSslPolicy20170401S", "AppGwSslPolicy20220101", "AppGwSslPolicy20220101S")
# TLS 1.3 suites are all AEAD with forward secrecy.
_TLS13_SUITES = {"tls_aes_128_gcm_sha256", "tls_aes_256_gcm_sha384", "tls_chacha20_poly1305_sha256"}


def weak_cipher(suite: str) -> str | None:
    """Why a TLS 1.2 cipher suite falls short of the IPA guideline's recommended set, or None when it does
    not: it must use ephemeral key exchange (ECDHE/DHE, forward secrecy), no SHA-1 MAC, and no 3DES, RC4,
    DES, NULL or EXPORT cipher."""
    s = suite.strip().lower()
    if s in _TLS13_SUITES:
        return None
    if any(bad in s for bad in ("_3des_", "_rc4_", "_des_", "_null_", "export")):
        return "obsolete cipher"
    if not (s.startswith("tls_ecdhe_") or s.startswith("tls_dhe_")):
        return "no forward secrecy"
    if s.endswith("_sha"):
        return "SHA-1 MAC"
    return None


def _tls_at_least_12(value: Any) -> bool | None:
    m = re.fullmatch(r"tlsv?1_([0-9])", str(value or "").strip().lower())
    return None if not m else int(m.group(1)) >= 2


def _tls_verdict(policy: dict[str, Any]) -> tuple[bool, str, str]:
    """Whether one sslPolicy requires TLS 1.2+ with strong suites, and what it is / what is wrong (ja, en)."""
    strong = {p.lower() for p in STRONG_PREDEFINED}
    ptype, pname = policy.get("policyType"), policy.get("policyName")
    minimum, disabled = policy.get("minProtocolVersion"), policy.get("disabledSslProtocols")
    if str(ptype or "").lower() == "predefined" or (ptype is None and pname):
        protocol_ok = str(pname or "").lower() in strong
        what_ja, what_en = f"定義済みポリシー {_fmt(pname)}", f"predefined policy {_fmt_en(pname)}"
    elif minimum is not None:
        protocol_ok = _tls_at_least_12(minimum) is True
        what_ja = f"{_fmt(ptype)} ポリシー（minProtocolVersion {minimum}）"
        what_en = f"{_fmt_en(ptype)} policy (minProtocolVersion {minimum})"
    elif isinstance(disabled, list):
        protocol_ok = {"tlsv1_0", "tlsv1_1"} <= {str(d).lower() for d in disabled}
        what_ja = what_en = f"disabledSslProtocols [{', '.join(str(d) for d in disabled)}]"
    else:
        protocol_ok = False
        what_ja = f"{_fmt(ptype)} ポリシー（minProtocolVersion 未設定）"
        what_en = f"{_fmt_en(ptype)} policy with no minProtocolVersion"
    if not protocol_ok:
        return (
            False,
            f"{what_ja} は TLS 1.0/1.1 を許します（TLS 1.2 以上が必要: {', '.join(STRONG_PREDEFINED)} または"
            "最小 TLSv1_2 のカスタム）",
            f"{what_en} allows TLS 1.0/1.1 (TLS 1.2 or newer required: {', '.join(STRONG_PREDEFINED)} or a "
            "custom policy with minimum TLSv1_2)",
        )
    suites = policy.get("cipherSuites") or []
    weak = [(str(c), weak_cipher(str(c))) for c in suites if weak_cipher(str(c))]
    if weak:
        listed = ", ".join(f"{c} ({why})" for c, why in weak)
        return (
            False,
            f"{what_ja} は TLS 1.2 以上ですが、弱い暗号スイートを含みます: {listed}",
            f"{what_en} requires TLS 1.2+ but allows weak cipher suites: {listed}",
        )
    suites_ja = f"、暗号スイート {len(suites)} 件はすべて前方秘匿性あり" if suites else ""
    suites_en = f"; all {len(suites)} listed cipher suites have forward secrecy" if suites else ""
    return (
        True,
        f"{what_ja} は TLS 1.2 以上に限っています{suites_ja}",
        f"{what_en} requires TLS 1.2 or newer{suites_en}",
    )


@check(
    id="app-gateway-tls-policy",
    title_ja="Application Gateway の TLS ポリシーが TLS 1.2 以上と強い暗号スイートに限っている",
    title_en="Application Gateway TLS policies require TLS 1.2 or newer and strong cipher suites",
    judges=(APP_GATEWAY_TYPE,),
    reads=(APPLICATION_GATEWAY,),
    per_subscription=True,  # each judged on its own document alone
    api="Application Gateways - List All: properties.sslPolicy and properties.sslProfiles[].properties.sslPolicy: "
    "{policyType, policyName, minProtocolVersion, cipherSuites, disabledSslProtocols}",
    rule_ja="Application Gateway ごとに、sslPolicy と各 SSL プロファイルの sslPolicy が、定義済みの "
    "AppGwSslPolicy20170401S / 20220101 / 20220101S、"
    "またはカスタムで minProtocolVersion が TLSv1_2 以上（旧形式では disabledSslProtocols に TLSv1_0 と TLSv1_1）"
    "なら合格。ただし cipherSuites が示されていれば、すべて前方秘匿性（ECDHE/DHE）あり・SHA-1 MAC なし・3DES/RC4 なし"
    "であること。sslPolicy がない（既定ポリシー。古い API で作成したゲートウェイでは TLS 1.0 を許す "
    "AppGwSslPolicy20150501）、AppGwSslPolicy20150501 / 20170401、TLS 1.0/1.1 を許すカスタムは不合格。",
    rule_en="For each Application Gateway, passes when its sslPolicy and every SSL profile's sslPolicy is "
    "predefined AppGwSslPolicy20170401S, "
    "20220101 or 20220101S, or custom with minProtocolVersion TLSv1_2 or newer (or, in the older form, "
    "disabledSslProtocols holding TLSv1_0 and TLSv1_1); and, where cipherSuites are listed, every suite has "
    "forward secrecy (ECDHE/DHE), no SHA-1 MAC and no 3DES/RC4. Fails with no sslPolicy (the default policy, "
    "AppGwSslPolicy20150501 allowing TLS 1.0 for gateways set up with older API versions), with "
    "AppGwSslPolicy20150501 or 20170401, or with a custom policy allowing TLS 1.0/1.1.",
    remediation_ja="Application Gateway の [リスナー] → [TLS ポリシー] で AppGwSslPolicy20220101S（または "
    "20220101）を選ぶか、カスタムで最小 TLSv1_2 と ECDHE-GCM の暗号スイートに限る。",
    remediation_en="In the gateway's listener TLS policy, choose AppGwSslPolicy20220101S (or 20220101), or a "
    "custom policy with minimum TLSv1_2 and ECDHE-GCM cipher suites only.",
)
def app_gateway_tls_policy(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for gw in facts.of(APPLICATION_GATEWAY):
        name = display_name(gw)
        subject_ja, subject_en = f"Application Gateway {name}", f"Application Gateway {name}"
        policy = field(gw.content, "properties", "sslPolicy")
        if not isinstance(policy, dict) or not policy:
            ok, why_ja, why_en = (
                False,
                "sslPolicy がなく既定の TLS ポリシーです（古い API で作成したゲートウェイでは TLS 1.0 を許す "
                "AppGwSslPolicy20150501）。TLS 1.2 以上のポリシーを明示してください",
                "has no sslPolicy, so the default TLS policy applies (AppGwSslPolicy20150501, allowing TLS 1.0, "
                "for gateways set up with older API versions); set a TLS 1.2+ policy explicitly",
            )
            parts = [(ok, f"{subject_ja} に{why_ja}", f"{subject_en} {why_en}")]
        else:
            ok, why_ja, why_en = _tls_verdict(policy)
            parts = [(ok, f"{subject_ja} の TLS ポリシー {why_ja}", f"{subject_en} TLS policy {why_en}")]
        # An SSL profile gives the listeners that use it a policy of their own.
        for profile in field(gw.content, "properties", "sslProfiles") or []:
            own = field(profile, "properties", "sslPolicy")
            if isinstance(own, dict) and own:
                ok, why_ja, why_en = _tls_verdict(own)
                pname = field(profile, "name") or "?"
                parts.append((ok, f"SSL プロファイル {pname} の TLS ポリシー {why_ja}",
                              f"SSL profile {pname} TLS policy {why_en}"))  # fmt: skip
        bad = [(ja, en) for ok, ja, en in parts if not ok]
        if bad:
            yield failed(gw.resource_id, "; ".join(ja for ja, _ in bad), "; ".join(en for _, en in bad), gw)
        else:
            yield passed(gw.resource_id, "; ".join(ja for _, ja, _ in parts), "; ".join(en for _, _, en in parts), gw)


# ---------------------------------------------------------------- DDoS protection of public IPs

_OWNER_RE = re.compile(r"^(/subscriptions/[^/]+/resourcegroups/[^/]+/providers/[^/]+/[^/]+/[^/]+)/", re.IGNORECASE)
# What a public IP can be attached to that shoko collects, and the kind that lists it.
_OWNERS = {
    "microsoft.network/networkinterfaces": (NETWORK_INTERFACE, "NIC", "NIC"),
    "microsoft.network/applicationgateways": (APPLICATION_GATEWAY, "Application Gateway", "Application Gateway"),
    "microsoft.network/azurefirewalls": (AZURE_FIREWALL, "Azure Firewall", "Azure Firewall"),
}


def _subnets_in(doc: Any) -> list[str]:
    """Every subnet id a document's (nested) properties name: NIC and firewall ipConfigurations, gateway
    gatewayIPConfigurations."""
    out: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "subnet" and isinstance(field(value, "id"), str):
                if field(value, "id") not in out:
                    out.append(field(value, "id"))
            else:
                out += [s for s in _subnets_in(value) if s not in out]
    elif isinstance(doc, list):
        for item in doc:
            out += [s for s in _subnets_in(item) if s not in out]
    return out


def _owner_subnets(owner: Evidence, ip_configuration_id: str) -> list[str]:
    """The subnets of the owner the public IP sits behind: for a NIC the ipConfiguration it is bound to, for an
    Application Gateway its gatewayIPConfigurations, for a firewall its ipConfigurations."""
    otype = str(owner.content.get("type") or "").lower()
    if otype == "microsoft.network/networkinterfaces" or "/networkinterfaces/" in norm_id(owner.resource_id):
        for cfg in field(owner.content, "properties", "ipConfigurations") or []:
            if norm_id(field(cfg, "id")) == norm_id(ip_configuration_id):
                return _subnets_in(cfg)
        return []
    if "/applicationgateways/" in norm_id(owner.resource_id):
        return _subnets_in(field(owner.content, "properties", "gatewayIPConfigurations"))
    return _subnets_in(field(owner.content, "properties", "ipConfigurations")) + _subnets_in(
        field(owner.content, "properties", "managementIpConfiguration")
    )


@check(
    id="ddos-protection-public-endpoints",
    title_ja="本番の公開 IP アドレスが DDoS Protection で保護されている",
    title_en="Production public IP addresses are covered by DDoS Protection",
    judges=("microsoft.network/publicipaddresses",),
    reads=(
        PUBLIC_IP_ADDRESS,
        NETWORK_INTERFACE,
        APPLICATION_GATEWAY,
        AZURE_FIREWALL,
        VIRTUAL_NETWORK,
        FactKind.SUBSCRIPTION,
    ),
    # Azure binds a public IP only to a resource of its own subscription, and that resource's network lies there too.
    per_subscription=True,
    api="Public IP Addresses - List All: properties.ipConfiguration.id, properties.ddosSettings.protectionMode; "
    "Network Interfaces / Application Gateways / Azure Firewalls - List All: the subnet of the configuration the "
    "IP is bound to; Virtual Networks - List All: properties.enableDdosProtection, ddosProtectionPlan.id; "
    "Subscriptions - List: tags (which subscriptions are production)",
    rule_ja="本番サブスクリプション（dev-prod-network-isolated と同じ基準）の公開 IP ごとに、ddosSettings."
    "protectionMode が Enabled（IP 保護）なら合格。VirtualNetworkInherited（未設定も同じ）なら、"
    "接続先（NIC の IP 構成・"
    "Application Gateway・Azure Firewall）のサブネットの仮想ネットワークがすべて enableDdosProtection true かつ "
    "ddosProtectionPlan ありで合格、そうでなければ不合格。Disabled は不合格。どこにも接続していない IP と NAT "
    "ゲートウェイの送信専用 IP は公開する"
    "ものがないため合格。接続先が収集対象外の種類（ロードバランサー、Bastion 等）や未収集で辿れないときはエラー。",
    rule_en="For each public IP in a production subscription (classified as by dev-prod-network-isolated), passes "
    "when ddosSettings.protectionMode is Enabled (IP protection). With VirtualNetworkInherited (also when unset), "
    "passes when every virtual network of the subnets behind it (a NIC's ipConfiguration, an Application Gateway, "
    "an Azure Firewall) has enableDdosProtection true and a ddosProtectionPlan, and fails otherwise. Disabled "
    "fails. An IP attached to nothing, or a NAT gateway's outbound-only IP, exposes nothing and passes. An IP "
    "whose attachment cannot be traced (a type "
    "shoko does not collect, such as a load balancer or Bastion host, or a document not collected) is an error.",
    remediation_ja="公開 IP の接続先の仮想ネットワークに DDoS Network Protection プランを関連付けるか、公開 IP で "
    "DDoS IP Protection を有効にする（ddosSettings.protectionMode: Enabled）。",
    remediation_en="Link a DDoS Network Protection plan to the virtual network behind the public IP, or enable "
    "DDoS IP Protection on the public IP (ddosSettings.protectionMode: Enabled).",
    thresholds=("production_subscriptions", "environment_tag", "production_tag_values"),
)
def ddos_protection_public_endpoints(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    subscriptions = {str(ev.content.get("subscriptionId", "")).lower(): ev for ev in facts.of(FactKind.SUBSCRIPTION)}
    vnets = facts.by_id(VIRTUAL_NETWORK)
    owners_by_kind = {kind: facts.by_id(kind) for kind, _, _ in _OWNERS.values()}
    for pip in facts.of(PUBLIC_IP_ADDRESS):
        name = display_name(pip)
        sub = (subscription_of(pip.resource_id) or "").split("/")[-1]
        env = classify(sub, subscriptions, thresholds) if sub else None
        if env is None:
            yield errored(
                pip.resource_id,
                f"公開 IP {name} のサブスクリプション {sub} が収集されておらず、本番かどうか判定できません",
                f"public IP {name}: subscription {sub} was not collected, so whether it is production cannot be "
                "decided",
                pip,
            )
            continue
        if not env.production:
            continue
        subject_ja = f"本番サブスクリプション {env.name} の公開 IP {name}"
        subject_en = f"public IP {name} in production subscription {env.name}"
        p = props(pip.content)
        mode = field(p, "ddosSettings", "protectionMode")
        mode_text = str(mode) if mode is not None else "VirtualNetworkInherited (unset)"
        if str(mode or "").lower() == "enabled":
            yield passed(
                pip.resource_id,
                f"{subject_ja} は DDoS IP Protection が有効です（protectionMode Enabled）",
                f"{subject_en} has DDoS IP Protection enabled (protectionMode Enabled)",
                pip,
                env.evidence,
            )
            continue
        if str(mode or "").lower() == "disabled":
            yield failed(
                pip.resource_id,
                f"{subject_ja} の DDoS 保護が無効です（ddosSettings.protectionMode Disabled）",
                f"{subject_en} has DDoS protection disabled (ddosSettings.protectionMode Disabled)",
                pip,
                env.evidence,
            )
            continue
        if mode is not None and str(mode).lower() != "virtualnetworkinherited":
            yield errored(
                pip.resource_id,
                f"{subject_ja} の ddosSettings.protectionMode {mode} を解釈できません",
                f"{subject_en}: ddosSettings.protectionMode {mode} is not a known value",
                pip,
                env.evidence,
            )
            continue
        ip_cfg = field(p, "ipConfiguration", "id")
        nat = field(p, "natGateway", "id")
        if (not isinstance(ip_cfg, str) or not ip_cfg) and isinstance(nat, str) and nat:
            yield passed(
                pip.resource_id,
                f"{subject_ja} は NAT ゲートウェイ {name_from_id(nat)} の送信専用アドレスで、受信を受け付ける"
                "エンドポイントはありません",
                f"{subject_en} is an outbound-only address of NAT gateway {name_from_id(nat)}: it accepts no "
                "inbound connections",
                pip,
                env.evidence,
            )
            continue
        if not isinstance(ip_cfg, str) or not ip_cfg:
            yield passed(
                pip.resource_id,
                f"{subject_ja} はどのリソースにも接続されておらず、公開しているエンドポイントはありません",
                f"{subject_en} is attached to nothing, so it exposes no endpoint",
                pip,
                env.evidence,
            )
            continue
        m = _OWNER_RE.match(ip_cfg)
        owner_id = m.group(1) if m else ""
        owner_type = "/".join(owner_id.split("/")[6:8]).lower() if owner_id else ""
        known = _OWNERS.get(owner_type)
        if known is None:
            yield errored(
                pip.resource_id,
                f"{subject_ja} は {owner_type or ip_cfg} に接続されています（{mode_text}）。"
                "この種類の仮想ネットワークは"
                "収集していないため DDoS 保護を辿れません。IP 保護（protectionMode Enabled）にするか確認してください",
                f"{subject_en} is attached to {owner_type or ip_cfg} ({mode_text}), whose virtual network shoko does "
                "not collect, so its DDoS protection cannot be traced; enable IP protection or verify it",
                pip,
                env.evidence,
            )
            continue
        kind, label_ja, label_en = known
        owner = owners_by_kind[kind].get(norm_id(owner_id))
        if owner is None:
            yield errored(
                pip.resource_id,
                f"{subject_ja} の接続先 {label_ja} {name_from_id(owner_id)} が収集されておらず、DDoS 保護を辿れません",
                f"{subject_en}: the {label_en} {name_from_id(owner_id)} it is attached to was not collected, so its "
                "DDoS protection cannot be traced",
                pip,
                env.evidence,
            )
            continue
        subnets = _owner_subnets(owner, ip_cfg)
        vnet_ids = list(dict.fromkeys(v for v in (vnet_of_subnet(s) for s in subnets) if v))
        via_ja = f"{label_ja} {display_name(owner)}"
        via_en = f"{label_en} {display_name(owner)}"
        if not vnet_ids:
            yield errored(
                pip.resource_id,
                f"{subject_ja} の接続先 {via_ja} にサブネットが見つからず、仮想ネットワークを辿れません",
                f"{subject_en}: {via_en} names no subnet, so its virtual network cannot be traced",
                pip,
                owner,
                env.evidence,
            )
            continue
        used: list[Evidence | None] = [pip, owner, env.evidence]
        unprotected_ja: list[str] = []
        unprotected_en: list[str] = []
        missing: list[str] = []
        protected: list[str] = []
        for vid in vnet_ids:
            vnet = vnets.get(vid)
            vname = name_from_id(vid)
            if vnet is None:
                missing.append(vname)
                continue
            used.append(vnet)
            enabled = field(vnet.content, "properties", "enableDdosProtection")
            plan = field(vnet.content, "properties", "ddosProtectionPlan", "id")
            if enabled is True and isinstance(plan, str) and plan:
                protected.append(f"{vname} ({name_from_id(plan)})")
            else:
                unprotected_ja.append(
                    f"仮想ネットワーク {vname} の enableDdosProtection が {_fmt(enabled)}、"
                    f"ddosProtectionPlan が {'あり' if plan else 'なし'}"
                )
                unprotected_en.append(
                    f"virtual network {vname} has enableDdosProtection {_fmt_en(enabled)} and "
                    f"{'a' if plan else 'no'} ddosProtectionPlan"
                )
        if unprotected_en:
            yield failed(
                pip.resource_id,
                f"{subject_ja}（{mode_text}、接続先 {via_ja}）は DDoS Protection で保護されていません: "
                f"{'; '.join(unprotected_ja)}",
                f"{subject_en} ({mode_text}, attached to {via_en}) is not covered by DDoS Protection: "
                f"{'; '.join(unprotected_en)}",
                *used,
            )
        elif missing:
            yield errored(
                pip.resource_id,
                f"{subject_ja} の接続先 {via_ja} の仮想ネットワーク {', '.join(missing)} が収集されておらず、"
                "判定できません",
                f"{subject_en}: virtual network {', '.join(missing)} behind {via_en} was not collected, so it "
                "cannot be judged",
                *used,
            )
        else:
            yield passed(
                pip.resource_id,
                f"{subject_ja}（{mode_text}、接続先 {via_ja}）は仮想ネットワーク {', '.join(protected)} の "
                "DDoS Network Protection で保護されています",
                f"{subject_en} ({mode_text}, attached to {via_en}) is covered by DDoS Network Protection of "
                f"virtual network {', '.join(protected)}",
                *used,
            )
