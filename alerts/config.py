"""Validation of the `alerts` config section, and the severity scale.

The section's typed form lives in collector/settings.py (`AlertSettings`, `ChannelSettings`,
`RouteSettings`); this module checks what the loader cannot: channel types and the keys each type
needs, environment-variable names for every secret, routes naming known channels and checks. A
problem is one `ConfigError` line naming the key; a value that might be a secret is never echoed.
"""

from __future__ import annotations

import re
from pathlib import Path

from collector.settings import AlertSettings, ChannelSettings, ConfigError

SEVERITIES = ("info", "low", "medium", "high")  # lowest first
CHANNEL_TYPES = ("webhook", "teams", "slack", "email")
EMAIL_TLS = ("starttls", "smtps", "none")
DEFAULT_SMTP_PORTS = {"starttls": 587, "smtps": 465, "none": 25}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+")
_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")
_HTTP_KEYS = ("url_env",)
_EMAIL_ONLY = ("host", "username", "password_env", "from_address")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def smtp_port(channel: ChannelSettings) -> int:
    return channel.port or DEFAULT_SMTP_PORTS[channel.tls]


def validate_alerts(alerts: AlertSettings, where: str) -> None:
    from controls.catalog import FIRST_NO, LAST_NO
    from controls.checks import CHECKS_BY_ID

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{where}: key 'alerts.{key}': {problem}")

    names: set[str] = set()
    for index, channel in enumerate(alerts.channels):
        _validate_channel(channel, f"channels[{index}]", fail)
        if channel.name in names:
            raise fail(f"channels[{index}].name", f"channel name {channel.name!r} is used twice")
        names.add(channel.name)
    for index, route in enumerate(alerts.routes):
        key = f"routes[{index}]"
        if not route.channels:
            raise fail(f"{key}.channels", "a route names at least one channel")
        for name in route.channels:
            if name not in names:
                known = ", ".join(sorted(names)) or "none"
                raise fail(f"{key}.channels", f"no channel named {name!r} (channels: {known})")
        for number in route.requirements:
            if not FIRST_NO <= number <= LAST_NO:
                raise fail(f"{key}.requirements", f"No {number} is not a requirement number ({FIRST_NO}–{LAST_NO})")
        for check_id in route.checks:
            if check_id not in CHECKS_BY_ID:
                raise fail(f"{key}.checks", f"unknown check id {check_id!r} (see `shoko checks`)")
        if route.min_severity not in SEVERITIES:
            raise fail(f"{key}.min_severity", f"must be one of {', '.join(SEVERITIES)}, got {route.min_severity!r}")
    for check_id in alerts.high_severity_checks:
        if check_id not in CHECKS_BY_ID:
            raise fail("high_severity_checks", f"unknown check id {check_id!r} (see `shoko checks`)")
    for key in ("retry_initial_seconds", "retry_max_seconds", "give_up_hours", "max_items", "timeout_seconds"):
        if getattr(alerts, key) < 1:
            raise fail(key, "must be at least 1")
    if alerts.attestation_warning_days < 0:
        raise fail("attestation_warning_days", "must be 0 (never) or more days")
    if alerts.retry_max_seconds < alerts.retry_initial_seconds:
        raise fail("retry_max_seconds", "must not be less than retry_initial_seconds")


def _validate_channel(channel: ChannelSettings, key: str, fail) -> None:  # type: ignore[no-untyped-def]
    if not _NAME.fullmatch(channel.name or ""):
        raise fail(f"{key}.name", "each channel needs a name of letters, digits, '.', '_' or '-'")
    if channel.type not in CHANNEL_TYPES:
        raise fail(f"{key}.type", f"must be one of {', '.join(CHANNEL_TYPES)}, got {channel.type!r}")
    for env_key in ("url_env", "hmac_key_env", "password_env"):
        value = getattr(channel, env_key)
        if value is not None and not _ENV_NAME.fullmatch(value):
            # Never echoed: someone may have pasted the secret itself here.
            raise fail(
                f"{key}.{env_key}",
                "must name an environment variable (e.g. SHOKO_ALERT_TEAMS_URL); the secret itself is never "
                "read from a file",
            )
    if channel.ca_file and not Path(channel.ca_file).is_file():
        raise fail(f"{key}.ca_file", f"file not found: {channel.ca_file}")
    if channel.type == "email":
        _validate_email(channel, key, fail)
        return
    if not channel.url_env:
        raise fail(f"{key}.url_env", f"a {channel.type} channel names the environment variable holding its URL")
    if channel.type == "webhook" and not channel.hmac_key_env:
        raise fail(f"{key}.hmac_key_env", "a webhook channel signs its body: name the variable holding the HMAC key")
    if channel.type != "webhook" and channel.hmac_key_env:
        raise fail(f"{key}.hmac_key_env", "applies to webhook channels only")
    for other in (*_EMAIL_ONLY, "to_addresses"):
        if getattr(channel, other):
            raise fail(f"{key}.{other}", "applies to email channels only")
    if channel.port:
        raise fail(f"{key}.port", "applies to email channels only")


def _validate_email(channel: ChannelSettings, key: str, fail) -> None:  # type: ignore[no-untyped-def]
    for other in ("url_env", "hmac_key_env"):
        if getattr(channel, other):
            raise fail(f"{key}.{other}", "does not apply to email channels")
    if not channel.host or not _HOST.fullmatch(channel.host):
        raise fail(f"{key}.host", "an email channel needs the SMTP server's host name or address")
    if channel.port > 65535:
        raise fail(f"{key}.port", f"must be 0-65535, got {channel.port}")
    if channel.tls not in EMAIL_TLS:
        raise fail(f"{key}.tls", f"must be one of {', '.join(EMAIL_TLS)}, got {channel.tls!r}")
    if not channel.from_address or not _ADDRESS.fullmatch(channel.from_address):
        raise fail(f"{key}.from_address", "an email channel needs one sender address such as shoko@example.jp")
    if not channel.to_addresses:
        raise fail(f"{key}.to_addresses", "an email channel needs at least one recipient")
    for address in channel.to_addresses:
        if not _ADDRESS.fullmatch(address):
            raise fail(f"{key}.to_addresses", f"{address!r} is not one mail address")
    if bool(channel.username) != bool(channel.password_env):
        missing = f"{key}.password_env" if channel.username else f"{key}.username"
        raise fail(missing, "username and password_env go together")
    if channel.username and channel.tls == "none":
        raise fail(f"{key}.tls", "SMTP AUTH without TLS would send the password in clear; use starttls or smtps")
