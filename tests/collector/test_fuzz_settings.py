"""Fuzzing the config loader: any bytes, any text, and YAML documents made of the real sections and keys with
values of any type either load as Settings or are refused with one ConfigError line — never another exception."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from collector.settings import _SECTIONS, ConfigError, Settings, load_settings
from tests.props import FUZZ

SECTION_KEYS = {name: sorted(f.name for f in dataclasses.fields(cls)) for name, cls in _SECTIONS.items()}
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(("²", "--5", "-0", "٣", "1e20", " 5 ", "true", "a\nb", "https://x", "0.0.0.0/0", "22-20", "")),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def config_documents(draw: st.DrawFn) -> bytes:
    """A YAML config of known sections and keys (and now and then an unknown one) with values of any type."""
    data: dict = {}
    for name in draw(st.lists(st.sampled_from(sorted(SECTION_KEYS)), max_size=3, unique=True)):
        keys = draw(st.lists(st.sampled_from(SECTION_KEYS[name]), max_size=3, unique=True))
        data[name] = {key: draw(VALUES) for key in keys}
    if draw(st.booleans()) and data:
        data[next(iter(data))][draw(st.text(max_size=6))] = draw(SCALARS)
    return yaml.safe_dump(data, allow_unicode=True).encode()


FOLDER = Path(tempfile.mkdtemp(prefix="shoko-fuzz-"))  # one file rewritten per example (no per-example fixture)


def load(content: bytes) -> Settings | ConfigError:
    path = FOLDER / "shoko.yaml"
    path.write_bytes(content)
    try:
        return load_settings(path, environ={})
    except ConfigError as exc:
        return exc


def assert_loaded_or_one_line(content: bytes) -> None:
    outcome = load(content)
    if isinstance(outcome, ConfigError):
        message = str(outcome)
        assert message.startswith(str(FOLDER / "shoko.yaml"))
        assert "\n" not in message and "\r" not in message and message.strip() == message
    else:
        assert isinstance(outcome, Settings)


@FUZZ
@given(config_documents())
@example(b"collection:\n  max_retries: \xc2\xb2\n")  # "²".isdigit() is true, int("²") is not a number
@example(b"collection:\n  max_retries: --5\n")
@example(b"thresholds:\n  flow_log_retention_days: '\xd9\xa3'\n")  # an Arabic-Indic digit
@example(b"collection:\n  'a\\nb': 1\n")  # a key with a line break, quoted in the message
def test_config_documents_load_or_are_refused_in_one_line(content):
    assert_loaded_or_one_line(content)


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
@example(b"[" * 600)  # nested deeper than the YAML composer's recursion
@example(b"\x00")  # YAML's own message for a control character spans two lines
@example(b"\xef\xbb\xbfdatabase: {}")
@example(b"database: !!python/object:os.system {}")
@example(b"? [a]\n: b\n")
def test_any_bytes_load_or_are_refused_in_one_line(content):
    assert_loaded_or_one_line(content)


def test_the_crashes_found_are_one_line_errors():
    deep = load(b"[" * 600)
    assert isinstance(deep, ConfigError) and str(deep).endswith("nested too deeply to be a config file")
    superscript = load("collection:\n  max_retries: ²\n".encode())
    assert isinstance(superscript, ConfigError)
    assert "key 'collection.max_retries': expected a whole number >= 0, got '²'" in str(superscript)
