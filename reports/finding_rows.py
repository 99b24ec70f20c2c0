"""A run's finding rows (and the inventory's) kept on disk while a snapshot is made: a large estate has hundreds
of thousands, and every report reads them again in turn. Iterated as often as needed, in the order they were
sorted into, or, for findings, in the reports' order (answer_sheet.ranked_findings). Each order is made by sorting
SORTED_AT_ONCE rows at a time and merging the sorted files, so only that many rows are ever in memory (at 100,000
resources, 690,000 rows' sort keys alone held about 250 MB)."""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from reports.answer_sheet import FINDING_STATUSES

SORTED_AT_ONCE = 20_000


class SortedRows:
    """Rows (dicts of plain JSON values) in a file, one per line, in `key` order."""

    def __init__(
        self,
        path: Path,
        rows: Iterable[dict[str, Any]],
        key: Callable[[dict[str, Any]], Any],
        at_once: int = SORTED_AT_ONCE,
    ) -> None:
        self.path = path
        self._at_once = at_once
        self._count = _sort_into(path, ((row, _line(row)) for row in rows), key, at_once)

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return _read(self.path)


class FindingRows(SortedRows):
    """Finding rows, readable in the reports' order too."""

    _ranked: Path | None = None  # that order's file, made when first asked for

    def ranked(self) -> Iterator[dict[str, Any]]:
        """In the reports' order: failures, errors, passes, each by check then resource."""
        if self._ranked is None:
            order = {s: i for i, s in enumerate(FINDING_STATUSES)}
            ranked = self.path.with_name(self.path.name + ".ranked")
            _sort_into(
                ranked,
                _lines(self.path),
                lambda f: (order[f["status"]], str(f.get("check_id")), str(f.get("resource_id"))),
                self._at_once,
            )
            self._ranked = ranked
        return _read(self._ranked)


def _line(row: dict[str, Any]) -> bytes:
    return (json.dumps(row, ensure_ascii=False) + "\n").encode()


def _read(path: Path) -> Iterator[dict[str, Any]]:
    return (row for row, _ in _lines(path))


def _lines(path: Path) -> Iterator[tuple[dict[str, Any], bytes]]:
    with path.open("rb") as rows:
        for line in rows:
            yield json.loads(line), line


def _sort_into(
    path: Path, rows: Iterable[tuple[dict[str, Any], bytes]], key: Callable[[Any], Any], at_once: int
) -> int:
    """(row, its line) written to `path` in `key` order, stable (rows of equal key keep the order they came in):
    sorted `at_once` rows at a time into files of their own, then merged. Returns how many rows."""
    sorted_files: list[Path] = []
    batch: list[tuple[Any, bytes]] = []
    count = 0

    def spill() -> None:
        batch.sort(key=lambda k: k[0])
        spilled = path.with_name(f"{path.name}.{len(sorted_files)}")
        with spilled.open("wb") as out:
            out.writelines(line for _, line in batch)
        sorted_files.append(spilled)
        batch.clear()

    for row, line in rows:
        batch.append((key(row), line))
        count += 1
        if len(batch) >= at_once:
            spill()
    if batch or not sorted_files:
        spill()
    if len(sorted_files) == 1:
        sorted_files[0].replace(path)
        return count
    try:
        # heapq.merge takes equal keys from the earlier file first: the files are in the order rows came in.
        merged = heapq.merge(*(_lines(f) for f in sorted_files), key=lambda pair: key(pair[0]))
        with path.open("wb") as out:
            out.writelines(line for _, line in merged)
    finally:
        for f in sorted_files:
            f.unlink(missing_ok=True)
    return count
