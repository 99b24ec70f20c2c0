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


# ---------------------------------------------------------------- access restrictions, SCM, debugging, FTP

ALLOW_ALL = {"ipAddress": "Any", "action": "Allow", "priority": 2147483647, "name": "Allow all"}
DENY_ALL = {"ipAddress": "Any", "action": "Deny", "priority": 2147483647, "name": "Deny all"}
HOSPITAL = {"ipAddress": "203.0.113.0/24", "action": "Allow", "tag": "Default", "priority": 100, "name": "hospital"}
FD_PINNED = {"ipAddress": "AzureFrontDoor.Backend", "action": "Allow", "tag": "ServiceTag", "priority": 100,
             "name": "front-door", "headers": {"x-azure-fdid": ["6f1c2d3e-0000-4000-8000-000000000001"]}}  # fmt: skip
FD_ANY = {"ipAddress": "AzureFrontDoor.Backend", "action": "Allow", "tag": "ServiceTag", "priority": 100,
          "name": "any-front-door"}  # fmt: skip


def access(*rules, default=None, **more) -> Evidence:
    return config(ipSecurityRestrictions=list(rules), ipSecurityRestrictionsDefaultAction=default, **more)


def test_access_restricted_by_default_deny_or_deny_all_rule():
    for cfg in (
        access(HOSPITAL, DENY_ALL, default="Deny"),
        access(FD_PINNED, DENY_ALL),
        access(HOSPITAL, default="Deny"),
    ):
        [f] = run("app-service-access-restricted", site(), cfg)
        assert f.status == Status.PASS, f.reason_en
        assert f.resource_id == SITE and len(f.evidence) == 2
    [f] = run("app-service-access-restricted", site(), access(HOSPITAL, DENY_ALL, default="Deny"))
    assert "allowed: hospital" in f.reason_en


def test_access_open_to_internet_fails_naming_the_rule():
    [f] = run("app-service-access-restricted", site(), access(ALLOW_ALL, default="Allow"))
    assert f.status == Status.FAIL and "rule 'Allow all' allows source Any" in f.reason_en
    assert "Allow all" in f.reason_ja
    [f] = run("app-service-access-restricted", site(), access(HOSPITAL, default="Allow"))
    assert f.status == Status.FAIL and "default action is Allow" in f.reason_en
    # Front Door's service tag without the FDID header lets in every customer's Front Door.
    [f] = run("app-service-access-restricted", site(), access(FD_ANY, DENY_ALL, default="Deny"))
    assert f.status == Status.FAIL and "X-Azure-FDID" in f.reason_en
    cidr = {"ipAddress": "0.0.0.0/0", "action": "Allow", "priority": 300, "name": "everyone"}
    [f] = run("app-service-access-restricted", site(), access(HOSPITAL, cidr, default="Deny"))
    assert f.status == Status.FAIL and "0.0.0.0/0" in f.reason_en
    cloud = {"ipAddress": "AzureCloud.JapanEast", "tag": "ServiceTag", "action": "Allow", "priority": 300}
    [f] = run("app-service-access-restricted", site(), access(cloud, default="Deny"))
    assert f.status == Status.FAIL and "AzureCloud.JapanEast" in f.reason_en


def test_access_priority_order_decides():
    # A deny-all evaluated first shadows a later allow-all; the other way round the site is open.
    early_deny = {**DENY_ALL, "priority": 50}
    [f] = run("app-service-access-restricted", site(), access(ALLOW_ALL, early_deny, default="Allow"))
    assert f.status == Status.PASS
    early_allow = {**ALLOW_ALL, "priority": 50}
    [f] = run("app-service-access-restricted", site(), access(early_allow, DENY_ALL, default="Deny"))
    assert f.status == Status.FAIL


def test_access_public_network_disabled_passes_and_unknown_default_is_error():
    [f] = run("app-service-access-restricted", site(publicNetworkAccess="Disabled"), access(ALLOW_ALL))
    assert f.status == Status.PASS and "publicNetworkAccess is Disabled" in f.reason_en
    [f] = run("app-service-access-restricted", site(), access(HOSPITAL))
    assert f.status == Status.ERROR and "default action is not set" in f.reason_en
    [f] = run("app-service-access-restricted", site(), config(ipSecurityRestrictions="open"))
    assert f.status == Status.ERROR
    [f] = run("app-service-access-restricted", site())
    assert f.status == Status.ERROR and "not collected" in f.reason_en


def test_scm_uses_its_own_rules_or_the_main_ones():
    own = config(
        ipSecurityRestrictions=[ALLOW_ALL],
        ipSecurityRestrictionsDefaultAction="Allow",
        scmIpSecurityRestrictions=[DENY_ALL],
        scmIpSecurityRestrictionsDefaultAction="Deny",
        scmIpSecurityRestrictionsUseMain=False,
    )
    [f] = run("app-service-scm-restricted", site(), own)
    assert f.status == Status.PASS and "SCM site" in f.reason_en
    main_open = config(
        ipSecurityRestrictions=[ALLOW_ALL],
        ipSecurityRestrictionsDefaultAction="Allow",
        scmIpSecurityRestrictions=[DENY_ALL],
        scmIpSecurityRestrictionsDefaultAction="Deny",
        scmIpSecurityRestrictionsUseMain=True,
    )
    [f] = run("app-service-scm-restricted", site(), main_open)
    assert f.status == Status.FAIL and "scmIpSecurityRestrictionsUseMain true" in f.reason_en
    main_closed = config(
        ipSecurityRestrictions=[HOSPITAL, DENY_ALL],
        ipSecurityRestrictionsDefaultAction="Deny",
        scmIpSecurityRestrictionsUseMain=True,
    )
    [f] = run("app-service-scm-restricted", site(), main_closed)
    assert f.status == Status.PASS
    scm_open = config(scmIpSecurityRestrictions=[ALLOW_ALL], scmIpSecurityRestrictionsDefaultAction="Allow")
    [f] = run("app-service-scm-restricted", site(), scm_open)
    assert f.status == Status.FAIL and "scmIpSecurityRestrictions rule 'Allow all'" in f.reason_en


def test_remote_debugging():
    [f] = run("app-service-remote-debugging-off", site(), config(remoteDebuggingEnabled=False))
    assert f.status == Status.PASS and f.reason_en == "App Service app-karte remoteDebuggingEnabled is false"
    cfg = config(remoteDebuggingEnabled=True, remoteDebuggingVersion="VS2022")
    [f] = run("app-service-remote-debugging-off", site(), cfg)
    assert f.status == Status.FAIL and "remoteDebuggingEnabled is true (remoteDebuggingVersion VS2022)" in f.reason_en
    [f] = run("app-service-remote-debugging-off", site(), config())
    assert f.status == Status.ERROR and "not set" in f.reason_en


def test_ftp_state():
    for value in ("Disabled", "FtpsOnly"):
        [f] = run("app-service-ftp-disabled", site(), config(ftpsState=value))
        assert f.status == Status.PASS and value in f.reason_en
    [f] = run("app-service-ftp-disabled", site(), config(ftpsState="AllAllowed"))
    assert f.status == Status.FAIL and "ftpsState is AllAllowed" in f.reason_en
    for odd in (None, "Sometimes"):
        [f] = run("app-service-ftp-disabled", site(), config(ftpsState=odd))
        assert f.status == Status.ERROR


# ---------------------------------------------------------------- TLS cipher suites

SUITE = "app-service-min-tls-cipher-suite"


def test_cipher_suite_minimum_above_every_weak_suite_passes():
    for value in (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        "TLS_AES_256_GCM_SHA384",
    ):
        [f] = run(SUITE, site(), config(minTlsVersion="1.2", minTlsCipherSuite=value))
        assert f.status == Status.PASS, f.reason_en
        assert value in f.reason_en and "forward secrecy" in f.reason_en


def test_cipher_suite_minimum_leaving_weak_suites_fails_naming_them():
    [f] = run(SUITE, site(), config(minTlsVersion="1.2", minTlsCipherSuite="TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"))
    assert f.status == Status.FAIL
    assert "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" in f.reason_en
    [f] = run(SUITE, site(), config(minTlsVersion="1.2", minTlsCipherSuite="tls_rsa_with_aes_128_gcm_sha256"))
    assert f.status == Status.FAIL and "TLS_RSA_WITH_AES_256_GCM_SHA384" in f.reason_en


def test_cipher_suite_unset_is_the_platform_default_and_fails():
    [f] = run(SUITE, site(), config(minTlsVersion="1.2", minTlsCipherSuite=None))
    assert f.status == Status.FAIL and "not set" in f.reason_en and "TLS_RSA_WITH_AES_128_CBC_SHA" in f.reason_en
    assert "未設定" in f.reason_ja


def test_cipher_suite_tls_1_3_only_passes_and_unknown_suite_is_error():
    [f] = run(SUITE, site(), config(minTlsVersion="1.3"))
    assert f.status == Status.PASS and "TLS 1.3" in f.reason_en
    [f] = run(SUITE, site(), config(minTlsVersion="1.2", minTlsCipherSuite="TLS_CHACHA20_POLY1305_SHA256"))
    assert f.status == Status.ERROR and "TLS_CHACHA20_POLY1305_SHA256" in f.reason_en
    [f] = run(SUITE, site())
    assert f.status == Status.ERROR and "not collected" in f.reason_en


# ---------------------------------------------------------------- certificates

CERTS = "app-service-certificates-valid"
CERT_ID = f"{SUB}/resourceGroups/rg-app/providers/Microsoft.Web/certificates/karte-2026"


def certificate(**props) -> Evidence:
    base = {"subjectName": "karte.example.jp", "issuer": "DigiCert Global G2 TLS RSA SHA256 2020 CA1",
            "hostNames": ["karte.example.jp"], "expirationDate": "2026-09-30T23:59:59+00:00",
            "thumbprint": "8F43288AD272F3103B6FB1428485EA3014C0BCFE"}  # fmt: skip
    base.update(props)
    return ev("web_certificate", {"id": CERT_ID, "name": "karte-2026", "type": "Microsoft.Web/certificates",
                                  "properties": base})  # fmt: skip


def test_certificate_in_date_passes_showing_issuer_and_days_left():
    [f] = run(CERTS, certificate())
    assert f.status == Status.PASS and f.resource_id == CERT_ID
    assert "issued by DigiCert Global G2 TLS RSA SHA256 2020 CA1" in f.reason_en
    assert "valid until 2026-09-30 (183 days left)" in f.reason_en and "karte.example.jp" in f.reason_en


def test_certificate_expired_soon_expiring_or_self_signed_fails():
    [f] = run(CERTS, certificate(expirationDate="2026-03-01T00:00:00Z"))
    assert f.status == Status.FAIL and "expired on 2026-03-01" in f.reason_en
    [f] = run(CERTS, certificate(expirationDate="2026-04-20T00:00:00Z"))
    assert f.status == Status.FAIL and "expires on 2026-04-20, in 20 days (30 or more required)" in f.reason_en
    [f] = run(CERTS, certificate(issuer="CN=karte.example.jp", subjectName="karte.example.jp"))
    assert f.status == Status.FAIL and "self-signed" in f.reason_en


def test_certificate_warning_days_come_from_thresholds():
    from dataclasses import replace

    soon = certificate(expirationDate="2026-04-20T00:00:00Z")
    [f] = CHECKS_BY_ID[CERTS].evaluate(FactSet([soon], []), replace(Thresholds(), certificate_expiry_warning_days=10))
    assert f.status == Status.PASS


def test_certificate_without_expiry_or_issuer_is_error():
    [f] = run(CERTS, certificate(expirationDate=None))
    assert f.status == Status.ERROR and "expirationDate is not set" in f.reason_en
    [f] = run(CERTS, certificate(expirationDate="someday"))
    assert f.status == Status.ERROR
    [f] = run(CERTS, certificate(issuer=""))
    assert f.status == Status.ERROR and "issuer" in f.reason_en


# ---------------------------------------------------------------- plans

PLANS = "app-service-plan-zone-redundant"
PLAN_ID = f"{SUB}/resourceGroups/rg-app/providers/Microsoft.Web/serverfarms/asp-karte"


def plan(zone=True, capacity=3, sub_tags=None, subscription=True) -> list[Evidence]:
    doc = {"id": PLAN_ID, "name": "asp-karte", "type": "Microsoft.Web/serverfarms", "kind": "linux",
           "sku": {"name": "P1v3", "tier": "PremiumV3", "capacity": capacity},
           "properties": {"zoneRedundant": zone, "status": "Ready"}}  # fmt: skip
    out = [ev("app_service_plan", doc)]
    if subscription:
        sub_doc = {"id": SUB, "subscriptionId": SUB.split("/")[-1], "displayName": "EMR-Production",
                   "tags": sub_tags if sub_tags is not None else {"environment": "prod"}}  # fmt: skip
        out.append(ev(FactKind.SUBSCRIPTION, sub_doc))
    return out


def test_production_plan_zone_redundant_with_two_or_more_instances_passes():
    [f] = run(PLANS, *plan())
    assert f.status == Status.PASS and "sku.capacity 3" in f.reason_en and "EMR-Production" in f.reason_en
    assert len(f.evidence) == 2


def test_production_plan_not_zone_redundant_or_single_instance_fails():
    [f] = run(PLANS, *plan(zone=False))
    assert f.status == Status.FAIL and "(PremiumV3) zoneRedundant is false" in f.reason_en
    [f] = run(PLANS, *plan(zone=None))
    assert f.status == Status.FAIL and "zoneRedundant is not set" in f.reason_en
    [f] = run(PLANS, *plan(capacity=1))
    assert f.status == Status.FAIL and "sku.capacity is 1 (2 or more required)" in f.reason_en
    [f] = run(PLANS, *plan(capacity=None))
    assert f.status == Status.ERROR


def test_non_production_plans_are_not_judged_and_unknown_subscription_is_error():
    assert run(PLANS, *plan(zone=False, sub_tags={"environment": "dev"})) == []
    [f] = run(PLANS, *plan(subscription=False))
    assert f.status == Status.ERROR and "not collected" in f.reason_en


# ---------------------------------------------------------------- runtime stacks (judged on 2026-03-31)

RUNTIME = "app-service-runtime-supported"


def test_supported_linux_stacks_pass_with_their_end_date():
    for fx, needle in (
        ("DOTNETCORE|8.0", ".NET 8.0, supported until 2026-11-10"),
        ("NODE|22-lts", "Node.js 22, supported until 2027-04-30"),
        ("PYTHON|3.12", "Python 3.12, supported until 2028-10-31"),
        ("PHP|8.3", "PHP 8.3"),
        ("JAVA|21-java21", "Java 21"),
        ("DOTNET-ISOLATED|9.0", ".NET 9.0"),
    ):
        [f] = run(RUNTIME, site(), config(linuxFxVersion=fx))
        assert f.status == Status.PASS, (fx, f.reason_en)
        assert needle in f.reason_en and fx in f.reason_en


def test_ended_stacks_fail_naming_the_date():
    [f] = run(RUNTIME, site(), config(linuxFxVersion="NODE|18-lts"))
    assert f.status == Status.FAIL
    assert "linuxFxVersion NODE|18-lts (Node.js 18, support ended 2025-04-30)" in f.reason_en
    [f] = run(RUNTIME, site(), config(linuxFxVersion="PYTHON|3.9"))
    assert f.status == Status.FAIL and "2025-10-31" in f.reason_en and "サポート終了" in f.reason_ja
    # Tomcat is judged with the Java it runs on.
    [f] = run(RUNTIME, site(), config(linuxFxVersion="TOMCAT|8.5-java11"))
    assert f.status == Status.FAIL and "Tomcat 8.5, support ended 2024-03-31" in f.reason_en
    [f] = run(RUNTIME, site(), config(linuxFxVersion="TOMCAT|10.1-java17"))
    assert f.status == Status.PASS and "Tomcat 10.1, no end announced" in f.reason_en and "Java 17" in f.reason_en


def test_windows_fields_are_each_judged():
    [f] = run(RUNTIME, site(), config(netFrameworkVersion="v4.0", phpVersion="", nodeVersion="", pythonVersion=""))
    assert f.status == Status.PASS and ".NET Framework 4.8" in f.reason_en
    [f] = run(RUNTIME, site(), config(netFrameworkVersion="v6.0"))
    assert f.status == Status.FAIL and ".NET 6.0, support ended 2024-11-12" in f.reason_en
    [f] = run(RUNTIME, site(), config(netFrameworkVersion="v4.0", phpVersion="8.0"))
    assert f.status == Status.FAIL and "phpVersion 8.0" in f.reason_en
    [f] = run(RUNTIME, site(), config(netFrameworkVersion="v4.0", javaVersion="1.8", javaContainer="TOMCAT",
                                      javaContainerVersion="9.0"))  # fmt: skip
    assert f.status == Status.ERROR and "javaVersion 1.8" in f.reason_en  # Java 8 is not in the table


def test_unknown_container_or_unreadable_runtime_is_an_error():
    [f] = run(RUNTIME, site(), config(linuxFxVersion="DOCKER|acr.example/karte:1.4"))
    assert f.status == Status.ERROR and "custom container" in f.reason_en
    [f] = run(RUNTIME, site(), config(linuxFxVersion="RUBY|2.7"))
    assert f.status == Status.ERROR and "not in the end-of-support table (compiled 2026-12-02)" in f.reason_en
    [f] = run(RUNTIME, site(), config(linuxFxVersion="PYTHON|3.15"))
    assert f.status == Status.ERROR
    linux = ev(FactKind.WEB_SITE, {"id": SITE, "name": "app-karte", "kind": "app,linux", "properties": {}})
    [f] = run(RUNTIME, linux, config(linuxFxVersion=""))
    assert f.status == Status.ERROR and "linuxFxVersion is not set" in f.reason_en
    [f] = run(RUNTIME, site(), config())
    assert f.status == Status.ERROR and "no runtime field is set" in f.reason_en


def test_an_ended_component_fails_even_beside_an_unknown_one():
    [f] = run(RUNTIME, site(), config(netFrameworkVersion="v4.0", nodeVersion="~16", pythonVersion="2.7"))
    assert (
        f.status == Status.FAIL and "Node.js 16" in f.reason_en and "not in the table: pythonVersion 2.7" in f.reason_en
    )


def test_scm_closed_by_public_network_access_and_its_own_unreadable_rules_are_error():
    [f] = run(
        "app-service-scm-restricted",
        site(publicNetworkAccess="Disabled"),
        config(scmIpSecurityRestrictions=[ALLOW_ALL]),
    )
    assert f.status == Status.PASS and "publicNetworkAccess is Disabled" in f.reason_en
    [f] = run("app-service-scm-restricted", site(), config(scmIpSecurityRestrictions=[HOSPITAL]))
    assert f.status == Status.ERROR and "scmIpSecurityRestrictions default action is not set" in f.reason_en
    [f] = run("app-service-scm-restricted", site())
    assert f.status == Status.ERROR and "config/web was not collected" in f.reason_en
