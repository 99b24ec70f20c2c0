"""A run's finding rows kept on disk while a snapshot is made: a large estate has tens of thousands, and every
report reads them again in turn. Iterated as often as needed, in the order they were sorted into, or in the
reports' order (answer_sheet.ranked_findings); only their offsets are held in memory."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from reports.answer_sheet import FINDING_STATUSES


class FindingRows:
    """Finding rows (dicts of plain JSON values) in a file, one per line, in `key` order."""

    def __init__(self, path: Path, rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> None:
        self.path = path
        unsorted = path.with_name(path.name + ".unsorted")
        keys: list[tuple[Any, int, int]] = []
        with unsorted.open("wb") as out:
            for row in rows:
                line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
                keys.append((key(row), out.tell(), len(line)))
                out.write(line)
        keys.sort(key=lambda k: k[0])  # stable: rows of equal key keep the order they came in
        self._offsets: list[int] = []
        with unsorted.open("rb") as src, path.open("wb") as out:
            for _, offset, size in keys:
                src.seek(offset)
                self._offsets.append(out.tell())
                out.write(src.read(size))
        unsorted.unlink()
        self._ranked: list[int] | None = None

    def __len__(self) -> int:
        return len(self._offsets)

    def __bool__(self) -> bool:
        return bool(self._offsets)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as rows:
            for line in rows:
                yield json.loads(line)

    def ranked(self) -> Iterator[dict[str, Any]]:
        """In the reports' order: failures, errors, passes, each by check then resource."""
        if self._ranked is None:
            order = {s: i for i, s in enumerate(FINDING_STATUSES)}
            keys = [
                (order[f["status"]], str(f.get("check_id")), str(f.get("resource_id")), i) for i, f in enumerate(self)
            ]
            keys.sort()
            self._ranked = [self._offsets[k[3]] for k in keys]
        with self.path.open("rb") as rows:
            for offset in self._ranked:
                rows.seek(offset)
                yield json.loads(rows.readline())
