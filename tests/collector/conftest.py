"""The `collected` fixture: one `shoko collect` of the example estate into a SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.cli import main
from sandbox.server import Sandbox

EMR = Path(__file__).resolve().parents[2] / "sandbox" / "estates" / "hospital-emr.yaml"

SECRET = "sandbox-secret-that-must-not-leak-0123456789"


@pytest.fixture
def collected(tmp_path, monkeypatch, caplog):
    """One `shoko collect --sandbox-info` run (debug logging) into a SQLite file; returns the file."""
    db = tmp_path / "shoko.db"
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{db}")
    caplog.set_level("DEBUG")
    with Sandbox.from_file(EMR, client_secret=SECRET) as sb:
        info = tmp_path / "sandbox.json"
        info.write_text(json.dumps(sb.info.to_dict()), encoding="utf-8")
        assert main(["-v", "collect", "--sandbox-info", str(info)]) == 0
    assert SECRET not in caplog.text
    return db
