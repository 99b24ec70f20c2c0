"""A ledger of hourly history for the read figures: a generated estate collected once, then N sealed runs.

The first run's evidence is real: the generated estate is served by an in-process sandbox (no latency, no
throttle) and collected by the pipeline's own `collect` (the real SDK clients and fetchers). Every run after it
starts from the previous run's documents and changes a few: most resources are unchanged hour to hour, a few
documents change in ways no rule reads (a new etag), and now and then one setting a rule reads is broken or
restored (a verdict flips). Each run is judged with `collector.pipeline.judge` and stored through the ledger's
public write calls, exactly those `collector.pipeline` makes (start_run, add_evidence, add_collection_errors,
add_findings, add_verdicts, add_drift_events, complete_run), so the runs are sealed runs that `shoko verify`
(and `verify --rejudge`) accept.

Judging is incremental: a check whose input kinds did not change in a run gives back its previous outcomes
instead of judging again (checks that compare dates with the collection time always judge again, since every
run is collected at its own hour). `verify --rejudge` confirms the result equals a full judgement.
"""

from __future__ import annotations

import copy
import inspect
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.drift import detect
from bench.generate import generate
from collector import __version__
from collector.pipeline import collect, judge, run_scope
from collector.settings import Settings, load_settings, sandbox_overrides
from controls.catalog import Catalog, load_catalog
from controls.checks import ALL_CHECKS, Check
from controls.engine import EvaluationResult
from controls.model import DriftEvent, FactSet, Thresholds
from storage.ledger import Ledger

# Settings a rule reads, per fact kind: broken, then restored to the collected value (a finding flips each way).
FLIPS: dict[str, tuple[str, Any]] = {
    "storage_account": ("supportsHttpsTrafficOnly", False),
    "sql_server": ("minimalTlsVersion", "1.0"),
    "web_site_config": ("remoteDebuggingEnabled", True),
    "key_vault": ("enablePurgeProtection", None),
}
RUN_SECONDS = 120  # how long each generated run takes, from its start to its seal


@dataclass
class HistoryFigures:
    """What the generator measured (seconds unless named otherwise)."""

    resources: int
    runs: int
    evidence: int = 0  # evidence records per run
    findings: int = 0  # findings per run (the first run's)
    estate_seconds: float = 0.0
    collect_seconds: float = 0.0
    runs_seconds: float = 0.0
    judge_seconds: float = 0.0
    store_seconds: float = 0.0
    drift_seconds: float = 0.0
    documents_changed: int = 0
    flips: int = 0
    drift_events: int = 0
    first_run: int = 0
    last_run: int = 0
    started: list[str] = field(default_factory=list)  # first and last run's start, ISO 8601


def _time_dependent(checks: Iterable[Check]) -> set[str]:
    """Checks whose rule compares a date with the collection time (controls.checks.helpers.observed_at): their
    outcome can change although their documents did not."""
    out = set()
    for check in checks:
        module = sys.modules.get(getattr(check.judge, "__module__", ""), None)
        try:
            source = inspect.getsource(module) if module is not None else ""
        except (OSError, TypeError):
            source = "observed_at"  # unknown: judge it every run
        if "observed_at" in source:
            out.add(check.id)
    return out


class Estate:
    """The documents of the latest run, and the few that change in the next."""

    def __init__(self, facts: FactSet, rng: random.Random) -> None:
        self.evidence = list(facts.evidence)
        self.errors = list(facts.errors)
        self.original = list(facts.evidence)
        self.rng = rng
        self.flippable = [i for i, ev in enumerate(self.evidence) if str(ev.kind) in FLIPS]
        self.broken: set[int] = set()

    def change(self, count: int, flips: int, serial: int) -> set[str]:
        """Change `count` documents (a new etag) and flip `flips` settings; the kinds that changed."""
        kinds: set[str] = set()
        for i in self.rng.sample(range(len(self.evidence)), min(count, len(self.evidence))):
            ev = self.evidence[i]
            content = dict(ev.content)
            content["etag"] = f'W/"{serial:08x}{i:06x}"'
            self.evidence[i] = replace(ev, content=content, sha256="")
            kinds.add(str(ev.kind))
        for i in self.rng.sample(self.flippable, min(flips, len(self.flippable))):
            ev = self.evidence[i]
            if i in self.broken:  # restored as collected
                self.broken.discard(i)
                self.evidence[i] = replace(self.original[i], collected_at=ev.collected_at)
            else:
                name, value = FLIPS[str(ev.kind)]
                content = copy.deepcopy(ev.content)
                content.setdefault("properties", {})[name] = value
                self.evidence[i] = replace(ev, content=content, sha256="")
                self.broken.add(i)
            kinds.add(str(ev.kind))
        return kinds

    def at(self, moment: datetime) -> FactSet:
        """The documents as collected at `moment` (every record carries its run's collection time)."""
        self.evidence = [replace(ev, collected_at=moment) for ev in self.evidence]
        self.errors = [replace(err, occurred_at=moment) for err in self.errors]
        return FactSet(evidence=list(self.evidence), errors=list(self.errors))


class IncrementalChecks:
    """Each check, judging again only when its input kinds changed (or it is time-dependent)."""

    def __init__(self, checks: Sequence[Check]) -> None:
        # Judged over the whole run, once per check: the outcomes kept are a check's for the run, not for one of
        # its subscriptions. A check judged per subscription gives the same findings either way
        # (tests/pipeline/test_per_subscription.py); `verify --rejudge` compares them whatever their order.
        self.checks = tuple(replace(c, per_subscription=False) for c in checks)
        self.always = _time_dependent(self.checks)
        self.outcomes: dict[str, list[Any]] = {}

    def for_run(self, changed: set[str] | None) -> list[Check]:
        """The checks for a run whose changed kinds are `changed` (None: everything is new)."""
        out = []
        for check in self.checks:
            fresh = changed is None or check.id in self.always or bool(changed & {str(k) for k in check.reads})
            if fresh or check.id not in self.outcomes:
                out.append(replace(check, judge=self._judging(check)))
            else:
                kept = self.outcomes[check.id]
                out.append(replace(check, judge=lambda _facts, _thresholds, kept=kept: list(kept)))
        return out

    def _judging(self, check: Check) -> Callable[[FactSet, Thresholds], list[Any]]:
        def run(facts: FactSet, thresholds: Thresholds) -> list[Any]:
            outcomes = list(check.judge(facts, thresholds))
            self.outcomes[check.id] = outcomes
            return outcomes

        return run


def collect_estate(resources: int, subscriptions: int, seed: int, violation_rate: float) -> FactSet:
    """The generated estate as the pipeline collects it from an in-process sandbox."""
    from sandbox.server import Sandbox

    generated = generate(subscriptions, resources, seed=seed, violation_rate=violation_rate)
    with Sandbox.from_dict(generated.estate, port=0, page_size=100) as sb:
        settings = load_settings(None, environ={}, overrides=sandbox_overrides(asdict(sb.info)))
        return collect(settings)


def write_history(
    ledger: Ledger,
    facts: FactSet,
    figures: HistoryFigures,
    *,
    runs: int,
    start: datetime,
    changes: int,
    flip_every: int,
    seed: int,
    settings: Settings | None = None,
    catalog: Catalog | None = None,
    progress: Callable[[str], None] | None = None,
) -> HistoryFigures:
    """Store `runs` hourly runs from `start`: the first of `facts`, each later one with `changes` documents
    changed and, every `flip_every` runs, one rule-read setting broken or restored."""
    settings = settings or load_settings(None, environ={})
    catalog = catalog or load_catalog()
    estate = Estate(facts, random.Random(seed))
    checks = IncrementalChecks(ALL_CHECKS)
    scope = run_scope(settings, catalog, ALL_CHECKS, None)
    digest = settings.digest()
    figures.evidence = len(facts.evidence)
    changed: set[str] | None = None
    previous: tuple[int, EvaluationResult] | None = None
    t_all = time.monotonic()
    for n in range(runs):
        started = start + timedelta(hours=n)
        if n:
            flips = 1 if flip_every and n % flip_every == 0 else 0
            changed = estate.change(changes, flips, n)
            figures.documents_changed += changes
            figures.flips += flips
        run_facts = estate.at(started)
        t0 = time.monotonic()
        result = judge(
            run_facts, catalog, settings.thresholds, checks.for_run(changed), settings.guideline.profile, False
        )
        t1 = time.monotonic()
        figures.judge_seconds += t1 - t0
        run_id = ledger.start_run(started, agent_version=__version__, config_digest=digest, scope=scope)
        ledger.add_evidence(run_id, run_facts.evidence)
        ledger.add_collection_errors(run_id, run_facts.errors)
        ledger.add_findings(run_id, result.findings)
        ledger.add_verdicts(run_id, result.verdicts)
        t2 = time.monotonic()
        drift = drift_since(previous, run_id, scope["checks"], result)
        previous = (run_id, result)
        t3 = time.monotonic()
        ledger.add_drift_events(run_id, drift)
        ledger.complete_run(run_id, started + timedelta(seconds=RUN_SECONDS))
        figures.store_seconds += (t2 - t1) + (time.monotonic() - t3)
        figures.drift_seconds += t3 - t2
        figures.drift_events += len(drift)
        if n == 0:
            figures.first_run, figures.findings = run_id, len(result.findings)
            figures.started = [started.isoformat()]
        figures.last_run = run_id
        if progress and (n + 1) % max(1, runs // 20) == 0:
            progress(f"  {n + 1:,} / {runs:,} runs ({time.monotonic() - t_all:.0f} s)")
    figures.started.append((start + timedelta(hours=runs - 1)).isoformat())
    figures.runs_seconds = time.monotonic() - t_all
    return figures


def drift_since(
    previous: tuple[int, EvaluationResult] | None, run_id: int, checks: Sequence[str], result: EvaluationResult
) -> list[DriftEvent]:
    """The drift `alerts.drift.detect_for_run` finds for a full run after the full run `previous` (id, result)
    that judged the same checks, without reading that run back from the ledger: every run judges every check
    and requirement, and resources never vanish under an error, so the previous run alone is the baseline."""
    if previous is None:
        return []
    before, was = previous
    return detect(
        was.findings,
        result.findings,
        was.verdicts,
        result.verdicts,
        before,
        check_runs=dict.fromkeys(sorted(set(checks)), before),
        verdict_runs={v.requirement: before for v in was.verdicts},
    )


def history_start(runs: int, now: datetime | None = None) -> datetime:
    """The first run's start: `runs` hours before the current hour, so the last run is the latest."""
    hour = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    return hour - timedelta(hours=runs)


def build(
    url: str,
    *,
    resources: int,
    runs: int,
    subscriptions: int,
    seed: int = 1,
    violation_rate: float = 0.05,
    change_rate: float = 0.001,
    flip_every: int = 24,
    start: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> HistoryFigures:
    """Generate, collect and store the history into the (empty) ledger at `url`."""
    figures = HistoryFigures(resources=resources, runs=runs)
    t0 = time.monotonic()
    facts = collect_estate(resources, subscriptions, seed, violation_rate)
    figures.collect_seconds = time.monotonic() - t0
    changes = max(1, round(change_rate * len(facts.evidence)))
    with Ledger(url) as ledger:
        if ledger.latest_run() is not None or ledger.runs():
            raise SystemExit(f"bench: {ledger.url} already holds runs; give an empty database")
        return write_history(
            ledger,
            facts,
            figures,
            runs=runs,
            start=start or history_start(runs),
            changes=changes,
            flip_every=flip_every,
            seed=seed,
            progress=progress,
        )
