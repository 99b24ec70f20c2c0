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
