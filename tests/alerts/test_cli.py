"""`shoko alerts test`: one line per channel, exit 1 when any failed, no secret anywhere in the output."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest
import yaml

from collector.cli import main

from .conftest import HMAC_KEY, SECRETS, channel_yaml, environment


@pytest.fixture
def config(tmp_path, receiver, smtp_server, tls, monkeypatch):
    path = tmp_path / "agent.yaml"
    channels = channel_yaml(receiver, smtp_server, tls)
    path.write_text(yaml.safe_dump({"alerts": {"channels": channels}}), encoding="utf-8")
    for name, value in environment(receiver).items():
        monkeypatch.setenv(name, value)
    return path


def run(capsys, *argv: str) -> tuple[int, list[str], str]:
    code = main(["alerts", "test", *argv])
    out, err = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in out and secret not in err
    return code, out.splitlines(), err


def test_every_channel_gets_a_test_message(config, capsys, receiver, smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    receiver.default = 202
    code, lines, _ = run(capsys, "--config", str(config))
    assert code == 0
    assert lines == ["soc (webhook): ok: HTTP 202", "teams (teams): ok: HTTP 202", "slack (slack): ok: HTTP 202",
                     "mail (email): ok: SMTP 250"]  # fmt: skip
    (hook,) = receiver.on("soc")
    assert hook.json()["type"] == "test" and hook.json()["items"] == []
    expected = hmac.new(HMAC_KEY.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["x-shoko-signature"] == f"sha256={expected}"
    assert "テスト送信" in smtp_server.messages[0]["Subject"]
    assert "テスト送信" in receiver.on("teams")[0].body.decode()
    for secret in SECRETS:
        assert secret not in caplog.text


def test_one_channel_only(config, capsys, receiver, smtp_server):
    code, lines, _ = run(capsys, "--config", str(config), "--channel", "mail")
    assert (code, lines) == (0, ["mail (email): ok: SMTP 250"])
    assert receiver.requests == [] and len(smtp_server.messages) == 1


def test_failures_are_one_line_each_without_secrets_and_exit_1(config, capsys, receiver, monkeypatch):
    receiver.answers = [500, 302]  # the webhook fails; Slack's URL answers a redirect, which is not followed
    monkeypatch.delenv("T_TEAMS_URL")
    code, lines, _ = run(capsys, "--config", str(config))
    assert code == 1
    soc, teams, slack, mail = lines
    assert soc.startswith("soc (webhook): FAILED: 127.0.0.1:") and "HTTP 500" in soc
    assert "upstream broken for POST ***" in soc  # the path quoted by the server, scrubbed
    assert teams == "teams (teams): FAILED: environment variable T_TEAMS_URL is not set"
    assert slack.startswith("slack (slack): FAILED: ") and "HTTP 302" in slack
    assert mail == "mail (email): ok: SMTP 250"


def test_an_untrusted_certificate_or_a_closed_port_fails_without_the_url(tmp_path, capsys, receiver, tls, monkeypatch):
    channels = channel_yaml(receiver, None, tls)
    channels[0].pop("ca_file")  # the system's CAs do not trust the local one
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({"alerts": {"channels": channels[:2]}}), encoding="utf-8")
    for name, value in environment(receiver).items():
        monkeypatch.setenv(name, value)
    closed = receiver.url("teams").replace(receiver.base_url, "https://127.0.0.1:1")
    monkeypatch.setenv("T_TEAMS_URL", closed)
    code, lines, _ = run(capsys, "--config", str(path))
    assert code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in lines[0]
    assert lines[1].startswith("teams (teams): FAILED: 127.0.0.1:1:") and "refused" in lines[1].lower()


def test_an_unknown_channel_or_no_channels_is_a_usage_error(config, capsys, tmp_path):
    code, _, err = run(capsys, "--config", str(config), "--channel", "pager")
    assert code == 2 and "no alert channel named 'pager' (channels: soc, teams, slack, mail)" in err
    empty = tmp_path / "empty.yaml"
    empty.write_text("alerts: {}\n", encoding="utf-8")
    code, _, err = run(capsys, "--config", str(empty))
    assert code == 2 and "no alert channel is configured (alerts.channels)" in err
