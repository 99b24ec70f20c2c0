"""Re-check every sealed run against its seal and the hash chain, oldest first.

Per run, in this order, stopping at the first difference:
1. each row's content against the `row_hash` stored when it was inserted (names the row), and each
   evidence blob's stored text against its SHA-256;
2. the rows present against the seal's list of (row id, row hash): deleted, added, re-hashed rows;
3. the run's own columns against the sealed copy of them;
4. the seal document against the run's digest;
5. the chain: position and `prev_digest` against the previous sealed run.
Then each run's signature (storage/signatures.py), against the trusted key when one is given.

Interrupted runs are sealed and checked like the others; runs still running are not sealed yet, so they
are listed (by id) rather than checked, never passed over in silence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, undefer

from .actions import verify_actions
from .attestations import verify_attestations
from .hashing import (
    RUN_SEALED_FIELDS,
    SEAL_VERSION,
    blob_sha256,
    row_hash,
    row_values,
    run_metadata,
)
from .models import LATER_RUN_TABLES, RUN_TABLES, Base, EvidenceBlob, Run, RunEvidence
from .signatures import TrustedKey, verify_signatures

SEALED_STATUSES = ("completed", "failed", "interrupted")


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


class _Problem(Exception):
    def __init__(self, run_id: int, table: str, row_id: int | str | None, what: str) -> None:
        row = f" row {row_id}" if row_id is not None else ""
        super().__init__(f"run {run_id}: {table}{row}: {what}")
        self.run_id, self.table, self.row_id = run_id, table, row_id


def verify(session: Session, trusted: TrustedKey | None = None) -> VerifyReport:
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
    checked_blobs: set[str] = set()
    prev: tuple[int, str | None] | None = None  # (id, digest) of the previous sealed run
    for position, run_id in enumerate(sealed_ids, start=1):
        run = session.get(Run, run_id, options=[undefer(Run.seal)])
        assert run is not None
        try:
            _check_run(session, run, position, prev, checked_blobs)
        except _Problem as problem:
            return VerifyReport(
                ok=False,
                runs_checked=position,
                problem=str(problem),
                run_id=problem.run_id,
                table=problem.table,
                row_id=problem.row_id,
                **listed,
            )
        prev = (run.id, run.digest)
        session.expunge_all()  # keep memory flat on long ledgers
    signatures = verify_signatures(session, trusted)
    signing = {"signed": signatures.signed, "unsigned": signatures.unsigned, "signed_by": signatures.fingerprints}
    if signatures.problem is not None:
        return VerifyReport(
            ok=False,
            runs_checked=len(sealed_ids),
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
            runs_checked=len(sealed_ids),
            problem=problem,
            table=table,
            attestations_checked=attested,
            actions_checked=acted,
            **listed,
            **signing,
        )
    return VerifyReport(
        ok=True,
        runs_checked=len(sealed_ids),
        attestations_checked=attested,
        actions_checked=acted,
        **listed,
        **signing,
    )


def _check_run(
    session: Session, run: Run, position: int, prev: tuple[int, str | None] | None, checked_blobs: set[str]
) -> None:
    seal = _load_seal(run)
    for model in RUN_TABLES:
        table = model.__tablename__
        rows = _load_rows(session, run, model)
        for obj in rows:
            if row_hash(model, row_values(obj)) != obj.row_hash:
                raise _Problem(run.id, table, obj.id, "content changed after it was stored (row hash mismatch)")
        if model is RunEvidence:
            _check_blobs(session, run, [obj.sha256 for obj in rows], checked_blobs)
        # A table added by a later migration is absent from older seals: no rows then.
        sealed = seal["rows"].get(table, [] if table in LATER_RUN_TABLES else None)
        _check_manifest(run, table, sealed, [(obj.id, obj.row_hash) for obj in rows])

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
        or seal.get("version") != SEAL_VERSION
        or not isinstance(seal.get("run"), dict)
        or not isinstance(seal.get("rows"), dict)
    ):
        raise _Problem(run.id, "runs", run.id, "seal document has an unexpected shape")
    return seal


def _load_rows(session: Session, run: Run, model: type[Base]) -> list[Any]:
    table = model.__table__
    try:
        return list(session.scalars(select(model).where(table.c.run_id == run.id).order_by(table.c.id)).all())
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
        query = select(EvidenceBlob.sha256, EvidenceBlob.content).where(EvidenceBlob.sha256.in_(chunk))
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
