"""The machine-readable side of a snapshot: `findings.json`, and two OSCAL 1.1 documents a GRC tool imports.

- `findings.json`: every finding of the run (check, resource, status, requirement numbers, reasons in Japanese
  and English, the evidence records in the bundle it was judged on), each check's rule and the Azure API it
  reads, and the run's metadata. It is the one place findings are listed; `verdicts.json` keeps the verdict per
  requirement.
- `oscal/catalog.json`: the METI 2012 reference as an OSCAL catalog. One group per guideline section, one control
  per No 1–182 (`no-1` … `no-182`), with the titles, the responsibility, how it is evidenced and the check ids
  mapped to it. A pure function of the catalog file: its UUID comes from the file's SHA-256, so the same catalog
  gives the same document, byte for byte.
- `oscal/assessment-results.json`: one result for the run. An observation per finding (and per attestation relied
  on) whose `relevant-evidence` hrefs are the evidence records' places relative to this document (the file, `#`
  and the record's SHA-256), with the file's SHA-256 and the record's; every evidence file is also a back-matter
  resource whose rlink carries the file's hash. One OSCAL finding per
  requirement, targeting the control's statement, with the objective status below and shoko's own status as
  the `shoko-status` property, so a GRC tool sees satisfied / not-satisfied and nothing of shoko's detail is
  lost. OSCAL needs an assessment plan (`import-ap`); shoko's plan is its check mapping, so import-ap points to
  a back-matter resource for `catalog.json`.

OSCAL's objective status has two states; shoko's statuses map as:

    pass, attested                        satisfied       (reason pass)
    inherited, not_applicable             satisfied       (reason other: Microsoft's layer / does not apply)
    fail, expired                         not-satisfied   (reason fail)
    error, manual, partial                not-satisfied   (reason other: not shown, so never counted as met)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from controls.catalog import Catalog, Requirement
from controls.checks import CHECKS_BY_ID
from reports.bundle import JsonList, _json, write_json
from storage.ledger import EvidenceRef

OSCAL_VERSION = "1.1.3"
FINDINGS_FILE = "findings.json"
CATALOG_FILE = "oscal/catalog.json"
RESULTS_FILE = "oscal/assessment-results.json"
FINDINGS_FORMAT = "shoko-findings/1"
# The namespace of shoko's own property and part names. A name, not a location: RFC 6761 reserves
# `.invalid`, so it can never resolve to someone else's site.
NS = "https://shoko.invalid/ns/oscal"
# Every UUID shoko writes is a uuid5 under this one, so they are reproducible from what they name.
_ROOT = uuid.uuid5(uuid.NAMESPACE_URL, NS)
# The answer sheet the catalog is read from (its `reference`): the catalog document is a pure function of the
# catalog file, so it carries its source's date rather than the moment of an export.
_CATALOG_DATE = datetime(2019, 8, 26, tzinfo=timezone(timedelta(hours=9)))

SATISFIED, NOT_SATISFIED = "satisfied", "not-satisfied"
OBJECTIVE_STATUS: dict[str, tuple[str, str]] = {
    "pass": (SATISFIED, "pass"),
    "attested": (SATISFIED, "pass"),
    "inherited": (SATISFIED, "other"),
    "not_applicable": (SATISFIED, "other"),
    "fail": (NOT_SATISFIED, "fail"),
    "expired": (NOT_SATISFIED, "fail"),
    "error": (NOT_SATISFIED, "other"),
    "manual": (NOT_SATISFIED, "other"),
    "partial": (NOT_SATISFIED, "other"),
}


def objective_status(status: str) -> tuple[str, str]:
    """(state, reason) of OSCAL's objective status for a shoko verdict status; an unknown one is not met."""
    return OBJECTIVE_STATUS.get(status, (NOT_SATISFIED, "other"))


def control_id(number: int) -> str:
    return f"no-{number}"


def statement_id(number: int) -> str:
    return f"no-{number}_smt"


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(_ROOT, "\x1f".join(str(p) for p in parts)))


def _prop(name: str, value: object, ns: str | None = NS) -> dict[str, Any]:
    prop = {"name": name, "value": str(value)}
    if ns:
        prop["ns"] = ns
    return prop


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _when(moment: datetime) -> str:
    return _aware(moment).isoformat()


def _both(ja: str | None, en: str | None) -> str:
    return "\n\n".join(t for t in (ja, en) if t) or "-"


# -- findings.json ------------------------------------------------------------------------------------------------


def findings_document(meta: dict[str, Any], finding_rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Every finding of the snapshot, with the rule of each check once (a run may hold thousands of findings per
    check); a pseudo-check outside the registry (the lapsed-attestation finding) has no entry in `checks`."""
    ids = sorted({f["check_id"] for f in finding_rows})
    checks = {i: CHECKS_BY_ID[i].documentation() for i in ids if i in CHECKS_BY_ID}
    return {
        "format": FINDINGS_FORMAT,
        "run": meta,
        "checks": checks,
        "findings": finding_rows,
    }


# -- oscal/catalog.json -------------------------------------------------------------------------------------------


def catalog_digest(catalog: Catalog, file_sha256: str | None) -> str:
    """The catalog file's SHA-256; for a catalog built in memory, one over its requirements."""
    if file_sha256:
        return file_sha256
    text = json.dumps([repr(r) for r in catalog], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def catalog_document(catalog: Catalog, digest: str) -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = {}
    for req in catalog:
        group = groups.get(req.section)
        if group is None:
            group = groups[req.section] = {
                "id": f"sec-{req.section}",
                "class": "section",
                "title": f"{req.section} {req.section_title_ja}",
                "props": [_prop("label", req.section, ns=None)],
                "controls": [],
            }
        group["controls"].append(_control(req))
    return {
        "catalog": {
            "uuid": _uuid("catalog", digest),
            "metadata": {
                "title": "医療情報を受託管理する情報処理事業者における安全管理ガイドライン（平成24年10月）— "
                "METI 2012 guideline for information-processing vendors entrusted with medical information",
                "last-modified": _when(_CATALOG_DATE),
                "version": f"sha256:{digest}",
                "oscal-version": OSCAL_VERSION,
                "props": [_prop("catalog-sha256", digest)],
                "remarks": "Requirements No 1–182 as numbered on the vendor's answer sheet, with shoko's reading of "
                "each (responsibility, how it is evidenced, the checks mapped to it). Titles are shoko's "
                "summaries, not the guideline's wording.",
            },
            "groups": list(groups.values()),
        }
    }


def _control(req: Requirement) -> dict[str, Any]:
    props = [
        _prop("label", f"No {req.number}", ns=None),
        _prop("sort-id", f"{req.number:03d}", ns=None),
        _prop("section", req.section),
        *([_prop("item", req.item)] if req.item else []),
        _prop("title-ja", req.title_ja),
        _prop("responsibility", req.responsibility),
        _prop("evidence-mode", req.evidence_mode),
        _prop("source-mark", req.source_mark),
        *([_prop("coverage", req.coverage)] if req.coverage else []),
        *(_prop("check", c) for c in req.checks),
        *(_prop("supporting-check", c) for c in req.supporting_checks),
    ]
    guidance = {
        "automated": (req.evidence_hint_ja, req.evidence_hint_en),
        "manual": (req.manual_evidence_ja, req.manual_evidence_en),
        "not_applicable": (req.reason_ja, req.reason_en),
        "inherited": ("物理層は Microsoft Azure の管理対象（継承）", "Microsoft Azure's physical layer (inherited)"),
    }[str(req.evidence_mode)]
    parts = [
        {"id": statement_id(req.number), "name": "statement", "prose": _both(req.title_ja, req.title_en)},
        {"id": f"no-{req.number}_gdn", "name": "guidance", "prose": _both(*guidance)},
    ]
    if req.coverage_ja or req.coverage_en:
        parts.append(
            {
                "id": f"no-{req.number}_cov",
                "name": "coverage",
                "ns": NS,
                "prose": _both(req.coverage_ja, req.coverage_en),
            }
        )
    return {"id": control_id(req.number), "class": "requirement", "title": req.title_en, "props": props, "parts": parts}


# -- oscal/assessment-results.json --------------------------------------------------------------------------------


def _relative(path: str) -> str:
    """A bundle path as seen from the OSCAL documents' folder."""
    return f"../{path}"


def results_document(
    *,
    run: Any,
    meta: dict[str, Any],
    catalog_sha256: str,
    catalog_bytes: bytes,
    requirement_rows: list[dict[str, Any]],
    finding_rows: Iterable[dict[str, Any]],
    attestation_rows: list[dict[str, Any]],
    hashes: Mapping[str, str],
    evidence: Mapping[str, EvidenceRef],
) -> dict[str, Any]:
    """`hashes`: the SHA-256 of every file of the bundle by path; `evidence`: the evidence records by SHA-256.
    Its observations, findings and back matter are JsonLists, made as write_json reaches them, in that order."""
    run_key = run.digest or f"run-{run.id}"
    started, finished = _aware(run.started_at), _aware(run.finished_at or run.started_at)
    tool = _uuid(run_key, "tool")
    titles: dict[str, str] = {}  # bundle path → its back-matter resource's title (the resource is made when written)

    def resource(path: str, title: str) -> str:
        titles.setdefault(path, title)
        return _uuid(run_key, "file", path)

    def back_matter(path: str, title: str) -> dict[str, Any]:
        return {
            "uuid": _uuid(run_key, "file", path),
            "title": title,
            "rlinks": [
                {
                    "href": _relative(path),
                    "media-type": _media_type(path),
                    "hashes": [{"algorithm": "SHA-256", "value": hashes[path]}],
                }
            ],
        }

    plan = {
        "uuid": _uuid(run_key, "plan", catalog_sha256),
        "title": "The plan assessed against: the METI 2012 catalog and the checks mapped to each requirement",
        "description": "shoko runs every check mapped in the catalog on each collection run; there is no separate "
        "assessment-plan document.",
        "props": [_prop("catalog-sha256", catalog_sha256)],
        "rlinks": [
            {
                "href": "catalog.json",
                "media-type": "application/json",
                "hashes": [{"algorithm": "SHA-256", "value": hashlib.sha256(catalog_bytes).hexdigest()}],
            }
        ],
    }

    # The observations are written first, an item at a time; as they are, they note which requirements each
    # relates to and which files they cite, for the findings and the back matter written after them.
    by_number: dict[int, list[str]] = {}

    def observations() -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for f in finding_rows:
            key = _uuid(run_key, "finding", f["check_id"], f["resource_id"])
            repeat = 1
            while key in seen:  # the same check and resource twice: keep both, distinctly
                repeat += 1
                key = _uuid(run_key, "finding", f["check_id"], f["resource_id"], repeat)
            seen.add(key)
            cited, collected = [], []
            for citation in f["evidence"]:
                path, _, sha = citation.partition("#")
                ref = evidence[sha]
                collected.append(ref.collected_at)
                cited.append(_evidence(citation, resource(path, _evidence_title(path, ref)), hashes, ref))
            check = CHECKS_BY_ID.get(f["check_id"])
            yield {
                "uuid": key,
                "title": f"{f['check_id']}: {f['resource_id']}",
                "description": _both(f["reason_ja"], f["reason_en"]),
                "props": [
                    _prop("shoko-status", f["status"]),
                    _prop("check", f["check_id"]),
                    _prop("resource-id", f["resource_id"]),
                    *(_prop("requirement", control_id(n)) for n in f["requirements"]),
                ],
                "methods": ["TEST"],
                "types": ["control-objective"],
                "origins": [{"actors": [{"type": "tool", "actor-uuid": tool}]}],
                **({"relevant-evidence": cited} if cited else {}),
                "collected": _when(max(collected, key=_aware) if collected else finished),
                **({"remarks": _both(check.rule_ja, check.rule_en)} if check else {}),
            }
            for number in f["requirements"]:
                by_number.setdefault(number, []).append(key)

        for a in attestation_rows:
            key = _uuid(run_key, "attestation", a["id"])
            documents = [
                _evidence(path, resource(path, f"attestation {a['id']}: {path.rsplit('/', 1)[-1]}"), hashes, None)
                for path in a["documents"]
            ]
            yield {
                "uuid": key,
                "title": f"attestation {a['id']} ({a['owner']})",
                "description": _both(a["statement_ja"], a["statement_en"]),
                "props": [
                    _prop("attestation-state", a["state"]),
                    _prop("owner", a["owner"]),
                    _prop("attested-on", a["attested_on"]),
                    _prop("valid-until", a["valid_until"]),
                    *(_prop("requirement", control_id(n)) for n in a["requirements"]),
                ],
                "methods": ["EXAMINE"],
                "types": ["control-objective"],
                "relevant-evidence": documents,
                "collected": _when(datetime.fromisoformat(a["attested_on"]).replace(tzinfo=UTC)),
            }
            for number in a["requirements"]:
                by_number.setdefault(number, []).append(key)

    def findings() -> Iterator[dict[str, Any]]:
        for r in requirement_rows:
            state, reason = objective_status(r["status"])
            label = f"{r['section']} {r['item']}".strip()
            related = by_number.get(r["no"], [])
            yield {
                "uuid": _uuid(run_key, "requirement", r["no"]),
                "title": f"No {r['no']} ({label}): {r['title_en']}",
                "description": _both(r["reason_ja"], r["reason_en"]),
                "props": [
                    _prop("shoko-status", r["status"]),
                    *([_prop("coverage", r["coverage"])] if r["coverage"] else []),
                ],
                "origins": [{"actors": [{"type": "tool", "actor-uuid": tool}]}],
                "target": {
                    "type": "statement-id",
                    "target-id": statement_id(r["no"]),
                    "title": r["title_ja"],
                    "props": [_prop("control-id", control_id(r["no"]))],
                    "status": {"state": state, "reason": reason},
                },
                **({"related-observations": [{"observation-uuid": u} for u in related]} if related else {}),
            }

    as_of = meta["as_of"]
    return {
        "assessment-results": {
            "uuid": _uuid(run_key, "results", as_of, meta["generated_at"], *meta["requirements"]),
            "metadata": {
                "title": f"shoko 証跡スナップショット / evidence snapshot as of {as_of}",
                "last-modified": meta["generated_at"],
                "version": f"run-{run.id}",
                "oscal-version": OSCAL_VERSION,
                "props": [
                    _prop("shoko-version", meta["shoko_version"]),
                    _prop("as-of", as_of),
                    _prop("run-digest", run_key),
                    _prop("catalog-sha256", catalog_sha256),
                ],
            },
            "import-ap": {"href": f"#{plan['uuid']}"},
            "results": [
                {
                    "uuid": _uuid(run_key, "result"),
                    "title": f"shoko run {run.id}",
                    "description": "Azure facts collected by shoko and judged by its checks, with the attestations "
                    "in force; each requirement's verdict is a finding, each check result an observation.",
                    "start": _when(started),
                    "end": _when(finished),
                    "props": [_prop("run-id", run.id), _prop("run-digest", run_key)],
                    "local-definitions": {
                        "assessment-assets": {
                            "components": [
                                {
                                    "uuid": tool,
                                    "type": "software",
                                    "title": "shoko",
                                    "description": "Continuous control-evidence collector for Azure "
                                    "(3省2ガイドライン).",
                                    "props": [_prop("version", meta["shoko_version"], ns=None)],
                                    "status": {"state": "operational"},
                                }
                            ],
                            "assessment-platforms": [
                                {
                                    "uuid": _uuid(run_key, "platform"),
                                    "title": "shoko",
                                    "uses-components": [{"component-uuid": tool}],
                                }
                            ],
                        }
                    },
                    "reviewed-controls": {
                        "control-selections": [
                            {"include-controls": [{"control-id": control_id(r["no"])} for r in requirement_rows]}
                        ]
                    },
                    **({"observations": JsonList(observations)} if finding_rows or attestation_rows else {}),
                    **({"findings": JsonList(findings)} if requirement_rows else {}),
                }
            ],
            "back-matter": {
                "resources": JsonList(lambda: itertools.chain([plan], itertools.starmap(back_matter, titles.items())))
            },
        }
    }


def _evidence(cited: str, resource_uuid: str, hashes: Mapping[str, str], ref: EvidenceRef | None) -> dict[str, Any]:
    """A relevant-evidence entry: the file's path from this document (an evidence record's: `#` and its SHA-256,
    the line of the file that holds it), the file's SHA-256 (and the record's), and a link to the file's
    back-matter resource. The collection record (API version, request id, time) is in the file itself."""
    path = cited.partition("#")[0]
    description = (
        f"{ref.kind} of {ref.resource_id} ({ref.source}, collected {ref.collected_at.isoformat()})"
        if ref
        else path.rsplit("/", 1)[-1]
    )
    props = [_prop("sha256", hashes[path])]
    if ref:
        props.append(_prop("record-sha256", ref.sha256))
    return {
        "href": _relative(cited),
        "description": description,
        "props": props,
        "links": [{"href": f"#{resource_uuid}", "rel": "reference"}],
    }


def _evidence_title(path: str, ref: EvidenceRef) -> str:
    return f"{ref.kind} evidence records ({path})"


def _media_type(path: str) -> str:
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return {
        "json": "application/json",
        "jsonl": "application/jsonl",
        "pdf": "application/pdf",
        "png": "image/png",
        "txt": "text/plain",
    }.get(suffix, "application/octet-stream")


def oscal_files(
    *,
    catalog: Catalog,
    run: Any,
    meta: dict[str, Any],
    requirement_rows: list[dict[str, Any]],
    finding_rows: Iterable[dict[str, Any]],
    attestation_rows: list[dict[str, Any]],
    evidence: Mapping[str, EvidenceRef],
    workdir: Path,
) -> tuple[dict[str, bytes | Path], Callable[[Mapping[str, str]], dict[str, Path]]]:
    """`findings.json` and the OSCAL catalog, by path in the bundle; and the maker of the assessment results,
    which cite every evidence and attestation file by its SHA-256 and so are made once those are written
    (`hashes`: path → SHA-256; reports.bundle.Bundle.late). The documents that grow with the estate are written
    into `workdir` and given as their Path."""
    digest = catalog_digest(catalog, meta["catalog"]["sha256"])
    catalog_bytes = _json(catalog_document(catalog, digest))

    def results(hashes: Mapping[str, str]) -> dict[str, Path]:
        document = results_document(
            run=run,
            meta=meta,
            catalog_sha256=digest,
            catalog_bytes=catalog_bytes,
            requirement_rows=requirement_rows,
            finding_rows=finding_rows,
            attestation_rows=attestation_rows,
            hashes=hashes,
            evidence=evidence,
        )
        # Grows with the estate (one observation per finding): written an observation at a time.
        write_json(workdir / "assessment-results.json", document, compact=True)
        return {RESULTS_FILE: workdir / "assessment-results.json"}

    findings = findings_document(meta, finding_rows)
    findings["findings"] = JsonList(lambda: finding_rows)
    write_json(workdir / FINDINGS_FILE, findings)
    return {FINDINGS_FILE: workdir / FINDINGS_FILE, CATALOG_FILE: catalog_bytes}, results
