from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from collector.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _as_yaml_shape(value):
    if isinstance(value, dict):
        return {k: _as_yaml_shape(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


def test_documented_defaults_equal_built_in_defaults():
    documented = yaml.safe_load((ROOT / "config" / "defaults.yaml").read_text(encoding="utf-8"))
    built_in = _as_yaml_shape(asdict(Settings()))
    built_in["azure"].pop("client_secret")
    assert documented == built_in


def test_example_config_loads():
    s = load_settings(ROOT / "config" / "example.yaml", environ={})
    assert s.thresholds.log_analytics_retention_days == 730
    assert s.database.url.startswith("postgresql+psycopg://")
    assert len(s.azure.subscriptions) == 2


def write(tmp_path, text):
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_environment_overrides_file(tmp_path):
    path = write(tmp_path, "thresholds:\n  flow_log_retention_days: 120\n")
    env = {"SHOKO_THRESHOLDS_FLOW_LOG_RETENTION_DAYS": "180", "SHOKO_AZURE_SUBSCRIPTIONS": "a, b"}
    s = load_settings(path, environ=env)
    assert s.thresholds.flow_log_retention_days == 180
    assert s.azure.subscriptions == ("a", "b")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thresholds:\n  retention: 3\n", "unknown key 'thresholds.retention'"),
        ("thresholdz:\n  x: 1\n", "unknown section 'thresholdz'"),
        ("thresholds:\n  log_analytics_retention_days: many\n", "key 'thresholds.log_analytics_retention_days'"),
        ("thresholds:\n  exposed_ports: ['22', 'ssh']\n", "key 'thresholds.exposed_ports'"),
        ("thresholds:\n  trusted_sources: ['203.0.113.8/33']\n", "key 'thresholds.trusted_sources': '203.0.113.8/33'"),
        ("thresholds:\n  trusted_sources: [AzureCloud]\n", "key 'thresholds.trusted_sources': 'AzureCloud'"),
        ("thresholds:\n  trusted_sources: ['203.0.113.9/29']\n", "key 'thresholds.trusted_sources': '203.0.113.9/29'"),
        ("thresholds:\n  trusted_sources: ['0.0.0.0/0']\n", "key 'thresholds.trusted_sources': '0.0.0.0/0'"),
        ("thresholds:\n  allowed_regions: ['Japan-East']\n", "key 'thresholds.allowed_regions': 'Japan-East'"),
        ("thresholds:\n  allowed_regions: ['']\n", "key 'thresholds.allowed_regions': ''"),
        ("thresholds:\n  owner_tag: ''\n", "key 'thresholds.owner_tag': must name a tag"),
        ("azure:\n  client_secret: hunter2\n", "secrets are not read from files"),
        ("azure:\n  credential: client_secret\n", "key 'azure.tenant_id' is missing"),
        ("azure:\n  arm_base_url: http://127.0.0.1:1\n", "key 'azure.arm_base_url': must be an https:// URL"),
        ("collection:\n  max_workers: 0\n", "key 'collection.max_workers'"),
        ("thresholds: [1, 2\n", "not valid YAML"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message
    assert "hunter2" not in message


def test_secret_comes_from_environment_and_stays_out_of_repr_and_digest(tmp_path):
    path = write(tmp_path, "azure:\n  credential: client_secret\n  tenant_id: t\n  client_id: c\n")
    s = load_settings(path, environ={"SHOKO_AZURE_CLIENT_SECRET": "s3cr3t-value"})
    assert s.azure.client_secret == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(s)
    other = load_settings(path, environ={"SHOKO_AZURE_CLIENT_SECRET": "another"})
    assert s.digest() == other.digest()


def test_database_password_is_not_in_the_run_digest_or_error_lines(tmp_path, capsys):
    from collector.cli import main

    a = load_settings(None, environ={"SHOKO_DATABASE_URL": "postgresql+psycopg://app:first-pw@db/shoko"})
    b = load_settings(None, environ={"SHOKO_DATABASE_URL": "postgresql+psycopg://app:rotated-pw@db/shoko"})
    assert a.digest() == b.digest()  # rotating the password is not a configuration change
    bad = tmp_path / "agent.yaml"
    bad.write_text("database:\n  url: postgresql//app:hunter2@db/shoko\n", encoding="utf-8")
    assert main(["status", "--config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "not a database URL" in err and "hunter2" not in err


def test_trusted_sources_from_file_and_environment(tmp_path):
    path = write(tmp_path, "thresholds:\n  trusted_sources: ['203.0.113.8/29', '2001:db8:1::/48']\n")
    assert load_settings(path, environ={}).thresholds.trusted_sources == ("203.0.113.8/29", "2001:db8:1::/48")
    env = {"SHOKO_THRESHOLDS_TRUSTED_SOURCES": "198.51.100.0/28, 198.51.100.64/27"}
    assert load_settings(path, environ=env).thresholds.trusted_sources == ("198.51.100.0/28", "198.51.100.64/27")


def test_allowed_regions_take_arm_names_or_display_names(tmp_path):
    path = write(tmp_path, "thresholds:\n  allowed_regions: [japaneast, Japan West]\n  owner_tag: Owner\n")
    loaded = load_settings(path, environ={}).thresholds
    assert loaded.allowed_regions == ("japaneast", "Japan West") and loaded.owner_tag == "Owner"
    env = {"SHOKO_THRESHOLDS_ALLOWED_REGIONS": "japaneast"}
    assert load_settings(path, environ=env).thresholds.allowed_regions == ("japaneast",)


def test_a_directory_given_as_the_config_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"is a directory, not a config file"):
        load_settings(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thresholds:\n  production_subscriptions: [emr-prod]\n",
         "key 'thresholds.production_subscriptions': 'emr-prod' is not a subscription id (a GUID)"),
        ("thresholds:\n  environment_tag: ''\n", "key 'thresholds.environment_tag': must name a tag"),
        ("thresholds:\n  production_tag_values: []\n", "key 'thresholds.production_tag_values': must list one or more"),
        ("thresholds:\n  production_tag_values: [prod, ' ']\n", "key 'thresholds.production_tag_values'"),
    ],
)  # fmt: skip
def test_bad_production_rule_is_one_line_naming_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert expected in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_production_rule_from_file_and_environment(tmp_path):
    prod = "a8233bec-16ce-49d8-af36-5decabf6c438"
    path = write(tmp_path, f"thresholds:\n  production_subscriptions: ['{prod}']\n  environment_tag: Stage\n")
    loaded = load_settings(path, environ={}).thresholds
    assert loaded.production_subscriptions == (prod,) and loaded.environment_tag == "Stage"
    assert loaded.production_tag_values == ("prod", "production")
    env = {"SHOKO_THRESHOLDS_PRODUCTION_TAG_VALUES": "live, prd"}
    assert load_settings(path, environ=env).thresholds.production_tag_values == ("live", "prd")
