"""Anchors in an Azure Blob container (the sandbox's Blob data plane, through azure-storage-blob): `shoko collect`
writes one blob per signed run and never replaces one; `shoko verify --anchors` reads them back; a place that
refuses or cannot be reached is logged and counted, and the run stays sealed."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from agent.metrics import METRICS
from collector.cli import main
from collector.settings import sandbox_overrides
from reports.bundle import create_keys, load_private_key
from sandbox.server import Sandbox
from storage.ledger import Ledger
from storage.signatures import RunSigner
from tests.estates import blob_container, doc, estate
from tests.storage.helpers import drop_protection, rewrite_from

ACCOUNT, CONTAINER = "stanchorsje", "shoko-anchors"
SECRET = "blob-anchor-secret-that-must-not-leak-0123"
# An NSG that fails the open-port check, so a rewrite has findings to turn into passes.
OPEN_RDP = {
    "securityRules": [
        {
            "name": "allow-rdp",
            "properties": {
                "access": "Allow",
                "direction": "Inbound",
                "protocol": "Tcp",
                "sourceAddressPrefix": "*",
                "destinationPortRange": "3389",
                "priority": 100,
            },
        }
    ]
}


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    docs = [*blob_container(ACCOUNT, CONTAINER), doc("Microsoft.Network/networkSecurityGroups/nsg-web", OPEN_RDP)]
    with Sandbox.from_dict(estate(docs), client_secret=SECRET) as sandbox:
        yield sandbox


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path, str]:
    return create_keys(tmp_path / "keys")


def _configure(monkeypatch, tmp_path: Path, sb: Sandbox, keys, db: str = "shoko.db", account_url: str = "") -> Path:
    """The Azure settings of the sandbox in the environment (as an installation sets them), and a config that signs
    runs and publishes them to the container."""
    private, public, _fp = keys
    for key, value in sandbox_overrides(sb.info.to_dict())["azure"].items():
        monkeypatch.setenv(f"SHOKO_AZURE_{key.upper()}", value)
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path / db}")
    monkeypatch.setenv("SHOKO_SIGNING_KEY_FILE", str(private))
    config = tmp_path / "agent.yaml"
    ledger = {
        "sign_runs": True,
        "public_key_file": str(public),
        "anchors_blob_account_url": account_url or f"{sb.info.base_url}/{ACCOUNT}",
        "anchors_blob_container": CONTAINER,
    }
    config.write_text(yaml.safe_dump({"ledger": ledger}), encoding="utf-8")
    return config


def _failures(target: str = "blob") -> float:
    return METRICS.registry.get_sample_value("shoko_anchor_failures_total", {"target": target}) or 0.0


def _published(target: str = "blob") -> float:
    return METRICS.registry.get_sample_value("shoko_anchors_published_total", {"target": target}) or 0.0


def test_collect_writes_one_blob_per_run_and_verify_reads_them_back(sb, keys, tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level("DEBUG")
    config = _configure(monkeypatch, tmp_path, sb, keys)
    before = _published()
    for _ in range(3):
        assert main(["-v", "collect", "--config", str(config)]) == 0
    assert _published() - before == 3
    names = sb.blobs.names(ACCOUNT, CONTAINER)
    assert names == [f"runs/{i:012d}-run-{i}.json" for i in (1, 2, 3)]  # chain positions count from 1
    with Ledger(f"sqlite:///{tmp_path / 'shoko.db'}", read_only=True) as ledger:
        digests = {run.id: run.digest for run in ledger.chain()}
    for name in names:
        anchor = json.loads(sb.blobs.content(ACCOUNT, CONTAINER, name))
        assert anchor["format"] == "shoko-anchor/1" and anchor["digest"] == digests[anchor["run_id"]]
    assert caplog.text.count("anchor written to") == 3
    assert "has no time-based immutability policy" not in caplog.text and "not Locked" not in caplog.text
    assert "policy not checked" not in caplog.text
    assert SECRET not in caplog.text and "eyJ" not in caplog.text  # neither the secret nor a token

    label = f"{sb.info.base_url}/{ACCOUNT}/{CONTAINER}"
    capsys.readouterr()
    for given in ([], ["blob"], [label]):
        assert main(["verify", "--anchors", *given, "--config", str(config)]) == 0
        assert f"anchors: 3 run(s) match their published anchor ({label})" in capsys.readouterr().out

    # Someone with database rights and the stolen key rewrites run 2 and re-seals and re-signs the chain after it.
    engine = create_engine(f"sqlite:///{tmp_path / 'shoko.db'}", poolclass=NullPool)
    drop_protection(engine)
    rewrite_from(engine, 2, signer=RunSigner(load_private_key(keys[0], {})))
    engine.dispose()
    assert main(["verify", "--config", str(config)]) == 0  # the database alone cannot tell
    capsys.readouterr()
    assert main(["verify", "--anchors", "blob", "--config", str(config)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[1].strip() for line in err] == ["run 2", "run 3"]
    assert all(line.startswith("TAMPERED: run") and "(rewritten)" in line for line in err)


def test_an_existing_blob_is_never_replaced_and_the_other_ledger_is_caught(
    sb, keys, tmp_path, monkeypatch, capsys, caplog
):
    config = _configure(monkeypatch, tmp_path, sb, keys)
    assert main(["collect", "--config", str(config)]) == 0
    first = sb.blobs.content(ACCOUNT, CONTAINER, "runs/000000000001-run-1.json")
    # A second ledger sealed from scratch (the database replaced) publishes to the same chain position.
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    failures = _failures()
    caplog.clear()
    assert main(["collect", "--config", str(config)]) == 0  # the seal stands
    assert _failures() - failures == 1
    refused = [r for r in caplog.records if r.name == "shoko.anchors" and r.levelname == "ERROR"]
    assert len(refused) == 1
    assert "runs/000000000001-run-1.json already exists (409 BlobAlreadyExists)" in refused[0].getMessage()
    assert sb.blobs.content(ACCOUNT, CONTAINER, "runs/000000000001-run-1.json") == first
    assert [r.status for r in sb.requests if r.method == "PUT" and r.api == "blob"] == [201, 409]
    capsys.readouterr()
    assert main(["verify", "--anchors", "--config", str(config)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("TAMPERED: run 1: different: the ledger holds digest")


def test_no_permission_is_logged_counted_and_named_missing_by_verify(sb, keys, tmp_path, monkeypatch, capsys, caplog):
    config = _configure(monkeypatch, tmp_path, sb, keys)
    assert main(["collect", "--config", str(config)]) == 0
    sb.faults.add("forbidden", path=f"/{ACCOUNT}/*", method="PUT")
    failures = _failures()
    caplog.clear()
    assert main(["collect", "--config", str(config)]) == 0
    assert _failures() - failures == 1
    assert "cannot write runs/000000000002-run-2.json: 403 AuthorizationPermissionMismatch" in caplog.text
    assert SECRET not in caplog.text and "eyJ" not in caplog.text
    with Ledger(f"sqlite:///{tmp_path / 'shoko.db'}", read_only=True) as ledger:
        assert [r.status for r in ledger.runs()] == ["completed", "completed"]
    sb.faults.clear()
    capsys.readouterr()
    assert main(["verify", "--anchors", "--config", str(config)]) == 1
    assert capsys.readouterr().err.strip() == (
        "TAMPERED: run 2: missing from the anchors (its signed digest was never published)"
    )


def test_an_unreachable_account_is_logged_and_the_run_completes(sb, keys, tmp_path, monkeypatch, capsys, caplog):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"https://127.0.0.1:{port}/{ACCOUNT}"
    config = _configure(monkeypatch, tmp_path, sb, keys, account_url=url)
    failures = _failures()
    assert main(["collect", "--config", str(config)]) == 0
    assert _failures() - failures == 1
    assert "anchor container's immutability policy not checked" in caplog.text
    assert f"anchor not published: blob container {url}/{CONTAINER}: cannot write" in caplog.text
    with Ledger(f"sqlite:///{tmp_path / 'shoko.db'}", read_only=True) as ledger:
        (run,) = ledger.runs()
    assert run.status == "completed" and run.sealed
    capsys.readouterr()
    assert main(["verify", "--anchors", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"shoko: blob container {url}/{CONTAINER}: cannot read the anchors:") and "\n" not in err


@pytest.mark.parametrize(
    ("policy", "warning"),
    [
        (None, "has no time-based immutability policy: its anchors can be deleted or replaced"),
        ("Unlocked", "its time-based immutability policy is Unlocked, not Locked"),
    ],
)
def test_a_container_without_a_locked_policy_is_warned_about(policy, warning, keys, tmp_path, monkeypatch, caplog):
    docs = blob_container(ACCOUNT, CONTAINER, policy=policy)
    with Sandbox.from_dict(estate(docs)) as plain:
        config = _configure(monkeypatch, tmp_path, plain, keys)
        assert main(["collect", "--config", str(config)]) == 0
        assert main(["collect", "--config", str(config)]) == 0
        assert len(plain.blobs.names(ACCOUNT, CONTAINER)) == 2
    warned = [r for r in caplog.records if warning in r.getMessage()]
    assert len(warned) == 2 and all(r.levelname == "WARNING" for r in warned)  # once per process (`collect`)
    assert "policy not checked" not in caplog.text


def test_blob_settings_are_checked_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path / 'shoko.db'}")
    config = tmp_path / "agent.yaml"
    url = "https://stanchorsje.blob.core.windows.net"
    cases = [
        ({"anchors_blob_account_url": url, "anchors_blob_container": "a1"}, "anchors are signed digests"),
        ({"sign_runs": True, "anchors_blob_account_url": url}, "key 'ledger.anchors_blob_container': give both"),
        (
            {"sign_runs": True, "anchors_blob_account_url": "http://x", "anchors_blob_container": "abc"},
            "key 'ledger.anchors_blob_account_url': expected the account's https blob endpoint",
        ),
        (
            {"sign_runs": True, "anchors_blob_account_url": url, "anchors_blob_container": "Bad_Name"},
            "key 'ledger.anchors_blob_container': 'Bad_Name' is not a container name",
        ),
    ]
    for ledger, message in cases:
        config.write_text(yaml.safe_dump({"ledger": ledger}), encoding="utf-8")
        assert main(["verify", "--config", str(config)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err
    config.write_text("{}", encoding="utf-8")
    assert main(["verify", "--anchors", "blob", "--config", str(config)]) == 2
    assert "--anchors blob: no anchor container" in capsys.readouterr().err
    assert main(["verify", "--anchors", "https://host-only", "--config", str(config)]) == 2
    assert "expected https://<account>.blob.core.windows.net/<container>" in capsys.readouterr().err
