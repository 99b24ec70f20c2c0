"""The ledger-history generator: hourly runs that verify, re-judge to what they stored, show drift as the
pipeline would find it, and answer `status --as-of` with the run of that hour."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import bench.history as history
from alerts.drift import detect_for_run
from bench.history import HistoryFigures, collect_estate, write_history
from collector.cli import main
from collector.rejudge import rejudge
from collector.settings import load_settings
from controls.catalog import load_catalog
from controls.engine import EvaluationResult
from controls.model import FactSet
from storage.ledger import Ledger

START = datetime(2026, 1, 1, tzinfo=UTC)
RUNS = 24


@pytest.fixture(scope="module")
def facts() -> FactSet:
    return collect_estate(50, 1, seed=1, violation_rate=0.05)


@pytest.fixture(scope="module")
def made(facts: FactSet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, HistoryFigures, list]]:
    """A day of hourly runs (a flip every 3 runs), each run's drift also found by the pipeline's detect_for_run."""
    out = tmp_path_factory.mktemp("history")
    url = f"sqlite:///{out / 'shoko.db'}"
    (out / "shoko.yaml").write_text(f"database:\n  url: {json.dumps(url)}\n", encoding="utf-8")
    compared: list[tuple[int, list, list]] = []
    generated = history.drift_since

    def both(previous: tuple[int, EvaluationResult] | None, run_id: int, checks, result: EvaluationResult) -> list:
        mine = generated(previous, run_id, checks, result)
        compared.append((run_id, mine, detect_for_run(ledger, run_id, checks, result.findings, result.verdicts)))
        return mine

    with Ledger(url) as ledger:
        history.drift_since = both
        try:
            figures = write_history(
                ledger, facts, HistoryFigures(50, RUNS), runs=RUNS, start=START, changes=3, flip_every=3, seed=1
            )
        finally:
            history.drift_since = generated
    yield out, figures, compared


def test_every_run_is_sealed_verifies_and_rejudges_to_what_it_stored(made) -> None:
    out, figures, _ = made
    with Ledger(f"sqlite:///{out / 'shoko.db'}", read_only=True) as ledger:
        runs = ledger.runs()
        assert [r.status for r in runs] == ["completed"] * RUNS
        assert [r.started_at for r in runs] == [START + timedelta(hours=n) for n in range(RUNS)]
        assert {r.counts["evidence"] for r in runs} == {figures.evidence}
        report = ledger.verify()
        assert report.ok, report
        # The incremental judging stored what judging each run's stored evidence in full gives.
        rejudged = rejudge(ledger, load_catalog(), load_settings(None, environ={}))
        assert rejudged.ok, rejudged.problem
        assert list(rejudged.rejudged) == [r.id for r in runs]


def test_documents_change_and_settings_flip_as_asked(made) -> None:
    out, figures, _ = made
    assert figures.documents_changed == 3 * (RUNS - 1)
    assert figures.flips == (RUNS - 1) // 3
    with Ledger(f"sqlite:///{out / 'shoko.db'}", read_only=True) as ledger:
        first, second = (ledger.evidence_refs(r.id) for r in ledger.runs()[:2])
        changed = {e.sha256 for e in second} - {e.sha256 for e in first}
        assert 1 <= len(changed) <= 3  # most documents are the same blobs run to run
        assert figures.drift_events == len(ledger.drift_events()) > 0


def test_drift_is_what_the_pipeline_finds_from_the_ledger(made) -> None:
    _, figures, compared = made
    assert len(compared) == RUNS
    for run_id, mine, pipeline in compared:
        assert mine == pipeline, f"run {run_id}"
    assert sum(len(mine) for _, mine, _ in compared) == figures.drift_events


def test_status_as_of_a_middle_hour_shows_that_hours_run(made, capsys: pytest.CaptureFixture[str]) -> None:
    out, figures, _ = made
    middle = START + timedelta(hours=11, minutes=30)  # run 12 started at 11:00 and was sealed at 11:02
    assert main(["status", "--config", str(out / "shoko.yaml"), "--as-of", middle.isoformat(), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run"]["id"] == figures.first_run + 11
    assert shown["run"]["started_at"] == (START + timedelta(hours=11)).isoformat()
    assert len(shown["requirements"]) == 182
    assert main(["status", "--config", str(out / "shoko.yaml"), "--as-of", middle.isoformat(), "--lang", "en"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].endswith(f"the latest full run completed by then is run {figures.first_run + 11}")
