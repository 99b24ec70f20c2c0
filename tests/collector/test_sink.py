"""The run's Sink handing evidence on as it comes (`store`): in batches and at each flush, keeping only what is not
handed on yet; a store that fails is remembered for the run to fail with, never turned into a collection error."""

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


def test_a_failing_store_is_remembered_and_later_batches_are_not_handed_on() -> None:
    calls: list[int] = []

    def store(items: list[Evidence]) -> None:
        calls.append(len(items))
        raise OSError("database is gone")

    sink = Sink(store=store, batch=2)
    for n in range(6):
        sink.add(record(n))  # the fetcher adding evidence never sees the store's failure
    sink.flush()
    assert calls == [2]
    assert isinstance(sink.store_failure, OSError) and sink.errors == []
