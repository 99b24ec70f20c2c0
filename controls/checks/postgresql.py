"""Azure Database for PostgreSQL flexible servers: network exposure and transport security.

Firewall rules are judged as for Azure SQL (controls/checks/sql.py): 0.0.0.0-0.0.0.0 is "Allow public access
from any Azure service within Azure to this server", which admits every Azure customer, and a rule holding a
public address outside `thresholds.trusted_sources` is open to the Internet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, error_covering, field, norm_id, props, shown
from controls.checks.sql import exposure_outcome
from controls.model import Evidence, FactSet, Thresholds

# Fact kinds of collector/fetchers/postgresql.py.
POSTGRESQL_SERVER = "postgresql_server"
POSTGRESQL_FIREWALL_RULES = "postgresql_firewall_rules"  # one {"value": [...]} document per server
POSTGRESQL_CONFIGURATION = "postgresql_configuration"

_SERVERS = ("microsoft.dbforpostgresql/flexibleservers",)


@check(
    id="postgresql-public-network-restricted",
    title_ja="PostgreSQL フレキシブルサーバーがインターネットから接続できない",
    title_en="PostgreSQL flexible server is not reachable from the Internet",
    judges=_SERVERS,
    reads=(POSTGRESQL_SERVER, POSTGRESQL_FIREWALL_RULES),
    per_resource=(POSTGRESQL_FIREWALL_RULES,),
    api="Servers - List By Subscription: properties.network.publicNetworkAccess; Firewall Rules - List By Server "
    "(one call per server): properties.startIpAddress, endIpAddress",
    rule_ja="network.publicNetworkAccess が Disabled（VNet 統合またはプライベートエンドポイントのみ）なら合格。"
    "Enabled（未設定も Enabled として扱う）のときは、"
    "どのファイアウォール規則も trusted_sources 外のパブリックアドレスを含まず、"
    "0.0.0.0-0.0.0.0（Azure 内の任意のサービスからのアクセスを許可: "
    "他の Azure 利用者も接続できる）でもなければ合格。"
    "規則を取得・解釈できないときはエラー。",
    rule_en="Passes when network.publicNetworkAccess is Disabled (VNet integration or private endpoints only). "
    "When it is Enabled (a missing value is treated as Enabled), passes only when no firewall rule holds a public "
    "address outside trusted_sources and none is 0.0.0.0-0.0.0.0 (Allow public access from any Azure service, "
    "which admits every Azure customer). Rules that cannot be collected or read are an error.",
    remediation_ja="サーバーの [ネットワーク] でパブリックアクセスを無効にしてプライベートエンドポイントで接続する"
    "（az postgres flexible-server update --public-access Disabled）。残す場合は接続元の固定 IP だけを許可し、"
    "「Azure 内の任意の Azure サービスにこのサーバーへのパブリック アクセスを許可する」をオフにする。",
    remediation_en="Disable public access under the server's Networking and connect through a private endpoint "
    "(az postgres flexible-server update --public-access Disabled); if it must stay, allow only fixed client "
    "addresses and turn off Allow public access from any Azure service within Azure to this server.",
    thresholds=("trusted_sources",),
)
def postgresql_public_network_restricted(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    firewall = facts.by_id(POSTGRESQL_FIREWALL_RULES)
    for server in facts.of(POSTGRESQL_SERVER):
        name = display_name(server)
        access = field(server.content, "properties", "network", "publicNetworkAccess")
        yield exposure_outcome(
            server.resource_id,
            f"PostgreSQL サーバー {name}",
            f"PostgreSQL server {name}",
            "network.publicNetworkAccess",
            "Enabled" if access is None else access,
            frozenset({"disabled"}),
            firewall.get(norm_id(server.resource_id)),
            POSTGRESQL_FIREWALL_RULES,
            facts,
            thresholds,
            server,
        )


_TLS = re.compile(r"tlsv1(?:\.([0-9]))?", re.IGNORECASE)


def _tls_minor(value: object) -> int | None:
    """TLSv1 -> 0, TLSv1.1 -> 1, TLSv1.2 -> 2, TLSv1.3 -> 3; None when not one of them."""
    m = _TLS.fullmatch(value.strip()) if isinstance(value, str) else None
    return None if m is None else int(m.group(1) or 0)


@check(
    id="postgresql-tls-min",
    title_ja="PostgreSQL フレキシブルサーバーが TLS 1.2 以上の暗号化接続のみを受け付ける",
    title_en="PostgreSQL flexible server accepts only encrypted connections with TLS 1.2 or newer",
    judges=_SERVERS,
    reads=(POSTGRESQL_SERVER, POSTGRESQL_CONFIGURATION),
    per_resource=(POSTGRESQL_CONFIGURATION,),
    api="Servers - List By Subscription; Configurations - Get (one call per server per parameter: "
    "require_secure_transport, ssl_min_protocol_version): properties.value",
    rule_ja="サーバーパラメーター require_secure_transport が on で、ssl_min_protocol_version が TLSv1.2 または "
    "TLSv1.3 なら合格。off（平文接続を許す）や TLSv1 / TLSv1.1 は不合格。パラメーターを取得できない・値を解釈できない"
    "ときはエラー。",
    rule_en="Passes when server parameter require_secure_transport is on and ssl_min_protocol_version is TLSv1.2 "
    "or TLSv1.3. off (plain-text connections accepted), TLSv1 or TLSv1.1 fail. A parameter that was not collected "
    "or has an unknown value is an error.",
    remediation_ja="サーバーの [サーバーパラメーター] で require_secure_transport を ON、ssl_min_protocol_version を "
    "TLSv1.2 にする（az postgres flexible-server parameter set --name ssl_min_protocol_version --value TLSv1.2）。",
    remediation_en="Set require_secure_transport to ON and ssl_min_protocol_version to TLSv1.2 under the server's "
    "Server parameters (az postgres flexible-server parameter set --name ssl_min_protocol_version --value TLSv1.2).",
)
def postgresql_tls_min(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    configs = facts.by_id(POSTGRESQL_CONFIGURATION)
    for server in facts.of(POSTGRESQL_SERVER):
        name = display_name(server)
        subject_ja, subject_en = f"PostgreSQL サーバー {name}", f"PostgreSQL server {name}"
        base = norm_id(server.resource_id) + "/configurations/"
        secure, minimum = configs.get(base + "require_secure_transport"), configs.get(base + "ssl_min_protocol_version")
        used: list[Evidence | None] = [server, secure, minimum]
        missing = [n for n, d in (("require_secure_transport", secure), ("ssl_min_protocol_version", minimum)) if not d]
        if missing:
            err = error_covering(facts, [POSTGRESQL_CONFIGURATION], server.resource_id)
            cause_ja, cause_en = (f"（{err.code}）", f" ({err.code})") if err else ("", "")
            yield errored(
                server.resource_id,
                f"{subject_ja} のサーバーパラメーター {', '.join(missing)} を取得できず判定できません{cause_ja}",
                f"{subject_en}: server parameter(s) {', '.join(missing)} were not collected{cause_en}",
                *used,
            )
            continue
        secure_value = props(secure.content).get("value") if secure else None
        min_value = props(minimum.content).get("value") if minimum else None
        sja, sen = shown(secure_value)
        mja, men = shown(min_value)
        minor = _tls_minor(min_value)
        on = isinstance(secure_value, str) and secure_value.strip().lower() == "on"
        off = isinstance(secure_value, str) and secure_value.strip().lower() == "off"
        problems_ja: list[str] = []
        problems_en: list[str] = []
        if off:
            problems_ja.append("require_secure_transport が off（平文接続を受け付ける）")
            problems_en.append("require_secure_transport is off (plain-text connections accepted)")
        if minor is not None and minor < 2:
            problems_ja.append(f"ssl_min_protocol_version が {mja}")
            problems_en.append(f"ssl_min_protocol_version is {men}")
        if problems_en:
            yield failed(
                server.resource_id,
                f"{subject_ja} の{'、'.join(problems_ja)}です（require_secure_transport=on かつ TLSv1.2 以上が必要）",
                f"{subject_en}: {'; '.join(problems_en)} (require_secure_transport on and TLSv1.2 or newer required)",
                *used,
            )
        elif not on or minor is None:
            yield errored(
                server.resource_id,
                f"{subject_ja} のサーバーパラメーターの値を解釈できません（require_secure_transport {sja}、"
                f"ssl_min_protocol_version {mja}）",
                f"{subject_en} has server parameter values that cannot be read (require_secure_transport {sen}, "
                f"ssl_min_protocol_version {men})",
                *used,
            )
        else:
            outcome = passed(
                server.resource_id,
                f"{subject_ja} の require_secure_transport は {sja}、ssl_min_protocol_version は {mja} です",
                f"{subject_en} require_secure_transport is {sen} and ssl_min_protocol_version is {men}",
                *used,
            )
            yield replace(outcome, short_of=("tls1.3",)) if minor < 3 else outcome
