"""ARM's read limit enforced as a token bucket, injected latency, and the call statistics the benchmark reads."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from azure.mgmt.network import NetworkManagementClient

from sandbox.admin import SandboxAdmin
from sandbox.estate import Estate
from sandbox.server import ReadThrottle, Sandbox
from tests.sandbox.sdk import client_for

API = "api-version=2024-05-01"


def _session(sb: Sandbox) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    session.verify = sb.info.ca_bundle
    session.headers["Authorization"] = f"Bearer {sb.issue_token('arm')}"
    return session


@pytest.fixture
def throttled(emr_estate: Estate) -> Iterator[Sandbox]:
    with Sandbox(emr_estate, page_size=2, throttle=ReadThrottle(burst=3, refill_per_s=4)) as sb:
        yield sb


def test_an_empty_bucket_answers_429_with_retry_after(throttled: Sandbox) -> None:
    http = _session(throttled)
    prod, dev = throttled.info.subscriptions
    url = f"{throttled.info.base_url}/subscriptions/{prod}/providers/Microsoft.Network/networkSecurityGroups?{API}"
    answers = [http.get(url) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["x-ms-ratelimit-remaining-subscription-reads"] for r in answers] == ["2", "1", "0", "0"]
    refused = answers[-1]
    assert refused.headers["Retry-After"] == "1"  # whole seconds, as ARM sends them
    assert refused.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    # Each subscription has its own bucket.
    other = http.get(f"{throttled.info.base_url}/subscriptions/{dev}/resourcegroups?{API}")
    assert other.status_code == 200


def test_the_bucket_refills(throttled: Sandbox) -> None:
    http = _session(throttled)
    url = f"{throttled.info.base_url}/subscriptions/{throttled.info.subscriptions[0]}/resourcegroups?{API}"
    while http.get(url).status_code == 200:
        pass
    time.sleep(0.6)  # 4 reads per second: at least two are back
    assert [http.get(url).status_code for _ in range(2)] == [200, 200]


def test_the_sdk_waits_out_retry_after_and_gets_everything(throttled: Sandbox) -> None:
    client = client_for(throttled.info, NetworkManagementClient, throttled.info.subscriptions[0])
    # Two listings of two pages each: four reads from a bucket of three.
    listings = [sorted(n.name for n in client.network_security_groups.list_all()) for _ in range(2)]
    assert listings[0] == listings[1] and len(listings[0]) == 4
    stats = SandboxAdmin.from_info(throttled.info).stats()
    refused = stats["statuses"].get("429", 0)
    assert refused >= 1
    assert stats["operations"]["GET Microsoft.Network/networkSecurityGroups (list)"] == 4 + refused


def test_no_throttle_and_no_latency_by_default(sb: Sandbox) -> None:
    assert sb.throttle is None and sb.latency == 0
    headers = {"Authorization": f"Bearer {sb.issue_token('arm')}"}
    target = f"/subscriptions/{sb.info.subscriptions[0]}/resourcegroups?{API}"
    statuses = {sb.handle("GET", target, headers, b"")[0].status for _ in range(300)}  # beyond a 250 burst
    assert statuses == {200}


def test_latency_is_added_to_every_call(emr_estate: Estate) -> None:
    with Sandbox(emr_estate, latency=0.2) as sb:
        http = _session(sb)
        started = time.monotonic()
        assert http.get(f"{sb.info.base_url}/subscriptions?{API}").status_code == 200
        assert time.monotonic() - started >= 0.2


def test_bad_throttle_and_latency_are_refused(emr_estate: Estate) -> None:
    with pytest.raises(ValueError, match="latency"):
        Sandbox(emr_estate, latency=-1)
    with pytest.raises(ValueError, match="refill"):
        ReadThrottle(burst=10, refill_per_s=0)


def test_stats_count_calls_by_operation_status_and_subscription(emr_estate: Estate) -> None:
    with Sandbox(emr_estate, page_size=100) as sb:
        http = _session(sb)
        prod = sb.info.subscriptions[0]
        base = f"{sb.info.base_url}/subscriptions/{prod}"
        http.get(f"{base}/resources?{API}")
        http.get(
            f"{base}/resourceGroups/rg-emr-prod-app/providers/Microsoft.Web/sites/app-emr-web-prod/config/web?{API}"
        )
        http.get(f"{base}/resourceGroups/rg-emr-prod-app/providers/Microsoft.Web/sites/nope?{API}")
        stats = SandboxAdmin.from_info(sb.info).stats()
    assert stats["operations"] == {
        "GET /resources (list)": 1,
        "GET Microsoft.Web/sites/config": 1,
        "GET Microsoft.Web/sites": 1,
    }
    assert stats["statuses"] == {"200": 2, "404": 1}
    assert stats["subscriptions"] == {prod.lower(): 3}
    assert stats["cpu_seconds"] > 0


def test_a_changed_estate_is_listed_in_full_after_a_long_listing_was_kept(emr_estate: Estate) -> None:
    with Sandbox(emr_estate, page_size=2) as sb:
        http = _session(sb)
        prod = sb.info.subscriptions[0]
        url = f"{sb.info.base_url}/subscriptions/{prod}/resources?{API}"

        def names() -> list[str]:
            out, link = [], url
            while link:
                page = http.get(link).json()
                out += [d["name"] for d in page["value"]]
                link = page.get("nextLink")
            return out

        before = names()
        sb.delete_resource(
            f"/subscriptions/{prod}/resourceGroups/rg-emr-prod-app/providers/Microsoft.Web/sites/app-emr-api-prod"
        )
        after = names()
    assert "app-emr-api-prod" in before and "app-emr-api-prod" not in after
    assert len(after) == len(before) - 1
