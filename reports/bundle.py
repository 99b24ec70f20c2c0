"""Auditor snapshots: one signed zip with every requirement's verdict as of a moment, the raw Azure responses
behind it, the attestations in force with their documents, and the answer-sheet report.

    shoko keys create --out DIR                 an Ed25519 key pair (private key file mode 0600)
    shoko snapshot export --out F.zip [--as-of T] [--requirements 86,96-97] [--lang ja|en|both] [--key FILE]
    shoko snapshot verify F.zip [--fingerprint FP | --public-key K]

The bundle holds `manifest.json` (versions, as-of, the runs drawn on with their ledger digests, and the SHA-256
and size of every other file), `manifest.sig` (the Ed25519 signature of manifest.json's exact bytes, base64) and
the public key with its fingerprint inside the manifest. `verify` needs only the bundle: it checks the signature,
that every listed file is there with its hash and size and nothing else is, and that each evidence record's
content still hashes to the SHA-256 it was stored under. Evidence records are in JSON Lines files by kind
(`evidence_file_name`), each record once however many findings cite it; a finding cites `{file}#{SHA-256}`.
The fingerprint ties the key to the vendor: compare it with the one they publish (or pass it with --fingerprint).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from controls.model import Evidence, sha256_of

# /2: evidence records once each, in JSON Lines files by kind and hash. `verify` reads /1 bundles too.
FORMAT = "shoko-snapshot/2"
KEY_ENV = "SHOKO_SIGNING_KEY"  # the private key's PEM text
KEY_FILE_ENV = "SHOKO_SIGNING_KEY_FILE"  # or a path to it
PRIVATE_KEY_FILE = "shoko-signing.key"
PUBLIC_KEY_FILE = "shoko-signing.pub"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"


class SnapshotError(ValueError):
    """A snapshot that cannot be made or read; str() is one line."""


# -- keys -----------------------------------------------------------------------------------------------------


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, as colon-separated hex pairs (what a vendor publishes)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(raw).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def create_keys(out: Path) -> tuple[Path, Path, str]:
    """A new key pair in `out`: the private key readable by its owner only. Refuses to overwrite."""
    out.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out / PRIVATE_KEY_FILE, out / PUBLIC_KEY_FILE
    if private_path.exists() or public_path.exists():
        raise SnapshotError(f"{out}: a key pair is already there; move it away first (keys are never overwritten)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path.write_text(public_pem(key.public_key()), encoding="ascii")
    return private_path, public_path, fingerprint(key.public_key())


def load_private_key(path: str | None, environ: dict[str, str] | None = None) -> Ed25519PrivateKey:
    """From --key FILE, else $SHOKO_SIGNING_KEY_FILE, else the PEM text in $SHOKO_SIGNING_KEY."""
    environ = dict(os.environ) if environ is None else environ
    source = path or environ.get(KEY_FILE_ENV)
    if source:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise SnapshotError(f"signing key {source}: cannot read it: {exc.strerror or exc}") from None
        where = source
    elif environ.get(KEY_ENV):
        data, where = environ[KEY_ENV].encode(), f"${KEY_ENV}"
    else:
        raise SnapshotError(
            f"no signing key: give --key FILE, or set {KEY_FILE_ENV} or {KEY_ENV} (make one with `shoko keys create`)"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SnapshotError(f"signing key {where}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SnapshotError(f"signing key {where}: not an Ed25519 key")
    return key


# -- export -----------------------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(name: str, limit: int = 80) -> str:
    return (_UNSAFE.sub("_", name).strip("_") or "_")[:limit]


# A kind's evidence records go into one file while the run holds at most this many of them; beyond, into 16 files
# (or 256) by the first hex digit (or two) of their SHA-256. A 100,000-resource run so makes a few hundred files
# of a few thousand records each, not a file per record (a million, which neither a zip tool nor an auditor handles).
RECORDS_PER_FILE = 10_000
MAX_PREFIX_DIGITS = 2


def evidence_file_name(kind: str, sha256: str, records_of_kind: int) -> str:
    """The JSON Lines file a record is in: `evidence/{kind}.jsonl`, or `evidence/{kind}/{first hex digits of its
    SHA-256}.jsonl` when the run holds more than RECORDS_PER_FILE records of that kind. Findable by kind and hash."""
    digits = 0
    while records_of_kind > RECORDS_PER_FILE * 16**digits and digits < MAX_PREFIX_DIGITS:
        digits += 1
    name = _safe(kind, 60)
    return f"evidence/{name}.jsonl" if digits == 0 else f"evidence/{name}/{sha256[:digits]}.jsonl"


def evidence_citation(path: str, sha256: str) -> str:
    """How a finding cites one record: its file, then `#` and the record's SHA-256 (a line of that file)."""
    return f"{path}#{sha256}"


def evidence_document(ev: Evidence) -> dict[str, Any]:
    return {
        "collection": {
            "kind": str(ev.kind),
            "fetcher": ev.source,
            "scope": ev.scope,
            "resource_id": ev.resource_id,
            "api_version": ev.api_version,
            "request_id": ev.request_id,
            "collected_at": ev.collected_at.isoformat(),
            "sha256": ev.sha256,
            # Secret values blanked out of `content` before it was stored (collector/redaction.yaml).
            "redactions": [r.as_dict() for r in ev.redactions],
        },
        "content": ev.content,
    }


# Evidence records read from the ledger at a time while a bundle is written: memory stays flat however large
# the estate, and the number of queries stays small.
EVIDENCE_BATCH = 200


@dataclass
class Bundle:
    """Files to write, by path in the zip, and what the manifest says about the snapshot.

    `files` are small documents held as bytes, or files already written to disk (a Path: the reports, which
    grow with the estate, are written to `workdir` as they are made and copied into the zip). Evidence files are
    only named here (`evidence`: path → the SHA-256s of the records it holds) and their records read through
    `read_evidence` a batch at a time while the zip is written."""

    files: dict[str, bytes | Path]
    meta: dict[str, Any]
    evidence: dict[str, set[str]] = field(default_factory=dict)
    read_evidence: Callable[[Collection[str]], Mapping[str, Evidence]] | None = None
    # Files that cite the others by hash (the OSCAL assessment results): made once every other file is written,
    # from the SHA-256 of each (path → hex digest).
    late: Callable[[Mapping[str, str]], Mapping[str, bytes | Path]] | None = None
    # The temporary folder the Path files are in: removed once the bundle is written.
    workdir: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None

    def streamed(self) -> Iterator[tuple[str, Iterator[bytes]]]:
        """(path, its lines) of each evidence file, in path order: one record a line (compact JSON), in SHA-256
        order, read a batch at a time as the lines are taken."""
        if self.evidence and self.read_evidence is None:
            raise SnapshotError("the bundle names evidence files but has no way to read them")
        for path in sorted(self.evidence):
            yield path, self._lines(path, sorted(self.evidence[path]))

    def _lines(self, path: str, shas: list[str]) -> Iterator[bytes]:
        assert self.read_evidence is not None
        for start in range(0, len(shas), EVIDENCE_BATCH):
            batch = shas[start : start + EVIDENCE_BATCH]
            records = self.read_evidence(batch)
            for sha in batch:
                ev = records.get(sha)
                if ev is None:
                    raise SnapshotError(f"{path}: evidence {sha} is missing from the ledger")
                yield evidence_line(ev)


def evidence_line(ev: Evidence) -> bytes:
    return (json.dumps(evidence_document(ev), ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _json(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode()


class JsonList:
    """A list inside a document given to write_json, whose items are made only as the file reaches it
    (`items` is called then): a large estate's tens of thousands of findings are never one string in memory."""

    def __init__(self, items: Callable[[], Iterable[Any]]) -> None:
        self.items = items


def write_json(path: Path, data: Any, *, compact: bool = False) -> None:
    """`data` written to `path` as _json writes it (or compact, with no spaces), byte for byte the same, with
    each JsonList written an item at a time."""
    lists: list[JsonList] = []

    def hold(value: Any) -> str:
        if not isinstance(value, JsonList):
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        lists.append(value)
        return f"\x00json-list-{len(lists) - 1}\x00"

    options: dict[str, Any] = {"separators": (",", ":")} if compact else {"indent": 2}
    text = json.dumps(data, ensure_ascii=False, default=hold, **options)
    pieces = re.split(r'"\\u0000json-list-(\d+)\\u0000"', text)
    with open(path, "wb") as out:
        out.write(pieces[0].encode())
        for i in range(1, len(pieces), 2):
            held = lists[int(pieces[i])]
            if compact:
                out.write(b"[")
                for n, item in enumerate(held.items()):
                    out.write((("," if n else "") + json.dumps(item, ensure_ascii=False, **options)).encode())
                out.write(b"]")
            else:
                # The list sits where its placeholder was: its items one level deeper than that line.
                margin = pieces[i - 1].rsplit("\n", 1)[-1]
                margin = margin[: len(margin) - len(margin.lstrip(" "))]
                n = -1
                for n, item in enumerate(held.items()):
                    lines = json.dumps(item, ensure_ascii=False, **options).replace("\n", "\n" + margin + "  ")
                    out.write(((",\n" if n else "[\n") + margin + "  " + lines).encode())
                out.write(b"[]" if n < 0 else ("\n" + margin + "]").encode())
            out.write(pieces[i + 1].encode())
        out.write(b"\n")


def write_bundle(bundle: Bundle, key: Ed25519PrivateKey, out: Path) -> dict[str, Any]:
    """Sign and write the zip; returns the manifest. Files go in one at a time (evidence streamed from the
    ledger), each hashed as it is written; the manifest and its signature go in last."""
    public = key.public_key()
    listed: list[tuple[str, str, int]] = []  # (path, SHA-256, size): a large estate's bundle has 100,000 files
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:

            def add(path: str, data: bytes | Path) -> None:
                if isinstance(data, Path):
                    with data.open("rb") as source:
                        large = data.stat().st_size > zipfile.ZIP64_LIMIT
                        digest, size = _stream_in(z, path, _blocks(source), large=large)
                else:
                    z.writestr(path, data)
                    digest, size = hashlib.sha256(data).hexdigest(), len(data)
                listed.append((path, digest, size))

            for path, data in sorted(bundle.files.items()):
                add(path, data)
            for path, lines in bundle.streamed():
                # Its size is not known before it is written: room for a large one is kept (zip64).
                listed.append((path, *_stream_in(z, path, lines, large=True)))
            if bundle.late is not None:
                written = {path: digest for path, digest, _ in listed}
                for path, data in sorted(bundle.late(written).items()):
                    add(path, data)
                del written
            listed.sort()
            files = JsonList(lambda: ({"path": p, "sha256": d, "size": n} for p, d, n in listed))
            manifest = {
                "format": FORMAT,
                **bundle.meta,
                "public_key": public_pem(public),
                "fingerprint": fingerprint(public),
                "files": files,
            }
            manifest_file = tmp.with_name(tmp.name + ".manifest")
            try:
                write_json(manifest_file, manifest)
                manifest_bytes = manifest_file.read_bytes()
            finally:
                manifest_file.unlink(missing_ok=True)
            z.writestr(MANIFEST, manifest_bytes)
            z.writestr(SIGNATURE, base64.b64encode(key.sign(manifest_bytes)) + b"\n")
            listed.clear()  # the manifest read back below holds the same
            manifest = json.loads(manifest_bytes)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        bundle.close()
    tmp.replace(out)
    return manifest


def _blocks(source: BinaryIO) -> Iterator[bytes]:
    """An open file a block at a time: the largest files run to hundreds of MB."""
    while block := source.read(1 << 20):
        yield block


def _stream_in(z: zipfile.ZipFile, name: str, blocks: Iterable[bytes], *, large: bool) -> tuple[str, int]:
    """Blocks into the zip as they come; the file's SHA-256 and size."""
    digest, size = hashlib.sha256(), 0
    # Dated now, like the files writestr adds (a name alone would be dated 1980).
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = z.compression
    with z.open(info, "w", force_zip64=large) as dst:
        for block in blocks:
            digest.update(block)
            dst.write(block)
            size += len(block)
    return digest.hexdigest(), size


# -- verify -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    ok: bool
    problem: str | None
    manifest: dict[str, Any] | None
    files_checked: int = 0
    evidence_checked: int = 0


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The vendor's published public key (`shoko-signing.pub`, PEM)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SnapshotError(f"public key {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SnapshotError(f"public key {path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SnapshotError(f"public key {path}: not an Ed25519 key")
    return key


def verify_bundle(
    path: Path, expected_fingerprint: str | None = None, expected_key: Ed25519PublicKey | None = None
) -> Verified:
    """Check a bundle on its own: signature, fingerprint or public key (if given), every file's hash and size,
    no extra files, and each evidence file's content against the SHA-256 it was stored under."""
    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise SnapshotError(f"{path}: not a readable zip ({exc})") from None
    with z:
        names = set(z.namelist())
        if MANIFEST not in names or SIGNATURE not in names:
            return Verified(False, f"{MANIFEST} or {SIGNATURE} is missing: not a shoko snapshot, or cut", None)
        manifest_bytes = z.read(MANIFEST)
        try:
            manifest = json.loads(manifest_bytes)
            public = serialization.load_pem_public_key(manifest["public_key"].encode())
            signature = base64.b64decode(z.read(SIGNATURE).strip(), validate=True)
        except (ValueError, KeyError, TypeError) as exc:
            return Verified(False, f"the manifest or its signature cannot be read ({exc})", None)
        if not isinstance(public, Ed25519PublicKey):
            return Verified(False, "the manifest's public key is not an Ed25519 key", manifest)
        try:
            public.verify(signature, manifest_bytes)
        except InvalidSignature:
            return Verified(False, "the signature does not match manifest.json (the manifest was changed)", manifest)
        actual = fingerprint(public)
        if manifest.get("fingerprint") != actual:
            return Verified(False, "the manifest's fingerprint is not its public key's", manifest)
        if expected_fingerprint and normalise_fingerprint(expected_fingerprint) != normalise_fingerprint(actual):
            return Verified(False, f"signed by key {actual}, not the expected {expected_fingerprint}", manifest)
        if expected_key is not None and public_pem(expected_key) != public_pem(public):
            return Verified(
                False, f"signed by key {actual}, not by the given public key {fingerprint(expected_key)}", manifest
            )
        listed = {f["path"]: f for f in manifest.get("files", [])}
        extra = sorted(names - set(listed) - {MANIFEST, SIGNATURE})
        if extra:
            return Verified(False, f"{extra[0]} is in the bundle but not in the signed manifest", manifest)
        evidence = 0
        for name, entry in sorted(listed.items()):
            if name not in names:
                return Verified(False, f"{name} is listed in the manifest but missing", manifest)
            digest, size = hashlib.sha256(), 0
            with z.open(name) as member:
                for block in _blocks(member):
                    digest.update(block)
                    size += len(block)
            if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
                return Verified(False, f"{name} does not match its SHA-256 in the manifest (changed)", manifest)
            if name.startswith("evidence/"):
                checked, problem = _check_evidence(z, name)
                if problem:
                    return Verified(False, f"{name}: {problem}", manifest)
                evidence += checked
        return Verified(True, None, manifest, len(listed), evidence)


def _check_evidence(z: zipfile.ZipFile, name: str) -> tuple[int, str | None]:
    """How many records an evidence file holds, each checked to hash to the SHA-256 it was stored under, and to
    be filed under its kind and hash; or the first problem. `.jsonl`: a record a line (shoko-snapshot/2); a
    `.json` file is one record (shoko-snapshot/1, a file per finding's record)."""
    if not name.endswith(".jsonl"):
        doc = json.loads(z.read(name))
        if sha256_of(doc["content"]) != doc["collection"]["sha256"]:
            return 0, "the raw response does not hash to its evidence SHA-256"
        return 1, None
    folder, _, stem = name.removeprefix("evidence/").removesuffix(".jsonl").rpartition("/")
    kind, prefix = (folder, stem) if folder else (stem, "")
    checked = 0
    with z.open(name) as member:
        for n, line in enumerate(member, 1):
            try:
                doc = json.loads(line)
                sha, filed = doc["collection"]["sha256"], _safe(str(doc["collection"]["kind"]), 60)
                content = doc["content"]
            except (ValueError, KeyError, TypeError):
                return checked, f"line {n} is not an evidence record"
            if sha256_of(content) != sha:
                return checked, f"line {n}: the raw response does not hash to its evidence SHA-256 {sha}"
            if filed != kind or not sha.startswith(prefix):
                return checked, f"line {n}: a {filed} record {sha[:12]}… is filed under another kind or hash"
            checked += 1
    return checked, None


def normalise_fingerprint(value: str) -> str:
    return value.replace(":", "").replace(" ", "").lower()


# -- what goes into a bundle ------------------------------------------------------------------------------------


def answer_of(req: Any) -> str | None:
    """The catalog's reading of the vendor's answer: the answer sheet's words it quotes (「…」), else the
    evidence it expects."""
    quotes = re.findall(r"「([^」]+)」", req.note or "")
    if quotes:
        return " … ".join(dict.fromkeys(quotes))
    return req.manual_evidence_ja or req.evidence_hint_ja
