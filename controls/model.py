"""The vocabulary shared by fetchers, checks and the ledger.

Fetchers produce `Evidence` and `CollectionError`; checks read a `FactSet` and yield `Finding`s;
the ledger stores all three. Nothing here talks to Azure or to a database.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import InitVar, dataclass, field
from datetime import datetime
from enum import StrEnum
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    PARTIAL = "partial"  # the checks' part passed; what they cannot show awaits an attestation
    MANUAL = "manual"
    ATTESTED = "attested"
    EXPIRED = "expired"
    INHERITED = "inherited"
    NOT_APPLICABLE = "not_applicable"


# The Japanese word for each status, as alerts, reports and the dashboard write it.
STATUS_JA: dict[str, str] = {
    "pass": "適合",
    "fail": "不適合",
    "error": "取得不可",
    "partial": "一部確認",
    "manual": "要確認",
    "attested": "確認済",
    "expired": "期限切れ",
    "inherited": "継承",
    "not_applicable": "対象外",
}


# A fact kind names one family of raw Azure documents ("storage_account"): a fetcher declares the
# kinds it provides and a check the kinds it reads; the collection plan matches the two. `FactKind`
# names the built-in families; a new family may name its kind with a plain string of the same form.
Kind = str
KIND_PATTERN = r"[a-z][a-z0-9_]{0,63}"


class FactKind(StrEnum):
    """The built-in families of raw Azure documents."""

    SUBSCRIPTION = "subscription"
    RESOURCE = "resource"  # generic inventory (resources.list)
    NSG = "network_security_group"
    NETWORK_WATCHER = "network_watcher"
    FLOW_LOG = "flow_log"
    WEB_SITE = "web_site"
    WEB_CONFIG = "web_site_config"
    STORAGE_ACCOUNT = "storage_account"
    SQL_SERVER = "sql_server"
    DIAGNOSTIC_SETTINGS = "diagnostic_settings"  # one document per monitored resource: {"value": [...]}
    LOG_ANALYTICS_WORKSPACE = "log_analytics_workspace"
    ROLE_ASSIGNMENT = "role_assignment"
    ROLE_DEFINITION = "role_definition"
    DIRECTORY_PRINCIPAL = "directory_principal"  # Entra users, groups, service principals (Graph)


# What json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) makes, with its C encoder built once:
# json.dumps builds a new one for every call, and canonical JSON is made for each row a run stores or holds (over
# a hundred thousand a run at 10,000 resources). No circular-reference check: these are JSON documents.
_CANONICAL = (
    c_make_encoder(None, json.JSONEncoder().default, encode_basestring, None, ":", ",", True, False, True)
    if c_make_encoder is not None
    else None
)


def canonical_text(content: Any) -> str:
    """`canonical_json` as text (what the ledger stores), made without its bytes."""
    if _CANONICAL is None:
        return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "".join(_CANONICAL(content, 0))


def canonical_json(content: Any) -> bytes:
    """Stable bytes for hashing: sorted keys, no insignificant whitespace, UTF-8."""
    return canonical_text(content).encode()


def sha256_of(content: Any) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


@dataclass(frozen=True)
class Redaction:
    """One value blanked out of a document before it became evidence: its JSON path and the rule that did it
    (collector/redaction.yaml)."""

    path: str
    rule: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "rule": self.rule}


@dataclass(frozen=True)
class Evidence:
    """One raw document as Azure returned it, secrets blanked (`redactions` says where and why), with where,
    when and how it was collected."""

    kind: Kind
    source: str  # fetcher name, e.g. "network.nsgs"
    scope: str  # what the call was made on: "/subscriptions/{s}", a resource id, or "tenant"
    resource_id: str  # the document's own id (or the monitored resource for diagnostic settings)
    api_version: str
    request_id: str | None
    collected_at: datetime  # UTC
    content: dict[str, Any]
    sha256: str = field(default="")
    redactions: tuple[Redaction, ...] = ()
    # With `keep_canonical`, the canonical JSON `sha256` was taken of, kept for the ledger to store as it is instead
    # of serialising the document a second time (the collector's evidence, dropped once stored); None otherwise.
    canonical: str | None = field(default=None, compare=False, repr=False)
    keep_canonical: InitVar[bool] = False

    def __post_init__(self, keep_canonical: bool) -> None:
        if not self.sha256:
            text = canonical_json(self.content)
            object.__setattr__(self, "sha256", hashlib.sha256(text).hexdigest())
            # Set either way: `dataclasses.replace(ev, content=..., sha256="")` would otherwise carry the old text.
            object.__setattr__(self, "canonical", text.decode() if keep_canonical else None)


@dataclass(frozen=True)
class CollectionError:
    """A fetch that did not succeed. Every check reading `kind` in `scope` turns it into an error finding."""

    kind: Kind
    source: str
    scope: str
    code: str  # e.g. "AuthorizationFailed", "TooManyRequests", "ServiceRequestError"
    message: str
    status_code: int | None
    request_id: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class Finding:
    check_id: str
    requirements: tuple[int, ...]
    status: Status  # pass / fail / error only
    resource_id: str
    reason_ja: str
    reason_en: str
    evidence: tuple[str, ...] = ()  # sha256 of the evidence records judged
    # Higher bars a passing finding falls short of (BARS); the engine applies the guideline profile to them
    # before findings are stored, so stored findings never carry it.
    short_of: tuple[str, ...] = field(default=(), compare=False)


# Higher bars a check can report a passing resource short of. A check states the fact ("the minimum is
# TLS 1.2, not 1.3"); which bar applies is the guideline profile's call (controls.profiles).
BARS = ("tls1.3",)


def subscription_id_of(resource_id: str) -> str | None:
    """The lower-cased subscription id an ARM id or scope lies in (`/subscriptions/{id}/…`); None for anything
    else (Entra ID objects, "tenant", management groups)."""
    parts = resource_id.split("/", 3)
    if len(parts) >= 3 and not parts[0] and parts[1].lower() == "subscriptions" and parts[2]:
        return parts[2].lower()
    return None


def in_subscription_order(subscriptions: Iterable[str | None]) -> list[str | None]:
    """Subscriptions sorted, None (what lies in no subscription) last: the order checks judge them in."""
    found = set(subscriptions)
    return [*sorted(s for s in found if s is not None), *([None] if None in found else [])]


def errors_within(errors: Iterable[CollectionError], subscription: str | None) -> list[CollectionError]:
    """The collection errors that can explain a document missing from `subscription`: those scoped to it and
    those scoped to no subscription ("tenant" covers everything)."""
    return [e for e in errors if subscription_id_of(e.scope) in (subscription, None)]


@dataclass
class FactSet:
    """Everything one run collected, indexed by kind. Checks only read from here; it is not changed
    after it is built."""

    evidence: list[Evidence] = field(default_factory=list)
    errors: list[CollectionError] = field(default_factory=list)
    _by_kind: dict[Kind, list[Evidence]] | None = field(default=None, init=False, repr=False, compare=False)
    _indexes: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def of(self, kind: Kind) -> list[Evidence]:
        if self._by_kind is None:  # every check asks by kind, often once per resource: index once
            self._by_kind = {}
            for e in self.evidence:
                self._by_kind.setdefault(e.kind, []).append(e)
        return list(self._by_kind.get(kind, ()))

    def errors_for(self, kinds: Iterable[Kind]) -> list[CollectionError]:
        wanted = set(kinds)
        return [e for e in self.errors if e.kind in wanted]

    def by_id(self, kind: Kind) -> dict[str, Evidence]:
        """Index by lower-cased resource id (ARM ids are case-insensitive)."""
        return {e.resource_id.lower(): e for e in self.of(kind)}

    def index(self, name: str, build: Callable[[FactSet], Any]) -> Any:
        """`build(self)`, built once per fact set under `name`: a check that looks resources up once per
        resource reads an index instead of scanning a kind each time. The index must not be changed."""
        if name not in self._indexes:
            self._indexes[name] = build(self)
        return self._indexes[name]

    def __iter__(self) -> Iterator[Evidence]:
        return iter(self.evidence)

    def reading(self, kinds: Iterable[Kind]) -> None:
        """Told which kinds are still to be read (by the next check; on one subscription's facts, by the checks
        still to come there): facts read from a store may let go of the others."""

    # -- one subscription at a time: what lets a run of many subscriptions be judged in bounded memory

    def subscriptions(self) -> list[str | None]:
        """The subscriptions the run's evidence lies in (by each record's resource id), in_subscription_order."""
        return in_subscription_order(subscription_id_of(e.resource_id) for e in self.evidence)

    def within(self, subscription: str | None) -> FactSet:
        """The facts of one subscription: the records whose resource lies in it (or, for None, in none), each
        kind in `of`'s order, and the collection errors that can explain a record missing there."""

        def split(facts: FactSet) -> dict[str | None, list[Evidence]]:
            out: dict[str | None, list[Evidence]] = {}
            for e in facts.evidence:
                out.setdefault(subscription_id_of(e.resource_id), []).append(e)
            return out

        records = self.index("\0within", split).get(subscription, [])
        return FactSet(evidence=records, errors=errors_within(self.errors, subscription))

    def each(self, kind: Kind) -> Iterator[Evidence]:
        """Every record of `kind`, subscription by subscription (in_subscription_order), each subscription's in
        `of`'s order: for a check that scans a kind without keeping it. Read from a store (StoredFacts), only
        one subscription's records are held at a time."""
        by_subscription: dict[str | None, list[Evidence]] = {}
        for e in self.of(kind):
            by_subscription.setdefault(subscription_id_of(e.resource_id), []).append(e)
        for subscription in in_subscription_order(by_subscription):
            yield from by_subscription[subscription]


class StoredFacts(FactSet):
    """A run's facts read kind by kind from where they were stored, when a check asks for a kind: `load(kind)`
    gives that kind's evidence in stored order (the order a FactSet of the whole run holds it in). The kinds read
    last are kept, at most `keep` of them (the most any one check reads), and of the kinds the next check does not
    read (`reading`) at most `hold` records, so memory holds about the kinds the current check reads, not the whole
    run. Safe to read from several threads.

    With `partitions` (each kind's subscriptions) and `load_within(kind, subscription)` (that part of a kind, in
    stored order), `within` and `each` read one subscription's records at a time: a check judged per
    subscription, or scanning a kind with `each`, then holds one subscription's part, not the whole kind."""

    def __init__(
        self,
        load: Callable[[Kind], list[Evidence]],
        kinds: Iterable[Kind],
        errors: list[CollectionError],
        keep: int,
        partitions: Mapping[Kind, Iterable[str | None]] | None = None,
        load_within: Callable[[Kind, str | None], list[Evidence]] | None = None,
        hold: int = 20_000,
    ) -> None:
        # Not FactSet.__init__: `evidence` is read on demand here, never held.
        self.errors, self._by_kind = errors, None
        # Indexes a check builds (FactSet.index) are kept for the judging: they hold the kinds they index.
        self._indexes = {}
        self._load, self._kinds, self._keep = load, list(kinds), max(1, keep)
        self._kept: OrderedDict[Kind, list[Evidence]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # kinds read from the store so far (a kind dropped and asked again is read again)
        self._partitions = None
        if partitions is not None and load_within is not None:
            self._partitions = {kind: frozenset(subs) for kind, subs in partitions.items()}
        self._load_within = load_within
        # Records kept of kinds the next check does not read (`reading`), at most: kinds shared by neighbouring
        # checks stay read, large ones go as soon as no check needs them.
        self._hold = hold

    def reading(self, kinds: Iterable[Kind]) -> None:
        wanted = set(kinds)
        with self._lock:
            others = [k for k in self._kept if k not in wanted]  # least recently read first
            held = sum(len(self._kept[k]) for k in others)
            for kind in others:
                if held <= self._hold:
                    break
                held -= len(self._kept.pop(kind))

    @property  # type: ignore[override]
    def evidence(self) -> list[Evidence]:
        """Every record of the run, kind after kind (reads the whole run: checks ask by kind)."""
        return [e for kind in self._kinds for e in self.of(kind)]

    def of(self, kind: Kind) -> list[Evidence]:
        with self._lock:
            found = self._kept.get(kind)
            if found is None:
                found = self._load(kind) if kind in self._kinds else []
                self.loads += kind in self._kinds
                self._kept[kind] = found
                while len(self._kept) > self._keep:
                    self._kept.popitem(last=False)
            self._kept.move_to_end(kind)
            return list(found)

    def subscriptions(self) -> list[str | None]:
        if self._partitions is None:
            return super().subscriptions()
        return in_subscription_order(s for subs in self._partitions.values() for s in subs)

    def within(self, subscription: str | None) -> FactSet:
        if self._partitions is None or self._load_within is None:
            return super().within(subscription)
        partitions, load = self._partitions, self._load_within

        def load_part(kind: Kind) -> list[Evidence]:
            return load(kind, subscription) if subscription in partitions.get(kind, ()) else []

        return _Within(load_part, errors_within(self.errors, subscription))

    def each(self, kind: Kind) -> Iterator[Evidence]:
        with self._lock:
            kept = kind in self._kept
        if kept or self._partitions is None or self._load_within is None:
            yield from super().each(kind)
            return
        for subscription in in_subscription_order(self._partitions.get(kind, ())):
            yield from self._load_within(kind, subscription)

    def __repr__(self) -> str:
        return f"StoredFacts(kinds={self._kinds!r}, errors={len(self.errors)})"


class _Within(FactSet):
    """One subscription's part of a stored run (StoredFacts.within): each kind read when a check first asks for
    it and held while this subscription is judged."""

    def __init__(self, load: Callable[[Kind], list[Evidence]], errors: list[CollectionError]) -> None:
        self.errors, self._by_kind, self._indexes = errors, {}, {}
        self._load = load
        self._lock = threading.Lock()

    @property  # type: ignore[override]
    def evidence(self) -> list[Evidence]:
        raise TypeError("a subscription's stored facts are read by kind (of, each), not as a whole")

    def of(self, kind: Kind) -> list[Evidence]:
        with self._lock:
            found = self._by_kind.get(kind)  # type: ignore[union-attr]
            if found is None:
                found = self._by_kind[kind] = self._load(kind)  # type: ignore[index]
            return list(found)

    def each(self, kind: Kind) -> Iterator[Evidence]:
        return iter(self.of(kind))  # one subscription already

    def reading(self, kinds: Iterable[Kind]) -> None:
        """Lets go of the kinds no check still to come on this subscription reads (`kinds` are those that are
        read), and of the indexes built so far, which may hold them (one still needed is built again)."""
        wanted = set(kinds)
        with self._lock:
            gone = [kind for kind in self._by_kind if kind not in wanted]  # type: ignore[union-attr]
            for kind in gone:
                del self._by_kind[kind]  # type: ignore[union-attr]
            if gone:
                self._indexes.clear()


class Across(FactSet):
    """One subscription's facts (`within`) with some kinds read from the whole run (`whole`): what a check judged
    per subscription is given when its resources can reach a few records in another subscription (a Bastion host
    in a peered hub, the subscriptions' own documents). Its errors are the subscription's and, from the whole run,
    those of the kinds read from it (why such a record may be missing), in the run's order. Made for one check on
    one subscription, so its indexes never outlive them."""

    def __init__(self, within: FactSet, whole: FactSet, kinds: Iterable[Kind]) -> None:
        self._within, self._whole, self._kinds = within, whole, frozenset(kinds)
        mine = {id(e) for e in within.errors}  # a part of the run's errors, in their order
        self.errors = [e for e in whole.errors if id(e) in mine or e.kind in self._kinds]
        self._by_kind, self._indexes = None, {}

    @property  # type: ignore[override]
    def evidence(self) -> list[Evidence]:
        raise TypeError("a subscription's facts are read by kind (of, each), not as a whole")

    def of(self, kind: Kind) -> list[Evidence]:
        return (self._whole if kind in self._kinds else self._within).of(kind)

    def each(self, kind: Kind) -> Iterator[Evidence]:
        return (self._whole if kind in self._kinds else self._within).each(kind)

    def reading(self, kinds: Iterable[Kind]) -> None:
        self._within.reading(kinds)


@dataclass(frozen=True)
class Verdict:
    """The status of one requirement number in one run, rolled up from its checks' findings."""

    requirement: int
    status: Status
    reason_ja: str
    reason_en: str
    check_ids: tuple[str, ...] = ()
    findings_pass: int = 0
    findings_fail: int = 0
    findings_error: int = 0


@dataclass(frozen=True)
class Thresholds:
    """Tunable limits the checks judge against; loaded from config (defaults in config/defaults.yaml)."""

    flow_log_retention_days: int = 90  # 0 in a flow log's retention policy means "keep forever" and passes
    log_analytics_retention_days: int = 365
    privileged_role_max: int = 3  # per subscription, assignments at subscription scope
    privileged_roles: tuple[str, ...] = ("Owner", "User Access Administrator", "Contributor")
    # Which subscriptions are production (check dev-prod-network-isolated): the ids listed here; when the
    # list is empty, those whose tag `environment_tag` holds one of `production_tag_values` (compared
    # case-insensitively). A subscription with neither is non-production.
    production_subscriptions: tuple[str, ...] = ()
    environment_tag: str = "environment"
    production_tag_values: tuple[str, ...] = ("prod", "production")
    # Management / database ports that must never be reachable from the Internet.
    exposed_ports: tuple[str, ...] = ("22", "3389", "1433", "3306", "5432", "5985-5986")
    # Public source CIDRs (IPv4 / IPv6) the operator vouches for, e.g. a hospital site's fixed addresses:
    # an Allow from them to those ports is not Internet exposure. Empty: every public address is the Internet.
    trusted_sources: tuple[str, ...] = ()
    # ARM location names resources may be in (medical data kept in Japan); "Japan East" == "japaneast".
    allowed_regions: tuple[str, ...] = ("japaneast", "japanwest")
    owner_tag: str = "owner"  # the tag naming a resource's owner; tag names compare case-insensitively

    # -- Perimeter and exposure
    # VMs allowed a public IP on a NIC (check vm-no-public-ip): VM names or full resource ids, compared
    # case-insensitively. Empty: no VM may have one.
    public_ip_allowed_vms: tuple[str, ...] = ()
    # Which virtual networks must send 0.0.0.0/0 through a firewall (check egress-through-firewall):
    # "production" (those in production subscriptions, classified as for dev-prod-network-isolated) or "all".
    egress_firewall_scope: str = "production"

    # -- Edge protection: firewall IDPS, WAF, DDoS, gateway TLS
    # Azure Firewall IDPS modes that pass (check firewall-idps-deny): Deny blocks what it detects; Alert only
    # logs it, so it passes only when listed here.
    idps_accepted_modes: tuple[str, ...] = ("Deny",)

    # -- SQL, PostgreSQL, Redis
    # A database firewall rule admitting more addresses than this is "any IP" (check sql-firewall-no-any-ip);
    # 256 is one /24. The 0.0.0.0-0.0.0.0 rule ("Allow Azure services") fails whatever this is.
    database_firewall_max_addresses: int = 256
    sql_audit_retention_days: int = 365  # SQL auditing to a storage account; 0 there means "keep forever"
    sql_backup_retention_days: int = 7  # point-in-time restore window of every SQL user database

    # -- Storage, Key Vault, managed disks
    # Encryption at rest (checks storage-encryption-at-rest, disk-encryption): true makes a storage account
    # or managed disk encrypted only with a platform-managed key fail; false reports the key source only.
    require_customer_managed_keys: bool = False
    # Blob and container soft delete must keep deleted data at least this many days (storage-blob-recoverable).
    blob_soft_delete_min_days: int = 7
    # A Key Vault key expiring within this many days of collection fails (key-vault-key-expiry-rotation).
    key_expiry_warning_days: int = 30
    # Which storage accounts hold medical data (storage-blob-recoverable, storage-geo-redundant-in-japan):
    # those whose tag `medical_data_tag` (name compared case-insensitively) holds one of
    # `medical_data_tag_values` (case-insensitively), and those without the tag (assumed to hold medical data).
    medical_data_tag: str = "dataClassification"
    medical_data_tag_values: tuple[str, ...] = ("medical",)

    # -- App Service
    # App Service certificates (check app-service-certificates-valid) fail this many days before they expire.
    certificate_expiry_warning_days: int = 30

    # -- Logging and monitoring
    # Activity log categories every subscription must send to a Log Analytics workspace or storage account
    # through a subscription diagnostic setting (check activity-log-exported); the allLogs group covers them all.
    activity_log_categories: tuple[str, ...] = ("Administrative", "Security", "Policy", "Alert")
    # Operations an enabled activity log alert with a working action group must watch in every subscription
    # (check security-change-alerts); compared case-insensitively.
    security_alert_operations: tuple[str, ...] = (
        "Microsoft.Network/networkSecurityGroups/write",
        "Microsoft.Network/networkSecurityGroups/delete",
        "Microsoft.Network/networkSecurityGroups/securityRules/write",
        "Microsoft.Network/networkSecurityGroups/securityRules/delete",
        "Microsoft.Sql/servers/firewallRules/write",
        "Microsoft.Sql/servers/firewallRules/delete",
        "Microsoft.Authorization/policyAssignments/write",
        "Microsoft.Authorization/policyAssignments/delete",
        "Microsoft.KeyVault/vaults/write",
        "Microsoft.KeyVault/vaults/delete",
    )
    # Log Analytics workspaces (resource ids) whose daily ingestion cap the operator set knowingly (check
    # log-workspace-no-daily-cap); any other workspace with a cap fails, since a cap stops ingestion for the day.
    log_workspace_capped_allowed: tuple[str, ...] = ()

    # -- Defender for Cloud and VM agents
    # Defender for Cloud plans (Pricings - List names, compared case-insensitively) every subscription must have
    # on the Standard tier (check defender-plans-enabled).
    defender_required_plans: tuple[str, ...] = (
        "VirtualMachines",
        "AppServices",
        "SqlServers",
        "StorageAccounts",
        "KeyVaults",
        "Arm",
    )
    # High-severity vulnerability findings a VM may have open (check vulnerability-findings-high-max).
    vulnerability_high_findings_max: int = 0

    # -- Backups and continuity
    # Which VMs must be backed up (vm-backup-protected, vm-backup-recent): "production", those in production
    # subscriptions as production_subscriptions / environment_tag classify them, or "all".
    backup_vm_scope: str = "production"
    backup_max_age_hours: int = 26  # the newest VM backup may be at most this old (a daily backup, with slack)
    dr_test_max_age_days: int = 365  # the last successful Site Recovery test failover may be at most this old

    # -- Accounts and privileged identities
    # Entra ID directory roles whose holders must be enabled members (role-holders-enabled,
    # privileged-roles-no-guests), matched by display name.
    privileged_directory_roles: tuple[str, ...] = (
        "Global Administrator",
        "Privileged Role Administrator",
        "Privileged Authentication Administrator",
        "Security Administrator",
        "User Administrator",
        "Application Administrator",
        "Cloud Application Administrator",
        "Conditional Access Administrator",
        "Authentication Administrator",
    )
    global_admin_min: int = 2  # Global Administrators: at least this many (an emergency-access account besides)
    global_admin_max: int = 4  # and at most this many (global-admin-count)
    # Azure roles people must hold just in time through PIM, never permanently (privileged-assignments-eligible),
    # and the principal object ids exempt from it (emergency-access accounts).
    pim_required_roles: tuple[str, ...] = ("Owner", "User Access Administrator")
    pim_permanent_allowed: tuple[str, ...] = ()
    # An enabled user holding a role who has not signed in for more than this many days (or never has, and was
    # created longer ago) fails stale-accounts.
    stale_account_days: int = 90

    # -- Local and shared admin accounts
    # Administrator names that are defaults or shared by convention (check admin-names-not-default): a VM's
    # adminUsername, or a SQL or PostgreSQL server's administratorLogin, equal to one of them (compared
    # case-insensitively) fails, as it names no person and is the first name an attacker tries.
    default_admin_names: tuple[str, ...] = (
        "admin", "administrator", "root", "azureuser", "azureadmin", "sa", "guest", "test", "user",
        "user1", "demo", "support", "adm", "sysadmin", "dbadmin", "sqladmin", "postgres", "pgadmin",
        "ubuntu", "centos", "ec2-user", "owner", "operator", "manager",
    )  # fmt: skip

    # -- Passwords, lockout and MFA
    password_max_age_days: int = 90  # a managed domain's passwords must expire within this many days ...
    password_expiry_mfa_alternative: bool = True  # ... or MFA is required of every user (MHLW 6.0 Q&A)
    lockout_threshold_max: int = 10  # Entra smart lockout: failed sign-ins before the first lockout, at most
    lockout_duration_min_seconds: int = 60  # and the first lockout lasts at least this long
    sign_in_frequency_max_hours: int = 12  # Azure management sessions must re-authenticate at least this often

    # -- Time synchronisation
    # Names of the machine configuration (guest configuration) packages assigned to VMs that audit the clock
    # (vm-time-sync-compliant, vm-time-source-approved); Azure has no built-in one, so this names your own.
    time_sync_guest_configurations: tuple[str, ...] = ("TimeSync",)
    # NTP servers a VM may take its time from besides the Azure host clock (PTP / VM IC provider); shell-style
    # patterns compared case-insensitively (vm-time-source-approved).
    approved_ntp_sources: tuple[str, ...] = (
        "time.windows.com",
        "time.google.com",
        "time[1-4].google.com",
        "ntp.nict.jp",
    )
    max_clock_offset_ms: int = 100  # a VM's clock may be at most this far from its source (vm-time-sync-compliant)


@dataclass(frozen=True)
class Limit:
    """How one threshold may be set and which way it weakens its checks.

    `weaker` says what makes a value weaker than the shipped default: "lower" or "higher" (a number), "fewer"
    (a list with a default entry removed: less is demanded) or "more" (a list with an entry added: more is
    let through), "true" or "false" (a switch), "none" (it names or classifies, neither weaker nor stronger),
    or for a choice the values ordered weakest first. `bounds` (lowest, highest) bound a whole number."""

    weaker: str | tuple[str, ...]
    bounds: tuple[int, int] | None = None


# One entry per `Thresholds` field (a test keeps them equal): read by the settings validator (bounds) and by
# every view that flags a run's settings weaker than the shipped default (controls/weakened.py).
THRESHOLD_LIMITS: dict[str, Limit] = {
    "flow_log_retention_days": Limit("lower", (1, 365)),
    "log_analytics_retention_days": Limit("lower", (1, 4383)),  # Log Analytics keeps data up to 12 years
    "privileged_role_max": Limit("higher", (0, 1000)),
    "privileged_roles": Limit("fewer"),
    "production_subscriptions": Limit("none"),
    "environment_tag": Limit("none"),
    "production_tag_values": Limit("none"),
    "exposed_ports": Limit("fewer"),
    "trusted_sources": Limit("more"),
    "allowed_regions": Limit("more"),
    "owner_tag": Limit("none"),
    "public_ip_allowed_vms": Limit("more"),
    "egress_firewall_scope": Limit(("production", "all")),
    "idps_accepted_modes": Limit("more"),
    "database_firewall_max_addresses": Limit("higher", (1, 2**32)),
    "sql_audit_retention_days": Limit("lower", (1, 3285)),  # Azure SQL auditing keeps at most 3285 days
    "sql_backup_retention_days": Limit("lower", (1, 35)),
    "require_customer_managed_keys": Limit("false"),
    "blob_soft_delete_min_days": Limit("lower", (1, 365)),
    "key_expiry_warning_days": Limit("lower", (0, 3650)),
    "medical_data_tag": Limit("none"),
    "medical_data_tag_values": Limit("fewer"),  # fewer values: fewer accounts held to the medical-data rules
    "certificate_expiry_warning_days": Limit("lower", (0, 398)),
    "activity_log_categories": Limit("fewer"),
    "security_alert_operations": Limit("fewer"),
    "log_workspace_capped_allowed": Limit("more"),
    "defender_required_plans": Limit("fewer"),
    "vulnerability_high_findings_max": Limit("higher", (0, 10000)),
    "backup_vm_scope": Limit(("production", "all")),
    "backup_max_age_hours": Limit("higher", (1, 8760)),
    "dr_test_max_age_days": Limit("higher", (1, 3650)),
    "privileged_directory_roles": Limit("fewer"),
    "global_admin_min": Limit("lower", (1, 1000)),
    "global_admin_max": Limit("higher", (1, 1000)),
    "pim_required_roles": Limit("fewer"),
    "pim_permanent_allowed": Limit("more"),
    "stale_account_days": Limit("higher", (1, 3650)),
    "default_admin_names": Limit("fewer"),
    "password_max_age_days": Limit("higher", (1, 3650)),
    "password_expiry_mfa_alternative": Limit("true"),
    "lockout_threshold_max": Limit("higher", (1, 1000)),
    "lockout_duration_min_seconds": Limit("lower", (1, 86400)),
    "sign_in_frequency_max_hours": Limit("higher", (1, 8760)),
    "time_sync_guest_configurations": Limit("more"),
    "approved_ntp_sources": Limit("more"),
    "max_clock_offset_ms": Limit("higher", (1, 60000)),
}


class DriftKind(StrEnum):
    """How a finding or a verdict changed between two completed runs."""

    NEW_FAILURE = "new_failure"  # a finding now fails (it passed, errored, or the resource is new)
    RESOLVED = "resolved"  # a failing or erroring finding now passes
    NEW_ERROR = "new_error"  # a finding could no longer be judged (could not see)
    RESOURCE_GONE = "resource_gone"  # a (check, resource) judged before is no longer judged
    NEW_RESOURCE = "new_resource"  # a (check, resource) judged for the first time, passing
    VERDICT_CHANGED = "verdict_changed"  # a requirement's status changed
    ATTESTATION_EXPIRING = "attestation_expiring"  # a valid attestation is within its warning window


@dataclass(frozen=True)
class DriftEvent:
    """One change between the previous completed run and this one; what alerts are about."""

    kind: DriftKind
    check_id: str | None  # None for a verdict change
    resource_id: str | None  # None for a verdict change
    requirements: tuple[int, ...]  # the finding's mapped numbers, or the one requirement of a verdict change
    before: Status | None  # None when there was nothing before
    after: Status | None  # None when the resource is gone
    reason_ja: str
    reason_en: str
    previous_run: int | None = None
