"""App Service sites, their deployment slots, and each one's `config/web` document (TLS, cipher suites,
access restrictions, remote debugging, FTP, runtime stack), App Service certificates and App Service plans.
Slots are reachable on their own host names with their own settings, so they are judged like sites.

Sites, slots, certificates and plans are one listing each per subscription (slots one per site); config/web
is one call per site and per slot, as no listing returns it. The sites and slots listings are made once per
run (the publishing credentials fetcher reads the same pages), and each site's reads go to the run's call pool.
With `collection.resource_graph` the slots of every site come from one Resource Graph query per subscription
instead (collector/fetchers/resource_graph.py; a failed query falls back to the per-site listing)."""

from typing import Any

from azure.mgmt.web import WebSiteManagementClient

from collector.fetchers import resource_graph
from collector.fetchers.base import FetchContext, Fetcher, RawCapture, get_raw, resource_group_of
from controls.model import FactKind

# The run's listings of sites and of one site's slots, made once for every fetcher reading them.
SITES = "web.sites"
SLOTS = "web.slots"
SLOT_TYPE = "microsoft.web/sites/slots"
_site_of_slot = resource_graph.parent_by_segment("slots")


def slots_of(ctx: FetchContext, client: WebSiteManagementClient, site_id: str, rg: str, name: str) -> RawCapture:
    """One site's slots as Web Apps - List Slots gives them: from the run's Resource Graph rows when it has them,
    else that listing (made once per run)."""
    children = resource_graph.children_of(ctx, "resources", SLOT_TYPE, _site_of_slot)
    if children is not None:
        return resource_graph.listing_of(children, site_id)
    return ctx.listing(SLOTS, client.web_apps.list_slots, rg, name)


def _config(ctx: FetchContext, site_id: str, call: Any, *args: str) -> None:
    try:
        capture = get_raw(call, *args)
    except Exception as exc:  # recorded against this site or slot only; the others go on
        ctx.sink.error(FactKind.WEB_CONFIG, ctx.fetcher.name, site_id, exc)
        return
    ctx.record(FactKind.WEB_CONFIG, capture)


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(WebSiteManagementClient, ctx.subscription_id)

    def read(site: dict[str, Any]) -> None:
        rg, name = resource_group_of(site["id"]), site["name"]
        _config(ctx, site["id"], client.web_apps.get_configuration, rg, name)
        try:
            slots = ctx.record(FactKind.WEB_SITE, slots_of(ctx, client, site["id"], rg, name))
        except Exception as exc:
            ctx.sink.error(FactKind.WEB_SITE, ctx.fetcher.name, site["id"], exc)
            return
        for slot in slots:
            slot_name = slot["id"].rstrip("/").rsplit("/", 1)[-1]
            _config(ctx, slot["id"], client.web_apps.get_configuration_slot, rg, name, slot_name)

    ctx.each(ctx.record(FactKind.WEB_SITE, ctx.listing(SITES, client.web_apps.list)), read)


_SITES = ("microsoft.web/sites", "microsoft.web/sites/slots")
# What `slots_of` reads, with the sites listing: the readers of a site's slots declare these.
SLOT_LISTINGS = (SLOTS, resource_graph.shared_listing(SLOT_TYPE))
FETCHER = Fetcher(
    "web.sites",
    {FactKind.WEB_SITE: _SITES, FactKind.WEB_CONFIG: _SITES},
    tenant_wide=False,
    run=_run,
    listings=(SITES, *SLOT_LISTINGS),
)

# App Service certificates (Microsoft.Web/certificates: issuer, subjectName, expirationDate, thumbprint), one
# listing per subscription (Certificates - List); certificates in Key Vault are only referenced from here.
WEB_CERTIFICATE = "web_certificate"
# App Service plans (Microsoft.Web/serverfarms: properties.zoneRedundant, sku.capacity), one listing per
# subscription (App Service Plans - List).
APP_SERVICE_PLAN = "app_service_plan"


def _certificates(ctx: FetchContext) -> None:
    client = ctx.clients.arm(WebSiteManagementClient, ctx.subscription_id)
    ctx.list_into(WEB_CERTIFICATE, client.certificates.list)


def _plans(ctx: FetchContext) -> None:
    client = ctx.clients.arm(WebSiteManagementClient, ctx.subscription_id)
    ctx.list_into(APP_SERVICE_PLAN, client.app_service_plans.list)


CERTIFICATE_FETCHER = Fetcher(
    "web.certificates", {WEB_CERTIFICATE: ("microsoft.web/certificates",)}, tenant_wide=False, run=_certificates
)
PLAN_FETCHER = Fetcher("web.plans", {APP_SERVICE_PLAN: ("microsoft.web/serverfarms",)}, tenant_wide=False, run=_plans)
