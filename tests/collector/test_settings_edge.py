"""The edge-protection threshold: which Azure Firewall IDPS modes pass."""

import pytest

from collector.settings import ConfigError, load_settings


def write(tmp_path, text):
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_idps_modes_default_to_deny_and_may_accept_alert(tmp_path):
    assert load_settings(write(tmp_path, "{}\n"), environ={}).thresholds.idps_accepted_modes == ("Deny",)
    path = write(tmp_path, "thresholds:\n  idps_accepted_modes: [Alert, Deny]\n")
    assert load_settings(path, environ={}).thresholds.idps_accepted_modes == ("Alert", "Deny")
    env = {"SHOKO_THRESHOLDS_IDPS_ACCEPTED_MODES": "deny, alert"}
    assert load_settings(path, environ=env).thresholds.idps_accepted_modes == ("deny", "alert")


@pytest.mark.parametrize("modes", ["[]", "[Off]", "[Deny, Block]"])
def test_bad_idps_modes_are_one_line_naming_the_key(tmp_path, modes):
    path = write(tmp_path, f"thresholds:\n  idps_accepted_modes: {modes}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert "key 'thresholds.idps_accepted_modes'" in message and "must list Deny and/or Alert" in message
    assert str(path) in message and "\n" not in message
