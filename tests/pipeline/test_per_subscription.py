"""Checks declared `per_subscription` are judged one subscription at a time (so a run of many subscriptions is
judged holding one subscription's part of a kind): on estates collected through the SDK from the sandbox, each
says per subscription exactly what it says judged over the whole run."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from bench.generate import generate, write_estate
from collector.pipeline import collect
from controls.checks import ALL_CHECKS
from controls.engine import evaluate
from controls.model import FactSet, Status, Thresholds, subscription_id_of
from sandbox.server import Sandbox
from tests.pipeline.conftest import sandbox_settings

EMR = Path(__file__).resolve().parents[2] / "sandbox" / "estates" / "hospital-emr.yaml"
PER_SUBSCRIPTION = [c for c in ALL_CHECKS if c.per_subscription]


@pytest.fixture(scope="module")
def estates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FactSet]:
    generated = tmp_path_factory.mktemp("estate") / "estate.json"
    # Three subscriptions, half the units broken: passes, failures and errors in each.
    write_estate(generate(3, 450, seed=5, violation_rate=0.5), generated)
    out = {}
    for name, path in (("hospital-emr", EMR), ("generated", generated)):
        with Sandbox.from_file(path) as sb:
            out[name] = collect(sandbox_settings(sb))
    return out


def test_the_checks_judged_per_subscription_are_the_ones_that_read_whole_inventories() -> None:
    assert {c.id for c in PER_SUBSCRIPTION} >= {
        "diagnostic-logs-retained",
        "resource-region-allowed",
        "resource-owner-tagged",
        "vm-nsg-covered",
    }


@pytest.mark.parametrize("name", ["hospital-emr", "generated"])
def test_each_says_per_subscription_what_it_says_of_the_whole_run(estates, catalog, name) -> None:
    facts = estates[name]
    assert len([s for s in facts.subscriptions() if s]) >= 2
    split = evaluate(facts, catalog, Thresholds(), PER_SUBSCRIPTION)
    whole = evaluate(facts, catalog, Thresholds(), [replace(c, per_subscription=False) for c in PER_SUBSCRIPTION])
    assert Counter(split.findings) == Counter(whole.findings)
    assert split.verdicts == whole.verdicts
    # Not an empty comparison: resources judged in more than one subscription (and every check judges some in
    # one of the estates, below).
    judged_in = {subscription_id_of(f.resource_id) for f in split.findings}
    assert len(judged_in - {None}) >= 2
    if name == "generated":
        assert {Status.PASS, Status.FAIL} <= {f.status for f in split.findings}


def test_every_check_judged_per_subscription_judges_resources_in_one_of_the_estates(estates, catalog) -> None:
    judged = {
        f.check_id
        for facts in estates.values()
        for f in evaluate(facts, catalog, Thresholds(), PER_SUBSCRIPTION).findings
    }
    assert judged >= {c.id for c in PER_SUBSCRIPTION}
