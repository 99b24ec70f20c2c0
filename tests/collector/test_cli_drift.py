"""`shoko drift`: stored drift events, newest first, in text and JSON; bad input is one line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.cli import main
from controls.model import DriftEvent, DriftKind, Status
from storage.ledger import Ledger

T0 = datetime(2026, 3, 31, 0, 0, tzinfo=UTC)
NSG = "/subscriptions/0000/resourceGroups/rg-karte/providers/Microsoft.Network/networkSecurityGroups/nsg-web"
OPENED = DriftEvent(
    DriftKind.NEW_FAILURE,
    "nsg-no-internet-management-ports",
    NSG,
    (86, 87, 148),
    Status.PASS,
    Status.FAIL,
    "新たな不適合: nsg-web の nsg-no-internet-management-ports: 適合 → 不適合: 3389 が開いています",
    "new failure: nsg-no-internet-management-ports on nsg-web: pass → fail: 3389 is open",
    1,
)
CHANGED = DriftEvent(
    DriftKind.VERDICT_CHANGED, None, None, (148,), Status.PARTIAL, Status.FAIL, "判定の変化", "changed", 1
)
CLOSED = DriftEvent(
    DriftKind.RESOLVED, OPENED.check_id, NSG, (86, 87, 148), Status.FAIL, Status.PASS, "解消", "resolved", 2
)


@pytest.fixture
def drifted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A ledger of three completed runs: a baseline, an NSG opened, the NSG closed again."""
    url = f"sqlite:///{tmp_path}/drift.db"
    runs = []
    with Ledger(url) as ledger:
        for hour, events in enumerate([[], [OPENED, CHANGED], [CLOSED]]):
            run_id = ledger.start_run(T0 + timedelta(hours=hour), agent_version="v", config_digest="d", scope={})
            ledger.add_drift_events(run_id, events)
            ledger.complete_run(run_id, T0 + timedelta(hours=hour, minutes=1))
            runs.append(run_id)
    monkeypatch.setenv("SHOKO_DATABASE_URL", url)
    return runs


def test_drift_lists_events_newest_first_with_where_to_look(drifted, capsys) -> None:
    assert main(["drift", "--lang", "en"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"run {drifted[2]}  2026-03-31T02:01:00+00:00  resolved 解消  No 86, 87, 148"
    assert out[1] == f"  check nsg-no-internet-management-ports  resource {NSG}  fail → pass (before: run 2)"
    assert out[2] == "  resolved"
    assert out[3] == f"  → shoko explain 86 --run {drifted[2]}"
    assert out[4].startswith(f"run {drifted[1]}  2026-03-31T01:01:00+00:00  new_failure 新たな不適合  No 86, 87, 148")
    assert f"  {OPENED.reason_en}" in out and f"  {OPENED.reason_ja}" not in out
    assert "  check -  resource -  partial → fail (before: run 1)" in out
    assert f"  → shoko explain 148 --run {drifted[1]}" in out
    assert out[-1] == "3 drift event(s) in 2 completed run(s), newest first"

    assert main(["drift", "--lang", "ja", "--run", str(drifted[1])]) == 0
    out = capsys.readouterr().out
    assert OPENED.reason_ja in out and OPENED.reason_en not in out and "resolved" not in out


def test_drift_since_and_json(drifted, capsys) -> None:
    assert main(["drift", "--since", "2026-03-31T10:30+09:00", "--json"]) == 0  # 01:30 UTC: the last run only
    rows = json.loads(capsys.readouterr().out)
    assert [(r["run"], r["kind"], r["before"], r["after"]) for r in rows] == [(drifted[2], "resolved", "fail", "pass")]
    assert rows[0]["explain"] == f"shoko explain 86 --run {drifted[2]}"
    assert rows[0]["detected_at"] == "2026-03-31T02:01:00+00:00" and rows[0]["previous_run"] == 2

    assert main(["drift", "--since", "2026-04-01"]) == 0  # a date, read as UTC midnight
    assert capsys.readouterr().out.strip() == "no drift events since 2026-04-01T00:00:00+00:00"


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01", ""])
def test_a_bad_since_is_one_line_and_exit_2(drifted, capsys, since: str) -> None:
    assert main(["drift", "--since", since]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"shoko: --since: {since!r} is not a date or time")


def test_drift_on_a_missing_database_creates_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    missing = tmp_path / "none" / "shoko.db"
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{missing}")
    assert main(["drift"]) == 2
    assert "no ledger database at" in capsys.readouterr().err
    assert not missing.exists() and not missing.parent.exists()
