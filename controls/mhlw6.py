"""The MHLW guideline 6.0 references: 6.0's structure as shoko cites it, and the mapping to it.

`frameworks/mhlw-6.0.yaml` beside the METI 2012 catalog holds the chapters (編 + number) and 遵守事項
shoko cites, each with a short quote, the page it was read from and whether it is confirmed; the
METI/MIC 1.1 別紙2 entries used; each METI No's 6.0 references and each check's 6.0 references or the
reason none applies. `load_mhlw6()` turns it into a typed `Mhlw6` and refuses anything malformed with
an `Mhlw6Error` whose message is one line naming the file, the line and the problem. Views (`shoko
checks`, `explain`, `status --by mhlw6`) and reports read references through `Mhlw6`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controls.catalog import FIRST_NO, LAST_NO, CatalogError, _Loader, _Map

DEFAULT_PATH = Path(__file__).parent / "frameworks" / "mhlw-6.0.yaml"
STATUSES = ("confirmed", "unconfirmed")
# 編 as cited: システム運用編 (Control) and 企画管理編 (Management).
VOLUMES = {"シス": ("システム運用編", "Control"), "企画": ("企画管理編", "Management")}
CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
_CHAPTER_RE = re.compile(r"^(シス|企画)(\d{1,2})$")
# An item is its chapter + a circled numeral, or chapter + ":slug" where the numeral is not known.
_ITEM_RE = re.compile(rf"^((?:シス|企画)\d{{1,2}})(?:([{CIRCLED}])|:([a-z0-9.-]+))$")


class Mhlw6Error(CatalogError):
    """The 6.0 reference file cannot be used; the message is one line: file, line, problem."""


@dataclass(frozen=True)
class Source:
    document: str
    title_ja: str
    official_url: str
    page: int
    url: str  # the page copy it was read from


@dataclass(frozen=True)
class Reference:
    """A 6.0 chapter or 遵守事項 as shoko cites it."""

    id: str  # "シス14④", "シス13" (a chapter), "シス13:tls1.3" (an item whose numeral is unknown)
    volume: str  # "シス" or "企画"
    chapter: int
    item: int | None  # the 遵守事項 number; None for a chapter or an item whose numeral is unknown
    title_ja: str  # the chapter's heading
    title_en: str
    quote_ja: str | None  # items: a short quote of the 遵守事項
    summary_en: str | None
    confirmed: bool
    source: Source
    note: str | None = None

    @property
    def chapter_id(self) -> str:
        return f"{self.volume}{self.chapter}"

    @property
    def is_chapter(self) -> bool:
        return self.id == self.chapter_id

    @property
    def volume_ja(self) -> str:
        return VOLUMES[self.volume][0]

    def label(self) -> str:
        """How an auditor cites it: 'システム運用編 14 ④ 認証・認可に関する安全管理措置'."""
        if self.is_chapter:
            tail = ""
        elif self.item is not None:
            tail = f" {CIRCLED[self.item - 1]}"
        else:
            tail = f" ({self.id.split(':', 1)[1]})"
        return f"{self.volume_ja} {self.chapter}{tail} {self.title_ja}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label(),
            "volume": self.volume_ja,
            "chapter": self.chapter,
            "chapter_title_ja": self.title_ja,
            "chapter_title_en": self.title_en,
            "item": self.item,
            "quote_ja": self.quote_ja,
            "summary_en": self.summary_en,
            "status": "confirmed" if self.confirmed else "unconfirmed",
            "source": {
                "title_ja": self.source.title_ja,
                "url": self.source.url,
                "page": self.source.page,
                "official_url": self.source.official_url,
            },
            "note": self.note,
        }


@dataclass(frozen=True)
class Annex2Entry:
    """One METI/MIC 1.1 別紙2 対策項目 and the 6.0 references the annex relates it to."""

    id: str
    page: int
    heading_ja: str
    quote_ja: str
    maps_to: tuple[str, ...]
    confirmed: bool
    url: str
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "page": self.page,
            "heading_ja": self.heading_ja,
            "quote_ja": self.quote_ja,
            "maps_to": list(self.maps_to),
            "status": "confirmed" if self.confirmed else "unconfirmed",
            "url": self.url,
            "note": self.note,
        }


@dataclass(frozen=True)
class Control:
    """A 6.0 item with no 2012 number, judged from its checks' findings (never more than `partial`)."""

    id: str  # its 6.0 reference and a name: "シス14①:mfa"
    ref: str
    title_ja: str
    title_en: str
    checks: tuple[str, ...]
    coverage_ja: str  # what the checks prove and what a person must still attest
    coverage_en: str
    note: str | None = None


@dataclass(frozen=True)
class RequirementMapping:
    refs: tuple[str, ...] = ()
    annex2: tuple[str, ...] = ()
    reason_ja: str | None = None  # why no 6.0 reference applies
    reason_en: str | None = None


@dataclass(frozen=True)
class CheckMapping:
    refs: tuple[str, ...] = ()
    reason_ja: str | None = None  # why no 6.0 reference applies
    reason_en: str | None = None


class Mhlw6:
    """6.0 references by id (chapters first, in guideline order), with the No and check mappings."""

    def __init__(
        self,
        references: Iterable[Reference],
        annex2: Iterable[Annex2Entry],
        requirements: dict[int, RequirementMapping],
        checks: dict[str, CheckMapping],
        source: Path | None = None,
        controls: Iterable[Control] = (),
    ) -> None:
        self.references = {r.id: r for r in sorted(references, key=_order)}
        self.annex2 = {a.id: a for a in annex2}
        self._requirements = requirements
        self._checks = checks
        self.source = source
        self.controls = tuple(controls)

    def __getitem__(self, ref_id: str) -> Reference:
        return self.references[ref_id]

    def chapters(self) -> list[Reference]:
        return [r for r in self.references.values() if r.is_chapter]

    def items_of(self, chapter_id: str) -> list[Reference]:
        return [r for r in self.references.values() if r.chapter_id == chapter_id and not r.is_chapter]

    def requirement(self, number: int) -> RequirementMapping | None:
        return self._requirements.get(number)

    def refs_of_requirement(self, number: int) -> tuple[Reference, ...]:
        m = self._requirements.get(number)
        return tuple(self.references[i] for i in m.refs) if m else ()

    def annex2_of_requirement(self, number: int) -> tuple[Annex2Entry, ...]:
        m = self._requirements.get(number)
        return tuple(self.annex2[i] for i in m.annex2) if m else ()

    def mapped_numbers(self) -> tuple[int, ...]:
        return tuple(sorted(self._requirements))

    def numbers_under(self, ref_id: str) -> tuple[int, ...]:
        """The METI Nos that cite this exact reference (a chapter id: only those citing the chapter as such)."""
        return tuple(n for n in sorted(self._requirements) if ref_id in self._requirements[n].refs)

    def check(self, check_id: str) -> CheckMapping | None:
        return self._checks.get(check_id)

    def refs_of_check(self, check_id: str) -> tuple[Reference, ...]:
        m = self._checks.get(check_id)
        return tuple(self.references[i] for i in m.refs) if m else ()

    def mapped_checks(self) -> tuple[str, ...]:
        return tuple(self._checks)

    def cell(self, number: int) -> str:
        """A METI No's 6.0 references for one table cell (reports' 6.0 column): 'シス17①; 企画5①',
        '?' after an unconfirmed one, 'none: <reason>' or '' when nothing is recorded."""
        m = self._requirements.get(number)
        if m is None:
            return ""
        if not m.refs:
            return f"none: {m.reason_en}"
        return "; ".join(short(self.references[i]) for i in m.refs)

    def requirement_view(self, number: int) -> dict[str, Any]:
        """A METI No's 6.0 and 別紙2 references, for views and reports (JSON-ready)."""
        m = self._requirements.get(number)
        return {
            "mhlw6": [r.as_dict() for r in self.refs_of_requirement(number)],
            "mhlw6_reason_ja": m.reason_ja if m else None,
            "mhlw6_reason_en": m.reason_en if m else None,
            "mhlw6_recorded": m is not None,
            "meti_mic_1_1_annex2": [a.as_dict() for a in self.annex2_of_requirement(number)],
        }

    def check_view(self, check_id: str) -> dict[str, Any]:
        """A check's 6.0 references, or the reason none applies, or that nothing is recorded (JSON-ready)."""
        m = self._checks.get(check_id)
        if m is None:
            return {"mhlw6": [], "mhlw6_reason_ja": None, "mhlw6_reason_en": None, "mhlw6_recorded": False}
        return {
            "mhlw6": [self.references[i].as_dict() for i in m.refs],
            "mhlw6_reason_ja": m.reason_ja,
            "mhlw6_reason_en": m.reason_en,
            "mhlw6_recorded": True,
        }


def _named(kind: str, entry: Any) -> str:
    """'item シス14④' when the entry has an id, so a message names what is wrong before the id is checked."""
    name = entry.get("id") if isinstance(entry, dict) else None
    return f"{kind} {name}" if isinstance(name, str) and name else kind


def short(ref: Reference) -> str:
    """A compact citation for tables: 'シス14④', with '?' when unconfirmed."""
    return ref.id + ("" if ref.confirmed else "?")


def _order(ref: Reference) -> tuple[int, int, int, int, str]:
    # システム運用編 first (shoko's checks are mostly there), then 企画管理編; chapter, then its items.
    return (0 if ref.volume == "シス" else 1, ref.chapter, 0 if ref.is_chapter else 1, ref.item or 99, ref.id)


def load_mhlw6(
    path: str | Path | None = None,
    known_numbers: Iterable[int] | None = None,
    known_checks: Iterable[str] | None = None,
) -> Mhlw6:
    """Load and validate the 6.0 reference file; default is `controls/frameworks/mhlw-6.0.yaml`. Mapped
    Nos must be among `known_numbers` (default 1–182) and check ids among `known_checks` (default: every
    registered check)."""
    file = Path(path) if path is not None else DEFAULT_PATH
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise Mhlw6Error(f"{file}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise Mhlw6Error(f"{file}: not UTF-8 text") from None
    try:
        doc = yaml.load(text, Loader=_Loader)  # a SafeLoader that records lines and repeated keys
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise Mhlw6Error(f"{file}: line {line}: not valid YAML: {' '.join(str(exc.problem or exc).split())}") from None
    except yaml.YAMLError as exc:
        raise Mhlw6Error(f"{file}: not valid YAML: {' '.join(str(exc).split())}") from None
    if known_checks is None:
        from controls.checks import CHECKS_BY_ID

        known_checks = CHECKS_BY_ID
    numbers = frozenset(known_numbers) if known_numbers is not None else frozenset(range(FIRST_NO, LAST_NO + 1))
    return _Validator(file, numbers, frozenset(known_checks)).load(doc)


class _Validator:
    TOP = ("reference", "documents", "chapters", "items", "controls", "annex2", "requirements", "checks")

    def __init__(self, file: Path, numbers: frozenset[int], checks: frozenset[str]) -> None:
        self.file = file
        self.numbers = numbers
        self.checks = checks

    def fail(self, problem: str, node: Any = None) -> Mhlw6Error:
        line = getattr(node, "line", 0)
        return Mhlw6Error(f"{self.file}: line {line}: {problem}" if line else f"{self.file}: {problem}")

    def mapping(self, node: Any, what: str, allowed: Iterable[str], required: Iterable[str], parent: Any) -> _Map:
        if not isinstance(node, _Map):
            raise self.fail(f"{what} must be a mapping", parent)
        if node.repeated:
            raise self.fail(f"{what}: key '{node.repeated[0]}' given twice", node)
        allowed = tuple(allowed)
        unknown = [str(k) for k in node if k not in allowed]
        if unknown:
            raise self.fail(f"{what}: unknown key '{unknown[0]}' (allowed: {', '.join(allowed)})", node)
        for key in required:
            if key not in node:
                raise self.fail(f"{what}: missing key '{key}'", node)
        return node

    def text(self, node: _Map, key: str, what: str, optional: bool = False) -> str | None:
        value = node.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{what}: '{key}' must be non-empty text, got {value!r}", node)
        if "\n" in value.strip():
            raise self.fail(f"{what}: '{key}' must be one line", node)
        return value.strip()

    def status(self, node: _Map, what: str) -> bool:
        value = node.get("status")
        if value not in STATUSES:
            raise self.fail(f"{what}: status must be confirmed or unconfirmed, got {value!r}", node)
        if value == "unconfirmed" and not node.get("note"):
            raise self.fail(f"{what}: unconfirmed without a 'note' saying what could not be confirmed", node)
        return value == "confirmed"

    def url(self, value: Any, what: str, node: _Map) -> str:
        if not isinstance(value, str) or not value.startswith("https://") or " " in value:
            raise self.fail(f"{what}: url must be an https:// address, got {value!r}", node)
        return value

    def load(self, doc: Any) -> Mhlw6:
        if not isinstance(doc, _Map):
            raise self.fail("top level must be a mapping with documents, chapters, items, requirements, checks")
        top = self.mapping(doc, "top level", self.TOP, self.TOP, doc)
        self.text(top, "reference", "top level")
        documents = self.documents(top["documents"], top)
        chapters = self.chapters(top["chapters"], documents, top)
        refs = dict(chapters)
        for ref in self.items(top["items"], documents, chapters, top):
            if ref.id in refs:
                raise self.fail(f"item {ref.id}: given twice", top["items"])
            refs[ref.id] = ref
        annex2 = self.annex2(top["annex2"], refs, top)
        requirements = self.requirements(top["requirements"], refs, annex2, top)
        checks = self.check_map(top["checks"], refs, top)
        controls = self.control_list(top["controls"], refs, top)
        return Mhlw6(refs.values(), annex2.values(), requirements, checks, source=self.file, controls=controls)

    def control_list(self, node: Any, refs: dict[str, Reference], parent: _Map) -> list[Control]:
        if not isinstance(node, list):
            raise self.fail("'controls' must be a list", parent)
        out: list[Control] = []
        keys = ("id", "ref", "title_ja", "title_en", "checks", "coverage_ja", "coverage_en", "note")
        for entry in node:
            entry = self.mapping(entry, _named("control", entry), keys, keys[:-1], parent)
            what = f"control {entry['id']}"
            ref = entry["ref"]
            if ref not in refs:
                raise self.fail(f"{what}: ref names unknown {ref!r}", entry)
            if not refs[ref].confirmed:
                raise self.fail(f"{what}: ref {ref} is unconfirmed; a control is keyed by a confirmed item", entry)
            if not isinstance(entry["id"], str) or not entry["id"].startswith(f"{ref}:") or entry["id"] == f"{ref}:":
                raise self.fail(f"{what}: id must be its ref and a name, e.g. {ref}:mfa", entry)
            if any(c.id == entry["id"] for c in out):
                raise self.fail(f"{what}: given twice", entry)
            checks = self.ref_list(entry, "checks", what, self.checks)
            if not checks:
                raise self.fail(f"{what}: 'checks' names no check", entry)
            out.append(
                Control(
                    id=entry["id"],
                    ref=ref,
                    title_ja=str(self.text(entry, "title_ja", what)),
                    title_en=str(self.text(entry, "title_en", what)),
                    checks=checks,
                    coverage_ja=str(self.text(entry, "coverage_ja", what)),
                    coverage_en=str(self.text(entry, "coverage_en", what)),
                    note=self.text(entry, "note", what, optional=True),
                )
            )
        return out

    def documents(self, node: Any, parent: _Map) -> dict[str, tuple[str, str]]:
        docs = self.mapping(node, "documents", [str(k) for k in (node or {})], (), parent)
        out = {}
        for key, entry in docs.items():
            what = f"document '{key}'"
            entry = self.mapping(entry, what, ("title_ja", "official_url"), ("title_ja", "official_url"), docs)
            out[str(key)] = (str(self.text(entry, "title_ja", what)), self.url(entry["official_url"], what, entry))
        return out

    def source(self, entry: _Map, what: str, documents: dict[str, tuple[str, str]]) -> Source:
        src = self.mapping(entry.get("source"), f"{what}: source", ("document", "page", "url"),
                           ("document", "page", "url"), entry)  # fmt: skip
        doc = src["document"]
        if doc not in documents:
            raise self.fail(f"{what}: source names unknown document {doc!r}", src)
        page = src["page"]
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise self.fail(f"{what}: source page must be a positive integer, got {page!r}", src)
        title, official = documents[doc]
        return Source(doc, title, official, page, self.url(src["url"], f"{what}: source", src))

    def chapters(self, node: Any, documents: dict[str, tuple[str, str]], parent: _Map) -> dict[str, Reference]:
        if not isinstance(node, list) or not node:
            raise self.fail("'chapters' must be a non-empty list", parent)
        out: dict[str, Reference] = {}
        keys = ("id", "title_ja", "title_en", "status", "source", "note")
        for entry in node:
            entry = self.mapping(
                entry, _named("chapter", entry), keys, ("id", "title_ja", "title_en", "status", "source"), parent
            )
            cid = entry["id"]
            m = _CHAPTER_RE.match(cid) if isinstance(cid, str) else None
            if not m:
                raise self.fail(f"chapter id {cid!r} must be シス or 企画 followed by the chapter number", entry)
            if cid in out:
                raise self.fail(f"chapter {cid}: given twice", entry)
            what = f"chapter {cid}"
            out[cid] = Reference(
                id=cid,
                volume=m.group(1),
                chapter=int(m.group(2)),
                item=None,
                title_ja=str(self.text(entry, "title_ja", what)),
                title_en=str(self.text(entry, "title_en", what)),
                quote_ja=None,
                summary_en=None,
                confirmed=self.status(entry, what),
                source=self.source(entry, what, documents),
                note=self.text(entry, "note", what, optional=True),
            )
        return out

    def items(
        self, node: Any, documents: dict[str, tuple[str, str]], chapters: dict[str, Reference], parent: _Map
    ) -> list[Reference]:
        if not isinstance(node, list):
            raise self.fail("'items' must be a list", parent)
        out = []
        keys = ("id", "quote_ja", "summary_en", "status", "source", "note")
        for entry in node:
            entry = self.mapping(
                entry, _named("item", entry), keys, ("id", "quote_ja", "summary_en", "status", "source"), parent
            )
            iid = entry["id"]
            m = _ITEM_RE.match(iid) if isinstance(iid, str) else None
            if not m:
                raise self.fail(
                    f"item id {iid!r} must be a chapter id and a circled numeral (シス14④) or ':name'", entry
                )
            what = f"item {iid}"
            chapter = chapters.get(m.group(1))
            if chapter is None:
                raise self.fail(f"{what}: chapter {m.group(1)} is not in 'chapters'", entry)
            confirmed = self.status(entry, what)
            if m.group(3) and confirmed:
                raise self.fail(f"{what}: an item whose numeral is unknown cannot be confirmed", entry)
            if confirmed and not chapter.confirmed:
                raise self.fail(f"{what}: confirmed, but its chapter {chapter.id} is not", entry)
            out.append(
                Reference(
                    id=iid,
                    volume=chapter.volume,
                    chapter=chapter.chapter,
                    item=CIRCLED.index(m.group(2)) + 1 if m.group(2) else None,
                    title_ja=chapter.title_ja,
                    title_en=chapter.title_en,
                    quote_ja=self.text(entry, "quote_ja", what),
                    summary_en=self.text(entry, "summary_en", what),
                    confirmed=confirmed,
                    source=self.source(entry, what, documents),
                    note=self.text(entry, "note", what, optional=True),
                )
            )
        return out

    def ref_list(self, node: _Map, key: str, what: str, known: Iterable[str]) -> tuple[str, ...]:
        value = node.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{what}: '{key}' must be a list of ids, got {value!r}", node)
        if len(set(value)) != len(value):
            raise self.fail(f"{what}: '{key}' names an id twice", node)
        known = set(known)
        unknown = [v for v in value if v not in known]
        if unknown:
            raise self.fail(f"{what}: '{key}' names unknown {unknown[0]!r}", node)
        return tuple(value)

    def annex2(self, node: Any, refs: dict[str, Reference], parent: _Map) -> dict[str, Annex2Entry]:
        if not isinstance(node, list):
            raise self.fail("'annex2' must be a list", parent)
        out: dict[str, Annex2Entry] = {}
        keys = ("id", "page", "heading_ja", "quote_ja", "maps_to", "status", "url", "note")
        for entry in node:
            entry = self.mapping(entry, _named("annex2", entry), keys, keys[:-1], parent)
            aid = self.text(entry, "id", "annex2 entry")
            what = f"annex2 {aid}"
            if aid in out:
                raise self.fail(f"{what}: given twice", entry)
            page = entry["page"]
            if isinstance(page, bool) or not isinstance(page, int) or page < 1:
                raise self.fail(f"{what}: page must be a positive integer, got {page!r}", entry)
            maps_to = self.ref_list(entry, "maps_to", what, refs)
            if not maps_to:
                raise self.fail(f"{what}: 'maps_to' names no 6.0 reference", entry)
            out[str(aid)] = Annex2Entry(
                id=str(aid),
                page=page,
                heading_ja=str(self.text(entry, "heading_ja", what)),
                quote_ja=str(self.text(entry, "quote_ja", what)),
                maps_to=maps_to,
                confirmed=self.status(entry, what),
                url=self.url(entry["url"], what, entry),
                note=self.text(entry, "note", what, optional=True),
            )
        return out

    def requirements(
        self, node: Any, refs: dict[str, Reference], annex2: dict[str, Annex2Entry], parent: _Map
    ) -> dict[int, RequirementMapping]:
        if not isinstance(node, list):
            raise self.fail("'requirements' must be a list", parent)
        out: dict[int, RequirementMapping] = {}
        for entry in node:
            keys = ("numbers", "mhlw6", "annex2", "reason_ja", "reason_en")
            entry = self.mapping(entry, "requirements entry", keys, ("numbers",), parent)
            nos = entry["numbers"]
            if not isinstance(nos, list) or not nos or not all(type(n) is int for n in nos):
                raise self.fail(f"requirements entry: 'numbers' must be a list of METI Nos, got {nos!r}", entry)
            what = f"requirements No {nos[0]}"
            mhlw6 = self.ref_list(entry, "mhlw6", what, refs)
            reason = self.reason(entry, what)
            if not mhlw6 and reason is None:
                raise self.fail(f"{what}: neither 6.0 references nor a reason none applies", entry)
            if mhlw6 and reason is not None:
                raise self.fail(f"{what}: either 6.0 references or a reason none applies, not both", entry)
            linked = self.ref_list(entry, "annex2", what, annex2)
            for n in nos:
                if n not in self.numbers:
                    raise self.fail(f"requirements: No {n} is not in the METI catalog", entry)
                if n in out:
                    raise self.fail(f"requirements: No {n} is mapped twice", entry)
                out[n] = RequirementMapping(mhlw6, linked, *(reason or (None, None)))
        return out

    def reason(self, entry: _Map, what: str) -> tuple[str, str] | None:
        reason_ja = self.text(entry, "reason_ja", what, optional=True)
        reason_en = self.text(entry, "reason_en", what, optional=True)
        if (reason_ja is None) != (reason_en is None):
            raise self.fail(f"{what}: give the reason in both reason_ja and reason_en", entry)
        return (reason_ja, reason_en) if reason_ja and reason_en else None

    def check_map(self, node: Any, refs: dict[str, Reference], parent: _Map) -> dict[str, CheckMapping]:
        checks = self.mapping(node, "checks", [str(k) for k in (node or {})], (), parent)
        out = {}
        for check_id, entry in checks.items():
            what = f"check {check_id}"
            if check_id not in self.checks:
                raise self.fail(f"{what}: no such check (see `shoko checks`)", checks)
            entry = self.mapping(entry, what, ("mhlw6", "reason_ja", "reason_en"), (), checks)
            mapped = self.ref_list(entry, "mhlw6", what, refs)
            reason = self.reason(entry, what)
            reason_ja, reason_en = reason or (None, None)
            if mapped and reason:
                raise self.fail(f"{what}: either 6.0 references or a reason none applies, not both", entry)
            if not mapped and not reason:
                raise self.fail(f"{what}: neither 6.0 references nor a reason none applies", entry)
            if mapped and not any(refs[r].confirmed for r in mapped):
                raise self.fail(f"{what}: no confirmed reference among {', '.join(mapped)}; add one or a reason", entry)
            out[str(check_id)] = CheckMapping(mapped, reason_ja, reason_en)
        return out


def judge_controls(refs: Mhlw6, findings: Iterable[Any], ran: Iterable[str]) -> list[dict[str, Any]]:
    """The 6.0-only controls as one run's findings (pass / fail / error, stamped with check_id) show them:
    a check that did not run or judged nothing is `error`, any failure `fail`, any error `error`; when all
    pass, `partial` — the checks prove one slice and the coverage says what a person must still attest."""
    ran = set(ran)
    findings = list(findings)
    out = []
    for control in refs.controls:
        mine = [f for f in findings if f.check_id in control.checks]
        counts = {s: sum(str(f.status) == s for f in mine) for s in ("pass", "fail", "error")}
        missing = [c for c in control.checks if c not in ran]
        judged_ids = ", ".join(control.checks)
        if missing:
            status = "error"
            ja = f"チェック {', '.join(missing)} がこの実行にありません"
            en = f"check(s) {', '.join(missing)} did not run"
        elif not mine:
            status, ja, en = (
                "error",
                "評価対象なし",
                f"nothing evaluated: checks {judged_ids} found no resources to judge",
            )
        elif counts["fail"]:
            failed = [f.reason_en for f in mine if str(f.status) == "fail"]
            failed_ja = [f.reason_ja for f in mine if str(f.status) == "fail"]
            status = "fail"
            ja = f"{len(mine)} 件中 {counts['fail']} 件が不合格: " + "; ".join(failed_ja[:3])
            en = f"{counts['fail']} of {len(mine)} failed: " + "; ".join(failed[:3])
        elif counts["error"]:
            status = "error"
            ja = f"{len(mine)} 件中 {counts['error']} 件が判定不能"
            en = f"{counts['error']} of {len(mine)} could not be evaluated"
        else:
            status = "partial"
            ja = f"チェックの {len(mine)} 件すべて合格（{judged_ids}）、ただし一部のみ。{control.coverage_ja}"
            en = f"all {len(mine)} checked passed ({judged_ids}), but they cover only part. {control.coverage_en}"
        ref = refs[control.ref]
        out.append(
            {
                "id": control.id,
                "ref": ref.id,
                "label": ref.label(),
                "title_ja": control.title_ja,
                "title_en": control.title_en,
                "status": status,
                "reason_ja": ja,
                "reason_en": en,
                "checks": list(control.checks),
                "findings": counts,
                "note": control.note,
            }
        )
    return out
