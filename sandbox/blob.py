"""Azure Blob Storage's data plane, the operations shoko uses: Put Blob (block blobs), Get Blob and Get Blob
Properties, Delete Blob, List Blobs, Get Container Properties.

Requests are path-style, as the storage emulator takes them and as azure-storage-blob builds them for an account
URL on 127.0.0.1: `https://127.0.0.1:{port}/{account}/{container}/{blob}`. An account is a
`Microsoft.Storage/storageAccounts` document of the estate and a container a
`.../blobServices/default/containers/{name}` document; a container's time-based retention policy is its
`.../immutabilityPolicies/default` document (or the `properties.immutabilityPolicy` of the container document).
Blobs are kept in memory for the sandbox's life, across estate changes.

Answers follow the Blob service REST API (version 2021-12-02 and later): XML bodies, `x-ms-error-code` on every
error, ETag and Last-Modified on writes, 206 with Content-Range for a ranged Get Blob. Under a time-based policy
(Unlocked or Locked) a blob can be created and read but never overwritten, and not deleted before
its creation time plus `immutabilityPeriodSinceCreationInDays`: 409 BlobImmutableDueToPolicy.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from xml.sax.saxutils import escape

XML = "application/xml"
DEFAULT_VERSION = "2025-11-05"
_MAX_RESULTS = 5000
_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_CONTAINER_TYPE = "microsoft.storage/storageaccounts/blobservices/containers"
_POLICY_TYPE = "microsoft.storage/storageaccounts/blobservices/containers/immutabilitypolicies"


class BlobError(Exception):
    """One Blob service error: status, `x-ms-error-code` and message."""

    def __init__(self, status: int, code: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail

    def body(self, request_id: str) -> bytes:
        when = time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime())
        extra = f"<AuthenticationErrorDetail>{escape(self.detail)}</AuthenticationErrorDetail>" if self.detail else ""
        return (
            '<?xml version="1.0" encoding="utf-8"?><Error>'
            f"<Code>{escape(self.code)}</Code>"
            f"<Message>{escape(self.message)}\nRequestId:{request_id}\nTime:{when}</Message>{extra}</Error>"
        ).encode()


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Policy:
    """A container's time-based retention policy as ARM shows it."""

    state: str  # Unlocked | Locked
    days: int


@dataclass(frozen=True)
class Container:
    account: str
    name: str
    policy: Policy | None


@dataclass
class StoredBlob:
    content: bytes
    content_type: str
    created: float
    modified: float
    etag: str

    @property
    def md5(self) -> str:
        return base64.b64encode(hashlib.md5(self.content, usedforsecurity=False).digest()).decode()


def containers_of(resources: tuple[Mapping[str, Any], ...]) -> dict[tuple[str, str], Container]:
    """(account, container) -> Container, from the estate's ARM documents (names compared in lower case)."""
    policies: dict[str, Mapping[str, Any]] = {}
    for doc in resources:
        if str(doc.get("type", "")).lower() == _POLICY_TYPE:
            parent = str(doc["id"]).lower().rsplit("/immutabilitypolicies/", 1)[0]
            policies[parent] = doc.get("properties") or {}
    found: dict[tuple[str, str], Container] = {}
    for doc in resources:
        if str(doc.get("type", "")).lower() != _CONTAINER_TYPE:
            continue
        rid = str(doc["id"]).lower()
        segs = rid.split("/")
        account, name = segs[segs.index("storageaccounts") + 1], segs[-1]
        props = policies.get(rid)
        if props is None:
            props = ((doc.get("properties") or {}).get("immutabilityPolicy") or {}).get("properties")
        policy = None
        if props and str(props.get("state", "")).lower() in ("locked", "unlocked"):
            policy = Policy(str(props["state"]), int(props.get("immutabilityPeriodSinceCreationInDays") or 0))
        found[account, name] = Container(account, name, policy)
    return found


def accounts_of(resources: tuple[Mapping[str, Any], ...]) -> frozenset[str]:
    return frozenset(
        str(d.get("name") or str(d["id"]).rsplit("/", 1)[-1]).lower()
        for d in resources
        if str(d.get("type", "")).lower() == "microsoft.storage/storageaccounts"
    )


def is_blob_request(path: str, headers: Mapping[str, str], accounts: frozenset[str]) -> bool:
    """A data-plane call: its first segment names a storage account and it carries `x-ms-version` (every Storage
    SDK request does; ARM and Graph clients never send it)."""
    first = path.lstrip("/").split("/", 1)[0].lower()
    if not _ACCOUNT_NAME.match(first):
        return False
    return first in accounts or headers.get("x-ms-version") is not None


class BlobStore:
    """The blobs written while the sandbox runs. Thread-safe."""

    def __init__(self, page_size: int = 2) -> None:
        self.page_size = page_size
        self._lock = threading.Lock()
        self._blobs: dict[tuple[str, str], dict[str, StoredBlob]] = {}

    def names(self, account: str, container: str) -> list[str]:
        with self._lock:
            return sorted(self._blobs.get((account.lower(), container.lower()), {}))

    def content(self, account: str, container: str, name: str) -> bytes:
        with self._lock:
            return self._blobs[account.lower(), container.lower()][name].content

    def backdate(self, account: str, container: str, name: str, seconds: float) -> None:
        """Make a blob `seconds` older (its retention then ends that much sooner)."""
        with self._lock:
            blob = self._blobs[account.lower(), container.lower()][name]
            blob.created -= seconds
            blob.modified -= seconds

    def clear(self) -> None:
        with self._lock:
            self._blobs.clear()

    # -- requests -----------------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        containers: Mapping[tuple[str, str], Container],
    ) -> Reply:
        """Answer one authenticated request for a declared account (path already percent-decoded). Raises
        BlobError."""
        account, _, rest = path.lstrip("/").partition("/")
        account = account.lower()
        container_name, _, blob_name = rest.partition("/")
        if not container_name:
            raise BlobError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")
        container = containers.get((account, container_name.lower()))
        if container is None:
            raise BlobError(404, "ContainerNotFound", "The specified container does not exist.")
        restype, comp = query.get("restype"), query.get("comp")
        if not blob_name:
            if restype != "container":
                raise BlobError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified "
                                "in the request URI is invalid.")  # fmt: skip
            if method == "GET" and comp == "list":
                return self._list(container, query)
            if method in ("GET", "HEAD") and comp is None:
                return self._container_properties(container)
            raise BlobError(405, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.")
        if comp is not None:
            raise BlobError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in "
                            "the request URI is invalid.")  # fmt: skip
        if method == "PUT":
            return self._put(container, blob_name, headers, body)
        if method in ("GET", "HEAD"):
            return self._get(container, blob_name, headers)
        if method == "DELETE":
            return self._delete(container, blob_name)
        raise BlobError(405, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.")

    def _put(self, container: Container, name: str, headers: Mapping[str, str], body: bytes) -> Reply:
        kind = headers.get("x-ms-blob-type")
        if kind is None:
            raise BlobError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not "
                            "specified.")  # fmt: skip
        if kind != "BlockBlob":
            raise BlobError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct "
                            "format.")  # fmt: skip
        given_md5 = headers.get("Content-MD5")
        now = time.time()
        stored = StoredBlob(body, headers.get("x-ms-blob-content-type") or "application/octet-stream", now, now, "")
        if given_md5 is not None and given_md5 != stored.md5:
            raise BlobError(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 "
                            "value calculated by the server.")  # fmt: skip
        with self._lock:
            blobs = self._blobs.setdefault((container.account, container.name), {})
            existing = blobs.get(name)
            if existing is not None:
                if headers.get("If-None-Match", "").strip() == "*":
                    raise BlobError(409, "BlobAlreadyExists", "The specified blob already exists.")
                if container.policy is not None:
                    # WORM: never overwritten, not even once the retention has ended.
                    raise _immutable()
                stored.created = existing.created
            elif headers.get("If-Match") is not None:
                raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
            stored.etag = _etag(now)
            blobs[name] = stored
        return Reply(
            201,
            headers=(
                ("ETag", stored.etag),
                ("Last-Modified", _http_date(stored.modified)),
                ("Content-MD5", stored.md5),
                ("x-ms-request-server-encrypted", "true"),
            ),
        )

    def _get(self, container: Container, name: str, headers: Mapping[str, str]) -> Reply:
        with self._lock:
            blob = self._blobs.get((container.account, container.name), {}).get(name)
        if blob is None:
            raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
        common = [
            ("Last-Modified", _http_date(blob.modified)),
            ("x-ms-creation-time", _http_date(blob.created)),
            ("ETag", blob.etag),
            ("x-ms-blob-type", "BlockBlob"),
            ("x-ms-lease-status", "unlocked"),
            ("x-ms-lease-state", "available"),
            ("x-ms-server-encrypted", "true"),
            ("Accept-Ranges", "bytes"),
        ]
        wanted = headers.get("x-ms-range") or headers.get("Range")
        size = len(blob.content)
        if wanted:
            m = _RANGE.match(wanted.strip())
            if m is None:
                raise BlobError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the "
                                "correct format.")  # fmt: skip
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            if start >= size or start > end:
                raise BlobError(416, "InvalidRange", "The range specified is invalid for the current size of the "
                                "resource.")  # fmt: skip
            common.append(("Content-Range", f"bytes {start}-{end}/{size}"))
            return Reply(206, blob.content[start : end + 1], blob.content_type, tuple(common))
        common.append(("Content-MD5", blob.md5))
        return Reply(200, blob.content, blob.content_type, tuple(common))

    def _delete(self, container: Container, name: str) -> Reply:
        with self._lock:
            blobs = self._blobs.get((container.account, container.name), {})
            blob = blobs.get(name)
            if blob is None:
                raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
            if container.policy is not None and time.time() < blob.created + container.policy.days * 86400:
                raise _immutable()
            del blobs[name]
        return Reply(202, headers=(("x-ms-delete-type-permanent", "true"),))

    def _container_properties(self, container: Container) -> Reply:
        return Reply(
            200,
            headers=(
                ("x-ms-has-immutability-policy", "true" if container.policy else "false"),
                ("x-ms-has-legal-hold", "false"),
                ("x-ms-lease-status", "unlocked"),
                ("x-ms-lease-state", "available"),
                ("x-ms-default-encryption-scope", "$account-encryption-key"),
                ("x-ms-deny-encryption-scope-override", "false"),
                ("x-ms-immutable-storage-with-versioning-enabled", "false"),
            ),
        )

    def _list(self, container: Container, query: Mapping[str, str]) -> Reply:
        prefix = query.get("prefix") or ""
        marker = query.get("marker") or ""
        raw_max = query.get("maxresults")
        if raw_max is not None and (not raw_max.lstrip("-").isdigit() or int(raw_max) <= 0):
            raise BlobError(400, "OutOfRangeQueryParameterValue", "One of the query parameters specified in the "
                            "request URI is outside the permissible range.")  # fmt: skip
        limit = min(int(raw_max) if raw_max else _MAX_RESULTS, _MAX_RESULTS, self.page_size)
        after = _unmarker(marker)
        with self._lock:
            blobs = self._blobs.get((container.account, container.name), {})
            names = sorted(n for n in blobs if n.startswith(prefix) and (after is None or n >= after))
            page = [(n, blobs[n]) for n in names[:limit]]
        following = names[limit] if len(names) > limit else None
        items = "".join(_blob_xml(n, b) for n, b in page)
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<EnumerationResults ServiceEndpoint="/{escape(container.account)}/" '
            f'ContainerName="{escape(container.name)}">'
            + (f"<Prefix>{escape(prefix)}</Prefix>" if prefix else "")
            + (f"<Marker>{escape(marker)}</Marker>" if marker else "")
            + (f"<MaxResults>{raw_max}</MaxResults>" if raw_max else "")
            + f"<Blobs>{items}</Blobs>"
            + (f"<NextMarker>{_marker(following)}</NextMarker>" if following else "<NextMarker />")
            + "</EnumerationResults>"
        )
        return Reply(200, xml.encode(), XML)


def _blob_xml(name: str, blob: StoredBlob) -> str:
    return (
        f"<Blob><Name>{escape(name)}</Name><Properties>"
        f"<Creation-Time>{_http_date(blob.created)}</Creation-Time>"
        f"<Last-Modified>{_http_date(blob.modified)}</Last-Modified>"
        f"<Etag>{blob.etag}</Etag>"
        f"<Content-Length>{len(blob.content)}</Content-Length>"
        f"<Content-Type>{escape(blob.content_type)}</Content-Type>"
        "<Content-Encoding /><Content-Language /><Content-CRC64 />"
        f"<Content-MD5>{blob.md5}</Content-MD5>"
        "<Cache-Control /><Content-Disposition />"
        "<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred>"
        "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
        "<ServerEncrypted>true</ServerEncrypted></Properties><OrMetadata /></Blob>"
    )


def _immutable() -> BlobError:
    return BlobError(409, "BlobImmutableDueToPolicy", "This operation is not permitted as the blob is immutable due "
                     "to a policy.")  # fmt: skip


def _marker(name: str) -> str:
    # Opaque to clients, as the service's markers are.
    return "2!" + base64.urlsafe_b64encode(name.encode()).decode()


def _unmarker(marker: str) -> str | None:
    if not marker:
        return None
    if not marker.startswith("2!"):
        raise BlobError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the "
                        "request URI is invalid.")  # fmt: skip
    try:
        return base64.urlsafe_b64decode(marker[2:]).decode()
    except ValueError:
        raise BlobError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the "
                        "request URI is invalid.") from None  # fmt: skip


def _etag(at: float) -> str:
    return f'"0x8DD{int(at * 1_000_000) & 0xFFFFFFFFFFFF:012X}"'


def _http_date(at: float) -> str:
    return formatdate(at, usegmt=True)
