"""The benchmark's estate generator: deterministic, loadable by the sandbox, the counts asked for."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bench.generate import GenerateError, generate, write_estate
from sandbox import ids
from sandbox.arm import ArmIndex
from sandbox.estate import load_estate


def test_same_seed_same_estate_other_seed_other_estate() -> None:
    a = generate(2, 300, seed=7).estate
    b = generate(2, 300, seed=7).estate
    c = generate(2, 300, seed=8).estate
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert json.dumps(a, sort_keys=True) != json.dumps(c, sort_keys=True)


def test_the_estate_loads_with_the_requested_counts_and_mix(tmp_path: Path) -> None:
    generated = generate(3, 400, seed=1, violation_rate=0.5)
    path = tmp_path / "estate.json"
    write_estate(generated, path)
    estate = load_estate(path)  # validated as any estate file: ids, types, parents
    assert len(estate.subscriptions) == 3
    assert len(ArmIndex(estate).tracked) == 400 == generated.resources
    assert len(estate.directory.collections["users"]) >= 10
    kinds = Counter(str(ids.type_of(str(d["id"]))).lower() for d in estate.resources)
    for kind in (
        "microsoft.web/sites",
        "microsoft.web/sites/config",
        "microsoft.web/sites/slots",
        "microsoft.storage/storageaccounts/blobservices",
        "microsoft.sql/servers/databases",
        "microsoft.network/networksecuritygroups/securityrules",
        "microsoft.network/virtualnetworks/subnets",
        "microsoft.compute/virtualmachines",
        "microsoft.keyvault/vaults",
        "microsoft.insights/diagnosticsettings",
        "microsoft.authorization/roleassignments",
    ):
        assert kinds[kind] > 0, kind
    assert generated.units_broken > 0


def test_too_few_resources_for_the_subscriptions_is_one_clear_error() -> None:
    with pytest.raises(GenerateError, match="below the"):
        generate(5, 10)
