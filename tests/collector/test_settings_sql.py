"""Thresholds of the SQL, PostgreSQL and Redis checks: documented defaults, overrides, one-line errors."""

import pytest

from collector.settings import ConfigError, load_settings


def write(tmp_path, text: str):
    path = tmp_path / "shoko.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_overrides(tmp_path):
    t = load_settings(None, environ={}).thresholds
    assert (t.database_firewall_max_addresses, t.sql_audit_retention_days, t.sql_backup_retention_days) == (256, 365, 7)
    path = write(tmp_path, "thresholds:\n  sql_backup_retention_days: 35\n  database_firewall_max_addresses: 1\n")
    t = load_settings(path, environ={"SHOKO_THRESHOLDS_SQL_AUDIT_RETENTION_DAYS": "90"}).thresholds
    assert (t.database_firewall_max_addresses, t.sql_audit_retention_days, t.sql_backup_retention_days) == (1, 90, 35)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thresholds:\n  database_firewall_max_addresses: 0\n",
         "key 'thresholds.database_firewall_max_addresses': must be at least 1"),
        ("thresholds:\n  sql_audit_retention_days: 0\n",
         "key 'thresholds.sql_audit_retention_days': must be at least 1"),
        ("thresholds:\n  sql_backup_retention_days: 36\n", "key 'thresholds.sql_backup_retention_days': must be 1-35"),
        ("thresholds:\n  sql_backup_retention_days: 0\n", "key 'thresholds.sql_backup_retention_days': must be 1-35"),
    ],
)  # fmt: skip
def test_bad_threshold_is_one_line_naming_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert expected in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)
