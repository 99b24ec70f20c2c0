"""Attestations: a person's signed-off statement for what no Azure API shows (a policy, a training record, a
restore test), with its owner, dates and documents.

An attestation covers requirement numbers from `attested_on` to `valid_until` (inclusive). The engine reads
the attestations stored in the ledger as evidence of kind "attestation": a valid one turns a `manual`
requirement `attested`, and a `partial` one whose checks all pass `pass`; a lapsed one makes them
`expired`. A supporting or deciding check that fails still decides: a statement cannot outvote evidence.

Import files (`shoko attest import FILE`) are YAML (`attestations: [...]`) or CSV with the same fields;
see README "Attestations".
"""

from __future__ import annotations

import csv
import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from controls.model import Evidence

KIND = "attestation"  # the fact kind attestation records take in a run's evidence
FORMAT = "shoko-attestation/1"
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
# What auditors are handed: documents, spreadsheets, scans and screenshots, plain text.
DOCUMENT_TYPES = {
    ".pdf": "application/pdf",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".txt": "text/plain",
    ".csv": "text/csv",
}
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FIELDS = (
    "id",
    "requirements",
    "owner",
    "attested_on",
    "valid_until",
    "statement_ja",
    "statement_en",
    "documents",
    "justifies",
)
# What an attestation may justify instead of cover: "tls1.2" — a TLS 1.2 minimum where TLS 1.3 is difficult,
# which the mhlw6 profile accepts only with such a recorded justification (controls.profiles).
JUSTIFICATIONS = ("tls1.2",)


class _SheetLoader(yaml.SafeLoader):
    """YAML as people write sheets: only true/false are booleans (a statement "yes" or "no" stays text) and
    dates stay text until validated here."""


_SheetLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SheetLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class AttestationError(ValueError):
    """An attestation that cannot be recorded; str() is one line saying what and where."""


@dataclass(frozen=True)
class Document:
    name: str  # the file name as given (no directories)
    media_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Revocation:
    revoked_by: str
    revoked_at: datetime
    reason: str


@dataclass(frozen=True)
class Attestation:
    id: str
    requirements: tuple[int, ...]
    owner: str
    attested_on: date
    valid_until: date
    statement_ja: str
    statement_en: str
    documents: tuple[Document, ...] = ()
    recorded_by: str = ""
    recorded_at: datetime | None = None
    revoked: Revocation | None = field(default=None, compare=False)
    # A justification (JUSTIFICATIONS) for the requirements' findings rather than a statement that covers
    # them: it never turns a requirement attested or pass by itself.
    justifies: tuple[str, ...] = ()

    def state(self, on: date) -> str:
        """`valid`, `expired`, `not_yet` (attested_on is later) or `revoked`, on a given day."""
        if self.revoked is not None:
            return "revoked"
        if on < self.attested_on:
            return "not_yet"
        return "valid" if on <= self.valid_until else "expired"

    def content(self) -> dict[str, Any]:
        """The record as stored and hashed (the revocation is a record of its own)."""
        return {
            "format": FORMAT,
            "id": self.id,
            "requirements": list(self.requirements),
            "owner": self.owner,
            "attested_on": self.attested_on.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "statement_ja": self.statement_ja,
            "statement_en": self.statement_en,
            "documents": [
                {"name": d.name, "media_type": d.media_type, "size": d.size, "sha256": d.sha256} for d in self.documents
            ],
            "recorded_by": self.recorded_by,
            "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
            # Only when given, so records made before the field existed keep their content and hash.
            **({"justifies": list(self.justifies)} if self.justifies else {}),
        }

    @classmethod
    def from_content(cls, c: Mapping[str, Any]) -> Attestation:
        return cls(
            id=str(c["id"]),
            requirements=tuple(int(n) for n in c["requirements"]),
            owner=str(c["owner"]),
            attested_on=date.fromisoformat(c["attested_on"]),
            valid_until=date.fromisoformat(c["valid_until"]),
            statement_ja=str(c["statement_ja"]),
            statement_en=str(c["statement_en"]),
            documents=tuple(Document(**d) for d in c.get("documents") or ()),
            recorded_by=str(c.get("recorded_by") or ""),
            recorded_at=datetime.fromisoformat(c["recorded_at"]) if c.get("recorded_at") else None,
            justifies=tuple(str(j) for j in c.get("justifies") or ()),
        )

    def with_revocation(self, revocation: Revocation | None) -> Attestation:
        return replace(self, revoked=revocation)


@dataclass(frozen=True)
class Draft:
    """An attestation as a person wrote it, before its documents are read and it is recorded."""

    id: str | None
    requirements: tuple[int, ...]
    owner: str
    attested_on: date
    valid_until: date
    statement_ja: str
    statement_en: str
    document_paths: tuple[Path, ...]
    where: str  # "file.yaml: attestations[2]", for error lines
    justifies: tuple[str, ...] = ()


def parse_requirements(value: Any, where: str, known: Iterable[int] = range(1, 183)) -> tuple[int, ...]:
    """`[1, 2]`, `"1,2"`, `"1;2"` or `"96-97"` as sorted, distinct requirement numbers in the catalog."""
    items: list[Any] = value if isinstance(value, list) else re.split(r"[,;\s]+", str(value or "").strip())
    numbers: set[int] = set()
    valid = set(known)
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        m = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", text)
        if not m:
            raise AttestationError(f"{where}: requirements: {text!r} is not a number or range such as 96-97")
        low, high = int(m.group(1)), int(m.group(2) or m.group(1))
        if low > high:
            raise AttestationError(f"{where}: requirements: range {text!r} runs backwards")
        if high - low >= len(valid):  # more numbers than the catalog holds: not expanded (1-99999999999)
            first = next(n for n in range(low, high + 1) if n not in valid)
            raise AttestationError(f"{where}: requirements: No {first} is not in the catalog (No 1–{max(valid)})")
        numbers.update(range(low, high + 1))
    if not numbers:
        raise AttestationError(f"{where}: requirements: give at least one requirement number")
    unknown = sorted(numbers - valid)
    if unknown:
        raise AttestationError(f"{where}: requirements: No {unknown[0]} is not in the catalog (No 1–{max(valid)})")
    return tuple(sorted(numbers))


def _date(value: Any, key: str, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise AttestationError(f"{where}: {key}: {value!r} is not a date such as 2026-04-01") from None


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise AttestationError(f"{where}: {key} is missing (a non-empty text)")
    return value.strip()


def draft(entry: Mapping[str, Any], where: str, base: Path, known: Iterable[int] = range(1, 183)) -> Draft:
    """Validate one attestation as written (a YAML mapping, a CSV row, or command-line options)."""
    unknown = [k for k in entry if k not in FIELDS]
    if unknown:
        raise AttestationError(f"{where}: unknown field {unknown[0]!r} (allowed: {', '.join(FIELDS)})")
    att_id = entry.get("id")
    if att_id is not None and (not isinstance(att_id, str) or not ID_RE.fullmatch(att_id)):
        raise AttestationError(f"{where}: id {att_id!r} must be letters, digits, '.', '_' or '-' (at most 64)")
    attested_on = _date(entry.get("attested_on"), "attested_on", where)
    valid_until = _date(entry.get("valid_until"), "valid_until", where)
    if valid_until < attested_on:
        raise AttestationError(f"{where}: valid_until {valid_until} is before attested_on {attested_on}")
    docs = entry.get("documents") or []
    if isinstance(docs, str):
        docs = [d for d in re.split(r"[;\n]+", docs) if d.strip()]
    if not isinstance(docs, list):
        raise AttestationError(f"{where}: documents must be a list of file paths")
    return Draft(
        id=att_id,
        requirements=parse_requirements(entry.get("requirements"), where, known),
        owner=_text(entry, "owner", where),
        attested_on=attested_on,
        valid_until=valid_until,
        statement_ja=_text(entry, "statement_ja", where),
        statement_en=_text(entry, "statement_en", where),
        document_paths=tuple((base / str(d).strip()) for d in docs),
        where=where,
        justifies=_justifies(entry.get("justifies"), where),
    )


def _justifies(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else re.split(r"[,;\s]+", str(value or "").strip())
    out = tuple(dict.fromkeys(str(i).strip() for i in items if str(i).strip()))
    unknown = [j for j in out if j not in JUSTIFICATIONS]
    if unknown:
        raise AttestationError(f"{where}: justifies: {unknown[0]!r} is not one of {', '.join(JUSTIFICATIONS)}")
    return out


def read_document(path: Path, where: str) -> tuple[str, str, bytes]:
    """(file name, media type, bytes) of an attached document; one-line errors for what cannot be kept."""
    media = DOCUMENT_TYPES.get(path.suffix.lower())
    if media is None:
        allowed = ", ".join(sorted(DOCUMENT_TYPES))
        guess = mimetypes.guess_type(path.name)[0] or "unknown type"
        raise AttestationError(f"{where}: document {path}: {guess} is not accepted (allowed: {allowed})")
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise AttestationError(
                f"{where}: document {path}: {size} bytes is more than the limit of {MAX_DOCUMENT_BYTES} bytes"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise AttestationError(f"{where}: document {path}: cannot read it: {exc.strerror or exc}") from None
    return path.name, media, data


def read_import_file(path: Path, known: Iterable[int] = range(1, 183)) -> list[Draft]:
    """Every attestation in a YAML (`attestations:` list) or CSV file; document paths are relative to it."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise AttestationError(f"{where}: cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise AttestationError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    known = tuple(known)
    if path.suffix.lower() == ".csv":
        try:
            rows = list(csv.DictReader(text.splitlines()))
        except csv.Error as exc:  # e.g. a field longer than the csv module's limit
            raise AttestationError(f"{where}: not a readable CSV file ({exc})") from None
        missing = [
            k
            for k in FIELDS
            if k not in (rows[0].keys() if rows else FIELDS) and k not in ("id", "documents", "justifies")
        ]
        if missing:
            raise AttestationError(f"{where}: the header lacks column {missing[0]!r} (columns: {', '.join(FIELDS)})")
        entries = [{k: v for k, v in row.items() if v not in (None, "")} for row in rows]
        label = "row"
        offset = 2  # the header is line 1
    else:
        try:
            data = yaml.load(text, Loader=_SheetLoader)
        except yaml.YAMLError as exc:
            raise AttestationError(f"{where}: not valid YAML: {str(exc).splitlines()[0]}") from None
        except RecursionError:  # the YAML composer recurses once per level of nesting
            raise AttestationError(f"{where}: nested too deeply to be an attestation sheet") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("attestations"), list):
            raise AttestationError(f"{where}: expected a mapping with a list 'attestations:'")
        entries = data["attestations"]
        label = "attestations"
        offset = 0
    drafts = []
    for n, entry in enumerate(entries):
        at = f"{where}: {label} {n + offset}" if label == "row" else f"{where}: attestations[{n}]"
        if not isinstance(entry, Mapping):
            raise AttestationError(f"{at}: must be a mapping of {', '.join(FIELDS)}")
        drafts.append(draft(entry, at, path.parent, known))
    ids = [d.id for d in drafts if d.id]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup:
        raise AttestationError(f"{where}: id {dup!r} appears more than once")
    return drafts


def as_evidence(attestations: Iterable[Attestation], at: datetime) -> list[Evidence]:
    """The attestations a run judges with, as evidence records sealed into the run: every one not revoked
    whose attested_on has come, valid or lapsed (a lapsed one makes its requirements `expired`)."""
    out = []
    for a in attestations:
        if a.revoked is not None or a.attested_on > at.date():
            continue
        out.append(
            Evidence(
                kind=KIND,
                source="ledger.attestations",
                scope="attestations",
                resource_id=f"attestation:{a.id}",
                api_version=FORMAT,
                request_id=None,
                collected_at=at,
                content=a.content(),
            )
        )
    return out
