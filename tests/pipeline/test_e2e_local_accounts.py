"""Local and shared admin accounts, collected through the sandbox by the real SDK clients: Virtual Machines -
List All, SQL Servers - List, PostgreSQL Flexible Servers - List, Storage Accounts - List, Registries - List
(azure-mgmt-containerregistry, 2025-11-01), and Web Apps - List Basic Publishing Credentials Policies (Slot)
per site and slot."""

from typing import Any

from controls.model import Status
from tests.estates import DEV, doc, estate, rid, sql_server, storage_account

ENTRA_ADMIN = {
    "administratorType": "ActiveDirectory",
    "principalType": "Group",
    "login": "grp-dba",
    "sid": "0d5f8a2e-4b1c-4e6d-9a3f-2c7b8e9d1f04",
    "tenantId": "5b0c1c8e-6a4e-4d3b-9a53-0f1d2c3b4a59",
}


def vm(name: str, user: str, *, password_off: bool = True, subscription: str = "") -> dict[str, Any]:
    kw = {"subscription": subscription} if subscription else {}
    return doc(f"Microsoft.Compute/virtualMachines/{name}", {
        "osProfile": {"computerName": name, "adminUsername": user,
                      "linuxConfiguration": {"disablePasswordAuthentication": password_off}},
        "storageProfile": {"osDisk": {"osType": "Linux", "name": f"osdisk-{name}"}},
    }, **kw)  # fmt: skip


def pg(name: str, login: str, password_auth: str) -> dict[str, Any]:
    return doc(f"Microsoft.DBforPostgreSQL/flexibleServers/{name}", {
        "administratorLogin": login, "version": "16", "state": "Ready",
        "authConfig": {"activeDirectoryAuth": "Enabled", "passwordAuth": password_auth},
    }, sku={"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"})  # fmt: skip


def site(name: str, ftp: bool, scm: bool, slot: tuple[str, bool, bool] | None = None) -> list[dict[str, Any]]:
    out = [doc(f"Microsoft.Web/sites/{name}", {"state": "Running", "httpsOnly": True}, kind="app,linux")]
    targets = [(f"Microsoft.Web/sites/{name}", ftp, scm)]
    if slot:
        out.append(doc(f"Microsoft.Web/sites/{name}/slots/{slot[0]}", {"state": "Running"}, kind="app,linux",
                       location="japaneast"))  # fmt: skip
        targets.append((f"Microsoft.Web/sites/{name}/slots/{slot[0]}", slot[1], slot[2]))
    for path, f, s in targets:
        for policy, allow in (("ftp", f), ("scm", s)):
            out.append(doc(f"{path}/basicPublishingCredentialsPolicies/{policy}", {"allow": allow}))
    return out


GOOD = [
    vm("vm-app-01", "kartevmops"),
    *sql_server(
        "sql-karte",
        {"administratorLogin": "karte_dba", "administrators": {**ENTRA_ADMIN, "azureADOnlyAuthentication": True}},
    ),
    pg("psql-karte", "karte_pg", "Disabled"),
    *storage_account("stkarte", {"allowSharedKeyAccess": False}),
    doc(
        "Microsoft.ContainerRegistry/registries/crkarte",
        {"adminUserEnabled": False, "loginServer": "crkarte.azurecr.io"},
        sku={"name": "Premium", "tier": "Premium"},
    ),
    *site("app-karte", False, False, slot=("staging", False, False)),
]
BAD = [
    vm("vm-build-dev", "azureuser", password_off=False, subscription=DEV),
    *sql_server(
        "sql-legacy",
        {"administratorLogin": "sa", "administrators": {**ENTRA_ADMIN, "azureADOnlyAuthentication": False}},
    ),
    pg("psql-legacy", "postgres", "Enabled"),
    *storage_account("stlegacy", {}),
    doc(
        "Microsoft.ContainerRegistry/registries/crlegacy",
        {"adminUserEnabled": True, "loginServer": "crlegacy.azurecr.io"},
        sku={"name": "Basic", "tier": "Basic"},
    ),
    *site("app-legacy", True, False, slot=("staging", False, True)),
    *site("app-denied", False, False),
]


def by_name(findings: dict[str, Any]) -> dict[str, Status]:
    return {r.split("/providers/", 1)[1].split("/", 2)[2]: f.status for r, f in findings.items()}


def test_personal_entra_only_access_passes(judge):
    served = []
    judged = judge(estate(GOOD), setup=served.append)
    # The Entra administrator is in the SQL server listing only when asked for with $expand.
    sql_lists = [r for r in served[0].requests if r.path.lower().endswith("/providers/microsoft.sql/servers")]
    assert any("administrators%2Factivedirectory" in r.query or "administrators/activedirectory" in r.query
               for r in sql_lists), [r.query for r in sql_lists]  # fmt: skip
    P = Status.PASS
    assert by_name(judged.findings("admin-names-not-default")) == {
        "vm-app-01": P, "sql-karte": P, "psql-karte": P}  # fmt: skip
    assert by_name(judged.findings("linux-password-auth-disabled")) == {"vm-app-01": P}
    assert by_name(judged.findings("sql-entra-only-authentication")) == {"sql-karte": P}
    assert by_name(judged.findings("postgresql-entra-authentication")) == {"psql-karte": P}
    assert by_name(judged.findings("storage-shared-key-disabled")) == {"stkarte": P}
    assert by_name(judged.findings("container-registry-admin-user-disabled")) == {"crkarte": P}
    assert by_name(judged.findings("app-service-basic-auth-disabled")) == {
        "app-karte": P, "app-karte/slots/staging": P}  # fmt: skip
    for number in (138, 140, 149):
        assert judged.verdict(number) == Status.PARTIAL, number


def test_shared_and_default_accounts_fail_and_refusals_are_errors(judge):
    faults = [
        {"kind": "forbidden", "resourceType": "Microsoft.ContainerRegistry/registries"},
        {"kind": "forbidden", "method": "GET", "path": "*/sites/app-denied/basicPublishingCredentialsPolicies"},
    ]
    judged = judge(estate([*GOOD, *BAD], faults=faults))
    P, F, E = Status.PASS, Status.FAIL, Status.ERROR
    names = by_name(judged.findings("admin-names-not-default"))
    assert {k: names[k] for k in ("vm-build-dev", "sql-legacy", "psql-legacy")} == {
        "vm-build-dev": F, "sql-legacy": F, "psql-legacy": F}  # fmt: skip
    assert by_name(judged.findings("linux-password-auth-disabled"))["vm-build-dev"] == F
    assert by_name(judged.findings("sql-entra-only-authentication"))["sql-legacy"] == F
    assert by_name(judged.findings("postgresql-entra-authentication"))["psql-legacy"] == F
    assert by_name(judged.findings("storage-shared-key-disabled"))["stlegacy"] == F
    basic = by_name(judged.findings("app-service-basic-auth-disabled"))
    assert basic == {"app-karte": P, "app-karte/slots/staging": P, "app-legacy": F, "app-legacy/slots/staging": F,
                     "app-denied": E}  # fmt: skip
    denied = judged.findings("app-service-basic-auth-disabled")[rid("Microsoft.Web/sites/app-denied").lower()]
    assert "AuthorizationFailed" in denied.reason_en
    # The registries could not be listed: an error, never a pass.
    registries = judged.findings("container-registry-admin-user-disabled")
    assert registries and {f.status for f in registries.values()} == {E}
    user = judged.findings("admin-names-not-default")[rid("Microsoft.Compute/virtualMachines/vm-build-dev",
                                                          subscription=DEV).lower()]  # fmt: skip
    assert "'azureuser'" in user.reason_en
    for number in (138, 140, 149):
        assert judged.verdict(number) == F, number
