"""What exactly is hashed: one row, and the seal of a whole run.

Both sides — the ledger when it inserts or seals, and `verify` when it re-reads — build the same
documents from column values, so a hash mismatch always means the stored data changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from controls.model import canonical_text, sha256_of

from .models import LATER_COLUMNS, Base, Run

# 1: metadata + every row the run owns. 2: also the run's parts (storage/states.py) and, per table held by
# reference, the count and digest of the rows it holds — not a list of them. 3: as 2, but the rows it owns are
# listed only where its parts do not hold them (the digest covers the others). Old seals verify by their rule.
SEAL_VERSION = 3
SEAL_VERSIONS = (1, 2, 3)
NOT_HASHED = frozenset({"id", "row_hash"})

# The run columns covered by the seal; `seal` and `digest` are its output, not its input.
RUN_SEALED_FIELDS: tuple[str, ...] = (
    "id",
    "chain_index",
    "started_at",
    "finished_at",
    "status",
    "error",
    "agent_version",
    "config_digest",
    "scope",
    "prev_digest",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


@cache
def hashed_columns(model: type[Base]) -> list[str]:
    return [c.name for c in model.__table__.columns if c.name not in NOT_HASHED]


def row_hash(model: type[Base], values: Mapping[str, Any]) -> str:
    """SHA-256 over the table name and every content column (not the database-assigned id); a later column
    left NULL by a row stored before it existed is not part of that row's content."""
    later = LATER_COLUMNS.get(model.__tablename__, frozenset())
    row = {
        name: _plain(values.get(name) if name in later else values[name])
        for name in hashed_columns(model)
        if not (name in later and values.get(name) is None)
    }
    return sha256_of({"table": model.__tablename__, "row": row})


def row_values(obj: Base) -> dict[str, Any]:
    return {c.name: getattr(obj, c.key) for c in obj.__table__.columns}


def blob_sha256(content_text: str) -> str:
    """The hash of a stored blob: its exact stored bytes, not a re-serialisation."""
    return hashlib.sha256(content_text.encode()).hexdigest()


def run_metadata(run: Run) -> dict[str, Any]:
    return {name: _plain(getattr(run, name)) for name in RUN_SEALED_FIELDS}


def seal_document(
    run: Run,
    rows: Mapping[str, Sequence[Sequence[Any]]],
    held: Mapping[str, Any] | None = None,
    version: int = SEAL_VERSION,
) -> str:
    """Canonical JSON of the run metadata plus, per table, the ordered [row id, row hash] pairs of rows the run
    stored itself; with `held` (version 2 and later), its parts and the digests of the rows they hold."""
    if held is None:
        doc = {"version": 1, "run": run_metadata(run), "rows": dict(rows)}
    else:
        doc = {"version": version, "run": run_metadata(run), "rows": dict(rows), **held}
    # canonical_json's text, made once: it is hashed and stored as it is.
    return canonical_text(doc)
