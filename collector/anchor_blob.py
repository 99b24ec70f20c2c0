"""Anchors in an Azure Blob container: one blob per signed run, written once and never overwritten.

The blob `runs/<chain position, 12 digits>-run-<run id>.json` holds the anchor's JSON, as one line of the anchors
file holds it. It is written with `If-None-Match: *`, so an existing blob is never replaced: a ledger rewritten
and sealed again cannot publish a second digest for a chain position (the service answers 409 BlobAlreadyExists),
and with the container's time-based immutability policy nobody can replace or delete one either (409
BlobImmutableDueToPolicy). `shoko verify --anchors` lists the container and compares, as with the file.

Access is the `azure` credential's Entra token for https://storage.azure.com (the collector's identity needs
Storage Blob Data Contributor on the container to publish; an auditor's, Storage Blob Data Reader to verify).
"""

from __future__ import annotations

import json

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.blob import ContainerClient, ContentSettings, LinearRetry

from collector.azure_clients import ClientFactory
from collector.settings import check_blob_location
from storage.anchors import AnchorError, Published, encode
from storage.signatures import Anchor

PREFIX = "runs/"
# The collector's seal waits on the write: a few quick retries, never the SDK's default 15 s back-off.
_RETRY = {"backoff": 1, "retry_total": 2, "random_jitter_range": 1}
_TIMEOUT = 30


def blob_name(anchor: Anchor) -> str:
    """Named by chain position first, so a listing comes back in chain order."""
    return f"{PREFIX}{anchor.chain_index:012d}-run-{anchor.run_id}.json"


def split_container_url(url: str) -> tuple[str, str]:
    """`https://<account>.blob.core.windows.net/<container>` -> (account URL, container). Raises ValueError."""
    account_url, _, container = url.rstrip("/").rpartition("/")
    try:
        check_blob_location(account_url, container)
    except ValueError:
        raise ValueError(f"{url}: expected https://<account>.blob.core.windows.net/<container>") from None
    return account_url, container


class BlobAnchors:
    """One container's anchors, through azure-storage-blob with the given credential."""

    def __init__(
        self, account_url: str, container: str, credential: TokenCredential, ca_bundle: str | None = None
    ) -> None:
        self.label = f"{account_url.rstrip('/')}/{container}"
        kwargs: dict[str, object] = {
            "retry_policy": LinearRetry(**_RETRY),
            "connection_timeout": _TIMEOUT,
            "read_timeout": _TIMEOUT,
        }
        if ca_bundle:
            kwargs["connection_verify"] = ca_bundle
        self.client = ContainerClient(account_url.rstrip("/"), container, credential=credential, **kwargs)

    def publish(self, anchor: Anchor) -> str:
        """Write the anchor's blob once; returns its name. Raises AnchorError (one line) when it was not written,
        an existing blob included (its chain position was already anchored: the ledger was sealed again)."""
        name = blob_name(anchor)
        try:
            self.client.get_blob_client(name).upload_blob(
                encode(anchor).encode(),  # the JSON of a line of the anchors file
                blob_type="BlockBlob",
                overwrite=False,  # If-None-Match: *
                content_settings=ContentSettings(content_type="application/json"),
            )
        except ResourceExistsError as exc:
            raise AnchorError(
                f"blob container {self.label}: {name} already exists ({_code(exc)}): an anchor for chain position "
                f"{anchor.chain_index} was published before and is never replaced"
            ) from None
        except AzureError as exc:
            raise AnchorError(f"blob container {self.label}: cannot write {name}: {_why(exc)}") from None
        return name

    def has_immutability_policy(self) -> bool:
        """Whether the container has a time-based retention policy (Get Container Properties). Raises AnchorError."""
        try:
            return bool(self.client.get_container_properties().has_immutability_policy)
        except AzureError as exc:
            raise AnchorError(f"blob container {self.label}: cannot read its properties: {_why(exc)}") from None

    def read(self) -> Published:
        """Every anchor blob under runs/, in name (chain) order. Raises AnchorError when the container cannot be
        listed or a blob cannot be read; a blob that is not an anchor, or not named for its own run, is unreadable."""
        anchors: list[tuple[str, Anchor]] = []
        unreadable: list[str] = []
        try:
            names = [b.name for b in self.client.list_blobs(name_starts_with=PREFIX)]
            for name in names:
                data = self.client.download_blob(name).readall()
                where = f"{self.label}/{name}"
                try:
                    anchor = Anchor.from_dict(json.loads(data))
                except (ValueError, UnicodeDecodeError) as exc:
                    unreadable.append(f"{where}: not an anchor ({exc})")
                    continue
                if blob_name(anchor) != name:
                    unreadable.append(
                        f"{where}: holds the anchor of run {anchor.run_id} at chain position {anchor.chain_index}, "
                        "not the run it is named for"
                    )
                    continue
                anchors.append((f"anchor blob {name}", anchor))
        except AzureError as exc:
            raise AnchorError(f"blob container {self.label}: cannot read the anchors: {_why(exc)}") from None
        return Published(tuple(anchors), tuple(unreadable))


def _code(exc: HttpResponseError) -> str:
    return f"{exc.status_code} {exc.error_code or exc.reason or ''}".strip()


def _why(exc: AzureError) -> str:
    """One line: the status and the service's error code, or what kept the request from an answer."""
    if isinstance(exc, HttpResponseError) and exc.status_code:
        return _code(exc)
    text = str(exc.message or exc).splitlines()[0] if str(exc.message or exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def policy_state(factory: ClientFactory, subscriptions: list[str], account: str, container: str) -> str | None:
    """The container's time-based immutability policy state as ARM shows it (`Locked`, `Unlocked`), or None when
    it has none. The account is looked for by name in `subscriptions` (Storage Accounts - List, then Blob Containers
    - Get: the collector's Reader role suffices). Raises AnchorError (one line) when it cannot be found or read."""
    from azure.mgmt.storage import StorageManagementClient

    try:
        for subscription in subscriptions:
            client = factory.arm(StorageManagementClient, subscription)
            for found in client.storage_accounts.list():
                if str(found.name).lower() != account.lower():
                    continue
                group = str(found.id).split("/")[4]
                document = client.blob_containers.get(group, str(found.name), container)
                policy = (document.get("properties") or {}).get("immutabilityPolicy") or {}
                state = (policy.get("properties") or {}).get("state")
                return str(state) if state else None
    except AzureError as exc:
        raise AnchorError(
            f"storage account {account}: container {container}: cannot read it from ARM: {_why(exc)}"
        ) from None
    raise AnchorError(f"storage account {account}: not found in subscriptions {', '.join(subscriptions) or '(none)'}")
