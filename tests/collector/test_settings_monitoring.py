"""The logging and monitoring thresholds: documented defaults load, bad values are one line naming the key."""

from pathlib import Path

import pytest

from collector.settings import ConfigError, load_settings
from controls.model import Thresholds

WS = (
    "/subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-ops"
    "/providers/Microsoft.OperationalInsights/workspaces/log-dev"
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_overrides_load(tmp_path):
    loaded = load_settings(write(tmp_path, "{}\n"), environ={}).thresholds
    assert loaded.activity_log_categories == ("Administrative", "Security", "Policy", "Alert")
    assert "Microsoft.Sql/servers/firewallRules/write" in loaded.security_alert_operations
    assert loaded.log_workspace_capped_allowed == () == Thresholds().log_workspace_capped_allowed
    text = (
        "thresholds:\n  activity_log_categories: [administrative, ServiceHealth]\n"
        f"  security_alert_operations: [Microsoft.Network/publicIPAddresses/write]\n"
        f"  log_workspace_capped_allowed: ['{WS}']\n"
    )
    loaded = load_settings(write(tmp_path, text), environ={}).thresholds
    assert loaded.activity_log_categories == ("administrative", "ServiceHealth")
    assert loaded.security_alert_operations == ("Microsoft.Network/publicIPAddresses/write",)
    assert loaded.log_workspace_capped_allowed == (WS,)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thresholds:\n  activity_log_categories: []\n", "key 'thresholds.activity_log_categories': []"),
        ("thresholds:\n  activity_log_categories: [Audit]\n", "key 'thresholds.activity_log_categories': ['Audit']"),
        ("thresholds:\n  security_alert_operations: []\n", "key 'thresholds.security_alert_operations': []"),
        ("thresholds:\n  security_alert_operations: [nsg-write]\n", "key 'thresholds.security_alert_operations'"),
        ("thresholds:\n  log_workspace_capped_allowed: [log-dev]\n", "key 'thresholds.log_workspace_capped_allowed'"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(tmp_path, text, expected):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), environ={})
    message = str(info.value)
    assert expected in message and "\n" not in message
