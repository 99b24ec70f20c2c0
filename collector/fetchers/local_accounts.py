"""Local credentials that bypass Entra ID: container registries' admin user, and App Service basic publishing
credentials (FTP and SCM user name and password). SQL servers' Entra administrator comes with the SQL listing
(collector/fetchers/sql.py lists them with `$expand=administrators/activedirectory`).

- Container registries: Registries - List (azure-mgmt-containerregistry 15, api-version 2025-11-01), one call
  per subscription; each registry's `properties.adminUserEnabled` is in the listing.
- App Service basic publishing credentials: Web Apps - List Basic Publishing Credentials Policies (and its
  Slot variant; azure-mgmt-web 11.0.1, api-version 2025-05-01), one call per site and per slot, as no listing
  returns them. The sites and slots are listed for that (Web Apps - List, List Slots) but not stored: the web
  fetcher stores them, and the listings are made once per run for both. Each call's answer is stored as ONE
  document per site or slot, `{"value": [ftp, scm]}` with the site's id, so a missing policy is a fact and not
  a gap. A failed call is recorded against that site or slot alone; the others go on.
"""

from typing import Any

from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.web import WebSiteManagementClient

from collector.fetchers.base import FetchContext, Fetcher, list_raw, resource_group_of
from collector.fetchers.web import SITES, SLOT_LISTINGS, slots_of

CONTAINER_REGISTRY = "container_registry"
# One document per site or slot: {"value": [policy, ...]} as List Basic Publishing Credentials Policies
# returns them (`basicPublishingCredentialsPolicies/ftp` and `/scm`, each with properties.allow).
PUBLISHING_CREDENTIALS_POLICIES = "publishing_credentials_policies"


def _registries(ctx: FetchContext) -> None:
    client = ctx.clients.arm(ContainerRegistryManagementClient, ctx.subscription_id)
    ctx.list_into(CONTAINER_REGISTRY, client.registries.list)


def _policies(ctx: FetchContext, site_id: str, call: Any, *args: str) -> None:
    try:
        capture = list_raw(call, *args)
    except Exception as exc:  # recorded against this site or slot only; the others go on
        ctx.sink.error(PUBLISHING_CREDENTIALS_POLICIES, ctx.fetcher.name, site_id, exc)
        return
    page = capture.pages[-1] if capture.pages else None
    ctx.record_document(
        PUBLISHING_CREDENTIALS_POLICIES,
        {"value": [doc for doc, _ in capture.documents()]},
        resource_id=site_id,
        api_version=page.api_version if page else "",
        request_id=page.request_id if page else None,
    )


def _publishing(ctx: FetchContext) -> None:
    client = ctx.clients.arm(WebSiteManagementClient, ctx.subscription_id)

    def read(site: dict[str, Any]) -> None:
        site_id, name = str(site["id"]), str(site["name"])
        rg = resource_group_of(site_id)
        _policies(ctx, site_id, client.web_apps.list_basic_publishing_credentials_policies, rg, name)
        try:
            slots = [doc for doc, _ in slots_of(ctx, client, site_id, rg, name).documents()]
        except Exception as exc:  # the slots of this site stay unjudged, and say why
            ctx.sink.error(PUBLISHING_CREDENTIALS_POLICIES, ctx.fetcher.name, site_id, exc)
            return
        for slot in slots:
            slot_id = str(slot["id"])
            slot_name = slot_id.rstrip("/").rsplit("/", 1)[-1]
            call = client.web_apps.list_basic_publishing_credentials_policies_slot
            _policies(ctx, slot_id, call, rg, name, slot_name)

    ctx.each([site for site, _ in ctx.listing(SITES, client.web_apps.list).documents()], read)


REGISTRY_FETCHER = Fetcher(
    "containerregistry.registries",
    {CONTAINER_REGISTRY: ("microsoft.containerregistry/registries",)},
    tenant_wide=False,
    run=_registries,
)
PUBLISHING_FETCHER = Fetcher(
    "web.publishing_credentials",
    {PUBLISHING_CREDENTIALS_POLICIES: ("microsoft.web/sites", "microsoft.web/sites/slots")},
    tenant_wide=False,
    run=_publishing,
    listings=(SITES, *SLOT_LISTINGS),
)
