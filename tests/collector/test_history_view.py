"""Per-resource history on a ledger written by hand: first judgement, changes, a run that no longer finds the
resource, partial runs that did not judge a check, and the filter to one requirement's checks."""

from __future__ import annotations

from datetime import timedelta

from collector.history_view import resource_history
from controls.model import Finding, Status
from storage.ledger import Ledger
from tests.storage.helpers import NSG_ID, T0, nsg_evidence

NSG_CHECK, FLOW_CHECK = "nsg-no-internet-management-ports", "nsg-flow-logs-enabled"


def _run(ledger: Ledger, hour: int, statuses: dict[str, Status], *, partial_checks: list[str] | None = None) -> int:
    at = T0 + timedelta(hours=hour)
    scope = {"checks": partial_checks or [NSG_CHECK, FLOW_CHECK]} | ({"partial": True} if partial_checks else {})
    run_id = ledger.start_run(at, agent_version="t", config_digest="c", scope=scope)
    ev = nsg_evidence(at=at)
    ledger.add_evidence(run_id, [ev])
    requirements = {NSG_CHECK: (86,), FLOW_CHECK: (96,)}
    ledger.add_findings(
        run_id,
        [
            Finding(
                check, requirements[check], status, NSG_ID.lower() if hour % 2 else NSG_ID, "理由", "why", (ev.sha256,)
            )
            for check, status in statuses.items()
        ],
    )
    ledger.complete_run(run_id, at + timedelta(minutes=1))
    return run_id


def test_each_check_change_on_a_resource_is_one_entry(tmp_path) -> None:
    with Ledger(f"sqlite:///{tmp_path}/h.db") as ledger:
        r1 = _run(ledger, 0, {NSG_CHECK: Status.PASS, FLOW_CHECK: Status.FAIL})
        _run(ledger, 1, {NSG_CHECK: Status.PASS, FLOW_CHECK: Status.FAIL})  # nothing changed
        r3 = _run(ledger, 2, {NSG_CHECK: Status.FAIL}, partial_checks=[NSG_CHECK])  # the flow check not judged
        r4 = _run(ledger, 3, {NSG_CHECK: Status.FAIL})  # judged, but no flow-log finding on the NSG any more
        r5 = _run(ledger, 4, {NSG_CHECK: Status.ERROR, FLOW_CHECK: Status.PASS})
        entries = resource_history(ledger, NSG_ID)
        only_96 = resource_history(ledger, NSG_ID, 96)
    got = [(e["run"], e["check_id"], e["before"], e["after"]) for e in entries]
    assert got == [
        (r1, FLOW_CHECK, None, "fail"),
        (r1, NSG_CHECK, None, "pass"),
        (r3, NSG_CHECK, "pass", "fail"),
        (r4, FLOW_CHECK, "fail", None),
        (r5, FLOW_CHECK, None, "pass"),
        (r5, NSG_CHECK, "fail", "error"),
    ]
    assert entries[3]["reason_en"] == "no finding on this resource in this run"
    assert entries[2]["kind"] == "partial" and entries[2]["requirements"] == [86]
    assert [(e["run"], e["after"]) for e in only_96] == [(r1, "fail"), (r4, None), (r5, "pass")]
