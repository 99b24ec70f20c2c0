"""Several writers at once: every seal gets its own chain position and shared blobs are stored once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import Engine, text

from storage.ledger import Ledger

from .helpers import NSG_ID, T0, nsg_evidence, sample


def test_concurrent_runs_seal_into_one_unbroken_chain(database_url: str, raw: Engine) -> None:
    writers = 6
    ledgers = [Ledger(database_url) for _ in range(writers)]
    try:
        run_ids = [
            led.start_run(T0 + timedelta(seconds=i), agent_version="v", config_digest="d", scope={"writer": i})
            for i, led in enumerate(ledgers)
        ]

        def one_run(i: int) -> str:
            led, run_id = ledgers[i], run_ids[i]
            data = sample(T0)  # identical documents in every run: the blobs race to be inserted
            led.add_evidence(run_id, [*data.evidence, nsg_evidence(f"{NSG_ID}-{i}")])
            led.add_findings(run_id, data.findings)
            led.add_verdicts(run_id, data.verdicts)
            return led.complete_run(run_id, T0 + timedelta(minutes=10))

        with ThreadPoolExecutor(max_workers=writers) as pool:
            digests = list(pool.map(one_run, range(writers)))
    finally:
        for led in ledgers:
            led.close()

    with raw.connect() as connection:
        chain = connection.execute(text("SELECT chain_index, digest, prev_digest FROM runs ORDER BY chain_index")).all()
        blobs = connection.execute(text("SELECT count(*) FROM evidence_blobs")).scalar_one()
    assert [row.chain_index for row in chain] == list(range(1, writers + 1))
    assert [row.prev_digest for row in chain] == [None] + [row.digest for row in chain[:-1]]
    assert sorted(row.digest for row in chain) == sorted(digests)
    assert blobs == 2 + writers  # shared nsg + site config, and one own document per run
    with Ledger(database_url) as ledger:
        report = ledger.verify()
        assert report.ok and report.runs_checked == writers
        assert all(ledger.run(r).counts["evidence"] == 4 for r in run_ids)
