"""`shoko agent`: collections on a schedule, one at a time, until SIGTERM.

- The full collection runs on `agent.schedule`; each `agent.partial_schedules` entry runs a partial
  collection of its fact kinds on its own schedule.
- Scheduler jobs only ask for a run; one worker thread carries runs out, so a run still going when
  the next is due is not started twice (the request is dropped and logged), and across processes the
  ledger's collection lock keeps two agents on one database from collecting at the same time.
- A run missed while the agent was down is made up once at start: if the schedule fired since the
  last run of that kind began, one run is asked for at once, however many slots were missed.
- After each run: metrics, and the run's drift events become alerts in the outbox; a delivery job
  sends what is due every few seconds, so alerts written before a restart still go out after it.
- SIGTERM (or SIGINT): no new run starts; the current one may finish within
  `agent.shutdown_grace_seconds`, else it is sealed `interrupted`; the process exits 0.
- With `agent.replicas`, several agents on one PostgreSQL database share each run (collector/shared_work.py):
  each scheduled run joins the run under way or starts one when due; on SIGTERM a replica hands its unfinished
  work items back to the others instead of sealing the run.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from agent import http, metrics
from agent.schedule import Schedule, parse_schedule
from alerts.notifiers import missing_secrets
from alerts.outbox import deliver_pending, enqueue
from collector.anchoring import publisher, run_signer
from collector.pipeline import CollectionLocked, RunOutcome, checks_for_kinds, run_once
from collector.settings import ConfigError, Settings
from collector.shared_work import take_part
from controls.catalog import Catalog, load_catalog
from storage.ledger import Ledger, RunRecord
from storage.work import WorkQueue

log = logging.getLogger("shoko.agent")

FULL = "full"
# How often the outbox is looked at for messages that are due (new, or waiting for a retry).
DELIVERY_SECONDS = 5


@dataclass(frozen=True)
class Job:
    """One kind of run the agent schedules: the full collection, or a partial one of some fact kinds."""

    name: str  # "full" or the kinds joined by "+"
    kinds: frozenset[str] | None  # None: full
    schedule: Schedule

    @property
    def is_full(self) -> bool:
        return self.kinds is None


def jobs_from(settings: Settings) -> list[Job]:
    """The full job and one job per partial schedule; a partial schedule that would judge no check is a
    config error at start, not a failure every time it fires."""
    jobs = [Job(FULL, None, parse_schedule(settings.agent.schedule))]
    for entry in settings.agent.partial_schedules:
        kinds, _, schedule = entry.partition("=")
        names = frozenset(k.strip() for k in kinds.split("+"))
        if not checks_for_kinds(names):
            raise ConfigError(
                f"key 'agent.partial_schedules': {entry!r}: no check reads only {', '.join(sorted(names))} "
                "(a partial run judges the checks whose every fact kind it collects; see `shoko checks`)"
            )
        jobs.append(Job("+".join(sorted(names)), names, parse_schedule(schedule)))
    return jobs


def _kinds_of(run: RunRecord) -> frozenset[str] | None:
    return frozenset(run.scope.get("kinds") or ()) if run.scope.get("partial") else None


def missed(job: Job, runs: list[RunRecord], now: datetime, slack: timedelta = timedelta(0)) -> bool:
    """True when `job`'s schedule fired since its last run began (or it never ran): one make-up run. With `slack`,
    an interval schedule is due that much early (replicas' timers tick apart; the run another replica began a
    moment after its own tick still counts for this slot, the next slot's tick does not)."""
    mine = [r for r in runs if _kinds_of(r) == job.kinds]
    if not mine:
        return True
    last = max(r.started_at for r in mine)
    if job.schedule.seconds is not None:
        return now - last >= timedelta(seconds=job.schedule.seconds) - slack
    fire = job.schedule.trigger().get_next_fire_time(None, last + timedelta(seconds=1))
    return fire is not None and fire <= now


class Agent:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog | None = None,
        credential: Any = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog or load_catalog()
        self.credential = credential
        self.jobs = jobs_from(settings)
        # Every run the agent seals (completed, failed, interrupted, reaped) is signed and published as configured.
        self.ledger = Ledger(settings.database.url, signer=run_signer(settings), on_sealed=publisher(settings))
        self.http: http.HealthServer | None = None
        self.api: Any = None  # api.server.ApiServer when api.with_agent
        self._requests: queue.Queue[Job] = queue.Queue()
        self._asked: set[str] = set()  # jobs queued or running
        self._fresh: set[str] = set()  # jobs asked for by "collect now" (replicas: a new shared run, not a due one)
        self._asked_lock = threading.Lock()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._worker = threading.Thread(target=self._work, name="agent-runs", daemon=True)
        self._scheduler = BackgroundScheduler(timezone=UTC)

    # ---------------------------------------------------------------- requests and the worker

    def request(self, job: Job, fresh: bool = False) -> bool:
        """Ask for a run of `job`; False (and a log line) when one is already queued or running. `fresh` ("collect
        now"): with replicas, a run whatever the schedule says; asked while one of `job` runs, it follows it."""
        with self._asked_lock:
            if fresh:
                self._fresh.add(job.name)
            if job.name in self._asked:
                log.info("run %s is still queued or running; the one now due is not started twice", job.name)
                return False
            self._asked.add(job.name)
        self._requests.put(job)
        return True

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._requests.get(timeout=0.2)
            except queue.Empty:
                continue
            if self._stop.is_set():
                break
            self._idle.clear()
            with self._asked_lock:
                fresh = job.name in self._fresh
                self._fresh.discard(job.name)
            try:
                self.run_job(job, fresh)
            except Exception:  # the run is sealed failed by run_once; the agent keeps going
                log.exception("run %s failed", job.name)
            finally:
                with self._asked_lock:
                    if job.name in self._fresh and not self._stop.is_set():
                        self._requests.put(job)  # "collect now" asked while this run went on: one more follows
                    else:
                        self._asked.discard(job.name)
                self._idle.set()

    def run_job(self, job: Job, fresh: bool = False) -> RunOutcome | None:
        """One run of `job` (None when another agent holds the collection lock), then its metrics and alerts."""
        kind = "full" if job.is_full else "partial"
        started = time.monotonic()
        try:
            if self.settings.agent.replicas:
                outcome = self._take_part(job, fresh)
                if outcome is None:  # nothing due, or another replica sealed the run
                    return None
            else:
                outcome = run_once(self.settings, self.ledger, self.catalog, self.credential, kinds=job.kinds)
        except CollectionLocked:  # run_once logged who holds it
            metrics.observe_run(kind, "skipped", time.monotonic() - started)
            return None
        except Exception:
            metrics.observe_run(kind, "failed", time.monotonic() - started)
            raise
        run = outcome.run
        metrics.observe_run(kind, str(run.status), time.monotonic() - started, run.finished_at)
        metrics.observe_finding_counts(outcome.result.finding_counts, run.scope.get("checks") or ())
        if job.is_full:  # a partial run's few verdicts would hide the others
            metrics.observe_verdicts(outcome.result.verdicts)
        metrics.observe_collection_errors(self.ledger.collection_errors(run.id))
        metrics.observe_drift(outcome.drift)
        try:
            written = enqueue(self.ledger, run.id, outcome.drift, self.settings, self.catalog, datetime.now(UTC))
        except Exception:  # the run and its drift events are sealed; say where to find what was not alerted
            log.exception("run %d: its drift events could not be queued as alerts; see `shoko drift --run %d`",
                          run.id, run.id, extra={"run_id": run.id})  # fmt: skip
            written = 0
        log.info(
            "run %d %s: %d drift event(s), %d alert message(s) queued",
            run.id, run.status, len(outcome.drift), written, extra={"run_id": run.id},
        )  # fmt: skip
        return outcome

    def _take_part(self, job: Job, fresh: bool = False) -> RunOutcome | None:
        """With agent.replicas: take part in the shared run of `job` (starting it when due, or at once when `fresh`);
        its outcome when this replica sealed it."""
        seconds = job.schedule.seconds
        slack = timedelta(seconds=min(seconds / 4, 60)) if seconds is not None else timedelta(0)
        share = take_part(
            self.settings,
            self.ledger,
            self.catalog,
            self.credential,
            kinds=job.kinds,
            # The database's clock: the runs' start times are on it, whatever this host's clock says.
            due=lambda runs: missed(job, runs, self.ledger.clock(), slack),
            stop=self._stop,
            fresh=fresh,
        )
        return share.outcome

    def collect_now(self) -> str | None:
        """ "collect now" (API, dashboard): queue a full run and say what it does; None when one is already queued or
        running (a single agent). With replicas, a new shared run, or the one under way while it still collects."""
        full = next(j for j in self.jobs if j.is_full)
        if not self.settings.agent.replicas:
            return "collection queued; it appears in GET /api/v1/runs" if self.request(full) else None
        queue = WorkQueue(self.ledger, self.settings.agent.lease_seconds)
        under_way = next((r for r in queue.shared_runs() if _kinds_of(self.ledger.run(r)) is None), None)
        left = queue.collecting(under_way) if under_way is not None else 0
        # A run still collecting is joined (or is already this replica's); else a new one starts, after the seal of
        # one being judged.
        self.request(full, fresh=not left)
        if under_way is None:
            what = "a new run shared by the agent replicas starts now"
        elif left:
            what = (
                f"run {under_way}, shared by the agent replicas, is still collecting ({left} work items left): this "
                "replica takes part in it instead of starting another"
            )
        else:
            what = f"run {under_way} has collected everything and is being judged: a new shared run follows its seal"
        log.info("collect now: %s", what)
        return f"{what}; it appears in GET /api/v1/runs"

    def reap(self) -> None:
        """Seal runs whose process is gone (e.g. an agent killed with SIGKILL) as interrupted."""
        try:
            for run in self.ledger.reap_abandoned(self.ledger.clock()):
                log.warning("run %d sealed interrupted: %s", run.id, run.error, extra={"run_id": run.id})
        except Exception:  # e.g. the database is down for a moment; the next tick tries again
            log.exception("could not look for abandoned runs")

    def deliver(self) -> None:
        """Send the outbox messages that are due; a channel that is down is retried later."""
        try:
            report = deliver_pending(self.ledger, self.settings, datetime.now(UTC))
        except Exception:  # the next tick tries again; nothing is marked delivered that was not
            log.exception("alert delivery failed")
            return
        for o in report.outcomes:
            metrics.observe_delivery(o.channel, o.result == "delivered")

    # ---------------------------------------------------------------- life cycle

    @property
    def alive(self) -> bool:
        return self._worker.is_alive() and self._scheduler.running and not self._stop.is_set()

    def start(self) -> None:
        now = self.ledger.clock()
        self.reap()
        for line in missing_secrets(self.settings.alerts):
            log.warning("alerts: %s", line)
        # An interrupted run did not do its slot's work: it does not count as having run.
        runs = [r for r in self.ledger.runs() if r.sealed and r.status != "interrupted"]
        self.http = http.start(self.settings, alive=lambda: self.alive)
        if self.settings.api.with_agent:
            self._start_api()
        self._worker.start()
        for job in self.jobs:
            if self.settings.agent.replicas:
                # A replica (re)started joins the run under way, if any, and starts one only when it is due.
                self.request(job)
            elif missed(job, runs, now):
                log.info("run %s is due (missed while the agent was not running, or never run): starting it", job.name)
                self.request(job)
            self._scheduler.add_job(
                self.request,
                job.schedule.trigger(),
                args=[job],
                id=job.name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )
        self._scheduler.add_job(
            self.deliver,
            IntervalTrigger(seconds=DELIVERY_SECONDS, timezone=UTC),
            id="deliver-alerts",
            next_run_time=datetime.now(UTC),  # pending messages from before a restart go out at once
            coalesce=True,
            max_instances=1,
        )
        # A lease is abandoned after three periods without renewal: look that often.
        self._scheduler.add_job(
            self.reap,
            IntervalTrigger(seconds=3 * self.settings.agent.lease_seconds, timezone=UTC),
            id="reap-abandoned-runs",
            coalesce=True,
            max_instances=1,
        )
        self._scheduler.start()
        log.info(
            "agent started: %s",
            "; ".join(f"{j.name} {j.schedule.text}" for j in self.jobs),
        )

    def stop(self, grace_seconds: float | None = None) -> None:
        """No new runs; let the current one finish within the grace period, else seal it interrupted."""
        grace = self.settings.agent.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        self._stop.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if not self._idle.wait(grace) and self.settings.agent.replicas:
            # A shared run goes on without this replica: its items go back to the others, the run stays running.
            try:
                released = WorkQueue(self.ledger, self.settings.agent.lease_seconds).release()
                log.warning("agent stopped (SIGTERM) before its work was done: %d work item(s) handed back", released)
            except Exception:  # their leases expire and the other replicas claim them again
                log.exception("work items could not be handed back")
        elif not self._idle.is_set():
            reason = f"agent stopped (SIGTERM) and the run did not finish within {grace:g}s"
            for run_id in self.ledger.running_runs_of_this_process():
                self.ledger.interrupt_run(run_id, self.ledger.clock(), reason)
                log.warning("run %d sealed interrupted: %s", run_id, reason, extra={"run_id": run_id})
        if self.api is not None:
            self.api.stop()
        if self.http is not None:
            self.http.stop()
        self.ledger.close()

    def _start_api(self) -> None:
        """The read API beside the agent's work, over the agent's ledger; "collect now" queues the full job."""
        from api.app import create_app
        from api.server import ApiServer

        app = create_app(self.settings, ledger=self.ledger, catalog=self.catalog, start_collection=self.collect_now)
        self.api = ApiServer(app, self.settings)
        self.api.start()
        log.info("API serving on %s:%s", self.api.config.host, self.api.config.port)

    def serve(self) -> int:
        """Run until SIGTERM or SIGINT; exit code 0."""

        def on_signal(signum: int, _frame: Any) -> None:
            log.info("received %s: stopping", signal.Signals(signum).name)
            self._stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        while not self._stop.wait(0.5):
            pass
        self.stop()
        log.info("agent stopped")
        if not self._idle.is_set():
            # The interrupted run's collection threads are still waiting on Azure; the run is sealed, so
            # nothing they do can land in it. Do not let the interpreter wait for them at exit.
            logging.shutdown()
            os._exit(0)
        return 0
