"""`shoko status --as-of`, `explain --as-of` and `shoko history N`: the ledger answers for a past moment, and
says when a requirement's verdict changed and what changed it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from collector.cli import main
from sandbox.server import Sandbox
from tests.collector.conftest import EMR

PROD = "a8233bec-16ce-49d8-af36-5decabf6c438"
PEERING = (
    f"/subscriptions/{PROD}/resourceGroups/rg-emr-prod-net/providers/Microsoft.Network/virtualNetworks/"
    "vnet-emr-prod-je/virtualNetworkPeerings/peer-emr-prod-je-to-dev-je"
)


def test_status_as_of_and_history_follow_a_fix(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path}/shoko.db")
    with Sandbox.from_file(EMR) as sb:
        info = tmp_path / "sandbox.json"
        info.write_text(json.dumps(sb.info.to_dict()), encoding="utf-8")
        assert main(["collect", "--sandbox-info", str(info)]) == 0
        time.sleep(0.05)
        between = datetime.now(UTC)
        time.sleep(0.05)
        sb.delete_resource(PEERING)  # the production VNet is no longer peered with the development one
        assert main(["collect", "--sandbox-info", str(info)]) == 0
    capsys.readouterr()

    assert main(["status", "--json"]) == 0
    now = {r["no"]: r["status"] for r in json.loads(capsys.readouterr().out)["requirements"]}
    assert main(["status", "--json", "--as-of", between.isoformat()]) == 0
    then = json.loads(capsys.readouterr().out)
    assert then["run"]["id"] == 1 and then["as_of"] == between.isoformat()
    assert {r["no"]: r["status"] for r in then["requirements"]}[67] == "fail" and now[67] == "partial"
    assert main(["explain", "67", "--json", "--as-of", between.isoformat()]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "fail"
    assert main(["status", "--as-of", "2000-01-01"]) == 2
    assert "no completed full run at or before 2000-01-01T23:59:59" in capsys.readouterr().err
    assert main(["status", "--as-of", "last tuesday"]) == 2
    assert "--as-of: 'last tuesday' is not a date or time" in capsys.readouterr().err

    assert main(["history", "67", "--json"]) == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert [(c["run"], c["before"], c["after"]) for c in changes] == [(1, None, "fail"), (2, "fail", "partial")]
    assert any(d["kind"] == "resolved" and d["check_id"] == "dev-prod-network-isolated" for d in changes[1]["drift"])
    assert main(["history", "67", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "run 2 (full)" in out and "fail → partial" in out and "shoko explain 67 --run 2" in out
    # The same fix seen from the VNet: its check went fail → pass in run 2, with the drift event behind it.
    vnet = PEERING.split("/virtualNetworkPeerings/")[0]
    assert main(["history", "--resource", vnet.upper(), "--json"]) == 0  # ARM ids compare case-insensitively
    changes = json.loads(capsys.readouterr().out)["changes"]
    isolation = [c for c in changes if c["check_id"] == "dev-prod-network-isolated"]
    assert [(c["run"], c["before"], c["after"]) for c in isolation] == [(1, None, "fail"), (2, "fail", "pass")]
    assert 67 in isolation[1]["requirements"]
    assert [(d["kind"], d["before"], d["after"]) for d in isolation[1]["drift"]] == [("resolved", "fail", "pass")]
    assert all(c["run"] == 1 for c in changes if c["check_id"] != "dev-prod-network-isolated")  # nothing else moved
    assert main(["history", "67", "--resource", vnet, "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert f"{vnet} (checks of No 67): 2 status change(s)" in out
    assert "dev-prod-network-isolated  fail → pass" in out and "shoko explain 67 --run 2" in out
    assert main(["history", "--resource", vnet + "-typo"]) == 2
    assert "no completed run judged resource" in capsys.readouterr().err
    assert main(["history"]) == 2
    assert "history needs a requirement No, --resource ID, or both" in capsys.readouterr().err
