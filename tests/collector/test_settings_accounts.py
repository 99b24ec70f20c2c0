"""Thresholds of the privileged account checks: one-line errors naming the key."""

import pytest

from collector.settings import ConfigError, load_settings
from tests.collector.test_settings import write


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thresholds:\n  privileged_directory_roles: []\n", "key 'thresholds.privileged_directory_roles'"),
        ("thresholds:\n  privileged_directory_roles: ['']\n", "key 'thresholds.privileged_directory_roles'"),
        ("thresholds:\n  global_admin_min: 0\n", "'thresholds.global_admin_min' / 'global_admin_max'"),
        ("thresholds:\n  global_admin_min: 5\n  global_admin_max: 3\n", "need 1 <= min <= max"),
        ("thresholds:\n  pim_required_roles: []\n", "key 'thresholds.pim_required_roles'"),
        ("thresholds:\n  pim_permanent_allowed: [bg-admin01]\n", "'bg-admin01' is not a principal object id"),
        ("thresholds:\n  stale_account_days: 0\n", "'thresholds.stale_account_days': 0 must be 1 to 3650"),
        ("thresholds:\n  stale_account_days: 5000\n", "'thresholds.stale_account_days': 5000 must be 1 to 3650"),
    ],
)
def test_bad_account_thresholds_are_one_line(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert expected in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_account_thresholds_from_file(tmp_path):
    path = write(
        tmp_path,
        "thresholds:\n  global_admin_max: 6\n  privileged_directory_roles: [Global Administrator]\n"
        "  stale_account_days: 45\n",
    )
    loaded = load_settings(path, environ={}).thresholds
    assert loaded.global_admin_max == 6 and loaded.global_admin_min == 2 and loaded.stale_account_days == 45
    assert loaded.privileged_directory_roles == ("Global Administrator",)
