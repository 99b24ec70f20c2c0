"""Properties of the minimum-TLS-version judgement on every form Azure writes a version in.

Forms: "1.2" (App Service, SQL, Redis), "TLS1_2" (Storage), "TLSv1.2" / "TLSv1_2" (PostgreSQL, Application
Gateway), "Tls12" (Cosmos DB), in any letter case and with surrounding blanks; "None" / "" / missing (no
minimum); versions to come ("1.4", "TLS1_4"); and anything else. A version below 1.2 never passes, no minimum
fails, and a value that is none of these is `error`, never a guess (docs/reliability.md).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from controls.checks import CHECKS_BY_ID
from controls.checks.edge import _tls_at_least_12
from controls.checks.helpers import min_tls_outcome, tls_version
from controls.checks.postgresql import _tls_minor
from controls.model import Evidence, FactKind, FactSet, Status, Thresholds
from tests.props import PROPERTIES

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
ACCOUNT = f"{SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stkarte"
SERVER = f"{SUB}/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-karte"

FORMS = (
    lambda major, minor: f"{major}.{minor}",
    lambda major, minor: f"TLS{major}_{minor}",
    lambda major, minor: f"TLSv{major}.{minor}",
    lambda major, minor: f"TLSv{major}_{minor}",
    lambda major, minor: f"Tls{major}{minor}",
)
ASCII_CASE = st.sampled_from((str, str.upper, str.lower, str.swapcase))
BLANKS = st.sampled_from(("", " ", "\t", "  "))


@st.composite
def written_versions(draw: st.DrawFn) -> tuple[tuple[int, int], str]:
    """A (major, minor) version and one way Azure writes it."""
    major, minor = draw(st.integers(0, 9)), draw(st.integers(0, 9))
    text = draw(ASCII_CASE)(draw(st.sampled_from(FORMS))(major, minor))
    return (major, minor), draw(BLANKS) + text + draw(BLANKS)


def reference_version(value: object) -> tuple[int, int] | None:
    """The version a value names, by the forms listed above (ASCII digits only); None for anything else."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    # An optional "tls" and "v" before major and minor joined by "." or "_" ("1_2" and "v1.2" are read too),
    # or the compact two digits after "tls".
    for pattern in (r"(?:tls)?[ \t\n\r\f\v]*v?([0-9]+)[._]([0-9]+)", r"tls([0-9])([0-9])"):
        m = re.fullmatch(pattern, text)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def judge(value: object, required: str = "1.2"):
    subject_ja, subject_en = "SQL サーバー sql-karte", "SQL server sql-karte"
    return min_tls_outcome(SERVER, subject_ja, subject_en, "minimalTlsVersion", value, required)


@PROPERTIES
@given(written_versions(), st.sampled_from(("1.2", "TLS1_2", "TLSv1_2", "Tls12")))
@example(((1, 4), "1.4"), "1.2")
@example(((1, 4), "TLS1_4"), "TLS1_2")
@example(((1, 1), "Tls11"), "1.2")
@example(((1, 2), " tlsv1.2 "), "1.2")
def test_a_written_version_is_read_and_passes_only_from_1_2(written, required):
    version, text = written
    assert tls_version(text) == version
    outcome = judge(text, required)
    assert outcome.status == (Status.PASS if version >= (1, 2) else Status.FAIL), outcome.reason_en
    assert text.strip() in outcome.reason_en  # the value seen is named
    assert ("tls1.3" in outcome.short_of) == (outcome.status == Status.PASS and version < (1, 3))


@PROPERTIES
@given(st.one_of(st.text(max_size=16), st.text(alphabet="TtLlSsVv0123456789._ \t-１２", max_size=10)))
@example("TLS_STRICT")
@example("１.２")
@example("Tls")
@example("1.2.0")
@example("TLS\t1_2")
@example("0_0")
@example("v1.2")
@example("TLSv1")
@example("None")
@example("")
def test_any_text_is_read_as_the_reference_reads_it_and_unknown_text_is_an_error(value):
    expected = reference_version(value)
    assert tls_version(value) == expected
    outcome = judge(value)
    if expected is not None:
        assert outcome.status == (Status.PASS if expected >= (1, 2) else Status.FAIL)
    elif value.strip().lower() in {"", "none"}:
        assert outcome.status == Status.FAIL  # no minimum: every version accepted
    else:
        assert outcome.status == Status.ERROR, outcome.reason_en


@PROPERTIES
@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.lists(st.text(max_size=3), max_size=2)))
@example(1.2)
@example(1.3)
@example(12)
def test_a_value_that_is_not_text_never_passes(value):
    outcome = judge(value)
    assert outcome.status == (Status.FAIL if value is None else Status.ERROR), outcome.reason_en


@PROPERTIES
@given(st.integers(0, 9), st.integers(0, 9), ASCII_CASE, BLANKS)
def test_postgresql_and_application_gateway_forms(major, minor, case, blank):
    # PostgreSQL's ssl_min_protocol_version: TLSv1, TLSv1.1 ... (major 1 only).
    pg = case(f"TLSv{major}" if minor == 0 else f"TLSv{major}.{minor}") + blank
    assert _tls_minor(pg) == (minor if major == 1 else None)
    # Application Gateway's minProtocolVersion: TLSv1_0 ... TLSv1_3.
    gateway = blank + case(f"TLSv{major}_{minor}")
    assert _tls_at_least_12(gateway) == (minor >= 2 if major == 1 else None)


@PROPERTIES
@given(st.text(max_size=12))
@example("TLSv1.２")
@example("tlsv1_٣")
def test_postgresql_and_application_gateway_never_read_unknown_text_as_1_2_or_newer(value):
    minor = _tls_minor(value)
    assert minor is None or re.fullmatch(r"tlsv1(\.[0-9])?", value.strip(), re.IGNORECASE)
    if _tls_at_least_12(value):
        assert re.fullmatch(r"tlsv?1_[2-9]", value.strip().lower())


def storage_account(value: object, present: bool = True) -> Evidence:
    props = {"minimumTlsVersion": value} if present else {}
    doc = {"id": ACCOUNT, "name": "stkarte", "type": "Microsoft.Storage/storageAccounts", "properties": props}
    at = datetime(2026, 3, 31, tzinfo=UTC)
    return Evidence(FactKind.STORAGE_ACCOUNT, "storage.accounts", SUB, ACCOUNT, "2023-05-01", None, at, doc)


@PROPERTIES
@given(st.one_of(written_versions().map(lambda w: w[1]), st.none(), st.text(max_size=8)), st.booleans())
def test_the_storage_check_never_passes_below_tls_1_2_or_on_what_it_cannot_read(value, present):
    [finding] = CHECKS_BY_ID["storage-min-tls-1-2"].evaluate(FactSet([storage_account(value, present)]), Thresholds())
    version = reference_version(value) if present else None
    if finding.status == Status.PASS:
        assert version is not None and version >= (1, 2)
    if version is None and present and isinstance(value, str) and value.strip().lower() not in {"", "none"}:
        assert finding.status == Status.ERROR
    if not present or value is None:
        assert finding.status == Status.FAIL  # missing: the service default accepts TLS 1.0
