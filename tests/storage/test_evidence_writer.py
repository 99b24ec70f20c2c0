"""A run's evidence stored batch by batch as it is collected (`Ledger.evidence_writer`): it stores exactly what one
`add_evidence` of the whole run in order stores — the same records read back, the same rows held by reference
from the predecessor (content held twice is matched twice), the same new rows — whatever order the batches come in;
and it is read back kind by kind (`evidence_kinds`, `evidence_of`) as `evidence` gives it."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from collector.pipeline import evidence_place as order  # the run's order, as the bytes the writer sorts by
from controls.model import Evidence, FactKind
from storage.ledger import Ledger, LedgerError

from .helpers import T0
from .test_states import SUB, document

SCOPE = {"subscriptions": ["0000"]}


def site(n: int, at=T0) -> Evidence:
    rid = f"{SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/app-{n}"
    return Evidence(FactKind.WEB_SITE, "web.sites", SUB, rid, "2023-12-01", f"req-site-{n}", at, {"id": rid, "n": n})


def start(ledger: Ledger, at=T0) -> int:
    return ledger.start_run(at, agent_version="0.1.0", config_digest="c0ffee", scope=SCOPE)


def owned(raw: Engine, run_id: int) -> list[tuple[Any, ...]]:
    """The run_evidence rows a run stored itself (its new content), without ids. (Of a document read more often
    than the predecessor held it, the new row carries the time and request id of whichever copy came last, as when
    fetcher threads handed it over in any order; each record is read back with its own from the run's part.)"""
    query = "SELECT kind, resource_id, sha256, source FROM run_evidence WHERE run_id = :r ORDER BY kind, sha256"
    with raw.connect() as conn:
        return [tuple(row) for row in conn.execute(text(query), {"r": run_id})]


def test_batches_in_any_order_store_what_one_call_in_order_stores(ledger: Ledger, raw: Engine) -> None:
    # The predecessor holds nsg-5's document twice (two pages gave it) and not the sites.
    earlier = [document(n) for n in range(12)] + [document(5, request="req-again")]
    first = start(ledger)
    ledger.add_evidence(first, earlier)
    ledger.complete_run(first, T0 + timedelta(minutes=1))

    later = T0 + timedelta(hours=1)
    records = [document(n, at=later) for n in range(12)] + [document(n, port="22", at=later) for n in (3, 13)]
    records += [replace(document(5, at=later), request_id=f"req-dup-{i}") for i in range(2)]  # held three times now
    records += [site(n, later) for n in range(4)]
    whole, streamed = start(ledger, later), start(ledger, later)  # both store against the first run

    ledger.add_evidence(whole, sorted(records, key=order))
    shuffled = list(records)
    random.Random(7).shuffle(shuffled)
    writer = ledger.evidence_writer(streamed, order=order)
    for i in range(0, len(shuffled), 4):
        writer.add(shuffled[i : i + 4])
    assert writer.stored == len(records)
    writer.close()

    assert ledger.evidence(streamed) == ledger.evidence(whole)  # every field, in the same order
    assert owned(raw, streamed) == owned(raw, whole)
    # Three of nsg-5 now: two are the predecessor's two rows, one is new; three new NSG documents, four sites.
    assert len(owned(raw, whole)) == 1 + 2 + 4
    for run_id in (whole, streamed):
        ledger.complete_run(run_id, later + timedelta(minutes=1))
    assert ledger.verify().ok


def test_the_kinds_read_back_one_by_one_are_the_run_as_stored(ledger: Ledger) -> None:
    first = start(ledger)
    ledger.add_evidence(first, [document(n) for n in range(5)])
    ledger.complete_run(first, T0 + timedelta(minutes=1))
    later = T0 + timedelta(hours=1)
    run_id = start(ledger, later)
    records = sorted([document(n, at=later) for n in range(7)] + [site(n, later) for n in range(3)], key=order)
    writer = ledger.evidence_writer(run_id, order=order)
    writer.add(records[5:])
    writer.add(records[:5])
    writer.close()

    whole = ledger.evidence(run_id)
    kinds = ledger.evidence_kinds(run_id)
    assert set(kinds) == {"network_security_group", "web_site"}
    for kind, refs in kinds.items():
        assert ledger.evidence_of(refs) == [e for e in whole if e.kind == kind]
    # Held from the first run or stored new, each record carries this run's own collection time and request id.
    assert [(e.collected_at, e.request_id) for e in whole] == [(e.collected_at, e.request_id) for e in records]
    # A run stored before parts existed (rows it owns, no part) is read the same way.
    legacy = ledger.evidence_kinds(first)
    assert ledger.evidence_of(legacy["network_security_group"]) == ledger.evidence(first)


def test_nothing_is_added_after_the_part_is_written_or_the_run_is_sealed(ledger: Ledger) -> None:
    run_id = start(ledger)
    writer = ledger.evidence_writer(run_id)
    writer.add([document(1)])
    writer.close()
    with pytest.raises(LedgerError, match="evidence part is written"):
        writer.add([document(2)])
    ledger.complete_run(run_id, T0 + timedelta(minutes=1))
    assert [e.resource_id for e in ledger.evidence(run_id)] == [document(1).resource_id]

    sealed = ledger.evidence_writer(run_id)
    with pytest.raises(LedgerError, match="is sealed"):
        sealed.add([document(3)])


def test_a_document_that_does_not_match_its_hash_is_refused_before_anything_is_stored(ledger: Ledger, raw) -> None:
    run_id = start(ledger)
    writer = ledger.evidence_writer(run_id, order=order)
    bad = replace(document(1), content={"altered": True})
    with pytest.raises(LedgerError, match="does not match its content"):
        writer.add([document(0), bad])
    assert owned(raw, run_id) == []


def test_a_ledger_storing_one_run_keeps_no_keys_and_the_next_run_is_still_held_by_reference(
    database_url: str, raw: Engine
) -> None:
    with Ledger(database_url, remember_keys=False) as ledger:
        first = start(ledger)
        ledger.add_evidence(first, [document(n) for n in range(6)])
        ledger.complete_run(first, T0 + timedelta(minutes=1))
        assert ledger._held_keys == {}  # nothing kept for a run this process will not store
    later = T0 + timedelta(hours=1)
    with Ledger(database_url, remember_keys=False) as ledger:  # as the next `shoko collect` opens it
        second = start(ledger, later)
        ledger.add_evidence(second, [document(n, at=later) for n in range(6)])
        ledger.complete_run(second, later + timedelta(minutes=1))
        assert owned(raw, second) == []  # the predecessor's rows, read from the database
        assert [e.resource_id for e in ledger.evidence(second)] == [e.resource_id for e in ledger.evidence(first)]
        assert ledger.verify().ok
