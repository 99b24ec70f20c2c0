"""Work a run's fetchers share: one pool for per-resource calls, and listings made once for every fetcher.

Per-resource reads (a site's config, a vault's keys, a resource's diagnostic settings) are many small calls;
made one after another inside each fetcher they leave the run's call slots idle. The fetchers hand them to one
pool for the run instead. The pool takes work from the subscriptions in turn, first from those whose read
budget has a token (collector/pacing.py), so one subscription waiting on ARM's refill does not hold the others
up. Per-resource work must not hand work to the pool again: inside the pool it runs in place.

A listing two fetchers need (the resources of a subscription, its sites, storage accounts, vaults, VMs) is made
once per run and scope; each fetcher stores what it stores from the same pages. It is let go when the last fetcher
task of the run that reads it in its scope ends (the run counts them from its plan), so the run holds the listings
of the tasks under way, not every listing of the estate.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
ItemT = TypeVar("ItemT")


@dataclass
class _Batch:
    pending: int
    errors: list[BaseException] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class _Job:
    batch: _Batch
    fn: Callable[[Any], None]
    item: Any


class CallPool:
    """`workers` threads running per-resource work, fair between keys (subscriptions). `ready_in(key)` says how
    long a key's next call would wait for its read budget; keys that can call now go first."""

    def __init__(self, workers: int, ready_in: Callable[[str], float] | None = None) -> None:
        self._ready_in = ready_in or (lambda _key: 0.0)
        self._cond = threading.Condition()
        self._queues: dict[str, deque[_Job]] = {}
        self._turns: deque[str] = deque()  # keys with queued work, in turn order
        self._closed = False
        self._local = threading.local()
        self._threads = [
            threading.Thread(target=self._work, name=f"calls-{i}", daemon=True) for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> CallPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def run_all(self, key: str, fn: Callable[[ItemT], None], items: Iterable[ItemT]) -> None:
        """Run `fn` on every item and return when all have run; the first exception any raised is raised
        again (after all have run). Inside the pool, or once closed, the items run here, in order."""
        todo = list(items)
        if getattr(self._local, "inside", False) or self._closed:
            for item in todo:
                fn(item)
            return
        if not todo:
            return
        batch = _Batch(len(todo))
        with self._cond:
            queue = self._queues.setdefault(key, deque())
            if not queue:
                self._turns.append(key)
            queue.extend(_Job(batch, fn, item) for item in todo)  # type: ignore[arg-type]
            self._cond.notify_all()
        batch.done.wait()
        if batch.errors:
            raise batch.errors[0]

    def _next(self) -> _Job:
        """The next job, under the lock: from the first key in turn that can call now, else the soonest."""
        chosen, soonest = None, float("inf")
        for key in self._turns:
            wait = self._ready_in(key)
            if wait <= 0:
                chosen = key
                break
            if wait < soonest:
                chosen, soonest = key, wait
        assert chosen is not None
        queue = self._queues[chosen]
        job = queue.popleft()
        self._turns.remove(chosen)
        if queue:
            self._turns.append(chosen)
        return job

    def _work(self) -> None:
        self._local.inside = True
        while True:
            with self._cond:
                while not self._turns and not self._closed:
                    self._cond.wait()
                if not self._turns:
                    return
                job = self._next()
            try:
                job.fn(job.item)
            except BaseException as exc:  # handed to the fetcher waiting for the batch
                job.batch.errors.append(exc)
            with self._cond:
                job.batch.pending -= 1
                if job.batch.pending == 0:
                    job.batch.done.set()


@dataclass
class _Entry(Generic[T]):
    ready: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    error: BaseException | None = None


class Listings:
    """Results made once per key for the run: the first caller makes it, later callers wait for it and get the
    same result (or the same exception). A key is `(scope, name, ...)`. With `expect`, the run counts the fetcher
    tasks that read a `name` in a `scope`; when the last of them is `done`, its results are let go, and a reader
    the run did not count makes its own (a listing read again, never a stale one). Names the run did not count
    are kept for the run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry[Any]] = {}
        self._readers: dict[tuple[Hashable, str], int] = defaultdict(int)  # tasks still to read (scope, name)
        self._keys: dict[tuple[Hashable, str], set[Hashable]] = defaultdict(set)  # its results' keys

    def expect(self, scope: Hashable, names: Iterable[str]) -> None:
        """One more fetcher task will read these listings in `scope`."""
        with self._lock:
            for name in names:
                self._readers[(scope, name)] += 1

    def done(self, scope: Hashable, names: Iterable[str]) -> None:
        """A task `expect` counted has ended: the listings no task still reads are let go."""
        with self._lock:
            for name in names:
                reader = (scope, name)
                self._readers[reader] -= 1
                if self._readers[reader] <= 0:
                    for key in self._keys.pop(reader, ()):
                        self._entries.pop(key, None)

    def held(self) -> int:
        """How many results are held now."""
        with self._lock:
            return len(self._entries)

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        reader = tuple(key[:2]) if isinstance(key, tuple) else (key, "")
        with self._lock:
            if reader in self._readers and self._readers[reader] <= 0:
                entry, owner = _Entry(), True  # every counted reader has ended: made for this caller only
            else:
                entry = self._entries.get(key)
                owner = entry is None
                if entry is None:
                    entry = self._entries[key] = _Entry()
                    self._keys[reader].add(key)  # type: ignore[index]
        if owner:
            try:
                entry.value = make()
            except BaseException as exc:
                entry.error = exc
            finally:
                entry.ready.set()
        else:
            entry.ready.wait()
        if entry.error is not None:
            raise entry.error
        return entry.value  # type: ignore[return-value]
