"""Logging for the `shoko` command and the agent: JSON lines in a container, readable lines on a terminal.

    setup_logging(json=None, verbose=False)

JSON (one object per line: `ts` ISO-8601 UTC, `level`, `logger`, `event`, then any `extra=` fields such as
`run_id`, `subscription`, `fetcher`, and `exc` for a traceback) when SHOKO_LOG_FORMAT=json, or when it is unset
and stderr is not a terminal; `SHOKO_LOG_FORMAT=text` (or a terminal) gives `time level logger message key=value`.

No secret reaches a line: `RedactingFilter` rewrites every record before it is formatted — values registered with
`register_secret()` (the configured client secret, webhook URLs, SMTP passwords, HMAC keys; values of SHOKO_*
environment variables whose names say SECRET, PASSWORD, TOKEN, WEBHOOK or KEY are registered at setup), query
values such as `sig=` and `token=`, `Authorization` header values, bearer tokens and JWTs, and passwords in URLs.
"""

from __future__ import annotations

import json as jsonlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

FORMAT_ENV = "SHOKO_LOG_FORMAT"
MASK = "***"
MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words; URL/header patterns still catch them
# The SDKs log every HTTP exchange at INFO; keep only their warnings.
NOISY_LOGGERS = ("azure", "msal", "httpx", "httpcore", "kiota", "alembic", "urllib3", "apscheduler")

_SECRET_ENV = re.compile(r"^SHOKO_.*(SECRET|PASSWORD|PASSWD|TOKEN|WEBHOOK|HMAC|KEY)", re.IGNORECASE)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # user:password@ in any URL (database URLs, SMTP URLs, proxies)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\g<1>{MASK}@"),
    # Authorization / Proxy-Authorization header values, as "Name: value", "'Name': 'value'" or name=value
    (
        re.compile(
            r"(?i)((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|sharedkey|pop)\s+)?[^\s\"',;}]+"
        ),
        rf"\g<1>{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]{20,}=*"), rf"\g<1> {MASK}"),
    # secrets carried as query or form values (SAS signatures, webhook tokens, OAuth client secrets)
    (
        re.compile(
            r"(?i)([?&;\s\"']|^)((?:sig|signature|token|access_token|refresh_token|id_token|client_secret|"
            r"client_assertion|password|passwd|pwd|secret|api[-_]?key|apikey)=)[^&\s\"',;]+"
        ),
        rf"\g<1>\g<2>{MASK}",
    ),
    # `code=` / `key=` only as URL query parameters (Azure Functions keys); elsewhere they name error codes
    (re.compile(r"(?i)([?&](?:code|key)=)[^&\s\"',;]+"), rf"\g<1>{MASK}"),
    # JWTs (access tokens) wherever they appear
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    # webhook URLs whose path is the credential
    (re.compile(r"(?i)(https://hooks\.slack\.com/)\S+"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(https://[a-z0-9.-]*webhook\.office\.com/)\S+"), rf"\g<1>{MASK}"),
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secrets_sorted: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Mask `value` wherever it would appear in a log line from now on (values under 6 characters are ignored:
    masking them would garble ordinary words)."""
    global _secrets_sorted
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        if value in _secrets:
            return
        _secrets.add(value)
        _secrets_sorted = tuple(sorted(_secrets, key=len, reverse=True))  # longest first: no partial leftovers


def register_secrets_from_environment(environ: Mapping[str, str] | None = None) -> None:
    for name, value in (os.environ if environ is None else environ).items():
        if _SECRET_ENV.match(name):
            register_secret(value)


def redact(text: str) -> str:
    """`text` with every registered secret and everything shaped like a credential masked."""
    for secret in _secrets_sorted:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    return redact(str(value))


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class RedactingFilter(logging.Filter):
    """Masks secrets in a record before any handler formats it: the message with its arguments, `extra=`
    fields, and the traceback text."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_shoko_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format: keep what was given, readable
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        for key, value in _extras(record).items():
            setattr(record, key, _redact_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._shoko_redacted = True
        return True


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in _extras(record).items():
            out.setdefault(key, _jsonable(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return jsonlib.dumps(out, ensure_ascii=False, default=str)


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


class TextFormatter(logging.Formatter):
    """`2026-03-31 09:00:00 INFO shoko.collector run 3 completed  run_id=3` — local time, for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        message = record.getMessage()
        # Fields the message does not already say, on the message line (before any traceback).
        pairs = [f"{k}={_jsonable(v)}" for k, v in _extras(record).items() if v is not None]
        fields = " ".join(p for p in pairs if p not in message)
        if not fields:
            return line
        head, sep, tail = line.partition("\n")
        return f"{head}  {fields}{sep}{tail}"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time of each record (it may be replaced after setup)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def wants_json(json: bool | None = None, environ: Mapping[str, str] | None = None, stream: Any = None) -> bool:
    if json is not None:
        return json
    choice = (os.environ if environ is None else environ).get(FORMAT_ENV, "").strip().lower()
    if choice == "json":
        return True
    if choice in ("text", "human", "console"):
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return True


def make_handler(json: bool, stream: Any = None) -> logging.Handler:
    """A handler with shoko's format and the redacting filter (stderr by default)."""
    handler: logging.Handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    handler.addFilter(RedactingFilter())
    handler._shoko = True  # type: ignore[attr-defined]
    return handler


def setup_logging(json: bool | None = None, *, verbose: bool = False, secrets: Iterable[str | None] = ()) -> None:
    """Configure the root logger for a shoko process (idempotent: a second call replaces the first's handler).

    Like logging.basicConfig, it leaves a root logger that something else already configured (e.g. a test
    runner) alone apart from levels."""
    register_secrets_from_environment()
    for value in secrets:
        register_secret(value)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ours = [h for h in root.handlers if getattr(h, "_shoko", False)]
    if len(ours) != len(root.handlers):
        return
    for handler in ours:
        root.removeHandler(handler)
    root.addHandler(make_handler(wants_json(json)))
