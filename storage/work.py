"""A shared run's work items (the `run_work` table): claimed by one agent replica at a time under a lease.

Claims take the first pending item, or a claimed one whose lease has expired (its replica died or stalled), with
`SELECT ... FOR UPDATE SKIP LOCKED`: replicas claiming at the same moment each get another row and never wait for
one another. A replica renews the leases of the items it holds every lease period; an item not renewed for
`LEASE_PERIODS` periods may be claimed again by another replica. Lease times are the database server's clock, so
replicas on hosts whose clocks differ agree on when a lease has expired.

What an item's work stores in the ledger is written in one transaction with `fence` (the claim is still this
replica's: a replica whose item was claimed again meanwhile stores nothing) and `finish`, so an item's facts are
stored exactly once, whatever replica dies when. PostgreSQL only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from .leases import LEASE_PERIODS, LeaseHolder
from .ledger import CollectionLock, CollectionLocked, LeaseLost, Ledger, LedgerError, RunRecord
from .models import Run, RunWork

TENANT = "tenant"  # the item of the tenant-wide fetchers
JUDGE = "judge"  # judging the run from what the other items stored, then sealing it
PENDING, CLAIMED, DONE, FAILED = "pending", "claimed", "done", "failed"
FINISHED = (DONE, FAILED)


class SharedRunUnderWay(CollectionLocked):
    """A run shared by agent replicas is under way: one run at a time per database, so no other run is started
    beside it (`shoko collect` by hand, or an agent without `agent.replicas`)."""

    def __init__(self, run: RunRecord) -> None:
        self.lock = CollectionLock("collect", False, run)
        self.run = run
        by = f" by {run.lease.host}/{run.lease.pid}" if run.lease else ""
        started = run.started_at.isoformat(timespec="seconds")
        LedgerError.__init__(
            self,
            f"run {run.id} is under way, shared by agent replicas (started {started}{by}); one run at a time per "
            f"database, so this run is not started: wait until run {run.id} is sealed "
            '(`shoko runs`), or ask the replicas for a new run with "collect now" (POST /api/v1/collections) / '
            f"エージェントのレプリカが共有する実行 {run.id} が進行中のため、この実行は開始しません",
        )


def shared_run_under_way(ledger: Ledger) -> RunRecord | None:
    """The oldest running run shared by agent replicas, if any (either backend: none on SQLite)."""
    with ledger.engine.connect() as connection:
        run_id = connection.scalar(
            select(RunWork.run_id)
            .join(Run, Run.id == RunWork.run_id)
            .where(Run.status == "running", RunWork.item == JUDGE)
            .order_by(RunWork.run_id)
            .limit(1)
        )
    return ledger.run(int(run_id)) if run_id is not None else None


class ClaimLost(LedgerError):
    """The item is no longer claimed by this replica (its lease expired and another replica claimed it)."""


@dataclass(frozen=True)
class Claim:
    run_id: int
    item: str
    attempts: int  # this claim included
    token: str
    previous_holder: str | None = None  # the replica whose expired claim this one took over
    expired_at: datetime | None = None  # when that claim's lease had expired

    @property
    def reclaimed(self) -> bool:
        return self.previous_holder is not None


class WorkQueue:
    """The work items of shared runs in `ledger`'s database, claimed as `holder` (default: this process)."""

    def __init__(self, ledger: Ledger, lease_seconds: int, holder: LeaseHolder | None = None) -> None:
        if ledger.engine.dialect.name != "postgresql":
            raise LedgerError("runs shared by agent replicas need PostgreSQL (SELECT ... FOR UPDATE SKIP LOCKED)")
        self.ledger = ledger
        self.engine = ledger.engine
        self.holder = holder or ledger.holder
        self.window = lease_seconds * LEASE_PERIODS

    def _expiry(self) -> object:
        return func.clock_timestamp() + func.make_interval(0, 0, 0, 0, 0, 0, self.window)

    # -- creating and finding work --------------------------------------------------------------------

    def create(self, session: Session, run_id: int, items: Sequence[str], settings_digest: str) -> None:
        """The run's items and its judge step, pending (inside the transaction that stores the run's first facts)."""
        rows = [
            {"run_id": run_id, "item": item, "state": PENDING, "settings_digest": settings_digest, "attempts": 0}
            for item in dict.fromkeys([*items, JUDGE])
        ]
        session.execute(insert(RunWork), rows)

    def shared_runs(self) -> dict[int, str]:
        """The running runs that have work items, with the settings digest they were started with."""
        with self.engine.connect() as connection:
            query = (
                select(RunWork.run_id, RunWork.settings_digest)
                .join(Run, Run.id == RunWork.run_id)
                .where(Run.status == "running", RunWork.item == JUDGE)
                .order_by(RunWork.run_id)
            )
            return {int(run_id): str(digest) for run_id, digest in connection.execute(query)}

    def run_status(self, run_id: int) -> str | None:
        with self.engine.connect() as connection:
            return connection.scalar(select(Run.status).where(Run.id == run_id))

    def states(self, run_id: int) -> dict[str, str]:
        """Item -> state, the judge step included."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(RunWork.item, RunWork.state).where(RunWork.run_id == run_id))
            return {str(item): str(state) for item, state in rows}

    def collecting(self, run_id: int) -> int:
        """How many of the run's collection items are not finished yet (0: only judging is left, or done)."""
        with self.engine.connect() as connection:
            return int(
                connection.scalar(
                    select(func.count())
                    .select_from(RunWork)
                    .where(RunWork.run_id == run_id, RunWork.item != JUDGE, RunWork.state.not_in(FINISHED))
                )
                or 0
            )

    def judged_long_ago(self, run_id: int) -> bool:
        """Whether the run was judged more than a lease window ago and is still running: the replica that judged it
        died before sealing it (right after judging, it is sealing it now)."""
        with self.engine.connect() as connection:
            return bool(
                connection.scalar(
                    select(RunWork.item)
                    .join(Run, Run.id == RunWork.run_id)
                    .where(
                        RunWork.run_id == run_id,
                        RunWork.item == JUDGE,
                        RunWork.state == DONE,
                        RunWork.finished_at
                        < func.clock_timestamp() - func.make_interval(0, 0, 0, 0, 0, 0, self.window),
                        Run.status == "running",
                    )
                )
            )

    # -- claiming ---------------------------------------------------------------------------------------

    def claim(self, run_id: int) -> Claim | None:
        """Claim one collection item of the run: pending first, else one whose lease has expired."""
        return self._claim(run_id, judge=False)

    def claim_judge(self, run_id: int) -> Claim | None:
        """Claim the run's judge step, once every collection item is done or failed."""
        return self._claim(run_id, judge=True)

    def _claim(self, run_id: int, *, judge: bool) -> Claim | None:
        with self.engine.begin() as connection:
            now = connection.scalar(select(func.clock_timestamp()))
            claimable = (RunWork.state == PENDING) | ((RunWork.state == CLAIMED) & (RunWork.lease_expires_at < now))
            query = select(RunWork).where(RunWork.run_id == run_id, claimable)
            if judge:
                unfinished = (
                    select(RunWork.item)
                    .where(RunWork.run_id == run_id, RunWork.item != JUDGE, RunWork.state.not_in(FINISHED))
                    .exists()
                )
                query = query.where(RunWork.item == JUDGE, ~unfinished)
            else:
                query = query.where(RunWork.item != JUDGE)
            # Pending items before expired claims, then in the order they were listed.
            query = query.order_by((RunWork.state == CLAIMED), RunWork.item).limit(1)
            row = connection.execute(query.with_for_update(skip_locked=True)).mappings().first()
            if row is None:
                return None
            attempts = int(row["attempts"]) + 1
            connection.execute(
                update(RunWork)
                .where(RunWork.run_id == run_id, RunWork.item == row["item"])
                .values(
                    state=CLAIMED,
                    holder=str(self.holder)[:255],
                    holder_token=self.holder.token,
                    lease_expires_at=self._expiry(),
                    attempts=attempts,
                )
            )
        expired = row["state"] == CLAIMED
        return Claim(
            run_id,
            str(row["item"]),
            attempts,
            self.holder.token,
            previous_holder=str(row["holder"]) if expired else None,
            expired_at=row["lease_expires_at"] if expired else None,
        )

    # -- storing and finishing --------------------------------------------------------------------------

    def fence(self, session: Session, claim: Claim) -> None:
        """In the transaction storing the item's work: the claim must still be this replica's (its row stays
        locked until that transaction ends, so it cannot be claimed again meanwhile)."""
        row = session.execute(
            select(RunWork.state, RunWork.holder, RunWork.holder_token)
            .where(RunWork.run_id == claim.run_id, RunWork.item == claim.item)
            .with_for_update()
        ).first()
        if row is None:
            raise ClaimLost(f"run {claim.run_id} has no work item {claim.item}")
        if row.state != CLAIMED or row.holder_token != claim.token:
            by = f" by {row.holder}" if row.holder and row.holder_token != claim.token else ""
            raise ClaimLost(
                f"work item {claim.item} of run {claim.run_id} is {row.state}{by}, no longer this replica's"
            )

    def finish(self, session: Session, claim: Claim, state: str) -> None:
        if state not in FINISHED:
            raise ValueError(f"an item finishes done or failed, not {state!r}")
        session.execute(
            update(RunWork)
            .where(RunWork.run_id == claim.run_id, RunWork.item == claim.item)
            .values(state=state, lease_expires_at=None, finished_at=func.clock_timestamp())
        )

    def release(self, claim: Claim | None = None) -> int:
        """Hand this replica's claims (or one of them) back as pending, e.g. when it stops; returns how many."""
        condition = (RunWork.state == CLAIMED) & (RunWork.holder_token == self.holder.token)
        if claim is not None:
            condition &= (RunWork.run_id == claim.run_id) & (RunWork.item == claim.item)
        with self.engine.begin() as connection:
            result = connection.execute(update(RunWork).where(condition).values(state=PENDING, lease_expires_at=None))
            return int(result.rowcount or 0)

    # -- leases -----------------------------------------------------------------------------------------

    def renew(self, run_id: int) -> int:
        """Renew the leases of the items this replica holds in the run, and the run's own lease (which names the
        replica that started it; any replica taking part keeps it alive), both from the database's clock: a
        replica whose own clock is behind still keeps the run alive, one ahead does not stretch it. Returns how
        many items were renewed; LeaseLost once the run is sealed."""
        with self.engine.begin() as connection:
            renewed = connection.execute(
                update(RunWork)
                .where(RunWork.run_id == run_id, RunWork.state == CLAIMED, RunWork.holder_token == self.holder.token)
                .values(lease_expires_at=self._expiry())
            ).rowcount
        with self.engine.begin() as connection:
            # Only the lease times change (the database refuses any other change to a running run). The clock is
            # read once: clock_timestamp() called twice in one statement gives two times, and the lease would grow
            # or shrink by the microseconds between them at every renewal.
            result = connection.execute(
                text(
                    "UPDATE runs SET lease_renewed_at = clock.now,"
                    " lease_expires_at = clock.now + (lease_expires_at - lease_renewed_at)"
                    " FROM (SELECT clock_timestamp() AS now) AS clock"
                    " WHERE id = :run AND status = 'running' AND lease_renewed_at IS NOT NULL"
                    " AND lease_renewed_at < clock.now"
                ),
                {"run": run_id},
            )
            if not result.rowcount and self.run_status(run_id) != "running":
                raise LeaseLost(f"run {run_id} is sealed; its work is over")
        return int(renewed or 0)


__all__ = [
    "CLAIMED", "DONE", "FAILED", "JUDGE", "PENDING", "TENANT", "Claim", "ClaimLost", "SharedRunUnderWay", "WorkQueue",
    "shared_run_under_way",
]  # fmt: skip
