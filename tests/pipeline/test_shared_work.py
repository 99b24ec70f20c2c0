"""A run shared by agent replicas (collector/shared_work.py), in this process, through the real SDK against the
sandbox into PostgreSQL: it stores and judges what a single agent's run of the same estate does, and a subscription
whose replicas all died is a collection error, never a silent gap. (Three agent processes, one killed:
tests/faults/test_replicas.py.)"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from agent import service
from agent.service import Agent
from collector import cli, shared_work
from collector.pipeline import run_once
from collector.rejudge import rejudge
from collector.shared_work import ABANDONED, _Work, take_part
from controls.model import FactKind, Status
from sandbox.server import Sandbox
from storage.leases import LeaseHolder
from storage.ledger import Ledger
from storage.work import DONE, FAILED, SharedRunUnderWay, WorkQueue
from tests.estates import DEV, PROD
from tests.faults.conftest import ESTATE
from tests.pipeline.conftest import sandbox_settings

EMR = Path(__file__).resolve().parents[2] / "sandbox" / "estates" / "hospital-emr.yaml"
postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def stored(ledger: Ledger, run_id: int) -> dict[str, Any]:
    """What a run holds, without what differs between two collections of one estate (times, request ids)."""
    evidence = [
        (str(e.kind), e.scope, e.resource_id, e.source, e.api_version, e.sha256) for e in ledger.evidence(run_id)
    ]
    errors = [(str(e.kind), e.scope, e.source, e.code) for e in ledger.collection_errors(run_id)]
    findings = [
        (f.check_id, f.resource_id, str(f.status), f.reason_en, f.reason_ja, tuple(f.evidence), tuple(f.requirements))
        for f in ledger.findings(run_id)
    ]
    verdicts = [
        (v.requirement, str(v.status), v.reason_en, tuple(v.check_ids), v.findings_pass, v.findings_fail,
         v.findings_error)
        for v in ledger.verdicts(run_id)
    ]  # fmt: skip
    return {"evidence": sorted(evidence), "errors": sorted(errors), "findings": sorted(findings),
            "verdicts": sorted(verdicts)}  # fmt: skip


@postgresql
def test_a_shared_run_stores_and_judges_what_a_single_agent_does(catalog, database_url, tmp_path):
    single_url = f"sqlite:///{tmp_path}/single.db"
    with Sandbox.from_file(EMR) as sb:
        with Ledger(single_url) as single:
            alone = run_once(sandbox_settings(sb, single_url), single, catalog).run
            expected = stored(single, alone.id)
        settings = sandbox_settings(sb, database_url, agent={"replicas": True, "replica_items": 2})
        with Ledger(database_url) as ledger:
            share = take_part(settings, ledger, catalog, due=lambda runs: True)
            assert share.started and share.outcome is not None and share.failed == 0
            run = ledger.run(share.run_id)
            assert run.status == "completed" and ledger.runs() == [run]
            assert stored(ledger, run.id) == expected
            assert run.counts == alone.counts
            assert ledger.verify().ok
            assert rejudge(ledger, catalog, settings).rejudged == (run.id,)
            states = WorkQueue(ledger, 15).states(run.id)
            listed = [e for e in ledger.evidence(run.id) if e.kind == FactKind.SUBSCRIPTION]
            assert set(states.values()) == {DONE} and len(states) == len(listed) + 2  # + tenant, judge
            assert len(listed) > 1
            # Its schedule's next tick finds the run done and none due: nothing is started twice.
            again = take_part(settings, ledger, catalog, due=lambda runs: not runs)
            assert again.run_id is None and len(ledger.runs()) == 1


@postgresql
def test_a_subscription_whose_replicas_all_died_is_an_error_not_a_gap(catalog, database_url):
    with Sandbox.from_dict(ESTATE) as sb:
        settings = sandbox_settings(sb, database_url, agent={"replicas": True, "replica_attempts": 1})
        with Ledger(database_url) as ledger, Ledger(database_url, holder=LeaseHolder("gone", 9, "c" * 32)) as dead:
            starter = _Work(settings, ledger, catalog, None, None, WorkQueue(ledger, 15), None)  # type: ignore[arg-type]
            run_id = starter.join_or_start(lambda runs: True)
            assert run_id is not None
            # A replica claimed PROD (the first item) and died: its lease expired, its one attempt used up.
            lost = WorkQueue(dead, 15).claim(run_id)
            assert lost is not None and lost.item == PROD
            engine = create_engine(database_url, poolclass=NullPool)
            with engine.begin() as connection:
                connection.execute(text("UPDATE run_work SET lease_expires_at = clock_timestamp() - interval '1 s' "
                                        "WHERE item = :i"), {"i": PROD})  # fmt: skip
            engine.dispose()
            share = take_part(settings, ledger, catalog, due=lambda runs: False)
            assert share.run_id == run_id and not share.started
            assert share.reclaimed == 1 and share.failed == 1 and share.outcome is not None
            run = ledger.run(run_id)
            assert run.status == "completed" and ledger.verify().ok
            assert WorkQueue(ledger, 15).states(run_id)[PROD] == FAILED
            errors = [e for e in ledger.collection_errors(run_id) if e.code == ABANDONED]
            assert errors and {e.scope for e in errors} == {f"/subscriptions/{PROD}"}
            assert (
                "claimed 1 times by agent replicas and none of them finished it (the last: gone/9)" in errors[0].message
            )
            findings = ledger.findings(run_id)
            prod = [f for f in findings if f.resource_id.lower().startswith(f"/subscriptions/{PROD}")]
            dev = [f for f in findings if f.resource_id.lower().startswith(f"/subscriptions/{DEV}")]
            assert prod and Status.PASS not in {f.status for f in prod}
            assert {f.status for f in prod if f.check_id == "storage-min-tls-1-2"} == {Status.ERROR}
            assert {f.status for f in dev if f.check_id == "storage-min-tls-1-2"} == {Status.PASS}
            assert {v.requirement: v.status for v in ledger.verdicts(run_id)}[123] == Status.ERROR


@postgresql
def test_a_replica_overtaken_while_it_collects_stores_nothing_of_that_item(catalog, database_url, monkeypatch):
    with Sandbox.from_dict(ESTATE) as sb:
        settings = sandbox_settings(sb, database_url, agent={"replicas": True, "replica_items": 1})
        engine = create_engine(database_url, poolclass=NullPool)
        fence, overtaken = WorkQueue.fence, []

        def stalled_then_fence(queue, session, claim):
            if claim.item == PROD and not overtaken:
                # This replica stalled past its lease: another claimed PROD meanwhile, and died in turn.
                with engine.begin() as connection:
                    connection.execute(
                        text("UPDATE run_work SET holder = 'other/7', holder_token = :t, attempts = attempts + 1, "
                             "lease_expires_at = clock_timestamp() - interval '1 s' WHERE item = :i"),
                        {"t": "e" * 32, "i": PROD},
                    )  # fmt: skip
                overtaken.append(claim)
            fence(queue, session, claim)

        monkeypatch.setattr(WorkQueue, "fence", stalled_then_fence)
        with Ledger(database_url) as ledger:
            share = take_part(settings, ledger, catalog, due=lambda runs: True)
            engine.dispose()
            assert overtaken and share.lost == 1 and share.reclaimed == 1 and share.outcome is not None
            run = ledger.run(share.run_id)
            assert run.status == "completed" and ledger.verify().ok
            evidence = [(e.kind, e.resource_id, e.sha256) for e in ledger.evidence(run.id)]
            assert len(evidence) == len(set(evidence))  # PROD's facts stored once, by the second claim
            assert any(rid.lower().startswith(f"/subscriptions/{PROD}/") for _, rid, _ in evidence)
            assert WorkQueue(ledger, 15).states(run.id)[PROD] == DONE


class _Clock(datetime):
    """The clock of a replica whose host is `skew` off the database server's."""

    skew = timedelta(0)

    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
        return datetime.now(tz) + cls.skew


@postgresql
@pytest.mark.parametrize("skew", [timedelta(hours=1), -timedelta(hours=1)], ids=["ahead", "behind"])
def test_a_replica_whose_clock_is_an_hour_off_takes_part_without_reaping_or_missealing_the_run(
    catalog, database_url, monkeypatch, skew
):
    with Sandbox.from_dict(ESTATE) as sb:
        settings = sandbox_settings(
            sb, database_url, agent={"replicas": True}, collection={"run_deadline_seconds": 600}
        )
        starter_holder = LeaseHolder("replica-a.example", 11, "a" * 32)  # another host: no /proc look-up
        with Ledger(database_url, holder=starter_holder) as a:
            starter = _Work(settings, a, catalog, None, None, WorkQueue(a, 15), threading.Event())
            run_id = starter.join_or_start(lambda runs: True)
            assert run_id is not None
        # Replica B's host clock is an hour off; the run's lease (45 s) is current by the database's clock.
        monkeypatch.setattr(_Clock, "skew", skew)
        monkeypatch.setattr(shared_work, "datetime", _Clock)
        monkeypatch.setattr(service, "datetime", _Clock)
        skewed = Agent(settings, catalog)
        try:
            skewed.reap()  # the agent's periodic look for abandoned runs
        finally:
            skewed.ledger.close()
        with Ledger(database_url) as b:
            assert b.run(run_id).status == "running"
            share = take_part(settings, b, catalog, due=lambda runs: False)
            assert share.run_id == run_id and not share.started and share.outcome is not None
            run = b.run(run_id)
            assert run.status == "completed" and run.finished_at is not None and run.finished_at >= run.started_at
            # The run's deadline counted from its start by one clock: nothing timed out.
            assert not [e for e in b.collection_errors(run_id) if "deadline" in e.message.lower()]
            monkeypatch.undo()
            with Ledger("sqlite://") as alone_ledger:
                alone = run_once(sandbox_settings(sb, "sqlite://"), alone_ledger, catalog).run
                assert stored(b, run_id) == stored(alone_ledger, alone.id)
            assert b.verify().ok


@postgresql
def test_shoko_collect_beside_a_shared_run_is_refused_naming_it(catalog, database_url, tmp_path, monkeypatch, capsys):
    with Sandbox.from_dict(ESTATE) as sb:
        settings = sandbox_settings(sb, database_url, agent={"replicas": True})
        with Ledger(database_url, holder=LeaseHolder("replica-a.example", 11, "a" * 32)) as a:
            starter = _Work(settings, a, catalog, None, None, WorkQueue(a, 15), threading.Event())
            run_id = starter.join_or_start(lambda runs: True)
            assert run_id is not None
        with Ledger(database_url) as ledger:
            # By hand, beside the replicas' run under way: refused, no second run, and the message names the run.
            alone = sandbox_settings(sb, database_url)
            with pytest.raises(SharedRunUnderWay, match=rf"run {run_id} is under way, shared by agent replicas "):
                run_once(alone, ledger, catalog)
            info = tmp_path / "sandbox.json"
            info.write_text(json.dumps(sb.info.to_dict()), encoding="utf-8")
            monkeypatch.setenv("SHOKO_DATABASE_URL", database_url)
            assert cli.main(["collect", "--sandbox-info", str(info)]) == 1
            said = capsys.readouterr().err
            assert f"run {run_id} is under way, shared by agent replicas" in said and "by replica-a.example/11" in said
            assert 'ask the replicas for a new run with "collect now"' in said
            assert [r.id for r in ledger.runs()] == [run_id]
            # Once the replicas have sealed it, `shoko collect` runs as usual.
            share = take_part(settings, ledger, catalog, due=lambda runs: False)
            assert share.outcome is not None and share.outcome.run.status == "completed"
            assert run_once(alone, ledger, catalog).run.status == "completed"
            assert len(ledger.runs()) == 2 and ledger.verify().ok


@postgresql
def test_a_fresh_take_part_joins_a_collecting_run_and_follows_a_judging_one_with_a_new_run(catalog, database_url):
    with Sandbox.from_dict(ESTATE) as sb:
        settings = sandbox_settings(sb, database_url, agent={"replicas": True})
        with Ledger(database_url) as ledger:
            first = take_part(settings, ledger, catalog, due=lambda runs: True)
            assert first.outcome is not None
            # The schedule's slot is done: a scheduled tick starts nothing, "collect now" (fresh) a new run.
            assert take_part(settings, ledger, catalog, due=lambda runs: not runs).run_id is None
            asked = take_part(settings, ledger, catalog, due=lambda runs: False, fresh=True)
            assert asked.started and asked.outcome is not None and asked.run_id != first.run_id
            # A run still collecting is joined, not doubled.
            starter = _Work(settings, ledger, catalog, None, None, WorkQueue(ledger, 15), threading.Event())
            collecting = starter.join_or_start(lambda runs: True)
            joined = take_part(settings, ledger, catalog, due=lambda runs: False, fresh=True)
            assert joined.run_id == collecting and not joined.started and joined.outcome is not None
            # A run that has collected everything and waits for its judgement: sealed first, then a new run.
            starter = _Work(settings, ledger, catalog, None, None, WorkQueue(ledger, 15), threading.Event())
            judging = starter.join_or_start(lambda runs: True)
            queue = WorkQueue(ledger, 15)
            while (claim := queue.claim(judging)) is not None:
                starter._collect(claim)
            assert queue.collecting(judging) == 0
            after = take_part(settings, ledger, catalog, due=lambda runs: False, fresh=True)
            assert ledger.run(judging).status == "completed"
            assert after.started and after.run_id > judging and after.outcome is not None
            assert [r.status for r in ledger.runs()] == ["completed"] * 5 and ledger.verify().ok
