"""Microsoft Defender for Cloud and the agents on virtual machines: paid plans on, file integrity monitoring on,
security contacts alerted, endpoint protection and the Azure Monitor Agent installed on every VM."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, error_covering, field, norm_id, props, shown, subscription_of
from controls.defender_assessments import (
    ASSESSMENT_NAMES,
    EDR_CONFIGURATION,
    VA_FINDINGS,
    VA_SOLUTION,
    assessed_resource,
    assessment_key_of,
)
from controls.model import CollectionError, Evidence, FactKind, FactSet, Kind, Thresholds

# Fact kinds (collector.fetchers.security, collector.fetchers.virtual_machines).
DEFENDER_PRICING = "defender_pricing"
SECURITY_CONTACT = "security_contact"
VIRTUAL_MACHINE = "virtual_machine"
VM_EXTENSIONS = "vm_extensions"
DCR_ASSOCIATIONS = "dcr_associations"
SECURITY_ASSESSMENT = "security_assessment"
SECURITY_SUB_ASSESSMENT = "security_sub_assessment"

VM_TYPE = "microsoft.compute/virtualmachines"

# Endpoint protection extensions: (publisher, type) as Virtual Machine Extensions - List returns them.
# Defender for Endpoint, deployed by Defender for Servers; Microsoft Antimalware for Azure (Windows).
ENDPOINT_PROTECTION = frozenset(
    {
        ("microsoft.azure.azuredefenderforservers", "mde.windows"),
        ("microsoft.azure.azuredefenderforservers", "mde.linux"),
        ("microsoft.azure.security", "iaasantimalware"),
    }
)
# Azure Monitor Agent.
MONITOR_AGENT = frozenset(
    {("microsoft.azure.monitor", "azuremonitorwindowsagent"), ("microsoft.azure.monitor", "azuremonitorlinuxagent")}
)
# Alert severities a security contact may be notified from; "High" or lower passes (everything urgent is sent).
SEVERITIES = ("high", "medium", "low")


PRICINGS_WHAT = ("Defender プラン (pricings)", "Defender plans (pricings)")
FINDINGS_WHAT = ("脆弱性の検出結果 (sub-assessments)", "vulnerability findings (sub-assessments)")


def _cause(err: CollectionError) -> str:
    return f"{err.code} (HTTP {err.status_code})" if err.status_code is not None else err.code


def _subscriptions(facts: FactSet) -> list[tuple[str, str, Evidence]]:
    """(scope `/subscriptions/{id}`, the name a person knows it by, its document) of every collected subscription."""
    out = []
    for ev in facts.of(FactKind.SUBSCRIPTION):
        sub_id = str(ev.content.get("subscriptionId") or "")
        if not sub_id:
            continue
        name = str(ev.content.get("displayName") or sub_id)
        out.append((f"/subscriptions/{sub_id}", f"{name} ({sub_id})" if name != sub_id else sub_id, ev))
    return out


def _in_subscription(docs: Iterable[Evidence], scope: str) -> list[Evidence]:
    """The documents listed for subscription `scope`: by the scope they were listed in (a subscription-level
    listing such as Pricings - List), else by the subscription in their own id."""

    def listed_in(ev: Evidence) -> str | None:
        own = subscription_of(ev.scope)
        return own if own is not None and norm_id(own) == norm_id(ev.scope) else subscription_of(ev.resource_id)

    return [ev for ev in docs if norm_id(listed_in(ev)) == norm_id(scope)]


def _not_collected(
    scope: str, subject_ja: str, subject_en: str, what: tuple[str, str], err: CollectionError, *ev: Any
) -> Outcome:
    """An error naming what could not be collected (`what` in Japanese and English) and why."""
    return errored(
        scope,
        f"{subject_ja} の{what[0]}を収集できず判定できません: {_cause(err)} {err.message}",
        f"{subject_en}: {what[1]} could not be collected, so it cannot be judged: {_cause(err)} {err.message}",
        *ev,
    )


def _pricings(facts: FactSet, scope: str) -> dict[str, Evidence]:
    return {str(ev.content.get("name") or "").lower(): ev for ev in _in_subscription(facts.of(DEFENDER_PRICING), scope)}


def _is_true(value: Any) -> bool:
    """Pricing extensions write isEnabled as the string "True" / "False"."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


# ---------------------------------------------------------------- Defender plans


@check(
    id="defender-plans-enabled",
    title_ja="Defender for Cloud の必要なプランが Standard で有効",
    title_en="Required Defender for Cloud plans are on the Standard tier",
    judges=("subscription",),
    reads=(DEFENDER_PRICING, FactKind.SUBSCRIPTION),
    api="Pricings - List (Microsoft.Security/pricings, api-version 2024-01-01, scope subscriptions/{id}): "
    "name, properties.pricingTier",
    rule_ja="サブスクリプションごとに、defender_required_plans に挙げたプランすべての pricingTier が Standard なら"
    "合格。"
    "Free のプランがあれば不合格（そのプラン名を示す）。一覧にないプランがあれば判定不能（エラー）。",
    rule_en="For each subscription, passes when every plan named in defender_required_plans has pricingTier Standard; "
    "fails naming the plans on Free; a plan missing from the listing is an error.",
    remediation_ja="Defender for Cloud の「環境設定」で該当プランをオンにする（az security pricing create -n <plan> "
    "--tier standard）。",
    remediation_en="Turn the plans on in Defender for Cloud environment settings "
    "(az security pricing create -n <plan> --tier standard).",
    thresholds=("defender_required_plans",),
)
def defender_plans_enabled(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for scope, name, sub in _subscriptions(facts):
        subject_ja, subject_en = f"サブスクリプション {name}", f"subscription {name}"
        err = error_covering(facts, [DEFENDER_PRICING], scope)
        if err is not None:
            yield _not_collected(scope, subject_ja, subject_en, PRICINGS_WHAT, err, sub)
            continue
        pricings = _pricings(facts, scope)
        off, off_ja, missing, used = [], [], [], []
        for plan in thresholds.defender_required_plans:
            ev = pricings.get(plan.lower())
            if ev is None:
                missing.append(plan)
                continue
            used.append(ev)
            tier = props(ev.content).get("pricingTier")
            if str(tier or "").lower() != "standard":
                off.append(f"{display_name(ev)} ({shown(tier)[1]})")
                off_ja.append(f"{display_name(ev)}（{shown(tier)[0]}）")
        required = ", ".join(thresholds.defender_required_plans)
        if off:
            extra_ja = f"（一覧にないプラン: {', '.join(missing)}）" if missing else ""
            extra_en = f" (not listed: {', '.join(missing)})" if missing else ""
            yield failed(
                scope,
                f"{subject_ja} の Defender プラン {'、'.join(off_ja)} が Standard ではありません"
                f"（必要: {required}）{extra_ja}",
                f"{subject_en}: Defender plans {', '.join(off)} are not on the Standard tier "
                f"(required: {required}){extra_en}",
                sub,
                used,
            )
        elif missing:
            yield errored(
                scope,
                f"{subject_ja} の Defender プラン一覧に {', '.join(missing)} がなく、判定できません",
                f"{subject_en}: the Defender plan listing has no {', '.join(missing)}, so it cannot be judged",
                sub,
                used,
            )
        else:
            yield passed(
                scope,
                f"{subject_ja} の Defender プラン {required} はすべて Standard です",
                f"{subject_en}: Defender plans {required} are all on the Standard tier",
                sub,
                used,
            )


@check(
    id="defender-servers-fim-enabled",
    title_ja="Defender for Servers プラン 2 のファイル整合性監視が有効",
    title_en="File integrity monitoring of Defender for Servers Plan 2 is on",
    judges=("subscription",),
    reads=(DEFENDER_PRICING, FactKind.SUBSCRIPTION),
    api="Pricings - List (Microsoft.Security/pricings, api-version 2024-01-01): VirtualMachines "
    "properties.pricingTier, subPlan, extensions[name=FileIntegrityMonitoring].isEnabled",
    rule_ja="サブスクリプションごとに、VirtualMachines プランが pricingTier Standard・subPlan P2 で、拡張 "
    "FileIntegrityMonitoring の isEnabled が True なら合格。いずれかが違えば不合格。VirtualMachines プランが一覧に"
    "なければエラー。",
    rule_en="For each subscription, passes when the VirtualMachines plan has pricingTier Standard, subPlan P2 and its "
    "FileIntegrityMonitoring extension isEnabled True; fails otherwise; an error when the listing has no "
    "VirtualMachines plan.",
    remediation_ja="Defender for Servers をプラン 2 にし、設定でファイル整合性監視をオンにして保存先ワークスペースと"
    "監視対象（システムファイル・レジストリ）を指定する。",
    remediation_en="Put Defender for Servers on Plan 2 and turn on file integrity monitoring in its settings, with a "
    "destination workspace and the files and registry keys to watch.",
)
def defender_servers_fim_enabled(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for scope, name, sub in _subscriptions(facts):
        subject_ja, subject_en = f"サブスクリプション {name}", f"subscription {name}"
        err = error_covering(facts, [DEFENDER_PRICING], scope)
        if err is not None:
            yield _not_collected(scope, subject_ja, subject_en, PRICINGS_WHAT, err, sub)
            continue
        ev = _pricings(facts, scope).get("virtualmachines")
        if ev is None:
            yield errored(
                scope,
                f"{subject_ja} の Defender プラン一覧に VirtualMachines がなく、判定できません",
                f"{subject_en}: the Defender plan listing has no VirtualMachines plan, so it cannot be judged",
                sub,
            )
            continue
        p = props(ev.content)
        tier, sub_plan = p.get("pricingTier"), p.get("subPlan")
        extensions = p.get("extensions") if isinstance(p.get("extensions"), list) else []
        fim = next((x for x in extensions if str(field(x, "name") or "").lower() == "fileintegritymonitoring"), None)
        fim_on = fim is not None and _is_true(fim.get("isEnabled"))
        state_en = f"pricingTier {shown(tier)[1]}, subPlan {shown(sub_plan)[1]}, FileIntegrityMonitoring " + (
            "isEnabled " + shown(fim.get("isEnabled"))[1] if fim is not None else "not listed"
        )
        state_ja = f"pricingTier {shown(tier)[0]}、subPlan {shown(sub_plan)[0]}、FileIntegrityMonitoring " + (
            "isEnabled " + shown(fim.get("isEnabled"))[0] if fim is not None else "の記載なし"
        )
        if str(tier or "").lower() == "standard" and str(sub_plan or "").lower() == "p2" and fim_on:
            yield passed(
                scope,
                f"{subject_ja} の Defender for Servers は {state_ja} で、ファイル整合性監視が有効です",
                f"{subject_en}: Defender for Servers has {state_en}: file integrity monitoring is on",
                sub,
                ev,
            )
        else:
            yield failed(
                scope,
                f"{subject_ja} の Defender for Servers は {state_ja} で、ファイル整合性監視が有効ではありません"
                "（Standard・P2・FileIntegrityMonitoring True が必要）",
                f"{subject_en}: Defender for Servers has {state_en}, so file integrity monitoring is off "
                "(Standard, P2 and FileIntegrityMonitoring True required)",
                sub,
                ev,
            )


# ---------------------------------------------------------------- security contacts


def _contact_state(doc: dict[str, Any]) -> tuple[list[str], bool, Any]:
    """(emails, alert notifications on, minimal severity) of a security contact, in the 2020-01-01-preview shape
    (alertNotifications {state, minimalSeverity}) or the 2023-12-01-preview one (isEnabled, notificationsSources)."""
    p = props(doc)
    emails = [e.strip() for e in str(p.get("emails") or "").replace(",", ";").split(";") if e.strip()]
    alerts = p.get("alertNotifications")
    if isinstance(alerts, dict):
        return emails, str(alerts.get("state") or "").lower() == "on", alerts.get("minimalSeverity")
    sources = p.get("notificationsSources")
    if isinstance(sources, list):
        alert = next((s for s in sources if str(field(s, "sourceType") or "").lower() == "alert"), None)
        enabled = p.get("isEnabled") is True and alert is not None
        return emails, enabled, field(alert, "minimalSeverity")
    return emails, False, None


@check(
    id="defender-security-contacts",
    title_ja="Defender for Cloud のセキュリティ連絡先に重要度 High 以上のアラートがメール通知される",
    title_en="Defender for Cloud mails security alerts of High severity or above to a security contact",
    judges=("subscription",),
    reads=(SECURITY_CONTACT, FactKind.SUBSCRIPTION),
    api="Security Contacts - List (Microsoft.Security/securityContacts, api-version 2020-01-01-preview): "
    "properties.emails, alertNotifications.state, alertNotifications.minimalSeverity",
    rule_ja="サブスクリプションごとに、emails が空でなく、alertNotifications.state が On で、minimalSeverity が "
    "High・Medium・Low のいずれか（High 以上のアラートがすべて届く）であるセキュリティ連絡先があれば合格。"
    "連絡先がない、メールがない、通知がオフなら不合格。minimalSeverity を解釈できなければエラー。",
    rule_en="For each subscription, passes when a security contact has non-empty emails, alertNotifications.state On "
    "and minimalSeverity High, Medium or Low (every alert of High severity reaches it); fails when there is no "
    "contact, no email or notifications are off; an unrecognised minimalSeverity is an error.",
    remediation_ja="Defender for Cloud の「メール通知」で運用管理者のアドレスを登録し、重要度 High 以上のアラート通知を"
    "オンにする（az security contact create）。",
    remediation_en="In Defender for Cloud email notifications, add the administrators' addresses and turn on alert "
    "notifications of High severity or above (az security contact create).",
)
def defender_security_contacts(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for scope, name, sub in _subscriptions(facts):
        subject_ja, subject_en = f"サブスクリプション {name}", f"subscription {name}"
        err = error_covering(facts, [SECURITY_CONTACT], scope)
        if err is not None:
            yield _not_collected(scope, subject_ja, subject_en, ("セキュリティ連絡先", "security contacts"), err, sub)
            continue
        contacts = _in_subscription(facts.of(SECURITY_CONTACT), scope)
        if not contacts:
            yield failed(
                scope,
                f"{subject_ja} に Defender for Cloud のセキュリティ連絡先がなく、アラートが誰にも通知されません",
                f"{subject_en} has no Defender for Cloud security contact: alerts notify no one",
                sub,
            )
            continue
        problems_ja, problems_en, unknown = [], [], []
        good = None
        for ev in contacts:
            emails, on, severity = _contact_state(ev.content)
            cname = display_name(ev)
            sev = str(severity or "").strip().lower()
            if emails and on and sev in SEVERITIES:
                good = (ev, cname, emails, severity)
                break
            if emails and on and severity is not None:
                unknown.append((ev, cname, severity))
                continue
            why_ja = "メールアドレスなし" if not emails else "アラート通知がオフ"
            why_en = "no email address" if not emails else "alert notifications off"
            if emails and on:
                why_ja, why_en = "minimalSeverity 未設定", "minimalSeverity not set"
            problems_ja.append(f"{cname}（{why_ja}）")
            problems_en.append(f"{cname} ({why_en})")
        if good is not None:
            ev, cname, emails, severity = good
            yield passed(
                scope,
                f"{subject_ja} のセキュリティ連絡先 {cname} は {', '.join(emails)} に重要度 {severity} 以上の"
                "アラートを通知します",
                f"{subject_en}: security contact {cname} mails alerts of severity {severity} and above to "
                f"{', '.join(emails)}",
                sub,
                ev,
            )
        elif unknown:
            ev, cname, severity = unknown[0]
            yield errored(
                scope,
                f"{subject_ja} のセキュリティ連絡先 {cname} の minimalSeverity {severity} を解釈できません",
                f"{subject_en}: security contact {cname} has an unrecognised minimalSeverity {severity}",
                sub,
                ev,
            )
        else:
            yield failed(
                scope,
                f"{subject_ja} のセキュリティ連絡先はアラートをメール通知しません: {', '.join(problems_ja)}",
                f"{subject_en}: no security contact is mailed alerts: {', '.join(problems_en)}",
                sub,
                contacts,
            )


# ---------------------------------------------------------------- VM agents


def _extensions(facts: FactSet, kind: Kind, vm: Evidence) -> tuple[Evidence | None, list[dict[str, Any]] | None]:
    """The per-VM document of `kind` and its `value` list (None when that is not a list)."""
    doc = facts.index(f"by_id:{kind}", lambda f: f.by_id(kind)).get(vm.resource_id.lower())
    if doc is None:
        return None, None
    value = doc.content.get("value")
    return doc, value if isinstance(value, list) else None


def _ext_key(ext: dict[str, Any]) -> tuple[str, str]:
    p = props(ext)
    return str(p.get("publisher") or "").lower(), str(p.get("type") or "").lower()


def _ext_label(ext: dict[str, Any], ja: bool = False) -> str:
    """`MDE.Linux (Succeeded)`: the extension's type and its provisioning state."""
    p = props(ext)
    return f"{p.get('type') or ext.get('name')} ({shown(p.get('provisioningState'))[0 if ja else 1]})"


def _vm_missing(facts: FactSet, vm: Evidence, kind: Kind, what_ja: str, what_en: str) -> Outcome:
    name = display_name(vm)
    err = error_covering(facts, [kind], vm.resource_id)
    if err is not None:
        subject = (f"仮想マシン {name}", f"virtual machine {name}")
        return _not_collected(vm.resource_id, *subject, (what_ja, what_en), err, vm)
    return errored(
        vm.resource_id,
        f"仮想マシン {name} の{what_ja}が収集されておらず、判定できません",
        f"virtual machine {name}: its {what_en} were not collected, so it cannot be judged",
        vm,
    )


def _agent(extensions: list[dict[str, Any]], wanted: frozenset[tuple[str, str]]) -> tuple[list, list]:
    """(succeeded, present but not succeeded) extensions among `wanted`."""
    found = [x for x in extensions if isinstance(x, dict) and _ext_key(x) in wanted]
    ok = [x for x in found if str(props(x).get("provisioningState") or "").lower() == "succeeded"]
    return ok, [x for x in found if x not in ok]


@check(
    id="endpoint-protection-installed",
    title_ja="すべての仮想マシンにエンドポイント保護（Defender for Endpoint / Microsoft Antimalware）が導入済み",
    title_en="Every virtual machine has endpoint protection (Defender for Endpoint or Microsoft Antimalware)",
    judges=(VM_TYPE,),
    reads=(VIRTUAL_MACHINE, VM_EXTENSIONS),
    per_subscription=True,  # a VM's extensions, associations and assessments lie under its id
    per_resource=(VM_EXTENSIONS,),
    api="Virtual Machines - List All; Virtual Machine Extensions - List (one call per VM): properties.publisher, "
    "type, provisioningState",
    rule_ja="仮想マシンごとに、拡張 MDE.Windows / MDE.Linux（発行元 Microsoft.Azure.AzureDefenderForServers）または "
    "IaaSAntimalware（Microsoft.Azure.Security）の provisioningState が Succeeded なら合格。ない、または Succeeded "
    "でなければ不合格。拡張一覧を収集できなければエラー。",
    rule_en="For each virtual machine, passes when an MDE.Windows / MDE.Linux extension (publisher "
    "Microsoft.Azure.AzureDefenderForServers) or IaaSAntimalware (Microsoft.Azure.Security) has provisioningState "
    "Succeeded; fails when there is none or it did not succeed; an error when the extension list was not collected.",
    remediation_ja="Defender for Servers の Defender for Endpoint 統合をオンにして拡張を自動配布するか、"
    "拡張を手動で導入し、失敗していれば原因を解消して再導入する。",
    remediation_en="Turn on the Defender for Endpoint integration of Defender for Servers so the extension is "
    "deployed, or install it by hand; if it failed, fix the cause and reinstall it.",
)
def endpoint_protection_installed(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for vm in facts.of(VIRTUAL_MACHINE):
        name = display_name(vm)
        doc, extensions = _extensions(facts, VM_EXTENSIONS, vm)
        if doc is None or extensions is None:
            yield _vm_missing(facts, vm, VM_EXTENSIONS, "拡張一覧", "extensions")
            continue
        ok, broken = _agent(extensions, ENDPOINT_PROTECTION)
        if ok:
            yield passed(
                vm.resource_id,
                f"仮想マシン {name} にエンドポイント保護 {_ext_label(ok[0], ja=True)} が導入されています",
                f"virtual machine {name} has endpoint protection {_ext_label(ok[0])}",
                vm,
                doc,
            )
        elif broken:
            labels = ", ".join(_ext_label(x) for x in broken)
            labels_ja = ", ".join(_ext_label(x, ja=True) for x in broken)
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} のエンドポイント保護 {labels_ja} の導入が完了していません（Succeeded が必要）",
                f"virtual machine {name}: endpoint protection {labels} is not provisioned (Succeeded required)",
                vm,
                doc,
            )
        else:
            installed = [x for x in extensions if isinstance(x, dict)]
            others = ", ".join(_ext_label(x, ja=True) for x in installed) or "なし"
            others_en = ", ".join(_ext_label(x) for x in installed) or "none"
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} にエンドポイント保護の拡張（MDE.Windows / MDE.Linux / IaaSAntimalware）が"
                f"ありません（導入済みの拡張: {others}）",
                f"virtual machine {name} has no endpoint protection extension (MDE.Windows, MDE.Linux or "
                f"IaaSAntimalware); extensions installed: {others_en}",
                vm,
                doc,
            )


@check(
    id="vm-logs-collected",
    title_ja="すべての仮想マシンで Azure Monitor エージェントがデータ収集ルールに従いログを収集している",
    title_en="Every virtual machine runs the Azure Monitor Agent with a data collection rule",
    judges=(VM_TYPE,),
    reads=(VIRTUAL_MACHINE, VM_EXTENSIONS, DCR_ASSOCIATIONS),
    per_subscription=True,  # a VM's extensions, associations and assessments lie under its id
    per_resource=(VM_EXTENSIONS, DCR_ASSOCIATIONS),
    api="Virtual Machines - List All; Virtual Machine Extensions - List (one call per VM): properties.publisher, "
    "type, provisioningState; Data Collection Rule Associations - List By Resource (api-version 2022-06-01, one "
    "call per VM): properties.dataCollectionRuleId",
    rule_ja="仮想マシンごとに、拡張 AzureMonitorWindowsAgent / AzureMonitorLinuxAgent（発行元 "
    "Microsoft.Azure.Monitor）の provisioningState が Succeeded で、dataCollectionRuleId を持つデータ収集ルールの"
    "関連付けが 1 つ以上あれば合格。どちらかがなければ不合格。収集できなければエラー。",
    rule_en="For each virtual machine, passes when an AzureMonitorWindowsAgent / AzureMonitorLinuxAgent extension "
    "(publisher Microsoft.Azure.Monitor) has provisioningState Succeeded and at least one data collection rule "
    "association has a dataCollectionRuleId; fails when either is missing; an error when either was not collected.",
    remediation_ja="仮想マシンに Azure Monitor エージェントを導入し、OS のイベント・Syslog・セキュリティログを "
    "Log Analytics へ送るデータ収集ルールを関連付ける。",
    remediation_en="Install the Azure Monitor Agent on the VM and associate a data collection rule that sends its "
    "event, syslog and security logs to Log Analytics.",
)
def vm_logs_collected(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for vm in facts.of(VIRTUAL_MACHINE):
        name = display_name(vm)
        ext_doc, extensions = _extensions(facts, VM_EXTENSIONS, vm)
        if ext_doc is None or extensions is None:
            yield _vm_missing(facts, vm, VM_EXTENSIONS, "拡張一覧", "extensions")
            continue
        dcr_doc, associations = _extensions(facts, DCR_ASSOCIATIONS, vm)
        if dcr_doc is None or associations is None:
            yield _vm_missing(
                facts, vm, DCR_ASSOCIATIONS, "データ収集ルールの関連付け", "data collection rule associations"
            )
            continue
        ok, broken = _agent(extensions, MONITOR_AGENT)
        rules = [
            str(props(a).get("dataCollectionRuleId")) for a in associations if props(a).get("dataCollectionRuleId")
        ]
        gaps_ja, gaps_en = [], []
        if not ok:
            label = ", ".join(_ext_label(x) for x in broken)
            label_ja = ", ".join(_ext_label(x, ja=True) for x in broken)
            gaps_ja.append(
                f"Azure Monitor エージェント {label_ja} の導入が未完了" if broken else "Azure Monitor エージェントなし"
            )
            gaps_en.append(f"Azure Monitor Agent {label} not provisioned" if broken else "no Azure Monitor Agent")
        if not rules:
            gaps_ja.append("データ収集ルールの関連付けなし")
            gaps_en.append("no data collection rule association")
        if gaps_en:
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} のログが収集されていません: {'、'.join(gaps_ja)}",
                f"virtual machine {name}: its logs are not collected: {'; '.join(gaps_en)}",
                vm,
                ext_doc,
                dcr_doc,
            )
            continue
        rule_names = ", ".join(r.rstrip("/").rsplit("/", 1)[-1] for r in rules)
        yield passed(
            vm.resource_id,
            f"仮想マシン {name} は Azure Monitor エージェント {_ext_label(ok[0], ja=True)} でデータ収集ルール "
            f"{rule_names} に"
            "従いログを収集しています",
            f"virtual machine {name} runs the Azure Monitor Agent {_ext_label(ok[0])} with data collection rule(s) "
            f"{rule_names}",
            vm,
            ext_doc,
            dcr_doc,
        )


# ---------------------------------------------------------------- Defender for Cloud recommendations on VMs


def _assessments(facts: FactSet) -> dict[tuple[str | None, str], Evidence]:
    """(assessment key, assessed resource) -> the first such assessment, as collected."""
    out: dict[tuple[str | None, str], Evidence] = {}
    for ev in facts.of(SECURITY_ASSESSMENT):
        out.setdefault((assessment_key_of(ev.resource_id), assessed_resource(ev.resource_id)), ev)
    return out


def _assessment(facts: FactSet, vm: Evidence, key: str) -> Evidence | None:
    wanted = vm.resource_id.rstrip("/").lower()
    return facts.index("defender:assessments", _assessments).get((key, wanted))


def _status(ev: Evidence) -> tuple[str, str]:
    """(status.code, a short "code (cause: description)" text) of an assessment."""
    status = field(ev.content, "properties", "status") or {}
    code = str(status.get("code") or "") if isinstance(status, dict) else ""
    detail = [str(status.get(k)) for k in ("cause", "description") if isinstance(status, dict) and status.get(k)]
    return code, code + (f" ({': '.join(detail)})" if detail else "")


def _no_assessment(facts: FactSet, vm: Evidence, key: str) -> Outcome:
    name = display_name(vm)
    err = error_covering(facts, [SECURITY_ASSESSMENT], vm.resource_id)
    if err is not None:
        what = ("Defender for Cloud の推奨事項 (assessments)", "Defender for Cloud recommendations (assessments)")
        return _not_collected(vm.resource_id, f"仮想マシン {name}", f"virtual machine {name}", what, err, vm)
    title = ASSESSMENT_NAMES[key]
    return errored(
        vm.resource_id,
        f"仮想マシン {name} に Defender for Cloud の推奨事項「{title}」({key}) の評価がなく、判定できません"
        "（Defender for Servers が無効か、まだ評価されていません）",
        f"virtual machine {name}: Defender for Cloud has no assessment '{title}' ({key}) for it, so it cannot be "
        "judged (Defender for Servers is off, or the machine was not assessed yet)",
        vm,
    )


@check(
    id="endpoint-protection-healthy",
    title_ja="仮想マシンのエンドポイント保護に、古いスキャン・古い定義・無効化などの構成上の問題がない",
    title_en="Virtual machines' endpoint protection has no configuration issues (stale scans or signatures, "
    "antivirus off)",
    judges=(VM_TYPE,),
    reads=(VIRTUAL_MACHINE, SECURITY_ASSESSMENT),
    per_subscription=True,  # a VM's extensions, associations and assessments lie under its id
    api="Virtual Machines - List All; Assessments - List (Microsoft.Security/assessments, api-version 2021-06-01, "
    f"scope subscriptions/{{id}}): assessment {EDR_CONFIGURATION} (EDR configuration issues should be resolved on "
    "virtual machines) properties.status.code, cause, description",
    rule_ja="仮想マシンごとに、Defender for Cloud の推奨事項「EDR configuration issues should be resolved on virtual "
    f"machines」({EDR_CONFIGURATION}) の status.code が Healthy なら合格。Unhealthy（スキャンが 7 日より古い、定義が"
    "古い、ウイルス対策がオフ等）または NotApplicable（評価の対象外）なら不合格。評価がなければエラー。",
    rule_en="For each virtual machine, passes when Defender for Cloud's recommendation 'EDR configuration issues "
    f"should be resolved on virtual machines' ({EDR_CONFIGURATION}) has status.code Healthy; fails when it is "
    "Unhealthy (scans older than seven days, outdated signatures, antivirus off) or NotApplicable (not assessed); "
    "an error when there is no such assessment.",
    remediation_ja="Defender for Cloud の推奨事項から該当マシンの問題（スキャン未実施・定義未更新・ウイルス対策の"
    "無効化）を解消し、Defender for Endpoint が正常に動作していることを確認する。",
    remediation_en="Resolve the machine's issues listed under the recommendation (scans not run, signatures not "
    "updated, antivirus off) and confirm Defender for Endpoint runs normally.",
)
def endpoint_protection_healthy(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for vm in facts.of(VIRTUAL_MACHINE):
        name = display_name(vm)
        ev = _assessment(facts, vm, EDR_CONFIGURATION)
        if ev is None:
            yield _no_assessment(facts, vm, EDR_CONFIGURATION)
            continue
        code, text = _status(ev)
        title = ASSESSMENT_NAMES[EDR_CONFIGURATION]
        if code.lower() == "healthy":
            yield passed(
                vm.resource_id,
                f"仮想マシン {name} のエンドポイント保護は正常です（「{title}」が Healthy）",
                f"virtual machine {name}: endpoint protection is healthy ('{title}' is Healthy)",
                vm,
                ev,
            )
        elif code.lower() in ("unhealthy", "notapplicable"):
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} のエンドポイント保護の状態が {text} です（「{title}」が Healthy であることが必要）",
                f"virtual machine {name}: endpoint protection is {text} ('{title}' must be Healthy)",
                vm,
                ev,
            )
        else:
            yield errored(
                vm.resource_id,
                f"仮想マシン {name} の「{title}」の status.code {shown(code or None)[0]} を解釈できません",
                f"virtual machine {name}: '{title}' has an unrecognised status.code {shown(code or None)[1]}",
                vm,
                ev,
            )


def _va_findings(facts: FactSet) -> dict[str, list[Evidence]]:
    """Assessed resource -> its vulnerability findings (sub-assessments of VA_FINDINGS), as collected."""
    out: dict[str, list[Evidence]] = {}
    for ev in facts.of(SECURITY_SUB_ASSESSMENT):
        if assessment_key_of(ev.resource_id) == VA_FINDINGS:
            out.setdefault(assessed_resource(ev.resource_id), []).append(ev)
    return out


def _high_findings(facts: FactSet, vm: Evidence) -> list[Evidence]:
    wanted = vm.resource_id.rstrip("/").lower()
    out = []
    for ev in facts.index("defender:va-findings", _va_findings).get(wanted, ()):
        status = field(ev.content, "properties", "status") or {}
        if (
            isinstance(status, dict)
            and str(status.get("code") or "").lower() == "unhealthy"
            and str(status.get("severity") or "").lower() == "high"
        ):
            out.append(ev)
    return out


def _finding_label(ev: Evidence) -> str:
    p = props(ev.content)
    cves = [str(c.get("title")) for c in field(p, "additionalData", "cve") or [] if isinstance(c, dict)]
    return str(p.get("displayName") or p.get("id") or ev.content.get("name")) + (
        f" ({', '.join(cves)})" if cves else ""
    )


@check(
    id="vulnerability-findings-high-max",
    title_ja="仮想マシンが脆弱性評価の対象で、未解決の重要度 High の脆弱性が上限以下",
    title_en="Virtual machines are scanned for vulnerabilities and have no more open High-severity findings than "
    "allowed",
    judges=(VM_TYPE,),
    reads=(VIRTUAL_MACHINE, SECURITY_ASSESSMENT, SECURITY_SUB_ASSESSMENT),
    per_subscription=True,  # a VM's extensions, associations and assessments lie under its id
    api="Virtual Machines - List All; Assessments - List (api-version 2021-06-01, scope subscriptions/{id}): "
    f"assessments {VA_SOLUTION} (Machines should have a vulnerability assessment solution) and {VA_FINDINGS} "
    "(Machines should have vulnerability findings resolved) properties.status.code; Sub Assessments - List All "
    "(api-version 2019-01-01-preview): findings of the latter, properties.status.code, status.severity, displayName",
    rule_ja=f"仮想マシンごとに、推奨事項 {VA_SOLUTION}（脆弱性評価ソリューション）が Healthy で、{VA_FINDINGS}"
    "（脆弱性の検出結果）が Healthy、または Unhealthy でも status.severity High の未解決の検出結果が "
    "vulnerability_high_findings_max 件以下なら合格。脆弱性評価がない（Unhealthy・NotApplicable）か、High の検出結果が"
    "上限を超えれば不合格。評価がなければエラー。",
    rule_en=f"For each virtual machine, passes when recommendation {VA_SOLUTION} (vulnerability assessment solution) "
    f"is Healthy and {VA_FINDINGS} (vulnerability findings) is Healthy, or Unhealthy with no more open findings of "
    "status.severity High than vulnerability_high_findings_max; fails when the machine is not scanned (Unhealthy or "
    "NotApplicable) or has more High findings; an error when an assessment is missing.",
    remediation_ja="Defender for Servers の脆弱性評価（Defender Vulnerability Management）を有効にし、High の検出結果を"
    "修正プログラムの適用や構成変更で解消する。解消までの期限を脆弱性管理台帳に記録する。",
    remediation_en="Turn on vulnerability assessment (Defender Vulnerability Management) in Defender for Servers and "
    "fix the High findings by patching or reconfiguring; record the due dates in the vulnerability register.",
    thresholds=("vulnerability_high_findings_max",),
)
def vulnerability_findings_high_max(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    limit = thresholds.vulnerability_high_findings_max
    for vm in facts.of(VIRTUAL_MACHINE):
        name = display_name(vm)
        solution = _assessment(facts, vm, VA_SOLUTION)
        if solution is None:
            yield _no_assessment(facts, vm, VA_SOLUTION)
            continue
        code, text = _status(solution)
        if code.lower() != "healthy":
            outcome = failed if code.lower() in ("unhealthy", "notapplicable") else errored
            yield outcome(
                vm.resource_id,
                f"仮想マシン {name} は脆弱性評価の対象ではありません（「{ASSESSMENT_NAMES[VA_SOLUTION]}」が {text}）",
                f"virtual machine {name} is not scanned for vulnerabilities ('{ASSESSMENT_NAMES[VA_SOLUTION]}' is "
                f"{text})",
                vm,
                solution,
            )
            continue
        findings = _assessment(facts, vm, VA_FINDINGS)
        if findings is None:
            yield _no_assessment(facts, vm, VA_FINDINGS)
            continue
        code, text = _status(findings)
        if code.lower() == "healthy":
            yield passed(
                vm.resource_id,
                f"仮想マシン {name} は脆弱性評価の対象で、未解決の脆弱性はありません",
                f"virtual machine {name} is scanned for vulnerabilities and has no open findings",
                vm,
                solution,
                findings,
            )
            continue
        if code.lower() != "unhealthy":
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} の「{ASSESSMENT_NAMES[VA_FINDINGS]}」が {text} で、脆弱性が評価されていません",
                f"virtual machine {name}: '{ASSESSMENT_NAMES[VA_FINDINGS]}' is {text}, so its vulnerabilities are not "
                "assessed",
                vm,
                solution,
                findings,
            )
            continue
        err = error_covering(facts, [SECURITY_SUB_ASSESSMENT], vm.resource_id)
        if err is not None:
            yield _not_collected(
                vm.resource_id, f"仮想マシン {name}", f"virtual machine {name}", FINDINGS_WHAT, err, vm
            )
            continue
        high = _high_findings(facts, vm)
        if len(high) > limit:
            shown_ = ", ".join(_finding_label(ev) for ev in high[:5]) + (" …" if len(high) > 5 else "")
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} に未解決の重要度 High の脆弱性が {len(high)} 件あります"
                f"（上限 {limit} 件）: {shown_}",
                f"virtual machine {name} has {len(high)} open High-severity vulnerability findings (at most {limit} "
                f"allowed): {shown_}",
                vm,
                solution,
                findings,
                high,
            )
        else:
            yield passed(
                vm.resource_id,
                f"仮想マシン {name} は脆弱性評価の対象で、未解決の重要度 High の脆弱性は {len(high)} 件です"
                f"（上限 {limit} 件）",
                f"virtual machine {name} is scanned for vulnerabilities and has {len(high)} open High-severity "
                f"findings (at most {limit} allowed)",
                vm,
                solution,
                findings,
                high,
            )
