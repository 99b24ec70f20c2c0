"""The registry of fetchers: one per family of Azure facts. Add a family = add a file and a line here."""

from collector.fetchers import (
    authorization,
    diagnostics,
    entra,
    inventory,
    loganalytics,
    network,
    sql,
    storage,
    subscriptions,
    web,
)
from collector.fetchers.base import Fetcher

SUBSCRIPTIONS = subscriptions.FETCHER

# Everything collected per run besides the subscription list itself.
FETCHERS: tuple[Fetcher, ...] = (
    inventory.FETCHER,
    network.NSG_FETCHER,
    network.FLOW_LOG_FETCHER,
    web.FETCHER,
    storage.FETCHER,
    sql.FETCHER,
    diagnostics.FETCHER,
    loganalytics.FETCHER,
    authorization.FETCHER,
    entra.FETCHER,
)
