"""Re-check every sealed run against its seal and the hash chain, oldest first.

Per run, in this order, stopping at the first difference:
1. each row's content against the `row_hash` stored when it was inserted (names the row), and each
   evidence blob's stored text against its SHA-256;
2. the rows present against the seal's list of (row id, row hash): deleted, added, re-hashed rows (from seal
   version 3 the list leaves out the run's own rows that its parts hold: they are checked with the parts);
3. the run's own columns against the sealed copy of them;
4. the seal document against the run's digest;
5. the chain: position and `prev_digest` against the previous sealed run.
Then each run's signature (storage/signatures.py), against the trusted key when one is given.

A run sealed with version 2 or 3 holds its evidence and findings by reference (storage/states.py): besides the rows it
stored itself, its parts are checked against the seal's list of them, and the rows they reference against the seal's
count and digest of what it holds; each referenced row is re-hashed once per pass, whichever run stored it.

From a checkpoint (`Checkpoint`, a file written by an earlier pass): the checkpointed run must still be where it
was with the same digest and seal; only the runs sealed after it are checked, each as above, then every signature.
A row such a run holds that the checkpointed run held too (as its seal and the parts it lists name them) is not
re-hashed: the pass that wrote the checkpoint did, and this pass treats it like the rest of the runs before the
checkpoint. It still checks that the row exists, was stored by a run sealed before, and that its row hash is the
one the later run's seal digests, so a row changed together with its row hash is caught; one whose content alone
changed is left to a full pass, as for every row before the checkpoint. A full pass (no checkpoint) checks
everything.

Interrupted runs are sealed and checked like the others; runs still running are not sealed yet, so they
are listed (by id) rather than checked, never passed over in silence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session, undefer

from . import states
from .actions import verify_actions
from .attestations import verify_attestations
from .hashing import (
    RUN_SEALED_FIELDS,
    SEAL_VERSIONS,
    blob_sha256,
    row_hash,
    row_values,
    run_metadata,
)
from .models import LATER_RUN_TABLES, RUN_TABLES, Base, EvidenceBlob, Run, RunEvidence, RunState
from .signatures import TrustedKey, verify_signatures

SEALED_STATUSES = ("completed", "failed", "interrupted")
CHECKPOINT_FORMAT = "shoko-verify-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read. The message is one line for people."""


@dataclass(frozen=True)
class Checkpoint:
    """The last run a verify pass checked: its chain position, id and digest."""

    chain_index: int
    run_id: int
    digest: str

    def dumps(self) -> str:
        doc = {"format": CHECKPOINT_FORMAT, "chain_index": self.chain_index, "run_id": self.run_id}
        return json.dumps({**doc, "digest": self.digest}, sort_keys=True) + "\n"

    @classmethod
    def read(cls, path: Path) -> Self:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
        except ValueError:
            raise CheckpointError(f"checkpoint {path} is not JSON") from None
        fields = (doc.get("chain_index"), doc.get("run_id"), doc.get("digest")) if isinstance(doc, dict) else ()
        if (
            not isinstance(doc, dict)
            or doc.get("format") != CHECKPOINT_FORMAT
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in fields[:2])
            or not isinstance(fields[2], str)
        ):
            raise CheckpointError(f"checkpoint {path} is not a {CHECKPOINT_FORMAT} document")
        return cls(int(doc["chain_index"]), int(doc["run_id"]), str(doc["digest"]))


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    runs_checked: int
    problem: str | None = None  # one line: run id, table, row id, what differs
    run_id: int | None = None
    table: str | None = None
    row_id: int | str | None = None
    interrupted: tuple[int, ...] = ()  # sealed runs whose collection was cut short (checked like the rest)
    running: tuple[int, ...] = ()  # runs not sealed yet, so not checked
    attestations_checked: int = 0  # attestation records (their own chain) and the documents they name
    actions_checked: int = 0  # records of writes made through the API (their own chain)
    signed: int = 0  # runs whose signature was verified
    unsigned: tuple[int, ...] = ()  # runs sealed before signing was configured (named, not failures)
    signed_by: tuple[str, ...] = ()  # fingerprints of the keys that signed them
    since: Checkpoint | None = None  # the checkpoint this pass started after (None: a full pass)
    last: Checkpoint | None = None  # the last run checked, for the next pass's checkpoint (None: none, or failed)


class _Problem(Exception):
    def __init__(self, run_id: int, table: str, row_id: int | str | None, what: str) -> None:
        row = f" row {row_id}" if row_id is not None else ""
        super().__init__(f"run {run_id}: {table}{row}: {what}")
        self.run_id, self.table, self.row_id = run_id, table, row_id


def verify(session: Session, trusted: TrustedKey | None = None, since: Checkpoint | None = None) -> VerifyReport:
    listed = {
        status: tuple(session.scalars(select(Run.id).where(Run.status == status).order_by(Run.id)).all())
        for status in ("interrupted", "running")
    }
    # Every run that is, or claims to be, sealed — including one whose status was reset by hand.
    sealed_ids = session.scalars(
        select(Run.id)
        .where(or_(Run.status != "running", Run.chain_index.is_not(None), Run.digest.is_not(None)))
        .order_by(Run.chain_index.is_(None), Run.chain_index, Run.id)
    ).all()
    checked = _Checked()
    prev: tuple[int, str | None] | None = None  # (id, digest) of the previous sealed run
    start = 0
    if since is not None:
        try:
            prev = _check_checkpoint(session, since, sealed_ids, checked)
        except _Problem as problem:
            return VerifyReport(
                ok=False, runs_checked=0, problem=str(problem), run_id=problem.run_id, table=problem.table,
                row_id=problem.row_id, since=since, **listed,
            )  # fmt: skip
        start = since.chain_index
    last = since
    for position, run_id in enumerate(sealed_ids[start:], start=start + 1):
        run = session.get(Run, run_id, options=[undefer(Run.seal)])
        assert run is not None
        try:
            _check_run(session, run, position, prev, checked)
        except _Problem as problem:
            return VerifyReport(
                ok=False,
                runs_checked=position - start,
                problem=str(problem),
                run_id=problem.run_id,
                table=problem.table,
                row_id=problem.row_id,
                since=since,
                **listed,
            )
        prev = (run.id, run.digest)
        last = Checkpoint(position, run.id, run.digest or "")
        session.expunge_all()  # keep memory flat on long ledgers
    runs_checked = len(sealed_ids) - start
    signatures = verify_signatures(session, trusted)
    signing = {"signed": signatures.signed, "unsigned": signatures.unsigned, "signed_by": signatures.fingerprints}
    if signatures.problem is not None:
        return VerifyReport(
            ok=False,
            runs_checked=runs_checked,
            since=since,
            problem=signatures.problem,
            run_id=signatures.run_id,
            table="run_signatures",
            **listed,
            **signing,
        )
    attested, problem = verify_attestations(session)
    acted, action_problem = verify_actions(session)
    problem = problem or action_problem
    if problem is not None:
        table = problem.split(" ", 1)[0]
        return VerifyReport(
            ok=False,
            runs_checked=runs_checked,
            since=since,
            problem=problem,
            table=table,
            attestations_checked=attested,
            actions_checked=acted,
            **listed,
            **signing,
        )
    return VerifyReport(
        ok=True,
        runs_checked=runs_checked,
        attestations_checked=attested,
        actions_checked=acted,
        since=since,
        last=last,
        **listed,
        **signing,
    )


class _Checked:
    """What this pass already re-hashed, or (from a checkpoint) the pass that wrote it: blobs, and rows (by table
    and id) whatever run stored them."""

    def __init__(self) -> None:
        self.blobs: set[str] = set()
        self.rows = _RowMarks()
        self.positions: dict[int, int | None] | None = None  # run id -> chain index, read once when needed


class _RowMarks:
    """Row ids per table, one byte per id up to the largest marked: a set of (table, id) pairs cost about 110
    bytes a row, 125 MB for the first run of a 100,000-resource estate."""

    def __init__(self) -> None:
        self._marks: dict[str, bytearray] = {}

    def add(self, table: str, row_id: int) -> None:
        marks = self._marks.setdefault(table, bytearray())
        if row_id >= len(marks):
            marks.extend(bytes(row_id + 1 - len(marks) + len(marks) // 2))  # grow by half again: few copies
        marks[row_id] = 1

    def update(self, table: str, row_ids: Iterable[int]) -> None:
        for row_id in row_ids:
            self.add(table, row_id)

    def has(self, table: str, row_id: int) -> bool:
        marks = self._marks.get(table)
        return marks is not None and 0 <= row_id < len(marks) and bool(marks[row_id])


def _check_checkpoint(session: Session, since: Checkpoint, sealed_ids: list[int], checked: _Checked) -> tuple[int, str]:
    """The checkpointed run is still at its position with its digest, and its seal still hashes to it; the rows it
    holds are marked re-hashed (`_mark_checkpointed`)."""
    if since.chain_index > len(sealed_ids):
        raise _Problem(since.run_id, "runs", since.run_id, f"checkpoint is at chain position {since.chain_index} "
                       f"but the ledger holds {len(sealed_ids)} sealed runs")  # fmt: skip
    run = session.get(Run, sealed_ids[since.chain_index - 1], options=[undefer(Run.seal)])
    assert run is not None
    if run.id != since.run_id or run.chain_index != since.chain_index:
        raise _Problem(run.id, "runs", run.id, f"chain position {since.chain_index} holds run {run.id}, "
                       f"not the checkpointed run {since.run_id}")  # fmt: skip
    if run.digest != since.digest or blob_sha256(run.seal or "") != since.digest:
        raise _Problem(run.id, "runs", run.id, "digest or seal differs from the checkpoint")
    _mark_checkpointed(session, run, checked)
    return run.id, since.digest


def _mark_checkpointed(session: Session, run: Run, checked: _Checked) -> None:
    """Mark re-hashed the evidence and findings rows the checkpointed run held: the pass that wrote the checkpoint
    re-hashed them. They are named by its seal (which hashes to the checkpoint's digest) and the parts it lists
    (each against its SHA-256 there), never by a row's run id, which a writer of the database could change to pass
    a newer row off as an older one."""
    seal = _load_seal(run)
    tables = {model.__tablename__ for model in states.STATE_TABLES}
    for table, pairs in seal["rows"].items():
        if table in tables and isinstance(pairs, list):
            checked.rows.update(table, (pair[0] for pair in pairs if isinstance(pair, list) and pair))
    for part in _sealed_parts(session, run, seal):
        checked.rows.update(part.table_name, _part_row_ids(run, part))


def _sealed_parts(session: Session, run: Run, seal: dict[str, Any]) -> list[RunState]:
    """The run's parts, each as its seal lists it (a version 1 seal lists none)."""
    stored = states.parts(session, run.id)
    if seal["version"] == 1:
        if stored:
            raise _Problem(run.id, "run_states", None, "parts were added to a run sealed without any")
        return stored
    sealed_parts = seal.get("parts")
    if not isinstance(sealed_parts, list):
        raise _Problem(run.id, "runs", run.id, "seal document has an unexpected shape")
    expected: dict[Any, list[Any]] = {}
    for entry in sealed_parts:
        if not (isinstance(entry, list) and len(entry) == 4):
            raise _Problem(run.id, "runs", run.id, "seal document has a malformed run_states entry")
        expected[entry[0]] = entry
    actual = {p.id: [p.id, p.table_name, p.entries, states.part_sha256(p.content)] for p in stored}
    for part_id in sorted(expected.keys() | actual.keys()):
        if part_id not in actual:
            raise _Problem(run.id, "run_states", part_id, "part was deleted (it is listed in the run's seal)")
        if part_id not in expected:
            raise _Problem(run.id, "run_states", part_id, "part was added after the run was sealed")
        if expected[part_id] != actual[part_id]:
            raise _Problem(run.id, "run_states", part_id, "content changed after it was sealed")
    return stored


def _part_row_ids(run: Run, part: RunState) -> Sequence[int]:
    try:
        return states.part_row_ids(part.content)
    except states.StateError as exc:
        raise _Problem(run.id, "run_states", part.id, str(exc)) from None


def _check_run(
    session: Session, run: Run, position: int, prev: tuple[int, str | None] | None, checked: _Checked
) -> None:
    seal = _load_seal(run)
    # Version 3 lists a run's own rows only where its parts do not hold them: those its parts hold are checked
    # with the parts, first, so that what is left to list is known.
    held = _check_state(session, run, seal, checked) if seal["version"] >= 3 else {}
    for model in RUN_TABLES:
        table = model.__tablename__
        rows = _load_rows(session, run, model, held.get(table))
        for obj in rows:
            if row_hash(model, row_values(obj)) != obj.row_hash:
                raise _Problem(run.id, table, obj.id, "content changed after it was stored (row hash mismatch)")
        if model is RunEvidence:
            _check_blobs(session, run, [obj.sha256 for obj in rows], checked.blobs)
        # A table added by a later migration is absent from older seals: no rows then.
        sealed = seal["rows"].get(table, [] if table in LATER_RUN_TABLES else None)
        _check_manifest(run, table, sealed, [(obj.id, obj.row_hash) for obj in rows])
        if model in states.STATE_TABLES:
            checked.rows.update(table, (obj.id for obj in rows))
    if seal["version"] == 1:
        _sealed_parts(session, run, seal)
    elif seal["version"] == 2:
        _check_state(session, run, seal, checked)

    actual = run_metadata(run)
    for name in RUN_SEALED_FIELDS:
        if seal["run"].get(name) != actual[name]:
            raise _Problem(
                run.id,
                "runs",
                run.id,
                f"{name} is {actual[name]!r} but was sealed as {seal['run'].get(name)!r}",
            )
    if blob_sha256(run.seal or "") != run.digest:
        raise _Problem(run.id, "runs", run.id, "seal document no longer hashes to the run's digest")

    if run.chain_index != position:
        raise _Problem(
            run.id,
            "runs",
            run.id,
            f"chain position is {run.chain_index}, expected {position}: a sealed run before it is missing",
        )
    expected_prev = prev[1] if prev is not None else None
    if run.prev_digest != expected_prev:
        before = f"run {prev[0]}" if prev is not None else "no earlier run"
        raise _Problem(
            run.id, "runs", run.id, f"prev_digest does not match the digest of the previous sealed run ({before})"
        )


def _load_seal(run: Run) -> dict[str, Any]:
    if run.status not in SEALED_STATUSES:
        raise _Problem(run.id, "runs", run.id, f"status is {run.status!r} but the run was sealed")
    if not run.seal or not run.digest:
        raise _Problem(run.id, "runs", run.id, "run is marked sealed but has no seal document or digest")
    try:
        seal = json.loads(run.seal)
    except ValueError:
        raise _Problem(run.id, "runs", run.id, "seal document is not valid JSON") from None
    if (
        not isinstance(seal, dict)
        or seal.get("version") not in SEAL_VERSIONS
        or not isinstance(seal.get("run"), dict)
        or not isinstance(seal.get("rows"), dict)
    ):
        raise _Problem(run.id, "runs", run.id, "seal document has an unexpected shape")
    return seal


def _load_rows(session: Session, run: Run, model: type[Base], held: states.OwnHeld | None = None) -> list[Any]:
    """The rows the run stored itself in `model`, in id order; with `held`, only those its parts do not hold."""
    table = model.__table__
    query = select(model).where(table.c.run_id == run.id).order_by(table.c.id)
    if held is not None:
        ids = [row_id for row_id, _ in states.own_pairs(session, model, run.id) if row_id not in held]
        if not ids:
            return []
        query = select(model).where(states.among(session, table.c.id, ids)).order_by(table.c.id)
    try:
        return list(session.scalars(query).all())
    except (ValueError, TypeError):
        pass
    # A hand-edited value the column type cannot even parse (bad JSON, bad timestamp): find its row.
    for row_id in session.scalars(select(table.c.id).where(table.c.run_id == run.id).order_by(table.c.id)).all():
        try:
            session.scalars(select(model).where(table.c.id == row_id)).one()
        except (ValueError, TypeError) as exc:
            raise _Problem(run.id, model.__tablename__, row_id, f"row cannot be read: {exc}") from None
    raise _Problem(run.id, model.__tablename__, None, "rows cannot be read")


def _check_blobs(session: Session, run: Run, shas: Iterable[str], checked: set[str]) -> None:
    todo = sorted(set(shas) - checked)
    for start in range(0, len(todo), 500):
        chunk = todo[start : start + 500]
        query = select(EvidenceBlob.sha256, EvidenceBlob.content).where(
            states.among(session, EvidenceBlob.sha256, chunk)
        )
        stored: dict[str, str] = {sha: content for sha, content in session.execute(query)}
        for sha in chunk:
            if sha not in stored:
                raise _Problem(run.id, "evidence_blobs", sha, "blob referenced by run_evidence is missing")
            if blob_sha256(stored[sha]) != sha:
                raise _Problem(run.id, "evidence_blobs", sha, "content no longer hashes to its sha256")
            checked.add(sha)


def _check_manifest(run: Run, table: str, sealed: Any, present: list[tuple[int, str]]) -> None:
    if not isinstance(sealed, list):
        raise _Problem(run.id, "runs", run.id, f"seal document lists no {table} rows")
    expected: dict[int, str] = {}
    for entry in sealed:
        if not (isinstance(entry, list) and len(entry) == 2):
            raise _Problem(run.id, "runs", run.id, f"seal document has a malformed {table} entry")
        expected[entry[0]] = entry[1]
    actual = dict(present)
    for row_id in sorted(expected.keys() | actual.keys()):
        if row_id not in actual:
            raise _Problem(run.id, table, row_id, "row was deleted (it is listed in the run's seal)")
        if row_id not in expected:
            raise _Problem(run.id, table, row_id, "row was added after the run was sealed")
        if expected[row_id] != actual[row_id]:
            raise _Problem(run.id, table, row_id, "row and its row hash were both changed after sealing")


def _check_state(session: Session, run: Run, seal: dict[str, Any], checked: _Checked) -> dict[str, states.OwnHeld]:
    """Versions 2 and 3: the run's parts against the seal's list, and the rows they reference against its digests.
    Returns, per table, which of the run's own rows its parts hold."""
    sealed_state = seal.get("state")
    if not isinstance(sealed_state, dict):
        raise _Problem(run.id, "runs", run.id, "seal document has an unexpected shape")
    stored = _sealed_parts(session, run, seal)
    held: dict[str, states.OwnHeld] = {}
    for model in states.STATE_TABLES:
        table = model.__tablename__
        held[table] = states.OwnHeld(session, model, run.id)
        ids: list[int] = []
        for part in stored:
            if part.table_name == table:
                ids.extend(held[table].marking(_part_row_ids(run, part)))
        if [*_check_held_rows(session, run, model, ids, checked)] != sealed_state.get(table):
            raise _Problem(
                run.id,
                table,
                None,
                "the rows the run holds differ from its seal's digest of them "
                "(a row and its row hash changed together, or a row was put in another's place)",
            )
    return held


def _check_held_rows(
    session: Session, run: Run, model: type[Base], ids: list[int], checked: _Checked
) -> tuple[int, str]:
    """Each row the run holds (`ids`, in its order) exists, was stored by this run or one sealed before it, and
    (once per pass) still hashes to its row hash; returns the count and digest of their (row id, row hash) pairs.
    A chunk of rows at a time: a first run at 100,000 resources holds over a million."""
    table = model.__tablename__
    if checked.positions is None:
        checked.positions = {rid: index for rid, index in session.execute(select(Run.id, Run.chain_index))}
    positions = checked.positions
    own, at = run.id, run.chain_index  # read once: an attribute of a mapped object costs a call each time

    def pairs() -> Iterator[tuple[int, str]]:
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            wanted = sorted(set(chunk))
            todo = [row_id for row_id in wanted if not checked.rows.has(table, row_id)]
            try:
                stored = states.load_rows(session, model, todo)
            except (ValueError, TypeError) as exc:
                raise _Problem(run.id, table, None, f"a row held by the run cannot be read: {exc}") from None
            meta = _owners_and_hashes(session, model, [row_id for row_id in wanted if row_id not in stored])
            meta.update((row_id, (values["run_id"], values["row_hash"])) for row_id, values in stored.items())
            for row_id in wanted:
                if row_id not in meta:
                    raise _Problem(run.id, table, row_id, "row was deleted (the run's parts hold it)")
                owner = meta[row_id][0]
                position = positions.get(owner) if owner != own else at
                if owner != own and (position is None or at is None or position >= at):
                    raise _Problem(
                        run.id, table, row_id, f"row held by the run was stored by run {owner}, not sealed before it"
                    )
            for row_id in todo:
                values = stored[row_id]
                if row_hash(model, values) != values["row_hash"]:
                    raise _Problem(run.id, table, row_id, "content changed after it was stored (row hash mismatch)")
                checked.rows.add(table, row_id)
            if model is RunEvidence:
                _check_blobs(session, run, [stored[row_id]["sha256"] for row_id in todo], checked.blobs)
            yield from ((row_id, meta[row_id][1]) for row_id in chunk)

    return states.state_digest(pairs())


def _owners_and_hashes(session: Session, model: type[Base], row_ids: list[int]) -> dict[int, tuple[int, str]]:
    """(run id, row hash) of each of `row_ids` that is stored. The ids are written into the statement (each made an
    int here): a parameter bound per id cost most of a checkpointed pass's time at 100,000 resources."""
    if not row_ids:
        return {}
    listed = ",".join(str(int(row_id)) for row_id in row_ids)
    query = text(f"SELECT id, run_id, row_hash FROM {model.__tablename__} WHERE id IN ({listed})")
    return {row_id: (owner, hashed) for row_id, owner, hashed in session.execute(query).all()}
