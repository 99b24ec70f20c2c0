"""Alerts through the whole pipeline: the sandbox estate collected by the real SDK, drift from run_once,
alerts enqueued and delivered to local HTTPS receivers, while an NSG rule is opened and closed again."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.outbox import deliver_pending, enqueue
from alerts.store import AlertStore
from collector.pipeline import run_once
from sandbox.server import Sandbox
from storage.ledger import Ledger
from tests.estates import estate
from tests.pipeline.conftest import sandbox_settings
from tests.pipeline.test_e2e_nsg import nsg, nsg_id, rule

from .conftest import alert_settings, channel_yaml, environment

CHECK = "nsg-no-internet-management-ports"


def test_an_nsg_opened_and_closed_is_one_alert_then_one_resolve(tmp_path, database_url, receiver, tls, catalog):
    https_only = rule("AllowHttps", 100, ports="443")
    routes = [{"checks": [CHECK], "channels": ["teams"]}, {"channels": ["soc"]}]
    alerting = alert_settings(tmp_path, database_url, channel_yaml(receiver, None, tls)[:2], routes=routes)
    env = environment(receiver)
    received: list[tuple[list[tuple[str, str | None, str]], list[str]]] = []
    runs: list[int] = []
    with Sandbox.from_dict(estate([nsg("nsg-web", https_only), nsg("nsg-db")])) as sb, Ledger(database_url) as ledger:
        settings = sandbox_settings(sb, database_url)
        changes = [
            None,
            lambda: sb.put_resource(nsg("nsg-web", https_only, rule("AllowSsh", 110, source="*", ports="22"))),
            None,  # it stays open: no new alert
            lambda: sb.put_resource(nsg("nsg-web", https_only)),
        ]
        for change in changes:
            if change:
                change()
            outcome = run_once(settings, ledger, catalog)
            runs.append(outcome.run.id)
            seen = len(receiver.requests)
            now = datetime.now(UTC)
            enqueue(ledger, outcome.run.id, outcome.drift, alerting, catalog, now)
            assert deliver_pending(ledger, alerting, now, environ=env).retrying == 0
            new = receiver.requests[seen:]
            soc = [
                (i["event"], i["check_id"], i["severity"]) for r in new if "/soc/" in r.path for i in r.json()["items"]
            ]
            teams = [r.json()["attachments"][0]["content"]["body"][1]["text"] for r in new if "/teams/" in r.path]
            received.append((soc, teams))
        assert AlertStore(ledger).open_alert_states() == {}
        assert AlertStore(ledger).counts()["pending"] == 0

    assert received == [
        ([], []),
        ([("new_failure", CHECK, "high")] + [("verdict_changed", None, "medium")] * 3,
         [f"[shoko] HIGH: 1 new failure (run {runs[1]})"]),  # Teams gets the NSG alert, not the verdict changes
        ([], []),
        ([("resolved", CHECK, "info")] + [("verdict_changed", None, "info")] * 3,
         [f"[shoko] INFO: 1 resolved (run {runs[3]})"]),
    ]  # fmt: skip
    item = receiver.on("soc")[0].json()["items"][0]
    assert item["resource_id"] == nsg_id("nsg-web") and [r["number"] for r in item["requirements"]] == [86, 87, 148]
    assert "22" in item["reason_en"] and item["explain"].startswith("shoko explain 86 --run ")
