"""A run's evidence and findings as references to stored rows (the `run_states` table).

An unchanged estate gives the same documents and findings every run; only each document's collection time and
request id differ. So a run stores a new row only for content its predecessor (the last completed run of the same
scope) did not hold, and lists, in `run_states` parts, the ids of every row it holds in order — with, for evidence,
its own collection time and request id of each, laid over the referenced row when it is read. What a reader gets
for a run is exactly what storing every row again would have given.

A part's content is zlib-compressed canonical JSON: {"ids": [first id, then differences], "at": [first collection
time in microseconds since the epoch, then differences], "request": [request id, ...]} ("at" and "request" for
evidence only). Runs without parts (sealed before parts existed) hold the rows they own.
"""

from __future__ import annotations

import codecs
import hashlib
import heapq
import json
import struct
import zlib
from array import array
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import accumulate, islice, pairwise
from json.decoder import scanstring  # type: ignore[attr-defined]
from operator import itemgetter
from typing import Any, overload

from sqlalchemy import any_, bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from controls.model import canonical_json, canonical_text

from .hashing import _plain, hashed_columns
from .models import Base, Run, RunEvidence, RunFinding, RunState

# The tables stored by reference, and per table the columns that are the run's own even when the content is not.
STATE_TABLES: tuple[type[Base], ...] = (RunEvidence, RunFinding)
VOLATILE: dict[str, tuple[str, ...]] = {"run_evidence": ("collected_at", "request_id"), "findings": ()}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ENCODED = 4096  # values of a part encoded at a time
_CHUNK = 900


class StateError(ValueError):
    """A part that cannot be decoded (its bytes were altered)."""


@dataclass(frozen=True, slots=True)  # a run's part holds one per record: hundreds of thousands
class Entry:
    row_id: int
    collected_at: datetime | None = None
    request_id: str | None = None


_NO_TIME = -(2**63)  # Refs: a row read from a run without parts, which has no collection time of the run's own


class Refs(Sequence[Entry]):
    """Entries held as columns (row ids, collection times in microseconds, request ids), each made into an `Entry`
    only when read: a run of 100,000 resources names 400,000 evidence rows, which as entries with their times
    would hold about 70 MB for the whole of its judging, and as columns hold about 20 bytes each."""

    __slots__ = ("_ids", "_micros", "_requests")

    def __init__(self) -> None:
        self._ids = array("q")
        self._micros = array("q")
        self._requests: list[str | None] = []

    def add(self, row_id: int, micros: int | None = None, request_id: str | None = None) -> None:
        self._ids.append(row_id)
        self._micros.append(_NO_TIME if micros is None else micros)
        self._requests.append(request_id)

    def __len__(self) -> int:
        return len(self._ids)

    def _entry(self, n: int) -> Entry:
        micros = self._micros[n]
        if micros == _NO_TIME:
            return Entry(self._ids[n])
        return Entry(self._ids[n], time_of(micros), self._requests[n])

    @overload
    def __getitem__(self, n: int) -> Entry: ...
    @overload
    def __getitem__(self, n: slice) -> list[Entry]: ...
    def __getitem__(self, n: int | slice) -> Entry | list[Entry]:
        if isinstance(n, slice):
            return [self._entry(i) for i in range(len(self._ids))[n]]
        return self._entry(range(len(self._ids))[n])  # the range raises IndexError as a list would

    def __iter__(self) -> Iterator[Entry]:
        return (self._entry(n) for n in range(len(self._ids)))


class StateRow:
    """A stored row as one run holds it: the row's columns with that run's own collection time and request id.
    Read like the model instance it copies (`row.kind`, `row.__tablename__`, `row.id`)."""

    def __init__(self, tablename: str, values: dict[str, Any]) -> None:
        self.__tablename__ = tablename
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # only for names absent from the row
        raise AttributeError(name)


def content_key(model: type[Base], values: Mapping[str, Any]) -> bytes:
    """What makes two rows the same content, whatever run stored them: every hashed column but the run id and
    the run's own (volatile) columns, as the 32 bytes of their SHA-256 (a run at 100,000 resources holds a
    million of them while it stores)."""
    row = [_plain(values.get(name)) for name in _key_columns(model)]  # each table's columns in one fixed order
    return hashlib.sha256(canonical_json([model.__tablename__, row])).digest()


@cache
def _key_columns(model: type[Base]) -> tuple[str, ...]:
    skip = {"run_id", *VOLATILE.get(model.__tablename__, ())}
    return tuple(name for name in hashed_columns(model) if name not in skip)


def time_of(micros: int) -> datetime:
    """A time a part holds (microseconds since 1970, UTC)."""
    return _EPOCH + timedelta(microseconds=micros)


def micros_of(at: datetime) -> int:
    """What time_of reads back: a time as microseconds since 1970, UTC."""
    delta = at.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _differences(values: Sequence[int]) -> list[int]:
    return [values[0], *(b - a for a, b in pairwise(values))] if values else []


def _sums(values: Sequence[Any]) -> list[int]:
    # json gives exact ints (never a subclass but bool, which is not an integer here)
    if not set(map(type, values)) <= {int}:
        raise StateError("a number in the part is not an integer")
    return list(accumulate(values))


def encode(table: str, entries: Sequence[Entry]) -> bytes:
    if not VOLATILE.get(table):
        return encode_columns(table, [e.row_id for e in entries])
    micros = [micros_of(e.collected_at) for e in entries if e.collected_at is not None]
    return encode_columns(table, [e.row_id for e in entries], micros, [e.request_id for e in entries])


def encode_columns(
    table: str, ids: Sequence[int], micros: Sequence[int] = (), requests: Sequence[str | None] = ()
) -> bytes:
    """A part of these row ids (for evidence, with each one's collection time in microseconds since the epoch and
    request id), as `encode` makes it from entries: columns cost a run of 100,000 resources far less than entries.
    The canonical JSON is made and compressed a few thousand values at a time: made whole, it and its differences
    took about 90 MB for 400,000 records."""
    volatile = bool(VOLATILE.get(table))
    if volatile and not len(micros) == len(requests) == len(ids):
        raise ValueError("every evidence entry needs its collection time")
    squeeze = zlib.compressobj(9)
    out: list[bytes] = []

    def put(text: str) -> None:
        out.append(squeeze.compress(text.encode()))

    def put_array(values: Sequence[Any], differences: bool) -> None:
        put("[")
        previous = 0
        for start in range(0, len(values), _ENCODED):
            chunk = list(values[start : start + _ENCODED])
            if differences:
                chunk, previous = [b - a for a, b in pairwise([previous, *chunk])], chunk[-1]
            put(("," if start else "") + canonical_text(chunk)[1:-1])
        put("]")

    # The keys in canonical (sorted) order: {"at": [...], "ids": [...], "request": [...]}.
    put("{")
    if volatile:
        put('"at":')
        put_array(micros, differences=True)
        put(",")
    put('"ids":')
    put_array(ids, differences=True)
    if volatile:
        put(',"request":')
        put_array(requests, differences=False)
    put("}")
    out.append(squeeze.flush())
    return b"".join(out)


def _parsed(content: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(zlib.decompress(content))
    except (zlib.error, ValueError, TypeError) as exc:
        raise StateError(f"part cannot be decoded ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("ids"), list):
        raise StateError("part has an unexpected shape")
    return doc


def _decode_ids(content: bytes) -> tuple[dict[str, Any], list[int]]:
    doc = _parsed(content)
    return doc, _sums(doc["ids"])


# A part's row ids and, for evidence, its collection times (microseconds) and request ids, in order.
Decoded = tuple[list[int], list[int] | None, list[Any] | None]


def _decoded(table: str, content: bytes, cache: dict[bytes, Decoded] | None = None) -> Decoded:
    """The part decoded; with `cache` (by the part's exact stored bytes, so no part is mistaken for another),
    decoded once for all the reads that share it."""
    if cache is not None and (found := cache.get(content)) is not None:
        return found
    doc, ids = _decode_ids(content)
    micros = requests = None
    if VOLATILE.get(table):
        at, requests = doc.get("at"), doc.get("request")
        if not isinstance(at, list) or not isinstance(requests, list) or not len(at) == len(requests) == len(ids):
            raise StateError("part has an unexpected shape")
        micros = _sums(at)
    if cache is not None:
        cache[content] = (ids, micros, requests)
    return ids, micros, requests


def columns(table: str, content: bytes) -> tuple[array[int], array[int] | None, list[str | None] | None]:
    """The part's columns: its row ids and, for evidence, collection times (microseconds) and request ids (each a
    text or None, equal ones one text), without making its entries. Read a few thousand values at a time from the
    part's canonical JSON (_canonical_columns), about 40 MB for a part of 400,000 records where parsing it whole
    took 120; a part in any other form is parsed whole, which accepts and refuses exactly what it did before."""
    try:
        found = _canonical_columns(content, keep_requests=True)
    except _NotCanonical:
        found = None
    if found is not None and (found[1] is not None) == bool(VOLATILE.get(table)):
        return found
    doc = _parsed(content)
    ids = _summed_array(doc.pop("ids"))
    if not VOLATILE.get(table):
        return ids, None, None
    at, requests = doc.pop("at", None), doc.pop("request", None)
    if not isinstance(at, list) or not isinstance(requests, list) or not len(at) == len(requests) == len(ids):
        raise StateError("part has an unexpected shape")
    micros = _summed_array(at)
    del at
    shared: dict[str, str] = {}  # a listing's page gives one request id to many records
    for n, request in enumerate(requests):
        if request is not None:
            if not isinstance(request, str):
                raise StateError("part holds a request id that is not text")
            requests[n] = shared.setdefault(request, request)
    return ids, micros, requests


def _summed_array(values: Iterable[Any], total: int = 0, out: array[int] | None = None) -> array[int]:
    values = list(values)
    if not set(map(type, values)) <= {int}:
        raise StateError("a number in the part is not an integer")
    out = array("q") if out is None else out
    try:
        out.extend(islice(accumulate(values, initial=total), 1, None))  # the sums after `total`
    except OverflowError:
        raise StateError("a number in the part is out of range") from None
    return out


class _NotCanonical(Exception):
    """A part not in the exact form `encode_columns` writes: it is parsed whole instead."""


_PIECE = 65_536  # bytes of a part's number column parsed at a time


def _canonical_columns(
    content: bytes, keep_requests: bool
) -> tuple[array[int], array[int] | None, list[str | None] | None]:
    """Columns of a part in the form `encode_columns` writes ({"ids":[...]}, or {"at":[...],"ids":[...],"request":
    [...]}), read without holding the parsed document: numbers a piece at a time, request ids one at a time (kept,
    equal ones as one text, only with `keep_requests`). Each value is parsed by the json module, so what is
    accepted is what parsing it whole accepts; anything else raises _NotCanonical. The part is inflated as it is
    read: the request ids, most of the text of a large part (16 MB of 20 at 100,000 resources), are never held
    whole, as bytes or as text."""
    stream = _Inflated(content)
    text = stream.until(_REQUESTS)  # the numbers, and the request column's opening when there is one
    pos = 0

    def expect(token: bytes) -> None:
        nonlocal pos
        if not text.startswith(token, pos):
            raise _NotCanonical
        pos += len(token)

    def numbers() -> array[int]:
        nonlocal pos
        close = text.find(b"]", pos)
        if close < 0 or text[close - 1 : close] == b",":
            raise _NotCanonical
        out: array[int] = array("q")
        while pos < close:
            cut = text.find(b",", min(pos + _PIECE, close), close)
            cut = close if cut < 0 else cut
            try:
                values = json.loads(b"[" + text[pos:cut] + b"]")
            except ValueError:
                raise _NotCanonical from None
            _summed_array(values, out[-1] if out else 0, out)
            pos = cut + 1
        pos = close + 1
        return out

    volatile = text.startswith(b'{"at":[')
    micros = None
    if volatile:
        expect(b'{"at":[')
        micros = numbers()
        expect(b',"ids":[')
    else:
        expect(b'{"ids":[')
    ids = numbers()
    if not volatile:
        expect(b"}")
        if pos != len(text) or stream.rest():
            raise _NotCanonical
        return ids, None, None
    expect(_REQUESTS)
    if pos != len(text):
        raise _NotCanonical
    requests: list[str | None] = []
    shared: dict[str, str] = {}
    count = 0
    items = _TextStream(stream)
    while not items.startswith("]"):
        if items.startswith("null"):
            value = None
            items.skip(4)
        elif items.startswith('"'):
            value = items.string()
        else:
            raise _NotCanonical
        count += 1
        if keep_requests:
            requests.append(value and shared.setdefault(value, value))
        if items.startswith(",") and not items.startswith(",]"):
            items.skip(1)
        elif not items.startswith("]"):
            raise _NotCanonical
    if items.rest() != "]}":
        raise _NotCanonical
    if not len(micros) == len(ids) == count:  # type: ignore[arg-type]
        raise StateError("part has an unexpected shape")
    return ids, micros, requests if keep_requests else None


_REQUESTS = b',"request":['
_INFLATED = 65_536  # bytes of a part inflated at a time


class _Inflated:
    """A part's zlib stream inflated a piece at a time. A stream that cannot be inflated, or ends too early,
    raises StateError as inflating it whole does; what follows the stream's end is ignored, as there."""

    def __init__(self, content: bytes) -> None:
        self._content = content
        self._inflate = zlib.decompressobj()
        self._input = content
        self._ended = False
        self._pending = b""  # inflated past `until`'s marker

    def piece(self) -> bytes:
        """The next inflated bytes; b"" at the end."""
        while not self._ended:
            try:
                out = self._inflate.decompress(self._input, _INFLATED)
            except zlib.error:
                self._fail()
            self._input = self._inflate.unconsumed_tail
            if self._inflate.eof:
                self._ended = True
            elif not self._input and not out:
                self._fail()  # the input is used up before the stream's end
            if out:
                return out
        return b""

    def until(self, marker: bytes) -> bytes:
        """Everything up to and including the first `marker`, or to the end when there is none."""
        held = bytearray()
        while (found := held.find(marker, max(0, len(held) - _INFLATED - len(marker)))) < 0:
            more = self.piece()
            if not more:
                return bytes(held)
            held += more
        self._pending = bytes(held[found + len(marker) :])
        return bytes(held[: found + len(marker)])

    def pending(self) -> bytes:
        """What `until` inflated past its marker, once."""
        out, self._pending = self._pending, b""
        return out

    def rest(self) -> bytes:
        """Everything not yet given."""
        out = bytearray(self.pending())
        while more := self.piece():
            out += more
        return bytes(out)

    def _fail(self) -> None:
        try:
            zlib.decompress(self._content)  # for the error inflating it whole gives
        except zlib.error as exc:
            raise StateError(f"part cannot be decoded ({exc})") from None
        raise StateError("part cannot be decoded")


class _TextStream:
    """The text of an inflated part from where `until` stopped, decoded as UTF-8 a piece at a time; a piece is
    dropped once read past. Text that is not UTF-8 raises _NotCanonical."""

    def __init__(self, source: _Inflated) -> None:
        self._source = source
        self._decode = codecs.getincrementaldecoder("utf-8")().decode
        self._text = ""
        self._at = 0
        self._ended = False
        self._add(source.pending())

    def _add(self, raw: bytes, final: bool = False) -> None:
        try:
            self._text = self._text[self._at :] + self._decode(raw, final)
        except UnicodeDecodeError:
            raise _NotCanonical from None
        self._at = 0

    def _more(self) -> bool:
        if self._ended:
            return False
        raw = self._source.piece()
        self._ended = not raw
        self._add(raw, final=self._ended)
        return True

    def startswith(self, token: str) -> bool:
        while len(self._text) - self._at < len(token) and self._more():
            pass
        return self._text.startswith(token, self._at)

    def skip(self, n: int) -> None:
        self._at += n

    def string(self) -> str:
        """The JSON string that starts here, parsed by the json module."""
        while True:
            try:
                value, self._at = scanstring(self._text, self._at + 1, True)
                return value
            except ValueError:
                if not self._more():  # not a string that more text would complete
                    raise _NotCanonical from None

    def rest(self) -> str:
        while self._more():
            pass
        return self._text[self._at :]


def part_row_ids(content: bytes) -> array[int]:
    """A part's row ids in order, without making its entries: 8 bytes each (a first run at 100,000 resources holds
    690,000 findings, 26 MB as a list of ints), read as `columns` reads them."""
    try:
        return _canonical_columns(content, keep_requests=False)[0]
    except _NotCanonical:
        return _summed_array(_parsed(content)["ids"])


def decode(
    table: str, content: bytes, only: Collection[int] | None = None, cache: dict[bytes, Decoded] | None = None
) -> list[Entry]:
    """The part's entries in order (only those with row ids in `only`, if given: the others' times are not
    made, which is most of the work for a large part). `cache`: see `_decoded`."""
    ids, micros, requests = _decoded(table, content, cache)
    picked = range(len(ids)) if only is None else [n for n, row_id in enumerate(ids) if row_id in only]
    if micros is None or requests is None:
        return [Entry(ids[n]) for n in picked]
    if any(requests[n] is not None and not isinstance(requests[n], str) for n in picked):
        raise StateError("part holds a request id that is not text")
    # A listing's page gives one request id to every record on it: each id text is held once.
    shared: dict[str, str] = {}
    return [
        Entry(
            ids[n],
            time_of(micros[n]),
            requests[n] and shared.setdefault(requests[n], requests[n]),
        )
        for n in picked
    ]


class PendingEntries:
    """A part's evidence entries held until the part is written, in the order of their sort keys, in little memory:
    as tuples (sort key, row id, time, request id) they cost about 500 bytes a record, 200 MB for a run at 100,000
    resources. Records are sorted and compressed `BATCH` at a time (sort keys of neighbours share most of their
    bytes: about 110 bytes a record so), and `merged` gives them all in key order, equal keys in the order added,
    reading each batch a few kilobytes at a time."""

    BATCH = 4096
    # Key length, row id, time (µs since the epoch), request id length (-1: none), content key length.
    _HEAD = struct.Struct(">IqqiB")

    def __init__(self) -> None:
        self._batches: list[bytes] = []
        self._tail: list[tuple[bytes, int, datetime, str | None, bytes]] = []
        self.count = 0

    def add(self, place: bytes, row_id: int, at: datetime, request_id: str | None, content_key: bytes) -> None:
        self._tail.append((place, row_id, at, request_id, content_key))
        self.count += 1
        if len(self._tail) >= self.BATCH:
            self._seal_tail()

    def _seal_tail(self) -> None:
        if not self._tail:
            return
        out = bytearray()
        for place, row_id, at, request_id, content_key in sorted(self._tail, key=lambda record: record[0]):
            request = b"" if request_id is None else request_id.encode("utf-8", "surrogatepass")
            out += self._HEAD.pack(len(place), row_id, micros_of(at), len(request) if request_id is not None else -1,
                                   len(content_key))  # fmt: skip
            out += place + request + content_key
        self._batches.append(zlib.compress(out, 1))
        self._tail = []

    def merged(self) -> Iterator[tuple[int, int, str | None, bytes]]:
        """(row id, time in µs since the epoch, request id, content key) of every record, in key order; equal keys
        in the order added."""
        self._seal_tail()
        shared: dict[str, str] = {}  # a listing's page gives one request id to all its records: held once
        records = heapq.merge(*map(self._read, self._batches), key=itemgetter(0))
        for _, row_id, micros, request_id, content_key in records:
            yield row_id, micros, None if request_id is None else shared.setdefault(request_id, request_id), content_key

    @classmethod
    def _read(cls, batch: bytes) -> Iterator[tuple[bytes, int, int, str | None, bytes]]:
        # heapq.merge breaks ties by the batch's place in the list, and each batch is in order: a stable sort.
        inflate, source, buffer, head = zlib.decompressobj(), batch, bytearray(), cls._HEAD

        def fill(size: int) -> bool:
            nonlocal source
            while len(buffer) < size:
                more = inflate.decompress(source, 16384)  # with no input left, what zlib still holds
                source = inflate.unconsumed_tail
                if not more and not source:
                    return False
                buffer.extend(more)
            return True

        while fill(head.size):
            key_size, row_id, micros, request_size, content_size = head.unpack_from(buffer)
            end = head.size + key_size + max(request_size, 0) + content_size
            if not fill(end):
                raise StateError("a pending batch of entries ends inside a record")
            at = head.size + key_size
            request = None if request_size < 0 else buffer[at : at + request_size].decode("utf-8", "surrogatepass")
            yield bytes(buffer[head.size : at]), row_id, micros, request, bytes(buffer[end - content_size : end])
            del buffer[:end]


def among(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """The condition `column IN values`. On PostgreSQL one array parameter (`= ANY`): binding every value as a
    parameter of its own costs the client about four times the CPU for the same rows."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def part_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def add_part_columns(
    session: Session, run_id: int, table: str, ids: Sequence[int], micros: Sequence[int] = (),
    requests: Sequence[str | None] = (),
) -> None:  # fmt: skip
    """Add a part of these row ids (for evidence, with each one's collection time in microseconds and request id):
    `encode_columns`."""
    if ids:
        content = encode_columns(table, ids, micros, requests)
        session.add(RunState(run_id=run_id, table_name=table, entries=len(ids), content=content))
        session.flush()


def parts(session: Session, run_id: int, table: str | None = None) -> list[RunState]:
    query = select(RunState).where(RunState.run_id == run_id)
    if table is not None:
        query = query.where(RunState.table_name == table)
    return list(session.scalars(query.order_by(RunState.id)).all())


def part_count(session: Session, run_id: int, table: str) -> int:
    """How many parts of `table` the run has (without reading them)."""
    query = select(func.count()).where(RunState.run_id == run_id, RunState.table_name == table)
    return int(session.scalar(query) or 0)


def entries_of(
    session: Session,
    run_id: int,
    table: str,
    only: Collection[int] | None = None,
    cache: dict[bytes, Decoded] | None = None,
) -> list[Entry] | None:
    """The run's entries of `table` in order (those with row ids in `only`, if given), or None for a run stored
    before parts existed (no part at all). `cache`: see `_decoded`."""
    found = parts(session, run_id)
    if not found:
        return None
    out: list[Entry] = []
    for part in found:
        if part.table_name == table:
            out.extend(decode(table, part.content, only, cache))
    return out


def row_ids_of(session: Session, run_id: int, table: str) -> array[int] | None:
    """The row ids of the run's entries of `table` in order (as `entries_of`, without the run's own columns),
    or None for a run stored before parts existed."""
    found = parts(session, run_id)
    if not found:
        return None
    out = array("q")
    for part in found:
        if part.table_name == table:
            out.extend(part_row_ids(part.content))
    return out


def counts(session: Session, run_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per run with parts: entries per table (tables without a part count 0)."""
    out: dict[int, dict[str, int]] = {}
    for start in range(0, len(run_ids), _CHUNK):
        chunk = run_ids[start : start + _CHUNK]
        query = (
            select(RunState.run_id, RunState.table_name, func.sum(RunState.entries))
            .where(RunState.run_id.in_(chunk))
            .group_by(RunState.run_id, RunState.table_name)
        )
        for run_id, table, n in session.execute(query):
            out.setdefault(run_id, {})[table] = int(n)
    return out


def load_rows(session: Session, model: type[Base], ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Stored rows by id, as column values (types applied)."""
    return {row["id"]: dict(row) for row in _rows_by_id(session, model, ids)}


def _ascending_once(ids: Iterable[int]) -> Sequence[int]:
    """`ids` in ascending order, each once: a sequence that already is comes back as it is (a run's findings
    mostly are), and no set is made unless an id comes twice. Reading the predecessor's keys of an unchanged run at
    100,000 resources peaked 35–40 MB lower for it (its 690,000 finding ids made a set, then a sorted list)."""
    if isinstance(ids, Sequence) and all(a < b for a, b in pairwise(ids)):
        return ids
    ordered = sorted(ids)
    return sorted(set(ordered)) if any(a == b for a, b in pairwise(ordered)) else ordered


def _rows_by_id(session: Session, model: type[Base], ids: Iterable[int]) -> Iterator[Any]:
    """The stored rows with these ids (each once, by id), read _CHUNK at a time, as mappings."""
    table = model.__table__
    wanted = _ascending_once(ids)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        yield from session.execute(select(table).where(among(session, table.c.id, chunk))).mappings()


def held_rows(
    session: Session,
    model: type[Base],
    run_id: int,
    only: Collection[int] | None = None,
    cache: dict[bytes, Decoded] | None = None,
) -> list[Any] | None:
    """The rows the run holds, in order, each with the run's own volatile columns (only those with ids in `only`,
    if given); None for a run without parts. `cache`: see `_decoded`."""
    table = model.__tablename__
    entries = entries_of(session, run_id, table, only, cache)
    if entries is None:
        return None
    stored = load_rows(session, model, (e.row_id for e in entries))
    volatile = VOLATILE.get(table, ())
    out = []
    for entry in entries:
        values = stored.get(entry.row_id)
        if values is None:
            raise StateError(f"{table} row {entry.row_id} held by run {run_id} is missing; run `shoko verify`")
        if volatile:
            values = {**values, "collected_at": entry.collected_at, "request_id": entry.request_id}
        out.append(StateRow(table, values))
    return out


def held_counts(
    session: Session, model: type[Base], run_id: int, names: Sequence[str]
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """Some columns (none of them the run's own volatile ones) of the rows the run holds, for a caller that counts
    or collects them: each row once, with how many times the run holds it, in no particular order, read _CHUNK rows
    at a time (the list of a run's 690,000 findings' values took about 300 MB). A run without parts: its own rows,
    each once."""
    table = model.__table__
    columns = [table.c.id, *(table.c[name] for name in names)]
    ids = row_ids_of(session, run_id, model.__tablename__)
    if ids is None:
        for _, *values in session.execute(select(*columns).where(table.c.run_id == run_id)):
            yield 1, tuple(values)
        return
    wanted = sorted(ids)
    for start in range(0, len(wanted), _CHUNK):
        times = Counter(wanted[start : start + _CHUNK])  # a row held twice counts twice
        for row_id, *values in session.execute(select(*columns).where(among(session, table.c.id, sorted(times)))):
            yield times.pop(row_id), tuple(values)
        if times:
            raise StateError(f"{table.name} row {min(times)} held by run {run_id} is missing; run `shoko verify`")


def predecessor(session: Session, run: Run) -> int | None:
    """The run a new run stores its differences against: the last completed sealed run of the same scope kind
    (full runs against full runs, a partial run against the last partial run of the same fact kinds)."""
    lineage = _lineage(run.scope)
    query = (
        select(Run.id, Run.scope)
        .where(Run.status == "completed", Run.chain_index.is_not(None), Run.id != run.id)
        .order_by(Run.chain_index.desc())
        .limit(200)
    )
    for run_id, scope in session.execute(query):
        if _lineage(scope) == lineage:
            return int(run_id)
    return None


def _lineage(scope: Any) -> tuple[str, ...]:
    scope = scope if isinstance(scope, dict) else {}
    if not scope.get("partial"):
        return ("full",)
    kinds = scope.get("kinds")
    return ("partial", *sorted(str(k) for k in kinds)) if isinstance(kinds, list) else ("partial",)


class HeldKeys:
    """A run's rows by content key, for the next run to hold unchanged content by reference: each row is taken at
    most once, in the run's order where content is held twice. Held in arrays, not a dict of bytes objects: a run
    at 100,000 resources holds over a million rows, about 60 bytes each here against 150 in a dict (an unchanged
    run holds its predecessor's keys while it collects, and the agent keeps a run's keys until the next run)."""

    def __init__(self) -> None:
        self._blob = bytearray()  # every entry's key, one after another
        self._ends = array("q")  # where each entry's key ends in _blob
        self._rows = array("q")  # each entry's row id
        self._taken = bytearray()  # 1 once an entry's row is taken
        # Open addressing by the key's hash: 1 + the entry of the key's first row, 0 for an empty slot.
        self._slots = array("i", bytes(4 * 8))
        self._keys = 0  # distinct keys (the slots in use)
        self._more: dict[int, list[int]] = {}  # a key's first entry -> its further entries in order (rare)
        self._left = 0  # keys with a row not yet taken
        self._shared = False  # the arrays but _taken are shared with a copy: copied before they change

    def _own(self) -> None:
        if self._shared:
            self._blob, self._ends, self._rows = bytearray(self._blob), self._ends[:], self._rows[:]
            self._slots, self._more = self._slots[:], {first: list(more) for first, more in self._more.items()}
            self._shared = False

    def __len__(self) -> int:
        """How many keys still offer a row."""
        return self._left

    @property
    def added(self) -> int:
        """How many rows were added (taken or not)."""
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        """Whether any row was ever added for `key` (taken or not)."""
        return isinstance(key, bytes) and self._find(key)[1] >= 0

    def _key(self, entry: int) -> bytes:
        return bytes(self._blob[self._ends[entry - 1] if entry else 0 : self._ends[entry]])

    def _find(self, key: bytes) -> tuple[int, int]:
        """(the key's slot, its first entry), or (the empty slot it would take, -1)."""
        slots, mask, blob, ends = self._slots, len(self._slots) - 1, self._blob, self._ends
        at = hash(key) & mask
        while True:
            held = slots[at]
            if not held:
                return at, -1
            if blob[ends[held - 2] if held > 1 else 0 : ends[held - 1]] == key:
                return at, held - 1
            at = (at + 1) & mask

    def _entries(self, first: int) -> list[int]:
        return [first, *self._more.get(first, ())]

    def _append(self, key: bytes, row_id: int) -> int:
        self._blob += key
        self._ends.append(len(self._blob))
        self._rows.append(row_id)
        self._taken.append(0)
        return len(self._rows) - 1

    def add(self, key: bytes, row_id: int) -> None:
        """`row_id` holds `key`, after any row already holding it."""
        self._own()
        at, first = self._find(key)
        entry = self._append(key, row_id)
        if first < 0:
            self._slots[at] = entry + 1
            self._keys += 1
            self._left += 1
            if 2 * self._keys > len(self._slots):
                self._grow()
            return
        entries = self._entries(first)
        if all(self._taken[n] for n in entries):
            self._left += 1
        self._more.setdefault(first, []).append(entry)

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("i", bytes(4 * 2 * len(old)))
        mask = len(self._slots) - 1
        for held in old:
            if held:
                at = hash(self._key(held - 1)) & mask
                while self._slots[at]:
                    at = (at + 1) & mask
                self._slots[at] = held

    def take(self, key: bytes) -> int | None:
        """The first row holding `key`, no longer offered; None when no row (left) holds it."""
        _, first = self._find(key)
        if first < 0:
            return None
        entries = self._entries(first) if first in self._more else (first,)
        for place, entry in enumerate(entries):
            if not self._taken[entry]:
                self._taken[entry] = 1
                if not any(not self._taken[n] for n in entries[place + 1 :]):
                    self._left -= 1
                return self._rows[entry]
        return None

    def put_back(self, key: bytes, row_id: int) -> None:
        """Offer a taken row again, first (its batch was not stored)."""
        self._own()
        _, first = self._find(key)
        entries = self._entries(first) if first >= 0 else []
        back = next((n for n in entries if self._taken[n] and self._rows[n] == row_id), None)
        if back is None:  # a row it never held: offered all the same (add counts the key if it offered none)
            self.add(key, row_id)
            _, first = self._find(key)
            entries = self._entries(first)
            back = entries[-1]
        elif not any(not self._taken[n] for n in entries):
            self._left += 1
        self._taken[back] = 0
        # First among the rows offered: the offered entries, in order, hold it and then the others.
        offered = [n for n in entries if not self._taken[n]]
        rows = [row_id, *(self._rows[n] for n in offered if n != back)]
        for n, row in zip(offered, rows, strict=True):
            self._rows[n] = row

    def items(self) -> Iterator[tuple[bytes, int]]:
        """(key, row id) of every row still offered, in the order they were added."""
        for entry, row_id in enumerate(self._rows):
            if not self._taken[entry]:
                yield self._key(entry), row_id

    def copy(self) -> HeldKeys:
        """An independent copy, sharing the arrays until either changes them (taking a row changes only its own
        flags): the agent hands a run's kept keys to the next run as a copy, a byte a row while nothing is put
        back."""
        out = HeldKeys()
        out._blob, out._ends, out._rows, out._slots, out._more = (
            self._blob,
            self._ends,
            self._rows,
            self._slots,
            self._more,
        )
        out._taken, out._keys, out._left = bytearray(self._taken), self._keys, self._left
        self._shared = out._shared = True
        return out

    def as_dict(self) -> dict[bytes, list[int]]:
        """Every key still offering rows, with those rows in order (for tests and for people)."""
        out: dict[bytes, list[int]] = {}
        for held in self._slots:
            if held:
                rows = [self._rows[n] for n in self._entries(held - 1) if not self._taken[n]]
                if rows:
                    out[self._key(held - 1)] = rows
        return out

    def _order_within(self, ids: Sequence[int]) -> None:
        # Rows were added in id order: content held more than once goes back to the run's order.
        if self._more:
            self._own()
            shared = {self._rows[n] for first in self._more for n in self._entries(first)}
            place = {row_id: n for n, row_id in enumerate(ids) if row_id in shared}
            for first in self._more:
                entries = self._entries(first)
                rows = sorted((self._rows[n] for n in entries), key=place.__getitem__)
                for n, row in zip(entries, rows, strict=True):
                    self._rows[n] = row


def held_keys(session: Session, model: type[Base], run_id: int) -> HeldKeys:
    """The predecessor's rows by content key (content held twice lists both ids, in the run's order). Rows are read
    _CHUNK at a time and only their keys kept: a content key leaves out the run's own columns, so no part's times
    are made."""
    table = model.__table__
    out = HeldKeys()
    ids = row_ids_of(session, run_id, model.__tablename__)
    if ids is None:
        query = select(table).where(table.c.run_id == run_id).order_by(table.c.id)
        for row in session.execute(query).mappings():
            out.add(content_key(model, row), row["id"])
        return out
    wanted = _ascending_once(ids)
    if len(wanted) != len(ids):  # a row listed twice by one run (never stored so): keep every listing, in order
        keys = {row["id"]: content_key(model, row) for row in _rows_by_id(session, model, wanted)}
        for row_id in ids:
            if row_id not in keys:
                raise StateError(f"{table.name} row {row_id} held by run {run_id} is missing; run `shoko verify`")
            out.add(keys[row_id], row_id)
        return out
    read = 0
    for row in _rows_by_id(session, model, wanted):
        out.add(content_key(model, row), row["id"])
        read += 1
    del wanted
    if read != len(ids):
        missing = min(set(ids) - {row_id for have in out.as_dict().values() for row_id in have})
        raise StateError(f"{table.name} row {missing} held by run {run_id} is missing; run `shoko verify`")
    out._order_within(ids)
    return out


class OwnHeld:
    """Which of a run's own rows (those it stored itself) its parts hold: one byte per id between its first and
    last own row, not a set of a million ints. Ids outside that span are never its own."""

    def __init__(self, session: Session, model: type[Base], run_id: int) -> None:
        column = model.__table__.c
        span = select(func.min(column.id), func.max(column.id)).where(column.run_id == run_id)
        low, high = session.execute(span).one()
        self.low = low if low is not None else 0
        self.marks = bytearray(high - low + 1 if low is not None else 0)

    def add(self, row_id: int) -> None:
        if 0 <= (offset := row_id - self.low) < len(self.marks):
            self.marks[offset] = 1

    def marking(self, row_ids: Iterable[int]) -> Iterator[int]:
        """`row_ids` as they are, each marked on the way."""
        for row_id in row_ids:
            self.add(row_id)
            yield row_id

    def __contains__(self, row_id: int) -> bool:
        return 0 <= (offset := row_id - self.low) < len(self.marks) and bool(self.marks[offset])


def own_pairs(session: Session, model: type[Base], run_id: int) -> Iterator[tuple[int, str]]:
    """(row id, row hash) of the rows the run stored itself, in id order, streamed (a first run at 100,000
    resources stored over a million)."""
    table = model.__table__
    query = select(table.c.id, table.c.row_hash).where(table.c.run_id == run_id).order_by(table.c.id)
    rows = session.execute(query, execution_options={"yield_per": 5_000})
    yield from ((row_id, hashed) for row_id, hashed in rows)  # plain tuples: they go into the seal's JSON


def state_digest(pairs: Iterable[tuple[int, str]]) -> tuple[int, str]:
    """(count, SHA-256) over the [row id, row hash] pairs a run holds, in order."""
    digest = hashlib.sha256()
    n = 0
    for row_id, hashed in pairs:
        digest.update(f"{row_id}:{hashed}\n".encode())
        n += 1
    return n, digest.hexdigest()


def state_pairs(session: Session, model: type[Base], row_ids: Iterable[int]) -> Iterator[tuple[int, str]]:
    """The [row id, row hash] pairs of `row_ids`, in their order, read _CHUNK at a time (a run's seal digests them
    without holding every hash at once)."""
    table = model.__table__
    row_ids = iter(row_ids)
    while chunk := list(islice(row_ids, _CHUNK)):
        query = select(table.c.id, table.c.row_hash).where(among(session, table.c.id, sorted(set(chunk))))
        hashes = dict(session.execute(query).all())
        yield from ((row_id, hashes.get(row_id, "missing")) for row_id in chunk)
