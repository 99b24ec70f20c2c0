"""`verify --rejudge`: a sealed run's checks re-run on its stored evidence give back its findings and verdicts;
fabricated ones, even sealed with recomputed hashes, are named."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, undefer

from collector.pipeline import run_once
from collector.rejudge import RULES_CHANGED, TAMPERED, rejudge
from sandbox.server import Sandbox
from storage.hashing import blob_sha256, row_hash, row_values, seal_document
from storage.ledger import Ledger, seal_contents
from storage.models import Run, RunVerdict
from tests.pipeline.conftest import sandbox_settings
from tests.pipeline.test_run_once import EMR
from tests.storage.helpers import drop_protection


@pytest.fixture(scope="module")
def emr() -> Sandbox:
    with Sandbox.from_file(EMR) as sb:
        yield sb


def forge_verdict(url: str, run_id: int, number: int, status: str, drop_scope_key: str | None = None) -> None:
    """What a hostile script with database rights does: flip a verdict, recompute its row hash, the run's seal
    and digest, so the hash chain verifies (and, if asked, drop a key of the run's recorded scope)."""
    engine = create_engine(url)
    drop_protection(engine)
    with Session(engine) as session, session.begin():
        query = select(RunVerdict).where(RunVerdict.run_id == run_id, RunVerdict.requirement == number)
        row = session.scalars(query).one()
        row.status = status
        row.row_hash = row_hash(RunVerdict, row_values(row))
        session.flush()
        run = session.get(Run, run_id, options=[undefer(Run.seal)])
        if drop_scope_key:
            run.scope = {k: v for k, v in run.scope.items() if k != drop_scope_key}
        run.seal = seal_document(run, *seal_contents(session, run_id))
        run.digest = blob_sha256(run.seal)
    engine.dispose()


def test_an_honest_run_re_judges_clean(emr, catalog, database_url):
    settings = sandbox_settings(emr, database_url)
    with Ledger(database_url) as ledger:
        run = run_once(settings, ledger, catalog).run
        report = rejudge(ledger, catalog, settings)
    assert run.scope["rules"] and run.scope["catalog"]
    assert report.ok and report.rejudged == (run.id,) and report.skipped == ()


def test_a_flipped_verdict_sealed_again_is_caught(emr, catalog, tmp_path):
    url = f"sqlite:///{tmp_path}/forged.db"
    settings = sandbox_settings(emr, url)
    with Ledger(url) as ledger:
        run = run_once(settings, ledger, catalog).run
    forge_verdict(url, run.id, 118, "pass")
    with Ledger(url) as ledger:
        assert ledger.verify().ok  # the seal was recomputed: the chain alone cannot tell
        report = rejudge(ledger, catalog, settings)
        # The run recorded its thresholds, so another configuration re-judges it the same way: still tampering.
        other = rejudge(ledger, catalog, replace(settings, agent=replace(settings.agent, lease_seconds=61)))
    assert report.word == TAMPERED
    assert report.problem == f"run {run.id}: requirement No 118: stored pass, re-judged fail"
    assert other.word == TAMPERED and other.problem == report.problem


def test_a_run_without_recorded_thresholds_judged_with_other_settings_is_a_rules_change(emr, catalog, tmp_path):
    url = f"sqlite:///{tmp_path}/older.db"
    settings = sandbox_settings(emr, url)
    with Ledger(url) as ledger:
        run = run_once(settings, ledger, catalog).run
    forge_verdict(url, run.id, 118, "pass", drop_scope_key="thresholds")  # as a run from before they were recorded
    with Ledger(url) as ledger:
        other = rejudge(ledger, catalog, replace(settings, agent=replace(settings.agent, lease_seconds=61)))
    assert other.word == RULES_CHANGED and not other.ok


def test_runs_judged_by_other_rules_or_cut_short_are_skipped_with_the_reason(emr, catalog, tmp_path, monkeypatch):
    import collector.rejudge as module

    url = f"sqlite:///{tmp_path}/skipped.db"
    settings = sandbox_settings(emr, url)
    with Ledger(url) as ledger:
        run = run_once(settings, ledger, catalog).run
        monkeypatch.setattr(module, "__version__", "9.9.9")
        report = rejudge(ledger, catalog, settings)
        monkeypatch.undo()
        monkeypatch.setattr(module, "rules_sha256", lambda: "f" * 64)
        other_rules = rejudge(ledger, catalog, settings, run.id)
    assert report.ok and report.rejudged == ()
    assert report.skipped == ((run.id, f"sealed by shoko {run.agent_version}; this is shoko 9.9.9"),)
    assert other_rules.skipped[0][1].startswith("judged by another rules (digest ")


def test_a_forged_pass_citing_no_evidence_is_refused_before_it_is_stored(emr, catalog, tmp_path, monkeypatch):
    import collector.pipeline as pipeline
    from controls.model import Status

    real = pipeline.judge_into

    def fabricated(facts, catalog, thresholds, store, *args, **kwargs):
        def forged(findings):
            store([replace(f, status=Status.PASS, evidence=()) for f in findings])

        return real(facts, catalog, thresholds, forged, *args, **kwargs)

    monkeypatch.setattr(pipeline, "judge_into", fabricated)
    url = f"sqlite:///{tmp_path}/refused.db"
    with Ledger(url) as ledger:
        with pytest.raises(Exception, match="is a pass that cites no evidence record"):
            run_once(sandbox_settings(emr, url), ledger, catalog)
        run = ledger.latest_run()
        assert run is not None and run.status == "failed" and ledger.findings(run.id) == []


def test_cli_verify_rejudge(emr, tmp_path, capsys, monkeypatch):
    from collector.cli import main

    url = f"sqlite:///{tmp_path}/cli.db"
    from controls.catalog import load_catalog

    with Ledger(url) as ledger:
        run_once(sandbox_settings(emr, url), ledger, load_catalog())
    monkeypatch.setenv("SHOKO_DATABASE_URL", url)
    assert main(["verify", "--rejudge"]) == 0
    assert "ok: re-judged run(s) 1: the checks give back their findings and verdicts" in capsys.readouterr().out
    assert main(["verify", "--run", "1"]) == 2
    forge_verdict(url, 1, 118, "pass")
    assert main(["verify", "--rejudge", "--run", "1"]) == 1
    err = capsys.readouterr().err
    # Judged with the thresholds the run recorded, whatever this configuration says.
    assert "requirement No 118: stored pass, re-judged fail" in err
    assert err.splitlines()[-1].startswith("TAMPERED: ")
