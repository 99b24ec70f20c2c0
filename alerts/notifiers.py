"""Sending one message to one channel: generic webhook, Microsoft Teams (Workflows), Slack, email.

A send either returns a short detail of success ("HTTP 202", "SMTP 250": only a 2xx answer, or 250
after the message data, counts) or raises `DeliveryError`, one line without any secret: the channel's
URL (whose path and query carry its token), HMAC key and password are read from the environment at
send time, never logged, and scrubbed from every error text. Redirects are not followed (a POST turned
into a GET that answers 200 would look delivered).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import os
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

from agent.logs import register_secret
from alerts.config import smtp_port
from alerts.formats import slack_body, teams_body, webhook_body
from alerts.message import AlertMessage, render_html, render_text
from collector.settings import AlertSettings, ChannelSettings

log = logging.getLogger("shoko.alerts")

SIGNATURE_HEADER = "X-Shoko-Signature"
DELIVERY_HEADER = "X-Shoko-Delivery"


class DeliveryError(Exception):
    """A send that did not succeed; the message is one line with no secret in it."""


class Notifier(Protocol):
    channel: ChannelSettings

    def send(self, message: AlertMessage) -> str: ...


def _version() -> str:
    from collector import __version__

    return __version__


class _Base:
    def __init__(self, channel: ChannelSettings, environ: Mapping[str, str], timeout: int) -> None:
        self.channel = channel
        self._environ = environ
        self._timeout = timeout
        self._secrets: list[str] = []

    def _secret(self, env_name: str | None) -> str:
        value = self._environ.get(env_name or "", "")
        if not value:
            raise DeliveryError(f"environment variable {env_name} is not set")
        self._remember(value)
        return value

    def _remember(self, value: str) -> None:
        register_secret(value)  # the log filter masks it too, wherever it might show up
        for variant in {value, urllib.parse.unquote(value), urllib.parse.quote(value, safe="")}:
            if len(variant) >= 4 and variant not in self._secrets:
                self._secrets.append(variant)
        self._secrets.sort(key=len, reverse=True)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return " ".join(text.split())

    def _fail(self, text: str) -> DeliveryError:
        return DeliveryError(self._scrub(text)[:500])

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.channel.ca_file or None)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None  # the 3xx answer becomes an HTTPError: not delivered


class _HttpNotifier(_Base):
    def _url(self) -> tuple[str, str]:
        url = self._secret(self.channel.url_env)
        parts = urllib.parse.urlsplit(url)
        for piece in (parts.path, parts.query, parts.fragment, parts.password or "", parts.username or ""):
            if piece.strip("/"):
                self._remember(piece)
        for _, value in urllib.parse.parse_qsl(parts.query):
            self._remember(value)
        if parts.scheme != "https" or not parts.hostname:
            raise DeliveryError(f"the URL in {self.channel.url_env} is not an https:// URL")
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return url, host

    def _post(self, body: bytes, headers: dict[str, str]) -> str:
        url, host = self._url()
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", "application/json; charset=utf-8")
        request.add_header("User-Agent", f"shoko/{_version()}")
        for name, value in headers.items():
            request.add_header(name, value)
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=self._tls()), _NoRedirect())
        try:
            with opener.open(request, timeout=self._timeout) as response:
                status = response.status
                response.read(4096)
        except urllib.error.HTTPError as exc:
            try:
                answer = exc.read(300).decode("utf-8", "replace")
            except OSError:
                answer = ""
            answer = f": {answer}" if answer.strip() else ""
            raise self._fail(f"{host}: HTTP {exc.code} {exc.reason}{answer}") from None
        except urllib.error.URLError as exc:
            raise self._fail(f"{host}: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail(f"{host}: {type(exc).__name__}: {exc}") from None
        if not 200 <= status < 300:
            raise self._fail(f"{host}: HTTP {status}")
        return f"HTTP {status}"


class WebhookNotifier(_HttpNotifier):
    """JSON body = the message document; `X-Shoko-Signature: sha256=<hex HMAC-SHA256 of the body bytes>`."""

    def send(self, message: AlertMessage) -> str:
        return self.send_body(webhook_body(message), message.id)

    def send_body(self, body: bytes, delivery: str) -> str:
        """POST a JSON body signed like an alert (also a run's anchor, storage/anchors.py)."""
        key = self._secret(self.channel.hmac_key_env)
        signature = "sha256=" + hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()
        return self._post(body, {SIGNATURE_HEADER: signature, DELIVERY_HEADER: delivery})


class TeamsNotifier(_HttpNotifier):
    def send(self, message: AlertMessage) -> str:
        return self._post(teams_body(message), {})


class SlackNotifier(_HttpNotifier):
    def send(self, message: AlertMessage) -> str:
        return self._post(slack_body(message), {})


def email_message(channel: ChannelSettings, message: AlertMessage) -> EmailMessage:
    ja, en = message.title()
    mail = EmailMessage()
    mail["Subject"] = f"{ja} | {en.removeprefix('[shoko] ')}"
    mail["From"] = str(channel.from_address)
    mail["To"] = ", ".join(channel.to_addresses)
    mail["Date"] = formatdate(message.created_at.timestamp(), usegmt=True)
    domain = str(channel.from_address).rpartition("@")[2]
    # Stable across retries, so a mail client shows a message delivered twice (at-least-once) once.
    mail["Message-ID"] = f"<{message.id}@{domain}>"
    mail[DELIVERY_HEADER] = message.id
    mail.set_content(render_text(message))
    mail.add_alternative(render_html(message), subtype="html")
    return mail


class EmailNotifier(_Base):
    def send(self, message: AlertMessage) -> str:
        channel = self.channel
        password = self._secret(channel.password_env) if channel.username else None
        host, port = str(channel.host), smtp_port(channel)
        where = f"{host}:{port}"
        mail = email_message(channel, message)
        try:
            if channel.tls == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=self._timeout, context=self._tls())
            else:
                client = smtplib.SMTP(host, port, timeout=self._timeout)
            with client:
                client.ehlo()
                if channel.tls == "starttls":
                    if not client.has_extn("starttls"):
                        raise DeliveryError(f"{where}: the server does not offer STARTTLS; nothing sent in clear")
                    client.starttls(context=self._tls())
                    client.ehlo()
                if channel.username and password is not None:
                    client.login(channel.username, password)
                refused = client.send_message(mail)
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            raise self._fail(f"{where}: every recipient refused: {', '.join(exc.recipients)}") from None
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise self._fail(f"{where}: SMTP {exc.smtp_code} {error}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise self._fail(f"{where}: {type(exc).__name__}: {exc}") from None
        if refused:
            log.warning("alert %s: %s refused %s; the other recipients got it", message.id, where, ", ".join(refused))
            return f"SMTP 250 ({len(refused)} recipient(s) refused)"
        return "SMTP 250"


_TYPES: dict[str, type[_Base]] = {
    "webhook": WebhookNotifier,
    "teams": TeamsNotifier,
    "slack": SlackNotifier,
    "email": EmailNotifier,
}


def build_notifiers(alerts: AlertSettings, environ: Mapping[str, str] | None = None) -> dict[str, Notifier]:
    """One notifier per configured channel. Secrets are looked up at each send, so a missing one fails
    that channel's deliveries (retried, then given up), not the agent; see `missing_secrets`."""
    environ = os.environ if environ is None else environ
    return {
        c.name: _TYPES[c.type](c, environ, alerts.timeout_seconds)  # type: ignore[misc]
        for c in alerts.channels
    }


def missing_secrets(alerts: AlertSettings, environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per channel secret whose environment variable is unset or empty (for a start-up check)."""
    environ = os.environ if environ is None else environ
    out = []
    for c in alerts.channels:
        for key in ("url_env", "hmac_key_env", "password_env"):
            name = getattr(c, key)
            if name and not environ.get(name):
                out.append(f"alert channel {c.name}: environment variable {name} (alerts.channels {key}) is not set")
    return out
