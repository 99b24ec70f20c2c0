"""`shoko agent` as ops run it: a real process on a few-second schedule, collecting the sandbox through the
real SDK, alerting local receivers (HTTPS webhook, Teams, Slack; SMTP with STARTTLS and AUTH), killed and
restarted, and sharing one database with a second agent."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from agent.schedule import parse_schedule
from agent.service import Job, missed
from sandbox.server import Sandbox
from storage.ledger import Ledger, RunRecord
from tests.alerts.conftest import Receiver, channel_yaml, environment
from tests.estates import estate
from tests.pipeline.test_e2e_nsg import nsg, nsg_id, rule

ROOT = Path(__file__).resolve().parents[2]
CHECK = "nsg-no-internet-management-ports"
HTTPS_ONLY = rule("AllowHttps", 100, ports="443")
OPEN_SSH = rule("AllowSsh", 110, source="*", ports="22")


def _estate() -> dict[str, Any]:
    return estate([nsg("nsg-web", HTTPS_ONLY), nsg("nsg-db")])


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def runs_in(url: str) -> list[RunRecord]:
    with Ledger(url) as ledger:
        return ledger.runs()


def completed(url: str, *, full: bool = True, after: int = 0) -> list[RunRecord]:
    return [r for r in runs_in(url) if r.status == "completed" and (r.kind == "full") == full and r.id > after]


class AgentProcess:
    """One `shoko agent` child process with its config file, environment and log file."""

    def __init__(self, tmp: Path, name: str, sb: Sandbox, config: dict[str, Any], env: dict[str, str]) -> None:
        info = tmp / "sandbox.json"
        info.write_text(json.dumps(sb.info.to_dict()), encoding="utf-8")
        self.config = tmp / f"{name}.yaml"
        self.config.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        self.log = tmp / f"{name}.log"
        command = [sys.executable, "-m", "collector.cli", "agent", "--config", str(self.config),
                   "--sandbox-info", str(info)]  # fmt: skip
        environ = {**os.environ, "SHOKO_LOG_FORMAT": "json", **env}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT)

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(encoding="utf-8").splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


@contextmanager
def agent(tmp: Path, sb: Sandbox, config: dict[str, Any], env: dict[str, str] | None = None,
          name: str = "agent") -> Iterator[AgentProcess]:  # fmt: skip
    process = AgentProcess(tmp, name, sb, config, env or {})
    try:
        yield process
    finally:
        if process.proc.poll() is None:
            process.kill()


def config(database_url: str, **agent_keys: Any) -> dict[str, Any]:
    return {
        "database": {"url": database_url},
        "agent": {"schedule": "every 2s", "listen_port": 0, "lease_seconds": 1, "shutdown_grace_seconds": 10,
                  **agent_keys},
    }  # fmt: skip


# ------------------------------------------------------------------------------------ make-up runs


def _run(started: datetime, scope: dict[str, Any] | None = None) -> Any:
    return SimpleNamespace(started_at=started, scope=scope or {})


def test_a_missed_schedule_is_made_up_once_and_a_recent_run_is_not_repeated():
    now = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    hourly = Job("full", None, parse_schedule("every 1h"))
    assert missed(hourly, [], now)  # never ran
    assert missed(hourly, [_run(now - timedelta(hours=5))], now)  # five slots missed: one make-up run
    assert not missed(hourly, [_run(now - timedelta(minutes=20))], now)
    on_the_hour = Job("full", None, parse_schedule("0 * * * *"))
    assert missed(on_the_hour, [_run(datetime(2026, 12, 2, 4, 59, tzinfo=UTC))], now)
    assert missed(on_the_hour, [_run(datetime(2026, 12, 2, 5, 0, 30, tzinfo=UTC))], now)  # 06:00 fired
    assert not missed(on_the_hour, [_run(datetime(2026, 12, 2, 5, 0, 30, tzinfo=UTC))], now - timedelta(seconds=1))
    # A partial job looks only at its own runs.
    nsg_job = Job("network_security_group", frozenset({"network_security_group"}), parse_schedule("every 10m"))
    partial = _run(now - timedelta(minutes=2), {"partial": True, "kinds": ["network_security_group"]})
    assert not missed(nsg_job, [partial], now) and missed(hourly, [partial], now)


def test_restart_makes_up_a_never_run_schedule_once_and_does_not_repeat_a_recent_run(tmp_path):
    url = f"sqlite:///{tmp_path}/agent.db"
    with Sandbox.from_dict(_estate()) as sb:
        with agent(tmp_path, sb, config(url, schedule="every 1h"), name="first") as first:
            wait_for("the make-up run at start", lambda: completed(url))
            time.sleep(2)
            assert first.stop() == 0
        assert len(runs_in(url)) == 1  # one run for a schedule that never ran, not one per missed slot
        with agent(tmp_path, sb, config(url, schedule="every 1h"), name="second") as second:
            wait_for("the agent to start", lambda: any("agent started" in x["event"] for x in second.lines()))
            time.sleep(3)
            assert second.stop() == 0
        assert len(runs_in(url)) == 1  # the last run is recent: nothing is due at restart


# ------------------------------------------------------------------------------------ drift alerts


def _messages(hooks: Receiver, mailbox: Any) -> dict[str, list[Any]]:
    return {
        "soc": [r.json() for r in hooks.on("soc")],
        "teams": [r.json() for r in hooks.on("teams")],
        "slack": [r.json() for r in hooks.on("slack")],
        "mail": list(mailbox.messages),
    }


def _events(webhook_body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(i["event"], i.get("check_id")) for i in webhook_body["items"]]


def test_an_nsg_opened_while_the_agent_runs_is_one_alert_per_channel_then_one_resolve(
    tmp_path, receiver, smtp_server, tls
):
    url = f"sqlite:///{tmp_path}/agent.db"
    settings = config(url)
    settings["alerts"] = {"channels": channel_yaml(receiver, smtp_server, tls), "retry_initial_seconds": 1}
    with Sandbox.from_dict(_estate()) as sb, agent(tmp_path, sb, settings, environment(receiver)) as proc:
        baseline = wait_for("two scheduled runs", lambda: len(completed(url)) >= 2 and completed(url))
        assert _messages(receiver, smtp_server) == {"soc": [], "teams": [], "slack": [], "mail": []}

        sb.put_resource(nsg("nsg-web", HTTPS_ONLY, OPEN_SSH))
        opened = wait_for(
            "the alert on every channel",
            lambda: all(_messages(receiver, smtp_server).values()) and _messages(receiver, smtp_server),
        )
        last = completed(url)[-1].id
        wait_for("two more runs while the rule stays open", lambda: len(completed(url, after=last)) >= 2)
        time.sleep(1)
        persisting = _messages(receiver, smtp_server)
        assert {name: len(found) for name, found in persisting.items()} == {"soc": 1, "teams": 1, "slack": 1, "mail": 1}
        assert ("new_failure", CHECK) in _events(opened["soc"][0])
        [item] = [i for i in opened["soc"][0]["items"] if i["event"] == "new_failure"]
        assert item["resource_id"] == nsg_id("nsg-web") and item["explain"].startswith("shoko explain 86 --run ")
        assert "AllowSsh" in item["reason_en"] and persisting["mail"][0]["Subject"]

        sb.put_resource(nsg("nsg-web", HTTPS_ONLY))
        wait_for("the resolve message", lambda: len(receiver.on("soc")) == 2 and len(smtp_server.messages) == 2)
        last = completed(url)[-1].id
        wait_for("two more runs after the revert", lambda: len(completed(url, after=last)) >= 2)
        time.sleep(1)
        final = _messages(receiver, smtp_server)
        assert {name: len(found) for name, found in final.items()} == {"soc": 2, "teams": 2, "slack": 2, "mail": 2}
        assert ("resolved", CHECK) in _events(final["soc"][1])
        assert proc.stop() == 0
    assert len(baseline) >= 2


def test_a_channel_down_delivers_after_it_recovers_even_across_a_killed_agent(tmp_path, receiver, tls):
    url = f"sqlite:///{tmp_path}/agent.db"
    settings = config(url)
    soc = [c for c in channel_yaml(receiver, None, tls) if c["name"] == "soc"]
    settings["alerts"] = {"channels": soc, "retry_initial_seconds": 1, "retry_max_seconds": 2}
    with Sandbox.from_dict(_estate()) as sb:
        with agent(tmp_path, sb, settings, environment(receiver), name="first") as first:
            wait_for("two scheduled runs", lambda: len(completed(url)) >= 2)
            receiver.default = 500
            sb.put_resource(nsg("nsg-web", HTTPS_ONLY, OPEN_SSH))
            wait_for("two refused delivery attempts", lambda: len(receiver.on("soc")) >= 2)
            first.kill()
        refused = receiver.on("soc")
        receiver.default = 200
        with agent(tmp_path, sb, settings, environment(receiver), name="second") as second:
            wait_for("the delivery after recovery", lambda: len(receiver.on("soc")) > len(refused))
            last = completed(url)[-1].id
            wait_for("two more runs", lambda: len(completed(url, after=last)) >= 2)
            time.sleep(1)
            assert second.stop() == 0
    delivered = receiver.on("soc")[len(refused) :]
    assert len(delivered) == 1  # delivered once, and the persisting failure is not alerted again
    assert delivered[0].headers["x-shoko-delivery"] == refused[0].headers["x-shoko-delivery"]
    assert ("new_failure", CHECK) in _events(delivered[0].json())


# ------------------------------------------------------------------------------------ leases and locks


def test_kill_9_mid_run_is_interrupted_and_the_next_run_completes(tmp_path):
    url = f"sqlite:///{tmp_path}/agent.db"
    with Sandbox.from_dict(_estate()) as sb:
        slow = sb.faults.add("latency", path="*/networkSecurityGroups", delay=4)
        with agent(tmp_path, sb, config(url, schedule="every 1h"), name="first") as first:
            running = wait_for("a run in progress", lambda: [r for r in runs_in(url) if r.status == "running"])
            first.kill()
        sb.faults.remove(slow)
        with agent(tmp_path, sb, config(url, schedule="every 1h"), name="second") as second:
            wait_for("the killed run sealed interrupted and a completed run",
                     lambda: runs_in(url)[0].status == "interrupted" and completed(url))  # fmt: skip
            assert second.stop() == 0
        with Ledger(url) as ledger:
            report = ledger.verify()
            runs = ledger.runs()
            evidence = {r.id: len(ledger.evidence(r.id)) for r in runs}
            distinct = {
                r.id: len({(e.kind, e.scope, e.resource_id, e.sha256) for e in ledger.evidence(r.id)}) for r in runs
            }
    killed, done = runs[0], runs[1]
    assert killed.id == running[0].id and killed.status == "interrupted" and "lease" in (killed.error or "")
    assert done.status == "completed" and len(runs) == 2
    assert report.ok and report.interrupted == (killed.id,)
    assert evidence[killed.id] < evidence[done.id]  # what was stored before the kill stays, nothing doubled
    assert distinct == evidence  # no evidence row stored twice


def test_two_agents_on_one_database_never_collect_at_the_same_time(tmp_path, database_url):
    with Sandbox.from_dict(_estate()) as sb:
        sb.faults.add("latency", path="*/networkSecurityGroups", delay=0.6)
        settings = config(database_url, schedule="every 1s")
        with agent(tmp_path, sb, settings, name="a") as a, agent(tmp_path, sb, settings, name="b") as b:
            wait_for("several runs", lambda: len(completed(database_url)) >= 5, timeout=60)
            assert a.stop() == 0 and b.stop() == 0
    runs = sorted((r for r in runs_in(database_url) if r.finished_at), key=lambda r: r.started_at)
    assert len(runs) >= 5
    for before, after in itertools.pairwise(runs):
        assert before.finished_at <= after.started_at, (before.id, after.id)
    skipped = [x for p in (a, b) for x in p.lines() if "holds the collection lock" in x["event"]]
    due_twice = [x for p in (a, b) for x in p.lines() if "not started twice" in x["event"]]
    assert skipped or due_twice  # the one that yields says why


def test_sigterm_mid_run_seals_it_interrupted_within_the_grace_period_and_exits_0(tmp_path):
    url = f"sqlite:///{tmp_path}/agent.db"
    with Sandbox.from_dict(_estate()) as sb:
        sb.faults.add("latency", path="*/networkSecurityGroups", delay=6)
        with agent(tmp_path, sb, config(url, schedule="every 1h", shutdown_grace_seconds=1)) as proc:
            wait_for("a run in progress", lambda: [r for r in runs_in(url) if r.status == "running"])
            started = time.monotonic()
            assert proc.stop() == 0
            assert time.monotonic() - started < 5  # the grace period, not the slow run, decides
    [run] = runs_in(url)
    assert run.status == "interrupted" and "SIGTERM" in (run.error or "")
    with Ledger(url) as ledger:
        assert ledger.verify().ok


def test_sigterm_lets_a_run_finish_within_the_grace_period(tmp_path):
    url = f"sqlite:///{tmp_path}/agent.db"
    with Sandbox.from_dict(_estate()) as sb:
        sb.faults.add("latency", path="*/networkSecurityGroups", delay=1.5)
        with agent(tmp_path, sb, config(url, schedule="every 1h", shutdown_grace_seconds=20)) as proc:
            wait_for("a run in progress", lambda: [r for r in runs_in(url) if r.status == "running"])
            assert proc.stop() == 0
    assert [r.status for r in runs_in(url)] == ["completed"]


def test_a_partial_schedule_that_judges_no_check_is_refused_at_start(tmp_path):
    from collector.cli import main

    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config(f"sqlite:///{tmp_path}/a.db", partial_schedules=["flow_log=every 1m"])))
    assert main(["agent", "--config", str(path)]) == 2
    assert not (tmp_path / "a.db").exists()
