"""The `alerts` config section: channels and routes as lists of mappings, secrets only from the environment."""

from __future__ import annotations

import pytest
import yaml

from collector.settings import ConfigError, load_settings

TOKEN_URL = "https://prod-01.japaneast.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=S3CRETSIG"
WEBHOOK = {"name": "soc", "type": "webhook", "url_env": "SOC_URL", "hmac_key_env": "SOC_KEY"}
MAIL = {"name": "mail", "type": "email", "host": "smtp.example.jp", "username": "shoko", "password_env": "SMTP_PW",
        "from_address": "shoko@example.jp", "to_addresses": ["ops@example.jp"]}  # fmt: skip


def load(tmp_path, alerts, environ=None):
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({"alerts": alerts}, allow_unicode=True), encoding="utf-8")
    return path, load_settings(path, environ=environ or {})


def test_channels_routes_and_environment_overrides(tmp_path):
    _, s = load(
        tmp_path,
        {"channels": [WEBHOOK, MAIL], "routes": [{"requirements": [86, "148"], "channels": ["mail"]}],
         "reminder_hours": 12},
        environ={"SHOKO_ALERTS_REMINDER_HOURS": "6", "SHOKO_ALERTS_HIGH_SEVERITY_CHECKS": "storage-https-only"},
    )  # fmt: skip
    assert [c.name for c in s.alerts.channels] == ["soc", "mail"]
    assert s.alerts.channels[1].to_addresses == ("ops@example.jp",) and s.alerts.channels[1].port == 0
    assert s.alerts.routes[0].requirements == (86, 148)
    assert s.alerts.reminder_hours == 6 and s.alerts.high_severity_checks == ("storage-https-only",)


def test_the_settings_digest_holds_variable_names_not_secrets(tmp_path):
    _, a = load(tmp_path, {"channels": [WEBHOOK]}, environ={"SOC_URL": TOKEN_URL, "SOC_KEY": "k1"})
    _, b = load(tmp_path, {"channels": [WEBHOOK]}, environ={"SOC_URL": TOKEN_URL + "x", "SOC_KEY": "k2"})
    assert a.digest() == b.digest() and "S3CRETSIG" not in repr(a)


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        ({"channels": [{**WEBHOOK, "url": TOKEN_URL}]},
         "key 'alerts.channels[0].url': secrets are not read from files; put it in an environment variable and name "
         "that variable with 'url_env'"),
        ({"channels": [{**MAIL, "password": "S3CRETSIG"}]}, "key 'alerts.channels[0].password': secrets are not read"),
        ({"channels": [{**WEBHOOK, "hmac_key": "S3CRETSIG"}]}, "key 'alerts.channels[0].hmac_key': secrets are not"),
        ({"channels": [{**WEBHOOK, "url_env": TOKEN_URL}]}, "key 'alerts.channels[0].url_env': must name an envir"),
        ({"channels": [{**WEBHOOK, "url_env": [TOKEN_URL]}]}, "key 'alerts.channels[0].url_env': must name an envir"),
        ({"channels": {"soc": WEBHOOK}}, "key 'alerts.channels': expected a list of mappings"),
        ({"channels": [{**WEBHOOK, "colour": "red"}]}, "unknown key 'alerts.channels[0].colour'"),
        ({"channels": [{**WEBHOOK, "type": "pager"}]}, "key 'alerts.channels[0].type': must be one of webhook, teams"),
        ({"channels": [{"name": "t", "type": "teams"}]}, "key 'alerts.channels[0].url_env': a teams channel names"),
        ({"channels": [{**WEBHOOK, "hmac_key_env": None}]}, "key 'alerts.channels[0].hmac_key_env': a webhook channel"),
        ({"channels": [WEBHOOK, WEBHOOK]}, "key 'alerts.channels[1].name': channel name 'soc' is used twice"),
        ({"channels": [{**WEBHOOK, "host": "smtp.example.jp"}]}, "key 'alerts.channels[0].host': applies to email"),
        ({"channels": [{**MAIL, "tls": "none"}]}, "key 'alerts.channels[0].tls': SMTP AUTH without TLS"),
        ({"channels": [{**MAIL, "password_env": None}]}, "key 'alerts.channels[0].password_env': username and"),
        ({"channels": [{**MAIL, "to_addresses": []}]}, "key 'alerts.channels[0].to_addresses': an email channel needs"),
        ({"channels": [{**MAIL, "port": 70000}]}, "key 'alerts.channels[0].port': must be 0-65535"),
        ({"channels": [{**MAIL, "ca_file": "/nonexistent/ca.pem"}]}, "key 'alerts.channels[0].ca_file': file not"),
        ({"channels": [WEBHOOK], "routes": [{"channels": ["teams"]}]},
         "key 'alerts.routes[0].channels': no channel named 'teams' (channels: soc)"),
        ({"channels": [WEBHOOK], "routes": [{"channels": ["soc"], "checks": ["nsg-typo"]}]},
         "key 'alerts.routes[0].checks': unknown check id 'nsg-typo'"),
        ({"channels": [WEBHOOK], "routes": [{"channels": ["soc"], "requirements": [999]}]},
         "key 'alerts.routes[0].requirements': No 999 is not a requirement number"),
        ({"channels": [WEBHOOK], "routes": [{"channels": ["soc"], "requirements": ["No 86"]}]},
         "key 'alerts.routes[0].requirements': expected a list of whole numbers"),
        ({"channels": [WEBHOOK], "routes": [{"channels": ["soc"], "min_severity": "urgent"}]},
         "key 'alerts.routes[0].min_severity': must be one of info, low, medium, high"),
        ({"retry_initial_seconds": 60, "retry_max_seconds": 30}, "key 'alerts.retry_max_seconds': must not be less"),
        ({"give_up_hours": 0}, "key 'alerts.give_up_hours': must be at least 1"),
    ],
)  # fmt: skip
def test_bad_alert_config_is_one_line_naming_the_key_and_never_echoes_a_secret(tmp_path, alerts, expected):
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({"alerts": alerts}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message
    assert "S3CRETSIG" not in message and "logic.azure.com" not in message


def test_channels_cannot_come_from_the_environment(tmp_path):
    # Lists of mappings are file-only; an environment variable of that name is not read at all.
    s = load_settings(None, environ={"SHOKO_ALERTS_CHANNELS": TOKEN_URL})
    assert s.alerts.channels == ()
