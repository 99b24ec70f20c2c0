"""`shoko keys create` and `shoko snapshot export | verify`: see reports/bundle.py for the bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from collector.settings import load_settings
from controls.attestations import AttestationError, parse_requirements
from reports.bundle import (
    KEY_FILE_ENV,
    SnapshotError,
    create_keys,
    fingerprint,
    load_private_key,
    load_public_key,
    verify_bundle,
    write_bundle,
)
from reports.contents import build_bundle
from reports.pdf import ReportRenderError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def cmd_keys(args: argparse.Namespace) -> int:
    try:
        private, public, fp = create_keys(Path(args.out))
    except SnapshotError as exc:
        print(f"shoko: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"private key: {private} (mode 0600; keep it secret; export reads it from --key or ${KEY_FILE_ENV})")
    print(f"public key:  {public}")
    print(f"fingerprint: {fp}  (publish it to your auditors: `shoko snapshot verify --fingerprint` checks it)")
    return EXIT_OK


def cmd_snapshot(args: argparse.Namespace) -> int:
    if args.snapshot_command == "verify":
        try:
            key = load_public_key(Path(args.public_key)) if args.public_key else None
            result = verify_bundle(Path(args.file), args.fingerprint, key)
        except SnapshotError as exc:
            print(f"shoko: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if not result.ok:
            print(f"TAMPERED: {args.file}: {result.problem}", file=sys.stderr)
            return EXIT_FAILED
        m = result.manifest or {}
        runs = ", ".join(f"run {r['id']} digest {r['digest']}" for r in m.get("runs", []))
        print(
            f"ok: {args.file} intact: signature valid, {result.files_checked} files match the signed manifest, "
            f"{result.evidence_checked} evidence records hash to their stored SHA-256"
        )
        print(f"as of {m.get('as_of')}; {runs}; shoko {m.get('shoko_version')}")
        if args.public_key:
            checked = f" — the key in {args.public_key}"
        elif args.fingerprint:
            checked = " — the expected fingerprint"
        else:
            checked = " — compare it with the one the vendor published"
        print(f"signed by key {m.get('fingerprint')}{checked}")
        return EXIT_OK
    from collector.cli import _as_of, _open_ledger
    from collector.drift_view import SinceError
    from controls.catalog import load_catalog

    try:
        as_of = _as_of(args)
        catalog = load_catalog()
        numbers = (
            parse_requirements(args.requirements, "--requirements", catalog.numbers()) if args.requirements else None
        )
        key = load_private_key(args.key)
    except (SinceError, SnapshotError, AttestationError) as exc:
        print(f"shoko: {exc}", file=sys.stderr)
        return EXIT_USAGE
    settings = load_settings(args.config)
    ledger = _open_ledger(settings, read_only=True)
    try:
        bundle = build_bundle(
            ledger, catalog, as_of, numbers, args.lang, settings.thresholds, fingerprint(key.public_key())
        )
        manifest = write_bundle(bundle, key, Path(args.out))  # evidence files are read from the ledger as written
    except ReportRenderError as exc:
        print(f"shoko: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except SnapshotError as exc:
        print(f"shoko: {exc}", file=sys.stderr)
        return EXIT_USAGE if as_of else EXIT_FAILED
    finally:
        ledger.close()
    runs = ", ".join(f"run {r['id']}" for r in manifest["runs"])
    print(f"wrote {args.out}: {len(manifest['files'])} files, as of {manifest['as_of']} ({runs})")
    print(f"signed by key {manifest['fingerprint']}; check it anywhere with: shoko snapshot verify {args.out}")
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    keys = sub.add_parser("keys", help="the Ed25519 key pair that signs snapshots")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="make a key pair (the private key file is mode 0600)")
    create.add_argument("--out", required=True, metavar="DIR")
    keys.set_defaults(func=cmd_keys)

    snap = sub.add_parser("snapshot", help="auditor bundles: export a signed snapshot, verify one")
    snap_sub = snap.add_subparsers(dest="snapshot_command", required=True)
    export = snap_sub.add_parser("export", help="write a signed zip of verdicts, evidence, attestations and report")
    export.add_argument("--out", required=True, metavar="FILE.zip")
    export.add_argument("--as-of", metavar="DATETIME", help="the latest full run completed by then (default: now)")
    export.add_argument("--requirements", help="requirement numbers, e.g. 86,96-97 (default: all 182)")
    export.add_argument("--lang", choices=("ja", "en", "both"), default="ja", help="the report's language")
    export.add_argument(
        "--key", metavar="FILE", help="private key (default: $SHOKO_SIGNING_KEY_FILE or $SHOKO_SIGNING_KEY)"
    )
    export.add_argument("--config")
    verify = snap_sub.add_parser("verify", help="check a bundle's signature and every file in it")
    verify.add_argument("file")
    expected = verify.add_mutually_exclusive_group()
    expected.add_argument("--fingerprint", help="the signing key's fingerprint the vendor published")
    expected.add_argument(
        "--public-key", metavar="K", help="the vendor's public key file (PEM, shoko-signing.pub): it must have signed"
    )
    snap.set_defaults(func=cmd_snapshot)
