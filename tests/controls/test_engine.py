import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

import pytest

from controls.catalog import load_catalog
from controls.checks import ALL_CHECKS, Check, Outcome
from controls.checks.base import errored, failed, passed
from controls.engine import evaluate
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
AT = datetime(2026, 3, 31, tzinfo=UTC)


class Mode(StrEnum):
    AUTOMATED = "automated"
    MANUAL = "manual"
    INHERITED = "inherited"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Req:
    number: int
    evidence_mode: Mode = Mode.AUTOMATED
    title_ja: str = ""
    title_en: str = ""
    responsibility: str = "customer"
    reason_ja: str | None = None
    reason_en: str | None = None
    manual_evidence_ja: str | None = None
    manual_evidence_en: str | None = None
    checks: tuple[str, ...] | None = None  # None: the fake checks tagged with this number
    supporting_checks: tuple[str, ...] = ()
    coverage: str | None = "full"
    coverage_ja: str | None = None
    coverage_en: str | None = None


# The requirement numbers each fake check is mapped to, as a catalog would map it.
_TAGS: dict[str, tuple[int, ...]] = {}


def fake(check_id: str, requirements: tuple[int, ...], outcomes, reads=(FactKind.STORAGE_ACCOUNT,)) -> Check:
    def judge(facts: FactSet, thresholds: Thresholds) -> Iterable[Outcome]:
        return outcomes(facts) if callable(outcomes) else outcomes

    _TAGS[check_id] = requirements
    return Check(
        check_id, "t", "t", ("microsoft.storage/storageaccounts",), tuple(reads), (), "api", "r", "r", "fix", "fix",
        (), judge,
    )  # fmt: skip


def evaluate_mapped(facts: FactSet, catalog, checks) -> object:
    """`evaluate` with each Req mapped to the fake checks tagged with its number (automated: decides;
    manual: supports)."""
    mapped = []
    for r in catalog:
        tagged = tuple(c.id for c in checks if r.number in _TAGS.get(c.id, ()))
        if r.evidence_mode == Mode.AUTOMATED:
            mapped.append(r if r.checks is not None else replace(r, checks=tagged))
        else:
            mapped.append(replace(r, checks=(), coverage=None, supporting_checks=r.supporting_checks or tagged))
    return evaluate(facts, mapped, Thresholds(), checks=checks)


def res(name: str) -> str:
    return f"{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/{name}"


P1 = passed(res("a"), "a は合格", "a passed")
P2 = passed(res("b"), "b は合格", "b passed")
F1 = failed(res("c"), "c は不合格", "c minimumTlsVersion is TLS1_0")
E1 = errored(res("d"), "d は判定不能", "d unreadable")


def verdicts(checks, catalog, facts=None) -> dict:
    result = evaluate_mapped(facts or FactSet(), catalog, checks)
    return {v.requirement: v for v in result.verdicts}


def test_rollup_pass_fail_error():
    checks = [
        fake("all-pass", (1,), [P1, P2]),
        fake("one-fail", (2,), [P1, F1, E1]),
        fake("one-error", (3,), [P1, E1]),
        fake("shared", (1, 3), [P2]),
    ]
    v = verdicts(checks, [Req(1), Req(2), Req(3)])
    assert v[1].status == Status.PASS and (v[1].findings_pass, v[1].findings_fail, v[1].findings_error) == (3, 0, 0)
    assert v[1].check_ids == ("all-pass", "shared")
    assert v[2].status == Status.FAIL and (v[2].findings_pass, v[2].findings_fail, v[2].findings_error) == (1, 1, 1)
    assert v[2].reason_en.startswith("1 of 3 failed, 1 error(s): c minimumTlsVersion is TLS1_0")
    assert "3 件中 1 件が不合格" in v[2].reason_ja and "c は不合格" in v[2].reason_ja
    assert v[3].status == Status.ERROR and v[3].reason_en.startswith("1 of 3 could not be evaluated: d unreadable")


def test_fail_reason_quotes_first_failures_only():
    many = [failed(res(f"s{i}"), f"s{i} 不合格", f"s{i} failed") for i in range(5)]
    v = verdicts([fake("many", (7,), many)], [Req(7)])[7]
    assert "s0 failed; s1 failed; s2 failed" in v.reason_en and "s3" not in v.reason_en and v.reason_en.endswith("…")


def test_nothing_evaluated_is_error_never_pass():
    v = verdicts([fake("empty", (5,), [])], [Req(5)])[5]
    assert v.status == Status.ERROR and "nothing evaluated" in v.reason_en and "評価対象なし" in v.reason_ja


def test_automated_whose_check_did_not_run_is_error():
    v = verdicts([], [Req(9, checks=("gone",))])[9]
    assert v.status == Status.ERROR and "check(s) gone did not run" in v.reason_en and "gone" in v.reason_ja


def test_partial_coverage_never_reads_pass():
    statement_ja, statement_en = "確認: TLS。要証明: 保存時暗号化", "Checked: TLS. To attest: encryption at rest"
    partial = Req(123, coverage="partial", coverage_ja=statement_ja, coverage_en=statement_en)
    v = verdicts([fake("tls", (123,), [P1, P2])], [partial])[123]
    assert v.status == Status.PARTIAL and (v.findings_pass, v.findings_fail) == (2, 0)
    assert v.reason_en.startswith("all 2 checked passed (tls), but the checks cover only part of the requirement.")
    assert v.reason_en.endswith(statement_en) and v.reason_ja.endswith(statement_ja) and "一部のみ" in v.reason_ja
    # A failing or unreadable check still decides, whatever the coverage.
    assert verdicts([fake("tls", (123,), [P1, F1])], [partial])[123].status == Status.FAIL
    assert verdicts([fake("tls", (123,), [P1, E1])], [partial])[123].status == Status.ERROR
    assert verdicts([fake("tls", (123,), [])], [partial])[123].status == Status.ERROR
    # The same findings under full coverage are a pass.
    assert verdicts([fake("tls", (123,), [P1, P2])], [Req(123)])[123].status == Status.PASS


def test_findings_carry_the_numbers_the_catalog_maps_their_check_to():
    checks = [fake("tls", (86, 123), [P1]), fake("unmapped", (), [P2])]
    result = evaluate_mapped(FactSet(), [Req(86), Req(123), Req(97, Mode.MANUAL)], checks)
    by_check = {f.check_id: f for f in result.findings}
    assert by_check["tls"].requirements == (86, 123) and by_check["unmapped"].requirements == ()


def test_collection_error_gives_error_findings_and_error_verdict():
    err = CollectionError(
        FactKind.STORAGE_ACCOUNT,
        "storage.accounts",
        SUB,
        "AuthorizationFailed",
        "The client does not have authorization",
        403,
        "req-1",
        AT,
    )
    other = CollectionError(FactKind.SQL_SERVER, "sql.servers", SUB, "Throttled", "x", 429, None, AT)
    facts = FactSet([], [err, other])
    checks = [fake("reads-storage", (4,), [P1]), fake("reads-nothing-failed", (6,), [P1], reads=(FactKind.NSG,))]
    result = evaluate_mapped(facts, [Req(4), Req(6)], checks)
    errors = [f for f in result.findings if f.status == Status.ERROR]
    assert len(errors) == 1
    [e] = errors
    assert e.check_id == "reads-storage" and e.resource_id == SUB and e.requirements == (4,)
    assert "AuthorizationFailed" in e.reason_en and "403" in e.reason_en and "AuthorizationFailed" in e.reason_ja
    v = {x.requirement: x for x in result.verdicts}
    assert v[4].status == Status.ERROR and v[4].findings_error == 1 and v[4].findings_pass == 1
    assert v[6].status == Status.PASS


def test_one_error_finding_per_failed_scope_naming_every_kind():
    nw = CollectionError(FactKind.NETWORK_WATCHER, "network.flow_logs", SUB, "AuthorizationFailed", "", 403, None, AT)
    fl = CollectionError(FactKind.FLOW_LOG, "network.flow_logs", SUB, "AuthorizationFailed", "", 403, None, AT)
    other = CollectionError(
        FactKind.FLOW_LOG, "network.flow_logs", f"{SUB}/x/networkWatchers/nw2", "Timeout", "", None, None, AT
    )
    check = fake("flows", (96,), [], reads=(FactKind.FLOW_LOG, FactKind.NETWORK_WATCHER))
    result = evaluate_mapped(FactSet([], [nw, fl, other]), [Req(96)], [check])
    by_scope = {f.resource_id: f for f in result.findings}
    assert len(result.findings) == 2 and set(by_scope) == {SUB, f"{SUB}/x/networkWatchers/nw2"}
    assert "network_watcher, flow_log" in by_scope[SUB].reason_en
    # Two kinds refused alike are one cause, said once.
    assert by_scope[SUB].reason_en.count("AuthorizationFailed (HTTP 403)") == 1
    assert by_scope[f"{SUB}/x/networkWatchers/nw2"].reason_en.endswith(": Timeout")


def test_an_error_finding_names_the_missing_permission_or_provider():
    denied = CollectionError(
        "defender_pricing",
        "security.pricings",
        SUB,
        "AuthorizationFailed",
        f"The client 'abc' with object id 'abc' does not have authorization to perform action "
        f"'Microsoft.Security/pricings/read' over scope '{SUB}/providers/Microsoft.Security/pricings' or the scope "
        "is invalid. If access was recently granted, please refresh your credentials.",
        403,
        None,
        AT,
    )
    unregistered = CollectionError(
        "defender_pricing",
        "security.pricings",
        f"{SUB}-b",
        "MissingSubscriptionRegistration",
        "The subscription is not registered to use namespace 'Microsoft.Security'. See https://aka.ms/rps-not-found "
        "for how to register subscriptions.",
        409,
        None,
        AT,
    )
    graph = CollectionError(
        "directory_principal",
        "entra.principals",
        "tenant",
        "Authorization_RequestDenied",
        "Insufficient",
        403,
        None,
        AT,
    )
    policies = CollectionError(
        "conditional_access_policy",
        "entra.policies",
        "tenant-ca",
        "Authorization_RequestDenied",
        "Insufficient privileges (needs Microsoft Graph application permission Policy.Read.All)",
        403,
        None,
        AT,
    )
    check = fake("plans", (72,), [], reads=("defender_pricing", "directory_principal", "conditional_access_policy"))
    result = evaluate_mapped(FactSet([], [denied, unregistered, graph, policies]), [Req(72)], [check])
    by_scope = {f.resource_id: f for f in result.findings}
    assert all(f.status == Status.ERROR for f in result.findings)
    assert "lacks permission for Microsoft.Security/pricings/read" in by_scope[SUB].reason_en
    assert "Microsoft.Security/pricings/read の権限がありません" in by_scope[SUB].reason_ja
    assert "resource provider Microsoft.Security is not registered" in by_scope[f"{SUB}-b"].reason_en
    assert "MissingSubscriptionRegistration (HTTP 409)" in by_scope[f"{SUB}-b"].reason_en
    assert "Microsoft Graph read permission" in by_scope["tenant"].reason_en
    assert "lacks the Microsoft Graph application permission Policy.Read.All" in by_scope["tenant-ca"].reason_en
    assert next(v for v in result.verdicts if v.requirement == 72).status == Status.ERROR


def test_collection_error_with_no_resources_is_error_not_nothing():
    err = CollectionError(FactKind.STORAGE_ACCOUNT, "storage.accounts", SUB, "AuthorizationFailed", "", 403, None, AT)
    v = verdicts([fake("reads-storage", (4,), [])], [Req(4)], FactSet([], [err]))[4]
    assert v.status == Status.ERROR and "AuthorizationFailed" in v.reason_en


def test_raising_check_becomes_error_and_run_goes_on():
    def boom(facts):
        yield P1
        raise KeyError("properties")

    checks = [fake("broken", (1, 2), boom), fake("fine", (2,), [P2])]
    result = evaluate_mapped(FactSet(), [Req(1), Req(2)], checks)
    broken = [f for f in result.findings if f.check_id == "broken"]
    assert len(broken) == 1 and broken[0].status == Status.ERROR and broken[0].requirements == (1, 2)
    assert "KeyError" in broken[0].reason_en and "properties" in broken[0].reason_en
    v = {x.requirement: x for x in result.verdicts}
    assert v[1].status == Status.ERROR and v[2].status == Status.ERROR and v[2].findings_pass == 1


def test_check_yielding_a_non_judgement_status_is_error():
    def bad(facts):
        return [Outcome(Status.MANUAL, res("a"), "x", "x")]

    v = verdicts([fake("bad", (1,), bad)], [Req(1)])[1]
    assert v.status == Status.ERROR and "ValueError" in v.reason_en


def test_non_automated_modes_come_from_the_catalog():
    catalog = [
        Req(13, Mode.MANUAL, manual_evidence_ja="方針文書", manual_evidence_en="policy document"),
        Req(88, Mode.INHERITED),
        Req(99, Mode.NOT_APPLICABLE, reason_ja="VPN 不使用", reason_en="no VPN is used"),
    ]
    v = verdicts([], catalog)
    assert v[13].status == Status.MANUAL and "policy document" in v[13].reason_en and "方針文書" in v[13].reason_ja
    assert v[88].status == Status.INHERITED and "Azure physical layer, inherited" in v[88].reason_en
    assert v[99].status == Status.NOT_APPLICABLE and "no VPN is used" in v[99].reason_en


def test_manual_requirement_with_failing_supporting_check_fails():
    v = verdicts([fake("support", (118,), [P1, F1])], [Req(118, Mode.MANUAL)])[118]
    assert v.status == Status.FAIL and "c minimumTlsVersion is TLS1_0" in v.reason_en
    v = verdicts([fake("support", (118,), [P1])], [Req(118, Mode.MANUAL)])[118]
    assert v.status == Status.MANUAL and v.findings_pass == 1
    assert "supporting checks support: 1 of 1 passed" in v.reason_en and "補助チェック support" in v.reason_ja
    v = verdicts([fake("support", (118,), [P1, E1])], [Req(118, Mode.MANUAL)])[118]
    assert v.status == Status.MANUAL and "1 could not be evaluated" in v.reason_en


def test_verdicts_ordered_by_number_one_per_requirement():
    result = evaluate_mapped(FactSet(), [Req(30), Req(2), Req(17, Mode.INHERITED)], [])
    assert [v.requirement for v in result.verdicts] == [2, 17, 30]


# ------------------------------------------------------------ the real checks through the engine


def ev(kind: FactKind, doc: dict) -> Evidence:
    return Evidence(kind, "test", SUB, doc["id"], "2024-01-01", None, AT, doc)


def test_real_checks_storage_failure_reaches_verdict_123():
    st = ev(
        FactKind.STORAGE_ACCOUNT,
        {
            "id": res("stlogs"),
            "name": "stlogs",
            "properties": {"minimumTlsVersion": "TLS1_0", "supportsHttpsTrafficOnly": True},
        },
    )
    sql = ev(
        FactKind.SQL_SERVER,
        {
            "id": f"{SUB}/resourceGroups/rg/providers/Microsoft.Sql/servers/sql1",
            "name": "sql1",
            "properties": {"minimalTlsVersion": "1.2"},
        },
    )
    result = evaluate(FactSet([st, sql]), load_catalog(), Thresholds())
    v = {x.requirement: x for x in result.verdicts}
    assert v[123].status == Status.FAIL
    assert "storage account stlogs minimumTlsVersion is TLS1_0" in v[123].reason_en
    assert (v[123].findings_fail, v[123].findings_pass) == (1, 2)  # storage TLS fails; HTTPS-only and SQL TLS pass
    assert "storage-min-tls-1-2" in v[123].check_ids and "sql-min-tls-1-2" in v[123].check_ids
    assert v[145].status == Status.ERROR and "nothing evaluated" in v[145].reason_en  # no role assignments
    assert v[1].status == Status.MANUAL and v[10].status in (Status.INHERITED, Status.MANUAL)


def test_registered_checks_are_fully_documented():
    assert len({c.id for c in ALL_CHECKS}) == len(ALL_CHECKS) >= 12
    for c in ALL_CHECKS:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", c.id), c.id
        assert c.judges and c.reads and set(c.per_resource) <= set(c.reads)
        for text in (c.title_ja, c.title_en, c.api, c.rule_ja, c.rule_en, c.remediation_ja, c.remediation_en):
            assert text.strip(), c.id
        assert re.search(r"[ぁ-んァ-ン一-龥]", c.title_ja + c.rule_ja + c.remediation_ja), c.id


def test_resource_the_check_already_reported_as_error_gets_no_second_engine_finding():
    site = res("x")
    err = CollectionError(FactKind.STORAGE_ACCOUNT, "web.sites", site, "AuthorizationFailed", "no", 403, None, AT)
    check_error = errored(site, "x の構成を取得できません", "x configuration not collected: AuthorizationFailed")
    result = evaluate_mapped(FactSet([], [err]), [Req(4)], [fake("one", (4,), [P1, check_error])])
    assert [f.resource_id for f in result.findings if f.status == Status.ERROR] == [site]
    assert result.verdicts[0].findings_error == 1


def test_judge_into_hands_on_each_checks_findings_and_quotes_as_the_findings_themselves_would():
    from controls.engine import judge_into

    # Three checks deciding one requirement, whose failures repeat each other's reasons: the verdict quotes the
    # first three distinct reasons of them all in the run's order, and says there are more.
    first = [failed(res(f"a{i}"), f"r{i % 2} 不合格", f"r{i % 2} failed") for i in range(10)]
    second = [failed(res(f"b{i}"), f"r{i} 不合格", f"r{i} failed") for i in range(9)]
    third = [errored(res("c"), "c 判定不能", "c unreadable"), P1]
    checks = [fake("q-first", (41,), first), fake("q-second", (41,), second), fake("q-third", (41, 42), third)]
    catalog = [
        Req(41, checks=("q-first", "q-second", "q-third")),
        Req(42, Mode.MANUAL, checks=(), coverage=None, supporting_checks=("q-third",)),
    ]
    handed: list[list] = []
    judged = judge_into(FactSet(), catalog, Thresholds(), handed.append, checks)
    whole = evaluate(FactSet(), catalog, Thresholds(), checks=checks)
    assert [f for batch in handed for f in batch] == whole.findings
    assert [len(batch) for batch in handed] == [10, 9, 2, 0]  # check by check, then the (no) attestations
    assert judged.verdicts == whole.verdicts
    v = judged.verdict(41)
    assert v is not None and v.reason_en == "19 of 21 failed, 1 error(s): r0 failed; r1 failed; r2 failed …"
    assert (
        judged.finding_counts[("q-first", Status.FAIL)] == 10 and judged.finding_counts[("q-third", Status.PASS)] == 1
    )


def test_a_verdict_quotes_the_first_distinct_reasons_of_all_its_checks_however_they_repeat():
    import random

    rng = random.Random(7)
    for trial in range(200):
        lists = [[f"r{rng.randrange(12)}" for _ in range(rng.randrange(0, 15))] for _ in range(3)]
        checks = [
            fake(f"rep-{n}", (43,), [failed(res(f"{n}-{i}"), f"{r} 不合格", f"{r} failed") for i, r in enumerate(rs)])
            for n, rs in enumerate(lists)
        ]
        v = verdicts(checks, [Req(43, checks=tuple(c.id for c in checks))])[43]
        distinct = list(dict.fromkeys(f"{r} failed" for rs in lists for r in rs))
        if not distinct:
            assert v.status == Status.ERROR, trial
            continue
        quoted = "; ".join(distinct[:3]) + (" …" if len(distinct) > 3 else "")
        assert v.reason_en.endswith(f"failed: {quoted}"), (trial, lists, v.reason_en)


# ---------------------------------------------------------------- checks judged one subscription at a time

SUB_A = "/subscriptions/aaaaaaaa-0000-0000-0000-000000000000"
SUB_B = "/subscriptions/bbbbbbbb-0000-0000-0000-000000000000"


def account(sub: str, name: str) -> Evidence:
    rid = f"{sub}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/{name}"
    return Evidence(FactKind.STORAGE_ACCOUNT, "storage.accounts", sub, rid, "1", None, AT, {"id": rid, "name": name})


def site(sub: str, name: str) -> Evidence:
    rid = f"{sub}/resourceGroups/rg/providers/Microsoft.Web/sites/{name}"
    return Evidence(FactKind.WEB_SITE, "web.sites", sub, rid, "1", None, AT, {"id": rid, "name": name})


def per_subscription(check: Check) -> Check:
    return replace(check, per_subscription=True)


def test_a_check_judged_per_subscription_sees_one_subscription_and_says_what_it_says_of_the_whole_run() -> None:
    seen: list[list[str]] = []

    def outcomes(facts: FactSet) -> list[Outcome]:
        accounts = facts.of(FactKind.STORAGE_ACCOUNT)
        seen.append(sorted({e.resource_id.split("/")[2] for e in accounts}))
        return [passed(e.resource_id, "ok", "ok", e) for e in accounts]

    records = [account(SUB_B, "b1"), account(SUB_A, "a1"), account(SUB_A, "a2")]
    facts = FactSet(evidence=records)
    check = fake("p-sub", (1,), outcomes)
    whole = evaluate_mapped(facts, [Req(1)], [check])
    seen.clear()
    split = evaluate_mapped(facts, [Req(1)], [per_subscription(check)])
    assert seen == [["aaaaaaaa-0000-0000-0000-000000000000"], ["bbbbbbbb-0000-0000-0000-000000000000"]]
    assert sorted(f.resource_id for f in split.findings) == sorted(f.resource_id for f in whole.findings)
    assert [f.resource_id.split("/")[-1] for f in split.findings] == ["a1", "a2", "b1"]  # subscription order
    assert split.verdicts == whole.verdicts


def test_a_subscription_whose_collection_failed_reads_as_an_error_once_with_the_others_judged() -> None:
    failed_b = CollectionError(FactKind.STORAGE_ACCOUNT, "storage.accounts", SUB_B, "AuthorizationFailed", "no",
                               403, None, AT)  # fmt: skip

    def outcomes(facts: FactSet) -> list[Outcome]:
        out = [passed(e.resource_id, "ok", "ok", e) for e in facts.of(FactKind.STORAGE_ACCOUNT)]
        # What the check is given of the failure: only the errors that can cover this subscription.
        return out + [errored(e.scope, "x", "x") for e in facts.errors_for([FactKind.STORAGE_ACCOUNT])]

    facts = FactSet(evidence=[account(SUB_A, "a1")], errors=[failed_b])
    result = evaluate_mapped(facts, [Req(1)], [per_subscription(fake("p-err", (1,), outcomes))])
    # Subscription B has no record: it is judged anyway, and its error stated once (by the check, not twice).
    assert [(f.resource_id, f.status) for f in result.findings] == [
        (f"{SUB_A}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a1", Status.PASS),
        (SUB_B, Status.ERROR),
    ]
    assert result.verdicts[0].status == Status.ERROR


def test_a_check_raising_on_one_subscription_is_an_error_naming_it_and_the_others_stand() -> None:
    def outcomes(facts: FactSet) -> list[Outcome]:
        accounts = facts.of(FactKind.STORAGE_ACCOUNT)
        if any("bbbbbbbb" in e.resource_id for e in accounts):
            raise RuntimeError("boom")
        return [passed(e.resource_id, "ok", "ok", e) for e in accounts]

    facts = FactSet(evidence=[account(SUB_A, "a1"), account(SUB_B, "b1")])
    result = evaluate_mapped(facts, [Req(1)], [per_subscription(fake("p-raise", (1,), outcomes))])
    assert [f.status for f in result.findings] == [Status.PASS, Status.ERROR]
    broken = result.findings[1]
    assert broken.resource_id == "check:p-raise"
    assert "subscription bbbbbbbb-0000-0000-0000-000000000000" in broken.reason_en and "boom" in broken.reason_en
    assert "サブスクリプション bbbbbbbb-0000-0000-0000-000000000000" in broken.reason_ja
    assert result.verdicts[0].status == Status.ERROR


def stored_in_parts(parts: dict[str, dict[str, list[Evidence]]]) -> tuple[FactSet, list[object]]:
    """Stored facts of these parts (kind -> subscription -> records), and what was read: a kind read whole, or a
    (kind, subscription) part."""
    from controls.model import StoredFacts

    asked: list[object] = []

    def load(kind: str) -> list[Evidence]:
        asked.append(kind)
        return [e for part in parts[kind].values() for e in part]

    def load_within(kind: str, sub: str | None) -> list[Evidence]:
        asked.append((kind, sub))
        return list(parts[kind].get(sub, []))

    return StoredFacts(load, parts, [], keep=2, partitions=parts, load_within=load_within), asked


def test_neighbouring_checks_judged_per_subscription_read_each_subscription_once_between_them() -> None:
    parts = {FactKind.STORAGE_ACCOUNT: {SUB_A[15:]: [account(SUB_A, "a1")], SUB_B[15:]: [account(SUB_B, "b1")]}}
    facts, asked = stored_in_parts(parts)

    def outcomes(facts: FactSet) -> list[Outcome]:
        return [passed(e.resource_id, "ok", "ok", e) for e in facts.of(FactKind.STORAGE_ACCOUNT)]

    first, second = per_subscription(fake("p-one", (1,), outcomes)), per_subscription(fake("p-two", (1,), outcomes))
    result = evaluate_mapped(facts, [Req(1)], [first, second])
    # One subscription after another, both checks on each: every part read once, nothing read whole.
    assert asked == [(FactKind.STORAGE_ACCOUNT, SUB_A[15:]), (FactKind.STORAGE_ACCOUNT, SUB_B[15:])]
    assert [(f.check_id, f.resource_id[-2:]) for f in result.findings] == [
        ("p-one", "a1"), ("p-two", "a1"), ("p-one", "b1"), ("p-two", "b1"),
    ]  # fmt: skip


def test_checks_judged_per_subscription_apart_in_the_list_are_judged_in_one_pass_reading_each_part_once() -> None:
    parts = {
        FactKind.STORAGE_ACCOUNT: {SUB_A[15:]: [account(SUB_A, "a1")], SUB_B[15:]: [account(SUB_B, "b1")]},
        FactKind.WEB_SITE: {SUB_A[15:]: [site(SUB_A, "wa")], SUB_B[15:]: [site(SUB_B, "wb")]},
    }

    def judging(kind: str) -> Callable[[FactSet], list[Outcome]]:
        return lambda facts: [passed(e.resource_id, "ok", "ok", e) for e in facts.of(kind)]

    storage, web = judging(FactKind.STORAGE_ACCOUNT), judging(FactKind.WEB_SITE)
    checks = [
        per_subscription(fake("p-store", (1,), storage)),
        per_subscription(fake("p-web", (1,), web, reads=(FactKind.WEB_SITE,))),
        fake("whole-store", (1,), storage),  # judged on the whole run, between them in the list
        per_subscription(fake("p-store-again", (1,), storage)),
    ]
    facts, asked = stored_in_parts(parts)
    result = evaluate_mapped(facts, [Req(1)], checks)
    # One pass over the subscriptions where the first of them stands, those reading the same kind together.
    assert [(f.check_id, f.resource_id.rsplit("/", 1)[-1]) for f in result.findings] == [
        ("p-store", "a1"), ("p-store-again", "a1"), ("p-web", "wa"),
        ("p-store", "b1"), ("p-store-again", "b1"), ("p-web", "wb"),
        ("whole-store", "a1"), ("whole-store", "b1"),
    ]  # fmt: skip
    # Each subscription's part of a kind read once, however many checks read it; the whole kind for the other.
    sub_a, sub_b = SUB_A[15:], SUB_B[15:]
    assert asked == [
        (FactKind.STORAGE_ACCOUNT, sub_a), (FactKind.WEB_SITE, sub_a),
        (FactKind.STORAGE_ACCOUNT, sub_b), (FactKind.WEB_SITE, sub_b),
        FactKind.STORAGE_ACCOUNT,
    ]  # fmt: skip
    whole = evaluate_mapped(FactSet(evidence=[e for k in parts.values() for p in k.values() for e in p]), [Req(1)],
                            [replace(c, per_subscription=False) for c in checks])  # fmt: skip
    assert sorted(result.findings, key=repr) == sorted(whole.findings, key=repr)
    assert result.verdicts == whole.verdicts


def test_kinds_read_across_subscriptions_come_from_the_whole_run_read_once_with_the_others_read_per_part() -> None:
    parts = {
        FactKind.STORAGE_ACCOUNT: {SUB_A[15:]: [account(SUB_A, "a1")], SUB_B[15:]: [account(SUB_B, "b1")]},
        FactKind.WEB_SITE: {SUB_A[15:]: [site(SUB_A, "wa")]},  # only subscription A has one
    }
    failed_a = CollectionError(FactKind.WEB_SITE, "web.sites", SUB_A, "AuthorizationFailed", "no", 403, None, AT)

    def outcomes(facts: FactSet) -> list[Outcome]:
        # Each account names the sites it is given and the site errors it can see.
        sites = ",".join(e.resource_id[-2:] for e in facts.of(FactKind.WEB_SITE))
        seen = ",".join(e.code for e in facts.errors_for([FactKind.WEB_SITE]))
        return [passed(e.resource_id, sites, seen, e) for e in facts.of(FactKind.STORAGE_ACCOUNT)]

    reads = (FactKind.STORAGE_ACCOUNT, FactKind.WEB_SITE)
    across = replace(fake("p-across", (1,), outcomes, reads=reads), per_subscription=True, across=(FactKind.WEB_SITE,))
    facts, asked = stored_in_parts(parts)
    facts.errors = [failed_a]
    result = evaluate_mapped(facts, [Req(1)], [across])
    # Subscription B's account is given A's site and A's site error, as judged over the whole run.
    judged = [(f.resource_id[-2:], f.reason_ja, f.reason_en) for f in result.findings if f.status == Status.PASS]
    assert judged == [("a1", "wa", "AuthorizationFailed"), ("b1", "wa", "AuthorizationFailed")]
    # The whole kind read once and kept for the pass; the others one subscription's part at a time.
    assert asked == [FactKind.WEB_SITE, (FactKind.STORAGE_ACCOUNT, SUB_A[15:]), (FactKind.STORAGE_ACCOUNT, SUB_B[15:])]
    whole = evaluate_mapped(FactSet(evidence=[e for k in parts.values() for p in k.values() for e in p],
                                    errors=[failed_a]), [Req(1)],
                            [replace(across, per_subscription=False, across=())])  # fmt: skip
    assert sorted(result.findings, key=repr) == sorted(whole.findings, key=repr)
    # Without `across`, subscription B would be given none of it.
    alone = evaluate_mapped(stored_in_parts(parts)[0], [Req(1)], [replace(across, across=())])
    assert [(f.resource_id[-2:], f.reason_ja) for f in alone.findings if f.status == Status.PASS] == [
        ("a1", "wa"), ("b1", ""),
    ]  # fmt: skip


def test_a_check_reads_across_subscriptions_only_kinds_it_reads_when_judged_per_subscription() -> None:
    from controls.checks.base import check

    for per_subscription, across in ((False, (FactKind.WEB_SITE,)), (True, (FactKind.STORAGE_ACCOUNT,))):
        with pytest.raises(ValueError, match="across names kinds it reads"):
            check(
                id="bad-across", title_ja="t", title_en="t", judges=("microsoft.web/sites",),
                reads=(FactKind.WEB_SITE,), api="a", rule_ja="r", rule_en="r", remediation_ja="f",
                remediation_en="f", per_subscription=per_subscription, across=across,
            )(lambda facts, thresholds: [])  # fmt: skip
