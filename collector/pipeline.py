"""One run: collect every fact family across subscriptions, store the evidence, evaluate, seal.

Fetchers run concurrently, and hand their per-resource calls to one pool for the run (collector.fanout);
ARM reads are paced per subscription and at most `collection.max_workers` are in flight at once
(collector.pacing). A fetcher that fails records a CollectionError for each
kind it produces in its scope, and the run goes on; the checks reading those kinds then report
`error` for exactly the requirements that needed them.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import TokenCredential

from alerts.drift import attestation_expiry_events, detect_for_run
from collector import __version__
from collector.azure_clients import ClientFactory, Deadline, make_credential
from collector.fanout import CallPool, Listings
from collector.fetchers import SUBSCRIPTIONS
from collector.fetchers.base import FetchContext, Fetcher, Sink
from collector.memory import FreedMemoryReleaser
from collector.plan import ALWAYS_COLLECTED, CollectionPlan, PlanError, plan_for
from collector.settings import Settings
from controls.attestations import KIND as ATTESTATION_KIND
from controls.attestations import Attestation, as_evidence
from controls.catalog import Catalog
from controls.checks import ALL_CHECKS, Check
from controls.engine import ATTESTATION_CHECK, EvaluationResult, Judgement, evaluate, judge_into
from controls.model import (
    CollectionError,
    DriftEvent,
    Evidence,
    FactKind,
    FactSet,
    Finding,
    Status,
    StoredFacts,
    Thresholds,
    Verdict,
)
from controls.versions import catalog_sha256, rules_sha256
from storage.ledger import CollectionLocked, Ledger, LedgerError, RunRecord
from storage.work import SharedRunUnderWay, shared_run_under_way

log = logging.getLogger("shoko.collector")

# Evidence records a run hands to the ledger at a time while collecting (and whatever a fetcher task leaves when it
# ends): what the run holds of its raw documents at once.
STREAM_BATCH = 1000


def _run_fetcher(fetcher: Fetcher, ctx: FetchContext) -> None:
    try:
        ctx.clients.deadline.check(f"{fetcher.name} in {ctx.scope}")
        fetcher.run(ctx)
    except Exception as exc:
        for kind in fetcher.kinds:
            ctx.sink.error(kind, fetcher.name, ctx.scope, exc)
    ctx.sink.flush()  # a streamed run stores each task's evidence when the task ends


def _run_task(ctx: FetchContext, listings: Listings) -> None:
    try:
        _run_fetcher(ctx.fetcher, ctx)
    finally:
        listings.done(ctx.scope, ctx.fetcher.listings)


def evidence_order(e: Evidence) -> tuple[Any, ...]:
    """Where a record goes in a run's order: collected evidence by kind, scope, resource and content, then (the
    same document read twice) its request and time (fetcher threads finish in any order, and a stable order keeps
    findings and their order reproducible); then the attestations the run carries, in the order given."""
    if e.kind == ATTESTATION_KIND:
        return (1,)
    return (0, e.kind, e.scope.lower(), e.resource_id.lower(), e.sha256, e.request_id or "", e.collected_at)


def evidence_place(e: Evidence) -> bytes:
    """`evidence_order` as bytes that sort the same (equal exactly when its keys are equal), in one object instead
    of a tuple and two strings: what the run's evidence writer keeps of each record until the part is written."""
    if e.kind == ATTESTATION_KIND:
        return b"\x01"
    texts = (e.kind, e.scope.lower(), e.resource_id.lower(), e.sha256, e.request_id or "")
    return b"\x00" + b"".join(map(_sortable_text, texts)) + _sortable_time(e.collected_at)


def _sortable_text(text: str) -> bytes:
    # UTF-8 sorts as code points do; a NUL inside is escaped, so the terminator sorts below any longer text.
    return text.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def _sortable_time(at: datetime) -> bytes:
    # Aware times compare by their instant (a naive one, never mixed with aware, by its fields).
    delta = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)) - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return (micros + (1 << 63)).to_bytes(8, "big")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _error_order(e: CollectionError) -> tuple[Any, ...]:
    return (e.kind, e.scope.lower(), e.source)


def _subscription_of(scope: str) -> str | None:
    """The subscription id of a `/subscriptions/{id}` scope (a log field), else None."""
    parts = scope.strip("/").split("/")
    return parts[1] if len(parts) >= 2 and parts[0].lower() == "subscriptions" else None


def collect(
    settings: Settings,
    credential: TokenCredential | None = None,
    plan: CollectionPlan | None = None,
) -> FactSet:
    """Run the plan's fetchers (by default: what every check reads) across the subscriptions, and hold what they
    collect in memory (a run streams it to the ledger instead: `_run_locked`)."""
    sink = Sink()
    gather(settings, sink, credential, plan)
    return in_run_order(sink.evidence, sink.errors)


def in_run_order(evidence: Sequence[Evidence], errors: Sequence[CollectionError]) -> FactSet:
    """Facts in the order a run stores and judges them (`evidence_order`, then collection errors by kind, scope
    and source), whichever thread or replica collected them."""
    return FactSet(evidence=sorted(evidence, key=evidence_order), errors=sorted(errors, key=_error_order))


def gather(
    settings: Settings,
    sink: Sink,
    credential: TokenCredential | None = None,
    plan: CollectionPlan | None = None,
) -> None:
    """Run the plan's fetchers across the subscriptions, each task's evidence and errors into `sink`."""
    plan = plan or plan_for()
    fetchers = plan.fetchers
    clients = ClientFactory(
        credential or make_credential(settings.azure),
        settings.azure,
        settings.collection,
        Deadline.after(settings.collection.run_deadline_seconds),
    )
    workers = settings.collection.max_workers
    # Twice the calls in flight, so threads waiting for a subscription's read budget leave slots to the others.
    calls = CallPool(2 * workers, clients.pacer.wait_time)
    listings = Listings()

    def context(fetcher: Fetcher, subscription_id: str | None = None) -> FetchContext:
        return FetchContext(fetcher, clients, settings.azure, sink, subscription_id, plan.wanted_types, calls, listings)

    with calls:
        subscriptions = _list_subscriptions(settings, context(SUBSCRIPTIONS))
        listing_failed = [e for e in sink.errors if e.kind == FactKind.SUBSCRIPTION]
        if listing_failed and not settings.azure.subscriptions:
            # Without the list nothing per subscription can be collected: every kind those fetchers
            # produce is a collection error with the listing's cause, so each check says why it saw nothing.
            for fetcher in fetchers:
                if not fetcher.tenant_wide:
                    sink.errors.extend(
                        replace(listing_failed[0], kind=kind, source=fetcher.name) for kind in fetcher.kinds
                    )
        tasks = [context(f, s) for f, s in task_order(fetchers, subscriptions)]
        for task in tasks:  # each shared listing is let go when the last task reading it ends
            listings.expect(task.scope, task.fetcher.listings)
        log.info("collecting %d fetcher tasks over subscriptions %s", len(tasks), ", ".join(subscriptions) or "(none)")
        # A fetcher mostly waits for its per-resource calls, which run in the call pool; as many fetchers as call
        # slots run at once (more keep more bearer tokens waiting between being attached and being sent).
        with ThreadPoolExecutor(max_workers=max(1, min(len(tasks), workers)), thread_name_prefix="fetch") as pool:
            list(pool.map(lambda ctx: _run_task(ctx, listings), tasks))
    for err in sink.errors:
        log.warning(
            "collection error: source=%s kind=%s scope=%s code=%s status=%s request_id=%s: %s",
            err.source, err.kind, err.scope, err.code, err.status_code, err.request_id, err.message,
            extra={"fetcher": err.source, "fact_kind": str(err.kind), "subscription": _subscription_of(err.scope),
                   "code": err.code, "status": err.status_code, "request_id": err.request_id},
        )  # fmt: skip
    log.info("collected %d evidence records, %d collection errors", sink.added, len(sink.errors))


def task_order(fetchers: Sequence[Fetcher], subscriptions: Sequence[str]) -> list[tuple[Fetcher, str | None]]:
    """The run's fetcher tasks in the order they start: the tenant-wide ones, then each fetcher across the
    subscriptions in turn, so every subscription's read budget is drawn on from the start. Fetchers that share a
    listing (linked through any they share) take their turns subscription by subscription, one after the other:
    a subscription's listing is let go when its last reader there ends. In plain fetcher order every
    subscription's /resources listing would be held from the diagnostic settings' tasks to the inventory's: half
    the run."""
    tenant: list[tuple[Fetcher, str | None]] = [(f, None) for f in fetchers if f.tenant_wide]
    groups: list[list[Fetcher]] = []
    for fetcher in (f for f in fetchers if not f.tenant_wide):
        linked = [g for g in groups if any(set(fetcher.listings) & set(member.listings) for member in g)]
        groups = [g for g in groups if all(g is not other for other in linked)]
        groups.append([member for g in linked for member in g] + [fetcher])
    place = {id(f): n for n, f in enumerate(fetchers)}
    groups = sorted((sorted(g, key=lambda f: place[id(f)]) for g in groups), key=lambda g: place[id(g[0])])
    return tenant + [(f, s) for group in groups for s in subscriptions for f in group]


def _list_subscriptions(settings: Settings, ctx: FetchContext) -> list[str]:
    """List the subscriptions into the run's sink and give the ids to collect: the configured ones, or every one
    the identity can see (a disabled subscription is still read: its resources hold evidence too, and skipping it
    would hide them)."""
    listed = Sink()  # read here before the run's sink hands the listing on
    _run_fetcher(SUBSCRIPTIONS, replace(ctx, sink=listed))
    for item in listed.evidence:
        ctx.sink.add(item)
    ctx.sink.errors.extend(listed.errors)
    ctx.sink.flush()
    if settings.azure.subscriptions:
        return list(settings.azure.subscriptions)
    return [str(ev.content["subscriptionId"]) for ev in listed.evidence if ev.kind == FactKind.SUBSCRIPTION]


@dataclass(frozen=True)
class RunResult:
    """What a run judged: its verdicts and how many findings each check gave of each status. Its findings are in
    the ledger, not held: `findings` reads them from there."""

    run_id: int
    verdicts: list[Verdict]
    finding_counts: dict[tuple[str, Status], int]
    ledger: Ledger = field(repr=False, compare=False)

    @property
    def findings(self) -> list[Finding]:
        """The run's findings as stored, in the order judged (read from the ledger on each use)."""
        return self.ledger.findings(self.run_id)

    def verdict(self, number: int) -> Verdict | None:
        return next((v for v in self.verdicts if v.requirement == number), None)

    @classmethod
    def of(cls, ledger: Ledger, run_id: int, judged: Judgement | EvaluationResult) -> RunResult:
        if isinstance(judged, Judgement):
            counts = judged.finding_counts
        else:
            counts = {}
            for f in judged.findings:
                counts[(f.check_id, Status(f.status))] = counts.get((f.check_id, Status(f.status)), 0) + 1
        return cls(run_id, judged.verdicts, counts, ledger)


@dataclass(frozen=True)
class RunOutcome:
    run: RunRecord
    result: RunResult
    # What changed since the last completed run that judged the same checks (alerts.drift), also stored.
    drift: tuple[DriftEvent, ...] = ()


def checks_for_kinds(kinds: Collection[str]) -> tuple[Check, ...]:
    """The checks a partial run of `kinds` can judge: those reading nothing else (every run collects the
    subscription list first, so it counts as wanted)."""
    wanted = set(kinds) | ALWAYS_COLLECTED
    return tuple(c for c in ALL_CHECKS if set(c.reads) <= wanted)


def decided_by(catalog: Catalog, checks: Collection[Check]) -> set[int]:
    """Requirement numbers every mapped check of which is among `checks` (a partial run's verdicts)."""
    ran = {c.id for c in checks}
    return {r.number for r in catalog if r.mapped_checks and set(r.mapped_checks) <= ran}


def judge(
    facts: FactSet,
    catalog: Catalog,
    thresholds: Thresholds,
    checks: Sequence[Check],
    profile: str,
    partial: bool,
) -> EvaluationResult:
    """A run's findings and verdicts from its facts; a partial run keeps only the verdicts its checks decide.
    The same function re-judges a sealed run from its stored evidence (collector.rejudge)."""
    result = evaluate(facts, catalog, thresholds, checks, profile)
    return replace(result, verdicts=_decided_verdicts(catalog, checks, result.verdicts)) if partial else result


def _decided_verdicts(catalog: Catalog, checks: Collection[Check], verdicts: Sequence[Verdict]) -> list[Verdict]:
    """The verdicts a partial run keeps: those of the requirements its checks alone decide."""
    decided = decided_by(catalog, checks)
    return [v for v in verdicts if v.requirement in decided]


def judge_to_ledger(
    ledger: Ledger,
    run_id: int,
    facts: FactSet,
    catalog: Catalog,
    thresholds: Thresholds,
    checks: Sequence[Check],
    profile: str,
    partial: bool,
) -> Judgement:
    """What `judge` gives, each check's findings stored as it is judged (Ledger.findings_writer), so a run never
    holds all its findings at once. Findings stored before a failure stay listed with the run, as its evidence
    does."""
    writer = ledger.findings_writer(run_id)
    try:
        judged = judge_into(facts, catalog, thresholds, writer.add, checks, profile)
    finally:
        try:
            writer.close()
        except LedgerError as exc:
            log.error("run %d: its findings part could not be written: %s", run_id, exc, extra={"run_id": run_id})
    log.info("judged: %d findings stored", sum(judged.finding_counts.values()), extra={"run_id": run_id})
    return replace(judged, verdicts=_decided_verdicts(catalog, checks, judged.verdicts)) if partial else judged


def run_scope(
    settings: Settings, catalog: Catalog, checks: Sequence[Check], kinds: Collection[str] | None
) -> dict[str, Any]:
    """What a run records of how it was made and judged (sealed with it): its subscriptions, the checks it
    judged, the profile, catalog, rules and thresholds."""
    scope: dict[str, Any] = {
        "subscriptions": list(settings.azure.subscriptions),
        "arm": settings.azure.arm_base_url,
        # What this run judged (drift compares only these); a full run also judges the attestations in force.
        "checks": [c.id for c in checks] + ([ATTESTATION_CHECK] if kinds is None else []),
        # The guideline bar findings were held to (controls.profiles): a replay of the evidence needs it.
        "profile": settings.guideline.profile,
        # The catalog and rules it was judged by (controls.versions): `verify --rejudge` compares only when equal.
        "catalog": catalog_sha256(catalog),
        "rules": rules_sha256(),
        # The thresholds it judged with, sealed with the run: explain, status and snapshots read them from here,
        # not from whatever the config says later.
        "thresholds": asdict(settings.thresholds),
    }
    if kinds is not None:
        scope |= {"partial": True, "kinds": sorted(kinds)}
    return scope


def run_once(
    settings: Settings,
    ledger: Ledger,
    catalog: Catalog,
    credential: TokenCredential | None = None,
    kinds: Collection[str] | None = None,
) -> RunOutcome:
    """Collect, store, evaluate and seal one run. A crash seals the run as failed, then re-raises.

    Runs abandoned by processes that are gone are sealed interrupted first. One process collects into a
    database at a time: while another holds the ledger's collection lock, this logs why and raises
    `CollectionLocked` without starting a run; while a run shared by agent replicas is under way, it raises
    `SharedRunUnderWay` (a CollectionLocked) naming it. The run's lease is renewed every `agent.lease_seconds`; on
    PostgreSQL its times are the database's clock (Ledger.clock), whatever this host's says.

    With `kinds`, a partial run: it collects what the checks reading only those kinds need, judges
    those checks, and stores verdicts only for the requirements they alone decide or support."""
    for reaped in ledger.reap_abandoned(ledger.clock()):
        log.warning("run %d sealed interrupted: %s", reaped.id, reaped.error, extra={"run_id": reaped.id})
    with ledger.collection_lock() as lock:
        if not lock.acquired:
            log.warning("%s; this run is skipped", lock.reason)
            raise CollectionLocked(lock)
        # Agent replicas hold the lock only while they start or join a run: theirs may be under way without it.
        if (shared := shared_run_under_way(ledger)) is not None:
            refused = SharedRunUnderWay(shared)
            log.warning("%s", refused, extra={"run_id": shared.id})
            raise refused
        _seal_left_running(ledger)
        with FreedMemoryReleaser():  # what fetching frees is not left resident under judging and sealing
            return _run_locked(settings, ledger, catalog, credential, kinds)


def _collect_into(
    ledger: Ledger,
    run_id: int,
    settings: Settings,
    credential: TokenCredential | None,
    plan: CollectionPlan,
    attestations: Sequence[Attestation],
) -> None:
    """Collect the run's evidence into the ledger as each fetcher task ends (only the pending batch is held), then
    the attestations in force, so its verdicts cite what they relied on; then its collection errors. What is stored
    is what storing the whole run at once in `evidence_order` stores (`evidence_place` sorts the same)."""
    writer = ledger.evidence_writer(run_id, order=evidence_place)
    sink = Sink(store=writer.add, batch=STREAM_BATCH)
    try:
        gather(settings, sink, credential, plan)
        sink.flush()
        if sink.evidence:  # the ledger refused it to the end
            raise sink.store_failure or LedgerError(f"run {run_id}: collected evidence was not stored")
        writer.add(as_evidence(attestations, datetime.now(UTC)))
    finally:
        try:  # a run that fails still lists the evidence it stored
            writer.close()
        except LedgerError as exc:
            log.error("run %d: its evidence part could not be written: %s", run_id, exc, extra={"run_id": run_id})
    ledger.add_collection_errors(run_id, sorted(sink.errors, key=_error_order))


def stored_facts(ledger: Ledger, run_id: int, checks: Sequence[Check]) -> FactSet:
    """A stored run's facts for `checks`, read from the ledger kind by kind as the checks ask (controls.model.
    StoredFacts), or one subscription's part of a kind at a time for checks judged per subscription and kinds
    scanned with `each`: what its evidence and collection errors were, in the order they were judged in."""
    parts = ledger.evidence_parts(run_id)
    widest = max((len(c.reads) for c in checks), default=1)

    # Sorted again: a run shared by agent replicas (collector.shared_work) stored one part per subscription, in
    # whatever order they finished; a run of one agent is stored in this order already (the sort is stable).
    def load(kind: str) -> list[Evidence]:
        return sorted(ledger.evidence_of([e for part in parts[kind].values() for e in part]), key=evidence_order)

    def load_within(kind: str, subscription: str | None) -> list[Evidence]:
        return sorted(ledger.evidence_of(parts[kind].get(subscription, [])), key=evidence_order)

    return StoredFacts(
        load,
        parts,
        sorted(ledger.collection_errors(run_id), key=_error_order),
        keep=widest + 1,  # and the attestations, read after the checks
        partitions=parts,
        load_within=load_within,
    )


def _seal_left_running(ledger: Ledger) -> None:
    """Seal interrupted the runs this process left running: with the collection lock held, no run of this process
    is under way, so one still running is a run that could not be sealed failed (the database refused the write or
    was unreachable then). Its holder is alive, so reap_abandoned would leave it running while this process lives."""
    for run_id in ledger.running_runs_of_this_process():
        run = ledger.run(run_id)
        at = run.lease.renewed_at if run.lease else run.started_at  # the last moment it was known to be alive
        reason = (
            "interrupted: this process could not seal the run when it ended (the database refused the write or "
            "was unreachable); sealed by its next run / "
            "中断: 終了時にデータベースが書き込みを拒否したか接続できず封印できなかった実行を、次の実行が封印しました"
        )
        try:
            ledger.interrupt_run(run_id, at, reason)
        except LedgerError as exc:  # sealed meanwhile by another process's reap
            log.warning("run %d left running could not be sealed interrupted: %s", run_id, exc,
                        extra={"run_id": run_id})  # fmt: skip
            continue
        log.warning("run %d sealed interrupted: %s", run_id, reason, extra={"run_id": run_id})


def _seal_failed(ledger: Ledger, run_id: int, exc: BaseException) -> None:
    try:
        ledger.fail_run(run_id, ledger.clock(), f"{type(exc).__name__}: {exc}")
    except LedgerError as sealed:  # e.g. sealed interrupted meanwhile (shutdown, or its lease expired)
        log.error("run %d could not be sealed failed: %s", run_id, sealed, extra={"run_id": run_id})


def _run_locked(
    settings: Settings,
    ledger: Ledger,
    catalog: Catalog,
    credential: TokenCredential | None,
    kinds: Collection[str] | None,
) -> RunOutcome:
    """run_once under the collection lock.

    With `kinds`, a partial run: it collects what the checks reading only those kinds need, judges
    those checks, and stores verdicts only for the requirements they alone decide or support."""
    checks = ALL_CHECKS if kinds is None else checks_for_kinds(kinds)
    if not checks:
        raise PlanError(f"no check reads only the fact kinds {', '.join(sorted(kinds or ()))}")
    scope = run_scope(settings, catalog, checks, kinds)
    run_id = ledger.start_run(
        ledger.clock(),
        agent_version=__version__,
        config_digest=settings.digest(),
        scope=scope,
        lease_seconds=settings.agent.lease_seconds,
    )
    keeper = ledger.keep_lease(run_id, settings.agent.lease_seconds)
    log.info(
        "run %d started%s", run_id, f" (partial: {', '.join(sorted(kinds))})" if kinds is not None else "",
        extra={"run_id": run_id},
    )  # fmt: skip
    try:
        plan = plan_for(checks)
        attestations = ledger.attestations()
        _collect_into(ledger, run_id, settings, credential, plan, attestations)
        facts = stored_facts(ledger, run_id, plan.checks)
        result = judge_to_ledger(
            ledger, run_id, facts, catalog, settings.thresholds, plan.checks, settings.guideline.profile,
            kinds is not None,
        )  # fmt: skip
        del facts  # let go of the kinds the last checks read before drift and sealing
        ledger.add_verdicts(run_id, result.verdicts)
        drift = tuple(detect_for_run(ledger, run_id, scope["checks"], None, result.verdicts))
        if kinds is None:  # a full run warns of attestations near their expiry, once
            previous = ledger.latest_run(completed_only=True, full_only=True)
            drift += tuple(
                attestation_expiry_events(
                    attestations,
                    datetime.now(UTC).date(),
                    previous.started_at.astimezone(UTC).date() if previous else None,
                    settings.alerts.attestation_warning_days,
                    previous.id if previous else None,
                )
            )
        ledger.add_drift_events(run_id, drift)
        keeper.stop()
        ledger.complete_run(run_id, ledger.clock())
    except BaseException as exc:
        keeper.stop()
        _seal_failed(ledger, run_id, exc)
        log.error("run %d failed: %s: %s", run_id, type(exc).__name__, exc, extra={"run_id": run_id})
        raise
    record = ledger.run(run_id)
    log.info("run %d completed: digest %s", run_id, record.digest, extra={"run_id": run_id})
    return RunOutcome(run=record, result=RunResult.of(ledger, run_id, result), drift=drift)
