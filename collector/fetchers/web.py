"""App Service sites, their deployment slots, and each one's `config/web` document (TLS, client
certificates). Slots are reachable on their own host names with their own settings, so they are
judged like sites."""

from typing import Any

from azure.mgmt.web import WebSiteManagementClient

from collector.fetchers.base import FetchContext, Fetcher, RawCapture, resource_group_of
from controls.model import FactKind


def _config(ctx: FetchContext, site_id: str, call: Any, *args: str) -> None:
    capture = RawCapture()
    try:
        call(*args, raw_response_hook=capture)
    except Exception as exc:  # recorded against this site or slot only; the others go on
        ctx.sink.error(FactKind.WEB_CONFIG, ctx.fetcher.name, site_id, exc)
        return
    ctx.record(FactKind.WEB_CONFIG, capture)


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(WebSiteManagementClient, ctx.subscription_id)
    for site in ctx.list_into(FactKind.WEB_SITE, client.web_apps.list):
        rg, name = resource_group_of(site["id"]), site["name"]
        _config(ctx, site["id"], client.web_apps.get_configuration, rg, name)
        try:
            slots = ctx.list_into(FactKind.WEB_SITE, client.web_apps.list_slots, rg, name)
        except Exception as exc:
            ctx.sink.error(FactKind.WEB_SITE, ctx.fetcher.name, site["id"], exc)
            continue
        for slot in slots:
            slot_name = slot["id"].rstrip("/").rsplit("/", 1)[-1]
            _config(ctx, slot["id"], client.web_apps.get_configuration_slot, rg, name, slot_name)


_SITES = ("microsoft.web/sites", "microsoft.web/sites/slots")
FETCHER = Fetcher("web.sites", {FactKind.WEB_SITE: _SITES, FactKind.WEB_CONFIG: _SITES}, tenant_wide=False, run=_run)
