"""StoredFacts: a run's facts read kind by kind on demand, holding at most `keep` kinds at once, and giving checks
exactly what a FactSet of the whole run gives."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from controls.model import CollectionError, Evidence, FactKind, FactSet, StoredFacts

AT = datetime(2026, 3, 1, tzinfo=UTC)


def record(kind: str, n: int) -> Evidence:
    rid = f"/subscriptions/s/providers/x/{kind}/r{n}"
    return Evidence(kind, "test", "/subscriptions/s", rid, "1", f"req-{n}", AT, {"id": rid, "n": n})


RUN = {kind: [record(kind, n) for n in range(3)] for kind in ("network_security_group", "storage_account", "resource")}
ERRORS = [CollectionError("web_site", "web.sites", "/subscriptions/s", "AuthorizationFailed", "no", 403, None, AT)]


def stored(keep: int) -> tuple[StoredFacts, list[str]]:
    asked: list[str] = []

    def load(kind: str) -> list[Evidence]:
        asked.append(kind)
        return list(RUN[kind])

    return StoredFacts(load, RUN, ERRORS, keep=keep), asked


def test_checks_read_the_same_facts_as_from_the_whole_run() -> None:
    whole = FactSet(evidence=[e for kind in RUN for e in RUN[kind]], errors=ERRORS)
    facts, _ = stored(keep=2)
    for kind in (*RUN, FactKind.NSG, "web_site"):
        assert facts.of(kind) == whole.of(kind)
        assert facts.by_id(kind) == whole.by_id(kind)
    assert facts.errors_for(["web_site"]) == whole.errors_for(["web_site"]) == ERRORS
    assert facts.evidence == whole.evidence and list(facts) == list(whole)


def test_a_kind_is_read_once_while_kept_and_at_most_keep_kinds_are_kept() -> None:
    facts, asked = stored(keep=2)
    facts.of("resource")
    facts.of(FactKind.RESOURCE)  # the enum and the plain string name one kind
    facts.of("storage_account")
    assert asked == ["resource", "storage_account"]
    facts.of("network_security_group")  # a third kind: the least recently read one is dropped
    facts.of("storage_account")
    facts.of("resource")
    assert asked == ["resource", "storage_account", "network_security_group", "resource"]
    assert facts.loads == 4
    assert facts.of("web_site") == [] and facts.loads == 4  # a kind the run has no record of is not read


def test_a_caller_changing_its_list_does_not_change_the_facts() -> None:
    facts, _ = stored(keep=1)
    facts.of("resource").clear()
    assert len(facts.of("resource")) == 3


def test_threads_asking_for_one_kind_read_it_once() -> None:
    facts, asked = stored(keep=3)
    threads = [threading.Thread(target=facts.of, args=("resource",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert asked == ["resource"]


# One subscription at a time: StoredFacts with each kind's parts by subscription.
SUBS = ("s1", "s2")


def in_sub(kind: str, sub: str, n: int) -> Evidence:
    rid = f"/subscriptions/{sub}/providers/x/{kind}/r{n}"
    return Evidence(kind, "test", f"/subscriptions/{sub}", rid, "1", f"req-{n}", AT, {"id": rid, "n": n})


TENANT_RECORD = Evidence("directory_principal", "graph", "tenant", "user-1", "v1.0", None, AT, {"id": "user-1"})
PARTS = {
    "storage_account": {sub: [in_sub("storage_account", sub, n) for n in range(2)] for sub in SUBS},
    "resource": {"s2": [in_sub("resource", "s2", 0)]},
    "directory_principal": {None: [TENANT_RECORD]},
}
SUB_ERRORS = [
    CollectionError("resource", "inventory", "/subscriptions/s1", "AuthorizationFailed", "no", 403, None, AT),
    CollectionError("resource", "inventory", "/subscriptions/s2", "Throttled", "no", 429, None, AT),
    CollectionError("directory_principal", "graph", "tenant", "Forbidden", "no", 403, None, AT),
]


def partitioned() -> tuple[StoredFacts, list[object]]:
    asked: list[object] = []

    def load(kind: str) -> list[Evidence]:
        asked.append(kind)
        return [e for part in PARTS[kind].values() for e in part]

    def load_within(kind: str, sub: str | None) -> list[Evidence]:
        asked.append((kind, sub))
        return list(PARTS[kind].get(sub, []))

    return StoredFacts(load, PARTS, SUB_ERRORS, keep=2, partitions=PARTS, load_within=load_within), asked


def test_one_subscription_is_read_alone_and_is_what_the_whole_run_holds_of_it() -> None:
    facts, asked = partitioned()
    whole = FactSet(
        evidence=[e for parts in PARTS.values() for part in parts.values() for e in part], errors=SUB_ERRORS
    )
    assert facts.subscriptions() == whole.subscriptions() == ["s1", "s2", None]
    for sub in facts.subscriptions():
        mine, theirs = facts.within(sub), whole.within(sub)
        for kind in PARTS:
            assert mine.of(kind) == theirs.of(kind)
            assert list(mine.each(kind)) == mine.of(kind)
        assert mine.errors == theirs.errors
    # Nothing was read whole, and each part once: what a check judged per subscription holds is one part.
    assert all(isinstance(a, tuple) for a in asked)
    assert len(asked) == len(set(asked))
    # A subscription's facts carry its own errors and those scoped to no subscription, never another's.
    assert [e.code for e in facts.within("s1").errors] == ["AuthorizationFailed", "Forbidden"]
    assert [e.code for e in facts.within(None).errors] == ["Forbidden"]


def test_each_reads_a_kind_one_subscription_at_a_time_unless_it_is_held_whole() -> None:
    facts, asked = partitioned()
    assert [e.resource_id for e in facts.each("storage_account")] == [
        e.resource_id for sub in SUBS for e in PARTS["storage_account"][sub]
    ]
    assert asked == [("storage_account", "s1"), ("storage_account", "s2")]
    facts.of("storage_account")  # now held whole: each reads no part again
    asked.clear()
    assert len(list(facts.each("storage_account"))) == 4 and asked == []
    assert list(facts.each("web_site")) == [] and asked == []  # a kind the run has no record of


def test_kinds_the_next_check_does_not_read_are_let_go_beyond_hold_records() -> None:
    asked: list[str] = []

    def load(kind: str) -> list[Evidence]:
        asked.append(kind)
        return list(RUN[kind])

    facts = StoredFacts(load, RUN, ERRORS, keep=3, hold=3)  # each kind has 3 records
    facts.of("resource")
    facts.of("storage_account")
    facts.reading(["storage_account"])  # resource (3 records) is within hold: kept
    facts.of("resource")
    facts.of("network_security_group")
    facts.reading(["network_security_group"])  # 6 records of other kinds: the least recently read goes
    facts.of("resource")
    facts.of("storage_account")
    assert asked == ["resource", "storage_account", "network_security_group", "storage_account"]


def test_a_subscription_lets_go_of_the_kinds_no_check_still_to_come_reads_and_keeps_the_others() -> None:
    facts, asked = partitioned()
    mine = facts.within("s2")
    first = mine.of("storage_account")
    mine.of("resource")
    # An index built on the subscription's facts may hold a kind let go: it goes too, and is built again.
    built = mine.index("names", lambda f: [e.resource_id for e in f.of("resource")])
    mine.reading(["resource"])
    assert mine.index("names", lambda f: [e.resource_id for e in f.of("resource")]) == built
    assert mine.of("resource") and asked.count(("resource", "s2")) == 1  # still held: read once
    assert mine.of("storage_account") == first  # let go: read again, the same records
    assert asked.count(("storage_account", "s2")) == 2
