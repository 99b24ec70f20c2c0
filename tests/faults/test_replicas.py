"""Three `shoko agent` processes with `agent.replicas` on one PostgreSQL database share a run of a six-subscription
estate against the sandbox (real SDK); one of them is killed with SIGKILL while it collects a subscription.

The run still completes and is sealed once; what it stores (evidence, collection errors, findings, verdicts) is what
a single agent's run of the same estate stores; `shoko verify --rejudge` passes; and the killed replica's
subscription was claimed again by another replica once its lease expired, as the survivors' logs and
`shoko_work_items_total{event="reclaimed"}` show."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from collector.pipeline import run_once
from sandbox.server import Sandbox
from storage.ledger import Ledger
from tests.estates import estate, sql_server, storage_account
from tests.pipeline.conftest import sandbox_settings
from tests.pipeline.test_shared_work import stored

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIPTIONS = [f"{i:08d}-aaaa-4bbb-8ccc-{i:012d}" for i in range(1, 7)]
ESTATE = estate(
    [
        doc
        for i, s in enumerate(SUBSCRIPTIONS)
        for doc in [
            *storage_account(
                f"st{i}", {"minimumTlsVersion": "TLS1_3", "supportsHttpsTrafficOnly": True}, subscription=s
            ),
            *sql_server(f"sql{i}", {"minimalTlsVersion": "1.2"}, subscription=s),
        ]
    ],
    subscriptions=SUBSCRIPTIONS,
)
# Every ARM and Graph answer 0.3 s late and four calls in flight per replica: a subscription takes a replica a few
# seconds, long enough to kill it in the middle of one.
LATENCY = 0.3
AGENT = "import sys, collector.cli; sys.exit(collector.cli.main(sys.argv[1:]))"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _work_rows(url: str) -> list[dict]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT item, state, holder, attempts FROM run_work ORDER BY item"))
            return [dict(row._mapping) for row in rows]
    except Exception:  # the table is not there until the first replica has opened the ledger
        return []
    finally:
        engine.dispose()


def _metric(port: int, name: str, labels: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    line = next((x for x in body.splitlines() if x.startswith(f"{name}{{{labels}}}")), None)
    return float(line.split()[-1]) if line else 0.0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_replicas_one_killed_complete_one_run_like_a_single_agent(catalog, database_url, tmp_path):
    single_url = f"sqlite:///{tmp_path}/single.db"
    with Sandbox.from_dict(ESTATE, latency=LATENCY) as sb:
        with Ledger(single_url) as single:
            alone = run_once(sandbox_settings(sb, single_url), single, catalog).run
            expected = stored(single, alone.id)
        info = tmp_path / "sandbox.json"
        info.write_text(json.dumps(sb.info.to_dict()), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOKO_")}
        env |= {
            "PYTHONPATH": str(ROOT),
            "SHOKO_DATABASE_URL": database_url,
            "SHOKO_LOG_FORMAT": "text",
            "SHOKO_AGENT_REPLICAS": "true",
            "SHOKO_AGENT_REPLICA_ITEMS": "1",
            "SHOKO_AGENT_LEASE_SECONDS": "1",  # a killed replica's claims expire 3 s after its last renewal
            "SHOKO_COLLECTION_MAX_WORKERS": "4",
        }
        ports = [_free_port() for _ in range(3)]
        logs = [tmp_path / f"replica-{i}.log" for i in range(3)]
        agents = [
            subprocess.Popen(
                [sys.executable, "-c", AGENT, "agent", "--sandbox-info", str(info)],
                cwd=ROOT,
                env=env | {"SHOKO_AGENT_LISTEN_PORT": str(port)},
                stdout=subprocess.DEVNULL,
                stderr=log.open("w"),
            )
            for port, log in zip(ports, logs, strict=True)
        ]
        pids = {a.pid: i for i, a in enumerate(agents)}
        try:
            # Kill a replica while it holds a subscription, once at least two replicas have claimed work.
            victim = None
            deadline = time.monotonic() + 180
            while victim is None and time.monotonic() < deadline:
                rows = _work_rows(database_url)
                holders = {int(r["holder"].rsplit("/", 1)[1]) for r in rows if r["holder"]}
                busy = [r for r in rows if r["state"] == "claimed" and r["item"] in SUBSCRIPTIONS]
                if len(holders & set(pids)) >= 2 and busy:
                    target = int(busy[0]["holder"].rsplit("/", 1)[1])
                    if target in pids:
                        victim, item = target, busy[0]["item"]
                        os.kill(victim, signal.SIGKILL)
                        break
                assert all(a.poll() is None for a in agents), [log.read_text() for log in logs]
                time.sleep(0.05)
            assert victim is not None, "no replica was seen holding a subscription"
            killed = agents[pids[victim]]
            assert killed.wait(timeout=30) == -signal.SIGKILL
            survivors = [i for i in range(3) if i != pids[victim]]

            # The others finish the run, the killed replica's subscription included.
            run = None
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                with Ledger(database_url, read_only=True) as ledger:
                    runs = ledger.runs()
                if runs and all(r.sealed for r in runs):
                    run = runs[-1]
                    break
                time.sleep(0.5)
            assert run is not None, [logs[i].read_text()[-3000:] for i in survivors]
            reclaimed = sum(_metric(ports[i], "shoko_work_items_total", 'event="reclaimed"') for i in survivors)
            done = {i: _metric(ports[i], "shoko_work_items_total", 'event="done"') for i in survivors}
        finally:
            for agent in agents:
                if agent.poll() is None:
                    agent.send_signal(signal.SIGTERM)
            codes = [agent.wait(timeout=60) for agent in agents]
    text_of = [log.read_text() for log in logs]
    assert [codes[i] for i in survivors] == [0, 0], text_of

    # One run, sealed once, completed, whole.
    assert len(runs) == 1 and run.status == "completed", run
    assert sum(t.count(f"run {run.id} completed: digest") for t in text_of) == 1
    rows = {r["item"]: r for r in _work_rows(database_url)}
    assert {r["state"] for r in rows.values()} == {"done"} and set(SUBSCRIPTIONS) < set(rows)
    # The killed replica's subscription was claimed again by a survivor: in the work item, the log and the metrics.
    assert rows[item]["attempts"] >= 2 and not rows[item]["holder"].endswith(f"/{victim}")
    assert any(f"subscription {item} re-claimed from " in t and f"/{victim}, whose lease expired" in t for t in text_of)
    assert reclaimed >= 1 and all(n >= 1 for n in done.values()), (reclaimed, done)

    # What it stores is what one agent alone stores for the same estate.
    with Ledger(database_url, read_only=True) as ledger:
        assert stored(ledger, run.id) == expected
        assert ledger.run(run.id).counts == alone.counts
    verify = subprocess.run(
        [sys.executable, "-c", AGENT, "verify", "--rejudge"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
