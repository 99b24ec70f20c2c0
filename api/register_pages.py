"""A sealed run's registers (the resource inventory and the role holders), each built once per server process and
kept on disk for the API and the dashboard to page through.

Building the inventory reads every inventory document of the run and the findings of its two checks: at 100,000
resources about 12 s and 500 MB for each page asked; the accounts register, about 2.4 s. A sealed run never
changes, so the registers last asked for are kept in files, with each row's place and what pages are filtered on;
a page is then a seek and `limit` lines."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from collector.accounts_view import run_accounts
from collector.inventory_view import OWNER_CHECK, REGION_CHECK, inventory_documents, inventory_items, inventory_order
from controls.model import Thresholds
from reports.finding_rows import SortedRows
from storage.ledger import Ledger, RunRecord

Row = dict[str, Any]
Tags = tuple[Any, ...]  # what a register's pages are filtered on, per row


class _Register:
    """One run's register in a file: row n is bytes offsets[n]:offsets[n + 1], with tags[n] to filter on."""

    def __init__(self, path: Path, rows: Iterable[Row], tags_of: Callable[[Row], Tags]) -> None:
        self.path = path
        self.offsets = array("q", [0])
        self.tags: list[Tags] = []
        shared: dict[Tags, Tags] = {}  # a few subscriptions and types for every row: one tuple each
        with path.open("wb") as out:
            for row in rows:
                line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
                out.write(line)
                self.offsets.append(self.offsets[-1] + len(line))
                tags = tags_of(row)
                self.tags.append(shared.setdefault(tags, tags))

    def page(self, offset: int, limit: int, wanted: Callable[[Tags], bool] | None) -> tuple[int, list[Row]]:
        if wanted is None:
            total, rows = len(self.tags), range(offset, min(offset + limit, len(self.tags)))
        else:
            matching = [n for n, tags in enumerate(self.tags) if wanted(tags)]
            total, rows = len(matching), matching[offset : offset + limit]
        out = []
        with self.path.open("rb") as f:
            for n in rows:
                f.seek(self.offsets[n])
                out.append(json.loads(f.read(self.offsets[n + 1] - self.offsets[n])))
        return total, out


def _inventory_tags(row: Row) -> Tags:
    return row["subscription"].lower(), row["type"].lower()


def _account_tags(row: Row) -> Tags:
    return (bool(row["privileged"]),)


class RegisterPages:
    """The registers of the last KEPT runs asked for (each kind of register with what it is built with: the owner
    tag, the thresholds). A register is built once: a request for one being built waits for it, while pages of
    registers already kept are served meanwhile."""

    KEPT = 4

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="shoko-registers-")  # removed with this object or at exit
        self._lock = threading.Lock()  # guards _kept, _building and _made; held only briefly
        self._kept: OrderedDict[tuple[Any, ...], _Register] = OrderedDict()
        self._building: dict[tuple[Any, ...], threading.Lock] = {}
        self._made = 0

    def inventory(
        self,
        ledger: Ledger,
        run: RunRecord,
        owner_tag: str,
        offset: int,
        limit: int,
        subscription: str | None = None,
        kind: str | None = None,
    ) -> tuple[int, list[Row]]:
        """How many rows the run's resource register has (of one subscription and one type, in any case) and
        `limit` of them from `offset`, in the register's order: what cutting `run_inventory` filtered gives."""

        def build(where: Path) -> _Register:
            findings = ledger.finding_states_of(run.id, [REGION_CHECK, OWNER_CHECK])
            items = inventory_items(inventory_documents(ledger, run.id), findings, owner_tag)
            sorted_rows = SortedRows(where / "sorted.jsonl", items, inventory_order)
            register = _Register(where / "register.jsonl", sorted_rows, _inventory_tags)
            sorted_rows.path.unlink()
            return register

        wanted = None
        if subscription is not None or kind is not None:
            sub, type_ = (subscription or "").lower(), (kind or "").lower()
            wanted = lambda tags: (not sub or tags[0] == sub) and (not type_ or tags[1] == type_)  # noqa: E731
        return self._page(("inventory", ledger.url, run.id, run.digest, owner_tag), build, offset, limit, wanted)

    def accounts(
        self, ledger: Ledger, run: RunRecord, thresholds: Thresholds, offset: int, limit: int, privileged: bool = False
    ) -> tuple[int, list[Row]]:
        """How many rows the run's accounts register has (privileged roles only, if asked) and `limit` of them
        from `offset`: what cutting `run_accounts` filtered gives."""

        def build(where: Path) -> _Register:
            return _Register(where / "register.jsonl", run_accounts(ledger, run.id, thresholds), _account_tags)

        wanted = (lambda tags: tags[0]) if privileged else None
        return self._page(("accounts", ledger.url, run.id, run.digest, thresholds), build, offset, limit, wanted)

    def _page(
        self,
        key: tuple[Any, ...],
        build: Callable[[Path], _Register],
        offset: int,
        limit: int,
        wanted: Callable[[Tags], bool] | None,
    ) -> tuple[int, list[Row]]:
        register = self._register(key, build)
        try:
            return register.page(offset, limit, wanted)
        except FileNotFoundError:  # let go by other requests meanwhile, or removed from the temporary directory
            with self._lock:
                if self._kept.get(key) is register:
                    del self._kept[key]
            return self._register(key, build).page(offset, limit, wanted)

    def _recent(self, key: tuple[Any, ...]) -> _Register | None:
        """The register kept under `key`, now the most recently asked for; None if none is. Under `_lock`."""
        register = self._kept.get(key)
        if register is not None:
            self._kept.move_to_end(key)
        return register

    def _register(self, key: tuple[Any, ...], build: Callable[[Path], _Register]) -> _Register:
        # A key holds the run's digest: another database with a run of the same id is another register.
        with self._lock:
            if (kept := self._recent(key)) is not None:
                return kept
            building = self._building.setdefault(key, threading.Lock())
        with building:  # one build per register; pages of the registers kept are not held up by it
            with self._lock:
                if (kept := self._recent(key)) is not None:  # built by the request this one waited for
                    return kept
                self._made += 1
                where = Path(self._dir.name) / f"{self._made}"
            try:
                where.mkdir(parents=True)
                register = build(where)
            except BaseException:
                shutil.rmtree(where, ignore_errors=True)
                with self._lock:
                    self._building.pop(key, None)
                raise
            with self._lock:  # kept before the build's lock is let go: no request can miss it and build again
                self._building.pop(key, None)
                self._kept[key] = register
                while len(self._kept) > self.KEPT:
                    _, dropped = self._kept.popitem(last=False)
                    shutil.rmtree(dropped.path.parent, ignore_errors=True)  # a page being read has its file open
            return register
