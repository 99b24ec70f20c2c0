"""Freed memory handed back to the operating system (collector/memory.py): on glibc, pages freed between live
objects leave the resident set when released, and the releaser runs while a run does and stops with it."""

from __future__ import annotations

import threading
import time

import pytest

import collector.memory as memory
from collector.memory import FreedMemoryReleaser, release_freed_memory


def _resident() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(memory._TRIM is None, reason="the C library has no malloc_trim")
def test_memory_freed_between_live_objects_leaves_the_resident_set_when_released():
    release_freed_memory()
    # 64 KiB blocks come from the heap, not from mmap; keeping every eighth alive leaves the heap's top in use,
    # so the 7 blocks in 8 freed (about 110 MB) stay resident until released.
    blocks = [bytearray(b"x" * 65536) for _ in range(2000)]
    kept = blocks[::8]
    del blocks
    before = _resident()
    assert release_freed_memory()
    after = _resident()
    assert before - after > 60 * 2**20, (before, after)
    assert all(block[:1] == b"x" for block in kept)  # what is alive is untouched


def test_the_releaser_releases_while_in_use_and_stops_on_leaving(monkeypatch):
    calls: list[float] = []
    monkeypatch.setattr(memory, "_TRIM", lambda pad: calls.append(time.monotonic()) or 0)
    with FreedMemoryReleaser(every=0.05) as releaser:
        time.sleep(0.5)
        assert len(calls) >= 3
    during = len(calls)
    assert not releaser._thread.is_alive()
    time.sleep(0.2)
    assert len(calls) == during  # once more on leaving, then never again
    assert not [t for t in threading.enumerate() if t.name == "release-freed-memory"]


def test_without_malloc_trim_nothing_is_released_and_no_thread_runs(monkeypatch):
    monkeypatch.setattr(memory, "_TRIM", None)
    assert release_freed_memory() is False
    with FreedMemoryReleaser(every=0.01) as releaser:
        time.sleep(0.05)
    assert not releaser._thread.is_alive()
