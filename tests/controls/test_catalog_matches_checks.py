"""The framework maps every check, names only checks that exist, and what it needs can be collected."""

import pytest

from collector.fetchers import FETCHERS
from collector.fetchers.base import Fetcher
from collector.plan import ALWAYS_COLLECTED, PlanError, plan_for
from controls.catalog import EvidenceMode, load_catalog
from controls.checks import ALL_CHECKS, CHECKS_BY_ID
from controls.checks.base import Check
from controls.model import FactKind


def test_every_check_evidences_some_requirement_and_every_automated_requirement_has_checks():
    catalog = load_catalog()
    for c in ALL_CHECKS:
        assert catalog.requirements_of(c.id), f"check {c.id} is mapped to no requirement"
    for r in catalog.with_mode(EvidenceMode.AUTOMATED):
        assert r.checks and all(i in CHECKS_BY_ID for i in r.checks), r.number


def test_the_shipped_checks_and_fetchers_make_a_plan():
    plan = plan_for()
    assert {c.id for c in plan.checks} == set(CHECKS_BY_ID)
    provided = {k for f in plan.fetchers for k in f.kinds}
    # The subscription list is collected first in every run, outside the plan's fetchers.
    assert {k for c in ALL_CHECKS for k in c.reads} <= provided | ALWAYS_COLLECTED
    # Diagnostic settings are read for exactly the types the checks judge with them.
    diagnostics = CHECKS_BY_ID["diagnostic-logs-retained"]
    assert set(plan.wanted_types[FactKind.DIAGNOSTIC_SETTINGS]) == set(diagnostics.judges)


def _with(check: Check, **changes) -> Check:
    from dataclasses import replace

    return replace(check, **changes)


def test_a_check_reading_a_kind_nobody_provides_fails_before_collection():
    orphan = _with(CHECKS_BY_ID["sql-min-tls-1-2"], id="reads-cosmos", reads=("cosmosdb_account",))
    with pytest.raises(PlanError, match=r"check reads-cosmos reads fact kind .cosmosdb_account., which no fetc"):
        plan_for([orphan])


def test_a_check_judging_a_type_whose_per_resource_facts_nobody_collects_fails_before_collection():
    tls = CHECKS_BY_ID["app-service-min-tls-1-2"]
    # A web fetcher that lists slots but reads config/web only for sites.
    web = next(f for f in FETCHERS if f.name == "web.sites")
    sites_only = Fetcher(
        web.name,
        {FactKind.WEB_SITE: web.provides[FactKind.WEB_SITE], FactKind.WEB_CONFIG: ("microsoft.web/sites",)},
        web.tenant_wide,
        web.run,
    )
    others = [f for f in FETCHERS if f is not web]
    with pytest.raises(PlanError, match=r"needs 'web_site_config' for every microsoft.web/sites/slots"):
        plan_for([tls], [*others, sites_only])


def test_a_check_judging_a_type_no_listing_returns_fails_before_collection():
    tls = _with(CHECKS_BY_ID["sql-min-tls-1-2"], judges=("microsoft.sql/managedinstances",))
    with pytest.raises(PlanError, match=r"judges microsoft.sql/managedinstances, but no kind it reads lists"):
        plan_for([tls])


def test_only_the_fetchers_the_checks_read_are_planned():
    plan = plan_for([CHECKS_BY_ID["sql-min-tls-1-2"]])
    assert [f.name for f in plan.fetchers] == ["sql.servers"]
