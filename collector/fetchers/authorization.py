"""Role assignments of a subscription, the role definitions they point at, and PIM schedule instances."""

from azure.mgmt.authorization import AuthorizationManagementClient

from collector.fetchers.base import FetchContext, Fetcher
from controls.model import FactKind


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(AuthorizationManagementClient, ctx.subscription_id)
    ctx.list_into(FactKind.ROLE_DEFINITION, client.role_definitions.list, ctx.scope)
    ctx.list_into(FactKind.ROLE_ASSIGNMENT, client.role_assignments.list_for_subscription)


FETCHER = Fetcher(
    "authorization.roles",
    {
        FactKind.ROLE_DEFINITION: ("microsoft.authorization/roledefinitions",),
        FactKind.ROLE_ASSIGNMENT: ("microsoft.authorization/roleassignments",),
    },
    tenant_wide=False,
    run=_run,
)


# Privileged Identity Management, per subscription: the role assignments active now, each with whether it is
# permanent or time-bound ("Assigned") or a PIM activation ("Activated"), and the eligible assignments
# (Role Assignment Schedule Instances / Role Eligibility Schedule Instances - List For Scope, api-version
# 2020-10-01; one list call each per subscription, at, above and below it).
ROLE_ASSIGNMENT_INSTANCE = "role_assignment_schedule_instance"
ROLE_ELIGIBILITY_INSTANCE = "role_eligibility_schedule_instance"
# The PIM settings of each role at the subscription (Role Management Policy Assignments - List For Scope,
# 2020-10-01; one list call per subscription): properties.effectiveRules say whether activation needs MFA
# and approval.
ROLE_POLICY_ASSIGNMENT = "role_management_policy_assignment"


def _run_pim(ctx: FetchContext) -> None:
    client = ctx.clients.arm(AuthorizationManagementClient, ctx.subscription_id)
    ctx.list_into(ROLE_ASSIGNMENT_INSTANCE, client.role_assignment_schedule_instances.list_for_scope, ctx.scope)
    ctx.list_into(ROLE_ELIGIBILITY_INSTANCE, client.role_eligibility_schedule_instances.list_for_scope, ctx.scope)


def _run_pim_policies(ctx: FetchContext) -> None:
    client = ctx.clients.arm(AuthorizationManagementClient, ctx.subscription_id)
    ctx.list_into(ROLE_POLICY_ASSIGNMENT, client.role_management_policy_assignments.list_for_scope, ctx.scope)


PIM = Fetcher(
    "authorization.pim",
    {
        ROLE_ASSIGNMENT_INSTANCE: ("microsoft.authorization/roleassignmentscheduleinstances",),
        ROLE_ELIGIBILITY_INSTANCE: ("microsoft.authorization/roleeligibilityscheduleinstances",),
    },
    tenant_wide=False,
    run=_run_pim,
)

PIM_POLICIES = Fetcher(
    "authorization.pim_policies",
    {ROLE_POLICY_ASSIGNMENT: ("microsoft.authorization/rolemanagementpolicyassignments",)},
    tenant_wide=False,
    run=_run_pim_policies,
)


# Classic subscription administrators (Classic Administrators - List, api-version 2015-07-01; one list call per
# subscription): Service Administrator and Co-Administrators hold Owner-equivalent access outside Azure RBAC and PIM.
CLASSIC_ADMINISTRATOR = "classic_administrator"


def _run_classic(ctx: FetchContext) -> None:
    client = ctx.clients.arm(AuthorizationManagementClient, ctx.subscription_id)
    ctx.list_into(CLASSIC_ADMINISTRATOR, client.classic_administrators.list)


CLASSIC = Fetcher(
    "authorization.classic_administrators",
    {CLASSIC_ADMINISTRATOR: ("microsoft.authorization/classicadministrators",)},
    tenant_wide=False,
    run=_run_classic,
)
