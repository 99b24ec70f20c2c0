"""Azure SQL: TLS minimum, network exposure (public network access, firewall rules), auditing, and for every
user database transparent data encryption, point-in-time backup retention and zone redundancy.

Firewall rules (shared with the PostgreSQL checks). A server-level rule admits the IPv4 range
startIpAddress-endIpAddress. The rule 0.0.0.0-0.0.0.0 is Azure's "Allow Azure services and resources to
access this server": it admits connections from every Azure address, including other customers' virtual
machines and functions, so it does not restrict who may connect and is judged as exposure. A rule is open
to the Internet when its range holds a public address outside `thresholds.trusted_sources` (public: every
address outside the private, loopback, link-local, CGNAT, multicast and reserved blocks, as for NSGs in
controls/checks/nsg.py).

`master` is Azure's system database (kind `v12.0,system`): TDE cannot be enabled on it, it has no retention
policy and no zone setting of its own, so the database checks do not judge it. A geo-secondary or named
replica (`secondaryType` set) takes no backups of its own and is the regional redundancy of its primary, so
the backup and zone checks judge its primary, not it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import (
    display_name,
    error_covering,
    field,
    min_tls_outcome,
    name_from_id,
    norm_id,
    props,
    shown,
)
from controls.checks.network_isolation import classify
from controls.checks.nsg import _Addrs, _trusted
from controls.model import Evidence, FactKind, FactSet, Thresholds

# Fact kinds of collector/fetchers/sql.py.
SQL_FIREWALL_RULES = "sql_firewall_rules"  # one {"value": [...]} document per server
SQL_AUDITING_POLICY = "sql_auditing_policy"
SQL_DATABASE = "sql_database"
SQL_TDE = "sql_tde"
SQL_BACKUP_RETENTION = "sql_backup_retention"

_SERVERS = ("microsoft.sql/servers",)
_DATABASES = ("microsoft.sql/servers/databases",)


@check(
    id="sql-min-tls-1-2",
    title_ja="Azure SQL サーバーの最小 TLS バージョンが 1.2 以上",
    title_en="Azure SQL server minimum TLS version is 1.2 or newer",
    judges=_SERVERS,
    reads=(FactKind.SQL_SERVER,),
    per_subscription=True,  # a server and its databases' settings lie under its id
    api="Servers - List (Microsoft.Sql/servers): properties.minimalTlsVersion",
    rule_ja="minimalTlsVersion が 1.2 または 1.3 なら合格。"
    '"None" や未設定はすべての TLS バージョンを受け付けるため不合格。',
    rule_en='Passes when minimalTlsVersion is 1.2 or 1.3. "None" or a missing value accepts every TLS '
    "version and fails.",
    remediation_ja="SQL サーバーの [ネットワーク] > [接続] で最小 TLS バージョンを 1.2 にする"
    "（az sql server update --minimal-tls-version 1.2）。",
    remediation_en="Set Minimum TLS version to 1.2 under the server's Networking > Connectivity "
    "(az sql server update --minimal-tls-version 1.2).",
)
def sql_min_tls(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for server in facts.of(FactKind.SQL_SERVER):
        name = display_name(server)
        yield min_tls_outcome(
            server.resource_id,
            f"SQL サーバー {name}",
            f"SQL server {name}",
            "minimalTlsVersion",
            props(server.content).get("minimalTlsVersion"),
            "1.2",
            server,
        )


# ---------------------------------------------------------------- firewall rules (SQL and PostgreSQL)


class UnreadableRule(ValueError):
    """A firewall rule whose addresses are not an IPv4 range: it cannot be judged."""


def rule_range(rule: Any) -> tuple[str, int, int]:
    """(name, first, last) of one firewall rule document, addresses as integers; UnreadableRule otherwise."""
    name = str(field(rule, "name") or name_from_id(str(field(rule, "id") or "")) or "?")
    start, end = field(rule, "properties", "startIpAddress"), field(rule, "properties", "endIpAddress")
    try:
        lo, hi = int(ipaddress.IPv4Address(str(start).strip())), int(ipaddress.IPv4Address(str(end).strip()))
    except ValueError:
        raise UnreadableRule(f"{name}: startIpAddress {start!r} / endIpAddress {end!r}") from None
    if lo > hi:
        raise UnreadableRule(f"{name}: startIpAddress {start} is after endIpAddress {end}")
    return name, lo, hi


_LAST_IPV4 = 2**32 - 1


def range_text(lo: int, hi: int) -> str:
    return f"{ipaddress.IPv4Address(lo)}-{ipaddress.IPv4Address(hi)}"


def is_azure_services(lo: int, hi: int) -> bool:
    """0.0.0.0-0.0.0.0: Azure's "Allow Azure services and resources to access this server"."""
    return lo == hi == 0


def open_rules(rules: list[Any], thresholds: Thresholds) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The rules that let unvouched-for sources in, as (ja, en) descriptions, and the unreadable ones.

    A rule lets them in when it is the Azure-services rule, or when its range holds a public address outside
    trusted_sources."""
    trusted = _trusted(thresholds)
    found: list[tuple[str, str]] = []
    unreadable: list[tuple[str, str]] = []
    for rule in rules:
        try:
            name, lo, hi = rule_range(rule)
        except UnreadableRule as exc:
            unreadable.append((f"ルール {exc}", f"rule {exc}"))
            continue
        if is_azure_services(lo, hi):
            found.append(
                (
                    f"ルール {name}（0.0.0.0-0.0.0.0: Azure サービスからのアクセスを許可、他の Azure 利用者も含む）",
                    f"rule {name} (0.0.0.0-0.0.0.0: Allow Azure services, which admits every Azure customer)",
                )
            )
        elif lo == 0 and hi == _LAST_IPV4:
            found.append((f"ルール {name}（0.0.0.0-255.255.255.255: インターネット全体）", f"rule {name} "
                          "(0.0.0.0-255.255.255.255: the whole Internet)"))  # fmt: skip
        elif not _Addrs(v4=((lo, hi),)).public().minus(trusted).empty():
            text = range_text(lo, hi)
            found.append(
                (
                    f"ルール {name}（{text}: trusted_sources 外のパブリックアドレスを含む）",
                    f"rule {name} ({text}: public addresses outside trusted_sources)",
                )
            )
    return found, unreadable


def rules_of(doc: Evidence | None) -> list[Any] | None:
    """The rules of a per-server firewall document, or None when it has no list."""
    if doc is None:
        return None
    value = doc.content.get("value")
    return value if isinstance(value, list) else None


def exposure_outcome(
    resource_id: str,
    subject_ja: str,
    subject_en: str,
    access_field: str,
    access: Any,
    closed_values: frozenset[str],
    rules_doc: Evidence | None,
    rules_kind: str,
    facts: FactSet,
    thresholds: Thresholds,
    server: Evidence,
) -> Outcome:
    """Public network access closed, or open with firewall rules that admit only vouched-for addresses."""
    ja, en = shown(access)
    if isinstance(access, str) and access.strip().lower() in closed_values:
        return passed(
            resource_id,
            f"{subject_ja} の {access_field} は {ja} です（パブリックネットワークから接続できない）",
            f"{subject_en} {access_field} is {en} (not reachable over the public network)",
            server,
        )
    rules = rules_of(rules_doc)
    if rules is None:
        err = error_covering(facts, [rules_kind], resource_id)
        cause_ja, cause_en = (f"（{err.code}）", f" ({err.code})") if err else ("", "")
        return errored(
            resource_id,
            f"{subject_ja} の {access_field} は {ja} ですが、ファイアウォール規則を取得できず判定できません{cause_ja}",
            f"{subject_en} {access_field} is {en}, but its firewall rules were not collected{cause_en}",
            server,
            rules_doc,
        )
    found, unreadable = open_rules(rules, thresholds)
    if found:
        return failed(
            resource_id,
            f"{subject_ja} の {access_field} が {ja} で、ファイアウォール規則が接続元を限定していません: "
            f"{'; '.join(j for j, _ in found)}（{access_field}=Disabled か、trusted_sources 内の範囲のみが必要）",
            f"{subject_en} {access_field} is {en} and its firewall rules do not restrict who may connect: "
            f"{'; '.join(e for _, e in found)} ({access_field} Disabled, or ranges within trusted_sources only, "
            "required)",
            server,
            rules_doc,
        )
    if unreadable:
        return errored(
            resource_id,
            f"{subject_ja} のファイアウォール規則を解釈できません: {'; '.join(j for j, _ in unreadable)}",
            f"{subject_en} has firewall rules that cannot be read: {'; '.join(e for _, e in unreadable)}",
            server,
            rules_doc,
        )
    return passed(
        resource_id,
        f"{subject_ja} の {access_field} は {ja} ですが、ファイアウォール規則 {len(rules)} 件は"
        "プライベートアドレスまたは trusted_sources 内の範囲のみを許可しています",
        f"{subject_en} {access_field} is {en}, but its {len(rules)} firewall rule(s) admit only private "
        "addresses or ranges within trusted_sources",
        server,
        rules_doc,
    )


@check(
    id="sql-public-network-restricted",
    title_ja="Azure SQL サーバーがインターネットから接続できない",
    title_en="Azure SQL server is not reachable from the Internet",
    judges=_SERVERS,
    reads=(FactKind.SQL_SERVER, SQL_FIREWALL_RULES),
    per_subscription=True,  # a server and its databases' settings lie under its id
    per_resource=(SQL_FIREWALL_RULES,),
    api="Servers - List: properties.publicNetworkAccess; Firewall Rules - List By Server (one call per server): "
    "properties.startIpAddress, endIpAddress",
    rule_ja="publicNetworkAccess が Disabled（または SecuredByPerimeter）なら合格。Enabled（未設定は Azure の既定の"
    "Enabled）のときは、どのファイアウォール規則も trusted_sources 外のパブリックアドレスを含まず、"
    "0.0.0.0-0.0.0.0（Azure サービスを許可: 他の Azure 利用者も接続できる）でもなければ合格。"
    "規則を取得・解釈できないときはエラー。restrictOutboundNetworkAccess は判定しない。",
    rule_en="Passes when publicNetworkAccess is Disabled (or SecuredByPerimeter). When it is Enabled (a missing "
    "value is Azure's default, Enabled), passes only when no firewall rule holds a public address outside "
    "trusted_sources and none is 0.0.0.0-0.0.0.0 (Allow Azure services, which admits every Azure customer). "
    "Rules that cannot be collected or read are an error. restrictOutboundNetworkAccess is not judged.",
    remediation_ja="プライベートエンドポイント経由で接続し、"
    "SQL サーバーの [ネットワーク] でパブリックアクセスを無効にする"
    "（az sql server update --enable-public-network false）。必要な場合は接続元を固定 IP に限る。",
    remediation_en="Connect through a private endpoint and disable public access under the server's Networking "
    "(az sql server update --enable-public-network false); if some access must stay, allow fixed addresses only.",
    thresholds=("trusted_sources",),
)
def sql_public_network_restricted(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    firewall = facts.by_id(SQL_FIREWALL_RULES)
    for server in facts.of(FactKind.SQL_SERVER):
        name = display_name(server)
        yield exposure_outcome(
            server.resource_id,
            f"SQL サーバー {name}",
            f"SQL server {name}",
            "publicNetworkAccess",
            props(server.content).get("publicNetworkAccess", "Enabled"),
            frozenset({"disabled", "securedbyperimeter"}),
            firewall.get(norm_id(server.resource_id)),
            SQL_FIREWALL_RULES,
            facts,
            thresholds,
            server,
        )


@check(
    id="sql-firewall-no-any-ip",
    title_ja="Azure SQL サーバーに任意の IP を許可するファイアウォール規則がない",
    title_en="Azure SQL server has no firewall rule admitting any IP address",
    judges=_SERVERS,
    reads=(FactKind.SQL_SERVER, SQL_FIREWALL_RULES),
    per_subscription=True,  # a server and its databases' settings lie under its id
    per_resource=(SQL_FIREWALL_RULES,),
    api="Firewall Rules - List By Server (one call per server): properties.startIpAddress, endIpAddress",
    rule_ja="どのファイアウォール規則も database_firewall_max_addresses（既定 256 = /24）を超える数のアドレスを"
    "許可せず（0.0.0.0-255.255.255.255 を含む）、0.0.0.0-0.0.0.0（Azure サービスを許可）でもなければ合格。"
    "publicNetworkAccess が Disabled でも判定する"
    "（規則は残り、有効にした時点で効く）。規則を取得・解釈できないときはエラー。",
    rule_en="Passes when no firewall rule admits more than database_firewall_max_addresses addresses (default 256, "
    "one /24; 0.0.0.0-255.255.255.255 included) and none is 0.0.0.0-0.0.0.0 (Allow Azure services). Judged even "
    "when publicNetworkAccess is Disabled: the rules stay and take effect as soon as it is enabled. Rules that "
    "cannot be collected or read are an error.",
    remediation_ja="広すぎる規則と「Azure サービスおよびリソースにこのサーバーへのアクセスを許可する」を削除し"
    "（az sql server firewall-rule delete）、必要な接続元の固定 IP だけを許可する。",
    remediation_en="Delete the wide rules and turn off Allow Azure services and resources to access this server "
    "(az sql server firewall-rule delete); allow only the fixed addresses that must connect.",
    thresholds=("database_firewall_max_addresses",),
)
def sql_firewall_no_any_ip(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    firewall = facts.by_id(SQL_FIREWALL_RULES)
    limit = thresholds.database_firewall_max_addresses
    for server in facts.of(FactKind.SQL_SERVER):
        name = display_name(server)
        doc = firewall.get(norm_id(server.resource_id))
        rules = rules_of(doc)
        if rules is None:
            err = error_covering(facts, [SQL_FIREWALL_RULES], server.resource_id)
            cause_ja, cause_en = (f"（{err.code}）", f" ({err.code})") if err else ("", "")
            yield errored(
                server.resource_id,
                f"SQL サーバー {name} のファイアウォール規則を取得できず判定できません{cause_ja}",
                f"SQL server {name}: its firewall rules were not collected{cause_en}",
                server,
                doc,
            )
            continue
        wide_ja: list[str] = []
        wide_en: list[str] = []
        unreadable: list[str] = []
        for rule in rules:
            try:
                rname, lo, hi = rule_range(rule)
            except UnreadableRule as exc:
                unreadable.append(str(exc))
                continue
            if is_azure_services(lo, hi):
                wide_ja.append(f"{rname}（0.0.0.0-0.0.0.0: Azure サービスを許可、他の Azure 利用者も接続できる）")
                wide_en.append(f"{rname} (0.0.0.0-0.0.0.0: Allow Azure services, which admits every Azure customer)")
            elif hi - lo + 1 > limit:
                wide_ja.append(f"{rname}（{range_text(lo, hi)}: {hi - lo + 1} アドレス）")
                wide_en.append(f"{rname} ({range_text(lo, hi)}: {hi - lo + 1} addresses)")
        if wide_en:
            yield failed(
                server.resource_id,
                f"SQL サーバー {name} のファイアウォール規則が任意の接続元を許可しています: {'; '.join(wide_ja)}"
                f"（1 規則あたり {limit} アドレス以下、Azure サービス許可なしが必要）",
                f"SQL server {name} has firewall rules admitting any address: {'; '.join(wide_en)} (at most "
                f"{limit} addresses per rule, and no Allow Azure services rule, required)",
                server,
                doc,
            )
        elif unreadable:
            yield errored(
                server.resource_id,
                f"SQL サーバー {name} のファイアウォール規則を解釈できません: {'; '.join(unreadable)}",
                f"SQL server {name} has firewall rules that cannot be read: {'; '.join(unreadable)}",
                server,
                doc,
            )
        elif not rules:
            yield passed(
                server.resource_id,
                f"SQL サーバー {name} にファイアウォール規則はありません",
                f"SQL server {name} has no firewall rules",
                server,
                doc,
            )
        else:
            yield passed(
                server.resource_id,
                f"SQL サーバー {name} のファイアウォール規則 {len(rules)} 件はいずれも {limit} アドレス以下で、"
                "Azure サービス許可の規則はありません",
                f"SQL server {name}: none of its {len(rules)} firewall rule(s) admits more than {limit} addresses "
                "or is the Allow Azure services rule",
                server,
                doc,
            )


# ---------------------------------------------------------------- auditing


@check(
    id="sql-auditing-enabled",
    title_ja="Azure SQL サーバーの監査が有効で記録先がある",
    title_en="Azure SQL server auditing is enabled with a destination",
    judges=_SERVERS,
    reads=(FactKind.SQL_SERVER, SQL_AUDITING_POLICY),
    per_subscription=True,  # a server and its databases' settings lie under its id
    per_resource=(SQL_AUDITING_POLICY,),
    api="Server Blob Auditing Policies - List By Server (one call per server; auditingSettings/Default): "
    "properties.state, isAzureMonitorTargetEnabled, storageEndpoint, retentionDays",
    rule_ja="サーバーの監査ポリシーの state が Enabled で、記録先として isAzureMonitorTargetEnabled が true か"
    "storageEndpoint が設定されていれば合格。ストレージに書く場合は retentionDays が sql_audit_retention_days 以上"
    "（0 は無期限）であること。Azure Monitor 宛ての監査はさらに master データベースの診断設定"
    "（SQLSecurityAuditEvents）が必要で、それは診断設定のチェックが判定する。ポリシーを取得できないときはエラー。",
    rule_en="Passes when the server's auditing policy state is Enabled with a destination: "
    "isAzureMonitorTargetEnabled true or a storageEndpoint. When it writes to storage, retentionDays must be at "
    "least sql_audit_retention_days (0 means keep forever). Audit to Azure Monitor also needs the master "
    "database's diagnostic setting (SQLSecurityAuditEvents), judged by the diagnostic settings check. A policy "
    "that was not collected is an error.",
    remediation_ja="SQL サーバーの [監査] で監査を有効にし、Log Analytics ワークスペースまたはストレージアカウントを"
    "記録先にする（az sql server audit-policy update --state Enabled --lats Enabled --lawri <workspace>）。",
    remediation_en="Turn on auditing under the server's Auditing and send it to a Log Analytics workspace or a "
    "storage account (az sql server audit-policy update --state Enabled --lats Enabled --lawri <workspace>).",
    thresholds=("sql_audit_retention_days",),
)
def sql_auditing_enabled(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    policies: dict[str, Evidence] = {}
    for ev in facts.of(SQL_AUDITING_POLICY):
        server_id = norm_id(ev.resource_id).rsplit("/auditingsettings/", 1)[0]
        if name_from_id(norm_id(ev.resource_id)) == "default":
            policies[server_id] = ev
    minimum = thresholds.sql_audit_retention_days
    for server in facts.of(FactKind.SQL_SERVER):
        name = display_name(server)
        policy = policies.get(norm_id(server.resource_id))
        if policy is None:
            err = error_covering(facts, [SQL_AUDITING_POLICY], server.resource_id)
            cause_ja, cause_en = (f"（{err.code}）", f" ({err.code})") if err else ("", "")
            yield errored(
                server.resource_id,
                f"SQL サーバー {name} の監査ポリシー（auditingSettings/Default）を取得できず判定できません{cause_ja}",
                f"SQL server {name}: its auditing policy (auditingSettings/Default) was not collected{cause_en}",
                server,
            )
            continue
        p = props(policy.content)
        state, monitor, endpoint, days = (
            p.get("state"),
            p.get("isAzureMonitorTargetEnabled"),
            p.get("storageEndpoint"),
            p.get("retentionDays"),
        )
        subject_ja, subject_en = f"SQL サーバー {name} の監査", f"SQL server {name} auditing"
        if not isinstance(state, str) or state.lower() != "enabled":
            ja, en = shown(state)
            yield failed(
                server.resource_id,
                f"{subject_ja}の state が {ja} です（Enabled が必要）",
                f"{subject_en} state is {en} (Enabled required)",
                server,
                policy,
            )
            continue
        to_storage = isinstance(endpoint, str) and bool(endpoint.strip())
        if monitor is not True and not to_storage:
            ja, en = shown(monitor)
            yield failed(
                server.resource_id,
                f"{subject_ja}は Enabled ですが記録先がありません（isAzureMonitorTargetEnabled {ja}、"
                "storageEndpoint 未設定。どちらかが必要）",
                f"{subject_en} is Enabled but has no destination (isAzureMonitorTargetEnabled {en}, no "
                "storageEndpoint; one of them required)",
                server,
                policy,
            )
            continue
        if to_storage:
            if not isinstance(days, int) or isinstance(days, bool) or days < 0:
                ja, en = shown(days)
                yield errored(
                    server.resource_id,
                    f"{subject_ja}のストレージ保持期間 retentionDays の値 {ja} を解釈できません",
                    f"{subject_en} storage retentionDays has an unrecognised value {en}",
                    server,
                    policy,
                )
                continue
            if 0 < days < minimum:
                yield failed(
                    server.resource_id,
                    f"{subject_ja}はストレージ {endpoint} に {days}"
                    f" 日保持です（{minimum} 日以上、または 0=無期限が必要）",
                    f"{subject_en} keeps records in storage {endpoint} for {days} days ({minimum} or more, or 0 for "
                    "forever, required)",
                    server,
                    policy,
                )
                continue
        where_ja = [j for j, on in (("Azure Monitor", monitor is True), (f"ストレージ {endpoint}", to_storage)) if on]
        where_en = [e for e, on in (("Azure Monitor", monitor is True), (f"storage {endpoint}", to_storage)) if on]
        kept_ja = ("、保持 無期限" if days == 0 else f"、保持 {days} 日") if to_storage else ""
        kept_en = (", kept forever" if days == 0 else f", kept {days} days") if to_storage else ""
        yield passed(
            server.resource_id,
            f"{subject_ja}は Enabled で、記録先は {'、'.join(where_ja)} です{kept_ja}",
            f"{subject_en} is Enabled, writing to {' and '.join(where_en)}{kept_en}",
            server,
            policy,
        )


# ---------------------------------------------------------------- databases


def _is_system(db: Evidence) -> bool:
    kind = str(db.content.get("kind") or "").lower()
    return display_name(db).lower() == "master" or "system" in kind.split(",")


def _is_replica(db: Evidence) -> bool:
    return bool(props(db.content).get("secondaryType"))


def _is_data_warehouse(db: Evidence) -> bool:
    """A dedicated SQL pool (kind `...,datawarehouse`): restore points, no point-in-time retention policy."""
    return "datawarehouse" in str(db.content.get("kind") or "").lower().split(",")


def _db_subject(db: Evidence) -> tuple[str, str]:
    rid = norm_id(db.resource_id)
    server = name_from_id(rid.rsplit("/databases/", 1)[0])
    name = name_from_id(db.resource_id)
    return f"SQL サーバー {server} のデータベース {name}", f"database {name} on SQL server {server}"


def _missing(facts: FactSet, kind: str, db: Evidence, what_ja: str, what_en: str) -> Outcome:
    ja, en = _db_subject(db)
    err = error_covering(facts, [kind], db.resource_id)
    cause_ja, cause_en = (f"（{err.code}）", f" ({err.code})") if err else ("", "")
    return errored(
        db.resource_id,
        f"{ja} の{what_ja}を取得できず判定できません{cause_ja}",
        f"{en}: its {what_en} was not collected{cause_en}",
        db,
    )


@check(
    id="sql-tde-enabled",
    title_ja="Azure SQL データベースの透過的データ暗号化（TDE）が有効",
    title_en="Azure SQL database transparent data encryption (TDE) is enabled",
    judges=_DATABASES,
    reads=(SQL_DATABASE, SQL_TDE),
    per_subscription=True,  # a server and its databases' settings lie under its id
    per_resource=(SQL_TDE,),
    api="Databases - List By Server (one call per server); Transparent Data Encryptions - Get "
    "(transparentDataEncryption/current, one call per user database): properties.state",
    rule_ja="各ユーザーデータベースの transparentDataEncryption/current の state が Enabled なら合格（AES-256）。"
    "Disabled は不合格、取得できないときはエラー。"
    "master は Azure のシステムデータベースで TDE を設定できないため判定しない。",
    rule_en="Passes when each user database's transparentDataEncryption/current state is Enabled (AES-256). "
    "Disabled fails; a state that was not collected is an error. master is Azure's system database, where TDE "
    "cannot be set, and is not judged.",
    remediation_ja="データベースの [透過的なデータ暗号化] でデータ暗号化をオンにする"
    "（az sql db tde set --status Enabled）。",
    remediation_en="Turn on Data encryption under the database's Transparent data encryption "
    "(az sql db tde set --status Enabled).",
)
def sql_tde_enabled(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    tde = facts.by_id(SQL_TDE)
    for db in facts.of(SQL_DATABASE):
        if _is_system(db):
            continue
        doc = tde.get(norm_id(db.resource_id) + "/transparentdataencryption/current")
        if doc is None:
            yield _missing(facts, SQL_TDE, db, "透過的データ暗号化の状態", "transparent data encryption state")
            continue
        ja, en = _db_subject(db)
        state = props(doc.content).get("state")
        sja, sen = shown(state)
        if isinstance(state, str) and state.lower() == "enabled":
            yield passed(
                db.resource_id,
                f"{ja} の透過的データ暗号化 state は Enabled です",
                f"{en} transparent data encryption state is Enabled",
                db,
                doc,
            )
        else:
            yield failed(
                db.resource_id,
                f"{ja} の透過的データ暗号化 state が {sja} です（Enabled が必要）",
                f"{en} transparent data encryption state is {sen} (Enabled required)",
                db,
                doc,
            )


@check(
    id="sql-backup-retention",
    title_ja="Azure SQL データベースのバックアップ保持日数が基準以上",
    title_en="Azure SQL database backup retention meets the minimum",
    judges=_DATABASES,
    reads=(SQL_DATABASE, SQL_BACKUP_RETENTION),
    per_subscription=True,  # a server and its databases' settings lie under its id
    per_resource=(SQL_BACKUP_RETENTION,),
    api="Databases - List By Server (one call per server); Backup Short Term Retention Policies - Get "
    "(backupShortTermRetentionPolicies/default, one call per user database): properties.retentionDays",
    rule_ja="各ユーザーデータベースのポイントインタイムリストアの保持日数 retentionDays が sql_backup_retention_days"
    "（既定 7）以上なら合格。取得できないときはエラー。master と、geo セカンダリ・名前付きレプリカ（secondaryType あり:"
    "自身のバックアップを持たずプライマリのものを使う）、"
    "専用 SQL プール（kind datawarehouse: 復元ポイントで管理）は判定しない。"
    "長期保有（LTR）は判定しない。",
    rule_en="Passes when each user database's point-in-time restore retentionDays is at least "
    "sql_backup_retention_days (default 7). A policy that was not collected is an error. master, and "
    "geo-secondaries and named replicas (secondaryType set: they take no backups of their own, their primary's "
    "are used), and dedicated SQL pools (kind datawarehouse: restore points instead) are not judged. Long-term "
    "retention is not judged.",
    remediation_ja="データベースの [バックアップ] > [保持ポリシー] でポイントインタイムリストアの保持期間を延ばす"
    "（az sql db str-policy set --retention-days 35）。",
    remediation_en="Lengthen the point-in-time restore retention under the database's Backups > Retention "
    "policies (az sql db str-policy set --retention-days 35).",
    thresholds=("sql_backup_retention_days",),
)
def sql_backup_retention(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    policies = facts.by_id(SQL_BACKUP_RETENTION)
    minimum = thresholds.sql_backup_retention_days
    for db in facts.of(SQL_DATABASE):
        if _is_system(db) or _is_replica(db) or _is_data_warehouse(db):
            continue
        doc = policies.get(norm_id(db.resource_id) + "/backupshorttermretentionpolicies/default")
        if doc is None:
            yield _missing(facts, SQL_BACKUP_RETENTION, db, "バックアップ保持ポリシー", "backup retention policy")
            continue
        ja, en = _db_subject(db)
        days = props(doc.content).get("retentionDays")
        if not isinstance(days, int) or isinstance(days, bool):
            dja, den = shown(days)
            yield errored(
                db.resource_id,
                f"{ja} のバックアップ保持日数 retentionDays の値 {dja} を解釈できません",
                f"{en} backup retentionDays has an unrecognised value {den}",
                db,
                doc,
            )
        elif days >= minimum:
            yield passed(
                db.resource_id,
                f"{ja} のポイントインタイムリストア保持は {days} 日です（{minimum} 日以上）",
                f"{en} keeps point-in-time restore backups for {days} days ({minimum} or more required)",
                db,
                doc,
            )
        else:
            yield failed(
                db.resource_id,
                f"{ja} のポイントインタイムリストア保持が {days} 日です（{minimum} 日以上が必要）",
                f"{en} keeps point-in-time restore backups for {days} days ({minimum} or more required)",
                db,
                doc,
            )


@check(
    id="sql-database-zone-redundant",
    title_ja="本番の Azure SQL データベースがゾーン冗長",
    title_en="Production Azure SQL databases are zone redundant",
    judges=_DATABASES,
    reads=(SQL_DATABASE, FactKind.SUBSCRIPTION),
    api="Databases - List By Server (one call per server): properties.zoneRedundant, secondaryType; "
    "Subscriptions - List: tags",
    rule_ja="本番サブスクリプション（production_subscriptions に記載、記載がなければ environment_tag の値が "
    "production_tag_values のいずれか）のユーザーデータベースごとに、"
    "zoneRedundant が true なら合格、false または未設定は不合格。"
    "非本番サブスクリプションのデータベース、master、"
    "geo セカンダリ・名前付きレプリカ（それ自体がプライマリの冗長）"
    "は判定しない。サブスクリプションの文書がなく本番か判定できないときはエラー。",
    rule_en="For each user database in a production subscription (listed in production_subscriptions, or, when "
    "that list is empty, whose environment_tag value is one of production_tag_values), passes when zoneRedundant "
    "is true; false or missing fails. Databases in non-production subscriptions, master, and geo-secondaries and "
    "named replicas (themselves the redundancy of a primary) are not judged. A database whose subscription "
    "document was not collected, so that production cannot be decided, is an error.",
    remediation_ja="データベースの [コンピューティングとストレージ] でゾーン冗長を有効にする"
    "（az sql db update --zone-redundant true）。対応するサービスレベルとリージョンが必要。",
    remediation_en="Enable zone redundancy under the database's Compute + storage (az sql db update "
    "--zone-redundant true); it needs a service tier and region that support it.",
    thresholds=("production_subscriptions", "environment_tag", "production_tag_values"),
    # A resource and the subscription that says whether it is production: nothing in another subscription.
    per_subscription=True,
)
def sql_database_zone_redundant(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    subscriptions = {str(ev.content.get("subscriptionId", "")).lower(): ev for ev in facts.of(FactKind.SUBSCRIPTION)}
    for db in facts.of(SQL_DATABASE):
        if _is_system(db) or _is_replica(db):
            continue
        ja, en = _db_subject(db)
        sub_id = norm_id(db.resource_id).split("/")[2] if norm_id(db.resource_id).startswith("/subscriptions/") else ""
        env = classify(sub_id, subscriptions, thresholds) if sub_id else None
        if env is None:
            yield errored(
                db.resource_id,
                f"{ja}: サブスクリプション {sub_id} の文書が収集されておらず、本番かどうか判定できません",
                f"{en}: subscription {sub_id} was not collected, so whether it is production cannot be decided",
                db,
            )
            continue
        if not env.production:
            continue
        where_ja = f"本番サブスクリプション {env.name}（{env.basis_ja}）の{ja}"
        where_en = f"{en} in production subscription {env.name} ({env.basis_en})"
        value = props(db.content).get("zoneRedundant")
        vja, ven = shown(value)
        if value is True:
            yield passed(
                db.resource_id,
                f"{where_ja} の zoneRedundant は true です",
                f"{where_en}: zoneRedundant is true",
                db,
                env.evidence,
            )
        else:
            yield failed(
                db.resource_id,
                f"{where_ja} の zoneRedundant が {vja} です（true が必要）",
                f"{where_en}: zoneRedundant is {ven} (true required)",
                db,
                env.evidence,
            )
