"""What a snapshot bundle holds: the verdicts, findings, evidence files, attestations with their documents,
collection errors, the account and resource registers and the answer-sheet report, read from the ledger for the
latest full run completed by a moment. reports/bundle.py signs and writes it."""

from __future__ import annotations

import gc
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collector import __version__
from collector.inventory_view import OWNER_CHECK, REGION_CHECK
from collector.memory import release_freed_memory
from controls.attestations import Attestation
from controls.checks.accounts import GUESTS_CHECK, HOLDERS_CHECK
from controls.checks.stale_accounts import STALE_CHECK
from controls.mhlw6 import judge_controls, load_mhlw6
from controls.model import Finding, Status, Thresholds
from controls.weakened import recorded_thresholds, run_thresholds, weakened_settings
from reports.bundle import (
    Bundle,
    JsonList,
    SnapshotError,
    _json,
    answer_of,
    evidence_citation,
    evidence_document,
    evidence_file_name,
    write_json,
)
from reports.finding_rows import FindingRows, SortedRows
from reports.oscal import FINDINGS_FILE, oscal_files
from storage import states
from storage.ledger import EvidenceRef

_SEVERITY = {"fail": 0, "error": 1, "pass": 2}


def build_bundle(
    ledger: Any,
    catalog: Any,
    as_of: datetime | None,
    numbers: tuple[int, ...] | None,
    lang: str,
    thresholds: Thresholds | None = None,
    fingerprint: str | None = None,
) -> Bundle:
    """Everything a snapshot holds, from the latest full run completed by `as_of` (default: now); `fingerprint`
    (of the key that will sign it) is printed in the reports."""
    # The files that grow with the estate are written to disk as they are made, and copied into the zip.
    workdir = tempfile.TemporaryDirectory(prefix="shoko-snapshot-")
    try:
        bundle = _build(ledger, catalog, as_of, numbers, lang, thresholds, fingerprint, Path(workdir.name))
    except BaseException:
        workdir.cleanup()
        raise
    bundle.workdir = workdir
    return bundle


def _build(
    ledger: Any,
    catalog: Any,
    as_of: datetime | None,
    numbers: tuple[int, ...] | None,
    lang: str,
    thresholds: Thresholds | None,
    fingerprint: str | None,
    where: Path,
) -> Bundle:
    from collector.render import verdict_rows
    from collector.runs import run_for

    run, _ = run_for(ledger, None, as_of or datetime.now(UTC))
    if run is None:
        when = f" at or before {as_of.isoformat()}" if as_of else " yet"
        raise SnapshotError(f"no completed full run{when}: nothing to export")
    wanted = set(numbers or catalog.numbers())
    rows = [r for r in verdict_rows(catalog, ledger.verdicts(run.id)) if r["no"] in wanted]
    mhlw6 = load_mhlw6()
    # Only what names the evidence files is read now; their records are streamed into the zip as it is written
    # (Bundle.streamed), so memory does not grow with the documents.
    by_sha = RefsBySha(ledger.evidence_refs(run.id))
    records_of_kind = by_sha.kinds()
    files: dict[str, bytes | Path] = {}
    evidence_paths: dict[str, set[str]] = {}  # evidence file → the SHA-256s of the records it holds

    def evidence_files(f: Finding) -> list[str]:
        cited = []
        for sha in f.evidence:
            ref = by_sha.get(sha)
            if ref is None or ref.kind == "attestation":
                continue
            path = evidence_file_name(ref.kind, sha, records_of_kind[ref.kind])
            evidence_paths.setdefault(path, set()).add(sha)
            cited.append(evidence_citation(path, sha))
        return cited

    # Findings are read a batch at a time and kept only as the rows the files are written from; of the few checks
    # the registers and the 6.0 controls are judged from, what those read of each finding is kept (_Judged).
    judged_from = {HOLDERS_CHECK, GUESTS_CHECK, STALE_CHECK, REGION_CHECK, OWNER_CHECK}
    judged_from.update(c for control in mhlw6.controls for c in control.checks)
    run_findings: list[_Judged] = []

    def rows_of_run() -> Iterator[dict[str, Any]]:
        for batch in ledger.findings_in_batches(run.id):
            for f in batch:
                if f.check_id in judged_from:
                    failed = f.status == Status.FAIL
                    run_findings.append(
                        _Judged(
                            f.check_id,
                            f.resource_id,
                            f.status,
                            f.reason_ja if failed else "",
                            f.reason_en if failed else "",
                        )
                    )
                if wanted & set(f.requirements):
                    yield {
                        "check_id": f.check_id,
                        "resource_id": f.resource_id,
                        "status": str(f.status),
                        "requirements": [n for n in f.requirements if n in wanted],
                        "reason_ja": f.reason_ja,
                        "reason_en": f.reason_en,
                        "evidence": evidence_files(f),
                    }

    finding_rows = FindingRows(
        where / "findings.jsonl",
        rows_of_run(),
        key=lambda f: (_SEVERITY.get(f["status"], 3), f["check_id"], f["resource_id"].lower()),
    )

    # The attestations the run judged with (its evidence), with their documents from the ledger.
    on = run.started_at.astimezone(UTC).date()
    attestation_rows = []
    for ev in ledger.evidence(run.id, kinds={"attestation"}):
        a = Attestation.from_content(ev.content)
        if not wanted & set(a.requirements):
            continue
        record = f"attestations/{a.id}.json"
        files[record] = _json(evidence_document(ev))
        docs = []
        for d in a.documents:
            stored = ledger.attestation_document(d.sha256)
            if stored is None:
                raise SnapshotError(f"attestation {a.id}: document {d.name} is missing from the ledger")
            name = f"attestations/{a.id}/{d.name}"
            files[name] = stored[1]
            docs.append(name)
        attestation_rows.append(
            {
                "id": a.id,
                "requirements": list(a.requirements),
                "owner": a.owner,
                "attested_on": a.attested_on.isoformat(),
                "valid_until": a.valid_until.isoformat(),
                "statement_ja": a.statement_ja,
                "statement_en": a.statement_en,
                "state": a.state(on),
                "documents": [record, *docs],
            }
        )

    last_checked = run.finished_at.isoformat() if run.finished_at else None
    cited_by: dict[int, set[str]] = {}  # requirement → the evidence files its findings cite
    for f in finding_rows:
        cited_files = {citation.partition("#")[0] for citation in f["evidence"]}
        for n in f["requirements"]:
            cited_by.setdefault(n, set()).update(cited_files)
    requirement_rows = []
    for r in rows:
        req = catalog[r["no"]]
        cited = sorted(
            cited_by.get(r["no"], set())
            | {name for a in attestation_rows if r["no"] in a["requirements"] for name in a["documents"]}
        )
        requirement_rows.append(
            {
                "no": r["no"],
                "section": r["section"],
                "item": r["item"] or "",
                "title_ja": r["title_ja"],
                "title_en": r["title_en"],
                "answer": answer_of(req),
                "source_mark": req.source_mark,
                "status": r["status"],
                "coverage": r["coverage"] if r["coverage"] in ("full", "partial", "supporting") else None,
                "reason_ja": r["reason_ja"],
                "reason_en": r["reason_en"],
                "evidence": cited,
                "last_checked": last_checked,
                "mhlw6": mhlw6.cell(r["no"]),  # the reports' 6.0 column; verdicts.json has the references in full
                "references": mhlw6.requirement_view(r["no"]),
            }
        )
    errors = [
        {
            "kind": str(e.kind),
            "source": e.source,
            "scope": e.scope,
            "code": e.code,
            "status_code": e.status_code,
            "message": e.message,
            "request_id": e.request_id,
            "occurred_at": e.occurred_at.isoformat(),
        }
        for e in ledger.collection_errors(run.id)
    ]
    runs = [{"id": run.id, "finished_at": last_checked, "digest": run.digest, "agent_version": run.agent_version}]
    catalog_file = Path(catalog.source) if getattr(catalog, "source", None) else None
    meta = {
        "shoko_version": __version__,
        "catalog": {
            "file": catalog_file.name if catalog_file else None,
            "sha256": _sha256_file(catalog_file) if catalog_file else None,
        },
        "as_of": (as_of or datetime.now(UTC)).isoformat(),
        "generated_at": datetime.now(UTC).isoformat(),
        "runs": runs,
        "guideline_profile": run.scope.get("profile"),  # the bar the run judged by (meti2012 | mhlw6)
        # The thresholds the run judged with (null: stored before runs recorded them), and those of its settings
        # that let more pass than the shipped defaults.
        "thresholds": recorded_thresholds(run.scope),
        "settings_weaker_than_default": [w.as_dict() for w in weakened_settings(run.scope)],
        "requirements": sorted(wanted),
        "lang": lang,
    }
    from reports.html import PRINTED_PER_CHECK, render_report, write_html
    from reports.pdf import render_pdf
    from reports.xlsx import write_report

    report_rows = {
        "requirements": requirement_rows,
        "findings": finding_rows,
        "attestations": attestation_rows,
        "errors": errors,
        "lang": lang,
        "meta": {**meta, "catalog_version": meta["catalog"]["sha256"]},
    }
    # The printed report first, while little else is held: WeasyPrint's layout is the largest thing an export
    # holds in memory. It lists failures and errors one by one (at most PRINTED_PER_CHECK of each check, then how
    # many more) and passes per check, so it stays bounded however large the estate.
    printed = render_report(
        **report_rows, fingerprint=fingerprint, passes_by_check=True, listed_per_check=PRINTED_PER_CHECK
    )
    files["report.pdf"] = render_pdf(printed)
    del printed
    # WeasyPrint's layout leaves its objects in reference cycles, which Python's collector reaches only after
    # long: collected now, with the heap's freed pages given back (126 MB at 100,000 resources), the phases after
    # it do not add to them.
    gc.collect()
    release_freed_memory()

    # The registers auditors ask for beside the verdicts: who holds which role, and what resources exist.
    from collector.accounts_view import account_kinds, account_rows
    from collector.inventory_view import inventory_documents, inventory_items, inventory_order

    # The registers flag what the run judged, with the thresholds it judged with.
    thresholds = run_thresholds(run.scope) or thresholds or Thresholds()
    # Each register reads only the fact kinds it is built from.
    account_evidence = ledger.evidence(run.id, kinds=account_kinds())
    accounts = account_rows(account_evidence, run_findings, thresholds, ledger.collection_errors(run.id))
    files["accounts.json"] = _json({"run": run.id, "accounts": accounts})
    account_evidence = []  # not kept while the report is built
    # The inventory's documents are read a batch at a time, its rows sorted on disk (as the findings are) and
    # written an item at a time: a large estate's 100,000 rows are never in memory together.
    resources = inventory_documents(ledger, run.id)
    inventory = SortedRows(
        where / "inventory.jsonl", inventory_items(resources, run_findings, thresholds.owner_tag), inventory_order
    )
    write_json(where / "inventory.json", {"run": run.id, "resources": JsonList(lambda: inventory)})
    files["inventory.json"] = where / "inventory.json"
    # Findings are listed once, in findings.json (written below with the OSCAL documents).
    files["verdicts.json"] = _json(
        {
            "requirements": requirement_rows,
            "findings": FINDINGS_FILE,
            "attestations": attestation_rows,
            "errors": errors,
            # The MHLW 6.0 items with no 2012 number (MFA, isolated backups), judged from the same findings.
            "mhlw6_controls": (
                judge_controls(mhlw6, run_findings, run.scope.get("checks") or ())
                if run.scope.get("profile") == "mhlw6"
                else []
            ),
        }
    )
    write_report(where / "report.xlsx", **report_rows)
    files["report.xlsx"] = where / "report.xlsx"
    write_html(where / "report.html", **report_rows, fingerprint=fingerprint)
    files["report.html"] = where / "report.html"

    # -- findings.json and OSCAL
    oscal, assessment_results = oscal_files(
        catalog=catalog,
        run=run,
        meta=meta,
        requirement_rows=requirement_rows,
        finding_rows=finding_rows,
        attestation_rows=attestation_rows,
        evidence=by_sha,
        workdir=where,
    )
    files.update(oscal)
    return Bundle(files, meta, evidence_paths, ledger.evidence_reader(run.id), late=assessment_results)


class RefsBySha(Mapping[str, EvidenceRef]):
    """A run's evidence refs by SHA-256 (the first record of each), held as columns and made into an EvidenceRef
    when looked up: a run of 100,000 resources has 400,000, which as EvidenceRef objects in a dict held 230 MB."""

    def __init__(self, refs: Iterable[EvidenceRef]) -> None:
        self._at: dict[bytes, int] = {}  # the SHA-256's 32 bytes → its place in the columns
        self._texts: dict[str, int] = {}  # kinds and fetchers, each once
        self._kind, self._source, self._micros = array("H"), array("H"), array("q")
        self._resource: list[str] = []
        for ref in refs:
            key = bytes.fromhex(ref.sha256)
            if key in self._at:
                continue
            self._at[key] = len(self._resource)
            self._kind.append(self._texts.setdefault(ref.kind, len(self._texts)))
            self._source.append(self._texts.setdefault(ref.source, len(self._texts)))
            self._micros.append(states.micros_of(ref.collected_at))
            self._resource.append(ref.resource_id)
        self._text = list(self._texts)

    def __getitem__(self, sha: str) -> EvidenceRef:
        try:
            n = self._at[bytes.fromhex(sha)]
        except ValueError:
            raise KeyError(sha) from None
        kind, source = self._text[self._kind[n]], self._text[self._source[n]]
        return EvidenceRef(sha, kind, self._resource[n], source, states.time_of(self._micros[n]))

    def __iter__(self) -> Iterator[str]:
        return (key.hex() for key in self._at)

    def __len__(self) -> int:
        return len(self._at)

    def kinds(self) -> Counter[str]:
        """How many records of each kind."""
        return Counter({self._text[n]: count for n, count in Counter(self._kind).items()})


@dataclass(frozen=True, slots=True)
class _Judged:
    """What the registers and the MHLW 6.0 controls read of a finding: its check, resource and status, and a
    failure's reasons (at 100,000 resources they read 200,000 findings, most of them passes)."""

    check_id: str
    resource_id: str
    status: Status
    reason_ja: str
    reason_en: str


def _sha256_file(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
