"""What a run holds while fetching: each shared listing is let go when the last task reading it ends (every fetcher
declares the listings it reads, so none is read twice and none is kept to the end), and the evidence writer keeps
each record's place as `pipeline.evidence_place`, which sorts exactly as `evidence_order`."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

import pytest

import collector.pipeline as pipeline
from collector.fanout import Listings
from collector.fetchers.base import Sink
from collector.pipeline import evidence_order, evidence_place, gather
from controls.attestations import KIND as ATTESTATION_KIND
from controls.model import Evidence
from sandbox.server import Sandbox
from tests.pipeline.conftest import sandbox_settings

EMR = Path(__file__).resolve().parents[2] / "sandbox" / "estates" / "hospital-emr.yaml"


class Watched(Listings):
    """The run's listings, noting every listing made and every one made again after its readers ended."""

    made: ClassVar[list[Any]] = []
    again: ClassVar[list[Any]] = []
    runs: ClassVar[list[Listings]] = []

    def __init__(self) -> None:
        super().__init__()
        Watched.runs.append(self)

    def get(self, key: Any, make: Any) -> Any:
        with self._lock:
            if self._readers.get(tuple(key[:2]), 1) <= 0:
                Watched.again.append(key)

        def noted() -> Any:
            Watched.made.append(key)
            return make()

        return super().get(key, noted)


@pytest.mark.parametrize("resource_graph", [True, False])
def test_every_shared_listing_is_made_once_and_let_go_by_the_end_of_the_fetching(
    resource_graph, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(pipeline, "Listings", Watched)
    caplog.set_level(logging.WARNING, logger="shoko.collector")
    Watched.made, Watched.again, Watched.runs = [], [], []
    with Sandbox.from_file(EMR) as sb:
        settings = sandbox_settings(sb, collection={"resource_graph": resource_graph})
        sink = Sink()
        gather(settings, sink)
    assert sink.errors == [] and sink.added > 0
    run = Watched.runs[-1]
    assert Watched.made, "the estate's fetchers share listings"
    assert len(Watched.made) == len(set(Watched.made))  # each made once for the run, as before
    assert Watched.again == []  # every reader was counted from the plan
    assert not [r for r in caplog.records if "does not declare" in r.getMessage()]
    assert run.held() == 0  # and nothing is kept once its readers ended
    names = {key[1] for key in Watched.made}
    assert {"resources", "keyvault.vaults", "storage.accounts", "web.sites", "compute.virtual_machines"} <= names
    assert any(name.startswith("resource_graph ") for name in names) == resource_graph


def record(kind: str, scope: str, resource_id: str, sha: str, request: str | None, at: datetime) -> Evidence:
    return Evidence(
        kind=kind,
        source="test",
        scope=scope,
        resource_id=resource_id,
        api_version="2024-01-01",
        request_id=request,
        collected_at=at,
        sha256=sha,
        content={},
    )


def test_evidence_place_sorts_exactly_as_evidence_order() -> None:
    rng = random.Random(7)
    texts = ["", "a", "A", "ab", "a\x00", "a\x00b", "a\x01", "é", "日本", "zzz", "/subscriptions/S", "/subscriptions/x"]
    zones = [UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5))]
    base = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    records = []
    for _ in range(3000):
        at = (base + timedelta(microseconds=rng.choice([0, 1, 999_999, 3_600_000_000]))).astimezone(rng.choice(zones))
        kind = rng.choice(["resource", "web_site", ATTESTATION_KIND, "a\x00"])
        request = rng.choice([None, "", *texts[:4]])
        records.append(record(kind, *(rng.choice(texts) for _ in range(3)), request, at))
    by_order = sorted(records, key=evidence_order)
    by_place = sorted(records, key=evidence_place)
    assert [id(e) for e in by_place] == [id(e) for e in by_order]  # stable: equal keys keep their order too
    for a, b in pairwise(by_order):
        assert (evidence_order(a) == evidence_order(b)) == (evidence_place(a) == evidence_place(b))
    naive = [record("k", "s", "r", "h", None, datetime(2026, 1, 1, 0, 0, s)) for s in (5, 1, 3)]
    assert sorted(naive, key=evidence_place) == sorted(naive, key=evidence_order)
