"""Passwords, lockout and MFA (No 148, 151, 155, 159), collected from the sandbox's Graph by msgraph-sdk:
/domains, /groupSettings, /identity/conditionalAccess/policies and
/policies/identitySecurityDefaultsEnforcementPolicy."""

from controls.model import Status
from tests.estates import estate

GA = "62e90394-69f5-4237-9190-012177145e10"
BREAK_GLASS = "3753fb1d-be94-4ac6-ab97-0b2acdf70e34"
OPS = "5a1e0c3d-0000-4000-8000-00000000000c"


def domain(name: str, days: int | None, auth: str = "Managed", verified: bool = True) -> dict:
    return {"id": name, "authenticationType": auth, "isDefault": False, "isInitial": False, "isRoot": True,
            "isVerified": verified, "passwordNotificationWindowInDays": 14, "passwordValidityPeriodInDays": days,
            "supportedServices": ["Email"]}  # fmt: skip


def policy(pid: str, name: str, state: str, users: dict, apps: list[str], controls: list[str]) -> dict:
    return {"id": pid, "displayName": name, "state": state, "sessionControls": None,
            "conditions": {"clientAppTypes": ["all"], "userRiskLevels": [], "signInRiskLevels": [],
                           "servicePrincipalRiskLevels": [], "platforms": None, "locations": None, "devices": None,
                           "applications": {"includeApplications": apps, "excludeApplications": []},
                           "users": {"includeUsers": [], "excludeUsers": [], "includeGroups": [],
                                     "excludeGroups": [], "includeRoles": [], "excludeRoles": [], **users}},
            "grantControls": {"operator": "OR", "builtInControls": controls, "customAuthenticationFactors": [],
                              "termsOfUse": [], "authenticationStrength": None}}  # fmt: skip


def rules(**values: str) -> dict:
    return {"id": "6f1b1c51-0000-4000-8000-000000000001", "displayName": "Password Rule Settings",
            "templateId": "5cf42378-d67d-4f36-ba46-e8b86229381d",
            "values": [{"name": k, "value": v} for k, v in values.items()]}  # fmt: skip


def directory(policies: list[dict], settings: list[dict], defaults_on: bool = False) -> dict:
    return {
        "users": [
            {
                "id": BREAK_GLASS,
                "userPrincipalName": "bg01@clinic.example",
                "accountEnabled": True,
                "passwordPolicies": "DisablePasswordExpiration",
            },
            {
                "id": OPS,
                "userPrincipalName": "ops@clinic.example",
                "accountEnabled": True,
                "passwordPolicies": "DisableStrongPassword, DisablePasswordExpiration",
            },
            {
                "id": "5a1e0c3d-0000-4000-8000-00000000000d",
                "userPrincipalName": "left@clinic.example",
                "accountEnabled": False,
                "passwordPolicies": "DisablePasswordExpiration",
            },
        ],
        "domains": [
            domain("clinic.example", 2147483647),
            domain("old.example", 60),
            domain("sso.example", None, "Federated"),
            domain("pending.example", 2147483647, verified=False),
        ],
        "conditionalAccessPolicies": policies,
        "groupSettings": settings,
        "securityDefaults": {"id": "00000000-0000-0000-0000-000000000005", "isEnabled": defaults_on},
    }


MFA_ALL = policy("a1", "Require MFA for all users", "enabled", {"includeUsers": ["All"], "excludeUsers": [BREAK_GLASS]},
                 ["All"], ["mfa"])  # fmt: skip


def frequency(policy_doc: dict, hours: int) -> dict:
    session = {"signInFrequency": {"isEnabled": True, "value": hours, "type": "hours",
                                   "authenticationType": "primaryAndSecondaryAuthentication",
                                   "frequencyInterval": "timeBased"}}  # fmt: skip
    return {**policy_doc, "sessionControls": session}


AZURE_8H = frequency(policy("a3", "Azure management 8h", "enabled", {"includeUsers": ["All"]},
                            ["797f4846-ba00-4fd7-ba43-dac1f8f63013"], []), 8)  # fmt: skip


def test_mfa_for_everyone_custom_banned_list_and_default_lockout_pass(judge):
    judged = judge(estate(directory=directory([MFA_ALL, AZURE_8H], [rules(EnableBannedPasswordCheck="True",
                                                                   BannedPasswordList="clinic\tkarte")])))  # fmt: skip
    expiry = judged.findings("password-expiry-policy")
    assert {k: f.status for k, f in expiry.items()} == {
        "domains/clinic.example": Status.PASS,  # never expires, MFA for everyone
        "domains/old.example": Status.PASS,  # 60 days
        "domains/sso.example": Status.ERROR,  # federated: the IdP decides
        f"users/{BREAK_GLASS}": Status.FAIL,  # never expires, excluded from the MFA policy
        f"users/{OPS}": Status.PASS,  # never expires, but the MFA policy covers it
    }  # the disabled user is not judged
    assert "excludes 1 user(s)" in expiry["domains/clinic.example"].reason_en
    assert judged.findings("banned-password-protection")["tenant"].status == Status.PASS
    lockout = judged.findings("smart-lockout-configured")["tenant"]
    assert lockout.status == Status.PASS and "10 failed sign-ins" in lockout.reason_en
    assert judged.findings("admin-mfa-required")["tenant"].status == Status.PASS
    assert judged.findings("ca-sign-in-frequency")["tenant"].status == Status.PASS


def test_report_only_admin_policy_lenient_lockout_and_no_custom_list_fail(judge):
    admins = policy("a2", "CA-admins", "enabledForReportingButNotEnforced", {"includeRoles": [GA]}, ["All"], ["mfa"])
    lax = {**AZURE_8H, "state": "enabledForReportingButNotEnforced"}
    judged = judge(estate(directory=directory([admins, lax], [rules(LockoutThreshold="50")])))
    assert judged.findings("password-expiry-policy")["domains/clinic.example"].status == Status.FAIL
    assert judged.findings("banned-password-protection")["tenant"].status == Status.FAIL
    lockout = judged.findings("smart-lockout-configured")["tenant"]
    assert lockout.status == Status.FAIL and "LockoutThreshold 50 (at most 10 required)" in lockout.reason_en
    mfa = judged.findings("admin-mfa-required")["tenant"]
    assert mfa.status == Status.FAIL and "Report-only (not enforced): CA-admins" in mfa.reason_en
    assert "Global Administrator" in mfa.reason_en and "Azure management" in mfa.reason_en
    assert judged.verdict(159) == Status.FAIL
    frequency_finding = judged.findings("ca-sign-in-frequency")["tenant"]
    assert (
        frequency_finding.status == Status.FAIL
        and "is enabledForReportingButNotEnforced" in frequency_finding.reason_en
    )


def test_conditional_access_refused_is_an_error_naming_policy_read_all(judge):
    forbidden = [{"kind": "forbidden", "path": "/v1.0/identity/conditionalAccess/policies*"}]
    judged = judge(estate(directory=directory([MFA_ALL], []), faults=forbidden))
    mfa = judged.findings("admin-mfa-required")["tenant"]
    assert mfa.status == Status.ERROR
    assert "lacks the Microsoft Graph application permission Policy.Read.All" in mfa.reason_en
    assert judged.findings("ca-sign-in-frequency")["tenant"].status == Status.ERROR
    # Expiry that needs the MFA alternative cannot be decided; a 60-day domain still passes.
    expiry = judged.findings("password-expiry-policy")
    assert expiry["domains/clinic.example"].status == Status.ERROR
    assert expiry["domains/old.example"].status == Status.PASS
    # The directory settings were still read: no settings = Entra defaults (10 / 60 s; no custom list).
    assert judged.findings("smart-lockout-configured")["tenant"].status == Status.PASS
    assert judged.findings("banned-password-protection")["tenant"].status == Status.FAIL


def test_no_directory_setting_is_judged_on_the_empty_listing_it_cites(judge):
    """A tenant without Password Rule Settings runs on Entra's defaults; the findings cite Graph's empty answer."""
    judged = judge(estate(directory=directory([MFA_ALL], [])))
    [listing] = [ev for ev in judged.facts.of("entra_directory_setting") if ev.resource_id == "groupSettings"]
    assert listing.content.get("value") == []
    lockout = judged.findings("smart-lockout-configured")["tenant"]
    assert lockout.status == Status.PASS and "Entra's defaults" in lockout.reason_en
    assert listing.sha256 in lockout.evidence
    banned = judged.findings("banned-password-protection")["tenant"]
    assert banned.status == Status.FAIL and listing.sha256 in banned.evidence
