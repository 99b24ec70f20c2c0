"""Role assignments of a subscription and the role definitions they point at."""

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
