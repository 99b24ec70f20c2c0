"""Entra ID sign-in policies through Microsoft Graph v1.0: domains' password expiry, the tenant's
directory settings (banned passwords, smart lockout), Conditional Access policies and security defaults.

Tenant-wide, collected once per run. Each read is recorded on its own, so one that is refused (e.g.
Conditional Access without Policy.Read.All) does not hide the others. Reads and permissions:

- `GET /domains` (Directory.Read.All): id, authenticationType, isVerified, passwordValidityPeriodInDays.
- `GET /users` (Directory.Read.All): id, userPrincipalName, accountEnabled, passwordPolicies (only to find
  users whose password never expires).
- `GET /groupSettings` (Directory.Read.All): the tenant-wide directory settings ("Password Rule Settings").
- `GET /identity/conditionalAccess/policies` (Policy.Read.All, optional).
- `GET /policies/identitySecurityDefaultsEnforcementPolicy` (Policy.Read.All, optional).

Raw JSON is kept as evidence, as in collector.fetchers.entra; `$select` names only what the checks read.
"""

from __future__ import annotations

import asyncio

from collector.fetchers.base import FetchContext, Fetcher
from collector.fetchers.graph_reads import Read, collect

DOMAIN = "entra_domain"
USER_PASSWORD_POLICY = "entra_user_password_policy"
DIRECTORY_SETTING = "entra_directory_setting"
CONDITIONAL_ACCESS_POLICY = "conditional_access_policy"
SECURITY_DEFAULTS = "security_defaults_policy"

POLICY_PERMISSION = "Policy.Read.All"


READS = (
    Read(DOMAIN, "domains?$select=id,authenticationType,isDefault,isVerified,passwordValidityPeriodInDays", "domains"),
    Read(USER_PASSWORD_POLICY, "users?$select=id,userPrincipalName,accountEnabled,passwordPolicies", "users"),
    Read(
        DIRECTORY_SETTING, "groupSettings?$select=id,displayName,templateId,values", "groupSettings", record_empty=True
    ),
    Read(
        CONDITIONAL_ACCESS_POLICY,
        "identity/conditionalAccess/policies?$select=id,displayName,state,conditions,grantControls,sessionControls",
        "conditionalAccessPolicies",
        POLICY_PERMISSION,
    ),
    Read(
        SECURITY_DEFAULTS,
        "policies/identitySecurityDefaultsEnforcementPolicy?$select=id,displayName,isEnabled",
        "policies/identitySecurityDefaultsEnforcementPolicy",
        POLICY_PERMISSION,
        singleton=True,
    ),
)


def _run(ctx: FetchContext) -> None:
    asyncio.run(collect(ctx, READS))


FETCHER = Fetcher(
    "entra.policies",
    {
        DOMAIN: ("directory/domains",),
        USER_PASSWORD_POLICY: ("directory/users",),
        DIRECTORY_SETTING: ("tenant",),
        CONDITIONAL_ACCESS_POLICY: ("tenant",),
        SECURITY_DEFAULTS: ("tenant",),
    },
    tenant_wide=True,
    run=_run,
)
