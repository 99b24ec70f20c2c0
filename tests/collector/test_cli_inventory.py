"""`shoko inventory`: the resource register of the latest full run, flagged by the inventory checks."""

from __future__ import annotations

import json

from collector.cli import main

SNAPSHOT = "snap-osdisk-vm-emr-dev-build-sea"  # the example estate's resource outside Japan


def test_inventory_lists_every_collected_resource_with_owner_region_and_flags(collected, capsys):
    capsys.readouterr()
    assert main(["inventory", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in data["resources"]}
    snap = rows[SNAPSHOT]
    assert snap["location"] == "southeastasia" and snap["region_check"] == "fail" and snap["owner_check"] == "pass"
    dev_watcher = "91142ddd-0943-48c0-91d5-e66f9c050145/resourcegroups/networkwatcherrg/providers/microsoft.network/"
    watcher = next(
        r
        for r in data["resources"]
        if r["id"].lower().endswith(dev_watcher + "networkwatchers/networkwatcher_japaneast")
    )
    assert watcher["owner"] is None and watcher["owner_check"] == "fail"
    assert rows["vm-emr-jump-prod"]["owner"] and rows["vm-emr-jump-prod"]["region_check"] == "pass"
    assert all(len(r["evidence_sha256"]) == 64 for r in data["resources"])

    assert main(["inventory"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if SNAPSHOT in x)
    assert "southeastasia" in line and "region 許可外" in line
    total = len(data["resources"])
    assert f"{total} resources in 2 subscription(s); 2 flagged" in out


def test_inventory_filters_by_subscription_and_type(collected, capsys):
    capsys.readouterr()
    assert main(["inventory", "--json", "--type", "microsoft.compute/virtualmachines"]) == 0
    rows = json.loads(capsys.readouterr().out)["resources"]
    assert rows and {r["type"].lower() for r in rows} == {"microsoft.compute/virtualmachines"}
    dev = "91142ddd-0943-48c0-91d5-e66f9c050145"
    assert main(["inventory", "--json", "--subscription", dev.upper()]) == 0
    rows = json.loads(capsys.readouterr().out)["resources"]
    assert rows and {r["subscription"] for r in rows} == {dev}


def test_inventory_without_runs_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    from storage.ledger import Ledger

    Ledger(f"sqlite:///{tmp_path}/empty.db").close()
    assert main(["inventory"]) == 1
    assert "no completed run yet" in capsys.readouterr().err
