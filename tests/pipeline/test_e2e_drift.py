"""Drift through the whole pipeline: an estate served by the sandbox, collected by the real SDK into one
ledger three times while an NSG rule is opened to the Internet and closed again."""

from __future__ import annotations

import json

from collector.cli import main
from collector.pipeline import run_once
from controls.model import DriftKind, Status
from sandbox.server import Sandbox
from storage.ledger import Ledger
from tests.estates import estate
from tests.pipeline.conftest import sandbox_settings
from tests.pipeline.test_e2e_nsg import nsg, nsg_id, rule

CHECK = "nsg-no-internet-management-ports"
# What the NSG check decides (controls/frameworks/meti-2012.yaml): No 86 and 148 are evidenced by it
# (partial coverage), and so is No 87.
DECIDED = {86: Status.PARTIAL, 87: Status.PARTIAL, 148: Status.PARTIAL}
WEB, DB = nsg_id("nsg-web"), nsg_id("nsg-db")


def test_an_nsg_opened_and_closed_again_is_one_failure_then_one_resolution(catalog, database_url, monkeypatch, capsys):
    https_only = rule("AllowHttps", 100, ports="443")
    closed = estate([nsg("nsg-web", https_only), nsg("nsg-db")])
    with Sandbox.from_dict(closed) as sb, Ledger(database_url) as ledger:
        settings = sandbox_settings(sb, database_url)
        baseline = run_once(settings, ledger, catalog)
        assert baseline.drift == ()  # the first run is a baseline, not drift
        assert {n: baseline.result.verdict(n).status for n in DECIDED} == DECIDED

        sb.put_resource(nsg("nsg-web", https_only, rule("AllowRdpFromAnywhere", 110, source="*", ports="3389")))
        opened = run_once(settings, ledger, catalog)

        sb.put_resource(nsg("nsg-web", https_only))
        reverted = run_once(settings, ledger, catalog)

        stored = {run: [r.event for r in ledger.drift_events(run_id=run)] for run in (opened.run.id, reverted.run.id)}
        report = ledger.verify()

    first = baseline.run.id
    failures = [e for e in opened.drift if e.kind != DriftKind.VERDICT_CHANGED]
    assert [(e.kind, e.check_id, e.resource_id, e.before, e.after, e.previous_run) for e in failures] == [
        (DriftKind.NEW_FAILURE, CHECK, WEB, Status.PASS, Status.FAIL, first)
    ]
    assert failures[0].requirements == (86, 87, 148)
    assert "3389 (rule AllowRdpFromAnywhere, source the whole Internet)" in failures[0].reason_en
    assert "nsg-web" in failures[0].reason_ja and "適合 → 不適合" in failures[0].reason_ja
    changed = {e.requirements[0]: (e.before, e.after) for e in opened.drift if e.kind == DriftKind.VERDICT_CHANGED}
    assert changed == {n: (status, Status.FAIL) for n, status in DECIDED.items()}

    resolved = [e for e in reverted.drift if e.kind != DriftKind.VERDICT_CHANGED]
    assert [(e.kind, e.resource_id, e.before, e.after, e.previous_run) for e in resolved] == [
        (DriftKind.RESOLVED, WEB, Status.FAIL, Status.PASS, opened.run.id)
    ]
    changed = {e.requirements[0]: (e.before, e.after) for e in reverted.drift if e.kind == DriftKind.VERDICT_CHANGED}
    assert changed == {n: (Status.FAIL, status) for n, status in DECIDED.items()}

    # Stored with the run it was found in, sealed with it, and shown by `shoko drift`.
    assert stored == {opened.run.id: list(opened.drift), reverted.run.id: list(reverted.drift)}
    assert report.ok and report.runs_checked == 3
    monkeypatch.setenv("SHOKO_DATABASE_URL", database_url)
    capsys.readouterr()
    assert main(["drift", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["run"], r["kind"]) for r in rows if r["check_id"]] == [
        (reverted.run.id, "resolved"),
        (opened.run.id, "new_failure"),
    ]
    assert rows[-4]["explain"] == f"shoko explain 86 --run {opened.run.id}"
