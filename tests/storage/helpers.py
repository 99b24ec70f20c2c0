"""Sample rows of every type, and raw SQL helpers for tampering with a ledger behind its back."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session, undefer

from controls.model import CollectionError, Evidence, FactKind, Finding, Status, Verdict
from storage import states
from storage.hashing import blob_sha256, row_hash, row_values, seal_document
from storage.ledger import Ledger, seal_contents
from storage.models import Run, RunFinding, RunSignature, RunState
from storage.signatures import RunSigner, sign_run

T0 = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
NSG_ID = "/subscriptions/0000/resourceGroups/rg-karte/providers/Microsoft.Network/networkSecurityGroups/nsg-web"
SITE_ID = "/subscriptions/0000/resourceGroups/rg-karte/providers/Microsoft.Web/sites/karte-app"
ALL_TABLES = (
    "runs",
    "evidence_blobs",
    "run_evidence",
    "collection_errors",
    "findings",
    "verdicts",
    "drift_events",
    "attestation_records",
    "attestation_documents",
    "run_signatures",
    "run_states",
)


def nsg_evidence(resource_id: str = NSG_ID, *, port: str = "443", at: datetime = T0) -> Evidence:
    content = {
        "id": resource_id,
        "name": resource_id.rsplit("/", 1)[-1],
        "properties": {
            "securityRules": [{"name": "allow-https", "properties": {"destinationPortRange": port, "access": "Allow"}}],
            "説明": "電子カルテ Web 層",
        },
    }
    return Evidence(
        kind=FactKind.NSG,
        source="network.nsgs",
        scope="/subscriptions/0000",
        resource_id=resource_id,
        api_version="2024-05-01",
        request_id="req-nsg-1",
        collected_at=at,
        content=content,
    )


def site_config_evidence(at: datetime = T0) -> Evidence:
    return Evidence(
        kind=FactKind.WEB_CONFIG,
        source="web.sites",
        scope=SITE_ID,
        resource_id=SITE_ID,
        api_version="2023-12-01",
        request_id=None,
        collected_at=at,
        content={"properties": {"minTlsVersion": "1.2", "ftpsState": "Disabled", "http20Enabled": True}},
    )


@dataclass
class Sample:
    evidence: list[Evidence]
    errors: list[CollectionError]
    findings: list[Finding]
    verdicts: list[Verdict]


def sample(at: datetime = T0) -> Sample:
    nsg = nsg_evidence(at=at)
    # Same document seen under a second id (e.g. listed twice): one blob, two run_evidence rows.
    twin = replace(nsg, resource_id=NSG_ID + "-copy")
    site = site_config_evidence(at)
    errors = [
        CollectionError(
            kind=FactKind.ROLE_ASSIGNMENT,
            source="authorization.role_assignments",
            scope="/subscriptions/0000",
            code="AuthorizationFailed",
            message="The client does not have authorization to perform action 'roleAssignments/read'.",
            status_code=403,
            request_id="req-auth-9",
            occurred_at=at + timedelta(seconds=2),
        )
    ]
    findings = [
        Finding(
            check_id="nsg-no-internet-management-ports",
            requirements=(86, 87, 148),
            status=Status.PASS,
            resource_id=NSG_ID,
            reason_ja="nsg-web はインターネットから管理ポートを開けていません。",
            reason_en="nsg-web opens no management port to the Internet.",
            evidence=(nsg.sha256,),
        ),
        Finding(
            check_id="app-service-min-tls-1-2",
            requirements=(23,),
            status=Status.FAIL,
            resource_id=SITE_ID,
            reason_ja="karte-app の minTlsVersion は 1.0 です。",
            reason_en="karte-app minTlsVersion is 1.0.",
            evidence=(site.sha256, nsg.sha256),
        ),
    ]
    verdicts = [
        Verdict(
            requirement=86,
            status=Status.PASS,
            reason_ja="全 NSG で管理ポートは閉じています。",
            reason_en="Management ports are closed on every NSG.",
            check_ids=("nsg-no-internet-management-ports",),
            findings_pass=1,
        ),
        Verdict(
            requirement=141,
            status=Status.ERROR,
            reason_ja="ロール割り当てを取得できませんでした。",
            reason_en="Role assignments could not be collected.",
            check_ids=("privileged-role-count",),
            findings_error=1,
        ),
    ]
    return Sample([nsg, twin, site], errors, findings, verdicts)


def record_run(
    ledger: Ledger, at: datetime = T0, data: Sample | None = None, *, fail: str | None = None
) -> tuple[int, str]:
    """Store one full run and seal it; returns (run id, digest)."""
    data = data or sample(at)
    run_id = ledger.start_run(at, agent_version="0.1.0", config_digest="c0ffee", scope={"subscriptions": ["0000"]})
    ledger.add_evidence(run_id, data.evidence)
    ledger.add_collection_errors(run_id, data.errors)
    ledger.add_findings(run_id, data.findings)
    ledger.add_verdicts(run_id, data.verdicts)
    finished = at + timedelta(minutes=5)
    digest = ledger.fail_run(run_id, finished, fail) if fail else ledger.complete_run(run_id, finished)
    return run_id, digest


def drop_protection(engine: Engine) -> None:
    """What someone with database rights would do first: switch the append-only triggers off."""
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            names = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars()
            for name in list(names):
                connection.execute(text(f'DROP TRIGGER "{name}"'))
        else:
            for table in ALL_TABLES:
                connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


def execute(engine: Engine, sql: str, **params: object) -> int:
    with engine.begin() as connection:
        return connection.execute(text(sql), params).rowcount


def _forge_held_findings(session: Session, run_id: int) -> None:
    """Turn the failing findings run `run_id` holds into passes: rows it stored itself are edited in place; rows
    it holds by reference (stored by an earlier run) are copied as passes under this run, and its findings parts
    are replaced by one that lists the copies instead."""
    for finding in session.scalars(select(RunFinding).where(RunFinding.run_id == run_id, RunFinding.status == "fail")):
        finding.status = "pass"
        finding.row_hash = row_hash(RunFinding, row_values(finding))
    session.flush()
    entries = states.entries_of(session, run_id, "findings")
    if entries is None:
        return
    rows = states.load_rows(session, RunFinding, [e.row_id for e in entries])
    ids = []
    for entry in entries:
        values = rows[entry.row_id]
        if values["status"] == "fail" and values["run_id"] != run_id:
            copy = {k: v for k, v in values.items() if k != "id"} | {"run_id": run_id, "status": "pass"}
            copy["row_hash"] = row_hash(RunFinding, copy)
            forged = RunFinding(**copy)
            session.add(forged)
            session.flush()
            ids.append(forged.id)
        else:
            ids.append(entry.row_id)
    session.execute(delete(RunState).where(RunState.run_id == run_id, RunState.table_name == "findings"))
    states.add_part_columns(session, run_id, "findings", ids)


def rewrite_from(engine: Engine, run_id: int, *, signer: RunSigner | None = None) -> None:
    """What someone with database rights (triggers already dropped) does to hide a change: turn run `run_id`'s
    failing findings into passes with fresh row hashes, then recompute the seal, digest and chain link of that
    run and of every sealed run after it, so the hash chain verifies again. With `signer` (a stolen key) the
    rewritten runs are signed afresh too; without, their signatures are left as they were."""
    with Session(engine) as session, session.begin():
        _forge_held_findings(session, run_id)
        start = session.get(Run, run_id)
        assert start is not None and start.chain_index is not None
        before = session.scalar(select(Run.digest).where(Run.chain_index == start.chain_index - 1))
        later = select(Run).where(Run.chain_index >= start.chain_index).order_by(Run.chain_index)
        for run in session.scalars(later.options(undefer(Run.seal))).all():
            run.prev_digest = before
            run.seal = seal_document(run, *seal_contents(session, run.id))
            run.digest = blob_sha256(run.seal)
            session.flush()
            if signer is not None:
                session.execute(delete(RunSignature).where(RunSignature.run_id == run.id))
                sign_run(session, run, signer, T0)
            before = run.digest


def reseal(engine: Engine, version: int) -> None:
    """Seal every sealed run again, in chain order, as seal `version` would have (triggers already dropped): a
    ledger as an older shoko left it, whose runs must keep verifying by their own version's rule."""
    with Session(engine) as session, session.begin():
        before = None
        for run in session.scalars(
            select(Run).where(Run.chain_index.is_not(None)).order_by(Run.chain_index).options(undefer(Run.seal))
        ).all():
            run.prev_digest = before
            run.seal = seal_document(run, *seal_contents(session, run.id, version), version)
            run.digest = blob_sha256(run.seal)
            session.flush()
            before = run.digest
