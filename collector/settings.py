"""Agent settings: one YAML file, then SHOKO_* environment overrides, validated into typed settings.

The built-in defaults are the dataclass defaults below; config/defaults.yaml documents the same values
(a test keeps the two equal). Any problem becomes one `ConfigError` line naming the key.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from controls.model import Thresholds, sha256_of

SECRET_ENV = "SHOKO_AZURE_CLIENT_SECRET"


# Where environment overrides come from in messages; only there is a comma-separated string a list.
ENVIRONMENT = "environment"


class ConfigError(ValueError):
    """A bad configuration: the message is one line naming where and what."""

    def __init__(self, message: str) -> None:
        # A YAML parser's problem text, or a key quoted from the file, may hold line breaks.
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///shoko-data/shoko.db"


@dataclass(frozen=True)
class AzureSettings:
    credential: str = "default"  # "default" | "client_secret"
    tenant_id: str | None = None
    client_id: str | None = None
    arm_base_url: str = "https://management.azure.com"
    authority: str = "https://login.microsoftonline.com"
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    ca_bundle: str | None = None
    subscriptions: tuple[str, ...] = ()
    # Only ever from the environment (or a sandbox info file); excluded from repr and digests.
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CollectionSettings:
    max_workers: int = 16
    # Retries of one call on 408/429/5xx, each after the service's Retry-After (or exponential back-off).
    max_retries: int = 8
    # Seconds one HTTP call may take to connect, and again to answer, before it counts as failed (and is retried).
    call_timeout_seconds: int = 60
    # A run's collection ends this many seconds after it starts: a Retry-After reaching past it is not waited out,
    # and calls not yet made by then are collection errors (RunDeadlineExceeded), so a throttled or endlessly
    # paging Azure ends the run with errors instead of holding it for hours.
    run_deadline_seconds: int = 1800
    # ARM's read budget per subscription, which the collector keeps to itself (collector/pacing.py): a burst of
    # this many reads, then this many a second. ARM's documented bucket is 250 and 25 a second per subscription
    # and principal; lower them when other tools read with the same identity.
    arm_reads_burst: int = 250
    arm_reads_per_second: int = 25
    # Read each VM's clock with VM Run Command (a POST that runs chronyc / w32tm inside the VM); off unless
    # the collector's role has Microsoft.Compute/virtualMachines/runCommand/action.
    time_sync_run_command: bool = False
    # Read the child resources Azure Resource Graph holds in ARM's shape (VM extensions, data collection rule
    # associations, web app slots, SQL databases) with one query per subscription instead of one ARM listing per
    # parent (collector/fetchers/resource_graph.py). Needs Microsoft.ResourceGraph/resources/read (Reader has it);
    # a failed query falls back to ARM.
    resource_graph: bool = True


@dataclass(frozen=True)
class GuidelineSettings:
    # The bar passing findings are held to: "mhlw6" (MHLW guideline 6.0: e.g. a TLS 1.2 minimum needs a
    # recorded justification) or "meti2012" (the 2012 METI guideline's reading). See controls/profiles.py.
    profile: str = "mhlw6"


@dataclass(frozen=True)
class AgentSettings:
    # Full collections: "every 1h", "every 90s", or a 5-field cron expression in UTC ("0 * * * *").
    schedule: str = "every 1h"
    # Faster collections of chosen fact kinds, each "KIND[+KIND...]=SCHEDULE", e.g.
    # "network_security_group=every 10m"; such a run judges only the checks those kinds decide.
    partial_schedules: tuple[str, ...] = ()
    # /healthz, /readyz and /metrics; port 0 serves nothing.
    listen_host: str = "127.0.0.1"
    listen_port: int = 9464
    # On SIGTERM the current run may finish for this long; then it is sealed interrupted.
    shutdown_grace_seconds: int = 30
    # A running collection renews its lease this often; a lease not renewed for 3 periods is abandoned.
    lease_seconds: int = 15
    # Several agents on one PostgreSQL database share each run: they split its subscriptions, re-claim those of a
    # replica that died, and one of them judges and seals the run (collector/shared_work.py, docs/replicas.md).
    replicas: bool = False
    # With replicas: the subscriptions one replica collects at once, and how many times a subscription is claimed
    # (replicas dying or stalling on it) before it is stored as a collection error.
    replica_items: int = 4
    replica_attempts: int = 3


@dataclass(frozen=True)
class ChannelSettings:
    """One alert channel. Its secret (URL with token, HMAC key, password) is only ever read from the
    environment variable the `*_env` keys name; see config/defaults.yaml."""

    name: str = ""
    type: str = ""  # webhook | teams | slack | email
    url_env: str | None = None  # webhook, teams, slack: the variable holding the URL
    hmac_key_env: str | None = None  # webhook: the variable holding the HMAC-SHA256 key
    ca_file: str | None = None  # CA bundle to trust (null = the system's)
    host: str | None = None  # email: SMTP server
    port: int = 0  # email: 0 = 587 for starttls, 465 for smtps, 25 for none
    tls: str = "starttls"  # email: starttls | smtps | none
    username: str | None = None  # email: SMTP AUTH user
    password_env: str | None = None  # email: the variable holding the SMTP password
    from_address: str | None = None  # email
    to_addresses: tuple[str, ...] = ()  # email


@dataclass(frozen=True)
class RouteSettings:
    """Which channels get which alerts: every filter given must match (requirement numbers, check ids)."""

    channels: tuple[str, ...] = ()
    requirements: tuple[int, ...] = field(default=(), metadata={"of": int})
    checks: tuple[str, ...] = ()
    min_severity: str = "info"


@dataclass(frozen=True)
class AlertSettings:
    channels: tuple[ChannelSettings, ...] = field(default=(), metadata={"items": ChannelSettings})
    # Empty: every alert goes to every channel.
    routes: tuple[RouteSettings, ...] = field(default=(), metadata={"items": RouteSettings})
    # A new failure of these checks is severity high (others: medium).
    high_severity_checks: tuple[str, ...] = (
        "nsg-no-internet-management-ports",
        "privileged-role-principal-exists",
        "custom-role-no-broad-actions",
    )
    # An alert still open this long after it was last sent is sent again as a reminder; 0 = never.
    reminder_hours: int = 24
    # A valid attestation this many days from its valid_until is alerted once (medium); 0 = never.
    attestation_warning_days: int = 30
    # Failed deliveries are retried after retry_initial_seconds, doubling up to retry_max_seconds ...
    retry_initial_seconds: int = 30
    retry_max_seconds: int = 1800
    # ... and given up (counted and logged) once the next try would be this long after the alert was written.
    give_up_hours: int = 24
    # One message lists at most this many items and counts the rest.
    max_items: int = 50
    timeout_seconds: int = 10


@dataclass(frozen=True)
class OidcSettings:
    """People's sign-in to the dashboard with Entra ID (OpenID Connect, authorization code + PKCE). The client
    secret and the session key are read only from the environment variable or file named here."""

    enabled: bool = False
    tenant_id: str | None = None  # directory (tenant) id, a GUID
    client_id: str | None = None  # the app registration's Application (client) ID
    authority: str = "https://login.microsoftonline.com"
    redirect_uri: str | None = None  # https://shoko.example.jp/auth/callback, registered as a Web redirect URI
    client_secret_env: str | None = "SHOKO_OIDC_CLIENT_SECRET"
    client_secret_file: str | None = None  # e.g. a mounted secret; used when the variable is unset
    ca_bundle: str | None = None  # CA bundle to trust for the authority (null = the system's)
    scopes: tuple[str, ...] = ("openid", "profile")
    # App role values (the id_token's `roles`) that make a shoko role; the highest held wins, none is refused.
    auditor_roles: tuple[str, ...] = ("Shoko.Auditor",)
    operator_roles: tuple[str, ...] = ("Shoko.Operator",)
    admin_roles: tuple[str, ...] = ("Shoko.Admin",)
    clock_skew_seconds: int = 60  # leeway for exp / nbf / iat of the id_token
    timeout_seconds: int = 10
    session_minutes: int = 480  # a signed-in session lasts this long, then sign in again
    session_key_env: str | None = "SHOKO_SESSION_KEY"  # at least 32 characters; signs and encrypts the cookies
    session_key_file: str | None = None


@dataclass(frozen=True)
class ApiSettings:
    """`shoko serve`: the read API (api/)."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    # TLS served by shoko itself (both files, PEM); null: plain HTTP, e.g. behind a TLS-terminating proxy.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    # Send Strict-Transport-Security on every response (set it behind a TLS-terminating proxy); with
    # tls_cert_file it is always sent.
    hsts: bool = False
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses); empty: none.
    trusted_proxies: tuple[str, ...] = ()
    # A client that fails to authenticate this many times within the window gets 429 until it passes.
    auth_failure_limit: int = 10
    auth_failure_window_seconds: int = 300
    # The most rows one page of a list may hold (?limit=).
    max_page_size: int = 500
    # Documents uploaded with an attestation (POST /api/v1/attestations, the dashboard's form): the most
    # bytes one file may have (at most 20 MiB, the ledger's limit), and the media types accepted.
    max_upload_bytes: int = 10 * 1024 * 1024
    upload_media_types: tuple[str, ...] = ("application/pdf", "image/png", "image/jpeg", "text/plain")
    # The snapshot download's signing key; null: $SHOKO_SIGNING_KEY_FILE, else $SHOKO_SIGNING_KEY.
    signing_key_file: str | None = None
    # `shoko agent` also serves the API (on listen_host:listen_port, beside its health port).
    with_agent: bool = False
    # People's sign-in to the dashboard (api/oidc.py).
    oidc: OidcSettings = field(default_factory=OidcSettings, metadata={"section": OidcSettings})


@dataclass(frozen=True)
class LedgerSettings:
    """Signing each sealed run and publishing its signed digest outside the database (storage/signatures.py,
    storage/anchors.py). The private key is never read from this file."""

    # Sign every run sealed by `shoko collect` and the agent with the installation's Ed25519 key.
    sign_runs: bool = False
    # The private key (PEM); null: $SHOKO_SIGNING_KEY_FILE, else the PEM text in $SHOKO_SIGNING_KEY.
    signing_key_file: str | None = None
    # The key `shoko verify` holds every run signature to: the public key file, or its fingerprint.
    public_key_file: str | None = None
    fingerprint: str | None = None
    # Publish each signed digest (its anchor): append it to this JSON-lines file ...
    anchors_file: str | None = None
    # ... and post it to these alert channels (type webhook, alerts.channels) ...
    anchor_channels: tuple[str, ...] = ()
    # ... and write it as one blob per run, never overwritten, to this Azure Blob container (give both; a container
    # with a locked time-based immutability policy), with the `azure` credential: the account's blob endpoint
    # (https://<account>.blob.core.windows.net) and the container's name.
    anchors_blob_account_url: str | None = None
    anchors_blob_container: str | None = None


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    azure: AzureSettings = field(default_factory=AzureSettings)
    collection: CollectionSettings = field(default_factory=CollectionSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    guideline: GuidelineSettings = field(default_factory=GuidelineSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    ledger: LedgerSettings = field(default_factory=LedgerSettings)

    def digest(self) -> str:
        """SHA-256 of the effective settings without secrets, stored with each run."""
        from storage.ledger import redact_url

        data = asdict(self)
        data["azure"].pop("client_secret", None)
        data["database"]["url"] = redact_url(self.database.url)
        return sha256_of(json.loads(json.dumps(data, default=str)))


_SECTIONS: dict[str, type] = {
    "database": DatabaseSettings,
    "azure": AzureSettings,
    "collection": CollectionSettings,
    "thresholds": Thresholds,
    "guideline": GuidelineSettings,
    "agent": AgentSettings,
    "alerts": AlertSettings,
    "api": ApiSettings,
    "ledger": LedgerSettings,
}
_NOT_FROM_FILE = {("azure", "client_secret")}
# Secrets that have no key at all: the message says where they go instead.
_SECRET_KEYS = {
    ("api.oidc", "client_secret"): "client_secret_env or client_secret_file",
    ("api.oidc", "session_key"): "session_key_env or session_key_file",
    ("ledger", "signing_key"): "signing_key_file, $SHOKO_SIGNING_KEY_FILE or $SHOKO_SIGNING_KEY",
    ("ledger", "private_key"): "signing_key_file, $SHOKO_SIGNING_KEY_FILE or $SHOKO_SIGNING_KEY",
}


# ASCII digits: str.isdigit() is true of "²", which int() refuses.
_DIGITS = re.compile(r"[0-9]+")


def _coerce(where: str, value: Any, default: Any, key: str) -> Any:
    """Convert a YAML or environment value to the type of the field's default."""
    if isinstance(default, tuple):
        if isinstance(value, str) and where == ENVIRONMENT:  # SHOKO_..._ALLOWED_REGIONS="japaneast, japanwest"
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str | int) for v in value):
            raise ConfigError(f"{where}: key '{key}': expected a list of strings, got {value!r}")
        return tuple(str(v) for v in value)
    if isinstance(default, bool):
        if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: key '{key}': expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, str) and _DIGITS.fullmatch(value.strip().removeprefix("-")):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}: key '{key}': expected a whole number >= 0, got {value!r}")
        return value
    if value is None:
        return None
    if not isinstance(value, str | int):
        raise ConfigError(f"{where}: key '{key}': expected a string, got {value!r}")
    return str(value)


def _apply(section: Any, name: str, values: Mapping[str, Any], where: str, secrets_ok: bool) -> Any:
    known = {f.name: f for f in fields(section)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{name}.{key}"
        if (name, key) in _SECRET_KEYS:
            raise ConfigError(
                f"{where}: key '{dotted}': secrets are not read from config files; name the environment variable "
                f"or secret file with {_SECRET_KEYS[name, key]}"
            )
        if key not in known:
            raise ConfigError(f"{where}: unknown key '{dotted}' (known: {', '.join(sorted(known))})")
        if (name, key) in _NOT_FROM_FILE and not secrets_ok:
            raise ConfigError(f"{where}: key '{dotted}': secrets are not read from files; set {SECRET_ENV}")
        changes[key] = _coerce_field(where, value, known[key], getattr(section, key), dotted)
    return replace(section, **changes)


# Keys that would put an alert channel's secret into a file: refused, without echoing the value.
_SECRET_ITEM_KEYS = {"url": "url_env", "webhook_url": "url_env", "hmac_key": "hmac_key_env", "password": "password_env"}


def _coerce_field(where: str, value: Any, f: Any, default: Any, key: str) -> Any:
    """A field's value: a list of mappings (metadata "items"), a list of whole numbers (metadata "of"), or
    a scalar/list of strings (`_coerce`)."""
    section_cls = f.metadata.get("section")
    if section_cls is not None:  # a nested section such as api.oidc
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: key '{key}': expected a mapping")
        return _apply(default, key, value, where, secrets_ok=False)
    item_cls = f.metadata.get("items")
    if item_cls is not None:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise ConfigError(f"{where}: key '{key}': expected a list of mappings")
        items = []
        for index, item in enumerate(value):
            for secret, instead in _SECRET_ITEM_KEYS.items():
                if secret in item:
                    raise ConfigError(
                        f"{where}: key '{key}[{index}].{secret}': secrets are not read from files; put it in an "
                        f"environment variable and name that variable with '{instead}'"
                    )
            items.append(_apply(item_cls(), f"{key}[{index}]", item, where, secrets_ok=False))
        return tuple(items)
    if f.metadata.get("of") is int:
        values = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        if not isinstance(values, list | tuple) or not all(
            (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and bool(_DIGITS.fullmatch(v)))
            for v in values
        ):
            raise ConfigError(f"{where}: key '{key}': expected a list of whole numbers, got {value!r}")
        return tuple(int(v) for v in values)
    if key.endswith("_env") and value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: key '{key}': must name an environment variable")
    return _coerce(where, value, default, key)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, cls in _SECTIONS.items():
        for f in fields(cls):
            if "items" in f.metadata:  # lists of mappings (alert channels, routes) come from the file only
                continue
            if "section" in f.metadata:  # SHOKO_API_OIDC_CLIENT_ID -> api.oidc.client_id
                for sub in fields(f.metadata["section"]):
                    env = f"SHOKO_{name}_{f.name}_{sub.name}".upper()
                    if env in environ:
                        out.setdefault(name, {}).setdefault(f.name, {})[sub.name] = environ[env]
                continue
            env = f"SHOKO_{name}_{f.name}".upper()
            if env in environ:
                out.setdefault(name, {})[f.name] = environ[env]
    return out


# The range of every whole-number setting outside `thresholds` (whose ranges are controls.model.THRESHOLD_LIMITS);
# a test keeps both tables covering every such field. Wide enough for any real deployment, narrow enough that a
# typo such as 1e20 retries is refused rather than obeyed.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "collection.max_workers": (1, 256),
    "collection.max_retries": (0, 20),
    "collection.call_timeout_seconds": (1, 3600),
    "collection.run_deadline_seconds": (1, 86400),
    "collection.arm_reads_burst": (1, 100000),
    "collection.arm_reads_per_second": (1, 10000),
    "agent.listen_port": (0, 65535),
    "agent.shutdown_grace_seconds": (0, 3600),
    "agent.lease_seconds": (1, 3600),
    "agent.replica_items": (1, 64),
    "agent.replica_attempts": (1, 20),
    "alerts.channels.port": (0, 65535),
    "alerts.reminder_hours": (0, 8760),
    "alerts.attestation_warning_days": (0, 365),
    "alerts.retry_initial_seconds": (1, 86400),
    "alerts.retry_max_seconds": (1, 86400),
    "alerts.give_up_hours": (1, 8760),
    "alerts.max_items": (1, 1000),
    "alerts.timeout_seconds": (1, 600),
    "api.listen_port": (0, 65535),
    "api.auth_failure_limit": (1, 10000),
    "api.auth_failure_window_seconds": (1, 86400),
    "api.max_page_size": (1, 10000),
    "api.max_upload_bytes": (1, 20 * 1024 * 1024),
    "api.oidc.clock_skew_seconds": (0, 300),
    "api.oidc.timeout_seconds": (1, 600),
    "api.oidc.session_minutes": (1, 10080),
}


def _int_settings(s: Settings) -> list[tuple[str, str, int, tuple[int, int] | None]]:
    """(key shown, bounds key, value, bounds) of every whole-number setting; a channel's port once per channel."""
    from controls.model import THRESHOLD_LIMITS

    out = []

    def walk(obj: Any, dotted: str, bounds_key: str) -> None:
        for f in fields(obj):
            value = getattr(obj, f.name)
            if "section" in f.metadata:
                walk(value, f"{dotted}.{f.name}", f"{bounds_key}.{f.name}")
            elif "items" in f.metadata:
                for index, item in enumerate(value):
                    walk(item, f"{dotted}.{f.name}[{index}]", f"{bounds_key}.{f.name}")
            elif isinstance(value, int) and not isinstance(value, bool):
                key = f"{bounds_key}.{f.name}"
                bounds = THRESHOLD_LIMITS[f.name].bounds if bounds_key == "thresholds" else INT_BOUNDS.get(key)
                out.append((f"{dotted}.{f.name}", key, value, bounds))

    for name in _SECTIONS:
        walk(getattr(s, name), name, name)
    return out


def _validate_bounds(s: Settings, where: str) -> None:
    for shown, _, value, bounds in _int_settings(s):
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            raise ConfigError(f"{where}: key '{shown}': must be {bounds[0]}-{bounds[1]}, got {value}")


def _validate(s: Settings, where: str) -> None:
    from controls.profiles import PROFILES

    if s.guideline.profile not in PROFILES:
        raise ConfigError(
            f"{where}: key 'guideline.profile': must be one of {', '.join(PROFILES)}, got {s.guideline.profile!r}"
        )
    if s.azure.credential not in ("default", "client_secret"):
        raise ConfigError(
            f"{where}: key 'azure.credential': must be 'default' or 'client_secret', got {s.azure.credential!r}"
        )
    if s.azure.credential == "client_secret":
        for key in ("tenant_id", "client_id", "client_secret"):
            if not getattr(s.azure, key):
                hint = f"set {SECRET_ENV}" if key == "client_secret" else "required with credential client_secret"
                raise ConfigError(f"{where}: key 'azure.{key}' is missing ({hint})")
    for key in ("arm_base_url", "authority", "graph_base_url"):
        if not str(getattr(s.azure, key)).startswith("https://"):
            raise ConfigError(f"{where}: key 'azure.{key}': must be an https:// URL")
    if s.azure.ca_bundle and not Path(s.azure.ca_bundle).is_file():
        raise ConfigError(f"{where}: key 'azure.ca_bundle': file not found: {s.azure.ca_bundle}")
    if s.collection.max_workers < 1:
        raise ConfigError(f"{where}: key 'collection.max_workers': must be at least 1")
    _validate_agent(s.agent, where)
    if s.agent.replicas and not s.database.url.startswith("postgresql"):
        raise ConfigError(
            f"{where}: key 'agent.replicas': replicas share a run through PostgreSQL (they claim its subscriptions "
            "with SELECT ... FOR UPDATE SKIP LOCKED); set database.url to a postgresql:// URL, or agent.replicas "
            "to false"
        )
    _validate_api(s.api, where)
    _validate_oidc(s.api.oidc, where)
    _validate_ledger(s, where)
    from alerts.config import validate_alerts

    validate_alerts(s.alerts, where)
    for sub in s.thresholds.production_subscriptions:
        if not re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", sub.strip()):
            raise ConfigError(
                f"{where}: key 'thresholds.production_subscriptions': {sub!r} is not a subscription id (a GUID)"
            )
    if not s.thresholds.environment_tag or not s.thresholds.environment_tag.strip():
        raise ConfigError(f"{where}: key 'thresholds.environment_tag': must name a tag, e.g. environment")
    if not s.thresholds.production_tag_values or not all(v.strip() for v in s.thresholds.production_tag_values):
        raise ConfigError(
            f"{where}: key 'thresholds.production_tag_values': must list one or more non-empty tag values, e.g. [prod]"
        )
    from controls.checks.helpers import parse_port_ranges

    if not parse_port_ranges(s.thresholds.exposed_ports):
        raise ConfigError(
            f"{where}: key 'thresholds.exposed_ports': {list(s.thresholds.exposed_ports)!r} is not a list of "
            "ports or ranges such as 22 or 5985-5986"
        )
    from controls.checks.nsg import parse_trusted_source

    for entry in s.thresholds.trusted_sources:
        try:
            parse_trusted_source(entry)
        except ValueError as exc:
            raise ConfigError(f"{where}: key 'thresholds.trusted_sources': {entry!r} {exc}") from None
    from controls.checks.inventory import ARM_LOCATION_RE, normalise_location

    for region in s.thresholds.allowed_regions:
        if not ARM_LOCATION_RE.match(normalise_location(region)):
            raise ConfigError(
                f"{where}: key 'thresholds.allowed_regions': {region!r} is not an ARM location name such as japaneast"
            )
    if not s.thresholds.owner_tag or not s.thresholds.owner_tag.strip():
        raise ConfigError(f"{where}: key 'thresholds.owner_tag': must name a tag, e.g. owner")
    # -- Perimeter and exposure
    for vm in s.thresholds.public_ip_allowed_vms:
        if not vm.strip() or (vm.strip().startswith("/") and "/virtualmachines/" not in vm.lower()):
            raise ConfigError(
                f"{where}: key 'thresholds.public_ip_allowed_vms': {vm!r} is neither a VM name nor a VM resource id"
            )
    if s.thresholds.egress_firewall_scope not in ("production", "all"):
        raise ConfigError(
            f"{where}: key 'thresholds.egress_firewall_scope': must be 'production' or 'all', "
            f"got {s.thresholds.egress_firewall_scope!r}"
        )

    # -- Edge protection: firewall IDPS, WAF, DDoS, gateway TLS
    modes = s.thresholds.idps_accepted_modes
    if not modes or not {str(m).strip().lower() for m in modes} <= {"alert", "deny"}:
        raise ConfigError(
            f"{where}: key 'thresholds.idps_accepted_modes': {list(modes)!r} must list Deny and/or Alert, e.g. [Deny]"
        )

    # -- SQL, PostgreSQL, Redis
    if s.thresholds.database_firewall_max_addresses < 1:
        raise ConfigError(f"{where}: key 'thresholds.database_firewall_max_addresses': must be at least 1, e.g. 256")
    if s.thresholds.sql_audit_retention_days < 1:
        raise ConfigError(f"{where}: key 'thresholds.sql_audit_retention_days': must be at least 1 day, e.g. 365")
    if not 1 <= s.thresholds.sql_backup_retention_days <= 35:
        raise ConfigError(f"{where}: key 'thresholds.sql_backup_retention_days': must be 1-35 days (Azure's range)")

    # -- Storage, Key Vault, managed disks
    if not s.thresholds.medical_data_tag or not s.thresholds.medical_data_tag.strip():
        raise ConfigError(f"{where}: key 'thresholds.medical_data_tag': must name a tag, e.g. dataClassification")
    if not s.thresholds.medical_data_tag_values or not all(v.strip() for v in s.thresholds.medical_data_tag_values):
        raise ConfigError(
            f"{where}: key 'thresholds.medical_data_tag_values': must list one or more non-empty tag values, "
            "e.g. [medical]"
        )
    if not 1 <= s.thresholds.blob_soft_delete_min_days <= 365:
        raise ConfigError(
            f"{where}: key 'thresholds.blob_soft_delete_min_days': must be 1-365 (Azure's soft-delete range)"
        )

    # -- App Service
    if s.thresholds.certificate_expiry_warning_days > 398:
        raise ConfigError(
            f"{where}: key 'thresholds.certificate_expiry_warning_days': must be at most 398 (a public TLS "
            f"certificate lives no longer), got {s.thresholds.certificate_expiry_warning_days}"
        )

    # -- Logging and monitoring
    from controls.checks.activity_log import ACTIVITY_LOG_CATEGORIES, OPERATION_RE
    from controls.checks.log_analytics import WORKSPACE_ID_RE

    known = {c.lower() for c in ACTIVITY_LOG_CATEGORIES}
    if not s.thresholds.activity_log_categories or any(
        c.strip().lower() not in known for c in s.thresholds.activity_log_categories
    ):
        raise ConfigError(
            f"{where}: key 'thresholds.activity_log_categories': {list(s.thresholds.activity_log_categories)!r} must "
            f"list one or more activity log categories of {', '.join(ACTIVITY_LOG_CATEGORIES)}"
        )
    if not s.thresholds.security_alert_operations or any(
        not OPERATION_RE.match(op.strip()) for op in s.thresholds.security_alert_operations
    ):
        raise ConfigError(
            f"{where}: key 'thresholds.security_alert_operations': {list(s.thresholds.security_alert_operations)!r} "
            "must list one or more operation names such as Microsoft.Network/networkSecurityGroups/write"
        )
    for ws in s.thresholds.log_workspace_capped_allowed:
        if not WORKSPACE_ID_RE.match(ws.strip()):
            raise ConfigError(
                f"{where}: key 'thresholds.log_workspace_capped_allowed': {ws!r} is not a Log Analytics workspace "
                "resource id (/subscriptions/…/providers/Microsoft.OperationalInsights/workspaces/…)"
            )

    # -- Defender for Cloud and VM agents
    if not s.thresholds.defender_required_plans:
        raise ConfigError(f"{where}: key 'thresholds.defender_required_plans': must name at least one plan")
    for plan in s.thresholds.defender_required_plans:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", plan):
            raise ConfigError(
                f"{where}: key 'thresholds.defender_required_plans': {plan!r} is not a Defender plan name such as "
                "VirtualMachines"
            )

    # -- Backups and continuity
    if s.thresholds.backup_vm_scope not in ("production", "all"):
        raise ConfigError(
            f"{where}: key 'thresholds.backup_vm_scope': {s.thresholds.backup_vm_scope!r} must be production or all"
        )
    if s.thresholds.backup_max_age_hours < 1:
        raise ConfigError(f"{where}: key 'thresholds.backup_max_age_hours': must be at least 1 hour, e.g. 26")
    if s.thresholds.dr_test_max_age_days < 1:
        raise ConfigError(f"{where}: key 'thresholds.dr_test_max_age_days': must be at least 1 day, e.g. 365")
    # -- Accounts and privileged identities
    if not s.thresholds.privileged_directory_roles or not all(
        isinstance(r, str) and r.strip() for r in s.thresholds.privileged_directory_roles
    ):
        raise ConfigError(
            f"{where}: key 'thresholds.privileged_directory_roles': must list directory role names, e.g. "
            "[Global Administrator]"
        )
    if not 1 <= s.thresholds.global_admin_min <= s.thresholds.global_admin_max:
        raise ConfigError(
            f"{where}: keys 'thresholds.global_admin_min' / 'global_admin_max': need 1 <= min <= max, e.g. 2 and 4"
        )
    if not s.thresholds.pim_required_roles or not all(r.strip() for r in s.thresholds.pim_required_roles):
        raise ConfigError(f"{where}: key 'thresholds.pim_required_roles': must list role names, e.g. [Owner]")
    if not 1 <= s.thresholds.stale_account_days <= 3650:
        raise ConfigError(
            f"{where}: key 'thresholds.stale_account_days': {s.thresholds.stale_account_days} must be 1 to 3650 "
            "days, e.g. 90"
        )
    for principal in s.thresholds.pim_permanent_allowed:
        if not re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", principal):
            raise ConfigError(
                f"{where}: key 'thresholds.pim_permanent_allowed': {principal!r} is not a principal object id (a GUID)"
            )

    # -- Local and shared admin accounts
    names = s.thresholds.default_admin_names
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise ConfigError(
            f"{where}: key 'thresholds.default_admin_names': must list one or more non-empty names, e.g. [admin, root]"
        )

    # -- Passwords, lockout and MFA
    if s.thresholds.password_max_age_days < 1:
        raise ConfigError(f"{where}: key 'thresholds.password_max_age_days': must be at least 1 day, e.g. 90")
    if s.thresholds.lockout_threshold_max < 1:
        raise ConfigError(f"{where}: key 'thresholds.lockout_threshold_max': must be at least 1 attempt, e.g. 10")
    if s.thresholds.lockout_duration_min_seconds < 1:
        raise ConfigError(f"{where}: key 'thresholds.lockout_duration_min_seconds': must be at least 1 second, e.g. 60")
    if s.thresholds.sign_in_frequency_max_hours < 1:
        raise ConfigError(f"{where}: key 'thresholds.sign_in_frequency_max_hours': must be at least 1 hour, e.g. 12")

    # -- Time synchronisation
    if s.thresholds.max_clock_offset_ms < 1:
        raise ConfigError(f"{where}: key 'thresholds.max_clock_offset_ms': must be at least 1 ms, e.g. 100")
    if not all(p.strip() for p in s.thresholds.approved_ntp_sources):
        raise ConfigError(f"{where}: key 'thresholds.approved_ntp_sources': empty entry; list host names or patterns")
    # Last, so the checks above with a worked example in their message speak first.
    _validate_bounds(s, where)


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Defaults ← YAML file ← `overrides` (e.g. a sandbox info file) ← SHOKO_* environment."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    # (where, data, may carry secrets)
    layers: list[tuple[str, Mapping[str, Any], bool]] = []
    if path is not None:
        where = str(path)
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{where}: file not found") from None
        except IsADirectoryError:  # e.g. a bind mount of a file that did not exist on the host
            raise ConfigError(f"{where}: is a directory, not a config file") from None
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{where}: not a UTF-8 text file (byte {exc.start}): not a config file") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{where}:{line} not valid YAML ({getattr(exc, 'problem', exc)})") from None
        except RecursionError:
            raise ConfigError(f"{where}: nested too deeply to be a config file") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping of sections at the top level")
        layers.append((where, data, False))
    if overrides:
        layers.append(("sandbox info", overrides, True))
    layers.append((ENVIRONMENT, _env_overrides(environ), True))
    for where, data, secrets_ok in layers:
        for name, values in data.items():
            if name not in _SECTIONS:
                raise ConfigError(f"{where}: unknown section '{name}' (known: {', '.join(_SECTIONS)})")
            if not isinstance(values, Mapping):
                raise ConfigError(f"{where}: section '{name}' must be a mapping")
            section = _apply(getattr(settings, name), name, values, where, secrets_ok)
            settings = replace(settings, **{name: section})
    _validate(settings, str(path) if path else "config")
    return settings


SANDBOX_INFO_KEYS = ("base_url", "authority", "tenant_id", "client_id", "client_secret", "ca_bundle")


def read_sandbox_info(info_file: str) -> dict[str, Any]:
    """The JSON that `shoko sandbox serve --info-file` writes."""
    try:
        info = json.loads(Path(info_file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{info_file}: sandbox info file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{info_file}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    missing = [k for k in SANDBOX_INFO_KEYS if k not in info]
    if missing:
        raise ConfigError(f"{info_file}: sandbox info lacks {', '.join(missing)}")
    return info


def sandbox_overrides(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Settings that point the real SDK clients at a sandbox (its credentials are sandbox-only)."""
    return {
        "azure": {
            "credential": "client_secret",
            "tenant_id": info["tenant_id"],
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "arm_base_url": info["base_url"],
            "authority": info["authority"],
            "graph_base_url": info.get("graph_base_url") or info["base_url"].rstrip("/") + "/v1.0",
            "ca_bundle": info["ca_bundle"],
        }
    }


def _validate_agent(agent: AgentSettings, where: str) -> None:
    from agent.schedule import ScheduleError, parse_schedule
    from controls.model import KIND_PATTERN

    try:
        parse_schedule(agent.schedule)
    except ScheduleError as exc:
        raise ConfigError(f"{where}: key 'agent.schedule': {exc}") from None
    for entry in agent.partial_schedules:
        kinds, sep, schedule = entry.partition("=")
        names = [k.strip() for k in kinds.split("+")]
        if not sep or not all(re.fullmatch(KIND_PATTERN, k) for k in names):
            raise ConfigError(
                f"{where}: key 'agent.partial_schedules': {entry!r} is not KIND[+KIND...]=SCHEDULE, "
                "e.g. network_security_group=every 10m"
            )
        try:
            parse_schedule(schedule)
        except ScheduleError as exc:
            raise ConfigError(f"{where}: key 'agent.partial_schedules': {exc}") from None
    if agent.listen_port > 65535:
        raise ConfigError(f"{where}: key 'agent.listen_port': must be 0-65535, got {agent.listen_port}")
    if agent.lease_seconds < 1:
        raise ConfigError(f"{where}: key 'agent.lease_seconds': must be at least 1")


_GUID = r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"


def _validate_oidc(o: OidcSettings, where: str) -> None:
    """Checked only when sign-in is enabled; the secret and session key are read when the API starts."""
    if not o.enabled:
        return
    key = "api.oidc"
    for name in ("tenant_id", "client_id"):
        value = getattr(o, name)
        if not value:
            raise ConfigError(f"{where}: key '{key}.{name}' is missing (required with {key}.enabled)")
        if not re.fullmatch(_GUID, value):
            raise ConfigError(f"{where}: key '{key}.{name}': {value!r} is not a GUID")
    if not o.authority.startswith("https://") or o.authority.rstrip("/").count("/") != 2:
        raise ConfigError(
            f"{where}: key '{key}.authority': must be an https:// origin such as https://login.microsoftonline.com"
        )
    uri = o.redirect_uri or ""
    loopback = re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/", uri)
    if not (uri.startswith("https://") or loopback) or "#" in uri:
        raise ConfigError(
            f"{where}: key '{key}.redirect_uri': must be the https:// URL of shoko's /auth/callback as registered "
            f"in Entra ID (http:// only on 127.0.0.1 or localhost), got {uri or 'nothing'}"
        )
    if not o.client_secret_env and not o.client_secret_file:
        raise ConfigError(f"{where}: key '{key}.client_secret_env': name the variable (or client_secret_file)")
    if not o.session_key_env and not o.session_key_file:
        raise ConfigError(f"{where}: key '{key}.session_key_env': name the variable (or session_key_file)")
    if o.ca_bundle and not Path(o.ca_bundle).is_file():
        raise ConfigError(f"{where}: key '{key}.ca_bundle': file not found: {o.ca_bundle}")
    if "openid" not in o.scopes:
        raise ConfigError(f"{where}: key '{key}.scopes': must include openid, got {list(o.scopes)!r}")
    seen: dict[str, str] = {}
    for role in ("auditor", "operator", "admin"):
        values = getattr(o, f"{role}_roles")
        if not values or not all(v.strip() for v in values):
            raise ConfigError(f"{where}: key '{key}.{role}_roles': list one or more app role values, e.g. Shoko.Admin")
        for v in values:
            if v in seen:
                raise ConfigError(f"{where}: key '{key}.{role}_roles': app role {v!r} is also in {key}.{seen[v]}_roles")
            seen[v] = role
    if o.clock_skew_seconds > 300:
        raise ConfigError(f"{where}: key '{key}.clock_skew_seconds': at most 300, got {o.clock_skew_seconds}")
    if o.session_minutes < 1 or o.timeout_seconds < 1:
        bad = "session_minutes" if o.session_minutes < 1 else "timeout_seconds"
        raise ConfigError(f"{where}: key '{key}.{bad}': must be at least 1")


def _validate_api(api: ApiSettings, where: str) -> None:
    if api.listen_port > 65535:
        raise ConfigError(f"{where}: key 'api.listen_port': must be 0-65535, got {api.listen_port}")
    if bool(api.tls_cert_file) != bool(api.tls_key_file):
        raise ConfigError(f"{where}: key 'api.tls_cert_file' and 'api.tls_key_file': give both or neither")
    for key in ("tls_cert_file", "tls_key_file", "signing_key_file"):
        value = getattr(api, key)
        if value and not Path(value).is_file():
            raise ConfigError(f"{where}: key 'api.{key}': file not found: {value}")
    if api.auth_failure_limit < 1:
        raise ConfigError(f"{where}: key 'api.auth_failure_limit': must be at least 1")
    if api.auth_failure_window_seconds < 1:
        raise ConfigError(f"{where}: key 'api.auth_failure_window_seconds': must be at least 1")
    if not 1 <= api.max_page_size <= 10000:
        raise ConfigError(f"{where}: key 'api.max_page_size': must be 1-10000, got {api.max_page_size}")
    from controls.attestations import DOCUMENT_TYPES, MAX_DOCUMENT_BYTES

    if not 1 <= api.max_upload_bytes <= MAX_DOCUMENT_BYTES:
        raise ConfigError(
            f"{where}: key 'api.max_upload_bytes': must be 1-{MAX_DOCUMENT_BYTES}, got {api.max_upload_bytes}"
        )
    accepted = set(DOCUMENT_TYPES.values())
    for media_type in api.upload_media_types:
        if media_type not in accepted:
            raise ConfigError(
                f"{where}: key 'api.upload_media_types': {media_type!r} is not a document type the ledger keeps "
                f"({', '.join(sorted(accepted))})"
            )
    import ipaddress

    for proxy in api.trusted_proxies:
        try:
            ipaddress.ip_address(proxy.strip())
        except ValueError:
            raise ConfigError(f"{where}: key 'api.trusted_proxies': {proxy!r} is not an IP address") from None


_BLOB_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def check_blob_location(account_url: str | None, container: str | None) -> None:
    """Raises ValueError (one line naming the key) unless both are given and well-formed."""
    if not account_url or not container:
        missing = "anchors_blob_container" if account_url else "anchors_blob_account_url"
        raise ValueError(
            f"key 'ledger.{missing}': give both ledger.anchors_blob_account_url and ledger.anchors_blob_container"
        )
    parts = urlsplit(account_url)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(
            f"key 'ledger.anchors_blob_account_url': expected the account's https blob endpoint, e.g. "
            f"https://<account>.blob.core.windows.net, got {account_url!r}"
        )
    if not _BLOB_CONTAINER.match(container):
        raise ValueError(
            f"key 'ledger.anchors_blob_container': {container!r} is not a container name (3-63 lower-case letters, "
            "digits and single hyphens)"
        )


def _validate_ledger(s: Settings, where: str) -> None:
    ledger = s.ledger
    for key in ("signing_key_file", "public_key_file"):
        value = getattr(ledger, key)
        if value and not Path(value).is_file():
            raise ConfigError(f"{where}: key 'ledger.{key}': file not found: {value}")
    if ledger.fingerprint and not re.fullmatch(r"[0-9a-fA-F]{64}", ledger.fingerprint.replace(":", "")):
        raise ConfigError(
            f"{where}: key 'ledger.fingerprint': expected the key's SHA-256 fingerprint as `shoko keys create` prints "
            f"it (64 hexadecimal digits, colons allowed), got {ledger.fingerprint!r}"
        )
    if ledger.public_key_file and ledger.fingerprint:
        raise ConfigError(f"{where}: key 'ledger.public_key_file' and 'ledger.fingerprint': give one, not both")
    configured = [
        key
        for key in ("anchors_file", "anchor_channels", "anchors_blob_account_url", "anchors_blob_container")
        if getattr(ledger, key)
    ]
    if configured and not ledger.sign_runs:
        raise ConfigError(
            f"{where}: key 'ledger.{configured[0]}': anchors are signed digests; set ledger.sign_runs: true"
        )
    if ledger.anchors_blob_account_url or ledger.anchors_blob_container:
        try:
            check_blob_location(ledger.anchors_blob_account_url, ledger.anchors_blob_container)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if ledger.anchors_file and Path(ledger.anchors_file).is_dir():
        raise ConfigError(f"{where}: key 'ledger.anchors_file': {ledger.anchors_file} is a directory")
    channels = {c.name: c for c in s.alerts.channels}
    for name in ledger.anchor_channels:
        channel = channels.get(name)
        if channel is None:
            raise ConfigError(
                f"{where}: key 'ledger.anchor_channels': no alert channel named {name!r} (alerts.channels)"
            )
        if channel.type != "webhook":
            raise ConfigError(
                f"{where}: key 'ledger.anchor_channels': channel {name!r} is {channel.type}; anchors go to webhook "
                "channels only"
            )
