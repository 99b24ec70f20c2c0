"""Anchors: each sealed run's signed digest kept outside the database, and the comparison with the ledger.

The file form is append-only JSON lines, one anchor (storage/signatures.Anchor) per line; the Blob container form
(collector/anchor_blob.py, one blob per anchor) reads into the same `Published`. Whoever rewrites the ledger cannot
rewrite what was published elsewhere: `compare` names every ledger run whose anchor is missing or different, every
anchored run the ledger no longer holds, and every anchor whose signature does not hold.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .signatures import UNSIGNED_BEFORE, Anchor, TrustedKey


class AnchorError(ValueError):
    """An anchors file that cannot be read or written; str() is one line."""


def encode(anchor: Anchor) -> str:
    """An anchor as published: compact JSON, keys sorted (a line of the file, the body of a blob)."""
    return json.dumps(anchor.as_dict(), sort_keys=True, separators=(",", ":"))


def append(path: Path, anchor: Anchor) -> None:
    """One line at the end of the file, flushed to disk before returning."""
    line = encode(anchor) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise AnchorError(f"anchors file {path}: cannot append: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class Published:
    anchors: tuple[tuple[str, Anchor], ...]  # (where it was read: "anchor line 3", "anchor blob runs/...", anchor)
    unreadable: tuple[str, ...]  # one line per line (or blob) that is not an anchor


def read(path: Path) -> Published:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnchorError(f"anchors file {path}: not found") from None
    except IsADirectoryError:
        raise AnchorError(f"anchors file {path}: is a directory") from None
    except UnicodeDecodeError as exc:
        raise AnchorError(f"anchors file {path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise AnchorError(f"anchors file {path}: cannot read: {exc.strerror or exc}") from None
    anchors, unreadable = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            anchors.append((f"anchor line {number}", Anchor.from_dict(json.loads(line))))
        except ValueError as exc:
            unreadable.append(f"{path}:{number}: not an anchor ({exc})")
    return Published(tuple(anchors), tuple(unreadable))


@dataclass(frozen=True)
class LedgerRun:
    """What the comparison needs of one sealed run."""

    id: int
    chain_index: int
    digest: str
    signed: bool


@dataclass(frozen=True)
class Comparison:
    matched: tuple[int, ...]
    problems: tuple[str, ...]  # one line each: missing, different, unsigned, removed, forged, unreadable
    before_signing: tuple[int, ...]  # sealed before signing was configured: named, not failures

    @property
    def ok(self) -> bool:
        return not self.problems


def compare(runs: Iterable[LedgerRun], published: Published, trusted: TrustedKey | None) -> Comparison:
    """Every sealed run (chain order) against the anchors. Unsigned runs before the first signed one are named
    as sealed before signing; from the first signed run on, every run must be signed and anchored alike."""
    problems = list(published.unreadable)
    by_run: dict[int, Anchor] = {}
    for place, anchor in published.anchors:
        where = f"{place} (run {anchor.run_id})"
        if (why := anchor.problem()) is not None:
            problems.append(f"{where}: {why} (forged or damaged anchor)")
            continue
        if trusted is not None and not trusted.accepts(anchor.key_fingerprint):
            problems.append(f"{where}: signed by key {anchor.key_fingerprint}, not the configured key")
            continue
        seen = by_run.get(anchor.run_id)
        if seen is not None and seen.digest != anchor.digest:
            problems.append(f"{where}: a second, different digest for run {anchor.run_id}")
            continue
        by_run[anchor.run_id] = anchor
    matched: list[int] = []
    before: list[int] = []
    signing_began = False
    for run in runs:
        anchor = by_run.pop(run.id, None)
        signing_began = signing_began or run.signed or anchor is not None
        if anchor is None:
            if not signing_began:
                before.append(run.id)
            elif not run.signed:
                problems.append(f"run {run.id}: unsigned, and no anchor was published for it")
            else:
                problems.append(f"run {run.id}: missing from the anchors (its signed digest was never published)")
            continue
        if (anchor.digest, anchor.chain_index) != (run.digest, run.chain_index):
            problems.append(
                f"run {run.id}: different: the ledger holds digest {run.digest[:16]} at chain position "
                f"{run.chain_index}, the anchor {anchor.digest[:16]} at {anchor.chain_index} (rewritten)"
            )
        elif not run.signed:
            problems.append(f"run {run.id}: unsigned in the ledger, but its anchor is signed (signature removed)")
        else:
            matched.append(run.id)
    for run_id in sorted(by_run):
        problems.append(f"run {run_id}: anchored, but the ledger holds no such sealed run (removed)")
    return Comparison(tuple(matched), tuple(problems), tuple(before))


__all__ = [
    "UNSIGNED_BEFORE",
    "AnchorError",
    "Comparison",
    "LedgerRun",
    "Published",
    "append",
    "compare",
    "encode",
    "read",
]
