from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
SITE = f"{SUB}/resourceGroups/rg-app/providers/Microsoft.Web/sites/app-karte"


def ev(kind: FactKind, doc: dict, resource_id: str | None = None) -> Evidence:
    return Evidence(
        kind, "test", SUB, resource_id or doc["id"], "2024-04-01", None, datetime(2026, 3, 31, tzinfo=UTC), doc
    )


def site(**props) -> Evidence:
    base = {"httpsOnly": True, "clientCertEnabled": True, "clientCertMode": "Required"}
    base.update(props)
    return ev(
        FactKind.WEB_SITE,
        {"id": SITE, "name": "app-karte", "type": "Microsoft.Web/sites", "kind": "app", "properties": base},
    )


def config(**props) -> Evidence:
    return ev(
        FactKind.WEB_CONFIG,
        {"id": f"{SITE}/config/web", "name": "web", "type": "Microsoft.Web/sites/config", "properties": props},
    )


def run(check_id: str, *evidence: Evidence, errors=()) -> list:
    return CHECKS_BY_ID[check_id].evaluate(FactSet(list(evidence), list(errors)), Thresholds())


def test_min_tls_1_2_and_1_3_pass_and_evidence_names_site_and_config():
    for version in ("1.2", "1.3"):
        s, c = site(), config(minTlsVersion=version)
        [f] = run("app-service-min-tls-1-2", s, c)
        assert f.status == Status.PASS
        assert f.resource_id == SITE
        assert set(f.evidence) == {s.sha256, c.sha256}
        assert version in f.reason_en


def test_min_tls_1_0_fails_with_field_and_value():
    [f] = run("app-service-min-tls-1-2", site(), config(minTlsVersion="1.0"))
    assert f.status == Status.FAIL
    assert f.reason_en == "App Service app-karte minTlsVersion is 1.0 (1.2 or newer required)"
    assert "minTlsVersion が 1.0" in f.reason_ja


def test_min_tls_missing_fails_unknown_value_is_error():
    [missing] = run("app-service-min-tls-1-2", site(), config())
    assert missing.status == Status.FAIL and "not set" in missing.reason_en
    [odd] = run("app-service-min-tls-1-2", site(), config(minTlsVersion="strong"))
    assert odd.status == Status.ERROR


def test_config_not_collected_is_error_never_pass():
    [f] = run("app-service-min-tls-1-2", site())
    assert f.status == Status.ERROR and "not collected" in f.reason_en
    err = CollectionError(
        FactKind.WEB_CONFIG,
        "web.config",
        SITE,
        "AuthorizationFailed",
        "denied",
        403,
        None,
        datetime(2026, 3, 31, tzinfo=UTC),
    )
    [f] = run("app-service-min-tls-1-2", site(), errors=[err])
    assert f.status == Status.ERROR and "AuthorizationFailed" in f.reason_en


def test_config_matched_case_insensitively():
    c = ev(FactKind.WEB_CONFIG, {"id": f"{SITE}/config/web".upper(), "properties": {"minTlsVersion": "1.2"}})
    [f] = run("app-service-min-tls-1-2", site(), c)
    assert f.status == Status.PASS


def test_https_only():
    assert [f.status for f in run("app-service-https-only", site())] == [Status.PASS]
    [f] = run("app-service-https-only", site(httpsOnly=False))
    assert f.status == Status.FAIL and f.reason_en == "App Service app-karte httpsOnly is false (true required)"
    [f] = run("app-service-https-only", site(httpsOnly=None))
    assert f.status == Status.FAIL and "not set" in f.reason_en


def test_client_cert_required():
    [f] = run("app-service-client-cert-required", site())
    assert f.status == Status.PASS
    [f] = run("app-service-client-cert-required", site(clientCertMode="Optional"))
    assert f.status == Status.FAIL and "clientCertMode is Optional" in f.reason_en
    [f] = run("app-service-client-cert-required", site(clientCertEnabled=False))
    assert f.status == Status.FAIL and "clientCertEnabled is false" in f.reason_en
    [f] = run("app-service-client-cert-required", site(clientCertMode="OptionalInteractiveUser"))
    assert f.status == Status.FAIL
    [f] = run("app-service-client-cert-required", site(clientCertExclusionPaths="/health"))
    assert f.status == Status.FAIL and "/health" in f.reason_en


def test_no_sites_no_findings():
    for check_id in ("app-service-min-tls-1-2", "app-service-https-only", "app-service-client-cert-required"):
        assert run(check_id) == []
