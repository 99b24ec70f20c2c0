"""The Blob data plane through the real azure-storage-blob client: path-style account URLs, storage bearer tokens,
List Blobs paging, If-None-Match: * and a container's time-based immutability policy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceResponseError,
)
from azure.storage.blob import ContainerClient, LinearRetry

from sandbox.server import Sandbox
from tests.estates import blob_container, estate
from tests.sandbox.sdk import credential_for

ACCOUNT = "stanchorsje"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    docs = [
        *blob_container(ACCOUNT, "worm"),
        *blob_container(ACCOUNT, "plain", policy=None)[2:],  # same account: only the container
    ]
    with Sandbox.from_dict(estate(docs), page_size=2) as sb:
        yield sb


@pytest.fixture
def sb(sandbox: Sandbox) -> Iterator[Sandbox]:
    sandbox.faults.clear()
    sandbox.blobs.clear()
    yield sandbox
    sandbox.faults.clear()


def container(sb: Sandbox, name: str, account: str = ACCOUNT) -> ContainerClient:
    info = sb.info
    return ContainerClient(
        f"{info.base_url}/{account}",
        name,
        credential=credential_for(info),
        connection_verify=info.ca_bundle,
        retry_policy=LinearRetry(backoff=0, retry_total=0),
    )


def test_put_get_and_list_with_paging_as_the_service_answers(sb: Sandbox) -> None:
    worm = container(sb, "worm")
    assert worm.account_name == ACCOUNT
    written = {}
    for i in range(5):
        name = f"runs/{i:012d}-run-{i + 1}.json"
        result = worm.get_blob_client(name).upload_blob(b'{"n": %d}' % i, overwrite=False)
        written[name] = result["etag"]
        assert result["etag"].startswith('"0x') and result["last_modified"] is not None
        assert result["request_server_encrypted"] is True
    worm.get_blob_client("other/x.json").upload_blob(b"{}", overwrite=False)
    mark = sb.requests.mark()
    listed = list(worm.list_blobs(name_starts_with="runs/"))
    assert [b.name for b in listed] == sorted(written)
    assert {b.name: b.etag for b in listed} == written
    assert all(b.blob_type == "BlockBlob" and b.size == 8 for b in listed)
    # Two per page: three List Blobs calls, following NextMarker.
    lists = [r for r in sb.requests.since(mark) if r.api == "blob"]
    assert len(lists) == 3 and all("comp=list" in r.query for r in lists)
    assert worm.download_blob("runs/000000000003-run-4.json").readall() == b'{"n": 3}'
    props = worm.get_blob_client("runs/000000000003-run-4.json").get_blob_properties()
    assert props.size == 8 and props.etag == written["runs/000000000003-run-4.json"]
    assert worm.get_container_properties().has_immutability_policy is True
    assert container(sb, "plain").get_container_properties().has_immutability_policy is False
    assert sb.blobs.names(ACCOUNT, "worm")[-1] == "runs/000000000004-run-5.json"


def test_if_none_match_refuses_an_existing_blob_with_409_blob_already_exists(sb: Sandbox) -> None:
    plain = container(sb, "plain").get_blob_client("a.json")
    plain.upload_blob(b"first", overwrite=False)
    with pytest.raises(ResourceExistsError) as caught:
        plain.upload_blob(b"second", overwrite=False)
    assert caught.value.status_code == 409 and caught.value.error_code == "BlobAlreadyExists"
    assert caught.value.response.headers["x-ms-error-code"] == "BlobAlreadyExists"
    plain.upload_blob(b"second", overwrite=True)  # no policy: an unconditional Put Blob replaces it
    assert plain.download_blob().readall() == b"second"
    plain.delete_blob()
    with pytest.raises(ResourceNotFoundError) as missing:
        plain.download_blob().readall()
    assert missing.value.error_code == "BlobNotFound"


def test_a_time_based_policy_refuses_overwrite_and_early_delete(sb: Sandbox) -> None:
    blob = container(sb, "worm").get_blob_client("runs/000000000000-run-1.json")
    blob.upload_blob(b"anchor", overwrite=False)
    for attempt in (lambda: blob.upload_blob(b"forged", overwrite=True), blob.delete_blob):
        with pytest.raises(HttpResponseError) as refused:
            attempt()
        assert (refused.value.status_code, refused.value.error_code) == (409, "BlobImmutableDueToPolicy")
        assert "immutable due to a policy" in str(refused.value)
    assert blob.download_blob().readall() == b"anchor"
    # Once the retention (2555 days from creation) has passed it may be deleted, but still never overwritten.
    sb.blobs.backdate(ACCOUNT, "worm", "runs/000000000000-run-1.json", 2556 * 86400)
    with pytest.raises(HttpResponseError, match="BlobImmutableDueToPolicy"):
        blob.upload_blob(b"forged", overwrite=True)
    blob.delete_blob()
    assert sb.blobs.names(ACCOUNT, "worm") == []


def test_unknown_container_is_404_container_not_found(sb: Sandbox) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        container(sb, "nope").get_blob_client("a").upload_blob(b"x", overwrite=False)
    assert caught.value.error_code == "ContainerNotFound"


def test_a_forbidden_fault_is_403_authorization_permission_mismatch(sb: Sandbox) -> None:
    sb.faults.add("forbidden", path=f"/{ACCOUNT}/*", method="PUT")
    with pytest.raises(HttpResponseError) as caught:
        container(sb, "worm").get_blob_client("a").upload_blob(b"x", overwrite=False)
    assert (caught.value.status_code, caught.value.error_code) == (403, "AuthorizationPermissionMismatch")
    assert sb.blobs.names(ACCOUNT, "worm") == []


def test_an_undeclared_account_gives_no_answer(sb: Sandbox) -> None:
    with pytest.raises(ServiceResponseError):
        container(sb, "worm", account="stnosuchaccount").get_blob_client("a").upload_blob(b"x", overwrite=False)


def test_the_bearer_token_must_be_for_storage(sb: Sandbox) -> None:
    session = requests.Session()
    session.trust_env = False
    session.verify = sb.info.ca_bundle
    url = f"{sb.info.base_url}/{ACCOUNT}/worm?restype=container&comp=list"
    headers = {"x-ms-version": "2025-11-05"}
    cases = {
        None: ("NoAuthenticationInformation", None),
        sb.issue_token("arm"): ("InvalidAuthenticationInfo", "Invalid audience"),
        sb.issue_token("storage", lifetime=-60): ("InvalidAuthenticationInfo", "token is expired"),
    }
    for token, (code, detail) in cases.items():
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        answer = session.get(url, headers={**headers, **auth}, timeout=10)
        assert answer.status_code == 401 and answer.headers["x-ms-error-code"] == code
        assert answer.headers["Content-Type"] == "application/xml"
        assert answer.text.startswith('<?xml version="1.0" encoding="utf-8"?><Error><Code>' + code)
        challenge = answer.headers["WWW-Authenticate"]
        assert f"authorization_uri={sb.info.authority}/{sb.info.tenant_id}/oauth2/authorize" in challenge
        assert "resource_id=https://storage.azure.com" in challenge
        if detail:
            assert detail in answer.text
    ok = session.get(url, headers={**headers, "Authorization": f"Bearer {sb.issue_token('storage')}"}, timeout=10)
    assert ok.status_code == 200 and "<EnumerationResults" in ok.text
    assert ok.headers["x-ms-version"] == "2025-11-05" and ok.headers["x-ms-request-id"]
