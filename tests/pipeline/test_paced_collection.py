"""A run against ARM's read throttle keeps to the read budget itself: no 429, and the same documents and findings
as an unthrottled run (the real SDK against the sandbox, its call statistics counted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.pipeline import collect
from controls.catalog import Catalog
from controls.engine import evaluate
from sandbox.admin import SandboxAdmin
from sandbox.server import ReadThrottle, Sandbox
from tests.pipeline.conftest import sandbox_settings

EMR = Path(__file__).resolve().parents[2] / "sandbox" / "estates" / "hospital-emr.yaml"
# Small enough that the example estate's reads (about 200 in its busiest subscription) outrun the burst many
# times over, fast enough that the run takes seconds.
BURST, REFILL = 20, 40


Seen = tuple[list[tuple[str, str]], list[tuple[str, str, str]]]


def _collect(sb: Sandbox, catalog: Catalog, **collection: int) -> tuple[Seen, int, int]:
    """((documents as (kind, resource id), findings as (check, resource id, status)), 429s, ARM reads) of one run.
    (Some documents carry times relative to the sandbox's start, so their hashes differ from run to run.)"""
    admin = SandboxAdmin.from_info(sb.info)
    before = admin.stats()
    settings = sandbox_settings(sb, collection=collection)
    facts = collect(settings)
    after = admin.stats()
    assert not facts.errors, facts.errors
    refused = after["statuses"].get("429", 0) - before["statuses"].get("429", 0)
    reads = sum(after["subscriptions"].values()) - sum(before["subscriptions"].values())
    documents = sorted((e.kind, e.resource_id.lower()) for e in facts.evidence)
    result = evaluate(facts, catalog, settings.thresholds)
    findings = sorted((f.check_id, f.resource_id.lower(), str(f.status)) for f in result.findings)
    return (documents, findings), refused, reads


@pytest.fixture(scope="module")
def unthrottled(catalog: Catalog) -> Seen:
    with Sandbox.from_file(EMR) as sb:
        seen, _, _ = _collect(sb, catalog)
    return seen


def test_a_paced_run_gets_no_429_and_sees_the_same(unthrottled: Seen, catalog: Catalog) -> None:
    with Sandbox.from_file(EMR, throttle=ReadThrottle(burst=BURST, refill_per_s=REFILL)) as sb:
        seen, refused, reads = _collect(sb, catalog, arm_reads_burst=BURST, arm_reads_per_second=REFILL)
    assert reads > 4 * BURST  # the budget was drawn on well past the burst
    assert refused == 0
    assert seen == unthrottled


def test_a_budget_above_arms_draws_429s_that_are_waited_out(unthrottled: Seen, catalog: Catalog) -> None:
    # The same run believing ARM allows ten times more: ARM refuses, Retry-After is honoured, nothing is lost.
    with Sandbox.from_file(EMR, throttle=ReadThrottle(burst=BURST, refill_per_s=REFILL)) as sb:
        seen, refused, _ = _collect(sb, catalog, arm_reads_burst=10 * BURST, arm_reads_per_second=10 * REFILL)
    assert refused > 0
    assert seen == unthrottled
