"""Log Analytics retention (No 132), collected through the sandbox by the real SDK."""

from __future__ import annotations

import uuid
from typing import Any

from controls.model import Status
from tests.estates import DEV, PROD, doc, estate, rid
from tests.pipeline.test_e2e_nsg import assert_finding

CHECK = "log-analytics-retention"


def workspace(name: str, days: int, *, purge_30: bool | None = None, subscription: str = PROD) -> dict[str, Any]:
    """A workspace as `Workspaces - List` returns it."""
    features: dict[str, Any] = {"legacy": 0, "searchVersion": 1, "enableLogAccessUsingOnlyResourcePermissions": True}
    if purge_30 is not None:
        features["immediatePurgeDataOn30Days"] = purge_30
    props = {
        "customerId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "provisioningState": "Succeeded",
        "sku": {"name": "PerGB2018", "lastSkuUpdate": "2024-04-03T05:12:29.1127364Z"},
        "retentionInDays": days,
        "features": features,
        "workspaceCapping": {"dailyQuotaGb": -1.0, "dataIngestionStatus": "RespectQuota"},
        "publicNetworkAccessForIngestion": "Enabled",
        "publicNetworkAccessForQuery": "Enabled",
        "createdDate": "2024-04-03T05:12:29.1127364Z",
    }
    return doc(f"Microsoft.OperationalInsights/workspaces/{name}", props, subscription=subscription,
               rg="rg-ops", tags={"system": "emr"})  # fmt: skip


def ws_id(name: str, subscription: str = PROD) -> str:
    return rid(f"Microsoft.OperationalInsights/workspaces/{name}", subscription, "rg-ops")


def test_default_threshold_365_days(judge):
    judged = judge(
        estate(
            [
                workspace("log-karte-prod", 730),
                workspace("log-karte-year", 365),
                workspace("log-karte-dev", 30, subscription=DEV),
                workspace("log-karte-purge", 400, purge_30=True),
            ]
        )
    )
    assert_finding(judged, CHECK, ws_id("log-karte-prod"), Status.PASS, "retentionInDays is 730", "365 or more")
    assert_finding(judged, CHECK, ws_id("log-karte-year"), Status.PASS, "retentionInDays is 365")
    dev = assert_finding(judged, CHECK, ws_id("log-karte-dev", DEV), Status.FAIL, "retentionInDays is 30", "365")
    assert "30" in dev.reason_ja and "365" in dev.reason_ja
    # Retention says 400 days, but the workspace purges data after 30.
    assert_finding(judged, CHECK, ws_id("log-karte-purge"), Status.FAIL, "immediatePurgeDataOn30Days is true")
    assert judged.verdict(132) == Status.FAIL  # a workspace keeps logs too briefly


def test_all_workspaces_at_or_above_threshold_pass(judge):
    judged = judge(estate([workspace("log-karte-prod", 730), workspace("log-karte-dev", 365, subscription=DEV)]))
    assert_finding(judged, CHECK, ws_id("log-karte-prod"), Status.PASS)
    assert_finding(judged, CHECK, ws_id("log-karte-dev", DEV), Status.PASS)
    assert judged.verdict(132) == Status.FAIL  # retention passes; no workspace is delete-locked


def test_threshold_override_makes_30_days_enough(judge):
    judged = judge(
        estate(
            [workspace("log-karte-dev", 30), workspace("log-karte-short", 7), workspace("log-purge", 90, purge_30=True)]
        ),
        thresholds={"log_analytics_retention_days": 30},
    )
    assert_finding(judged, CHECK, ws_id("log-karte-dev"), Status.PASS, "retentionInDays is 30", "30 or more")
    # Purging after 30 days still keeps the 30 days required.
    assert_finding(judged, CHECK, ws_id("log-purge"), Status.PASS, "retentionInDays is 90")
    assert_finding(judged, CHECK, ws_id("log-karte-short"), Status.FAIL, "retentionInDays is 7", "30 or more")
    assert judged.verdict(132) == Status.FAIL  # a workspace keeps logs too briefly
