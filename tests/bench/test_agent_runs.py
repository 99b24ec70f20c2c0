"""`python -m bench run --agent` at the smallest size: two scheduled runs of one `shoko agent` process, each with
its own figures, and the agent stopped afterwards."""

from __future__ import annotations

import json

from bench.run import main


def test_the_agent_is_measured_run_by_run_and_stopped(tmp_path, capsys) -> None:
    out = tmp_path / "bench"
    assert main(["--agent", "--subscriptions", "1", "--resources", "120", "--out", str(out)]) == 0
    figures = json.loads((out / "figures.json").read_text(encoding="utf-8"))
    assert figures["collector"] == "shoko agent"
    first, second = figures["agent_runs"]
    assert (first["run_id"], second["run_id"]) == (1, 2)
    for run in (first, second):
        assert run["wall"] > 0 and run["cpu"] > 0 and run["fetching"] > 0
        assert 50e6 < run["peak_rss"] <= run["high_water"] + 1e6  # read during the run, under the process's peak
        assert sum(run["calls"]["operations"].values()) > 100
    assert second["high_water"] >= first["high_water"]
    assert 0 < first["database"] <= second["database"]
    assert figures["first"]["peak_rss"] == first["peak_rss"] and figures["second"]["wall"] == second["wall"]
    printed = capsys.readouterr().out
    assert "collector: shoko agent" in printed and "VmHWM when sealed" in printed
    log = (out / "shoko.log").read_text(encoding="utf-8")
    assert "received SIGTERM: stopping" in log and "agent stopped" in log, log[-2000:]
