"""The default administrator names threshold: defaults match config/defaults.yaml, and a bad list is one line."""

from pathlib import Path

import pytest
import yaml

from collector.settings import ConfigError, load_settings
from controls.model import Thresholds


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shoko.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_yaml_lists_the_model_default_admin_names():
    defaults = yaml.safe_load(Path("config/defaults.yaml").read_text(encoding="utf-8"))
    assert tuple(defaults["thresholds"]["default_admin_names"]) == Thresholds().default_admin_names
    assert {"admin", "administrator", "root", "azureuser", "sa", "guest", "test", "user"} <= set(
        Thresholds().default_admin_names
    )


def test_default_admin_names_from_config(tmp_path):
    path = write(tmp_path, "thresholds:\n  default_admin_names: [admin, opsshared]\n")
    assert load_settings(path, environ={}).thresholds.default_admin_names == ("admin", "opsshared")


@pytest.mark.parametrize("value", ["[]", "[admin, '  ']"])
def test_bad_default_admin_names_is_one_line_naming_the_key(tmp_path, value):
    path = write(tmp_path, f"thresholds:\n  default_admin_names: {value}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert "key 'thresholds.default_admin_names': must list one or more non-empty names" in message
    assert "\n" not in message
