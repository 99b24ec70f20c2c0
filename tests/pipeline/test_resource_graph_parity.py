"""VM extensions, data collection rule associations, web app slots and SQL databases read with Resource Graph
(collection.resource_graph) give the same documents and findings as the per-VM, per-site and per-server ARM
reads, on the example estate and a small generated one, with far fewer calls; a Resource Graph the collector may
not read falls back to ARM and still sees the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.generate import generate
from collector.fetchers.resource_graph import arm_shape
from collector.pipeline import collect
from controls.catalog import Catalog
from controls.engine import evaluate
from sandbox.admin import SandboxAdmin
from sandbox.server import Sandbox
from tests.pipeline.conftest import sandbox_settings

EMR = Path(__file__).resolve().parents[2] / "sandbox" / "estates" / "hospital-emr.yaml"
PER_PARENT = ("GET Microsoft.Compute/virtualMachines/extensions (list)",
              "GET Microsoft.Insights/dataCollectionRuleAssociations (list)",
              "GET Microsoft.Web/sites/slots (list)",
              "GET Microsoft.Sql/servers/databases (list)")  # fmt: skip
GRAPH_KINDS = ("vm_extensions", "dcr_associations", "web_site", "sql_database")


def _comparable(content: dict[str, Any]) -> str:
    """A document with what may differ between the two reads set aside: Resource Graph reports `type` in lower
    case, orders its rows by id, and an empty standard column (`managedBy: null`) is not kept from its rows."""
    if not isinstance(content.get("value"), list):
        return json.dumps({**arm_shape(content), "type": str(content.get("type", "")).lower()}, sort_keys=True)
    rows = [{**arm_shape(row), "type": str(row.get("type", "")).lower()} for row in content["value"]]
    return json.dumps(sorted(rows, key=lambda r: str(r.get("id", "")).lower()), sort_keys=True)


def _run(sb: Sandbox, catalog: Catalog, *, graph: bool) -> dict[str, Any]:
    admin = SandboxAdmin.from_info(sb.info)
    before = admin.stats()["operations"]
    settings = sandbox_settings(sb, collection={"resource_graph": graph})
    facts = collect(settings)
    after = admin.stats()["operations"]
    result = evaluate(facts, catalog, settings.thresholds)
    return {
        "calls": {k: after.get(k, 0) - before.get(k, 0) for k in after},
        "documents": sorted(
            (e.kind, e.resource_id.lower(), _comparable(e.content)) for e in facts.evidence if e.kind in GRAPH_KINDS
        ),
        "request_ids": [e.request_id for e in facts.evidence if e.kind in GRAPH_KINDS],
        "errors": sorted((e.kind, e.scope) for e in facts.errors),
        "findings": sorted((f.check_id, f.resource_id.lower(), str(f.status), f.reason_en) for f in result.findings),
        "verdicts": sorted((v.requirement, str(v.status)) for v in result.verdicts),
    }


def _compare(estate: Any, catalog: Catalog) -> tuple[dict[str, Any], dict[str, Any]]:
    if isinstance(estate, Path):
        with Sandbox.from_file(estate) as sb:
            return _run(sb, catalog, graph=False), _run(sb, catalog, graph=True)
    with Sandbox.from_dict(estate) as sb:
        return _run(sb, catalog, graph=False), _run(sb, catalog, graph=True)


def _same(arm: dict[str, Any], graph: dict[str, Any]) -> None:
    for key in ("documents", "errors", "findings", "verdicts"):
        assert graph[key] == arm[key], key
    assert graph["documents"], "the estate has VMs"
    assert all(graph["request_ids"]), "every document keeps the request id of its Resource Graph page"


@pytest.mark.parametrize("source", ["example", "generated"])
def test_resource_graph_reads_give_the_same_findings_with_fewer_calls(source: str, catalog: Catalog) -> None:
    estate: Any = EMR if source == "example" else generate(2, 120, seed=3).estate
    arm, graph = _compare(estate, catalog)
    _same(arm, graph)
    assert all(graph["calls"].get(op, 0) == 0 for op in PER_PARENT)
    vms = len({rid for kind, rid, _ in arm["documents"] if kind == "vm_extensions"})
    assert sum(arm["calls"].get(op, 0) for op in PER_PARENT) >= 2 * vms
    graph_queries = sum(n for op, n in graph["calls"].items() if "ResourceGraph" in op)
    assert 0 < graph_queries <= 4 * 2  # one query per type and subscription (one page each here)
    # Azure reads only: sign-in calls (metadata, tokens) follow the credential's cache and the machine's load.
    assert _reads(graph["calls"]) < _reads(arm["calls"])


def _reads(calls: dict[str, int]) -> int:
    return sum(n for op, n in calls.items() if op not in ("GET openid-configuration", "POST token"))


@pytest.mark.parametrize("fault", ["forbidden", "malformed"])
def test_a_refused_or_unreadable_resource_graph_falls_back_to_arm_reads(fault: str, catalog: Catalog) -> None:
    with Sandbox.from_file(EMR) as sb:
        arm = _run(sb, catalog, graph=False)
        sb.faults.add(fault, path="/providers/Microsoft.ResourceGraph/*")
        fallback = _run(sb, catalog, graph=True)
    _same(arm, fallback)
    assert sum(fallback["calls"].get(op, 0) for op in PER_PARENT) == sum(arm["calls"].get(op, 0) for op in PER_PARENT)


def test_queries_beyond_the_quota_are_paced_not_refused() -> None:
    """Resource Graph allows 15 queries per 5 s per principal (enforced here): the collector's Resource Graph client
    waits for its own quota, where one paced by ARM's read budget alone is refused."""
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.resourcegraph import ResourceGraphClient
    from azure.mgmt.resourcegraph.models import QueryRequest

    from collector.azure_clients import ClientFactory, make_credential
    from sandbox.server import ReadThrottle

    with Sandbox.from_file(EMR, throttle=ReadThrottle()) as sb:
        settings = sandbox_settings(sb, collection={"max_retries": 0})
        factory = ClientFactory(make_credential(settings.azure), settings.azure, settings.collection)
        query = QueryRequest(subscriptions=list(sb.info.subscriptions), query="resources | where type =~ 'x/y'")
        paced = factory.arm(ResourceGraphClient, pacer=factory.graph_pacer)
        assert all(paced.resources(query).total_records == 0 for _ in range(20))
        unpaced = factory.arm(ResourceGraphClient)
        with pytest.raises(HttpResponseError) as refused:
            for _ in range(20):
                unpaced.resources(query)
    assert refused.value.status_code == 429
