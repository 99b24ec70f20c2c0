"""Fuzzing the attestation import (`shoko attest import FILE`): YAML and CSV sheets whose fields hold values of
any type, and arbitrary bytes, either read as attestations or are refused with one AttestationError line —
never another exception, and never a long wait."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from controls.attestations import FIELDS, AttestationError, Draft, read_import_file
from tests.props import FUZZ

GOOD = {"id": "ATT-1", "requirements": "96-97", "owner": "情報セキュリティ責任者", "attested_on": "2026-04-01",
        "valid_until": "2027-03-31", "statement_ja": "方針を承認した", "statement_en": "Policy approved"}  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(("2026-02-30", "1-99999999999", "97-96", "1;2", "٣", "tls1.2", "a\nb", "ATT-1\n", "x.pdf", "")),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=2)),
    max_leaves=5,
)
FOLDER = Path(tempfile.mkdtemp(prefix="shoko-fuzz-"))


@st.composite
def entries(draw: st.DrawFn) -> dict:
    """A valid attestation with a few fields removed or replaced by anything (or an unknown field added)."""
    entry = dict(GOOD)
    for key in draw(st.lists(st.sampled_from((*FIELDS, "extra")), max_size=4, unique=True)):
        if draw(st.booleans()):
            entry.pop(key, None)
        else:
            entry[key] = draw(VALUES)
    return entry


def read(content: bytes, suffix: str) -> list[Draft] | AttestationError:
    path = FOLDER / f"sheet{suffix}"
    path.write_bytes(content)
    try:
        return read_import_file(path)
    except AttestationError as exc:
        return exc


def assert_read_or_one_line(content: bytes, suffix: str) -> None:
    outcome = read(content, suffix)
    if isinstance(outcome, AttestationError):
        message = str(outcome)
        assert message.startswith(str(FOLDER / f"sheet{suffix}"))
        assert "\n" not in message and "\r" not in message
    else:
        assert all(isinstance(d, Draft) and d.requirements for d in outcome)
        assert all(d.id is None or "\n" not in d.id for d in outcome)


def yaml_sheet(items: list[dict]) -> bytes:
    return yaml.safe_dump({"attestations": items}, allow_unicode=True).encode()


def csv_sheet(items: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for item in items:
        writer.writerow([item.get(k, "") for k in FIELDS])
    return out.getvalue().encode()


@FUZZ
@given(st.lists(entries(), max_size=3), st.booleans())
@example([{**GOOD, "requirements": "1-99999999999"}], False)  # was expanded number by number: over a minute
@example([{**GOOD, "requirements": "1-99999999999"}], True)
@example([{**GOOD, "id": "ATT-1\n"}], False)  # a line break after the id passed the id pattern
def test_sheets_read_or_are_refused_in_one_line(items, as_csv):
    assert_read_or_one_line(csv_sheet(items) if as_csv else yaml_sheet(items), ".csv" if as_csv else ".yaml")


@FUZZ
@given(st.binary(max_size=300), st.sampled_from((".yaml", ".csv")))
@example(b"$]I\xa8", ".yaml")  # not UTF-8
@example(b"[" * 600, ".yaml")  # deeper than the YAML composer's recursion
@example(b"requirements,owner,attested_on,valid_until,statement_ja,statement_en\n" + b"x" * 140_000, ".csv")
def test_any_bytes_read_or_are_refused_in_one_line(content, suffix):
    assert_read_or_one_line(content, suffix)


@pytest.mark.parametrize(
    ("content", "suffix", "expected"),
    [
        (b"$]I\xa8", ".yaml", "not UTF-8 text (byte 3)"),
        (b"[" * 600, ".yaml", "nested too deeply to be an attestation sheet"),
        (b"owner\n" + b"x" * 140_000, ".csv", "not a readable CSV file (field larger than field limit (131072))"),
        (yaml_sheet([{**GOOD, "requirements": "1-99999999999"}]), ".yaml",
         "attestations[0]: requirements: No 183 is not in the catalog (No 1–182)"),
        (yaml_sheet([{**GOOD, "id": "ATT-1\n"}]), ".yaml",
         "attestations[0]: id 'ATT-1\\n' must be letters, digits, '.', '_' or '-' (at most 64)"),
    ],
)  # fmt: skip
def test_the_problems_found_are_one_line_errors(content, suffix, expected):
    outcome = read(content, suffix)
    assert isinstance(outcome, AttestationError)
    assert str(outcome) == f"{FOLDER / f'sheet{suffix}'}: {expected}"
