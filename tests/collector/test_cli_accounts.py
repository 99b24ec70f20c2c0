"""`shoko accounts`: every Azure and Entra role holder of the latest full run, from stored evidence."""

from __future__ import annotations

import json

from collector.cli import main

ITO = "makoto.ito@aozora-medical.example"  # left the company: disabled, still Owner (A1)
VENDOR = "takumi.yamamoto_hokusei-sys.example#EXT#@aozoramedical.onmicrosoft.com"  # guest Global Administrator (A2)
PROD = "/subscriptions/a8233bec-16ce-49d8-af36-5decabf6c438"


def test_accounts_lists_azure_and_entra_role_holders_with_groups_expanded(collected, capsys):
    capsys.readouterr()
    assert main(["accounts", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["accounts"]
    by = {}
    for r in rows:
        by.setdefault(r["name"], []).append(r)

    ito = by[ITO]
    assert [(r["role"], r["scope"], r["enabled"]) for r in ito] == [
        ("Owner", f"{PROD}/resourceGroups/rg-emr-prod-data", False)
    ]
    assert ito[0]["flags"] == ["role-holders-enabled"] and ito[0]["created"] == "2024-06-03T00:48:30Z"
    vendor = {(r["source"], r["role"]) for r in by[VENDOR]}
    assert vendor == {("Entra ID", "Global Administrator")}
    assert by[VENDOR][0]["user_type"] == "Guest" and by[VENDOR][0]["flags"] == ["privileged-roles-no-guests"]
    # Held through a group: the group is expanded to its members, named in via_groups.
    sato = by["kenichi.sato@aozora-medical.example"]
    assert any(r["via_groups"] == ["sg-emr-platform-admins"] and r["role"] == "Owner" for r in sato)
    assert any(r["source"] == "Entra ID" and r["role"] == "Global Administrator" and not r["flags"] for r in sato)
    # Every role, not only privileged ones; service principals typed as such, with no user sign-in.
    collector = by["shoko-evidence-collector"]
    assert {r["role"] for r in collector} == {"Reader"} and not any(r["privileged"] for r in collector)
    assert collector[0]["type"] == "service principal" and collector[0]["last_sign_in"] is None
    # Last sign-in from signInActivity; the stale operations engineer (A4) is flagged on every role he holds.
    assert all(r["last_sign_in"][:2] == "20" for r in rows if r["type"] == "user")
    watanabe = by["naoki.watanabe@aozora-medical.example"]
    assert watanabe and all("stale-accounts" in r["flags"] for r in watanabe)
    assert not any("stale-accounts" in r["flags"] for r in sato)
    # Entra PIM: eligible for Global Administrator, marked eligible, not an active member.
    [tanaka_ga] = [r for r in by["yuki.tanaka@aozora-medical.example"] if r["role"] == "Global Administrator"]
    assert tanaka_ga["eligible"] is True and tanaka_ga["privileged"] is True
    assert tanaka_ga["assignment"] == "PIM eligible until 2027-03-31T00:00:00Z"
    assert not any(r["eligible"] for r in sato if r["source"] == "Entra ID")

    assert main(["accounts", "--json", "--privileged"]) == 0
    privileged = json.loads(capsys.readouterr().out)["accounts"]
    assert privileged and all(r["privileged"] for r in privileged)
    assert "shoko-evidence-collector" not in {r["name"] for r in privileged}

    assert main(["accounts"]) == 0
    out = capsys.readouterr().out
    head = next(x for x in out.splitlines() if x.startswith(ITO))
    assert "DISABLED 無効" in head and "created 作成 2024-06-03T00:48:30Z" in head
    line = next(x for x in out.splitlines() if "rg-emr-prod-data" in x and "FAIL role-holders-enabled" in x)
    assert "Owner" in line
    assert "1 disabled, 1 guests" in out and "grants are PIM-eligible" in out
    assert "Global Administrator  @ Entra ID (tenant)  (PIM eligible until 2027-03-31T00:00:00Z)" in out
    head = next(x for x in out.splitlines() if x.startswith("naoki.watanabe@"))
    assert "last sign-in 最終サインイン 20" in head
    bg = next(x for x in out.splitlines() if x.startswith("  * Azure RBAC  Owner  @ " + PROD + "  (permanent)"))
    assert bg


def test_accounts_say_how_each_azure_role_is_held(collected, capsys):
    capsys.readouterr()
    assert main(["accounts", "--json", "--privileged"]) == 0
    rows = json.loads(capsys.readouterr().out)["accounts"]
    held: dict[tuple[str, str, str], list[str]] = {}
    for r in rows:
        if r["source"] == "Azure RBAC":
            held.setdefault((r["name"], r["role"], r["scope"][-12:]), []).append(r["assignment"])
    sato = "kenichi.sato@aozora-medical.example"
    assert held[(sato, "Owner", PROD[-12:])] == ["PIM eligible"]
    [time_bound] = held[(sato, "User Access Administrator", "e66f9c050145")]
    assert time_bound.startswith("time-bound until ")
    # Through sg-emr-platform-admins: eligible for Owner on dev, and activated now.
    dev_owner = sorted(held[(sato, "Owner", "e66f9c050145")])
    assert dev_owner[0].startswith("PIM activation until ") and dev_owner[1] == "PIM eligible"
    assert held[("bg-admin01@aozoramedical.onmicrosoft.com", "Owner", PROD[-12:])] == ["permanent"]
