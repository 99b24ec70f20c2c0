"""Thresholds of the storage, Key Vault and managed disk checks: defaults, file and environment values,
one-line errors."""

from pathlib import Path

import pytest

from collector.settings import ConfigError, load_settings
from controls.model import Thresholds


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_documented_file():
    loaded = load_settings(None, environ={}).thresholds
    assert loaded.require_customer_managed_keys is False
    assert (loaded.blob_soft_delete_min_days, loaded.key_expiry_warning_days) == (7, 30)
    assert (loaded.medical_data_tag, loaded.medical_data_tag_values) == ("dataClassification", ("medical",))
    assert loaded == Thresholds()


def test_values_from_file_and_environment(tmp_path):
    path = write(tmp_path, "thresholds:\n  require_customer_managed_keys: true\n  blob_soft_delete_min_days: 30\n"
                           "  key_expiry_warning_days: 60\n  medical_data_tag: class\n"
                           "  medical_data_tag_values: [phi, medical]\n")  # fmt: skip
    loaded = load_settings(path, environ={}).thresholds
    assert loaded.require_customer_managed_keys is True
    assert (loaded.blob_soft_delete_min_days, loaded.key_expiry_warning_days) == (30, 60)
    assert (loaded.medical_data_tag, loaded.medical_data_tag_values) == ("class", ("phi", "medical"))
    env = {"SHOKO_THRESHOLDS_REQUIRE_CUSTOMER_MANAGED_KEYS": "False"}
    assert load_settings(path, environ=env).thresholds.require_customer_managed_keys is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thresholds:\n  require_customer_managed_keys: 'yes please'\n",
         "key 'thresholds.require_customer_managed_keys': expected true or false, got 'yes please'"),
        ("thresholds:\n  require_customer_managed_keys: 1\n",
         "key 'thresholds.require_customer_managed_keys': expected true or false, got 1"),
        ("thresholds:\n  blob_soft_delete_min_days: -1\n", "key 'thresholds.blob_soft_delete_min_days'"),
        ("thresholds:\n  blob_soft_delete_min_days: 0\n", "key 'thresholds.blob_soft_delete_min_days': must be 1-365"),
        ("thresholds:\n  medical_data_tag: ' '\n", "key 'thresholds.medical_data_tag': must name a tag"),
        ("thresholds:\n  medical_data_tag_values: []\n", "key 'thresholds.medical_data_tag_values': must list one"),
    ],
)  # fmt: skip
def test_bad_values_are_one_line_naming_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert expected in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)
