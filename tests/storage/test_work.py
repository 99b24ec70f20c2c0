"""A shared run's work items on PostgreSQL (storage/work.py): two replicas (two ledgers with their own lease holders,
so their own connections) claim, renew, lose and re-claim items; what a replica stores for an item lands once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from collector.settings import ConfigError, load_settings
from storage.leases import LeaseHolder
from storage.ledger import Ledger, LedgerError
from storage.work import CLAIMED, DONE, FAILED, JUDGE, PENDING, TENANT, ClaimLost, WorkQueue

from .helpers import T0, sample

postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

SUBSCRIPTIONS = ["sub-a", "sub-b", "sub-c"]


@pytest.fixture
def replicas(database_url: str) -> Iterator[tuple[Ledger, Ledger]]:
    first = Ledger(database_url, holder=LeaseHolder("replica-1", 101, "a" * 32))
    second = Ledger(database_url, holder=LeaseHolder("replica-2", 202, "b" * 32))
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def _shared_run(ledger: Ledger, queue: WorkQueue) -> int:
    run_id = ledger.start_run(datetime.now(UTC), agent_version="0.1.0", config_digest="c0ffee", scope={})
    with ledger.transaction() as session:
        queue.create(session, run_id, [TENANT, *SUBSCRIPTIONS], "d" * 64)
    return run_id


def _expire(raw: Engine, item: str) -> None:
    with raw.begin() as connection:
        connection.execute(
            text("UPDATE run_work SET lease_expires_at = clock_timestamp() - interval '1 second' WHERE item = :i"),
            {"i": item},
        )


@postgresql
def test_two_replicas_claim_different_items_and_never_wait_for_a_locked_one(replicas, raw):
    one, two = replicas
    q1, q2 = WorkQueue(one, 15), WorkQueue(two, 15)
    run_id = _shared_run(one, q1)
    assert q1.shared_runs() == {run_id: "d" * 64}
    # While replica 1's transaction holds the first pending row locked, replica 2 skips it instead of waiting.
    with raw.begin() as connection:
        locked = connection.execute(
            text(
                "SELECT item FROM run_work WHERE state = 'pending' AND item <> 'judge' ORDER BY item LIMIT 1 FOR UPDATE"
            )
        ).scalar_one()
        claim2 = q2.claim(run_id)
        assert claim2 is not None and claim2.item != locked
    claims = [q1.claim(run_id), q1.claim(run_id), q2.claim(run_id)]
    items = [c.item for c in [claim2, *claims] if c is not None]
    assert sorted(items) == sorted([TENANT, *SUBSCRIPTIONS])  # each item once, between them
    assert q1.claim(run_id) is None and q2.claim(run_id) is None
    assert q1.claim_judge(run_id) is None  # not before every item is finished
    states = q1.states(run_id)
    assert {states[i] for i in items} == {CLAIMED} and states[JUDGE] == PENDING


@postgresql
def test_an_expired_claim_is_claimed_again_and_its_first_holder_stores_nothing(replicas, raw):
    one, two = replicas
    q1, q2 = WorkQueue(one, 15), WorkQueue(two, 15)
    run_id = _shared_run(one, q1)
    first = q1.claim(run_id)
    assert first is not None and first.attempts == 1 and not first.reclaimed
    # A renewal keeps the claim: replica 2 gets another item.
    assert q1.renew(run_id) == 1
    others = [c.item for c in iter(lambda: q2.claim(run_id), None)]
    assert len(others) == len(SUBSCRIPTIONS) and first.item not in others
    _expire(raw, first.item)  # replica 1 stopped renewing (died or stalled) for three lease periods
    again = q2.claim(run_id)
    assert again is not None and again.item == first.item and again.reclaimed
    assert again.previous_holder == "replica-1/101" and again.attempts == 2 and again.expired_at is not None
    # Replica 1 wakes up and tries to store what it collected: refused, nothing of it lands in the run.
    data = sample(T0)
    with pytest.raises(ClaimLost, match="no longer this replica's"), one.transaction() as session:
        q1.fence(session, first)
        one.add_evidence(run_id, data.evidence)
        q1.finish(session, first, DONE)
    assert one.evidence(run_id) == []
    # Replica 2 stores it, once, with the item done in the same transaction.
    with two.transaction() as session:
        q2.fence(session, again)
        two.add_evidence(run_id, data.evidence)
        q2.finish(session, again, DONE)
    assert sorted(e.sha256 for e in two.evidence(run_id)) == sorted(e.sha256 for e in data.evidence)
    assert q1.states(run_id)[first.item] == DONE
    assert q1.renew(run_id) == 0  # replica 1 holds nothing any more


@postgresql
def test_the_judge_step_is_claimed_once_every_item_is_finished(replicas):
    one, two = replicas
    q1, q2 = WorkQueue(one, 15), WorkQueue(two, 15)
    run_id = _shared_run(one, q1)
    while (claim := q1.claim(run_id)) is not None:
        with one.transaction() as session:
            q1.fence(session, claim)
            q1.finish(session, claim, FAILED if claim.item == "sub-b" else DONE)
    judge = q2.claim_judge(run_id)
    assert judge is not None and judge.item == JUDGE
    assert q1.claim_judge(run_id) is None  # claimed by replica 2


@postgresql
def test_released_claims_are_pending_again_and_a_run_lease_is_kept_by_any_replica(replicas):
    one, two = replicas
    q1, q2 = WorkQueue(one, 1), WorkQueue(two, 1)
    run_id = _shared_run(one, q1)
    before = one.run(run_id).lease
    claim = q2.claim(run_id)
    assert claim is not None
    assert q2.release() == 1 and q1.states(run_id)[claim.item] == PENDING
    # Replica 2 did not start the run; its renewal still keeps the run's lease (the holder stays replica 1).
    q2.renew(run_id)
    after = one.run(run_id).lease
    assert before is not None and after is not None
    assert before.renewed_at < after.renewed_at <= one.clock() and after.expires_at > before.expires_at
    assert after.host == "replica-1"
    one.complete_run(run_id, one.clock())
    with pytest.raises(LedgerError, match="sealed"):
        q2.renew(run_id)


@postgresql
def test_the_run_lease_is_renewed_on_the_database_clock_whatever_the_replicas_clocks_say(replicas):
    one, two = replicas
    q1, q2 = WorkQueue(one, 15), WorkQueue(two, 15)
    # Started by a replica whose clock is an hour behind the database's: its lease looks expired at once.
    behind = one.start_run(one.clock() - timedelta(hours=1), agent_version="0.1.0", config_digest="c", scope={})
    with one.transaction() as session:
        q1.create(session, behind, SUBSCRIPTIONS, "d" * 64)
    stale = one.run(behind).lease
    assert stale is not None and stale.expires_at < one.clock()
    before = one.clock()
    q2.renew(behind)  # any replica's renewal, from the database's clock
    lease = one.run(behind).lease
    assert lease is not None and before <= lease.renewed_at <= one.clock()
    assert lease.expires_at - lease.renewed_at == timedelta(seconds=45)
    assert one.reap_abandoned(one.clock()) == [] and two.reap_abandoned(two.clock()) == []
    one.complete_run(behind, one.clock())
    # Started by a replica an hour ahead: renewals neither pull its lease back nor stretch it further.
    ahead_at = one.clock() + timedelta(hours=1)
    ahead = one.start_run(ahead_at, agent_version="0.1.0", config_digest="c", scope={})
    with one.transaction() as session:
        q1.create(session, ahead, SUBSCRIPTIONS, "d" * 64)
    q2.renew(ahead)
    lease = one.run(ahead).lease
    assert lease is not None and lease.renewed_at == ahead_at and lease.expires_at == ahead_at + timedelta(seconds=45)
    # A reaper reads the database's clock: a lease that has not expired by it is kept.
    assert two.reap_abandoned(two.clock()) == [] and one.run(ahead).status == "running"


def test_replicas_are_refused_on_sqlite(tmp_path):
    database_url = f"sqlite:///{tmp_path}/shoko.db"
    with Ledger(database_url) as ledger, pytest.raises(LedgerError, match="need PostgreSQL"):
        WorkQueue(ledger, 15)
    with pytest.raises(ConfigError, match=r"key 'agent\.replicas': replicas share a run through PostgreSQL"):
        load_settings(None, environ={}, overrides={"database": {"url": database_url}, "agent": {"replicas": True}})


@postgresql
def test_a_run_judged_but_not_sealed_is_left_to_its_judge_for_a_lease_window(replicas, raw):
    one, two = replicas
    q1, q2 = WorkQueue(one, 1), WorkQueue(two, 1)
    run_id = _shared_run(one, q1)
    while (claim := q1.claim(run_id)) is not None:
        with one.transaction() as session:
            q1.fence(session, claim)
            q1.finish(session, claim, DONE)
    judge = q1.claim_judge(run_id)
    assert judge is not None
    with one.transaction() as session:
        q1.fence(session, judge)
        q1.finish(session, judge, DONE)
    # Just judged: its replica is sealing it now; the others do not race it to the seal.
    assert not q2.judged_long_ago(run_id)
    with raw.begin() as connection:  # its judge died before sealing, more than a lease window ago
        connection.execute(
            text("UPDATE run_work SET finished_at = clock_timestamp() - interval '4 seconds' WHERE item = 'judge'")
        )
    assert q2.judged_long_ago(run_id)
    one.complete_run(run_id, one.clock())
    assert not q2.judged_long_ago(run_id)
