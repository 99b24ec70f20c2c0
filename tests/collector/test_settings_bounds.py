"""Every whole-number setting is bounded, and a list is a list: one line naming the key, exit 2."""

from dataclasses import replace

import pytest

from collector.cli import main
from collector.settings import INT_BOUNDS, ChannelSettings, ConfigError, Settings, _int_settings, load_settings


def test_every_whole_number_setting_has_bounds_holding_its_default():
    settings = Settings()
    # A channel's port is a whole-number setting too: bounded once per channel.
    settings = replace(settings, alerts=replace(settings.alerts, channels=(ChannelSettings(name="m", type="email"),)))
    found = _int_settings(settings)
    assert {key for _, key, _, _ in found} >= set(INT_BOUNDS)
    for shown, _, value, bounds in found:
        assert bounds is not None, f"{shown} has no bounds"
        assert bounds[0] <= value <= bounds[1], shown


def write(tmp_path, text):
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("collection:\n  max_retries: 100000000000000000000\n", "key 'collection.max_retries': must be 0-20, got 1"),
        ("collection:\n  max_retries: 1e20\n", "key 'collection.max_retries': expected a whole number"),
        ("collection:\n  max_retries: 8.5\n", "key 'collection.max_retries': expected a whole number"),
        ("thresholds:\n  global_admin_max: 100000\n", "key 'thresholds.global_admin_max': must be 1-1000"),
        ("thresholds:\n  log_analytics_retention_days: 0\n", "key 'thresholds.log_analytics_retention_days': must"),
        ("thresholds:\n  max_clock_offset_ms: 99999999\n", "key 'thresholds.max_clock_offset_ms': must be 1-60000"),
        ("agent:\n  lease_seconds: 86400\n", "key 'agent.lease_seconds': must be 1-3600"),
        ("api:\n  oidc:\n    session_minutes: 999999\n", "key 'api.oidc.session_minutes': must be 1-10080"),
        ("thresholds:\n  allowed_regions: japaneast\n", "key 'thresholds.allowed_regions': expected a list"),
        ("thresholds:\n  privileged_roles: {Owner: 1}\n", "key 'thresholds.privileged_roles': expected a list"),
    ],
)
def test_absurd_numbers_and_non_lists_are_one_line_naming_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert expected in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_the_environment_is_bounded_too_and_may_give_a_list_as_commas(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'collection.max_workers': must be 1-256, got 9{20}$"):
        load_settings(None, environ={"SHOKO_COLLECTION_MAX_WORKERS": "9" * 20})
    s = load_settings(None, environ={"SHOKO_THRESHOLDS_ALLOWED_REGIONS": "japaneast, japanwest"})
    assert s.thresholds.allowed_regions == ("japaneast", "japanwest")


def test_an_absurd_number_is_one_line_and_exit_2_from_the_cli(tmp_path, capsys):
    path = write(tmp_path, "collection:\n  max_retries: 100000000000000000000\n")
    assert main(["status", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "collection.max_retries" in err and "must be 0-20" in err
