"""Thresholds of the Defender for Cloud and VM agent checks: defaults, overrides and one-line errors."""

import pytest

from collector.settings import ConfigError, load_settings


def write(tmp_path, text):
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_overrides(tmp_path):
    defaults = load_settings(write(tmp_path, "{}\n"), environ={}).thresholds
    assert defaults.defender_required_plans == (
        "VirtualMachines",
        "AppServices",
        "SqlServers",
        "StorageAccounts",
        "KeyVaults",
        "Arm",
    )
    assert defaults.vulnerability_high_findings_max == 0
    text = (
        "thresholds:\n  defender_required_plans: [VirtualMachines, CosmosDbs]\n  vulnerability_high_findings_max: 3\n"
    )
    loaded = load_settings(write(tmp_path, text), environ={}).thresholds
    assert loaded.defender_required_plans == ("VirtualMachines", "CosmosDbs")
    assert loaded.vulnerability_high_findings_max == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thresholds:\n  defender_required_plans: ['Virtual Machines']\n", "'Virtual Machines' is not a Defender plan"),
        ("thresholds:\n  defender_required_plans: ['']\n", "key 'thresholds.defender_required_plans': ''"),
        ("thresholds:\n  defender_required_plans: []\n", "defender_required_plans': must name at least one plan"),
        (
            "thresholds:\n  vulnerability_high_findings_max: -1\n",
            "vulnerability_high_findings_max': expected a whole number >= 0",
        ),
        ("thresholds:\n  vulnerability_high_findings_max: many\n", "vulnerability_high_findings_max"),
    ],
)
def test_bad_thresholds_are_one_line_naming_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message
