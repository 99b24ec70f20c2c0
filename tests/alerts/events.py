"""Drift events as alerts/drift.py produces them."""

from __future__ import annotations

from controls.model import DriftEvent, DriftKind, Status

NSG_CHECK = "nsg-no-internet-management-ports"
TLS_CHECK = "storage-min-tls-1-2"


def nsg_id(n: int = 0) -> str:
    return f"/subscriptions/0000/resourceGroups/rg-karte/providers/Microsoft.Network/networkSecurityGroups/nsg-{n:03d}"


def storage_id(name: str = "stemrdevje") -> str:
    return f"/subscriptions/0000/resourceGroups/rg-karte/providers/Microsoft.Storage/storageAccounts/{name}"


def event(
    kind: DriftKind,
    resource_id: str | None = None,
    check_id: str | None = NSG_CHECK,
    requirements: tuple[int, ...] = (86, 148),
    before: Status | None = Status.PASS,
    after: Status | None = Status.FAIL,
    previous_run: int | None = None,
) -> DriftEvent:
    resource_id = nsg_id() if resource_id is None and check_id else resource_id
    name = (resource_id or "").rsplit("/", 1)[-1]
    return DriftEvent(
        kind=kind,
        check_id=check_id,
        resource_id=resource_id,
        requirements=requirements,
        before=before,
        after=after,
        reason_ja=f"NSG {name} はインターネットから 22/TCP を許可しています",
        reason_en=f"NSG {name} allows 22/TCP from the Internet",
        previous_run=previous_run,
    )


def failure(resource_id: str | None = None, **kw: object) -> DriftEvent:
    return event(DriftKind.NEW_FAILURE, resource_id, **kw)  # type: ignore[arg-type]


def resolved(resource_id: str | None = None, **kw: object) -> DriftEvent:
    return event(DriftKind.RESOLVED, resource_id, before=Status.FAIL, after=Status.PASS, **kw)  # type: ignore[arg-type]
