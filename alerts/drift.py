"""Drift: what changed since the last completed run that judged the same thing.

`detect` is pure: it compares findings per (check id, lower-cased resource id) and verdicts per
requirement No, and names each change as a `DriftEvent`:

    before \\ after   pass           fail          error        (no finding)
    (none)           NEW_RESOURCE   NEW_FAILURE   NEW_ERROR    -
    pass             -              NEW_FAILURE   NEW_ERROR    RESOURCE_GONE
    fail             RESOLVED       -             NEW_ERROR    RESOURCE_GONE
    error            RESOLVED       NEW_FAILURE   -            RESOURCE_GONE (*)

plus VERDICT_CHANGED for each requirement whose status changed. (*) An error on a scope rather than
a resource (`tenant`, `/subscriptions/{s}`, `check:{id}`) that is gone with nothing under it is
RESOLVED: the scope could be read again and holds nothing to judge.

"Could not see" is never "gone": an error finding covers the resources under it (a collection
error names a scope such as `/subscriptions/{s}` or `tenant`; a crashed check names `check:{id}`),
so a resource judged before that now lies under an error finding of the same check is NEW_ERROR,
with that error's reason, not RESOURCE_GONE; the covering error finding is then not reported again
on its own. While it lasts the resource stays known as `error`, and when it can be seen again it is
RESOLVED (or NEW_FAILURE), not new.

"Before" is the last completed run that judged the thing, not simply the previous run: a partial
run (scope {"partial": true, "checks": [...]}) judges a few checks and holds only the verdicts they
decide, so it is compared, check by check and requirement by requirement, with the newest completed
run (full or partial) that judged each of them. `previous_state` reads that from the ledger;
`detect_for_run` is what `collector.pipeline.run_once` calls before it seals a run.

A baseline is not drift: the first run ever gives no events, and neither does the first judgement of
a check (or the first verdict of a requirement) that no earlier completed run judged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from itertools import islice
from typing import TYPE_CHECKING

from controls.attestations import Attestation
from controls.model import DriftEvent, DriftKind, Finding, Status, Verdict

if TYPE_CHECKING:
    from storage.ledger import CheckRows, JudgedRun, Ledger

# How many older runs judging one check are read back to recover what lay under an error that lasts;
# beyond that, a resource that reappears after the error is reported as new rather than resolved.
CARRY_LIMIT = 1000

_SEVERITY = {Status.FAIL: 2, Status.ERROR: 1, Status.PASS: 0}
_SUBSCRIPTION_SCOPE = re.compile(r"^/subscriptions/[^/]+$", re.IGNORECASE)

STATUS_JA = {
    Status.PASS: "適合",
    Status.FAIL: "不適合",
    Status.ERROR: "取得不可",
    Status.PARTIAL: "一部確認",
    Status.MANUAL: "要確認",
    Status.ATTESTED: "確認済",
    Status.EXPIRED: "期限切れ",
    Status.INHERITED: "継承",
    Status.NOT_APPLICABLE: "対象外",
}
KIND_JA = {
    DriftKind.NEW_FAILURE: "新たな不適合",
    DriftKind.RESOLVED: "解消",
    DriftKind.NEW_ERROR: "新たな取得不可",
    DriftKind.RESOURCE_GONE: "資源の消失",
    DriftKind.NEW_RESOURCE: "新しい資源",
    DriftKind.VERDICT_CHANGED: "判定の変化",
    DriftKind.ATTESTATION_EXPIRING: "アテステーションの期限が近い",
}
KIND_EN = {
    DriftKind.NEW_FAILURE: "new failure",
    DriftKind.RESOLVED: "resolved",
    DriftKind.NEW_ERROR: "new error (could not see)",
    DriftKind.RESOURCE_GONE: "resource gone",
    DriftKind.NEW_RESOURCE: "new resource",
    DriftKind.VERDICT_CHANGED: "verdict changed",
    DriftKind.ATTESTATION_EXPIRING: "attestation expiring",
}

Key = tuple[str, str]  # (check id, lower-cased resource id)


def _key(finding: Finding) -> Key:
    return finding.check_id, finding.resource_id.strip().rstrip("/").lower()


def _status_ja(status: Status | None) -> str:
    return STATUS_JA.get(status, str(status)) if status is not None else "なし"


def _status_en(status: Status | None) -> str:
    return str(status) if status is not None else "none"


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] or resource_id


def _is_scope(resource_id: str) -> bool:
    """An id that names where something was looked for rather than a resource: the tenant, a whole
    subscription, or a check that crashed."""
    rid = resource_id.strip().lower()
    return rid == "tenant" or rid.startswith("check:") or bool(_SUBSCRIPTION_SCOPE.match(rid))


def covers(error: Finding, resource_id: str) -> bool:
    """Whether an error finding of a check stands for `resource_id` too: the check could not see it."""
    if error.status != Status.ERROR:
        return False
    scope = error.resource_id.strip().rstrip("/").lower()
    rid = resource_id.strip().rstrip("/").lower()
    if scope == rid:
        return False
    return scope == "tenant" or scope.startswith("check:") or rid.startswith(scope + "/")


def _worst(findings: Iterable[Finding]) -> dict[Key, Finding]:
    """One finding per key; where a check reported a resource twice, the worse status stands."""
    out: dict[Key, Finding] = {}
    for f in findings:
        key = _key(f)
        if key not in out or _SEVERITY.get(f.status, 0) > _SEVERITY.get(out[key].status, 0):
            out[key] = f
    return out


def _covered(errors: list[Finding], was: Finding) -> Finding:
    """`was`, as the error that now covers it: status error, the error's reason, no evidence of its own."""
    cover = next(e for e in errors if covers(e, was.resource_id))
    return replace(was, status=Status.ERROR, reason_ja=cover.reason_ja, reason_en=cover.reason_en, evidence=())


def _carry(state: dict[Key, Finding], older: Mapping[Key, Finding]) -> None:
    """Add to `state` each older pair that an error finding in `state` now covers, as that error."""
    errors = [f for f in state.values() if f.status == Status.ERROR]
    for key, was in older.items():
        if key not in state and any(e.check_id == was.check_id and covers(e, was.resource_id) for e in errors):
            state[key] = _covered([e for e in errors if e.check_id == was.check_id], was)


def _event(kind: DriftKind, before: Finding | None, after: Finding | None, previous_run: int | None) -> DriftEvent:
    f = after or before
    assert f is not None
    b, a = (before.status if before else None), (after.status if after else None)
    name = _name(f.resource_id)
    head_ja = f"{KIND_JA[kind]}: {name} の {f.check_id}: {_status_ja(b)} → {_status_ja(a)}"
    head_en = f"{KIND_EN[kind]}: {f.check_id} on {name}: {_status_en(b)} → {_status_en(a)}"
    if after is not None:
        ja, en = f"{head_ja}: {after.reason_ja}", f"{head_en}: {after.reason_en}"
    elif kind == DriftKind.RESOLVED:
        ja = f"{head_ja}: {name} を再び確認できました（判定すべき資源は現在ありません）"
        en = f"{head_en}: {name} could be read again (nothing there to judge now)"
    else:
        run = f"実行 {previous_run} で" if previous_run is not None else "前回"
        ja = f"{head_ja}: {run}判定された資源が今回の収集結果にありません（削除・移動、または収集範囲外になった）"
        run = f"in run {previous_run}" if previous_run is not None else "before"
        en = f"{head_en}: judged {run}, it is not among this run's facts (deleted, moved, or out of scope)"
    return DriftEvent(
        kind=kind,
        check_id=f.check_id,
        resource_id=f.resource_id,
        requirements=tuple(f.requirements),
        before=b,
        after=a,
        reason_ja=ja,
        reason_en=en,
        previous_run=previous_run,
    )


def _finding_kind(before: Finding | None, after: Finding | None) -> DriftKind | None:
    b, a = (before.status if before else None), (after.status if after else None)
    if b == a:
        return None
    if after is None:
        # An error on a scope (a subscription, the tenant) with nothing left under it was resolved by
        # seeing that there is nothing there; a resource that is no longer judged is gone.
        scope_error = before is not None and b == Status.ERROR and _is_scope(before.resource_id)
        return DriftKind.RESOLVED if scope_error else DriftKind.RESOURCE_GONE
    if a == Status.FAIL:
        return DriftKind.NEW_FAILURE
    if a == Status.ERROR:
        return DriftKind.NEW_ERROR
    return DriftKind.NEW_RESOURCE if before is None else DriftKind.RESOLVED


def _told_through_others(key: Key, before: Finding | None, after: Finding | None, keys: Iterable[Key]) -> bool:
    """An error finding that appears or disappears while it stands for other known resources of its
    check: each of those gets its own event with the error's reason, so the error itself is not told."""
    if before is None and after is not None and after.status == Status.ERROR:
        error = after
    elif after is None and before is not None and before.status == Status.ERROR:
        error = before
    else:
        return False
    return any(k != key and k[0] == key[0] and covers(error, k[1]) for k in keys)


def detect(
    previous_findings: Iterable[Finding],
    findings: Iterable[Finding],
    previous_verdicts: Iterable[Verdict],
    verdicts: Iterable[Verdict],
    previous_run_id: int | None,
    *,
    checks: Collection[str] | None = None,
    check_runs: Mapping[str, int] | None = None,
    verdict_runs: Mapping[int, int] | None = None,
) -> list[DriftEvent]:
    """The drift from the previous state to this run's findings and verdicts.

    `previous_run_id` None means there is no earlier completed run: the first run ever is a baseline,
    not drift, and gives no events.

    Which checks are compared: those in `check_runs` (check id → the run its previous findings come
    from; a check missing there has no baseline yet, so its first judgement gives no events), else
    those in `checks` (the checks this run ran), else the checks this run has findings of. Previous
    findings of other checks are ignored: a partial run says nothing about checks it did not run.
    Verdicts compared: those in `verdict_runs` (No → run of its previous verdict) if given, else every
    verdict of this run that has a previous one.
    """
    if previous_run_id is None:
        return []
    current = _worst(findings)
    if check_runs is not None:
        compared = set(check_runs)
    elif checks is not None:
        compared = set(checks)
    else:
        compared = {check for check, _ in current}
    before = {k: f for k, f in _worst(previous_findings).items() if k[0] in compared}
    after = {k: f for k, f in current.items() if k[0] in compared}
    _carry(after, before)  # a resource seen before and now under an error of its check: error, not gone
    all_keys = before.keys() | after.keys()

    def run_of(check_id: str) -> int | None:
        return check_runs.get(check_id, previous_run_id) if check_runs is not None else previous_run_id

    events: list[DriftEvent] = []
    for key in sorted(all_keys):
        b, a = before.get(key), after.get(key)
        kind = _finding_kind(b, a)
        if kind is None:
            continue
        if _told_through_others(key, b, a, all_keys):
            continue
        events.append(_event(kind, b, a, run_of(key[0])))

    previous = {v.requirement: v for v in previous_verdicts}
    for v in sorted(verdicts, key=lambda v: v.requirement):
        if verdict_runs is not None and v.requirement not in verdict_runs:
            continue
        was = previous.get(v.requirement)
        if was is None or was.status == v.status:
            continue
        run = verdict_runs.get(v.requirement, previous_run_id) if verdict_runs is not None else previous_run_id
        events.append(
            DriftEvent(
                kind=DriftKind.VERDICT_CHANGED,
                check_id=None,
                resource_id=None,
                requirements=(v.requirement,),
                before=was.status,
                after=v.status,
                reason_ja=f"{KIND_JA[DriftKind.VERDICT_CHANGED]}: No {v.requirement}: "
                f"{_status_ja(was.status)} → {_status_ja(v.status)}: {v.reason_ja}",
                reason_en=f"{KIND_EN[DriftKind.VERDICT_CHANGED]}: No {v.requirement}: "
                f"{_status_en(was.status)} → {_status_en(v.status)}: {v.reason_en}",
                previous_run=run,
            )
        )
    return events


# -- the previous state, from the ledger ----------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """What the checks and requirements of one run looked like before it, each as of the last completed
    run that judged it (`check_runs`, `verdict_runs`); the arguments `detect` compares against."""

    findings: list[Finding]
    verdicts: list[Verdict]
    check_runs: dict[str, int]
    verdict_runs: dict[int, int]

    @property
    def previous_run(self) -> int | None:
        """The newest run this baseline draws on; None when no completed run judged any of it."""
        runs = [*self.check_runs.values(), *self.verdict_runs.values()]
        return max(runs) if runs else None


class _History:
    """`Ledger.judged_history`, read lazily and kept: every check's search walks the same runs."""

    def __init__(self, runs: Iterator[JudgedRun]) -> None:
        self._source, self._seen = runs, []

    def __iter__(self) -> Iterator[JudgedRun]:
        i = 0
        while True:
            if i == len(self._seen):
                nxt = next(self._source, None)
                if nxt is None:
                    return
                self._seen.append(nxt)
            yield self._seen[i]
            i += 1


def _last_judging(history: _History, check_id: str) -> tuple[JudgedRun | None, Iterator[JudgedRun]]:
    """The newest run that judged the check (looking no further back than the newest full run: a full run
    judged every check it knew of), and an iterator over the older runs that judged it."""
    runs = iter(history)
    for run in runs:
        if check_id in run.checks:
            return run, (r for r in runs if check_id in r.checks)
        if run.full:
            break
    return None, iter(())


def previous_state(ledger: Ledger, run_id: int, checks: Collection[str], requirements: Collection[int]) -> Baseline:
    """The baseline of run `run_id`, which judged `checks` and holds verdicts for `requirements`.

    Per check: its findings in the last completed run that judged it, plus the resources an error finding
    there stood for (walking further back, at most `CARRY_LIMIT` runs, for as long as that error lasted):
    they are known as `error`, so seeing them again is RESOLVED, not new. Per requirement: its verdict in
    the last completed run that held one."""
    history = _History(ledger.judged_history(run_id))
    findings: list[Finding] = []
    check_runs: dict[str, int] = {}
    for check_id in sorted(set(checks)):
        judged = _check_state(ledger, history, check_id)
        if judged is not None:
            check_runs[check_id], state = judged
            findings += state
    verdicts, verdict_runs = _verdict_state(ledger, history, requirements)
    return Baseline(findings, verdicts, check_runs, verdict_runs)


def _check_state(ledger: Ledger, history: _History, check_id: str) -> tuple[int, list[Finding]] | None:
    """The baseline of one check (see `previous_state`): the run it comes from and its findings; None when no
    completed run judged the check."""
    first, older = _last_judging(history, check_id)
    if first is None:
        return None
    state = _worst(ledger.findings_of([first.id], [check_id])[first.id])
    newest_errors = [f for f in state.values() if f.status == Status.ERROR]
    pending = list(newest_errors)
    walked, size = 0, 2
    while pending and walked < CARRY_LIMIT:
        batch = list(islice(older, min(size, CARRY_LIMIT - walked)))  # most errors are short: start small
        if not batch:
            break
        walked, size = walked + len(batch), min(size * 2, 64)
        found = ledger.findings_of([r.id for r in batch], [check_id])
        for run in batch:
            seen = _worst(found[run.id])
            for key, was in seen.items():
                if key not in state and any(covers(p, was.resource_id) for p in pending):
                    state[key] = _covered(newest_errors, was)
            # The error lasts back in time while that run also could not see under it.
            pending = [
                f
                for f in seen.values()
                if f.status == Status.ERROR and any(_key(p) == _key(f) or covers(p, f.resource_id) for p in pending)
            ]
            if not pending:
                break
    return first.id, list(state.values())


def _verdict_state(
    ledger: Ledger, history: _History, requirements: Collection[int]
) -> tuple[list[Verdict], dict[int, int]]:
    """Per requirement, its verdict in the last completed run that held one, and that run."""
    verdicts: list[Verdict] = []
    verdict_runs: dict[int, int] = {}
    wanted = set(requirements)
    for run in history:
        if not wanted:
            break
        for v in ledger.verdicts(run.id):
            if v.requirement in wanted:
                verdicts.append(v)
                verdict_runs[v.requirement] = run.id
                wanted.discard(v.requirement)
        if run.full:  # a full run holds every verdict it could
            break
    return verdicts, verdict_runs


def detect_for_run(
    ledger: Ledger,
    run_id: int,
    checks: Collection[str],
    findings: Iterable[Finding] | None,
    verdicts: Iterable[Verdict],
) -> list[DriftEvent]:
    """The drift of run `run_id` (still running, about to be sealed) that ran `checks` and judged
    `findings` / `verdicts`, against the ledger's previous state of each. With `findings` None, the run's
    findings are read from the ledger (it has stored them) one check at a time, each check's baseline with
    them: the same events, without holding every finding of either run at once."""
    verdicts = list(verdicts)
    if findings is not None:
        base = previous_state(ledger, run_id, checks, [v.requirement for v in verdicts])
        return detect(
            base.findings,
            findings,
            base.verdicts,
            verdicts,
            base.previous_run,
            check_runs=base.check_runs,
            verdict_runs=base.verdict_runs,
        )
    history = _History(ledger.judged_history(run_id))
    events: list[DriftEvent] = []
    rows_now = cache(lambda: ledger.check_rows(run_id))  # read once, when first asked
    # Events come ordered by check id, then resource: check by check in that order is the same order.
    for check_id in sorted(set(checks)):
        if _unchanged(ledger, history, check_id, rows_now):
            continue
        judged = _check_state(ledger, history, check_id)
        if judged is None:
            continue
        previous_run, before = judged
        now = ledger.run_findings_of(run_id, [check_id])
        events += detect(before, now, [], [], previous_run, check_runs={check_id: previous_run})
    previous_verdicts, verdict_runs = _verdict_state(ledger, history, [v.requirement for v in verdicts])
    if verdict_runs:
        events += detect([], [], previous_verdicts, verdicts, max(verdict_runs.values()), verdict_runs=verdict_runs)
    return events


def _unchanged(
    ledger: Ledger, history: _History, check_id: str, rows_now: Callable[[], Mapping[str, CheckRows]]
) -> bool:
    """Whether the run holds (`rows_now`: its finding rows per check) the very rows of the check that the last run
    judging it held, none of them an error: then every resource has the status it had, and there is no event to
    find (an unchanged estate's checks, each of up to 100,000 findings, are not read). With an error among them,
    what it stood for is looked into. The rows are read only once an earlier run judged a check: never for a
    first run."""
    first, _ = _last_judging(history, check_id)
    if first is None:
        return False
    now, before = rows_now().get(check_id), ledger.check_rows(first.id).get(check_id)
    if now is None or before is None:
        return now is None and before is None  # neither run holds a finding of it
    return not now.errors and not before.errors and now.same_rows(before)


def attestation_expiry_events(
    attestations: Iterable[Attestation], on: date, previous_on: date | None, warning_days: int, run_id: int | None
) -> list[DriftEvent]:
    """A warning when a valid attestation comes within `warning_days` of its valid_until: once, in the first
    full run that sees it there (the previous full run, on `previous_on`, saw it further off or not at all).
    Its lapse is a failing finding of the pseudo-check `attestation` and alerts like any failure."""
    if warning_days <= 0:
        return []
    events = []
    for a in attestations:
        if a.state(on) != "valid":
            continue
        left = (a.valid_until - on).days
        if left > warning_days:
            continue
        seen_near = previous_on is not None and a.state(previous_on) == "valid"
        if seen_near and (a.valid_until - previous_on).days <= warning_days:  # type: ignore[operator]
            continue  # the previous full run already warned
        numbers = ", ".join(str(n) for n in a.requirements)
        events.append(
            DriftEvent(
                kind=DriftKind.ATTESTATION_EXPIRING,
                check_id="attestation",
                resource_id=f"attestation:{a.id}",
                requirements=a.requirements,
                before=Status.PASS,
                after=Status.PASS,
                reason_ja=f"{KIND_JA[DriftKind.ATTESTATION_EXPIRING]}: {a.id}（No {numbers}、{a.owner}）は "
                f"{a.valid_until} に期限切れ（あと {left} 日）。更新してください",
                reason_en=f"{KIND_EN[DriftKind.ATTESTATION_EXPIRING]}: {a.id} (No {numbers}, {a.owner}) expires on "
                f"{a.valid_until}, in {left} day(s); renew it",
                previous_run=run_id,
            )
        )
    return events
