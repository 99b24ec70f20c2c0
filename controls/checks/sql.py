"""Azure SQL logical servers: TLS minimum."""

from __future__ import annotations

from collections.abc import Iterator

from controls.checks.base import Outcome, check
from controls.checks.helpers import display_name, min_tls_outcome, props
from controls.model import FactKind, FactSet, Thresholds


@check(
    id="sql-min-tls-1-2",
    title_ja="Azure SQL サーバーの最小 TLS バージョンが 1.2 以上",
    title_en="Azure SQL server minimum TLS version is 1.2 or newer",
    judges=("microsoft.sql/servers",),
    reads=(FactKind.SQL_SERVER,),
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
