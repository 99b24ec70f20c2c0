"""The registers paged from the files a sealed run's registers are kept in (api/register_pages.py): each page is
what cutting the whole register, filtered, gives, whichever register was kept, let go or removed meanwhile."""

from __future__ import annotations

import shutil
import threading
from dataclasses import replace
from pathlib import Path

import api.register_pages as register_pages
from api.register_pages import RegisterPages
from collector.accounts_view import run_accounts
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
    monkeypatch.setattr(RegisterPages, "KEPT", 1)
    pages = RegisterPages()
    first, second = collected.first, collected.second
    whole = {run.id: run_inventory(api.ledger, run.id, "owner") for run in (first, second)}
    assert pages.inventory(api.ledger, first, "owner", 0, 500) == (len(whole[first.id]), whole[first.id])
    made = sorted(Path(pages._dir.name).iterdir())
    assert len(made) == 1
    assert pages.inventory(api.ledger, second, "owner", 2, 4) == (len(whole[second.id]), whole[second.id][2:6])
    assert not made[0].exists()  # the first run's register was let go with its file
    assert pages.inventory(api.ledger, first, "owner", 1, 3) == (len(whole[first.id]), whole[first.id][1:4])
    shutil.rmtree(pages._dir.name)  # say, a cleaner of temporary files
    assert pages.inventory(api.ledger, first, "owner", 5, 2) == (len(whole[first.id]), whole[first.id][5:7])
    # Another owner tag is another register: its owner column is read from that tag.
    other = run_inventory(api.ledger, first.id, "department")
    assert pages.inventory(api.ledger, first, "department", 0, 500) == (len(other), other)


def test_api_and_dashboard_account_pages_equal_cutting_the_whole_register(api, collected):
    thresholds = collected.settings.thresholds
    for run in (collected.first, collected.second):
        rows = run_accounts(api.ledger, run.id, thresholds)
        privileged = [r for r in rows if r["privileged"]]
        assert len(rows) > len(privileged) > 2
        for only, whole in ((False, rows), (True, privileged)):
            for limit, offset in ((1, 0), (3, 2), (500, 0), (7, 5), (5, 1000)):
                params = {"as_of": run.finished_at.isoformat(), "limit": limit, "offset": offset}
                params |= {"privileged": "true"} if only else {}
                body = api.get("/api/v1/accounts", params=params).json()
                assert (body["total"], body["items"]) == (len(whole), whole[offset : offset + limit]), params
                assert body["run"]["id"] == run.id


def test_account_registers_are_kept_per_thresholds(api, collected):
    pages = RegisterPages()
    run, thresholds = collected.second, collected.settings.thresholds
    narrower = replace(thresholds, privileged_roles=("Owner",))
    assert run_accounts(api.ledger, run.id, narrower) != run_accounts(api.ledger, run.id, thresholds)
    for each in (thresholds, narrower, thresholds):
        whole = run_accounts(api.ledger, run.id, each)
        assert pages.accounts(api.ledger, run, each, 0, 500) == (len(whole), whole)
        only = [r for r in whole if r["privileged"]]
        assert pages.accounts(api.ledger, run, each, 1, 2, privileged=True) == (len(only), only[1:3])
    assert len(list(Path(pages._dir.name).iterdir())) == 2  # one register per thresholds, each built once


def test_a_register_being_built_holds_up_only_its_own_pages(api, collected, monkeypatch):
    pages = RegisterPages()
    run, thresholds = collected.second, collected.settings.thresholds
    inventory = run_inventory(api.ledger, run.id, "owner")
    assert pages.inventory(api.ledger, run, "owner", 0, 2) == (len(inventory), inventory[:2])
    release, started, builds = threading.Event(), threading.Event(), []

    def slow_accounts(*args):  # type: ignore[no-untyped-def]
        builds.append(args)
        started.set()
        assert release.wait(30)
        return run_accounts(*args)

    monkeypatch.setattr(register_pages, "run_accounts", slow_accounts)
    answers: list[tuple[int, list]] = []
    waiting = [threading.Thread(target=lambda: answers.append(pages.accounts(api.ledger, run, thresholds, 0, 3)))
               for _ in range(2)]  # fmt: skip
    waiting[0].start()
    assert started.wait(30)
    waiting[1].start()
    # While the accounts register is built, the kept inventory is paged at once.
    assert pages.inventory(api.ledger, run, "owner", 2, 2) == (len(inventory), inventory[2:4])
    assert all(t.is_alive() for t in waiting)
    release.set()
    for t in waiting:
        t.join(30)
    whole = run_accounts(api.ledger, run.id, thresholds)
    assert answers == [(len(whole), whole[:3])] * 2
    assert len(builds) == 1  # the second request waited for the first one's build
