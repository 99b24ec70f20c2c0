"""The verdict engine: run every check over one run's facts and roll findings up per requirement No.

    res = evaluate(facts, load_catalog(), thresholds)
    res.findings   # every finding, check by check
    res.verdicts   # one Verdict per catalog requirement, ordered by No

Which checks evidence which requirement, and how fully, is catalog data (`checks`, `coverage`,
`supporting_checks`); a finding is stamped with the numbers its check is mapped to.

Rules that keep "could not see" from ever looking like "fine":
- a collection error of a kind a check reads becomes an error finding of that check (one per
  failed scope);
- a check that raises becomes an error finding for its requirements; the run goes on;
- an automated requirement with no check, or whose checks judged nothing, is `error`;
- a requirement its checks cover only partly is never `pass`: when they all pass it is `partial`,
  and its reason names what a person must still attest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date
from typing import Any, Protocol

from controls.access import cause
from controls.attestations import KIND as ATTESTATION_KIND
from controls.attestations import Attestation
from controls.checks import ALL_CHECKS, Check
from controls.model import (
    Across,
    CollectionError,
    Evidence,
    FactSet,
    Finding,
    Status,
    Thresholds,
    Verdict,
    in_subscription_order,
    subscription_id_of,
)
from controls.profiles import METI2012, apply_profile

# How many failing/erroring reasons a verdict quotes before "…".
_QUOTED = 3
_JUDGED = (Status.PASS, Status.FAIL, Status.ERROR)
# Distinct reasons a check's tally keeps per status and language: enough for the first _QUOTED + 1 distinct reasons
# of any requirement's checks together, however many of them the earlier checks' reasons repeat (at most _QUOTED).
_KEPT = 2 * _QUOTED + 1


class Requirement(Protocol):
    """What the engine reads from a catalog entry (controls.catalog.Requirement)."""

    @property
    def number(self) -> int: ...
    @property
    def evidence_mode(self) -> Any: ...  # StrEnum: automated / manual / inherited / not_applicable
    @property
    def reason_ja(self) -> str | None: ...
    @property
    def reason_en(self) -> str | None: ...
    @property
    def manual_evidence_ja(self) -> str | None: ...
    @property
    def manual_evidence_en(self) -> str | None: ...
    @property
    def checks(self) -> tuple[str, ...]: ...
    @property
    def supporting_checks(self) -> tuple[str, ...]: ...
    @property
    def coverage(self) -> Any: ...  # StrEnum full / partial, None unless automated
    @property
    def coverage_ja(self) -> str | None: ...
    @property
    def coverage_en(self) -> str | None: ...


@dataclass(frozen=True)
class EvaluationResult:
    findings: list[Finding]
    verdicts: list[Verdict]

    def verdict(self, number: int) -> Verdict | None:
        return next((v for v in self.verdicts if v.requirement == number), None)


@dataclass(frozen=True)
class Judgement:
    """A run's verdicts and how many findings each check gave of each status (`judge_into` hands the findings
    themselves on as each check gives them)."""

    verdicts: list[Verdict]
    finding_counts: dict[tuple[str, Status], int]

    def verdict(self, number: int) -> Verdict | None:
        return next((v for v in self.verdicts if v.requirement == number), None)


@dataclass
class _Tally:
    """What verdicts read of one check's judged findings: how many of each status, and the first distinct reasons
    of its failures and errors (per language), in the run's order."""

    counts: dict[Status, int] = field(default_factory=dict)
    reasons: dict[tuple[Status, str], list[str]] = field(default_factory=dict)

    def add(self, f: Finding) -> None:
        status = Status(f.status)
        self.counts[status] = self.counts.get(status, 0) + 1
        if status in (Status.FAIL, Status.ERROR):
            for lang, reason in (("ja", f.reason_ja), ("en", f.reason_en)):
                kept = self.reasons.setdefault((status, lang), [])
                if len(kept) < _KEPT and reason not in kept:
                    kept.append(reason)

    def count(self, status: Status) -> int:
        return self.counts.get(status, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def quote(self, status: Status, lang: str) -> str:
        distinct = self.reasons.get((status, lang), [])
        more = " …" if len(distinct) > _QUOTED else ""
        return "; ".join(distinct[:_QUOTED]) + more


def _merged(tallies: Sequence[_Tally]) -> _Tally:
    """The tally of several checks' findings together, in the run's order (the order of `tallies`)."""
    if len(tallies) == 1:
        return tallies[0]
    out = _Tally()
    for tally in tallies:
        for status, n in tally.counts.items():
            out.counts[status] = out.counts.get(status, 0) + n
        for key, reasons in tally.reasons.items():
            kept = out.reasons.setdefault(key, [])
            kept.extend(r for r in reasons if r not in kept)
            del kept[_QUOTED + 1 :]  # enough to quote _QUOTED and know there are more
    return out


def _collection_error_findings(check: Check, facts: FactSet, numbers: tuple[int, ...]) -> list[Finding]:
    """One error finding per failed scope: a fetcher that fails often fails several kinds at once
    (e.g. network watchers and flow logs), which is one thing the check could not see, not two."""
    by_scope: dict[str, list[CollectionError]] = {}
    for err in facts.errors_for(check.reads):
        by_scope.setdefault(err.scope, []).append(err)
    out = []
    for scope, errs in by_scope.items():
        kinds = ", ".join(dict.fromkeys(str(e.kind) for e in errs))  # a FactKind or a plain kind string
        explained = [cause(e) for e in errs]
        causes_ja = "、".join(dict.fromkeys(ja for ja, _ in explained))
        causes_en = ", ".join(dict.fromkeys(en for _, en in explained))
        out.append(
            Finding(
                check_id=check.id,
                requirements=numbers,
                status=Status.ERROR,
                resource_id=scope,
                reason_ja=f"{scope} の {kinds} を収集できませんでした: {causes_ja}",
                reason_en=f"{kinds} could not be collected in {scope}: {causes_en}",
            )
        )
    return out


def _run_check(
    check: Check, facts: FactSet, thresholds: Thresholds, numbers: tuple[int, ...], where: tuple[str, str] = ("", "")
) -> list[Finding]:
    """The check's findings, or one error finding if it raised (partial output is not trusted). `where` (Japanese,
    English) says which part of the run it was judging when it is judged per subscription (_part_named)."""
    try:
        findings = check.evaluate(facts, thresholds, numbers)
    except Exception as exc:  # a broken check must not stop the run or read as pass
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        where_ja, where_en = where
        return [
            Finding(
                check_id=check.id,
                requirements=numbers,
                status=Status.ERROR,
                resource_id=f"check:{check.id}",
                reason_ja=f"チェック {check.id} の{where_ja}実行中に例外が発生しました（{detail}）",
                reason_en=f"check {check.id} raised an exception{where_en} ({detail})",
            )
        ]
    return findings


def _judged(
    group: Sequence[Check], facts: FactSet, thresholds: Thresholds, mapped: dict[str, list[int]]
) -> Iterator[list[Finding]]:
    """The findings of a check, or of the group of checks judged per subscription, each check's with the engine's
    error findings for failed collections first. The group is judged one subscription after another
    (in_subscription_order), each of its checks in turn on that subscription's facts: each part of a kind is read
    once for the whole group, and let go once no check still to come on that subscription reads it. The kinds a
    check reads `across` subscriptions it is given from the whole run."""
    numbers = {c.id: tuple(mapped.get(c.id, ())) for c in group}
    errors = {c.id: _collection_error_findings(c, facts, numbers[c.id]) for c in group}
    if not group[0].per_subscription:
        (check,) = group
        yield _without_reported(errors[check.id], _run_check(check, facts, thresholds, numbers[check.id]))
        return
    by_part: dict[str, dict[str | None, list[Finding]]] = {}
    for check_id, found in errors.items():
        for f in found:
            by_part.setdefault(check_id, {}).setdefault(subscription_id_of(f.resource_id), []).append(f)
    failed_in = [part for parts in by_part.values() for part in parts]
    # Before each check: the kinds it and the checks after it in the group read.
    still_read = [{kind for c in group[n:] for kind in c.reads} for n in range(len(group))]
    for part in in_subscription_order([*facts.subscriptions(), *failed_in]):
        within = facts.within(part)
        for check, kinds in zip(group, still_read, strict=True):
            within.reading(kinds)
            given = Across(within, facts, check.across) if check.across else within
            judged = _run_check(check, given, thresholds, numbers[check.id], _part_named(part))
            yield _without_reported(by_part.get(check.id, {}).get(part, []), judged)


def _part_named(subscription: str | None) -> tuple[str, str]:
    if subscription is None:
        return "サブスクリプション外のリソースの", " on resources in no subscription"
    return f"サブスクリプション {subscription} の", f" on subscription {subscription}"


def _groups(checks: Sequence[Check]) -> Iterator[list[Check]]:
    """`checks` in order, each alone, but those judged per subscription in one group, where the first of them
    stands (_by_kinds): one pass over the subscriptions judges them all, so a run of many subscriptions reads
    each subscription's part of a kind once, however many checks read it."""
    together = _by_kinds([c for c in checks if c.per_subscription])
    for check in checks:
        if not check.per_subscription:
            yield [check]
        elif together:
            yield together
            together = []


def _by_kinds(checks: list[Check]) -> list[Check]:
    """`checks` with those that read the same main kind (the first they read) next to each other, in the order
    those kinds first come: a subscription's part of a kind is then held over a short stretch of the group."""
    place: dict[str, int] = {}
    for check in checks:
        place.setdefault(str(check.reads[0]) if check.reads else "", len(place))
    return sorted(checks, key=lambda c: place[str(c.reads[0]) if c.reads else ""])


def _without_reported(errors: list[Finding], judged: list[Finding]) -> list[Finding]:
    """`errors` then `judged`: a check that already reported a resource as an error (naming the collection
    failure) needs no second finding for the same scope from the engine."""
    reported = {f.resource_id.lower() for f in judged if f.status == Status.ERROR}
    return [*(f for f in errors if f.resource_id.lower() not in reported), *judged]


def _mode(requirement: Requirement, attribute: str = "evidence_mode") -> str:
    value = getattr(requirement, attribute)
    return str(getattr(value, "value", value)).lower()


def _rollup(requirement: Requirement, ids: tuple[str, ...], missing: list[str], findings: _Tally) -> Verdict:
    number = requirement.number
    fails, errors, passes = findings.count(Status.FAIL), findings.count(Status.ERROR), findings.count(Status.PASS)
    total = findings.total
    counts = {"findings_pass": passes, "findings_fail": fails, "findings_error": errors}
    if missing:
        return Verdict(
            number,
            Status.ERROR,
            f"自動判定の対象だがチェック {', '.join(missing)} がこの実行にありません",
            f"automated evidence expected but check(s) {', '.join(missing)} did not run",
            ids,
            **counts,
        )
    if total == 0:
        return Verdict(
            number,
            Status.ERROR,
            f"評価対象なし: チェック {', '.join(ids)} が判定した資源がありません",
            f"nothing evaluated: checks {', '.join(ids)} found no resources to judge",
            ids,
            **counts,
        )
    if fails:
        extra_ja = f"、エラー {errors} 件" if errors else ""
        extra_en = f", {errors} error(s)" if errors else ""
        return Verdict(
            number,
            Status.FAIL,
            f"{total} 件中 {fails} 件が不合格{extra_ja}: {findings.quote(Status.FAIL, 'ja')}",
            f"{fails} of {total} failed{extra_en}: {findings.quote(Status.FAIL, 'en')}",
            ids,
            **counts,
        )
    if errors:
        return Verdict(
            number,
            Status.ERROR,
            f"{total} 件中 {errors} 件が判定不能: {findings.quote(Status.ERROR, 'ja')}",
            f"{errors} of {total} could not be evaluated: {findings.quote(Status.ERROR, 'en')}",
            ids,
            **counts,
        )
    if _mode(requirement, "coverage") != "full":
        # The checks prove one slice; the rest is a person's to attest, so this is not a pass.
        return Verdict(
            number,
            Status.PARTIAL,
            f"チェックの {total} 件すべて合格（{', '.join(ids)}）、ただしチェックは要求事項の一部のみ。"
            f"{requirement.coverage_ja or ''}",
            f"all {total} checked passed ({', '.join(ids)}), but the checks cover only part of the requirement. "
            f"{requirement.coverage_en or ''}",
            ids,
            **counts,
        )
    return Verdict(
        number,
        Status.PASS,
        f"{total} 件すべて合格（{', '.join(ids)}）",
        f"all {total} passed ({', '.join(ids)})",
        ids,
        **counts,
    )


def _non_automated(requirement: Requirement, mode: str, ids: tuple[str, ...], findings: _Tally) -> Verdict:
    number = requirement.number
    counts = {
        "findings_pass": findings.count(Status.PASS),
        "findings_fail": findings.count(Status.FAIL),
        "findings_error": findings.count(Status.ERROR),
    }
    if mode == "manual":
        fails = counts["findings_fail"]
        if fails:
            # A supporting check that fails contradicts the claim an attestation would make.
            return Verdict(
                number,
                Status.FAIL,
                f"手動証跡の対象だが自動チェックで {fails} 件が不合格: {findings.quote(Status.FAIL, 'ja')}",
                f"manual evidence expected, but {fails} automated finding(s) failed: "
                f"{findings.quote(Status.FAIL, 'en')}",
                ids,
                **counts,
            )
        ja = requirement.manual_evidence_ja or "証跡の登録（アテステーション）が必要です"
        en = requirement.manual_evidence_en or "an attestation is needed"
        support_ja = support_en = ""
        if findings.total:
            errors, total = counts["findings_error"], findings.total
            support_ja = f"（補助チェック {', '.join(ids)}: {total} 件中 合格 {counts['findings_pass']}"
            support_en = f" (supporting checks {', '.join(ids)}: {counts['findings_pass']} of {total} passed"
            support_ja += f"、判定不能 {errors}）" if errors else "）"
            support_en += f", {errors} could not be evaluated)" if errors else ")"
        return Verdict(
            number, Status.MANUAL, f"手動証跡: {ja}{support_ja}", f"manual evidence: {en}{support_en}", ids, **counts
        )
    if mode == "inherited":
        return Verdict(
            number,
            Status.INHERITED,
            "Azure 物理層（Microsoft の管理範囲）から継承",
            "Azure physical layer, inherited from Microsoft",
            ids,
            **counts,
        )
    if mode == "not_applicable":
        return Verdict(
            number,
            Status.NOT_APPLICABLE,
            f"対象外: {requirement.reason_ja or '理由未記載'}",
            f"not applicable: {requirement.reason_en or 'no reason recorded'}",
            ids,
            **counts,
        )
    return Verdict(
        number,
        Status.ERROR,
        f"カタログの evidence_mode {mode!r} を解釈できません",
        f"catalog evidence_mode {mode!r} is not understood",
        ids,
        **counts,
    )


def evaluate(
    facts: FactSet,
    catalog: Iterable[Requirement],
    thresholds: Thresholds,
    checks: Sequence[Check] = ALL_CHECKS,
    profile: str = METI2012,
) -> EvaluationResult:
    """Judge `facts` with `checks` and give one verdict per catalog requirement, ordered by No; passing
    findings short of a higher bar are held to it or not as the guideline `profile` says (controls.profiles).
    Without a profile, the checks' own (2012) reading stands; the pipeline passes `guideline.profile` from
    the settings, whose default is mhlw6. Every finding is held in the result (`judge_into` hands them on)."""
    findings: list[Finding] = []
    judged = judge_into(facts, catalog, thresholds, findings.extend, checks, profile)
    return EvaluationResult(findings=findings, verdicts=judged.verdicts)


def judge_into(
    facts: FactSet,
    catalog: Iterable[Requirement],
    thresholds: Thresholds,
    store: Callable[[list[Finding]], None],
    checks: Sequence[Check] = ALL_CHECKS,
    profile: str = METI2012,
) -> Judgement:
    """What `evaluate` judges, handing each check's findings to `store` as the check gives them (then the
    attestations' findings), in the run's order; it keeps of them only what the verdicts read (counts and the
    reasons they quote)."""
    requirements = sorted(catalog, key=lambda r: r.number)
    mapped: dict[str, list[int]] = {}
    for requirement in requirements:
        for check_id in (*requirement.checks, *requirement.supporting_checks):
            mapped.setdefault(check_id, []).append(requirement.number)

    numbers = {r.number for r in requirements}
    attestations = _attestations(facts, numbers)
    # A justification accepts findings short of a higher bar; it does not cover its requirements.
    justifications = [(a, on) for a, _, on in attestations if a.justifies]
    apply_profile([], profile, justifications)  # an unknown profile is refused before anything is judged
    # Per check id, in the order its findings first come: what verdicts read of them (_Tally), and all counts.
    tallies: dict[str, _Tally] = {}
    counts: dict[tuple[str, Status], int] = {}

    def hand_on(findings: list[Finding]) -> None:
        for f in findings:
            key = (f.check_id, Status(f.status))
            counts[key] = counts.get(key, 0) + 1
            if f.status in _JUDGED:
                tallies.setdefault(f.check_id, _Tally()).add(f)
        store(findings)

    for group in _groups(checks):
        # A group judged per subscription holds of the whole run only the kinds its checks read across them.
        whole = {kind for c in group for kind in c.across} if group[0].per_subscription else group[0].reads
        facts.reading(whole)
        for found in _judged(group, facts, thresholds, mapped):
            hand_on(apply_profile(found, profile, justifications))
    hand_on([_attestation_finding(a, ev, on, numbers) for a, ev, on in attestations])

    ran = {c.id for c in checks}
    verdicts = []
    for requirement in requirements:
        mode = _mode(requirement)
        ids = requirement.checks if mode == "automated" else requirement.supporting_checks
        mine = _merged([t for check_id, t in tallies.items() if check_id in ids]) if ids else _Tally()
        if mode == "automated":
            verdict = _rollup(requirement, ids, [i for i in ids if i not in ran], mine)
        else:
            verdict = _non_automated(requirement, mode, ids, mine)
        covering = [x for x in attestations if requirement.number in x[0].requirements and not x[0].justifies]
        verdicts.append(_with_attestations(verdict, covering))
    return Judgement(verdicts=verdicts, finding_counts=counts)


# -- attestations -----------------------------------------------------------------------------------

ATTESTATION_CHECK = "attestation"  # the check id of findings that stand for a person's attestation


def _attestations(facts: FactSet, numbers: set[int]) -> list[tuple[Attestation, Evidence, date]]:
    """The attestations the run carries as evidence (the pipeline adds those in force), each with the day
    it is judged on: the day the run read it. Revoked ones never reach a run."""
    out = []
    for ev in facts.of(ATTESTATION_KIND):
        attestation = Attestation.from_content(ev.content)
        if set(attestation.requirements) & numbers:
            out.append((attestation, ev, ev.collected_at.astimezone(UTC).date()))
    return out


def _attestation_finding(a: Attestation, ev: Evidence, on: date, numbers: set[int]) -> Finding:
    """A valid attestation is a passing finding; a lapsed one a failing finding, so its expiry is drift
    that alerts like any other failure."""
    span = f"{a.attested_on}〜{a.valid_until}"
    state = a.state(on)
    if state == "valid":
        status, ja, en = Status.PASS, "", ""
    elif state == "expired":
        status, ja, en = Status.FAIL, f"（{a.valid_until} に期限切れ）", f" (expired on {a.valid_until})"
    else:
        status = Status.FAIL
        ja, en = f"（{a.attested_on} からの有効、まだ有効でない）", f" (not in force until {a.attested_on})"
    return Finding(
        check_id=ATTESTATION_CHECK,
        requirements=tuple(n for n in a.requirements if n in numbers),
        status=status,
        resource_id=f"attestation:{a.id}",
        reason_ja=f"アテステーション {a.id}（{a.owner}、{span}）{ja}: {a.statement_ja}",
        reason_en=f"attestation {a.id} ({a.owner}, {a.attested_on} to {a.valid_until}){en}: {a.statement_en}",
        evidence=(ev.sha256,),
    )


def _with_attestations(verdict: Verdict, covering: list[tuple[Attestation, Evidence, date]]) -> Verdict:
    """A manual requirement with a valid attestation is `attested`; a partial one whose checks all passed is
    `pass` once an attestation covers the rest. With only lapsed ones, `expired`. Failures and errors stand."""
    if not covering or verdict.status not in (Status.MANUAL, Status.PARTIAL):
        return verdict
    valid = [a for a, _, on in covering if a.state(on) == "valid"]
    expired = [a for a, _, on in covering if a.state(on) == "expired"]
    ids = (*verdict.check_ids, ATTESTATION_CHECK)
    counts = {
        "findings_pass": verdict.findings_pass + len(valid),
        "findings_fail": verdict.findings_fail + len(covering) - len(valid),
        "findings_error": verdict.findings_error,
    }
    if valid:
        names = ", ".join(f"{a.id}（{a.owner}、{a.valid_until} まで）" for a in valid)
        names_en = ", ".join(f"{a.id} ({a.owner}, until {a.valid_until})" for a in valid)
        statement_ja = "; ".join(a.statement_ja for a in valid)
        statement_en = "; ".join(a.statement_en for a in valid)
        if verdict.status == Status.MANUAL:
            status = Status.ATTESTED
            ja, en = f"確認済: {names}: {statement_ja}", f"attested: {names_en}: {statement_en}"
        else:
            status = Status.PASS
            ja = f"{verdict.reason_ja} → 要証明の部分はアテステーション {names} で確認: {statement_ja}"
            en = f"{verdict.reason_en} → the part to attest is covered by attestation {names_en}: {statement_en}"
        return replace(verdict, status=status, reason_ja=ja, reason_en=en, check_ids=ids, **counts)
    if expired:
        names = ", ".join(f"{a.id}（{a.valid_until} 期限切れ）" for a in expired)
        names_en = ", ".join(f"{a.id} (expired {a.valid_until})" for a in expired)
        return replace(
            verdict,
            status=Status.EXPIRED,
            reason_ja=f"アテステーションの期限切れ: {names}。更新が必要です。{verdict.reason_ja}",
            reason_en=f"attestation expired: {names_en}; renew it. {verdict.reason_en}",
            check_ids=ids,
            **counts,
        )
    return verdict
