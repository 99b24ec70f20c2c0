"""App Service thresholds: documented, loaded from file and environment, and refused in one line when out of range."""

import pytest

from collector.settings import ConfigError, load_settings
from controls.model import Thresholds


def write(tmp_path, text):
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_certificate_warning_days_default_file_and_environment(tmp_path):
    assert Thresholds().certificate_expiry_warning_days == 30
    path = write(tmp_path, "thresholds:\n  certificate_expiry_warning_days: 45\n")
    assert load_settings(path, environ={}).thresholds.certificate_expiry_warning_days == 45
    env = {"SHOKO_THRESHOLDS_CERTIFICATE_EXPIRY_WARNING_DAYS": "0"}
    assert load_settings(path, environ=env).thresholds.certificate_expiry_warning_days == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thresholds:\n  certificate_expiry_warning_days: 400\n",
         "key 'thresholds.certificate_expiry_warning_days': must be at most 398"),
        ("thresholds:\n  certificate_expiry_warning_days: -1\n", "key 'thresholds.certificate_expiry_warning_days'"),
        ("thresholds:\n  certificate_expiry_warning_days: soon\n", "key 'thresholds.certificate_expiry_warning_days'"),
    ],
)  # fmt: skip
def test_bad_certificate_warning_days_is_one_line_naming_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert expected in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)
