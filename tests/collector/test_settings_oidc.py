"""api.oidc settings: a nested section from the file and SHOKO_API_OIDC_* variables, validated only when enabled,
each problem one line naming the key; secrets never from the file."""

from __future__ import annotations

import pytest

from collector.settings import ConfigError, load_settings

TENANT = "c789e719-364a-4a28-aff9-0db8d2f428d5"
CLIENT = "5f57f493-9719-4067-82a0-99a6577277e4"
GOOD = f"""api:
  oidc:
    enabled: true
    tenant_id: {TENANT}
    client_id: {CLIENT}
    redirect_uri: https://shoko.example.jp/auth/callback
"""


def write(tmp_path, text):
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_disabled_by_default_and_not_validated():
    s = load_settings(None, environ={})
    assert s.api.oidc.enabled is False and s.api.oidc.admin_roles == ("Shoko.Admin",)


def test_file_then_environment(tmp_path):
    env = {"SHOKO_API_OIDC_ADMIN_ROLES": "Kanri, Shoko.Admin", "SHOKO_API_OIDC_SESSION_MINUTES": "60"}
    s = load_settings(write(tmp_path, GOOD), environ=env)
    o = s.api.oidc
    assert (o.enabled, o.tenant_id, o.client_id) == (True, TENANT, CLIENT)
    assert o.admin_roles == ("Kanri", "Shoko.Admin") and o.session_minutes == 60
    assert o.client_secret_env == "SHOKO_OIDC_CLIENT_SECRET"
    assert load_settings(None, environ={"SHOKO_API_OIDC_CLIENT_ID": CLIENT}).api.oidc.client_id == CLIENT


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("    client_secret: hunter2\n", "key 'api.oidc.client_secret': secrets are not read from config files"),
        ("    session_key: abc\n", "key 'api.oidc.session_key': secrets are not read from config files"),
        ("    clientid: x\n", "unknown key 'api.oidc.clientid'"),
        (
            "    tenant_id: contoso.onmicrosoft.com\n",
            "key 'api.oidc.tenant_id': 'contoso.onmicrosoft.com' is not a GUID",
        ),
        ("    redirect_uri: http://shoko.example.jp/auth/callback\n", "key 'api.oidc.redirect_uri': must be the https"),
        ("    authority: http://login.microsoftonline.com\n", "key 'api.oidc.authority'"),
        ("    scopes: [profile]\n", "key 'api.oidc.scopes': must include openid"),
        ("    operator_roles: [Shoko.Admin]\n", "key 'api.oidc.admin_roles': app role 'Shoko.Admin' is also in"),
        ("    auditor_roles: []\n", "key 'api.oidc.auditor_roles': list one or more"),
        ("    clock_skew_seconds: 900\n", "key 'api.oidc.clock_skew_seconds': at most 300"),
        ("    ca_bundle: /nonexistent/ca.pem\n", "key 'api.oidc.ca_bundle': file not found"),
        ("    client_secret_env: null\n", "key 'api.oidc.client_secret_env'"),
        ("    session_minutes: 0\n", "key 'api.oidc.session_minutes'"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(tmp_path, extra, expected):
    with pytest.raises(ConfigError) as e:
        load_settings(write(tmp_path, GOOD + extra), environ={})
    assert expected in str(e.value) and "\n" not in str(e.value)
    assert "hunter2" not in str(e.value)


def test_missing_client_id_when_enabled(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'api\.oidc\.client_id' is missing"):
        load_settings(write(tmp_path, "api:\n  oidc:\n    enabled: true\n    tenant_id: " + TENANT + "\n"), environ={})


def test_loopback_http_redirect_is_allowed(tmp_path):
    text = GOOD.replace("https://shoko.example.jp/auth/callback", "http://127.0.0.1:8000/auth/callback")
    assert load_settings(write(tmp_path, text), environ={}).api.oidc.redirect_uri.startswith("http://127.0.0.1")


def test_oidc_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'api\.oidc': expected a mapping"):
        load_settings(write(tmp_path, "api:\n  oidc: yes\n"), environ={})
