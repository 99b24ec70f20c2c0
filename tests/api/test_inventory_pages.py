"""The resource register paged from the file a sealed run's register is kept in (api/inventory_pages.py): each page
is what cutting the whole register, filtered, gives, whichever register was kept, let go or removed meanwhile."""

from __future__ import annotations

import shutil
from pathlib import Path

from api.inventory_pages import InventoryPages
from collector.inventory_view import run_inventory


def _cut(rows, subscription, kind, offset, limit):  # type: ignore[no-untyped-def]
    kept = [
        r
        for r in rows
        if (not subscription or r["subscription"].lower() == subscription.lower())
        and (not kind or r["type"].lower() == kind.lower())
    ]
    return len(kept), kept[offset : offset + limit]


def test_api_inventory_pages_equal_cutting_the_whole_register(api, collected):
    for run in (collected.first, collected.second):
        rows = run_inventory(api.ledger, run.id, "owner")
        assert len(rows) > 10
        subscriptions = sorted({r["subscription"] for r in rows})
        kinds = sorted({r["type"] for r in rows})
        for subscription in (None, subscriptions[0].upper(), subscriptions[-1], "no-such"):
            for kind in (None, kinds[0].lower(), kinds[-1], "Microsoft.Nothing/here"):
                for limit, offset in ((1, 0), (3, 2), (500, 0), (7, 5), (5, 1000)):
                    params = {"as_of": run.finished_at.isoformat(), "limit": limit, "offset": offset}
                    params |= {"subscription": subscription} if subscription else {}
                    params |= {"type": kind} if kind else {}
                    body = api.get("/api/v1/inventory", params=params).json()
                    total, page = _cut(rows, subscription, kind, offset, limit)
                    assert (body["total"], body["items"]) == (total, page), params
                    assert body["run"]["id"] == run.id


def test_registers_let_go_or_removed_are_made_again(api, collected, monkeypatch):
    monkeypatch.setattr(InventoryPages, "KEPT", 1)
    pages = InventoryPages()
    first, second = collected.first, collected.second
    whole = {run.id: run_inventory(api.ledger, run.id, "owner") for run in (first, second)}
    assert pages.page(api.ledger, first, "owner", 0, 500) == (len(whole[first.id]), whole[first.id])
    made = sorted(Path(pages._dir.name).iterdir())
    assert len(made) == 1
    assert pages.page(api.ledger, second, "owner", 2, 4) == (len(whole[second.id]), whole[second.id][2:6])
    assert not made[0].exists()  # the first run's register was let go with its file
    assert pages.page(api.ledger, first, "owner", 1, 3) == (len(whole[first.id]), whole[first.id][1:4])
    shutil.rmtree(pages._dir.name)  # say, a cleaner of temporary files
    assert pages.page(api.ledger, first, "owner", 5, 2) == (len(whole[first.id]), whole[first.id][5:7])
    # Another owner tag is another register: its owner column is read from that tag.
    other = run_inventory(api.ledger, first.id, "department")
    assert pages.page(api.ledger, first, "department", 0, 500) == (len(other), other)
