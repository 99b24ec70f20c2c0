"""The run's Sink handing evidence on as it comes (`store`): in batches and at each flush, keeping only what is not
handed on yet; a batch the store refuses stays pending for the next attempt, never turned into a collection error."""

from __future__ import annotations

from datetime import UTC, datetime

from collector.fetchers.base import Sink
from controls.model import Evidence

AT = datetime(2026, 3, 1, tzinfo=UTC)


def record(n: int) -> Evidence:
    return Evidence("resource", "test", "/subscriptions/s", f"/r/{n}", "1", None, AT, {"n": n})


def test_evidence_is_handed_on_in_batches_and_at_each_flush() -> None:
    batches: list[list[int]] = []
    sink = Sink(store=lambda items: batches.append([e.content["n"] for e in items]), batch=3)
    for n in range(7):
        sink.add(record(n))
    assert batches == [[0, 1, 2], [3, 4, 5]] and [e.content["n"] for e in sink.evidence] == [6]
    sink.flush()
    sink.flush()  # nothing pending: nothing handed on
    assert batches == [[0, 1, 2], [3, 4, 5], [6]] and sink.evidence == [] and sink.added == 7


def test_without_a_store_everything_is_held() -> None:
    sink = Sink(batch=2)
    for n in range(5):
        sink.add(record(n))
    sink.flush()
    assert len(sink.evidence) == 5 and sink.store_failure is None


def test_a_refused_batch_stays_pending_and_is_offered_again_with_the_next() -> None:
    refusing = [True]
    stored: list[int] = []
    calls: list[int] = []

    def store(items: list[Evidence]) -> None:
        calls.append(len(items))
        if refusing[0]:
            raise OSError("database is restarting")
        stored.extend(e.content["n"] for e in items)

    sink = Sink(store=store, batch=2)
    for n in range(5):
        sink.add(record(n))  # the fetcher adding evidence never sees the store's refusal
    assert calls == [2, 4]  # refused at 2, offered again once a batch more was pending (not at every record)
    assert isinstance(sink.store_failure, OSError) and sink.errors == [] and len(sink.evidence) == 5
    refusing[0] = False
    sink.flush()
    assert stored == [0, 1, 2, 3, 4] and sink.evidence == []
    sink.add(record(5))
    sink.add(record(6))  # back to a batch at a time
    assert stored[-2:] == [5, 6]
