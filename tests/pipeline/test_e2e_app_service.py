"""App Service checks, collected through the sandbox by the real SDK.

Each site is a `Microsoft.Web/sites` document as `Web Apps - List` returns it, with its `config/web`
child as `Web Apps - Get Configuration` returns it (TLS minimum and cipher suite, access restrictions for the
site and its SCM site, remote debugging, FTP, runtime stack); certificates and plans are documents as
`Certificates - List` and `App Service Plans - List` return them (api-version 2025-05-01, azure-mgmt-web 11).
"""

from __future__ import annotations

from typing import Any

from controls.model import Status
from tests.estates import DEV, PROD, RG, doc, estate, rid
from tests.pipeline.test_e2e_nsg import assert_finding

# Access restrictions as Get Configuration returns them (2025-05-01, SiteConfig.ipSecurityRestrictions).
HOSPITAL = {"ipAddress": "203.0.113.0/24", "action": "Allow", "tag": "Default", "priority": 100, "name": "hospital"}
DENY_ALL = {"ipAddress": "Any", "action": "Deny", "priority": 2147483647, "name": "Deny all",
            "description": "Deny all access"}  # fmt: skip
ALLOW_ALL = {"ipAddress": "Any", "action": "Allow", "priority": 2147483647, "name": "Allow all",
             "description": "Allow all access"}  # fmt: skip
TLS = "app-service-min-tls-1-2"
HTTPS = "app-service-https-only"
CERT = "app-service-client-cert-required"
ACCESS = "app-service-access-restricted"
SCM = "app-service-scm-restricted"
DEBUG = "app-service-remote-debugging-off"
FTP = "app-service-ftp-disabled"
SUITE = "app-service-min-tls-cipher-suite"
RUNTIME = "app-service-runtime-supported"


def site_id(name: str, subscription: str = PROD, rg: str = RG) -> str:
    return rid(f"Microsoft.Web/sites/{name}", subscription, rg)


def site(
    name: str,
    *,
    min_tls: str | None = "1.2",
    https_only: bool | None = True,
    cert_enabled: bool = True,
    cert_mode: str = "Required",
    exclusions: str | None = None,
    subscription: str = PROD,
    rg: str = RG,
    **config_extra: Any,
) -> list[dict[str, Any]]:
    """The site document and its config/web child (omitted when `min_tls` is None): by default reachable only
    from a hospital's addresses, its SCM site closed, FTP and remote debugging off; `config_extra` overrides."""
    farm = rid("Microsoft.Web/serverfarms/asp-karte", subscription, rg)
    host = f"{name}.azurewebsites.net"
    props = {
        "name": name,
        "state": "Running",
        "hostNames": [host],
        "enabledHostNames": [host, f"{name}.scm.azurewebsites.net"],
        "hostNameSslStates": [{"name": host, "sslState": "Disabled", "hostType": "Standard"}],
        "serverFarmId": farm,
        "reserved": True,
        "siteConfig": {"numberOfWorkers": 1, "linuxFxVersion": "DOTNETCORE|10.0", "alwaysOn": True},
        "clientAffinityEnabled": False,
        "clientCertEnabled": cert_enabled,
        "clientCertMode": cert_mode,
        "clientCertExclusionPaths": exclusions,
        "defaultHostName": host,
        "httpsOnly": https_only,
        "publicNetworkAccess": "Enabled",
        "resourceGroup": rg,
    }
    if https_only is None:  # an older API answer without the field
        del props["httpsOnly"]
    path = f"Microsoft.Web/sites/{name}"
    docs = [doc(path, props, subscription=subscription, rg=rg, kind="app,linux", tags={"system": "emr"})]
    if min_tls is not None:
        config = {
            "numberOfWorkers": 1,
            "linuxFxVersion": "DOTNETCORE|10.0",
            "http20Enabled": True,
            "minTlsVersion": min_tls,
            "scmMinTlsVersion": "1.2",
            "ftpsState": "Disabled",
            "remoteDebuggingEnabled": False,
            "minTlsCipherSuite": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "ipSecurityRestrictions": [HOSPITAL, DENY_ALL],
            "ipSecurityRestrictionsDefaultAction": "Deny",
            "scmIpSecurityRestrictions": [DENY_ALL],
            "scmIpSecurityRestrictionsDefaultAction": "Deny",
            "scmIpSecurityRestrictionsUseMain": False,
            **config_extra,
        }
        docs.append(doc(f"{path}/config/web", config, subscription=subscription, rg=rg, name=name))
    return docs


def _farm(subscription: str = PROD, rg: str = RG) -> dict[str, Any]:
    return doc("Microsoft.Web/serverfarms/asp-karte", {"reserved": True, "status": "Ready"},
               subscription=subscription, rg=rg, kind="linux", sku={"name": "P1v3", "tier": "PremiumV3"})  # fmt: skip


def test_compliant_sites_pass_all_three_checks(judge):
    judged = judge(
        estate(
            [
                _farm(),
                *site("app-karte-web"),
                *site("app-karte-api", min_tls="1.3"),
                _farm(DEV, "rg-dev"),
                *site("app-karte-dev", subscription=DEV, rg="rg-dev"),
            ]
        )
    )
    for name, sub, rg, tls in (
        ("app-karte-web", PROD, RG, "1.2"),
        ("app-karte-api", PROD, RG, "1.3"),
        ("app-karte-dev", DEV, "rg-dev", "1.2"),
    ):
        sid = site_id(name, sub, rg)
        tls_finding = assert_finding(judged, TLS, sid, Status.PASS, name, f"minTlsVersion is {tls}")
        # The verdict on TLS rests on the config/web document too.
        config = [e for e in judged.facts.evidence if e.resource_id.lower() == f"{sid}/config/web".lower()]
        assert len(config) == 1 and config[0].sha256 in tls_finding.evidence
        assert_finding(judged, HTTPS, sid, Status.PASS, "httpsOnly is true")
        assert_finding(judged, CERT, sid, Status.PASS, "clientCertEnabled is true", "clientCertMode is Required")
    # The checks cover these requirements only in part (vulnerability assessment, at-rest encryption and
    # the network policy itself are a person's to attest), so passing checks read partial, never pass.
    for number in (86, 118, 123):
        assert judged.verdict(number) == Status.PARTIAL


def test_weak_sites_fail_naming_field_and_value(judge):
    judged = judge(
        estate(
            [
                _farm(),
                *site("app-tls10", min_tls="1.0"),
                *site("app-http", https_only=False),
                *site("app-http-unset", https_only=None),
                *site("app-nocert", cert_enabled=False, cert_mode="Required"),
                *site("app-optional", cert_mode="Optional"),
                *site("app-interactive", cert_mode="OptionalInteractiveUser"),
                *site("app-excluded", exclusions="/healthz;/public"),
            ]
        )
    )
    assert_finding(judged, TLS, site_id("app-tls10"), Status.FAIL, "minTlsVersion is 1.0", "1.2 or newer")
    assert_finding(judged, HTTPS, site_id("app-http"), Status.FAIL, "httpsOnly is false")
    assert_finding(judged, HTTPS, site_id("app-http-unset"), Status.FAIL, "httpsOnly is not set")
    assert_finding(judged, CERT, site_id("app-nocert"), Status.FAIL, "clientCertEnabled is false")
    assert_finding(judged, CERT, site_id("app-optional"), Status.FAIL, "clientCertMode is Optional")
    assert_finding(judged, CERT, site_id("app-interactive"), Status.FAIL, "clientCertMode is OptionalInteractiveUser")
    assert_finding(judged, CERT, site_id("app-excluded"), Status.FAIL, "clientCertExclusionPaths is /healthz;/public")
    # Each weakness fails only its own check.
    assert_finding(judged, TLS, site_id("app-http"), Status.PASS)
    assert_finding(judged, HTTPS, site_id("app-tls10"), Status.PASS)
    assert_finding(judged, CERT, site_id("app-tls10"), Status.PASS)
    assert "1.0" in judged.findings(TLS)[site_id("app-tls10").lower()].reason_ja
    for number in (86, 118, 123):
        assert judged.verdict(number) == Status.FAIL


def test_site_without_readable_config_is_an_error_not_a_pass(judge):
    # No config/web document: the sandbox answers 404 to Get Configuration, as ARM would for a lost child.
    judged = judge(estate([_farm(), *site("app-noconfig", min_tls=None), *site("app-ok")]))
    sid = site_id("app-noconfig")
    finding = judged.findings(TLS)[sid.lower()]
    assert finding.status == Status.ERROR and "config/web" in finding.reason_en
    assert_finding(judged, TLS, site_id("app-ok"), Status.PASS)
    assert [e.scope for e in judged.facts.errors] == [sid]
    # HTTPS only is judged from the site document alone and is unaffected.
    assert_finding(judged, HTTPS, sid, Status.PASS)
    assert judged.verdict(118) == Status.ERROR and judged.verdict(123) == Status.ERROR
    # Access restrictions live in config/web too: not seen, so not a pass.
    assert judged.findings(ACCESS)[sid.lower()].status == Status.ERROR
    assert judged.verdict(86) == Status.ERROR


def test_deployment_slots_are_collected_and_judged_like_sites(judge):
    """A staging slot has its own host name and settings: a weak slot fails even when its site passes."""
    slot_path = "Microsoft.Web/sites/app-karte-web/slots/staging"
    slot = doc(slot_path, {"httpsOnly": False, "clientCertEnabled": True, "clientCertMode": "Required"},
               kind="app,linux", name="app-karte-web/staging")  # fmt: skip
    slot_config = doc(f"{slot_path}/config/web", {"minTlsVersion": "1.0"}, name="app-karte-web/staging")
    judged = judge(estate([_farm(), *site("app-karte-web"), slot, slot_config]))
    slot_id = rid(slot_path).lower()
    assert judged.findings("app-service-min-tls-1-2")[slot_id].status == Status.FAIL
    assert "1.0" in judged.findings("app-service-min-tls-1-2")[slot_id].reason_en
    assert judged.findings("app-service-https-only")[slot_id].status == Status.FAIL
    assert judged.findings("app-service-client-cert-required")[slot_id].status == Status.PASS
    assert judged.findings("app-service-min-tls-1-2")[site_id("app-karte-web").lower()].status == Status.PASS
    assert judged.verdict(123) == Status.FAIL


def test_access_scm_debugging_and_ftp_through_the_sdk(judge):
    """One estate: a site closed to all but a hospital and its own Front Door, and sites each open in one way."""
    fdid = {"x-azure-fdid": ["6f1c2d3e-0000-4000-8000-000000000001"]}
    front_door = {"ipAddress": "AzureFrontDoor.Backend", "tag": "ServiceTag", "action": "Allow", "priority": 200,
                  "name": "front-door", "headers": fdid}  # fmt: skip
    judged = judge(
        estate(
            [
                _farm(),
                *site("app-closed", ipSecurityRestrictions=[HOSPITAL, front_door, DENY_ALL], ftpsState="FtpsOnly"),
                *site(
                    "app-open",
                    ipSecurityRestrictions=[ALLOW_ALL],
                    ipSecurityRestrictionsDefaultAction="Allow",
                    minTlsCipherSuite=None,
                ),
                *site(
                    "app-kudu-main",
                    ipSecurityRestrictions=[ALLOW_ALL],
                    ipSecurityRestrictionsDefaultAction="Allow",
                    scmIpSecurityRestrictionsUseMain=True,
                ),
                *site(
                    "app-debug", remoteDebuggingEnabled=True, remoteDebuggingVersion="VS2022", ftpsState="AllAllowed"
                ),
                *site("app-node18", linuxFxVersion="NODE|18-lts"),
            ]
        )
    )
    closed = site_id("app-closed")
    assert_finding(judged, ACCESS, closed, Status.PASS, "rule 'Deny all'", "allowed: hospital, front-door")
    assert_finding(judged, SCM, closed, Status.PASS, "scmIpSecurityRestrictions denies the rest", "allowed: none")
    assert_finding(judged, DEBUG, closed, Status.PASS, "remoteDebuggingEnabled is false")
    assert_finding(judged, FTP, closed, Status.PASS, "ftpsState is FtpsOnly")
    assert_finding(judged, ACCESS, site_id("app-open"), Status.FAIL, "rule 'Allow all' allows source Any")
    assert_finding(judged, SCM, site_id("app-open"), Status.PASS)  # its SCM site keeps its own deny-all
    assert_finding(judged, SCM, site_id("app-kudu-main"), Status.FAIL, "scmIpSecurityRestrictionsUseMain true")
    assert_finding(judged, DEBUG, site_id("app-debug"), Status.FAIL, "remoteDebuggingEnabled is true")
    assert_finding(judged, FTP, site_id("app-debug"), Status.FAIL, "ftpsState is AllAllowed")
    assert_finding(judged, SUITE, closed, Status.PASS, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    assert_finding(judged, SUITE, site_id("app-open"), Status.FAIL, "minTlsCipherSuite is not set")
    assert_finding(judged, RUNTIME, closed, Status.PASS, "DOTNETCORE|10.0", "supported until 2028-11-14")
    assert_finding(judged, RUNTIME, site_id("app-node18"), Status.FAIL, "NODE|18-lts", "support ended 2025-04-30")
    for number in (86, 112, 113, 119, 123):
        assert judged.verdict(number) == Status.FAIL


CERTS = "app-service-certificates-valid"
PLANS = "app-service-plan-zone-redundant"


def _certificate(name: str, expires: str, issuer: str = "DigiCert Global G2 TLS RSA SHA256 2020 CA1",
                 subject: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A certificate as Certificates - List returns it (2025-05-01 example ListCertificates.json)."""
    host = f"{name}.clinic.example"
    return doc(f"Microsoft.Web/certificates/{name}", {"friendlyName": "", "subjectName": subject or host,
               "hostNames": [host], "issuer": issuer, "issueDate": "${now-200d}", "expirationDate": expires,
               "thumbprint": "8F43288AD272F3103B6FB1428485EA3014C0BCFE"})  # fmt: skip


def _plan(name: str, zone: bool, capacity: int, subscription: str = PROD) -> dict[str, Any]:
    """A plan as App Service Plans - List returns it (2025-05-01 example GetAppServicePlan.json)."""
    return doc(f"Microsoft.Web/serverfarms/{name}", {"status": "Ready", "zoneRedundant": zone, "numberOfSites": 1,
               "reserved": True}, subscription=subscription, kind="linux",
               sku={"name": "P1v3", "tier": "PremiumV3", "capacity": capacity})  # fmt: skip


def test_certificates_and_production_plans_through_the_sdk(judge):
    judged = judge(
        estate(
            [
                _certificate("cert-good", "${now+200d}"),
                _certificate("cert-soon", "${now+10d}"),
                _certificate("cert-expired", "${now-2d}"),
                _certificate("cert-self", "${now+300d}", issuer="cert-self.clinic.example"),
                _plan("asp-zonal", True, 3),
                _plan("asp-single-zone", False, 3),
                _plan("asp-dev", False, 1, subscription=DEV),
            ]
        )
    )

    def cert(name: str) -> str:
        return rid(f"Microsoft.Web/certificates/{name}")

    assert_finding(judged, CERTS, cert("cert-good"), Status.PASS, "issued by DigiCert", "days left")
    assert_finding(judged, CERTS, cert("cert-soon"), Status.FAIL, "days (30 or more required)")
    assert_finding(judged, CERTS, cert("cert-expired"), Status.FAIL, "expired on")
    assert_finding(judged, CERTS, cert("cert-self"), Status.FAIL, "self-signed")
    assert judged.verdict(125) == Status.FAIL
    zonal = rid("Microsoft.Web/serverfarms/asp-zonal")
    assert_finding(judged, PLANS, zonal, Status.PASS, "zoneRedundant true", "sku.capacity 3")
    assert_finding(
        judged, PLANS, rid("Microsoft.Web/serverfarms/asp-single-zone"), Status.FAIL, "zoneRedundant is false"
    )
    assert rid("Microsoft.Web/serverfarms/asp-dev", DEV).lower() not in judged.findings(PLANS)  # not production
    assert judged.verdict(178) == Status.FAIL  # a failing supporting check contradicts the claim


def test_refused_certificate_and_plan_listings_are_errors_not_passes(judge):
    judged = judge(
        estate(
            [_certificate("cert-good", "${now+200d}"), _plan("asp-zonal", True, 3)],
            faults=[
                {"kind": "forbidden", "subscription": PROD, "resourceType": "Microsoft.Web/certificates"},
                {"kind": "forbidden", "subscription": PROD, "resourceType": "Microsoft.Web/serverfarms"},
            ],
        )
    )
    for check_id in (CERTS, PLANS):
        statuses = {f.status for f in judged.findings(check_id).values()}
        assert statuses == {Status.ERROR}, check_id
    assert judged.verdict(125) == Status.ERROR
