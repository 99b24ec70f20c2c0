from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.model import Evidence, FactKind, FactSet, Status, Thresholds

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
WS = f"{SUB}/resourceGroups/rg-log/providers/Microsoft.OperationalInsights/workspaces/log-karte"


def workspace(**props) -> Evidence:
    doc = {"id": WS, "name": "log-karte", "properties": {"sku": {"name": "PerGB2018"}, **props}}
    return Evidence(
        FactKind.LOG_ANALYTICS_WORKSPACE, "test", SUB, WS, "2022-10-01", None, datetime(2026, 3, 31, tzinfo=UTC), doc
    )


def judge(ws: Evidence, thresholds: Thresholds | None = None):
    [f] = CHECKS_BY_ID["log-analytics-retention"].evaluate(FactSet([ws]), thresholds or Thresholds())
    assert f.resource_id == WS and f.evidence == (ws.sha256,)
    return f


def test_retention_meets_default_365():
    assert judge(workspace(retentionInDays=365)).status == Status.PASS
    assert judge(workspace(retentionInDays=730)).status == Status.PASS


def test_short_retention_fails_naming_value_and_threshold():
    f = judge(workspace(retentionInDays=30))
    assert f.status == Status.FAIL
    assert f.reason_en == "Log Analytics workspace log-karte retentionInDays is 30 (365 or more required)"
    assert "retentionInDays が 30" in f.reason_ja


def test_threshold_from_config():
    assert judge(workspace(retentionInDays=90), Thresholds(log_analytics_retention_days=90)).status == Status.PASS


def test_unreadable_retention_is_error():
    assert judge(workspace()).status == Status.ERROR
    assert judge(workspace(retentionInDays="365")).status == Status.ERROR


def test_immediate_purge_defeats_retention():
    f = judge(workspace(retentionInDays=365, features={"immediatePurgeDataOn30Days": True}))
    assert f.status == Status.FAIL and "immediatePurgeDataOn30Days" in f.reason_en


def test_no_workspaces_no_findings():
    assert CHECKS_BY_ID["log-analytics-retention"].evaluate(FactSet(), Thresholds()) == []
