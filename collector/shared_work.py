"""One run shared by several agent replicas on one PostgreSQL database (`agent.replicas: true`).

ARM's read limits are per principal and subscription, so a very large estate is read faster by several processes,
each reading other subscriptions. A run is then split into work items (storage/work.py): one per subscription, one
for the tenant-wide facts, and one to judge and seal it.

- The replica whose schedule fires first starts the run, under the collection lock: it lists the subscriptions,
  opens the run, and stores the listing with the run's work items in one transaction. Replicas that fire while the
  run is going join it; a replica whose collection settings differ from the run's does not.
- Every replica taking part claims items (`SELECT ... FOR UPDATE SKIP LOCKED`), collects each with the same
  fetchers as a single agent (collector.pipeline), and stores its evidence and collection errors with the item
  marked done in one transaction. It renews its items' leases and the run's lease while it takes part.
- An item whose replica died (its lease expired) is claimed again by another; after `agent.replica_attempts`
  claims it is stored as a collection error for every fact kind it should have given, so its checks say `error`.
- Once every item is done or failed, one replica claims the judge step: it judges the run from the evidence the
  replicas stored (as `shoko verify --rejudge` does), stores findings, verdicts and drift with the step marked
  done in one transaction, and seals the run. The run is sealed once; a replica that dies between the judgement
  and the seal leaves the seal to the next replica that looks.
- A replica with nothing to claim waits for the others (it takes over their items if they die) until the run is
  sealed, then waits for its next schedule.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

from azure.core.credentials import TokenCredential

from agent import metrics
from alerts.drift import attestation_expiry_events, detect_for_run
from collector import __version__
from collector.azure_clients import ClientFactory, Deadline, make_credential
from collector.fanout import CallPool, Listings
from collector.fetchers import SUBSCRIPTIONS
from collector.fetchers.base import FetchContext, Fetcher, Sink
from collector.memory import FreedMemoryReleaser
from collector.pipeline import (
    RunOutcome,
    RunResult,
    _list_subscriptions,
    _run_fetcher,
    _seal_failed,
    _subscription_of,
    checks_for_kinds,
    in_run_order,
    judge,
    run_scope,
    stored_facts,
)
from collector.plan import CollectionPlan, plan_for
from collector.settings import Settings
from controls.attestations import as_evidence
from controls.catalog import Catalog
from controls.checks import ALL_CHECKS
from controls.model import CollectionError, FactKind, FactSet
from controls.weakened import run_thresholds
from storage.leases import LEASE_PERIODS, LeaseKeeper
from storage.ledger import CollectionLocked, Ledger, LedgerError, RunRecord
from storage.work import DONE, FAILED, JUDGE, PENDING, TENANT, Claim, ClaimLost, WorkQueue

log = logging.getLogger("shoko.replicas")

POLL_SECONDS = 0.5  # how often a replica with nothing to claim looks again
ABANDONED = "WorkItemAbandoned"  # the collection error code of an item whose attempts ran out


def work_digest(settings: Settings) -> str:
    """What must be equal for replicas to share a run: what they collect, from where, and how it is judged."""
    azure = asdict(settings.azure)
    azure.pop("client_secret", None)
    data = {
        "azure": azure,
        "collection": asdict(settings.collection),
        "thresholds": asdict(settings.thresholds),
        "guideline": asdict(settings.guideline),
        "attempts": settings.agent.replica_attempts,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Share:
    """What one replica did in one shared run."""

    run_id: int | None = None
    started: bool = False  # this replica opened the run
    claimed: int = 0
    reclaimed: int = 0
    done: int = 0
    failed: int = 0
    lost: int = 0  # collected, but claimed again by another replica before this one stored it
    outcome: RunOutcome | None = None  # set on the replica that judged and sealed the run
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, event: str) -> None:
        with self._lock:
            setattr(self, event, getattr(self, event) + 1)
        metrics.observe_work(event)


def _kinds_of(run: RunRecord) -> frozenset[str] | None:
    return frozenset(run.scope.get("kinds") or ()) if run.scope.get("partial") else None


def take_part(
    settings: Settings,
    ledger: Ledger,
    catalog: Catalog,
    credential: TokenCredential | None = None,
    kinds: Collection[str] | None = None,
    *,
    due: Callable[[list[RunRecord]], bool],
    stop: threading.Event | None = None,
    fresh: bool = False,
) -> Share:
    """Join the running shared run of `kinds` (None: the full run), or start one when `due(recent runs)` says the
    schedule asks for one, and work on it until it is sealed (or `stop` is set). Raises CollectionLocked when
    another process holds the collection lock for longer than a lease (a single agent collecting).

    `fresh` ("collect now"): facts collected from now on, whatever the schedule says. A run still collecting is
    joined; one that has collected everything and is being judged is helped to its seal, then a new run starts."""
    queue = WorkQueue(ledger, settings.agent.lease_seconds)
    for reaped in ledger.reap_abandoned(ledger.clock()):
        log.warning("run %d sealed interrupted: %s", reaped.id, reaped.error, extra={"run_id": reaped.id})
    wanted = frozenset(kinds) if kinds is not None else None
    stop = stop or threading.Event()
    work = _Work(settings, ledger, catalog, credential, wanted, queue, stop)
    run_id = _join_or_start(work, (lambda runs: True) if fresh else due)
    if run_id is None:
        return work.share
    if fresh and not work.share.started and not queue.collecting(run_id):
        log.info(
            "run %d has collected everything and is being judged: this replica helps seal it, then starts a new "
            "run (collect now)", run_id, extra={"run_id": run_id},
        )  # fmt: skip
        work.take_part(run_id)
        if stop.is_set():
            return work.share
        work = _Work(settings, ledger, catalog, credential, wanted, queue, stop)
        run_id = _join_or_start(work, lambda runs: True)
        if run_id is None:
            return work.share
    return work.take_part(run_id)


def _join_or_start(work: _Work, due: Callable[[list[RunRecord]], bool]) -> int | None:
    waited_until = time.monotonic() + work.settings.agent.lease_seconds * LEASE_PERIODS
    while True:
        with work.ledger.collection_lock() as lock:
            if lock.acquired:
                return work.join_or_start(due)
        if time.monotonic() > waited_until:
            log.warning("%s; this run is skipped", lock.reason)
            raise CollectionLocked(lock)
        time.sleep(0.2)  # another replica is starting or joining a run; it lets go in a moment


class _Work:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        catalog: Catalog,
        credential: TokenCredential | None,
        kinds: frozenset[str] | None,
        queue: WorkQueue,
        stop: threading.Event,
    ) -> None:
        self.settings, self.ledger, self.catalog, self.kinds, self.queue, self.stop = (
            settings, ledger, catalog, kinds, queue, stop
        )  # fmt: skip
        self.credential = credential
        self.checks = ALL_CHECKS if kinds is None else checks_for_kinds(kinds)
        self.plan: CollectionPlan = plan_for(self.checks)
        self.digest = work_digest(settings)
        self.share = Share()
        self.clients: ClientFactory | None = None
        self.calls: CallPool | None = None

    # -- joining or starting ----------------------------------------------------------------------------

    def join_or_start(self, due: Callable[[list[RunRecord]], bool]) -> int | None:
        """Under the collection lock: the run to take part in, or None when there is nothing to do."""
        shared = self.queue.shared_runs()
        for run_id, digest in shared.items():
            if _kinds_of(self.ledger.run(run_id)) != self.kinds:
                continue
            if digest != self.digest:
                log.warning(
                    "run %d is shared by replicas with other collection settings than this one's; this replica does "
                    "not take part (give every replica the same configuration)", run_id, extra={"run_id": run_id},
                )  # fmt: skip
                return None
            log.info("run %d is under way: this replica takes part", run_id, extra={"run_id": run_id})
            self.share.run_id = run_id
            return run_id
        # Runs that did their slot's work: sealed and not interrupted (running ones are shared runs, seen above, or
        # a single agent's, which holds the lock, or abandoned).
        runs = [r for r in self.ledger.recent_runs(200) if r.sealed and r.status != "interrupted"]
        if not due([r for r in runs if _kinds_of(r) == self.kinds]):
            log.info("no shared run is under way and none is due yet: nothing to do until the next schedule")
            return None
        return self._start()

    def _collector(self, deadline: Deadline) -> None:
        if self.clients is None:
            credential = self.credential or make_credential(self.settings.azure)
            self.clients = ClientFactory(credential, self.settings.azure, self.settings.collection, deadline)
            self.calls = CallPool(2 * self.settings.collection.max_workers, self.clients.pacer.wait_time)

    def _context(self, fetcher: Fetcher, sink: Sink, subscription_id: str | None, listings: Listings) -> FetchContext:
        assert self.clients is not None
        return FetchContext(
            fetcher, self.clients, self.settings.azure, sink, subscription_id, self.plan.wanted_types, self.calls,
            listings,
        )  # fmt: skip

    def _start(self) -> int:
        settings = self.settings
        self._collector(Deadline.after(settings.collection.run_deadline_seconds))
        sink = Sink()
        subscriptions = _list_subscriptions(settings, self._context(SUBSCRIPTIONS, sink, None, Listings()))
        listing_failed = [e for e in sink.errors if e.kind == FactKind.SUBSCRIPTION]
        errors = list(sink.errors)
        if listing_failed and not settings.azure.subscriptions:
            # As a single agent does: nothing per subscription can be collected; each kind says why.
            for fetcher in self.plan.fetchers:
                if not fetcher.tenant_wide:
                    errors += [replace(listing_failed[0], kind=kind, source=fetcher.name) for kind in fetcher.kinds]
        facts = in_run_order(sink.evidence, errors)
        _log_errors(facts.errors)
        scope = run_scope(settings, self.catalog, self.checks, self.kinds)
        # The database's clock: every replica reckons the run's deadline and lease from it alike.
        run_id = self.ledger.start_run(
            self.ledger.clock(),
            agent_version=__version__,
            config_digest=settings.digest(),
            scope=scope,
            lease_seconds=settings.agent.lease_seconds,
        )
        try:
            with self.ledger.transaction() as session:
                self.ledger.add_evidence(run_id, facts.evidence)
                self.ledger.add_collection_errors(run_id, facts.errors)
                self.queue.create(session, run_id, [TENANT, *subscriptions], self.digest)
        except BaseException as exc:
            _seal_failed(self.ledger, run_id, exc)
            log.error("run %d failed: %s: %s", run_id, type(exc).__name__, exc, extra={"run_id": run_id})
            raise
        log.info(
            "run %d started, shared by replicas%s: %d work items (tenant + %d subscriptions)",
            run_id, f" (partial: {', '.join(sorted(self.kinds))})" if self.kinds is not None else "",
            len(subscriptions) + 1, len(subscriptions), extra={"run_id": run_id},
        )  # fmt: skip
        self.share.run_id, self.share.started = run_id, True
        return run_id

    # -- taking part ------------------------------------------------------------------------------------

    def take_part(self, run_id: int) -> Share:
        run = self.ledger.run(run_id)
        # The run's collection deadline counts from its start, whichever replica collects, by the database's clock.
        elapsed = (self.ledger.clock() - run.started_at).total_seconds()
        self._collector(Deadline.after(max(0.001, self.settings.collection.run_deadline_seconds - elapsed)))
        assert self.calls is not None
        keeper = LeaseKeeper(run_id, lambda: self.queue.renew(run_id), self.settings.agent.lease_seconds)
        try:
            with self.calls, FreedMemoryReleaser():  # a replica's collecting and judging free a lot of memory
                workers = [
                    threading.Thread(target=self._work, args=(run_id,), name=f"work-{i}", daemon=True)
                    for i in range(self.settings.agent.replica_items)
                ]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
        finally:
            keeper.stop()
        s = self.share
        log.info(
            "run %d: this replica claimed %d work items (%d re-claimed), %d done, %d failed%s",
            run_id, s.claimed + s.reclaimed, s.reclaimed, s.done, s.failed,
            "; it judged and sealed the run" if s.outcome is not None else "", extra={"run_id": run_id},
        )  # fmt: skip
        return s

    def _work(self, run_id: int) -> None:
        while not self.stop.is_set():
            claim = None
            try:
                if self.queue.run_status(run_id) != "running":
                    return
                claim = self.queue.claim(run_id)
                if claim is not None:
                    self._collect(claim)
                    continue
                claim = self.queue.claim_judge(run_id)
                if claim is not None:
                    self._judge(claim)
                    return
                if self.queue.judged_long_ago(run_id):
                    self._seal(run_id)  # judged by a replica that died before sealing
                    return
                if PENDING not in self.queue.states(run_id).values():
                    # What is left is held by other replicas: it can be claimed again only once their leases
                    # expire (three periods on), or handed back by one stopping. Look once a period, not twice a second.
                    self.stop.wait(self.settings.agent.lease_seconds)
                    continue
            except Exception as exc:  # e.g. the database away for a moment: hand the item back, look again
                log.warning("run %d: %s: %s", run_id, type(exc).__name__, exc, extra={"run_id": run_id})
                if claim is not None:
                    try:
                        self.queue.release(claim)
                    except Exception as again:  # its lease then expires, and it is claimed again
                        log.warning("run %d: %s not handed back: %s", run_id, claim.item, again,
                                    extra={"run_id": run_id})  # fmt: skip
            self.stop.wait(POLL_SECONDS)

    def _announce(self, claim: Claim, what: str) -> None:
        extra = {"run_id": claim.run_id, "subscription": claim.item if claim.item not in (TENANT, JUDGE) else None}
        if claim.reclaimed:
            expired = claim.expired_at.isoformat(timespec="seconds") if claim.expired_at else "?"
            log.warning(
                "run %d: %s re-claimed from %s, whose lease expired at %s (attempt %d)",
                claim.run_id, what, claim.previous_holder, expired, claim.attempts, extra=extra,
            )  # fmt: skip
            self.share.count("reclaimed")
        else:
            log.info("run %d: %s claimed (attempt %d)", claim.run_id, what, claim.attempts, extra=extra)
            self.share.count("claimed")

    def _item_fetchers(self, item: str) -> list[Fetcher]:
        return [f for f in self.plan.fetchers if f.tenant_wide == (item == TENANT)]

    def _collect(self, claim: Claim) -> None:
        what = "the tenant-wide facts" if claim.item == TENANT else f"subscription {claim.item}"
        self._announce(claim, what)
        if claim.attempts > self.settings.agent.replica_attempts:
            self._give_up(claim, what)
            return
        sink, listings = Sink(), Listings()
        subscription = None if claim.item == TENANT else claim.item
        tasks = [self._context(f, sink, subscription, listings) for f in self._item_fetchers(claim.item)]
        workers = max(1, min(len(tasks), self.settings.collection.max_workers))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
            list(pool.map(lambda ctx: _run_fetcher(ctx.fetcher, ctx), tasks))
        facts = in_run_order(sink.evidence, sink.errors)
        _log_errors(facts.errors)
        try:
            with self.ledger.transaction() as session:
                self.queue.fence(session, claim)
                self.ledger.add_evidence(claim.run_id, facts.evidence)
                self.ledger.add_collection_errors(claim.run_id, facts.errors)
                self.queue.finish(session, claim, DONE)
        except ClaimLost as exc:
            log.warning("run %d: %s not stored: %s", claim.run_id, what, exc, extra={"run_id": claim.run_id})
            self.share.count("lost")
            return
        log.info(
            "run %d: %s done: %d evidence records, %d collection errors",
            claim.run_id, what, len(facts.evidence), len(facts.errors), extra={"run_id": claim.run_id},
        )  # fmt: skip
        self.share.count("done")

    def _give_up(self, claim: Claim, what: str) -> None:
        """The item's attempts ran out: every kind it should have given is a collection error, never a silent gap."""
        message = (
            f"{what} was claimed {claim.attempts - 1} times by agent replicas and none of them finished it "
            f"(the last: {claim.previous_holder or 'unknown'}); its facts were not collected"
        )
        scope = "tenant" if claim.item == TENANT else f"/subscriptions/{claim.item}"
        now = datetime.now(UTC)
        errors = [
            CollectionError(kind, f.name, scope, ABANDONED, message, None, None, now)
            for f in self._item_fetchers(claim.item)
            for kind in f.kinds
        ]
        _log_errors(errors)
        try:
            with self.ledger.transaction() as session:
                self.queue.fence(session, claim)
                self.ledger.add_collection_errors(claim.run_id, errors)
                self.queue.finish(session, claim, FAILED)
        except ClaimLost as exc:
            log.warning("run %d: %s not stored: %s", claim.run_id, what, exc, extra={"run_id": claim.run_id})
            self.share.count("lost")
            return
        log.error("run %d: %s failed: %s", claim.run_id, what, message, extra={"run_id": claim.run_id})
        self.share.count("failed")

    # -- judging and sealing ----------------------------------------------------------------------------

    def _judge(self, claim: Claim) -> None:
        self._announce(claim, "judging")
        run_id = claim.run_id
        try:
            run = self.ledger.run(run_id)
            partial = bool(run.scope.get("partial"))
            thresholds = run_thresholds(run.scope) or self.settings.thresholds
            # The facts every replica stored, in the order one agent would have judged them, then the attestations
            # in force (stored with the judgement, as a single agent stores them with its facts).
            stored = stored_facts(self.ledger, run_id, self.plan.checks)
            attestations = self.ledger.attestations()
            now = self.ledger.clock()  # the run's moment on the clock every replica shares
            attested = as_evidence(attestations, now)
            facts = FactSet(stored.evidence + attested, stored.errors)
            result = judge(facts, self.catalog, thresholds, self.plan.checks, str(run.scope["profile"]), partial)
            drift = tuple(detect_for_run(self.ledger, run_id, run.scope["checks"], result.findings, result.verdicts))
            if not partial:  # a full run warns of attestations near their expiry, once
                previous = self.ledger.latest_run(completed_only=True, full_only=True)
                drift += tuple(
                    attestation_expiry_events(
                        attestations,
                        now.date(),
                        previous.started_at.astimezone(UTC).date() if previous else None,
                        self.settings.alerts.attestation_warning_days,
                        previous.id if previous else None,
                    )
                )
            with self.ledger.transaction() as session:
                self.queue.fence(session, claim)
                self.ledger.add_evidence(run_id, attested)
                self.ledger.add_findings(run_id, result.findings)
                self.ledger.add_verdicts(run_id, result.verdicts)
                self.ledger.add_drift_events(run_id, drift)
                self.queue.finish(session, claim, DONE)
        except ClaimLost as exc:
            log.warning("run %d: judgement not stored: %s", run_id, exc, extra={"run_id": run_id})
            self.share.count("lost")
            return
        except Exception as exc:
            # As a single agent's run that crashed: sealed failed with what it stored, the error in one line.
            _seal_failed(self.ledger, run_id, exc)
            log.error("run %d failed: %s: %s", run_id, type(exc).__name__, exc, extra={"run_id": run_id})
            return
        self.share.count("done")
        record = self._seal(run_id)
        if record is not None and record.status == "completed":
            self.share.outcome = RunOutcome(run=record, result=RunResult.of(self.ledger, run_id, result), drift=drift)

    def _seal(self, run_id: int) -> RunRecord | None:
        try:
            self.ledger.complete_run(run_id, self.ledger.clock())
        except LedgerError as exc:  # sealed meanwhile by another replica
            log.info("run %d: not sealed by this replica: %s", run_id, exc, extra={"run_id": run_id})
            return None
        record = self.ledger.run(run_id)
        log.info("run %d completed: digest %s (sealed by this replica)", run_id, record.digest,
                 extra={"run_id": run_id})  # fmt: skip
        return record


def _log_errors(errors: list[CollectionError]) -> None:
    for err in errors:
        log.warning(
            "collection error: source=%s kind=%s scope=%s code=%s status=%s request_id=%s: %s",
            err.source, err.kind, err.scope, err.code, err.status_code, err.request_id, err.message,
            extra={"fetcher": err.source, "fact_kind": str(err.kind), "subscription": _subscription_of(err.scope),
                   "code": err.code, "status": err.status_code, "request_id": err.request_id},
        )  # fmt: skip
