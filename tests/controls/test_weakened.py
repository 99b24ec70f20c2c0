"""Which recorded settings are weaker than the shipped defaults (controls/weakened.py, THRESHOLD_LIMITS)."""

from dataclasses import fields

import pytest

from controls.checks import ALL_CHECKS
from controls.model import THRESHOLD_LIMITS, Thresholds
from controls.weakened import default_thresholds, run_thresholds, thresholds_of_checks, weakened_settings


def scope(profile="mhlw6", **changes):
    return {"profile": profile, "thresholds": default_thresholds() | changes}


def test_every_threshold_has_a_direction_and_every_number_bounds_holding_its_default():
    assert list(THRESHOLD_LIMITS) == [f.name for f in fields(Thresholds)]
    for f in fields(Thresholds):
        limit, default = THRESHOLD_LIMITS[f.name], getattr(Thresholds(), f.name)
        if isinstance(default, bool):
            assert limit.weaker in ("true", "false") and limit.bounds is None, f.name
        elif isinstance(default, int):
            assert limit.weaker in ("lower", "higher"), f.name
            assert limit.bounds is not None and limit.bounds[0] <= default <= limit.bounds[1], f.name
        elif isinstance(default, tuple):
            assert limit.weaker in ("fewer", "more", "none"), f.name
        else:
            assert limit.weaker == "none" or default in limit.weaker, f.name


def test_the_shipped_defaults_weaken_nothing():
    assert weakened_settings(scope()) == []


@pytest.mark.parametrize(
    ("change", "key", "why_en"),
    [
        ({"privileged_roles": []}, "thresholds.privileged_roles", "drops Owner, User Access Administrator"),
        ({"flow_log_retention_days": 7}, "thresholds.flow_log_retention_days", "7 (lower than the default 90)"),
        ({"allowed_regions": ["japaneast", "Japan West", "eastus"]}, "thresholds.allowed_regions", "adds eastus"),
        ({"global_admin_max": 9}, "thresholds.global_admin_max", "9 (higher than the default 4)"),
        ({"exposed_ports": ["3389", "1433", "3306", "5432", "5985-5986"]}, "thresholds.exposed_ports", "drops 22"),
        ({"password_expiry_mfa_alternative": True, "require_customer_managed_keys": False}, None, None),
        ({"backup_vm_scope": "all", "egress_firewall_scope": "all"}, None, None),  # stronger than the default
        ({"stale_account_days": 30, "max_clock_offset_ms": 10}, None, None),
        ({"environment_tag": "env", "production_subscriptions": ["00000000-0000-0000-0000-000000000001"]}, None, None),
    ],
)
def test_each_direction_is_read_from_the_threshold_definitions(change, key, why_en):
    found = weakened_settings(scope(**change))
    if key is None:
        assert found == []
    else:
        assert [w.key for w in found] == [key]
        assert why_en in found[0].why_en and found[0].why_ja


def test_a_switch_and_a_choice_weaken_only_one_way():
    # require_customer_managed_keys ships false (its weaker value), so setting it true is stronger; the mhlw6
    # profile is the default and meti2012 a lower bar.
    assert weakened_settings(scope(require_customer_managed_keys=True)) == []
    assert [w.key for w in weakened_settings(scope("meti2012"))] == ["guideline.profile"]


def test_a_run_without_recorded_thresholds_flags_only_its_profile_and_keeps_defaults_out_of_explain():
    old = {"profile": "meti2012", "checks": ["global-admin-count"]}
    assert [w.key for w in weakened_settings(old)] == ["guideline.profile"]
    assert run_thresholds(old) is None
    rows = thresholds_of_checks(old, ["global-admin-count"])
    assert rows[0]["thresholds"][0]["recorded"] is False and rows[0]["thresholds"][0]["value"] is None


def test_explain_rows_name_each_checks_thresholds_with_the_recorded_value():
    rows = thresholds_of_checks(scope(global_admin_max=9), ["global-admin-count", "attestation"])
    values = {t["name"]: t for t in rows[0]["thresholds"]}
    assert set(values) == set(next(c for c in ALL_CHECKS if c.id == "global-admin-count").thresholds)
    assert values["global_admin_max"]["value"] == 9 and values["global_admin_max"]["weaker"]["default"] == 4
    assert values["global_admin_min"]["weaker"] is None
    assert rows[1] == {"check": "attestation", "thresholds": []}
    assert run_thresholds(scope(global_admin_max=9)).global_admin_max == 9
