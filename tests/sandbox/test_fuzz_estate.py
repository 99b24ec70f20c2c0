"""Fuzzing the estate loader: a valid estate (a slice of the example hospital's) mutated at random — keys
removed, values replaced by any JSON data, keys added, list items repeated — and arbitrary bytes as a .yaml or
.json file either load or are refused with one EstateError line, never another exception."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sandbox.estate import Estate, EstateError, estate_from_mapping, load_estate, read_data
from tests.props import FUZZ

HOSPITAL = read_data(Path(__file__).parents[2] / "sandbox" / "estates" / "hospital-emr.yaml")
_RESOURCES = HOSPITAL["resources"][:15]
_VMS = {r["id"].lower() for r in _RESOURCES}
PROD = HOSPITAL["subscriptions"][0]["subscriptionId"]
BASE: dict[str, Any] = {
    "tenant": HOSPITAL["tenant"],
    "subscriptions": HOSPITAL["subscriptions"],
    "resources": _RESOURCES,
    "runCommands": [r for r in HOSPITAL["runCommands"] if r["vm"].lower() in _VMS][:2],
    "directory": HOSPITAL["directory"],
    # Every key a fault may carry, so that mutations reach each one.
    "faults": [
        {"kind": "throttle", "count": 2, "skip": 1, "path": "*storageAccounts*", "method": "GET", "subscription": PROD,
         "resourceType": "Microsoft.Storage/storageAccounts", "window": 30, "retryAfter": 2},
        {"kind": "server_error", "status": 503},
        {"kind": "latency", "delay": 0.5},
    ],
}  # fmt: skip
# The keys whose values the builder reads itself (free-form ARM properties deeper down are served as written).
STRUCTURAL = ("tenant", "subscriptions", "runCommands", "faults")

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(("", "*", "/subscriptions/", "a/b", "-1d", "+5m", "P1D", "00000000-0000-0000-0000-000000000000")),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)


def _paths(node: Any, depth: int, prefix: tuple = ()):
    """Paths to every value down to `depth` levels, and to every value of the structural sections."""
    yield prefix
    if len(prefix) >= depth and not (prefix and prefix[0] in STRUCTURAL):
        return
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, depth, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, depth, (*prefix, index))


@st.composite
def mutated_estates(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        depth = draw(st.integers(1, 5))  # mostly near the top, where the builder looks
        paths = [p for p in _paths(data, depth) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        operation = draw(st.sampled_from(("delete", "replace", "add", "repeat")))
        if operation == "delete":
            del parent[path[-1]]
        elif operation == "replace":
            parent[path[-1]] = draw(VALUES)
        elif operation == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=6))] = draw(VALUES)
        elif operation == "repeat" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
    return data


def assert_loaded_or_one_line(load, *args) -> None:
    try:
        assert isinstance(load(*args), Estate)
    except EstateError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message and message.strip() == message


def test_the_unmutated_slice_loads():
    assert isinstance(estate_from_mapping(copy.deepcopy(BASE), "base.yaml"), Estate)


def _with_fault(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["faults"][0].update(changes)
    return data


@FUZZ
@given(mutated_estates())
@example(_with_fault(method=5))  # was an AttributeError: method.upper()
@example(_with_fault(path=5))  # accepted, then a crash on the first request it was matched against
@example(_with_fault(window=float("nan")))
def test_mutated_estates_load_or_are_refused_in_one_line(data):
    assert_loaded_or_one_line(estate_from_mapping, data, "fuzz.yaml")


FOLDER = Path(tempfile.mkdtemp(prefix="shoko-fuzz-"))


@FUZZ
@given(st.binary(max_size=300), st.sampled_from((".yaml", ".json")))
@example(b"[" * 600, ".yaml")  # both parsers recurse once per level of nesting
@example(b"[" * 1100, ".json")
@example(b"\x00", ".yaml")
@example(b"\xff\xfe", ".json")
def test_any_bytes_load_or_are_refused_in_one_line(content, suffix):
    path = FOLDER / f"estate{suffix}"
    path.write_bytes(content)
    assert_loaded_or_one_line(load_estate, path)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"method": 5}, "faults[0]: method must be a string, got 5"),
        ({"subscription": [1]}, "faults[0]: subscription must be a string, got [1]"),
        ({"window": float("inf")}, "faults[0]: window must be a positive number of seconds, got inf"),
    ],
)
def test_the_crashes_found_are_one_line_errors(changes, expected):
    with pytest.raises(EstateError) as caught:
        estate_from_mapping(_with_fault(**changes), "fuzz.yaml")
    assert str(caught.value) == f"fuzz.yaml: {expected}"


def test_nesting_too_deep_is_one_line(tmp_path):
    for suffix, depth in ((".yaml", 600), (".json", 1100)):
        path = tmp_path / f"deep{suffix}"
        path.write_bytes(b"[" * depth)
        with pytest.raises(EstateError) as caught:
            load_estate(path)
        assert str(caught.value) == f"{path}: nested too deeply to be an estate file"
