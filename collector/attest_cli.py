"""`shoko attest add | import | list | show | revoke | document`: people's attestations in the ledger."""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from collector.settings import load_settings
from controls.attestations import (
    Attestation,
    AttestationError,
    Document,
    Draft,
    draft,
    read_document,
    read_import_file,
)
from storage.ledger import Ledger, LedgerError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ACTOR_ENV = "SHOKO_ACTOR"  # who records or revokes, when --by is not given (else the login name)


def _actor(given: str | None) -> str:
    if given:
        return given
    if os.environ.get(ACTOR_ENV):
        return os.environ[ACTOR_ENV]
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def _ledger(args: argparse.Namespace, *, read_only: bool) -> Ledger:
    from collector.cli import _open_ledger

    return _open_ledger(load_settings(args.config), read_only=read_only)


def _new_id(existing: set[str], on: date) -> str:
    n = 1
    while f"ATT-{on:%Y%m%d}-{n:03d}" in existing:
        n += 1
    return f"ATT-{on:%Y%m%d}-{n:03d}"


def record_drafts(ledger: Ledger, drafts: list[Draft], recorded_by: str, *, skip_same: bool = False) -> list[str]:
    """Read each draft's documents and append it; lines saying what was recorded (or already was).

    With `skip_same`, a draft whose id is recorded with the same statement, dates and documents is left as
    it is (importing the same sheet twice adds nothing); any difference is refused: revoke, then re-add
    under a new id."""
    existing = {a.id: a for a in ledger.attestations()}
    lines = []
    now = datetime.now(UTC)
    for d in drafts:
        docs: list[tuple[bytes, str]] = []
        refs: list[Document] = []
        for path in d.document_paths:
            name, media, data = read_document(path, d.where)
            refs.append(Document(name=name, media_type=media, size=len(data), sha256=hashlib.sha256(data).hexdigest()))
            docs.append((data, media))
        att_id = d.id or _new_id(set(existing), now.date())
        attestation = Attestation(
            id=att_id,
            requirements=d.requirements,
            owner=d.owner,
            attested_on=d.attested_on,
            valid_until=d.valid_until,
            statement_ja=d.statement_ja,
            statement_en=d.statement_en,
            documents=tuple(refs),
            recorded_by=recorded_by,
            recorded_at=now,
            justifies=d.justifies,
        )
        before = existing.get(att_id)
        if before is not None:
            same = _comparable(before) == _comparable(attestation)
            if skip_same and same and before.revoked is None:
                lines.append(f"already recorded: {att_id}")
                continue
            raise AttestationError(
                f"{d.where}: attestation {att_id} is already recorded"
                + ("" if same else " with different content; revoke it and record the change under a new id")
            )
        ledger.record_attestation(attestation, docs)
        existing[att_id] = attestation
        nos = ", ".join(str(n) for n in attestation.requirements)
        lines.append(f"recorded: {att_id}  No {nos}  valid {attestation.attested_on} to {attestation.valid_until}")
    return lines


def _comparable(a: Attestation) -> dict[str, Any]:
    c = a.content()
    c.pop("recorded_at", None)
    c.pop("recorded_by", None)
    return c


def _row(a: Attestation, today: date) -> dict[str, Any]:
    return {
        **a.content(),
        "state": a.state(today),
        "revoked": None
        if a.revoked is None
        else {"by": a.revoked.revoked_by, "at": a.revoked.revoked_at.isoformat(), "reason": a.revoked.reason},
    }


STATE_JA = {"valid": "有効", "expired": "期限切れ", "not_yet": "有効期間前", "revoked": "取消"}


def cmd_attest(args: argparse.Namespace) -> int:
    try:
        return _dispatch(args)
    except (AttestationError, LedgerError) as exc:
        print(f"shoko: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, AttestationError) else EXIT_FAILED


def _dispatch(args: argparse.Namespace) -> int:
    command = args.attest_command
    if command in ("add", "import"):
        from controls.catalog import load_catalog

        known = load_catalog().numbers()
        if command == "add":
            entry: dict[str, Any] = {
                "requirements": args.requirements,
                "owner": args.owner,
                "attested_on": args.attested_on or date.today().isoformat(),
                "valid_until": args.valid_until,
                "statement_ja": args.statement_ja,
                "statement_en": args.statement_en,
                "documents": args.document or [],
                "justifies": args.justifies or [],
            }
            if args.id:
                entry["id"] = args.id
            drafts = [draft(entry, "shoko attest add", Path.cwd(), known)]
        else:
            drafts = read_import_file(Path(args.file), known)
        with _ledger(args, read_only=False) as ledger:
            lines = record_drafts(ledger, drafts, _actor(args.by), skip_same=command == "import")
        print("\n".join(lines))
        return EXIT_OK
    if command == "revoke":
        with _ledger(args, read_only=False) as ledger:
            ledger.revoke_attestation(args.id, _actor(args.by), args.reason, datetime.now(UTC))
        print(f"revoked: {args.id}")
        return EXIT_OK
    if command == "document":
        with _ledger(args, read_only=True) as ledger:
            found = next((a for a in ledger.attestations() if a.id == args.id), None)
            doc = None if found is None else next((d for d in found.documents if d.name == args.name), None)
            stored = ledger.attestation_document(doc.sha256) if doc else None
        if stored is None:
            print(f"shoko: attestation {args.id} has no document {args.name!r}", file=sys.stderr)
            return EXIT_FAILED
        Path(args.out).write_bytes(stored[1])
        print(f"wrote {args.out} ({len(stored[1])} bytes, {stored[0]}, sha256 {doc.sha256 if doc else ''})")
        return EXIT_OK
    with _ledger(args, read_only=True) as ledger:
        attestations = ledger.attestations()
    today = date.today()
    if command == "show":
        found = next((a for a in attestations if a.id == args.id), None)
        if found is None:
            print(f"shoko: no attestation {args.id}", file=sys.stderr)
            return EXIT_FAILED
        print(json.dumps(_row(found, today), ensure_ascii=False, indent=2))
        return EXIT_OK
    shown = [a for a in attestations if args.all or a.revoked is None]
    if args.json:
        print(json.dumps([_row(a, today) for a in shown], ensure_ascii=False, indent=2))
        return EXIT_OK
    if not shown:
        print("no attestations recorded (shoko attest add / import)")
        return EXIT_OK
    for a in shown:
        state = a.state(today)
        nos = ", ".join(str(n) for n in a.requirements)
        print(f"{a.id}  {state} {STATE_JA[state]}  No {nos}  {a.attested_on} → {a.valid_until}  {a.owner}")
        print(f"  {a.statement_ja}")
        print(f"  {a.statement_en}")
        for d in a.documents:
            print(f"  document {d.name}  {d.size} bytes  sha256 {d.sha256}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    attest = sub.add_parser("attest", help="people's attestations for what Azure cannot show: add, import, list …")
    attest_sub = attest.add_subparsers(dest="attest_command", required=True)

    add = attest_sub.add_parser("add", help="record one attestation")
    add.add_argument("--requirements", required=True, help="requirement numbers, e.g. 1,2 or 96-97")
    add.add_argument("--owner", required=True, help="who vouches for it (a role and a name)")
    add.add_argument("--statement-ja", required=True)
    add.add_argument("--statement-en", required=True)
    add.add_argument("--valid-until", required=True, metavar="DATE")
    add.add_argument("--attested-on", metavar="DATE", help="default: today")
    add.add_argument("--id", help="your reference, e.g. ATT-2026-001 (default: ATT-YYYYMMDD-NNN)")
    add.add_argument("--document", action="append", metavar="FILE", help="attach a PDF, XLSX, image …; repeatable")
    add.add_argument(
        "--justifies",
        action="append",
        choices=("tls1.2",),
        help="record a justification instead of covering the requirements: tls1.2 = a TLS 1.2 minimum where "
        "TLS 1.3 is difficult (accepted under the mhlw6 profile only with one)",
    )

    imp = attest_sub.add_parser("import", help="record every attestation of a YAML or CSV sheet")
    imp.add_argument("file")

    lst = attest_sub.add_parser("list", help="the attestations recorded, with their state today")
    lst.add_argument("--all", action="store_true", help="revoked ones too")
    lst.add_argument("--json", action="store_true")

    show = attest_sub.add_parser("show", help="one attestation as JSON")
    show.add_argument("id")

    revoke = attest_sub.add_parser("revoke", help="withdraw an attestation (it stays in the ledger, marked revoked)")
    revoke.add_argument("id")
    revoke.add_argument("--reason", required=True)

    doc = attest_sub.add_parser("document", help="write an attached document out of the ledger")
    doc.add_argument("id")
    doc.add_argument("name", help="the document's file name")
    doc.add_argument("--out", required=True)

    for p in (add, imp, lst, show, revoke, doc):
        p.add_argument("--config")
    for p in (add, imp, revoke):
        p.add_argument("--by", help=f"who records it (default: ${ACTOR_ENV}, else the login name)")
    attest.set_defaults(func=cmd_attest)


def import_demo_attestations(ledger: Ledger, path: Path) -> list[str]:
    """The demo's example sheet, whose dates are written relative to today (`${now-200d}`) so the demo shows
    the same valid and lapsed attestations whenever it runs; already recorded ones are left as they are."""
    import yaml

    from sandbox.estate import resolve_relative_times

    data = resolve_relative_times(yaml.safe_load(path.read_text(encoding="utf-8")), datetime.now(UTC))
    for entry in data.get("attestations") or []:
        for key in ("attested_on", "valid_until"):
            entry[key] = str(entry[key])[:10]  # the day of the resolved moment
    drafts = [draft(e, f"{path}: attestations[{n}]", path.parent) for n, e in enumerate(data["attestations"])]
    return record_drafts(ledger, drafts, "shoko demo", skip_same=True)
