"""Real local receivers for alert channels: an HTTPS server (webhook, Teams, Slack) and an SMTP server
that requires STARTTLS and AUTH, both on 127.0.0.1 with a throw-away CA; plus settings and runs."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from collector.settings import Settings, load_settings
from controls.catalog import Catalog, load_catalog
from sandbox.tls import TlsFiles, generate, server_context
from storage.ledger import Ledger

T0 = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
HOOK_TOKEN = "T0KEN-in-the-path-7f3a9c"
HOOK_SIG = "sig-query-secret-51d0e2"
HMAC_KEY = "hmac-key-secret-a81c44"
SMTP_USER = "shoko@hospital.example"
SMTP_PASSWORD = "smtp-pass-secret-99e1"
SECRETS = (HOOK_TOKEN, HOOK_SIG, HMAC_KEY, SMTP_PASSWORD)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate(tmp_path_factory.mktemp("alert-tls"))


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTPS endpoint; `answers` is a list of status codes used one per request (then `default`)."""

    base_url: str
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    default: int = 200

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}/{HOOK_TOKEN}?sig={HOOK_SIG}"

    def on(self, name: str) -> list[Received]:
        return [r for r in self.requests if r.path.split("/")[1] == name]


@pytest.fixture
def receiver(tls: TlsFiles) -> Iterator[Receiver]:
    state = Receiver(base_url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = state.answers.pop(0) if state.answers else state.default
            # Like many servers, the error page quotes the path (where the token is): it must be scrubbed.
            payload = b"ok" if status < 300 else f"upstream broken for POST {self.path}".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context(tls).wrap_socket(server.socket, server_side=True)
    state.base_url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refuse_data: list[int] = field(default_factory=list)  # reply codes to give DATA, one per message


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.box.refuse_data:
            return f"{self.box.refuse_data.pop(0)} try again later"
        assert session.ssl is not None, "mail data arrived without TLS"
        self.box.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK queued"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(tls: TlsFiles) -> Iterator[Mailbox]:
    box = Mailbox(port=_free_port())

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            box.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls.cert_chain), str(tls.key))
    controller = Controller(
        _Handler(box),
        hostname="127.0.0.1",
        port=box.port,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticator,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def channel_yaml(receiver: Receiver | None, mailbox: Mailbox | None, tls: TlsFiles) -> list[dict[str, Any]]:
    channels: list[dict[str, Any]] = []
    if receiver is not None:
        ca = str(tls.ca_bundle)
        channels += [
            {"name": "soc", "type": "webhook", "url_env": "T_WEBHOOK_URL", "hmac_key_env": "T_HMAC", "ca_file": ca},
            {"name": "teams", "type": "teams", "url_env": "T_TEAMS_URL", "ca_file": ca},
            {"name": "slack", "type": "slack", "url_env": "T_SLACK_URL", "ca_file": ca},
        ]
    if mailbox is not None:
        channels.append(
            {
                "name": "mail",
                "type": "email",
                "host": "127.0.0.1",
                "port": mailbox.port,
                "tls": "starttls",
                "username": SMTP_USER,
                "password_env": "T_SMTP_PASSWORD",
                "from_address": "shoko@hospital.example",
                "to_addresses": ["ops@hospital.example", "security@hospital.example"],
                "ca_file": str(tls.ca_bundle),
            }
        )
    return channels


def environment(receiver: Receiver | None) -> dict[str, str]:
    env = {"T_HMAC": HMAC_KEY, "T_SMTP_PASSWORD": SMTP_PASSWORD}
    if receiver is not None:
        env |= {
            "T_WEBHOOK_URL": receiver.url("soc"),
            "T_TEAMS_URL": receiver.url("teams"),
            "T_SLACK_URL": receiver.url("slack"),
        }
    return env


def alert_settings(tmp_path: Path, database_url: str, channels: list[dict[str, Any]], **alerts: Any) -> Settings:
    path = tmp_path / "agent.yaml"
    document = {"database": {"url": database_url}, "alerts": {"channels": channels, **alerts}}
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return load_settings(path, environ={})


def sealed_run(ledger: Ledger, at: datetime = T0) -> int:
    """A completed (empty) run for alerts to refer to."""
    run_id = ledger.start_run(at, agent_version="test", config_digest="0" * 64, scope={})
    ledger.complete_run(run_id, at)
    return run_id
