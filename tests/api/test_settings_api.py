"""The `api:` section of the config: defaults, and one line naming the key for each bad value."""

from __future__ import annotations

import pytest

from collector.settings import ConfigError, load_settings


def test_defaults_listen_on_loopback_without_tls_or_hsts():
    api = load_settings(None, environ={}).api
    assert (api.listen_host, api.listen_port, api.tls_cert_file, api.hsts, api.with_agent) == (
        "127.0.0.1",
        8080,
        None,
        False,
        False,
    )
    assert (api.auth_failure_limit, api.auth_failure_window_seconds, api.max_page_size) == (10, 300, 500)
    assert api.max_upload_bytes == 10 * 1024 * 1024
    assert api.upload_media_types == ("application/pdf", "image/png", "image/jpeg", "text/plain")


def test_environment_overrides(tmp_path):
    key = tmp_path / "signing.key"
    key.write_text("x", encoding="utf-8")
    env = {"SHOKO_API_LISTEN_PORT": "9443", "SHOKO_API_SIGNING_KEY_FILE": str(key), "SHOKO_API_HSTS": "true"}
    api = load_settings(None, environ=env).api
    assert (api.listen_port, api.signing_key_file, api.hsts) == (9443, str(key), True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api:\n  listen_port: 70000\n", "config.yaml: key 'api.listen_port': must be 0-65535, got 70000"),
        ("api:\n  tls_cert_file: /etc/hosts\n", "key 'api.tls_cert_file' and 'api.tls_key_file': give both or neither"),
        ("api:\n  signing_key_file: /nonexistent/k\n", "key 'api.signing_key_file': file not found: /nonexistent/k"),
        ("api:\n  auth_failure_limit: 0\n", "key 'api.auth_failure_limit': must be at least 1"),
        ("api:\n  auth_failure_window_seconds: 0\n", "key 'api.auth_failure_window_seconds': must be at least 1"),
        ("api:\n  max_page_size: 0\n", "key 'api.max_page_size': must be 1-10000, got 0"),
        ("api:\n  trusted_proxies: [proxy.local]\n", "key 'api.trusted_proxies': 'proxy.local' is not an IP address"),
        ("api:\n  port: 1\n", "unknown key 'api.port'"),
        ("api:\n  max_upload_bytes: 0\n", "key 'api.max_upload_bytes': must be 1-20971520, got 0"),
        ("api:\n  max_upload_bytes: 20971521\n", "key 'api.max_upload_bytes': must be 1-20971520, got 20971521"),
        ("api:\n  upload_media_types: [text/html]\n", "key 'api.upload_media_types': 'text/html' is not a document"),
    ],
)
def test_bad_values_are_one_line(tmp_path, text, expected):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert expected in str(caught.value) and "\n" not in str(caught.value)
