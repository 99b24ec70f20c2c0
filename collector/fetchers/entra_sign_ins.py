"""When each user last signed in, through Microsoft Graph v1.0: `GET /users?$select=…,signInActivity`.

Tenant-wide, collected once per run. signInActivity needs the application permission AuditLog.Read.All
(optional: without it Graph answers 403 Authentication_MSGraphPermissionMissing) and a tenant with Microsoft
Entra ID P1 or P2 (without: 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant); either refusal is
this read's collection error only, naming what is missing. `$select` names only what the stale-account
rule reads: no mail, phone or sign-in request ids beyond the signInActivity object Graph returns whole.
"""

from __future__ import annotations

import asyncio

from collector.fetchers.base import FetchContext, Fetcher
from collector.fetchers.graph_reads import Read, collect

USER_SIGN_IN = "entra_user_sign_in"
AUDIT_LOG_PERMISSION = "AuditLog.Read.All"

READ = Read(
    USER_SIGN_IN,
    "users?$select=id,userPrincipalName,accountEnabled,userType,createdDateTime,signInActivity",
    "users",
    AUDIT_LOG_PERMISSION,
    licence="P1 or P2",
)


def _run(ctx: FetchContext) -> None:
    asyncio.run(collect(ctx, (READ,)))


FETCHER = Fetcher("entra.sign_in_activity", {USER_SIGN_IN: ("directory/users",)}, tenant_wide=True, run=_run)
