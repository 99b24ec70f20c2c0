"""App Service sites and each site's `config/web` document (TLS, client certificates)."""

from azure.mgmt.web import WebSiteManagementClient

from collector.fetchers.base import FetchContext, Fetcher, RawCapture, resource_group_of
from controls.model import FactKind


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(WebSiteManagementClient, ctx.subscription_id)
    for site in ctx.list_into(FactKind.WEB_SITE, client.web_apps.list):
        capture = RawCapture()
        try:
            client.web_apps.get_configuration(resource_group_of(site["id"]), site["name"], raw_response_hook=capture)
        except Exception as exc:  # recorded against this site only; the other sites go on
            ctx.sink.error(FactKind.WEB_CONFIG, ctx.fetcher.name, site["id"], exc)
            continue
        ctx.record(FactKind.WEB_CONFIG, capture)


FETCHER = Fetcher("web.sites", (FactKind.WEB_SITE, FactKind.WEB_CONFIG), tenant_wide=False, run=_run)
