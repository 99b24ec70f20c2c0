"""The collector's own pacing of ARM reads (a token bucket per subscription) and the run's shared call pool."""

from __future__ import annotations

import threading

import pytest

from collector.fanout import CallPool, Listings
from collector.fetchers import FETCHERS
from collector.fetchers.base import Fetcher
from collector.pacing import TENANT, Pacer, TokenBucket, bucket_key
from collector.pipeline import task_order


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_burst_is_free_then_reads_are_spaced_at_the_refill_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(burst=3, per_second=4, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    # Empty: each later read gets the next slot, a quarter of a second apart, without waiting to race for it.
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0.25, 0.5, 0.75])
    clock.now += 0.75  # the three reserved slots have come
    assert bucket.reserve() == pytest.approx(0.25)


def test_the_bucket_refills_to_the_burst_and_no_further() -> None:
    clock = FakeClock()
    bucket = TokenBucket(burst=2, per_second=10, clock=clock)
    bucket.reserve(), bucket.reserve()
    assert bucket.wait_time() == pytest.approx(0.1)
    clock.now += 60
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.1])


def test_a_read_that_would_wait_past_the_limit_takes_nothing() -> None:
    clock = FakeClock()
    bucket = TokenBucket(burst=1, per_second=1, clock=clock)
    assert bucket.reserve(limit=0.5) == 0.0
    assert bucket.reserve(limit=0.5) is None  # the next token is a second away
    assert bucket.reserve(limit=1.0) == pytest.approx(1.0)  # nothing was taken by the refusal


def test_retry_after_holds_the_bucket_off() -> None:
    clock = FakeClock()
    bucket = TokenBucket(burst=250, per_second=25, clock=clock)
    bucket.hold_off(3.0)
    assert bucket.wait_time() == pytest.approx(3.0)
    clock.now += 3.0
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(0.04)


def test_a_bucket_needs_a_burst_and_a_rate() -> None:
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(burst=0, per_second=1)
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(burst=1, per_second=0)


def test_the_pacer_keeps_half_a_second_of_the_burst_in_hand() -> None:
    assert Pacer(burst=250, per_second=25).burst == 237.5
    assert Pacer(burst=20, per_second=40).burst == 10.0  # never more than half a small burst
    assert Pacer(burst=1, per_second=25).burst == 1.0


def test_each_subscription_has_its_own_bucket() -> None:
    clock = FakeClock()
    pacer = Pacer(burst=1, per_second=1, clock=clock, headroom=0)
    assert pacer.bucket("a").reserve() == 0.0
    assert pacer.bucket("b").reserve() == 0.0
    assert pacer.wait_time("a") == pytest.approx(1.0)
    assert pacer.bucket("a") is pacer.bucket("a")


def test_the_bucket_of_a_url_is_its_subscription() -> None:
    sub = "11111111-2222-4333-8444-555555555555"
    base = "https://management.example/subscriptions"
    assert bucket_key(f"{base}/{sub.upper()}/providers/Microsoft.Web/sites?api-version=1") == sub
    assert bucket_key(f"{base}?api-version=2022-12-01") == TENANT
    assert bucket_key("https://management.example/providers/Microsoft.Aadiam/x") == TENANT


def test_the_pool_runs_every_item_and_takes_subscriptions_in_turn() -> None:
    order: list[str] = []
    lock = threading.Lock()
    with CallPool(1) as pool:
        gate = threading.Event()
        started = threading.Event()

        def hold(_: object) -> None:  # keeps the one worker busy until both batches are queued
            started.set()
            gate.wait()

        holder = threading.Thread(target=pool.run_all, args=("x", hold, [0]))
        holder.start()
        started.wait()

        def note(item: str) -> None:
            with lock:
                order.append(item)

        batches = [
            threading.Thread(target=pool.run_all, args=(key, note, [f"{key}{i}" for i in range(3)])) for key in "ab"
        ]
        batches[0].start()
        while not pool._turns:  # the first batch is queued before the second
            pass
        batches[1].start()
        while len(pool._turns) < 2:
            pass
        gate.set()
        for t in [holder, *batches]:
            t.join()
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_the_pool_prefers_a_subscription_whose_budget_has_a_token() -> None:
    waits = {"slow": 5.0, "ready": 0.0}
    with CallPool(1, ready_in=lambda key: waits[key]) as pool:
        pool._cond.acquire()  # queue both before any runs
        done: list[str] = []
        pool._cond.release()
        gate = threading.Event()
        started = threading.Event()

        def hold(_: object) -> None:
            started.set()
            gate.wait()

        holder = threading.Thread(target=pool.run_all, args=("ready", hold, [0]))
        holder.start()
        started.wait()
        slow = threading.Thread(target=pool.run_all, args=("slow", done.append, ["s0", "s1"]))
        slow.start()
        while not pool._turns:
            pass
        ready = threading.Thread(target=pool.run_all, args=("ready", done.append, ["r0", "r1"]))
        ready.start()
        while len(pool._turns) < 2:
            pass
        gate.set()
        for t in (holder, slow, ready):
            t.join()
    assert done == ["r0", "r1", "s0", "s1"]


def test_a_failing_item_is_raised_after_the_others_have_run() -> None:
    ran: list[int] = []

    def work(i: int) -> None:
        if i == 1:
            raise RuntimeError("item 1 failed")
        ran.append(i)

    with CallPool(2) as pool, pytest.raises(RuntimeError, match="item 1 failed"):
        pool.run_all("a", work, range(4))
    assert sorted(ran) == [0, 2, 3]


def test_work_handed_to_the_pool_from_inside_it_runs_in_place() -> None:
    seen: list[tuple[str, int]] = []
    with CallPool(1) as pool:

        def outer(i: int) -> None:
            pool.run_all("a", lambda j: seen.append((threading.current_thread().name, j)), [i * 10, i * 10 + 1])

        pool.run_all("a", outer, [1, 2])
    assert [j for _, j in seen] == [10, 11, 20, 21]
    assert {name for name, _ in seen} == {"calls-0"}


def test_a_listing_is_made_once_and_its_failure_is_everyones() -> None:
    listings = Listings()
    made: list[str] = []

    def make() -> str:
        made.append("x")
        return "pages"

    assert listings.get(("s", "sites"), make) == "pages"
    assert listings.get(("s", "sites"), make) == "pages"
    assert made == ["x"]

    def fail() -> str:
        raise ConnectionError("listing failed")

    for _ in range(2):
        with pytest.raises(ConnectionError, match="listing failed"):
            listings.get(("s", "vaults"), fail)


def test_a_listing_is_let_go_when_the_last_task_reading_it_ends() -> None:
    listings = Listings()
    made: list[str] = []

    def make() -> str:
        made.append("x")
        return "pages"

    listings.expect("s", ["sites"])
    listings.expect("s", ["sites", "vaults"])  # a task starting later reads it too: it is counted from the start
    listings.expect("t", ["sites"])
    assert listings.get(("s", "sites"), make) == "pages"
    assert listings.get(("t", "sites"), make) == "pages"
    listings.done("s", ["sites"])
    assert listings.held() == 2  # one reader of s's sites is still to come
    assert listings.get(("s", "sites"), make) == "pages" and made == ["x", "x"]  # the later reader: the same pages
    listings.done("s", ["sites", "vaults"])
    assert listings.held() == 1  # t's sites: its reader has not ended
    listings.done("t", ["sites"])
    assert listings.held() == 0


def test_a_reader_the_run_did_not_count_lists_again_after_the_release_and_uncounted_names_are_kept() -> None:
    listings = Listings()
    made: list[str] = []

    def make() -> str:
        made.append("x")
        return f"pages {len(made)}"

    listings.expect("s", ["sites"])
    assert listings.get(("s", "sites"), make) == "pages 1"
    listings.done("s", ["sites"])
    assert listings.get(("s", "sites"), make) == "pages 2"  # read again, not kept: no counted reader is left
    assert listings.held() == 0
    assert listings.get(("s", "slots", ("rg", "site")), make) == "pages 3"  # no task counted: kept for the run
    assert listings.get(("s", "slots", ("rg", "site")), make) == "pages 3"
    assert listings.held() == 1


def test_fetchers_sharing_a_listing_take_their_turns_subscription_by_subscription() -> None:
    def fetcher(name: str, *listings: str, tenant_wide: bool = False) -> Fetcher:
        return Fetcher(name, {}, tenant_wide, lambda ctx: None, listings)

    # a and d share "resources"; d and e share "sites", so e joins them (linked through d); b and c share nothing.
    a, b, c, d, e = (fetcher("a", "resources"), fetcher("b"), fetcher("c", "vaults"),
                     fetcher("d", "resources", "sites"), fetcher("e", "sites"))  # fmt: skip
    graph = fetcher("graph", tenant_wide=True)
    order = [(f.name, s) for f, s in task_order([a, b, graph, c, d, e], ["s1", "s2"])]
    assert order == [
        ("graph", None),
        ("a", "s1"), ("d", "s1"), ("e", "s1"), ("a", "s2"), ("d", "s2"), ("e", "s2"),
        ("b", "s1"), ("b", "s2"),
        ("c", "s1"), ("c", "s2"),
    ]  # fmt: skip
    # The run's own fetchers: the inventory runs beside the diagnostic settings, which read the same listing.
    tasks = [(f.name, s) for f, s in task_order(FETCHERS, ["s1", "s2"])]
    at = tasks.index(("monitor.diagnostic_settings", "s1"))
    assert tasks[at : at + 4] == [("monitor.diagnostic_settings", "s1"), ("resource.inventory", "s1"),
                                  ("monitor.diagnostic_settings", "s2"), ("resource.inventory", "s2")]  # fmt: skip
    assert sorted(tasks, key=str) == sorted(
        [(f.name, None) for f in FETCHERS if f.tenant_wide]
        + [(f.name, s) for f in FETCHERS if not f.tenant_wide for s in ("s1", "s2")],
        key=str,
    )  # every task once
