"""What a run's judgement depends on besides its evidence, as digests a run records and a re-judgement compares.

`rules_sha256` covers the rules themselves: every check, the engine, the profiles and the data they read (the
files of this package); `catalog_sha256` the requirement catalog a run was judged against (its file, or its
requirements when built in memory). Equal digests mean the same evidence must give the same findings and
verdicts, so a difference is the stored data's, not the rules'.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).parent
_RULE_FILES = ("*.py", "*.yaml")


@cache
def rules_sha256() -> str:
    digest = hashlib.sha256()
    files = sorted({p for pattern in _RULE_FILES for p in _PACKAGE.rglob(pattern) if "__pycache__" not in p.parts})
    for path in files:
        digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def catalog_sha256(catalog: Iterable[object]) -> str:
    source = getattr(catalog, "source", None)
    if source is not None:
        return hashlib.sha256(Path(source).read_bytes()).hexdigest()
    return hashlib.sha256("\n".join(repr(r) for r in catalog).encode()).hexdigest()
