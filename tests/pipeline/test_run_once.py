"""A whole run of the example estate through the real SDK into the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.pipeline import run_once
from collector.plan import plan_for
from controls.model import FactKind, Status
from sandbox.server import Sandbox
from storage.ledger import Ledger
from tests.pipeline.conftest import sandbox_settings

EMR = Path(__file__).resolve().parents[2] / "sandbox" / "estates" / "hospital-emr.yaml"
# The example estate's deliberate violations (sandbox/README.md) and the requirements they break.
# 18, 97, 141 and 181 are a person's to attest, but their supporting checks fail, which contradicts the claim.
# 112 fails under the default profile mhlw6 only: TLS 1.2 minimums with no recorded justification.
EXPECTED_FAIL = {18, 37, 48, 61, 62, 67, 73, 74, 86, 87, 90, 91, 94, 96, 97, 112, 117, 118, 123, 124, 126, 128, 130,
                 131, 132, 138, 140, 141, 142, 144, 145, 146, 147, 148, 149, 158, 159, 179, 181}  # fmt: skip
# The checks pass but cover the requirement only in part (e.g. 113: remote debugging off and SCM sites
# restricted, not the absence of compilers on production); no requirement is covered fully by checks, so
# without attestations (this ledger has none) nothing reads pass.
EXPECTED_PARTIAL = {72, 92, 93, 113, 119, 125, 129, 151, 155}


@pytest.fixture(scope="module")
def emr() -> Sandbox:
    with Sandbox.from_file(EMR) as sb:
        yield sb


def test_example_estate_run_is_stored_verified_and_judged(emr, catalog, database_url):
    settings = sandbox_settings(emr, database_url)
    with Ledger(database_url) as ledger:
        outcome = run_once(settings, ledger, catalog)
        run = ledger.latest_run()
        assert run is not None and run.id == outcome.run.id and run.status == "completed"
        verdicts = {v.requirement: v for v in ledger.verdicts(run.id)}
        evidence = ledger.evidence(run.id)
        errors = ledger.collection_errors(run.id)
        report = ledger.verify()

    assert sorted(verdicts) == list(range(1, 183))
    assert {n for n, v in verdicts.items() if v.status == Status.FAIL} == EXPECTED_FAIL
    assert {n for n, v in verdicts.items() if v.status == Status.PARTIAL} == EXPECTED_PARTIAL
    assert not [n for n, v in verdicts.items() if v.status == Status.PASS]
    assert not [n for n, v in verdicts.items() if v.status == Status.ERROR]
    assert errors == []
    for req in catalog:  # everything not automated, and not contradicted by a check, shows the catalog's own mode
        if str(req.evidence_mode) != "automated" and req.number not in EXPECTED_FAIL:
            assert str(verdicts[req.number].status) == str(req.evidence_mode)
            assert verdicts[req.number].reason_en and verdicts[req.number].reason_ja

    kinds = {e.kind for e in evidence}
    # Every family of facts the checks read was collected: the built-in ones and those named by a plain kind
    # string (network interfaces); VM clocks are read by Run Command only when collection.time_sync_run_command
    # is on (it is off by default).
    assert kinds == (set(FactKind) | {k for f in plan_for().fetchers for k in f.kinds}) - {"vm_clock"}
    for e in evidence:
        assert e.request_id, e
        assert e.api_version and e.collected_at.tzinfo is not None and len(e.sha256) == 64
    principals = [e for e in evidence if e.kind == FactKind.DIRECTORY_PRINCIPAL]
    allowed = {"id", "displayName", "userPrincipalName", "userType", "accountEnabled", "createdDateTime",
               "securityEnabled", "mailEnabled", "appId", "servicePrincipalType"}  # fmt: skip
    assert principals and all(set(e.content) <= allowed for e in principals)  # no mail, phones, secret hints
    nsgs = [e for e in evidence if e.kind == FactKind.NSG]
    assert all(e.api_version == "2026-03-01" and e.source == "network.security_groups" for e in nsgs)
    assert report.ok and report.runs_checked == 1


def test_second_run_chains_to_the_first_and_stores_identical_content_once(emr, catalog, tmp_path):
    url = f"sqlite:///{tmp_path}/chain.db"
    settings = sandbox_settings(emr, url)
    with Ledger(url) as ledger:
        first = run_once(settings, ledger, catalog).run
        second = run_once(settings, ledger, catalog).run
        assert second.prev_digest == first.digest and second.digest != first.digest
        assert ledger.verify().runs_checked == 2
        first_shas = {e.sha256 for e in ledger.evidence(first.id)}
        second_shas = {e.sha256 for e in ledger.evidence(second.id)}
    assert first_shas == second_shas  # same estate, same documents, same content addresses
    import sqlite3

    with sqlite3.connect(tmp_path / "chain.db") as db:
        (blobs,) = db.execute("SELECT COUNT(*) FROM evidence_blobs").fetchone()
    assert blobs == len(first_shas)


def test_a_crashed_run_is_sealed_as_failed_and_stays_visible(emr, catalog, tmp_path, monkeypatch):
    import collector.pipeline as pipeline

    def broken_judging(*args, **kwargs):
        raise RuntimeError("evaluation exploded")

    monkeypatch.setattr(pipeline, "judge_into", broken_judging)
    url = f"sqlite:///{tmp_path}/crash.db"
    with Ledger(url) as ledger:
        with pytest.raises(RuntimeError, match="evaluation exploded"):
            run_once(sandbox_settings(emr, url), ledger, catalog)
        run = ledger.latest_run()
        assert run is not None and run.status == "failed"
        assert "RuntimeError: evaluation exploded" in (run.error or "")
        assert ledger.evidence(run.id), "what was collected before the crash is kept"
        assert ledger.verify().ok


def test_verdicts_are_reproduced_from_stored_evidence_alone(emr, catalog, tmp_path):
    from controls.engine import evaluate
    from controls.model import FactSet

    url = f"sqlite:///{tmp_path}/replay.db"
    settings = sandbox_settings(emr, url)
    with Ledger(url) as ledger:
        run = run_once(settings, ledger, catalog).run
        facts = FactSet(evidence=ledger.evidence(run.id), errors=ledger.collection_errors(run.id))
        stored_findings, stored_verdicts = ledger.findings(run.id), ledger.verdicts(run.id)
    assert run.scope["profile"] == settings.guideline.profile == "mhlw6"
    replay = evaluate(facts, catalog, settings.thresholds, profile=run.scope["profile"])

    def key(f):
        return (f.check_id, f.resource_id, f.status, f.reason_en, f.evidence)

    assert sorted(map(key, replay.findings)) == sorted(map(key, stored_findings))
    assert {v.requirement: (v.status, v.reason_en) for v in replay.verdicts} == {
        v.requirement: (v.status, v.reason_en) for v in stored_verdicts
    }


def test_partial_run_judges_only_the_checks_its_kinds_decide(emr, catalog, database_url):
    settings = sandbox_settings(emr, database_url)
    with Ledger(database_url) as ledger:
        outcome = run_once(settings, ledger, catalog, kinds={"network_security_group", "virtual_network"})
        run = ledger.run(outcome.run.id)
        evidence = ledger.evidence(run.id)
        verdicts = {v.requirement: v.status for v in ledger.verdicts(run.id)}
        findings = ledger.findings(run.id)
    judged = ["dev-prod-network-isolated", "nsg-no-internet-management-ports", "subnet-nsg-attached",
              "vnet-private-address-space"]  # fmt: skip
    assert run.status == "completed"
    assert run.scope["partial"] is True and run.scope["kinds"] == ["network_security_group", "virtual_network"]
    assert run.scope["checks"] == judged
    # Only the NSG and VNet documents (and the subscription list the per-subscription fetchers need) were read.
    assert {e.kind for e in evidence} == {FactKind.NSG, "virtual_network", FactKind.SUBSCRIPTION}
    assert {f.check_id for f in findings} == set(judged)
    # Verdicts only where the run's checks are every check mapped: 67 (VNet peering) and 87 (private address
    # space and the NSG rules); No 86 and 148 also need checks on sites, NICs and VMs, which did not run.
    assert verdicts == {67: Status.FAIL, 87: Status.FAIL}


def test_partial_run_of_kinds_no_check_reads_alone_is_refused(emr, catalog):
    from collector.plan import PlanError

    with Ledger("sqlite://") as ledger:
        with pytest.raises(PlanError, match="no check reads only the fact kinds flow_log"):
            run_once(sandbox_settings(emr), ledger, catalog, kinds={"flow_log"})
        assert ledger.runs() == []  # refused before a run was started
