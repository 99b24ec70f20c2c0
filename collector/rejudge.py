"""`shoko verify --rejudge`: judge each sealed run again from its stored evidence and compare.

The seal proves rows were not edited after sealing; it cannot prove the findings and verdicts were ever the
checks' own (a hostile writer can seal fabricated ones, or rewrite a chain with recomputed seals). Re-running
the checks on the run's stored evidence, collection errors and attestations, with the run's check selection
and guideline profile, must give back exactly what it stored.

A run is compared only when it was judged by the same rules: the same shoko version and the same rules and
catalog digests (controls.versions) as this installation. Otherwise it is skipped, and the reason is said.
A run is re-judged with the thresholds it recorded (sealed with it). A run from before runs recorded them is
re-judged with this configuration's, and when its settings digest differs a difference may come from changed
settings, so it is reported as `RULES CHANGED`, not `TAMPERED` (both are failures).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from collector import __version__
from collector.pipeline import checks_for_kinds, judge, stored_facts
from collector.settings import Settings
from controls.catalog import Catalog
from controls.checks import ALL_CHECKS
from controls.engine import ATTESTATION_CHECK
from controls.model import Finding, Verdict
from controls.versions import catalog_sha256, rules_sha256
from controls.weakened import run_thresholds
from storage.ledger import Ledger, RunRecord

TAMPERED = "TAMPERED"
RULES_CHANGED = "RULES CHANGED"


@dataclass(frozen=True)
class RejudgeReport:
    rejudged: tuple[int, ...]  # runs whose stored findings and verdicts the checks gave back exactly
    skipped: tuple[tuple[int, str], ...]  # (run id, why it was not compared)
    word: str | None = None  # TAMPERED or RULES CHANGED when a run differs
    problem: str | None = None  # one line: run, check and resource or requirement No, what differs

    @property
    def ok(self) -> bool:
        return self.problem is None


def rejudge(ledger: Ledger, catalog: Catalog, settings: Settings, run_id: int | None = None) -> RejudgeReport:
    """Re-judge every sealed run (or only `run_id`), oldest first, stopping at the first that differs."""
    runs = [ledger.run(run_id)] if run_id is not None else [r for r in ledger.runs() if r.sealed]
    versions = {"catalog": catalog_sha256(catalog), "rules": rules_sha256()}
    rejudged: list[int] = []
    skipped: list[tuple[int, str]] = []
    for run in sorted(runs, key=lambda r: r.id):
        why = _not_comparable(run, versions)
        if why is not None:
            skipped.append((run.id, why))
            continue
        difference = _difference(ledger, catalog, settings, run)
        if difference is not None:
            word = TAMPERED
            if run_thresholds(run.scope) is None and run.config_digest != settings.digest():
                word = RULES_CHANGED
                difference += (
                    "; the run was judged with other settings (its thresholds are not recorded, only their digest), "
                    "so this may be a settings change"
                )
            return RejudgeReport(tuple(rejudged), tuple(skipped), word, f"run {run.id}: {difference}")
        rejudged.append(run.id)
    return RejudgeReport(tuple(rejudged), tuple(skipped))


def _not_comparable(run: RunRecord, versions: dict[str, str]) -> str | None:
    if not run.sealed:
        return "still running, not sealed yet"
    if run.status != "completed":
        return f"{run.status}: its judgement was cut short, so there is no whole judgement to compare"
    if run.agent_version != __version__:
        return f"sealed by shoko {run.agent_version}; this is shoko {__version__}"
    for name, ours in versions.items():
        recorded = run.scope.get(name)
        if recorded is None:
            return f"records no {name} digest (sealed before runs recorded one)"
        if recorded != ours:
            return f"judged by another {name} (digest {str(recorded)[:16]}, this shoko's {ours[:16]})"
    if not run.scope.get("profile"):
        return "records no guideline profile"
    return None


def _difference(ledger: Ledger, catalog: Catalog, settings: Settings, run: RunRecord) -> str | None:
    partial = bool(run.scope.get("partial"))
    checks = checks_for_kinds(run.scope.get("kinds") or ()) if partial else ALL_CHECKS
    judged = [c.id for c in checks] + ([] if partial else [ATTESTATION_CHECK])
    if run.scope.get("checks") != judged:
        return "its recorded check selection is not what its kinds select"
    facts = stored_facts(ledger, run.id, checks)
    thresholds = run_thresholds(run.scope) or settings.thresholds  # what it judged with, when it recorded them
    result = judge(facts, catalog, thresholds, checks, str(run.scope["profile"]), partial)
    return _findings_differ(ledger.findings(run.id), result.findings) or _verdicts_differ(
        ledger.verdicts(run.id), result.verdicts
    )


def _by_subject(findings: Iterable[Finding]) -> dict[tuple[str, str], list[tuple[Any, ...]]]:
    out: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for f in findings:
        row = (str(f.status), tuple(f.requirements), f.reason_ja, f.reason_en, tuple(f.evidence))
        out.setdefault((f.check_id, f.resource_id), []).append(row)
    return {key: sorted(rows) for key, rows in out.items()}


def _findings_differ(stored: Sequence[Finding], again: Sequence[Finding]) -> str | None:
    mine, theirs = _by_subject(stored), _by_subject(again)
    for key in sorted(mine.keys() | theirs.keys()):
        was, now = mine.get(key, []), theirs.get(key, [])
        if was == now:
            continue
        where = f"check {key[0]}, resource {key[1]}"
        if not was:
            return f"{where}: re-judging gives a finding the run did not store ({_statuses(now)})"
        if not now:
            return f"{where}: stored finding ({_statuses(was)}) is not what the checks give for its evidence"
        if _statuses(was) != _statuses(now):
            return f"{where}: stored {_statuses(was)}, re-judged {_statuses(now)}"
        return f"{where}: stored reason, requirements or cited evidence differ from the re-judged finding"
    return None


def _statuses(rows: list[tuple[Any, ...]]) -> str:
    return ", ".join(row[0] for row in rows)


def _verdicts_differ(stored: Sequence[Verdict], again: Sequence[Verdict]) -> str | None:
    def table(verdicts: Sequence[Verdict]) -> dict[int, Verdict]:
        return {v.requirement: v for v in verdicts}

    mine, theirs = table(stored), table(again)
    for number in sorted(mine.keys() | theirs.keys()):
        was, now = mine.get(number), theirs.get(number)
        if was is None or now is None:
            missing = "has no stored verdict" if was is None else "has a stored verdict the checks do not give"
            return f"requirement No {number} {missing}"
        if str(was.status) != str(now.status):
            return f"requirement No {number}: stored {was.status}, re-judged {now.status}"
        if _verdict_row(was) != _verdict_row(now):
            return f"requirement No {number}: stored reason, checks or finding counts differ from the re-judged verdict"
    return None


def _verdict_row(v: Verdict) -> tuple[Any, ...]:
    return (v.reason_ja, v.reason_en, tuple(v.check_ids), v.findings_pass, v.findings_fail, v.findings_error)
