"""A sealed run's resource register, built once per server process and kept on disk for the API and the dashboard
to page through.

Building the register reads every inventory document of the run and the findings of its two checks: at 100,000
resources about 12 s and 500 MB for each page asked. A sealed run never changes, so the register of the runs last
asked for is kept sorted in a file, with each row's place and its subscription and type; a page is then a seek
and `limit` lines."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from collector.inventory_view import OWNER_CHECK, REGION_CHECK, inventory_documents, inventory_items, inventory_order
from reports.finding_rows import SortedRows
from storage.ledger import Ledger, RunRecord


class _Register:
    """One run's register in a file: row n is bytes offsets[n]:offsets[n + 1], of subscription and type kinds[n]."""

    def __init__(self, path: Path, rows: Iterable[dict[str, Any]]) -> None:
        self.path = path
        self.offsets = array("q", [0])
        self.kinds: list[tuple[str, str]] = []
        shared: dict[str, str] = {}  # a few subscriptions and types for every row: one string each
        with path.open("wb") as out:
            for row in rows:
                line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
                out.write(line)
                self.offsets.append(self.offsets[-1] + len(line))
                sub, kind = row["subscription"].lower(), row["type"].lower()
                self.kinds.append((shared.setdefault(sub, sub), shared.setdefault(kind, kind)))

    def page(
        self, offset: int, limit: int, subscription: str | None, kind: str | None
    ) -> tuple[int, list[dict[str, Any]]]:
        if subscription is None and kind is None:
            total, wanted = len(self.kinds), range(offset, min(offset + limit, len(self.kinds)))
        else:
            sub, kind = (subscription or "").lower(), (kind or "").lower()
            rows = [
                n for n, (s, k) in enumerate(self.kinds) if (not subscription or s == sub) and (not kind or k == kind)
            ]
            total, wanted = len(rows), rows[offset : offset + limit]
        out = []
        with self.path.open("rb") as f:
            for n in wanted:
                f.seek(self.offsets[n])
                out.append(json.loads(f.read(self.offsets[n + 1] - self.offsets[n])))
        return total, out


class InventoryPages:
    """The registers of the last KEPT (run, owner tag) asked for, built one at a time (a request for a register
    being built waits for it rather than building it again)."""

    KEPT = 4

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="shoko-inventory-")  # removed with this object or at exit
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[Any, ...], _Register] = OrderedDict()
        self._made = 0

    def page(
        self,
        ledger: Ledger,
        run: RunRecord,
        owner_tag: str,
        offset: int,
        limit: int,
        subscription: str | None = None,
        kind: str | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """How many rows the run's register has (of one subscription and one type, in any case) and `limit` of
        them from `offset`, in the register's order: what cutting `run_inventory` filtered gives."""
        # The run's digest too: another database with a run of the same id is another register.
        key = (ledger.url, run.id, run.digest, owner_tag)
        register = self._register(key, ledger, run, owner_tag)
        try:
            return register.page(offset, limit, subscription, kind)
        except FileNotFoundError:  # let go by other requests meanwhile, or removed from the temporary directory
            with self._lock:
                if self._kept.get(key) is register:
                    del self._kept[key]
            return self._register(key, ledger, run, owner_tag).page(offset, limit, subscription, kind)

    def _register(self, key: tuple[Any, ...], ledger: Ledger, run: RunRecord, owner_tag: str) -> _Register:
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
            self._made += 1
            where = Path(self._dir.name) / f"{self._made}"
            where.mkdir(parents=True)
            findings = ledger.finding_states_of(run.id, [REGION_CHECK, OWNER_CHECK])
            items = inventory_items(inventory_documents(ledger, run.id), findings, owner_tag)
            sorted_rows = SortedRows(where / "sorted.jsonl", items, inventory_order)
            register = _Register(where / "register.jsonl", sorted_rows)
            sorted_rows.path.unlink()
            self._kept[key] = register
            while len(self._kept) > self.KEPT:
                _, dropped = self._kept.popitem(last=False)
                shutil.rmtree(dropped.path.parent, ignore_errors=True)  # a page being read has its file open still
            return register
