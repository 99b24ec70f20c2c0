"""Properties of the log-retention rules: flow logs (`nsg-flow-logs-enabled`), Log Analytics workspaces
(`log-analytics-retention`) and SQL auditing to storage (`sql-auditing-enabled`).

The semantics judged: for flow logs and SQL auditing 0 days means unlimited, and a flow log's disabled (or
absent) retention policy deletes nothing; otherwise the days must reach the threshold. A value that is not a
whole number of days is never a pass. Each property runs through the whole check on documents built as the
collector stores them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from controls.checks import CHECKS_BY_ID
from controls.model import Evidence, FactKind, FactSet, Status, Thresholds
from tests.props import PROPERTIES

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
NSG_ID = f"{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/networkSecurityGroups/nsg-web"
WATCHER = f"{SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_japaneast"
WS = f"{SUB}/resourceGroups/rg-log/providers/Microsoft.OperationalInsights/workspaces/log-karte"
SERVER = f"{SUB}/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-karte"
AT = datetime(2026, 3, 31, tzinfo=UTC)

DAYS = st.integers(-3, 5000)
NOT_DAYS = st.one_of(st.text(max_size=5), st.floats(allow_nan=True), st.booleans(), st.lists(st.integers(), max_size=1))
THRESHOLD = st.integers(1, 3285)  # every threshold the config accepts for these three (controls.model limits)


def ev(kind: str, doc: dict) -> Evidence:
    return Evidence(kind, "test", SUB, doc["id"], "2024-05-01", None, AT, doc)


# ---------------------------------------------------------------- flow logs


def nsg_flow_log(days: object, policy: str) -> list[Evidence]:
    nsg = {"id": NSG_ID, "name": "nsg-web", "properties": {"securityRules": []}}
    props: dict = {"targetResourceId": NSG_ID, "enabled": True}
    if policy == "enabled":
        props["retentionPolicy"] = {"days": days, "enabled": True}
    elif policy == "disabled":
        props["retentionPolicy"] = {"days": days, "enabled": False}
    elif policy == "no days":
        props["retentionPolicy"] = {"enabled": True}
    log = {"id": f"{WATCHER}/flowLogs/fl-web", "name": "fl-web", "properties": props}
    return [ev(FactKind.NSG, nsg), ev(FactKind.FLOW_LOG, log)]


def flow_log_status(days: object, policy: str, threshold: int) -> Status:
    facts = FactSet(nsg_flow_log(days, policy))
    [finding] = CHECKS_BY_ID["nsg-flow-logs-enabled"].evaluate(facts, Thresholds(flow_log_retention_days=threshold))
    return finding.status


def kept_long_enough(days: int, threshold: int) -> bool:
    """0 is unlimited; otherwise the days must reach the threshold."""
    return days == 0 or days >= threshold


@PROPERTIES
@given(DAYS, st.sampled_from(("enabled", "disabled", "absent", "no days")), THRESHOLD)
@example(0, "enabled", 90)
@example(89, "enabled", 90)
@example(90, "enabled", 90)
@example(1, "disabled", 90)
@example(-1, "enabled", 90)
def test_flow_log_retention(days, policy, threshold):
    status = flow_log_status(days, policy, threshold)
    if policy in ("disabled", "absent", "no days"):  # nothing is deleted (days default to 0)
        assert status == Status.PASS
    elif days < 0:
        assert status != Status.PASS
    else:
        assert status == (Status.PASS if kept_long_enough(days, threshold) else Status.FAIL)


@PROPERTIES
@given(NOT_DAYS, THRESHOLD)
@example("365", 90)
@example(True, 1)
@example(365.0, 90)
def test_flow_log_days_that_are_not_a_whole_number_never_pass(days, threshold):
    assert flow_log_status(days, "enabled", threshold) != Status.PASS


@PROPERTIES
@given(st.integers(1, 5000), st.integers(0, 500), THRESHOLD, st.integers(0, 500))
def test_longer_retention_or_a_lower_threshold_never_turns_a_pass_into_a_fail(days, more, threshold, less):
    if flow_log_status(days, "enabled", threshold) == Status.PASS:
        assert flow_log_status(days + more, "enabled", threshold) == Status.PASS
        assert flow_log_status(days, "enabled", max(1, threshold - less)) == Status.PASS


# ---------------------------------------------------------------- Log Analytics


def workspace_status(days: object, purge: object, threshold: int) -> Status:
    props: dict = {"retentionInDays": days, "features": {"immediatePurgeDataOn30Days": purge}}
    facts = FactSet([ev(FactKind.LOG_ANALYTICS_WORKSPACE, {"id": WS, "name": "log-karte", "properties": props})])
    [finding] = CHECKS_BY_ID["log-analytics-retention"].evaluate(
        facts, Thresholds(log_analytics_retention_days=threshold)
    )
    return finding.status


@PROPERTIES
@given(st.one_of(DAYS, NOT_DAYS), st.sampled_from((None, True, False)), THRESHOLD)
@example(30, True, 30)
@example(365, True, 365)
@example(0, None, 365)
@example("730", None, 365)
def test_log_analytics_retention(days, purge, threshold):
    status = workspace_status(days, purge, threshold)
    if not isinstance(days, int) or isinstance(days, bool):
        assert status == Status.ERROR
    elif days < threshold or (purge is True and threshold > 30):
        # No "0 = unlimited" here: 0 days keeps nothing. A purge after 30 days overrides the retention.
        assert status == Status.FAIL
    else:
        assert status == Status.PASS


# ---------------------------------------------------------------- SQL auditing to storage


def auditing_status(days: object, threshold: int, monitor: bool) -> Status:
    server = ev(FactKind.SQL_SERVER, {"id": SERVER, "name": "sql-karte", "properties": {}})
    props = {"state": "Enabled", "storageEndpoint": "https://stauditje.blob.core.windows.net/",
             "isAzureMonitorTargetEnabled": monitor, "retentionDays": days}  # fmt: skip
    doc = {"id": f"{SERVER}/auditingSettings/Default", "name": "Default",
           "type": "Microsoft.Sql/servers/auditingSettings", "properties": props}  # fmt: skip
    policy = ev("sql_auditing_policy", doc)
    [finding] = CHECKS_BY_ID["sql-auditing-enabled"].evaluate(
        FactSet([server, policy]), Thresholds(sql_audit_retention_days=threshold)
    )
    return finding.status


@PROPERTIES
@given(st.one_of(DAYS, NOT_DAYS), THRESHOLD, st.booleans())
@example(0, 365, False)
@example(364, 365, True)
@example(-1, 365, False)
def test_sql_auditing_storage_retention(days, threshold, monitor):
    status = auditing_status(days, threshold, monitor)
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        assert status == Status.ERROR
    else:
        # Azure Monitor as well does not excuse a short storage retention: the storage copy is still cut short.
        assert status == (Status.PASS if kept_long_enough(days, threshold) else Status.FAIL)
