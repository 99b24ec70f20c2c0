"""The guideline profile setting: mhlw6 by default, meti2012 on request, anything else one error line."""

from __future__ import annotations

import pytest

from collector.settings import ConfigError, load_settings


def test_default_is_mhlw6_and_meti2012_can_be_chosen(tmp_path):
    assert load_settings(environ={}).guideline.profile == "mhlw6"
    config = tmp_path / "agent.yaml"
    config.write_text("guideline:\n  profile: meti2012\n", encoding="utf-8")
    assert load_settings(config, environ={}).guideline.profile == "meti2012"
    assert load_settings(environ={"SHOKO_GUIDELINE_PROFILE": "meti2012"}).guideline.profile == "meti2012"


def test_an_unknown_profile_is_one_line(tmp_path):
    config = tmp_path / "agent.yaml"
    config.write_text("guideline:\n  profile: mhlw5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_settings(config, environ={})
    message = str(exc.value)
    assert "guideline.profile" in message and "meti2012, mhlw6" in message and "\n" not in message
