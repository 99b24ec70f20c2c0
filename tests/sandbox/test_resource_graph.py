"""Azure Resource Graph's query endpoint, through azure-mgmt-resourcegraph: type queries over the tables the
reference documents, subscriptions as the scope, `$top`/`$skipToken` paging, the per-principal quota headers and
its 429, and a 400 for any query shape the sandbox does not answer."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from sandbox.server import ReadThrottle, Sandbox
from tests.estates import DEV, PROD, doc, estate, rid

VM = "Microsoft.Compute/virtualMachines"


def _estate() -> dict:
    docs = []
    for sub in (PROD, DEV):
        for n in range(3):
            vm_path = f"{VM}/vm{n}"
            docs.append(doc(vm_path, {"vmId": f"id-{n}"}, subscription=sub))
            for ext in ("MDE.Linux", "AzureMonitorLinuxAgent"):
                docs.append(doc(f"{vm_path}/extensions/{ext}", {"publisher": "Microsoft", "type": ext},
                                subscription=sub, location="japaneast"))  # fmt: skip
        vm0 = rid(f"{VM}/vm0", sub)
        docs.append({"id": f"{vm0}/providers/Microsoft.Insights/dataCollectionRuleAssociations/a1", "name": "a1",
                     "type": "Microsoft.Insights/dataCollectionRuleAssociations",
                     "properties": {"dataCollectionRuleId": "/subscriptions/x/dcr"}})  # fmt: skip
        docs.append({"id": f"{vm0}/providers/Microsoft.Insights/diagnosticSettings/d1", "name": "d1",
                     "type": "Microsoft.Insights/diagnosticSettings", "properties": {}})  # fmt: skip
    return estate(docs)


def _client(sb: Sandbox) -> ResourceGraphClient:
    from tests.sandbox.sdk import client_for

    return client_for(sb.info, ResourceGraphClient)


def _query(table_query: str, subs: list[str], top: int | None = None, token: str | None = None) -> QueryRequest:
    options = QueryRequestOptions(top=top, skip_token=token, result_format="objectArray")
    return QueryRequest(subscriptions=subs, query=table_query, options=options)


def test_a_type_query_pages_with_skip_token_and_keeps_each_pages_request_id() -> None:
    with Sandbox.from_dict(_estate()) as sb:
        client = _client(sb)
        q = "resources | where type =~ 'microsoft.compute/virtualmachines/extensions'"
        rows, ids, token, headers = [], [], None, []
        while True:
            seen: dict[str, str] = {}
            hook = seen.update
            page = client.resources(_query(q, [PROD], top=4, token=token),
                                    raw_response_hook=lambda r, hook=hook: hook(r.http_response.headers))  # fmt: skip
            rows += page.data
            ids.append(seen["x-ms-request-id"])
            headers.append(seen)
            assert page.total_records == 6
            token = page.skip_token
            if not token:
                break
    assert [len(rows), len(ids), len(set(ids))] == [6, 2, 2]
    assert {r["subscriptionId"] for r in rows} == {PROD}
    assert all(r["type"] == "microsoft.compute/virtualmachines/extensions" for r in rows)
    first = rows[0]
    assert first["properties"]["publisher"] == "Microsoft" and first["tenantId"] and first["resourceGroup"]
    # Resource Graph's quota headers on every answer: 15 a window, one query taken each time.
    assert [h["x-ms-user-quota-remaining"] for h in headers] == ["14", "13"]
    assert all(len(h["x-ms-user-quota-resets-after"].split(":")) == 3 for h in headers)


def test_tables_hold_only_the_types_the_reference_lists_there() -> None:
    with Sandbox.from_dict(_estate()) as sb:
        client = _client(sb)
        dcr = "microsoft.insights/datacollectionruleassociations"
        assert client.resources(_query(f"insightsresources | where type =~ '{dcr}'", [PROD, DEV])).total_records == 2
        assert client.resources(_query(f"resources | where type =~ '{dcr}'", [PROD])).total_records == 0
        # Diagnostic settings are in no Resource Graph table.
        diag = "microsoft.insights/diagnosticsettings"
        assert client.resources(_query(f"resources | where type =~ '{diag}'", [PROD])).total_records == 0
        assert client.resources(_query("resources | where type =~ 'Microsoft.Compute/virtualMachines'",
                                       [PROD, DEV])).total_records == 6  # fmt: skip


def test_a_query_shape_the_sandbox_does_not_answer_is_a_400() -> None:
    with Sandbox.from_dict(_estate()) as sb, pytest.raises(HttpResponseError) as raised:
        _client(sb).resources(_query("resources | summarize count() by type", [PROD]))
    assert raised.value.status_code == 400 and raised.value.error.code == "BadRequest"


def test_the_per_principal_quota_answers_429_when_spent() -> None:
    with Sandbox.from_dict(_estate(), throttle=ReadThrottle()) as sb:
        from tests.sandbox.sdk import credential_for

        client = ResourceGraphClient(credential_for(sb.info), base_url=sb.info.base_url,
                                     connection_verify=sb.info.ca_bundle, retry_total=0)  # fmt: skip
        q = _query("resources | where type =~ 'microsoft.compute/virtualmachines'", [PROD])
        for _ in range(15):
            client.resources(q)
        with pytest.raises(HttpResponseError) as raised:
            client.resources(q)
    response = raised.value.response
    assert raised.value.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert response.headers["x-ms-user-quota-remaining"] == "0"
