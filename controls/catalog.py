"""The requirement catalog: every No 1–182 of the METI answer sheet, as reviewed data.

A framework is data, not code: `frameworks/meti-2012.yaml` beside this module lists each requirement
with its responsibility, how it is evidenced, and for automated ones the check ids that evidence it
and their coverage (`full`: the checks decide the claim; `partial`: they prove one slice, and the
entry says in Japanese and English what a person must still attest). Checks know no numbering, so
mapping a check is one line here. A compliance owner can review the file without reading Python.
`load_catalog()` turns it into typed `Requirement`s and refuses anything malformed with a
`CatalogError` whose message is one line naming the file, the No and the problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

FIRST_NO = 1
LAST_NO = 182
DEFAULT_PATH = Path(__file__).parent / "frameworks" / "meti-2012.yaml"
# The sheet's mark column: ○, —, an empty cell, or a cell the PDF extraction lost (row shifted a column).
MARK_NOT_EXTRACTED = "not_extracted"
SOURCE_MARKS = ("○", "—", "blank", MARK_NOT_EXTRACTED)


class CatalogError(ValueError):
    """The catalog file cannot be used; the message is one line: file, No (when known), problem."""


class Responsibility(StrEnum):
    CUSTOMER = "customer"  # the operator's own (virtual-layer) duty
    AZURE = "azure"  # wholly Microsoft's physical layer
    SHARED = "shared"  # physical layer Microsoft's, virtual layer the operator's
    NOT_APPLICABLE = "not_applicable"


class EvidenceMode(StrEnum):
    AUTOMATED = "automated"  # shoko's checks judge Azure facts for it
    MANUAL = "manual"  # needs an attestation
    INHERITED = "inherited"  # Microsoft's layer
    NOT_APPLICABLE = "not_applicable"


class Coverage(StrEnum):
    FULL = "full"  # the checks decide the whole claim
    PARTIAL = "partial"  # the checks prove one slice; a person attests the rest


_E = TypeVar("_E", Responsibility, EvidenceMode, Coverage)


@dataclass(frozen=True)
class Requirement:
    number: int
    section: str
    section_title_ja: str
    item: str | None
    title_ja: str
    title_en: str
    responsibility: Responsibility
    evidence_mode: EvidenceMode
    source_mark: str
    reason_ja: str | None = None
    reason_en: str | None = None
    evidence_hint_ja: str | None = None
    evidence_hint_en: str | None = None
    manual_evidence_ja: str | None = None
    manual_evidence_en: str | None = None
    inferred_number: bool = False
    note: str | None = None
    # Automated: the checks that decide it, and how much of the claim they cover.
    checks: tuple[str, ...] = ()
    coverage: Coverage | None = None
    coverage_ja: str | None = None  # partial: what the checks prove and what must still be attested
    coverage_en: str | None = None
    # Manual: checks whose findings support (or, failing, contradict) the claim a person attests.
    supporting_checks: tuple[str, ...] = ()

    @property
    def mapped_checks(self) -> tuple[str, ...]:
        return self.checks + self.supporting_checks


class Catalog:
    """Requirements by number; iterates in number order."""

    def __init__(self, requirements: Iterable[Requirement], source: Path | None = None) -> None:
        by_number: dict[int, Requirement] = {}
        for req in requirements:
            if req.number in by_number:
                raise ValueError(f"duplicate requirement No {req.number}")
            by_number[req.number] = req
        self._by_number = dict(sorted(by_number.items()))
        self.source = source

    def __getitem__(self, number: int) -> Requirement:
        # bool is an int subclass; cat[True] must not quietly mean No 1.
        if isinstance(number, bool) or not isinstance(number, int) or number not in self._by_number:
            raise KeyError(number)
        return self._by_number[number]

    def __contains__(self, number: object) -> bool:
        return isinstance(number, int) and not isinstance(number, bool) and number in self._by_number

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self._by_number.values())

    def __len__(self) -> int:
        return len(self._by_number)

    def get(self, number: int) -> Requirement | None:
        return self._by_number.get(number) if number in self else None

    def numbers(self) -> tuple[int, ...]:
        return tuple(self._by_number)

    def with_mode(self, mode: EvidenceMode | str) -> list[Requirement]:
        wanted = EvidenceMode(mode)
        return [r for r in self if r.evidence_mode is wanted]

    def in_section(self, section: str) -> list[Requirement]:
        return [r for r in self if r.section == section]

    def requirements_of(self, check_id: str) -> tuple[int, ...]:
        """The numbers a check's findings evidence (decide or support), in number order."""
        return tuple(r.number for r in self if check_id in r.mapped_checks)


def load_catalog(path: str | Path | None = None, known_checks: Iterable[str] | None = None) -> Catalog:
    """Load and validate a catalog file; default is the packaged `controls/frameworks/meti-2012.yaml`.
    Check ids must be among `known_checks` (default: every registered check)."""
    file = Path(path) if path is not None else DEFAULT_PATH
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{file}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CatalogError(f"{file}: not UTF-8 text") from None
    try:
        doc = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        problem = " ".join(str(exc.problem or exc).split())
        raise CatalogError(f"{file}: line {line}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{file}: not valid YAML: {' '.join(str(exc).split())}") from None
    if known_checks is None:
        from controls.checks import CHECKS_BY_ID

        known_checks = CHECKS_BY_ID
    return Catalog(_Validator(file, frozenset(known_checks)).requirements(doc), source=file)


# ---------------------------------------------------------------------------------------------
# YAML loading that remembers line numbers and repeated keys (PyYAML keeps the last silently).


class _Map(dict[Any, Any]):
    line: int = 0
    repeated: tuple[str, ...] = ()


# libyaml's parser where PyYAML has it: every read command loads the catalog, ten times faster so.
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    repeated: list[str] = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(None, None, "found an unhashable key", key_node.start_mark)
        if key in result:
            repeated.append(str(key))
        result[key] = loader.construct_object(value_node, deep=True)
    result.repeated = tuple(repeated)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


# ---------------------------------------------------------------------------------------------
# Validation. Each check raises at the first problem so the message stays one precise line.

_REQUIRED = (
    "number",
    "section",
    "section_title_ja",
    "item",
    "title_ja",
    "title_en",
    "responsibility",
    "evidence_mode",
    "source_mark",
)
_PAIRS = {
    EvidenceMode.AUTOMATED: ("evidence_hint_ja", "evidence_hint_en"),
    EvidenceMode.MANUAL: ("manual_evidence_ja", "manual_evidence_en"),
    EvidenceMode.NOT_APPLICABLE: ("reason_ja", "reason_en"),
}
_COVERAGE_TEXT = ("coverage_ja", "coverage_en")
_OPTIONAL = (
    *(k for pair in _PAIRS.values() for k in pair),
    "inferred_number",
    "note",
    "checks",
    "coverage",
    *_COVERAGE_TEXT,
    "supporting_checks",
)
_ALLOWED = frozenset(_REQUIRED + _OPTIONAL)
_TOP_LEVEL = frozenset({"reference", "requirements"})
_SECTION_RE = re.compile(r"^2\.\d{1,2}(\.\d{1,2})?$")
_ITEM_RE = re.compile(r"^\(\d{1,2}\)$")
_ONE_LINE = (
    "section_title_ja",
    "title_ja",
    "title_en",
    *(k for pair in _PAIRS.values() for k in pair),
    *_COVERAGE_TEXT,
)


class _Validator:
    def __init__(self, file: Path, known_checks: frozenset[str]) -> None:
        self.file = file
        self.known_checks = known_checks

    def fail(self, problem: str, number: int | None = None, line: int | None = None) -> CatalogError:
        where = f" No {number}" if number is not None else ""
        at = f" (line {line})" if line else ""
        if where or at:
            return CatalogError(f"{self.file}:{where}{at}: {problem}")
        return CatalogError(f"{self.file}: {problem}")

    def requirements(self, doc: Any) -> list[Requirement]:
        if doc is None:
            raise self.fail("empty file; expected a mapping with a 'requirements' list")
        if not isinstance(doc, _Map):
            raise self.fail("top level must be a mapping with a 'requirements' list")
        if doc.repeated:
            raise self.fail(f"top-level key '{doc.repeated[0]}' given twice", line=doc.line)
        unknown = sorted(str(k) for k in doc if k not in _TOP_LEVEL)
        if unknown:
            raise self.fail(f"unknown top-level key '{unknown[0]}' (allowed: reference, requirements)")
        entries = doc.get("requirements")
        if not isinstance(entries, list) or not entries:
            raise self.fail("'requirements' must be a non-empty list of mappings")

        result: list[Requirement] = []
        first_line: dict[int, int] = {}
        section_titles: dict[str, tuple[str, int]] = {}
        for position, entry in enumerate(entries, start=1):
            req = self.entry(entry, position)
            line = entry.line
            if req.number in first_line:
                raise self.fail(f"duplicate number (first at line {first_line[req.number]})", req.number, line)
            if result and req.number < result[-1].number:
                raise self.fail(f"out of order after No {result[-1].number}; list entries by No", req.number, line)
            first_line[req.number] = line
            known = section_titles.setdefault(req.section, (req.section_title_ja, req.number))
            if known[0] != req.section_title_ja:
                raise self.fail(
                    f"section_title_ja of {req.section} differs from No {known[1]} ('{known[0]}')", req.number, line
                )
            result.append(req)

        missing = [n for n in range(FIRST_NO, LAST_NO + 1) if n not in first_line]
        if missing:
            more = f"; {len(missing) - 1} more missing" if len(missing) > 1 else ""
            raise self.fail(f"missing: every No {FIRST_NO}–{LAST_NO} must appear exactly once{more}", missing[0])
        return result

    def entry(self, entry: Any, position: int) -> Requirement:
        if not isinstance(entry, _Map):
            raise self.fail(f"requirement #{position} must be a mapping, got {type(entry).__name__}")
        line = entry.line
        number = entry.get("number")
        if "number" not in entry:
            raise self.fail(f"requirement #{position} has no 'number'", line=line)
        if isinstance(number, bool) or not isinstance(number, int):
            raise self.fail(f"requirement #{position}: number {number!r} is not an integer", line=line)
        if not FIRST_NO <= number <= LAST_NO:
            raise self.fail(f"number outside {FIRST_NO}–{LAST_NO}", number, line)

        def fail(problem: str) -> CatalogError:
            return self.fail(problem, number, line)

        if entry.repeated:
            raise fail(f"key '{entry.repeated[0]}' given twice")
        for key in entry:
            if key not in _ALLOWED:
                raise fail(f"unknown key '{key}'")
        for key in _REQUIRED:
            if key not in entry:
                raise fail(f"missing key '{key}'")

        def text(key: str) -> str | None:
            value = entry.get(key)
            if value is None:
                return None
            if not isinstance(value, str) or not value.strip():
                raise fail(f"'{key}' must be non-empty text, got {value!r}")
            if key in _ONE_LINE and "\n" in value.strip():
                raise fail(f"'{key}' must be one line")
            return value.strip()

        section = entry["section"]
        if not isinstance(section, str):
            raise fail(f'section must be quoted text such as "2.6.6", got {section!r}')
        if not _SECTION_RE.match(section):
            raise fail(f'section {section!r} does not look like a guideline section such as "2.6.6"')
        item = entry["item"]
        if item is not None and (not isinstance(item, str) or not _ITEM_RE.match(item)):
            raise fail(f'item must be null or a label such as "(1)", got {item!r}')
        for key in ("section_title_ja", "title_ja", "title_en"):
            if text(key) is None:
                raise fail(f"'{key}' must be non-empty text")

        responsibility = self.enum(Responsibility, "responsibility", entry, fail)
        mode = self.enum(EvidenceMode, "evidence_mode", entry, fail)
        mark = entry["source_mark"]
        if mark not in SOURCE_MARKS:
            raise fail(f"source_mark must be one of {', '.join(SOURCE_MARKS)}; got {mark!r}")

        # Responsibility and evidence mode must tell the same story.
        if (responsibility is Responsibility.AZURE) != (mode is EvidenceMode.INHERITED):
            raise fail("evidence_mode inherited goes with responsibility azure, and only with it")
        if (responsibility is Responsibility.NOT_APPLICABLE) != (mode is EvidenceMode.NOT_APPLICABLE):
            raise fail("responsibility not_applicable goes with evidence_mode not_applicable, and only with it")
        for pair_mode, keys in _PAIRS.items():
            for key in keys:
                present = text(key) is not None
                if mode is pair_mode and not present:
                    what = {
                        EvidenceMode.AUTOMATED: "automated item without",
                        EvidenceMode.MANUAL: "manual item without",
                        EvidenceMode.NOT_APPLICABLE: "not_applicable item without",
                    }[pair_mode]
                    raise fail(f"{what} '{key}'")
                if mode is not pair_mode and present:
                    raise fail(f"'{key}' is only for {pair_mode.value} items (this one is {mode.value})")

        checks = self.check_ids("checks", entry, fail)
        supporting = self.check_ids("supporting_checks", entry, fail)
        coverage: Coverage | None = None
        if mode is EvidenceMode.AUTOMATED:
            if not checks:
                raise fail("automated item without 'checks' (the check ids that evidence it)")
            if "coverage" not in entry:
                raise fail("automated item without 'coverage' (full or partial)")
            coverage = self.enum(Coverage, "coverage", entry, fail)
        else:
            for key in ("checks", "coverage"):
                if key in entry:
                    raise fail(f"'{key}' is only for automated items (this one is {mode.value})")
        if supporting and mode is not EvidenceMode.MANUAL:
            raise fail(f"'supporting_checks' is only for manual items (this one is {mode.value})")
        for key in _COVERAGE_TEXT:
            present = text(key) is not None
            if coverage is Coverage.PARTIAL and not present:
                raise fail(f"partial coverage without '{key}' (what the checks prove and what must be attested)")
            if coverage is not Coverage.PARTIAL and present:
                raise fail(f"'{key}' is only for partial coverage")

        inferred = entry.get("inferred_number", False)
        if not isinstance(inferred, bool):
            raise fail(f"inferred_number must be true or false, got {inferred!r}")
        note = entry.get("note")
        if note is not None and (not isinstance(note, str) or not note.strip()):
            raise fail("note must be non-empty text when given")
        if inferred and note is None:
            raise fail("inferred_number is true but there is no note saying how the No was placed")
        if mark == MARK_NOT_EXTRACTED and note is None:
            raise fail("source_mark not_extracted but there is no note saying how the row was read")

        return Requirement(
            number=number,
            section=section,
            section_title_ja=entry["section_title_ja"].strip(),
            item=item,
            title_ja=entry["title_ja"].strip(),
            title_en=entry["title_en"].strip(),
            responsibility=responsibility,
            evidence_mode=mode,
            source_mark=mark,
            reason_ja=text("reason_ja"),
            reason_en=text("reason_en"),
            evidence_hint_ja=text("evidence_hint_ja"),
            evidence_hint_en=text("evidence_hint_en"),
            manual_evidence_ja=text("manual_evidence_ja"),
            manual_evidence_en=text("manual_evidence_en"),
            inferred_number=inferred,
            note=" ".join(note.split()) if note else None,
            checks=checks,
            coverage=coverage,
            coverage_ja=text("coverage_ja"),
            coverage_en=text("coverage_en"),
            supporting_checks=supporting,
        )

    def check_ids(self, key: str, entry: _Map, fail: Callable[[str], CatalogError]) -> tuple[str, ...]:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(f"'{key}' must be a list of check ids, got {value!r}")
        if len(set(value)) != len(value):
            raise fail(f"'{key}' names a check twice")
        unknown = [v for v in value if v not in self.known_checks]
        if unknown:
            raise fail(f"'{key}' names unknown check '{unknown[0]}' (see `shoko checks`)")
        return tuple(value)

    @staticmethod
    def enum(kind: type[_E], key: str, entry: _Map, fail: Callable[[str], CatalogError]) -> _E:
        value = entry[key]
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise fail(f"{key} must be one of {allowed}; got {value!r}") from None
