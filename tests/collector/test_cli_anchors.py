"""`shoko collect` and the agent sign the runs they seal and publish each signed digest (the anchors file, a
webhook channel); `shoko verify` checks the signatures against the configured key and, with --anchors, the
ledger against the published digests."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
import yaml

from agent.service import Agent, jobs_from
from collector.cli import main
from collector.settings import load_settings, sandbox_overrides
from reports.bundle import create_keys, load_public_key
from sandbox.server import Sandbox
from storage.ledger import Ledger
from storage.signatures import TrustedKey
from tests.alerts.conftest import HMAC_KEY, channel_yaml, environment, receiver, tls  # noqa: F401  (fixtures)
from tests.collector.conftest import EMR


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path, str]:
    return create_keys(tmp_path / "keys")


def _collect(tmp_path: Path, config: Path | None = None) -> None:
    with Sandbox.from_file(EMR) as sb:
        info = tmp_path / "sandbox.json"
        info.write_text(json.dumps(sb.info.to_dict()), encoding="utf-8")
        assert main(["collect", "--sandbox-info", str(info), *(["--config", str(config)] if config else [])]) == 0


def test_collect_signs_and_publishes_and_verify_compares_with_the_anchors(
    tmp_path,
    monkeypatch,
    capsys,
    keys,
    receiver,  # noqa: F811
    tls,  # noqa: F811
):
    private, public, fp = keys
    db, anchors_file = tmp_path / "shoko.db", tmp_path / "anchors" / "runs.jsonl"
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{db}")
    _collect(tmp_path)  # before signing was configured
    config = tmp_path / "agent.yaml"
    document = {
        "alerts": {"channels": [c for c in channel_yaml(receiver, None, tls) if c["name"] == "soc"]},
        "ledger": {
            "sign_runs": True,
            "public_key_file": str(public),
            "anchors_file": str(anchors_file),
            "anchor_channels": ["soc"],
        },
    }
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    for name, value in environment(receiver).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHOKO_SIGNING_KEY_FILE", str(private))
    _collect(tmp_path, config)
    _collect(tmp_path, config)

    lines = anchors_file.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["run_id"] for line in lines] == [2, 3]
    posted = receiver.on("soc")
    assert [json.loads(r.body)["anchor"]["run_id"] for r in posted] == [2, 3]
    assert all(json.loads(r.body)["type"] == "shoko.anchor" for r in posted)
    expected = "sha256=" + hmac.new(HMAC_KEY.encode(), posted[0].body, hashlib.sha256).hexdigest()
    assert posted[0].headers["x-shoko-signature"] == expected

    capsys.readouterr()
    assert main(["verify", "--anchors", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"signatures: 2 run(s) signed by {fp}, checked against the configured key" in out
    assert "runs 1: unsigned (sealed before signing was configured)" in out
    assert f"anchors: 2 run(s) match their published anchor ({anchors_file})" in out

    anchors_file.write_text(lines[0] + "\n", encoding="utf-8")  # run 3's anchor lost
    assert main(["verify", "--anchors", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "TAMPERED: run 3: missing from the anchors (its signed digest was never published)"

    other = create_keys(tmp_path / "other")[1]  # the auditor holds another key than the one that signed
    monkeypatch.setenv("SHOKO_LEDGER_PUBLIC_KEY_FILE", str(other))
    assert main(["verify", "--config", str(config)]) == 1
    assert "TAMPERED: run 2: run_signatures: signed by key" in capsys.readouterr().err


def test_signing_misconfigured_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, keys):
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path / 'shoko.db'}")
    monkeypatch.delenv("SHOKO_SIGNING_KEY_FILE", raising=False)
    monkeypatch.delenv("SHOKO_SIGNING_KEY", raising=False)
    config = tmp_path / "agent.yaml"
    cases = [
        ({"sign_runs": True}, "ledger.sign_runs: no signing key: give --key FILE, or set SHOKO_SIGNING_KEY_FILE"),
        ({"anchors_file": str(tmp_path / "a.jsonl")}, "key 'ledger.anchors_file': anchors are signed digests"),
        ({"signing_key": "-----BEGIN PRIVATE KEY-----"}, "key 'ledger.signing_key': secrets are not read from"),
        ({"fingerprint": "abc"}, "key 'ledger.fingerprint': expected the key's SHA-256 fingerprint"),
        ({"sign_runs": True, "anchor_channels": ["soc"]}, "key 'ledger.anchor_channels': no alert channel"),
    ]
    for ledger, message in cases:
        config.write_text(yaml.safe_dump({"ledger": ledger}), encoding="utf-8")
        assert main(["collect", "--config", str(config)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err and "BEGIN PRIVATE KEY" not in err
    assert not (tmp_path / "shoko.db").exists()
    assert main(["verify", "--anchors"]) == 2
    assert "no anchors file: give --anchors FILE or set ledger.anchors_file" in capsys.readouterr().err


def test_the_agent_signs_the_runs_it_seals(tmp_path, keys):
    private, public, _fp = keys
    anchors_file = tmp_path / "anchors.jsonl"
    with Sandbox.from_file(EMR) as sb:
        overrides = {
            **sandbox_overrides(sb.info.to_dict()),
            "database": {"url": f"sqlite:///{tmp_path / 'agent.db'}"},
            "agent": {"listen_port": 0},
            "ledger": {"sign_runs": True, "signing_key_file": str(private), "anchors_file": str(anchors_file)},
        }
        settings = load_settings(None, environ={}, overrides=overrides)
        agent = Agent(settings)
        try:
            outcome = agent.run_job(jobs_from(settings)[0])
        finally:
            agent.ledger.close()
    assert outcome is not None
    with Ledger(settings.database.url, read_only=True) as ledger:
        report = ledger.verify(TrustedKey.of(load_public_key(public)))
    assert report.ok and report.signed == 1 and report.unsigned == ()
    (line,) = anchors_file.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["digest"] == outcome.run.digest
