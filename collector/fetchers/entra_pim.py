"""Who is eligible for which Entra ID directory role through Privileged Identity Management, through Microsoft
Graph v1.0: `GET /roleManagement/directory/roleEligibilityScheduleInstances` (unifiedRoleEligibilityScheduleInstance:
principalId, roleDefinitionId — the role's template id for built-in roles —, directoryScopeId, start and end).

Tenant-wide, collected once per run. Needs the application permission RoleEligibilitySchedule.Read.Directory
(or RoleManagement.Read.Directory; optional: without it Graph answers 403 PermissionScopeNotGranted) and a
tenant with Microsoft Entra ID P2 (without: 400 AadPremiumLicenseRequired); either refusal is this read's
collection error only, naming what is missing.
"""

from __future__ import annotations

import asyncio

from collector.fetchers.base import FetchContext, Fetcher
from collector.fetchers.graph_reads import Read, collect

DIRECTORY_ROLE_ELIGIBILITY = "directory_role_eligibility"
ELIGIBILITY_PERMISSION = "RoleEligibilitySchedule.Read.Directory"

READ = Read(
    DIRECTORY_ROLE_ELIGIBILITY,
    "roleManagement/directory/roleEligibilityScheduleInstances?$select=id,principalId,roleDefinitionId,"
    "directoryScopeId,appScopeId,startDateTime,endDateTime,memberType,roleEligibilityScheduleId",
    "roleManagement/directory/roleEligibilityScheduleInstances",
    ELIGIBILITY_PERMISSION,
    licence="P2",
)


def _run(ctx: FetchContext) -> None:
    asyncio.run(collect(ctx, (READ,)))


FETCHER = Fetcher(
    "entra.role_eligibility", {DIRECTORY_ROLE_ELIGIBILITY: ("directory/directoryroles",)}, tenant_wide=True, run=_run
)
