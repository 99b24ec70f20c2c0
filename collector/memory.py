"""Handing the memory a run has freed back to the operating system while the run goes on.

What a run frees mostly stays in the C library's heaps, resident, between the objects still alive: at 100,000
resources about 100 MB of freed memory was still resident when the fetching ended, and judging then added its own
working memory on top. glibc's malloc_trim gives back the free pages anywhere in its heaps, not only at their top.
Called every few seconds through a 100,000-resource run it took 0.28 s in all and lowered the run's peak from
599.5 to 539.3 MB (bench/README.md). Where the C library has no malloc_trim (musl, macOS) nothing is done."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from types import TracebackType


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library this process runs on
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_TRIM = _malloc_trim()


def release_freed_memory() -> bool:
    """Give the free pages of the C library's heaps back to the operating system; False where it cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


class FreedMemoryReleaser:
    """While in use, releases freed memory every `every` seconds (and once more on leaving), so what one phase
    of a run frees is not still resident under the next."""

    def __init__(self, every: float = 5.0) -> None:
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="release-freed-memory", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            release_freed_memory()

    def __enter__(self) -> FreedMemoryReleaser:
        if _TRIM is not None:
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        release_freed_memory()
