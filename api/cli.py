"""`shoko serve` (the API with uvicorn) and `shoko token create | list | revoke`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from collector.settings import load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def cmd_token(args: argparse.Namespace) -> int:
    from collector.attest_cli import _actor
    from collector.cli import _open_ledger
    from storage.ledger import LedgerError

    from . import tokens

    settings = load_settings(args.config)
    now = datetime.now(UTC)
    try:
        if args.token_command == "create":
            lifetime = tokens.parse_expiry(args.expires)
            with _open_ledger(settings, read_only=False) as ledger:
                record, text = tokens.issue(
                    ledger, args.name, args.role, lifetime, _actor(args.by), {"via": "cli"}, now=now
                )
            print(text)
            print(
                f"token {record.name} ({record.role}, id {record.id}) expires {record.expires_at.isoformat()}; "
                "it is shown only now: store it in your client's secret store",
                file=sys.stderr,
            )
            return EXIT_OK
        if args.token_command == "revoke":
            with _open_ledger(settings, read_only=False) as ledger:
                record = ledger.revoke_token(args.token, _actor(args.by), now, {"via": "cli"})
            print(f"revoked: {record.name} (id {record.id})")
            return EXIT_OK
        with _open_ledger(settings, read_only=True) as ledger:
            found = ledger.tokens()
    except tokens.TokenError as exc:
        print(f"shoko: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LedgerError as exc:
        print(f"shoko: {exc}", file=sys.stderr)
        return EXIT_FAILED
    rows = [_row(t, now) for t in found]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif not rows:
        print("no API tokens (shoko token create --name N --role auditor --expires 30d)")
    else:
        print(_table(rows))
    return EXIT_OK


def _row(t: Any, now: datetime) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat(timespec="seconds") if value else None

    return {
        "id": t.id,
        "name": t.name,
        "role": t.role,
        "state": t.state(now),
        "created": iso(t.created_at),
        "created_by": t.created_by,
        "expires": iso(t.expires_at),
        "last_used": iso(t.last_used_at),
        "revoked": iso(t.revoked_at),
        "revoked_by": t.revoked_by,
    }


def _table(rows: list[dict[str, Any]]) -> str:
    keys = ("name", "role", "state", "created", "expires", "last_used", "revoked", "id")
    cells = [[str(r[k] or "—") for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app, existing_ledger
    from .oidc import OidcError
    from .server import uvicorn_config

    settings = load_settings(args.config)
    try:
        app = create_app(settings, ledger=existing_ledger(settings))
    except OidcError as exc:  # sign-in is enabled but its secret, key or settings are missing
        print(f"shoko: {exc}", file=sys.stderr)
        return EXIT_USAGE
    config = uvicorn_config(app, settings, args.host, args.port)
    scheme = "https" if settings.api.tls_cert_file else "http"
    print(
        f"shoko API on {scheme}://{config.host}:{config.port}/api/v1 (OpenAPI: /openapi.json with a token)",
        file=sys.stderr,
    )
    uvicorn.Server(config).run()
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    serve = sub.add_parser("serve", help="the read API over HTTP (see README 'API')")
    serve.add_argument("--config")
    serve.add_argument("--host", help="address to listen on (default: api.listen_host)")
    serve.add_argument("--port", type=int, help="port (default: api.listen_port)")
    serve.set_defaults(func=cmd_serve)

    token = sub.add_parser("token", help="API tokens: create (shown once), list, revoke")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="make a token; prints it once (only its hash is stored)")
    create.add_argument("--name", required=True, help="what uses it, e.g. grc-export")
    create.add_argument("--role", required=True, choices=("auditor", "operator", "admin"))
    create.add_argument("--expires", required=True, metavar="DURATION", help="e.g. 30d, 12h (at most 3650d)")
    revoke = token_sub.add_parser("revoke", help="revoke a token by name or id (it stays listed, revoked)")
    revoke.add_argument("token", help="the token's name or id")
    lst = token_sub.add_parser("list", help="name, role, state, created, expires, last used, revoked")
    lst.add_argument("--json", action="store_true")
    for p in (create, revoke, lst):
        p.add_argument("--config")
    for p in (create, revoke):
        p.add_argument("--by", help="who does it (default: $SHOKO_ACTOR, else the login name)")
    token.set_defaults(func=cmd_token)
