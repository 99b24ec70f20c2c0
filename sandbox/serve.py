"""`shoko sandbox ...`: run the offline Azure in the foreground, check an estate file, or change the estate of a
running sandbox.

    serve --estate FILE [--port N] [--host H] [--info-file F] [--page-size N] [--latency S]
          [--throttle [--throttle-burst N] [--throttle-refill N]] [--verbose]
    check --estate FILE
    put --info-file F FILE          add or replace the ARM document(s) in FILE (one document or a list)
    delete --info-file F ID         remove a resource (and what lies under it)
    set-estate --info-file F FILE   serve another estate (same tenant)

`serve` prints one JSON line (base_url, authority, tenant_id, client_id, client_secret, ca_bundle,
graph_base_url, subscriptions) and writes the same object to --info-file (mode 0600), then serves
until Ctrl-C or SIGTERM. The info file and the generated CA are removed on exit; the client secret
is only valid for this run. An invalid estate prints one line to stderr and exits with 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

from sandbox.admin import SandboxAdmin, SandboxAdminError
from sandbox.estate import EstateError, load_estate, read_data
from sandbox.server import ReadThrottle, Sandbox


class _ArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ArgumentError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="shoko sandbox", description="Offline Azure (ARM, Entra token endpoint, Graph) for tests and demos."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve an estate over HTTPS on loopback until interrupted")
    serve.add_argument("--estate", required=True, help="estate file (YAML or JSON)")
    serve.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--info-file", help="also write the connection info JSON here")
    serve.add_argument("--page-size", type=int, default=2, help="items per page of every listing (default 2)")
    serve.add_argument(
        "--latency", type=float, default=0.0, metavar="SECONDS", help="added to every call, as a network would (0)"
    )
    serve.add_argument(
        "--throttle",
        action="store_true",
        help="enforce ARM's read limit per subscription and principal (429 + Retry-After when used up)",
    )
    serve.add_argument("--throttle-burst", type=float, default=250.0, help="reads in a full bucket (250)")
    serve.add_argument("--throttle-refill", type=float, default=25.0, help="reads added back per second (25)")
    serve.add_argument("--verbose", "-v", action="store_true", help="print one line per request to stderr")
    check = sub.add_parser("check", help="validate an estate file and exit")
    check.add_argument("--estate", required=True, help="estate file (YAML or JSON)")
    info_help = "the info file a running `serve --info-file` wrote"
    put = sub.add_parser("put", help="add or replace ARM documents in a running sandbox's estate")
    put.add_argument("--info-file", required=True, help=info_help)
    put.add_argument("file", help="YAML or JSON: one ARM document or a list of them")
    delete = sub.add_parser("delete", help="remove a resource from a running sandbox's estate")
    delete.add_argument("--info-file", required=True, help=info_help)
    delete.add_argument("id", help="the resource id")
    replace = sub.add_parser("set-estate", help="serve another estate file (same tenant) from now on")
    replace.add_argument("--info-file", required=True, help=info_help)
    replace.add_argument("file", help="estate file (YAML or JSON)")
    return parser


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except _ArgumentError as e:
        print(str(e), file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    if args.command in ("put", "delete", "set-estate"):
        return _change(args)
    try:
        estate = load_estate(args.estate)
    except EstateError as e:
        print(str(e), file=sys.stderr)
        return 2
    if args.command == "check":
        print(
            f"{args.estate}: OK ({len(estate.subscriptions)} subscriptions, {len(estate.resources)} ARM documents, "
            f"{sum(len(v) for v in estate.directory.collections.values())} directory objects)"
        )
        return 0
    if args.page_size < 1:
        print("shoko sandbox serve: --page-size must be at least 1", file=sys.stderr)
        return 2
    try:
        throttle = ReadThrottle(args.throttle_burst, args.throttle_refill) if args.throttle else None
        sandbox = Sandbox(
            estate, port=args.port, host=args.host, page_size=args.page_size, latency=args.latency, throttle=throttle
        )
    except ValueError as e:
        print(f"shoko sandbox serve: {e}", file=sys.stderr)
        return 2
    try:
        info = sandbox.start()
    except OSError as e:
        print(f"shoko sandbox serve: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = _install_signal_handlers(stop)
    info_file = Path(args.info_file) if args.info_file else None
    try:
        payload = json.dumps(info.to_dict(), ensure_ascii=False)
        if info_file is not None:
            _write_private(info_file, payload + "\n")
        print(payload, flush=True)
        if args.verbose:
            _follow_requests(sandbox, stop)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
        if info_file is not None:
            with contextlib.suppress(OSError):
                info_file.unlink()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _change(args: argparse.Namespace) -> int:
    """put / delete / set-estate against a running sandbox: one line on success, one line and exit 2 on error."""
    try:
        try:
            info = json.loads(Path(args.info_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise SandboxAdminError(f"{args.info_file}: cannot read the sandbox info ({e})") from None
        admin = SandboxAdmin.from_info(info)
        if args.command == "delete":
            admin.delete_resource(args.id)
            print(f"deleted {args.id}")
        elif args.command == "set-estate":
            answer = admin.set_estate(load_estate(args.file).raw)
            print(f"serving {args.file} ({answer.get('resources')} ARM documents)")
        else:
            data = read_data(args.file)
            docs = data if isinstance(data, list) else [data]
            for n, doc in enumerate(docs):
                if not isinstance(doc, dict):
                    raise EstateError(f"{args.file}: document {n}: must be a mapping (an ARM document)")
                admin.put_resource(doc)
                print(f"put {doc.get('id')}")
    except (SandboxAdminError, EstateError) as e:
        print(f"shoko sandbox {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


def _install_signal_handlers(stop: threading.Event) -> dict[int, object]:
    previous: dict[int, object] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, lambda *_: stop.set())
    return previous


def _write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600: the file holds the run's client secret."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _follow_requests(sandbox: Sandbox, stop: threading.Event) -> None:
    def run() -> None:
        mark = sandbox.requests.mark()
        while not stop.wait(0.2):
            for r in sandbox.requests.since(mark):
                fault = f" fault={r.fault}" if r.fault else ""
                print(f"{r.method} {r.path} -> {r.status}{fault} ({r.duration_ms:.1f} ms)", file=sys.stderr, flush=True)
                mark += 1

    threading.Thread(target=run, name="sandbox-request-log", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
