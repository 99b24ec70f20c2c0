"""Log lines: JSON in a container, readable on a terminal, and never a secret in either."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from agent.logs import JsonFormatter, RedactingFilter, TextFormatter, make_handler, redact, register_secret

ROOT = Path(__file__).resolve().parents[2]
CLIENT_SECRET = "Zq8~client-secret-value-7hG2"
WEBHOOK = "https://example.webhook.office.com/webhookb2/7f0c1d2e/IncomingWebhook/a1b2c3d4e5/f6a7b8"

# A process that logs the way the agent does, with secrets in every place one could slip in.
SCRIPT = f"""
import logging
from agent.logs import register_secret, setup_logging
setup_logging(None)
register_secret({WEBHOOK!r})
log = logging.getLogger("shoko.collector")
log.info("run %d started", 7, extra={{"run_id": 7, "subscription": "a8233bec-16ce-49d8-af36-5decabf6c438"}})
log.warning("credential uses %s", {CLIENT_SECRET!r}, extra={{"fetcher": "entra.principals"}})
log.info("posting to %s", {WEBHOOK!r}, extra={{"channel": "ops-teams", "url": {WEBHOOK!r}}})
log.info("GET https://stemrlogs.blob.core.windows.net/c?sv=2024-11-04&sig=Yc4%2Bk9RZrQ%3D&se=2026")
log.info("request headers {{'Authorization': 'Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJhcm0ifQ.c2ln'}}")
log.info("database postgresql+psycopg://shoko:pg-pass-5521@db.internal:5432/shoko")
try:
    raise RuntimeError("token request failed for client_secret=" + {CLIENT_SECRET!r})
except RuntimeError:
    log.exception("run %d failed", 7, extra={{"run_id": 7}})
"""
SECRETS = (
    CLIENT_SECRET,
    WEBHOOK,
    "Yc4%2Bk9RZrQ%3D",
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9",
    "pg-pass-5521",
    "a1b2c3d4e5",
)


def run_script(env_extra: dict[str, str], stderr) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SHOKO_LOG_FORMAT"}
    env |= {"SHOKO_AZURE_CLIENT_SECRET": CLIENT_SECRET, "PYTHONPATH": str(ROOT), **env_extra}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, timeout=60, check=True
    )


def test_json_lines_when_stderr_is_not_a_terminal_and_no_secret_in_them():
    proc = run_script({}, subprocess.PIPE)
    text = proc.stderr.decode()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 7
    for line in lines:
        assert line["ts"].endswith("Z") and "T" in line["ts"]
        assert line["level"] in ("info", "warning", "error") and line["logger"] == "shoko.collector"
        assert isinstance(line["event"], str)
    first = lines[0]
    assert first["event"] == "run 7 started" and first["run_id"] == 7
    assert first["subscription"] == "a8233bec-16ce-49d8-af36-5decabf6c438"
    assert lines[1]["fetcher"] == "entra.principals" and lines[1]["event"] == "credential uses ***"
    assert lines[2]["channel"] == "ops-teams" and lines[2]["url"] == "***"
    assert "sig=***" in lines[3]["event"] and "sv=2024-11-04" in lines[3]["event"]
    assert "'Authorization': '***'" in lines[4]["event"]
    assert lines[5]["event"] == "database postgresql+psycopg://shoko:***@db.internal:5432/shoko"
    failed = lines[6]
    assert failed["level"] == "error" and failed["run_id"] == 7 and "RuntimeError" in failed["exc"]
    for secret in SECRETS:
        assert secret not in text, secret


def test_readable_lines_on_a_terminal():
    leader, follower = pty.openpty()
    try:
        run_script({}, follower)
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the writer has gone
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    text = b"".join(chunks).decode()
    first = text.splitlines()[0]
    assert " INFO shoko.collector run 7 started  run_id=7 subscription=a8233bec" in first
    assert not first.startswith("{")
    assert "Traceback" in text and "RuntimeError" in text
    for secret in SECRETS:
        assert secret not in text, secret


def test_the_environment_chooses_the_format():
    proc = run_script({"SHOKO_LOG_FORMAT": "text"}, subprocess.PIPE)
    assert " INFO shoko.collector run 7 started" in proc.stderr.decode().splitlines()[0]
    proc = run_script({"SHOKO_LOG_FORMAT": "json"}, subprocess.PIPE)
    assert json.loads(proc.stderr.decode().splitlines()[0])["run_id"] == 7


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()], ids=["json", "text"])
def test_a_registered_secret_never_appears_in_any_field(formatter):
    secret = "hmac-key-3e9f1c77b2a04d"
    register_secret(secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("shoko.test.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("key %s", secret, extra={"headers": {"X-Signature": secret}, "tried": [secret]})
        log.warning("message with a bad format %d", "x")  # a broken call still logs, readable
        try:
            raise ValueError(f"bad key {secret}")
        except ValueError:
            log.exception("signing failed")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    text = stream.getvalue()
    assert secret not in text
    assert text.count("***") >= 4 and "signing failed" in text and "bad format" in text


def test_redaction_keeps_what_is_not_a_secret():
    kept = (
        "collection error: source=sql.servers kind=sql_server scope=/subscriptions/x code=AuthorizationFailed",
        "Bearer authentication is not permitted for non-TLS protected (non-https) URLs",
        "serving /healthz on http://127.0.0.1:9464",
    )
    for line in kept:
        assert redact(line) == line
    assert redact("https://func.example.net/api/alert?code=Xk29-aa&name=1") == (
        "https://func.example.net/api/alert?code=***&name=1"
    )
    assert redact("Authorization: Basic dXNlcjpwYXNz") == "Authorization: ***"
    assert redact("https://hooks.slack.com/services/T000/B000/XXXX") == "https://hooks.slack.com/***"
    assert redact("smtp://alerts:mail-pass@smtp.example.jp:587") == "smtp://alerts:***@smtp.example.jp:587"


def test_make_handler_writes_json_through_the_filter():
    stream = io.StringIO()
    handler = make_handler(json=True, stream=stream)
    record = logging.LogRecord("shoko.agent", logging.INFO, __file__, 1, "next run at %s", ("10:00",), None)
    record.run_id = 3
    assert handler.filter(record)
    handler.emit(record)
    line = json.loads(stream.getvalue())
    assert line["event"] == "next run at 10:00" and line["run_id"] == 3 and line["level"] == "info"
