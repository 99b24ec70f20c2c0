"""Estate validation: every bad input is one line naming the file, the document and the problem."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import serve
from sandbox.estate import Estate, EstateError, estate_from_mapping, load_estate

TENANT = "11111111-1111-4111-8111-111111111111"
SUB = "22222222-2222-4222-8222-222222222222"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-app"
SITE = f"{RG}/providers/Microsoft.Web/sites/app1"
VM = f"{RG}/providers/Microsoft.Compute/virtualMachines/vm1"


def base() -> dict[str, Any]:
    return {
        "tenant": {"id": TENANT},
        "subscriptions": [{"subscriptionId": SUB, "displayName": "prod"}],
        "resources": [
            {"id": SITE, "name": "app1", "type": "Microsoft.Web/sites", "location": "japaneast", "properties": {}},
            {"id": f"{SITE}/config/web", "name": "app1", "type": "Microsoft.Web/sites/config", "properties": {}},
            {
                "id": VM,
                "name": "vm1",
                "type": "Microsoft.Compute/virtualMachines",
                "location": "japaneast",
                "properties": {"storageProfile": {"osDisk": {"osType": "Linux"}}},
            },
        ],
    }


def write(tmp_path: Path, data: Any, name: str = "estate.yaml") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def error_line(path: Path) -> str:
    with pytest.raises(EstateError) as excinfo:
        load_estate(path)
    text = str(excinfo.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    return text


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "tenant:\n  id: x\nresources:\n  - id: /subscriptions/a\n    name: [unclosed\n")
    line = error_line(p)
    assert "not valid YAML" in line
    assert "line 6" in line or "line 5" in line


def test_document_without_id(tmp_path: Path) -> None:
    data = base()
    del data["resources"][1]["id"]
    line = error_line(write(tmp_path, data))
    assert "resources[1]" in line
    assert "has no 'id'" in line


def test_duplicate_id_is_case_insensitive(tmp_path: Path) -> None:
    data = base()
    dup = copy.deepcopy(data["resources"][0])
    dup["id"] = SITE.upper().replace("SUBSCRIPTIONS", "subscriptions")
    data["resources"].append(dup)
    line = error_line(write(tmp_path, data))
    assert "resources[3]" in line
    assert "duplicate id" in line
    assert "resources[0]" in line


def test_type_must_match_id(tmp_path: Path) -> None:
    data = base()
    data["resources"][1]["type"] = "Microsoft.Web/sites"
    line = error_line(write(tmp_path, data))
    assert f"resources[1] ({SITE}/config/web)" in line
    assert "'Microsoft.Web/sites/config'" in line


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["resources"].append({"id": f"{SITE}/config", "type": "x"}), "names a collection"),
        (
            lambda d: d["resources"].append(
                {
                    "id": "/subscriptions/33333333-3333-4333-8333-333333333333/resourceGroups/r/providers/A.B/c/d",
                    "type": "A.B/c",
                }
            ),
            "is not declared under subscriptions",
        ),
        (
            lambda d: d["resources"].append(
                {
                    "id": f"{RG}/providers/Microsoft.Web/sites/gone/providers/Microsoft.Insights/diagnosticSettings/x",
                    "type": "Microsoft.Insights/diagnosticSettings",
                }
            ),
            "its parent",
        ),
        (lambda d: d.update(runCommands=[{"vm": f"{VM}x", "stdout": ""}]), "runCommands[0]"),
        (lambda d: d.update(faults=[{"kind": "explode"}]), "faults[0]: unknown fault kind 'explode'"),
        (lambda d: d.update(faults=[{"kind": "throttle", "retryAfter": -1}]), "faults[0]"),
        (lambda d: d.update(extra=1), "unknown top-level key 'extra'"),
        (lambda d: d["tenant"].update(id="not-a-guid"), "tenant: id must be a GUID"),
        (
            lambda d: d.update(directory={"groups": [{"id": "g1", "members": ["nobody"]}]}),
            "member nobody is not a user, group or service principal",
        ),
    ],
)
def test_other_problems_are_one_line(tmp_path: Path, mutate: Any, expected: str) -> None:
    data = base()
    mutate(data)
    assert expected in error_line(write(tmp_path, data))


def test_json_estate_and_json_errors(tmp_path: Path) -> None:
    good = tmp_path / "estate.json"
    good.write_text(json.dumps(base()), encoding="utf-8")
    assert load_estate(good).subscription_ids == [SUB]
    bad = tmp_path / "bad.json"
    bad.write_text('{"tenant": ', encoding="utf-8")
    assert "not valid JSON: line 1" in error_line(bad)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: "tenant: [\n",  # bad YAML
        lambda d: d["resources"][0].pop("id") and d,
        lambda d: d["resources"].append(copy.deepcopy(d["resources"][0])) or d,
        lambda d: d["resources"][1].update(type="Microsoft.Web/sites") or d,
    ],
    ids=["bad-yaml", "missing-id", "duplicate-id", "type-mismatch"],
)
def test_serve_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate: Any) -> None:
    path = write(tmp_path, mutate(base()))
    assert serve.main(["serve", "--estate", str(path), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(str(path))


def test_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert serve.main(["check", "--estate", str(write(tmp_path, base()))]) == 0
    assert "OK (1 subscriptions, 3 ARM documents" in capsys.readouterr().out
    assert serve.main(["serve"]) == 2  # missing --estate: a usage error, not a crash


def test_yaml_timestamps_stay_strings_and_groups_are_derived(tmp_path: Path) -> None:
    data = base()
    text = yaml.safe_dump(data) + "directory:\n  users:\n  - id: u1\n    createdDateTime: 2024-03-28T02:11:09Z\n"
    estate = load_estate(write(tmp_path, text))
    assert estate.directory.collections["users"][0]["createdDateTime"] == "2024-03-28T02:11:09Z"
    assert [g["id"] for g in estate.resource_groups] == [RG]
    assert estate.resource_groups[0]["location"] == "japaneast"


def test_embedded_children_become_addressable() -> None:
    data = base()
    nsg = f"{RG}/providers/Microsoft.Network/networkSecurityGroups/nsg1"
    data["resources"].append(
        {
            "id": nsg,
            "name": "nsg1",
            "type": "Microsoft.Network/networkSecurityGroups",
            "location": "japaneast",
            "properties": {
                "securityRules": [
                    {
                        "id": f"{nsg}/securityRules/r1",
                        "name": "r1",
                        "type": "Microsoft.Network/networkSecurityGroups/securityRules",
                        "properties": {"priority": 100},
                    }
                ],
                # A reference to another resource, not an embedded child: stays as it is.
                "subnets": [{"id": f"{RG}/providers/Microsoft.Network/virtualNetworks/v/subnets/s"}],
            },
        }
    )
    estate = estate_from_mapping(data, "inline")
    ids_ = {r["id"] for r in estate.resources}
    assert f"{nsg}/securityRules/r1" in ids_
    assert not any("/subnets/" in i for i in ids_)


def test_with_and_without_resource_are_validated() -> None:
    estate = estate_from_mapping(base(), "inline")
    changed = estate.with_resource({**estate.resources[0], "properties": {"httpsOnly": False}})
    assert changed.resources[0]["properties"] == {"httpsOnly": False}
    assert estate.resources[0]["properties"] == {}  # the original is untouched
    smaller = estate.without_resource(SITE)
    assert [r["id"] for r in smaller.resources] == [VM]  # the config child went with its site
    with pytest.raises(EstateError, match="has no 'type'"):
        estate.with_resource({"id": f"{RG}/providers/Microsoft.Web/sites/app2"})


def test_example_estate_is_valid_and_as_documented(emr_estate: Estate) -> None:
    by_type: dict[str, int] = {}
    for r in emr_estate.resources:
        by_type[r["type"].lower()] = by_type.get(r["type"].lower(), 0) + 1
    assert len(emr_estate.subscriptions) == 2
    assert by_type["microsoft.web/sites/config"] == by_type["microsoft.web/sites"] == 3
    # Every NSG carries the six default rules as ARM returns them.
    nsgs = [r for r in emr_estate.resources if r["type"] == "Microsoft.Network/networkSecurityGroups"]
    assert nsgs and all(len(n["properties"]["defaultSecurityRules"]) == 6 for n in nsgs)
    assert all(n["properties"].get("subnets") for n in nsgs)
    # The blob service documents exist for the diagnostic settings that hang off them.
    assert by_type["microsoft.storage/storageaccounts/blobservices"] == 3


def test_relative_times_are_served_as_moments_counted_from_loading():
    from datetime import UTC, datetime, timedelta

    from controls.checks.helpers import parse_time

    est = estate_from_mapping(
        {
            "tenant": {"id": "c789e719-364a-4a28-aff9-0db8d2f428d5"},
            "subscriptions": [{"subscriptionId": "a8233bec-16ce-49d8-af36-5decabf6c438"}],
            "resources": [
                {
                    "id": "/subscriptions/a8233bec-16ce-49d8-af36-5decabf6c438/resourceGroups/rg/providers/"
                    "Microsoft.Web/certificates/c1",
                    "type": "Microsoft.Web/certificates",
                    "location": "japaneast",
                    "properties": {"expirationDate": "${now+30d}", "issueDate": "${now-26h}", "note": "${now} ok"},
                }
            ],
        }
    )
    cert = next(d for d in est.resources if d["type"] == "Microsoft.Web/certificates")
    now = datetime.now(UTC)
    expires = parse_time(cert["properties"]["expirationDate"])
    issued = parse_time(cert["properties"]["issueDate"])
    assert expires is not None and abs(expires - (now + timedelta(days=30))) < timedelta(minutes=1)
    assert issued is not None and abs(issued - (now - timedelta(hours=26))) < timedelta(minutes=1)
    assert cert["properties"]["note"] == "${now} ok"  # only a whole value is a relative time
    # The estate keeps what was written, so a changed estate resolves its times anew.
    assert est.raw["resources"][0]["properties"]["expirationDate"] == "${now+30d}"
