"""Run signatures: each sealed run's digest signed with the installation's Ed25519 key (`shoko keys create`).

The hash chain shows any edit, but someone with database rights could rewrite a run and recompute every seal
after it. The signature is what they cannot recompute without the private key, which the database never holds:
with signing on, a run re-sealed after it was signed, or whose signature was removed, fails `verify`.

What is signed is `shoko-run-digest/1 <run id> <chain index> <digest>` (UTF-8). The same statement, with its
signature, is the *anchor* published outside the database (storage/anchors.py).
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from reports.bundle import fingerprint, normalise_fingerprint

from .models import Run, RunSignature

ALGORITHM = "ed25519"
STATEMENT = "shoko-run-digest/1"
ANCHOR_FORMAT = "shoko-anchor/1"
UNSIGNED_BEFORE = "unsigned (sealed before signing was configured)"


def signed_message(run_id: int, chain_index: int, digest: str) -> bytes:
    return f"{STATEMENT} {run_id} {chain_index} {digest}".encode()


def raw_public_key(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


@dataclass(frozen=True)
class RunSigner:
    """The installation's private key, given to the ledger that seals runs."""

    key: Ed25519PrivateKey

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key.public_key())

    def sign(self, run_id: int, chain_index: int, digest: str) -> str:
        return base64.b64encode(self.key.sign(signed_message(run_id, chain_index, digest))).decode()


@dataclass(frozen=True)
class TrustedKey:
    """What a run's signature must have been made with: the vendor's public key, or its fingerprint."""

    fingerprint: str
    public_key: Ed25519PublicKey | None = None

    @classmethod
    def of(cls, key: Ed25519PublicKey) -> TrustedKey:
        return cls(fingerprint(key), key)

    def accepts(self, key_fingerprint: str) -> bool:
        return normalise_fingerprint(self.fingerprint) == normalise_fingerprint(key_fingerprint)


@dataclass(frozen=True)
class Anchor:
    """One sealed run's signed digest, as published outside the database (one JSON line)."""

    run_id: int
    chain_index: int
    digest: str
    prev_digest: str | None
    status: str
    finished_at: str
    algorithm: str
    public_key: str
    key_fingerprint: str
    signature: str

    def as_dict(self) -> dict[str, Any]:
        return {"format": ANCHOR_FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Any) -> Anchor:
        """Raises ValueError (one line) on anything but an anchor document."""
        if not isinstance(data, dict) or data.get("format") != ANCHOR_FORMAT:
            raise ValueError(f"not a {ANCHOR_FORMAT} document")
        names = {f: data.get(f) for f in cls.__dataclass_fields__}
        ints = ("run_id", "chain_index")
        for name, value in names.items():
            wanted: type | tuple[type, ...] = int if name in ints else str
            if name == "prev_digest":
                wanted = (str, type(None))
            if not isinstance(value, wanted) or isinstance(value, bool):
                raise ValueError(f"field {name!r} is missing or not a {'number' if name in ints else 'string'}")
        return cls(**names)

    def problem(self) -> str | None:
        """Why the signature does not hold for this anchor's own statement, or None."""
        return signature_problem(
            self.algorithm,
            self.public_key,
            self.key_fingerprint,
            self.signature,
            self.run_id,
            self.chain_index,
            self.digest,
        )


def signature_problem(
    algorithm: str, public_key: str, key_fingerprint: str, signature: str, run_id: int, chain_index: int, digest: str
) -> str | None:
    if algorithm != ALGORITHM:
        return f"algorithm {algorithm!r} is not {ALGORITHM}"
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        raw_signature = base64.b64decode(signature, validate=True)
    except ValueError:
        return "the public key or the signature is not valid base64 of an Ed25519 key and signature"
    if fingerprint(key) != key_fingerprint:
        return "the key fingerprint is not that of the public key stored with it"
    try:
        key.verify(raw_signature, signed_message(run_id, chain_index, digest))
    except InvalidSignature:
        return "the signature does not match the run's id, chain position and digest"
    return None


def sign_run(session: Session, run: Run, signer: RunSigner, at: datetime) -> Anchor:
    """Store the signature of a run just sealed (same transaction as the seal); returns its anchor."""
    assert run.digest is not None and run.chain_index is not None and run.finished_at is not None
    row = RunSignature(
        run_id=run.id,
        digest=run.digest,
        algorithm=ALGORITHM,
        public_key=raw_public_key(signer.key.public_key()),
        key_fingerprint=signer.fingerprint,
        signature=signer.sign(run.id, run.chain_index, run.digest),
        signed_at=at,
    )
    session.add(row)
    session.flush()
    return anchor_of(run, row)


def anchor_of(run: Run, row: RunSignature) -> Anchor:
    assert run.chain_index is not None and run.finished_at is not None
    return Anchor(
        run_id=run.id,
        chain_index=run.chain_index,
        digest=row.digest,
        prev_digest=run.prev_digest,
        status=run.status,
        finished_at=run.finished_at.isoformat(),
        algorithm=row.algorithm,
        public_key=row.public_key,
        key_fingerprint=row.key_fingerprint,
        signature=row.signature,
    )


@dataclass(frozen=True)
class SignatureCheck:
    signed: int
    unsigned: tuple[int, ...]  # runs sealed before signing was configured (named, not failures)
    problem: str | None = None
    run_id: int | None = None
    fingerprints: tuple[str, ...] = ()  # the keys the runs were signed with


def verify_signatures(session: Session, trusted: TrustedKey | None) -> SignatureCheck:
    """Every sealed run's signature, in chain order (the chain itself already verified). An unsigned run is
    accepted only before the first signed one: later, its signature was removed or signing was turned off."""
    rows = {row.run_id: row for row in session.scalars(select(RunSignature))}
    runs = session.execute(
        select(Run.id, Run.chain_index, Run.digest).where(Run.chain_index.is_not(None)).order_by(Run.chain_index)
    ).all()
    unsigned: list[int] = []
    first_signed: int | None = None
    keys: dict[str, None] = {}

    def fail(run_id: int, what: str) -> SignatureCheck:
        return SignatureCheck(signed, tuple(unsigned), f"run {run_id}: run_signatures: {what}", run_id)

    signed = 0
    for run_id, chain_index, digest in runs:
        row = rows.pop(run_id, None)
        if row is None:
            if first_signed is not None:
                return fail(
                    run_id,
                    f"unsigned, but run {first_signed} before it was signed: its signature was removed or signing "
                    "was turned off",
                )
            unsigned.append(run_id)
            continue
        first_signed = first_signed or run_id
        if row.digest != digest:
            return fail(run_id, "the run's digest is not the one signed: the run was re-sealed after it was signed")
        why = signature_problem(
            row.algorithm, row.public_key, row.key_fingerprint, row.signature, run_id, chain_index, digest
        )
        if why is not None:
            return fail(run_id, why)
        if trusted is not None and not trusted.accepts(row.key_fingerprint):
            return fail(run_id, f"signed by key {row.key_fingerprint}, not the configured key {trusted.fingerprint}")
        keys[row.key_fingerprint] = None
        signed += 1
    if rows:
        orphan = min(rows)
        return SignatureCheck(
            signed, tuple(unsigned), f"run {orphan}: run_signatures: signs a run that is not sealed", orphan
        )
    return SignatureCheck(signed, tuple(unsigned), fingerprints=tuple(keys))
