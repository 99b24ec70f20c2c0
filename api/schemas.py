"""The API's response and request bodies, so /openapi.json describes every field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")

StatusName = Literal["pass", "fail", "error", "partial", "manual", "attested", "expired", "inherited", "not_applicable"]
FindingStatus = Literal["pass", "fail", "error"]
Responsibility = Literal["customer", "azure", "shared", "not_applicable"]
RoleName = Literal["auditor", "operator", "admin"]


class Problem(BaseModel):
    """Every error: one line saying what is wrong (never any ledger data on 401/403/429)."""

    detail: str


class Page(BaseModel, Generic[T]):
    total: int = Field(description="rows matching the filters, over all pages")
    limit: int
    offset: int
    items: list[T]


class Lease(BaseModel):
    host: str
    pid: int
    renewed_at: str
    expires_at: str


class RunOut(BaseModel):
    id: int
    kind: Literal["full", "partial"]
    kinds: list[str] | None
    status: Literal["running", "completed", "failed", "interrupted"]
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None
    evidence: int
    findings: int
    verdicts: int
    collection_errors: int
    error: str | None
    digest: str | None
    lease: Lease | None


class CollectionErrorOut(BaseModel):
    kind: str
    source: str
    scope: str
    code: str
    message: str
    status_code: int | None
    request_id: str | None
    occurred_at: datetime


class RunDetail(BaseModel):
    run: RunOut
    collection_errors: list[CollectionErrorOut]


class RequirementRow(BaseModel):
    no: int
    section: str
    item: str | None
    title_ja: str
    title_en: str
    responsibility: Responsibility
    evidence_mode: str
    coverage: str
    coverage_ja: str | None
    coverage_en: str | None
    status: StatusName
    reason_ja: str
    reason_en: str
    checks: list[str]
    findings: dict[str, int] = Field(description="finding counts by status (pass, fail, error); empty: no verdict")


class RequirementPage(Page[RequirementRow]):
    run: RunOut = Field(description="the run the answer comes from")
    as_of: datetime | None
    counts: dict[str, int] = Field(description="rows per status, over all pages")


class EvidenceMeta(BaseModel):
    sha256: str
    kind: str
    source: str
    resource_id: str
    api_version: str
    request_id: str | None
    collected_at: str


class ExplainedFinding(BaseModel):
    check: str
    status: FindingStatus
    resource_id: str
    reason_ja: str
    reason_en: str
    evidence: list[EvidenceMeta]


class ExplainRun(BaseModel):
    id: int
    status: str
    digest: str | None
    finished_at: str | None


class HistoryDrift(BaseModel):
    id: int
    kind: str
    check_id: str | None
    resource_id: str | None
    before: str | None
    after: str | None
    reason_ja: str
    reason_en: str


class HistoryEntry(BaseModel):
    run: int
    kind: str
    finished_at: str | None
    digest: str | None
    before: str | None = Field(description="the status in the run before that judged it (null: its first judgement)")
    after: str
    changed: bool = Field(description="the status differs from the one before (the first judgement counts)")
    reason_ja: str
    reason_en: str
    drift: list[HistoryDrift] = Field(description="the run's drift events behind a change")


class RequirementDetail(BaseModel):
    run: ExplainRun
    no: int
    section: str
    item: str | None
    title_ja: str
    title_en: str
    coverage: str
    coverage_ja: str | None
    coverage_en: str | None
    checks: list[str]
    status: StatusName
    reason_ja: str
    reason_en: str
    findings: list[ExplainedFinding] = Field(
        description="one page (limit from offset) of the findings that meet status and resource: failures first, "
        "then errors, then passes"
    )
    total: int = Field(description="findings that meet the filters, over all pages")
    limit: int
    offset: int
    counts: dict[str, int] = Field(description="findings per status, of all the requirement's findings in the run")
    history: list[HistoryEntry] = Field(
        description="its verdict in each completed run that judged it up to this run, newest first, one page "
        "(history_limit runs)"
    )
    history_next: int | None = Field(
        description="older history: pass this run id as history_before (null: this page reaches its first judgement)"
    )


class EvidenceOut(EvidenceMeta):
    run: int = Field(description="the newest run (at or before as_of) that collected it")
    scope: str
    content: Any = Field(description="the raw document as Azure returned it")


class FindingOut(BaseModel):
    check_id: str
    status: FindingStatus
    resource_id: str
    requirements: list[int]
    reason_ja: str
    reason_en: str
    evidence: list[str] = Field(description="SHA-256 of each evidence record judged (GET /api/v1/evidence/{sha256})")


class FindingPage(Page[FindingOut]):
    run: RunOut


class Acknowledgement(BaseModel):
    by: str
    at: datetime
    note: str


class DriftOut(BaseModel):
    id: int
    run: int
    detected_at: str
    kind: str
    requirements: list[int]
    check_id: str | None
    resource_id: str | None
    before: str | None
    after: str | None
    reason_ja: str
    reason_en: str
    previous_run: int | None
    explain: str | None
    acknowledged: Acknowledgement | None


class AccountOut(BaseModel):
    principal_id: str | None
    name: str
    display_name: str | None
    type: str
    enabled: bool | None
    user_type: str | None
    created: str | None
    last_sign_in: str | None
    source: str
    role: str
    privileged: bool
    scope: str
    via_groups: list[str]
    assignment: str
    eligible: bool | None  # PIM-eligible: the role is held only once activated; null where no holder is known
    flags: list[str]
    grant_id: str


class AccountPage(Page[AccountOut]):
    run: RunOut


class ResourceOut(BaseModel):
    subscription: str
    resource_group: str
    type: str
    name: str
    location: str | None
    owner: str | None
    region_check: FindingStatus | None
    owner_check: FindingStatus | None
    id: str
    evidence_sha256: str
    collected_at: str


class ResourcePage(Page[ResourceOut]):
    run: RunOut


class DocumentOut(BaseModel):
    name: str
    media_type: str
    size: int
    sha256: str


class RevocationOut(BaseModel):
    by: str
    at: datetime
    reason: str


class AttestationOut(BaseModel):
    id: str
    requirements: list[int]
    owner: str
    attested_on: date
    valid_until: date
    statement_ja: str
    statement_en: str
    documents: list[DocumentOut]
    recorded_by: str
    recorded_at: datetime | None
    state: Literal["valid", "expired", "not_yet", "revoked"] = Field(description="on the as_of day (default today)")
    revoked: RevocationOut | None


class AttestationIn(BaseModel):
    id: str | None = Field(None, max_length=64, description="your reference (default: ATT-YYYYMMDD-NNN)")
    requirements: str = Field(max_length=500, description="requirement numbers, e.g. 1,2 or 96-97")
    owner: str = Field(max_length=500)
    attested_on: date | None = Field(None, description="default: today")
    valid_until: date
    statement_ja: str = Field(max_length=10000)
    statement_en: str = Field(max_length=10000)


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class AcknowledgeIn(BaseModel):
    note: str = Field("", max_length=2000)


class TokenOut(BaseModel):
    id: str
    name: str
    role: RoleName
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    created_by: str
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None


class TokenIn(BaseModel):
    name: str = Field(max_length=128)
    role: RoleName
    expires_days: int = Field(ge=1, le=3650)


class TokenCreated(TokenOut):
    token: str = Field(description="the bearer token; shown this once, only its hash is stored")


class ActionOut(BaseModel):
    action: str
    subject: str
    actor: str
    recorded_at: datetime
    chain_hash: str = Field(description="this record's place in the hash-chained record of API writes")


class CollectionStarted(ActionOut):
    detail: str


class Me(BaseModel):
    name: str
    role: RoleName
    via: Literal["token", "session"]


class Health(BaseModel):
    status: Literal["ok"]
