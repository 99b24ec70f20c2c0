"""Local and shared admin accounts: default administrator names, Linux password logon, Entra-only databases,
storage shared keys, container registry admin users, App Service basic publishing credentials."""

from dataclasses import replace
from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
RG = f"{SUB}/resourceGroups/rg-app/providers"
AT = datetime(2026, 3, 31, tzinfo=UTC)


def ev(kind: str, doc: dict) -> Evidence:
    return Evidence(kind, "test", SUB, doc["id"], "2026-01-01", None, AT, doc)


def run(check_id: str, *evidence: Evidence, errors: list | None = None, **thresholds) -> list:
    facts = FactSet(list(evidence), errors or [])
    return CHECKS_BY_ID[check_id].evaluate(facts, replace(Thresholds(), **thresholds))


def status(findings: list) -> dict[str, Status]:
    return {f.resource_id.rsplit("/", 1)[-1]: f.status for f in findings}


def linux_vm(name: str, user: str = "kartevmops", password_off: object = True, **extra) -> Evidence:
    linux = {"provisionVMAgent": True}
    if password_off is not None:
        linux["disablePasswordAuthentication"] = password_off
    properties = {"osProfile": {"computerName": name, "adminUsername": user, "linuxConfiguration": linux},
                  "storageProfile": {"osDisk": {"osType": "Linux"}}}  # fmt: skip
    properties.update(extra)
    return ev("virtual_machine", {"id": f"{RG}/Microsoft.Compute/virtualMachines/{name}", "name": name,
                                  "properties": properties})  # fmt: skip


def windows_vm(name: str, user: str) -> Evidence:
    properties = {"osProfile": {"computerName": name, "adminUsername": user, "windowsConfiguration": {}},
                  "storageProfile": {"osDisk": {"osType": "Windows"}}}  # fmt: skip
    return ev("virtual_machine", {"id": f"{RG}/Microsoft.Compute/virtualMachines/{name}", "name": name,
                                  "properties": properties})  # fmt: skip


def specialized_vm(name: str, os_type: str | None = "Linux") -> Evidence:
    disk = {"osType": os_type} if os_type else {}
    return ev("virtual_machine", {"id": f"{RG}/Microsoft.Compute/virtualMachines/{name}", "name": name,
                                  "properties": {"storageProfile": {"osDisk": disk}}})  # fmt: skip


def sql(name: str, login: object = "karte_dba", admins: object = ..., **extra) -> Evidence:
    properties: dict = {"administratorLogin": login} if login is not None else {}
    if admins is ...:
        admins = {"administratorType": "ActiveDirectory", "login": "grp-dba", "azureADOnlyAuthentication": True}
    if admins is not None:
        properties["administrators"] = admins
    properties.update(extra)
    return ev("sql_server", {"id": f"{RG}/Microsoft.Sql/servers/{name}", "name": name,
                                    "properties": properties})  # fmt: skip


def pg(name: str, login: object = "karte_pg", auth: object = ...) -> Evidence:
    properties: dict = {"administratorLogin": login} if login is not None else {}
    if auth is ...:
        auth = {"activeDirectoryAuth": "Enabled", "passwordAuth": "Disabled"}
    if auth is not None:
        properties["authConfig"] = auth
    return ev("postgresql_server", {"id": f"{RG}/Microsoft.DBforPostgreSQL/flexibleServers/{name}", "name": name,
                                    "properties": properties})  # fmt: skip


# -- admin-names-not-default


def test_default_admin_names_fail_case_insensitively_and_personal_names_pass():
    found = run(
        "admin-names-not-default",
        linux_vm("vm-ok", "kartevmops"),
        linux_vm("vm-azureuser", "AzureUser"),
        windows_vm("vm-win-admin", "Administrator"),
        sql("sql-sa", login="SA", admins={"azureADOnlyAuthentication": False}),
        sql("sql-ok"),
        pg("pg-root", login=" root ", auth={"activeDirectoryAuth": "Enabled", "passwordAuth": "Enabled"}),
        pg("pg-ok"),
        sql("sql-admin-entra-only", login="admin"),
        pg("pg-postgres-entra-only", login="postgres"),
    )
    assert status(found) == {
        "vm-ok": Status.PASS,
        "vm-azureuser": Status.FAIL,
        "vm-win-admin": Status.FAIL,
        "sql-sa": Status.FAIL,
        "sql-ok": Status.PASS,
        "pg-root": Status.FAIL,
        "pg-ok": Status.PASS,
        # A default name that cannot log on (password authentication off) is not a usable default account.
        "sql-admin-entra-only": Status.PASS,
        "pg-postgres-entra-only": Status.PASS,
    }
    entra_only = next(f for f in found if f.resource_id.endswith("sql-admin-entra-only"))
    assert "password authentication is off" in entra_only.reason_en
    bad = next(f for f in found if f.resource_id.endswith("vm-azureuser"))
    assert "AzureUser" in bad.reason_en and "default_admin_names" in bad.reason_en
    assert "AzureUser" in bad.reason_ja


def test_admin_names_threshold_replaces_the_list():
    found = run("admin-names-not-default", linux_vm("vm-a", "opsadmin"), linux_vm("vm-b", "root"),
                default_admin_names=("OpsAdmin",))  # fmt: skip
    assert status(found) == {"vm-a": Status.FAIL, "vm-b": Status.PASS}


def test_admin_name_missing_passes_only_without_password_login():
    found = run(
        "admin-names-not-default",
        specialized_vm("vm-specialized"),
        sql("sql-entra-only-no-login", login=None),
        sql("sql-sql-auth-no-login", login=None, admins={"azureADOnlyAuthentication": False}),
        pg("pg-entra-no-login", login=None),
        pg("pg-password-no-login", login=None, auth={"passwordAuth": "Enabled"}),
        pg("pg-old-no-login", login=None, auth=None),
        linux_vm("vm-number", user=42),
    )
    assert status(found) == {
        "vm-specialized": Status.ERROR,
        "sql-entra-only-no-login": Status.PASS,
        "sql-sql-auth-no-login": Status.ERROR,
        "pg-entra-no-login": Status.PASS,
        "pg-password-no-login": Status.ERROR,
        "pg-old-no-login": Status.ERROR,
        "vm-number": Status.ERROR,
    }


# -- linux-password-auth-disabled


def test_linux_password_auth_off_passes_on_or_missing_fails_windows_not_judged():
    found = run(
        "linux-password-auth-disabled",
        linux_vm("vm-keys"),
        linux_vm("vm-password", password_off=False),
        linux_vm("vm-unset", password_off=None),
        windows_vm("vm-win", "kartewinops"),
        specialized_vm("vm-specialized-linux"),
        specialized_vm("vm-unknown-os", os_type=None),
    )
    assert status(found) == {
        "vm-keys": Status.PASS,
        "vm-password": Status.FAIL,
        "vm-unset": Status.FAIL,
        "vm-specialized-linux": Status.ERROR,
        "vm-unknown-os": Status.ERROR,
    }
    bad = next(f for f in found if f.resource_id.endswith("vm-password"))
    assert "kartevmops" in bad.reason_en and "false" in bad.reason_en


# -- sql-entra-only-authentication


def test_sql_entra_only_passes_false_or_no_entra_admin_fails_odd_value_errors():
    found = run(
        "sql-entra-only-authentication",
        sql("sql-ok"),
        sql("sql-mixed", admins={"administratorType": "ActiveDirectory", "azureADOnlyAuthentication": False}),
        sql("sql-no-entra-admin", admins=None),
        sql("sql-odd", admins={"azureADOnlyAuthentication": "yes"}),
    )
    assert status(found) == {
        "sql-ok": Status.PASS,
        "sql-mixed": Status.FAIL,
        "sql-no-entra-admin": Status.FAIL,
        "sql-odd": Status.ERROR,
    }
    assert "karte_dba" in next(f for f in found if f.resource_id.endswith("sql-no-entra-admin")).reason_en


# -- postgresql-entra-authentication


def test_postgresql_password_auth_disabled_passes_enabled_or_unset_fails():
    found = run(
        "postgresql-entra-authentication",
        pg("pg-ok"),
        pg("pg-both", auth={"activeDirectoryAuth": "Enabled", "passwordAuth": "Enabled"}),
        pg("pg-old", auth=None),
        pg("pg-neither", auth={"activeDirectoryAuth": "Disabled", "passwordAuth": "Disabled"}),
        pg("pg-odd", auth={"passwordAuth": "Sometimes"}),
    )
    assert status(found) == {
        "pg-ok": Status.PASS,
        "pg-both": Status.FAIL,
        "pg-old": Status.FAIL,
        "pg-neither": Status.ERROR,
        "pg-odd": Status.ERROR,
    }


# -- storage-shared-key-disabled


def account(name: str, **props) -> Evidence:
    return ev(FactKind.STORAGE_ACCOUNT, {"id": f"{RG}/Microsoft.Storage/storageAccounts/{name}", "name": name,
                                         "properties": props})  # fmt: skip


def test_storage_shared_key_false_passes_true_or_missing_fails():
    found = run(
        "storage-shared-key-disabled",
        account("stok", allowSharedKeyAccess=False),
        account("stkeys", allowSharedKeyAccess=True),
        account("stunset"),
        account("stodd", allowSharedKeyAccess="false"),
    )
    assert status(found) == {
        "stok": Status.PASS,
        "stkeys": Status.FAIL,
        "stunset": Status.FAIL,
        "stodd": Status.ERROR,
    }
    assert "not set" in next(f for f in found if f.resource_id.endswith("stunset")).reason_en


# -- container-registry-admin-user-disabled


def registry(name: str, **props) -> Evidence:
    return ev("container_registry", {"id": f"{RG}/Microsoft.ContainerRegistry/registries/{name}", "name": name,
                                     "properties": props})  # fmt: skip


def test_registry_admin_user_off_passes_on_fails_missing_errors():
    found = run(
        "container-registry-admin-user-disabled",
        registry("crok", adminUserEnabled=False),
        registry("cradmin", adminUserEnabled=True),
        registry("crunknown"),
    )
    assert status(found) == {"crok": Status.PASS, "cradmin": Status.FAIL, "crunknown": Status.ERROR}


# -- app-service-basic-auth-disabled


def site(name: str, slot: str | None = None) -> Evidence:
    rid = f"{RG}/Microsoft.Web/sites/{name}" + (f"/slots/{slot}" if slot else "")
    return ev(FactKind.WEB_SITE, {"id": rid, "name": f"{name}/{slot}" if slot else name, "properties": {}})


def policies(site_ev: Evidence, ftp: object, scm: object, *, drop: str | None = None) -> Evidence:
    items = [
        {"id": f"{site_ev.resource_id}/basicPublishingCredentialsPolicies/{p}", "name": p,
         "type": "Microsoft.Web/sites/basicPublishingCredentialsPolicies", "properties": {"allow": v}}
        for p, v in (("ftp", ftp), ("scm", scm)) if p != drop
    ]  # fmt: skip
    return Evidence("publishing_credentials_policies", "test", SUB, site_ev.resource_id, "2025-05-01", None, AT,
                    {"value": items})  # fmt: skip


def test_basic_auth_both_off_passes_either_on_fails_missing_errors():
    ok, ftp_on, scm_on, missing_scm, slot = (
        site("app-ok"), site("app-ftp"), site("app-scm"), site("app-missing"), site("app-ok", "staging"),
    )  # fmt: skip
    found = run(
        "app-service-basic-auth-disabled",
        ok, ftp_on, scm_on, missing_scm, slot,
        policies(ok, False, False),
        policies(ftp_on, True, False),
        policies(scm_on, False, True),
        policies(missing_scm, False, False, drop="scm"),
        policies(slot, True, True),
    )  # fmt: skip
    by_id = {f.resource_id: f for f in found}
    assert by_id[ok.resource_id].status is Status.PASS
    assert by_id[ftp_on.resource_id].status is Status.FAIL and "ftp" in by_id[ftp_on.resource_id].reason_en
    assert by_id[scm_on.resource_id].status is Status.FAIL
    assert by_id[missing_scm.resource_id].status is Status.ERROR
    assert by_id[slot.resource_id].status is Status.FAIL and "slot" in by_id[slot.resource_id].reason_en
    assert "ftp and scm" in by_id[slot.resource_id].reason_en


def test_basic_auth_policies_not_collected_is_an_error_naming_the_cause():
    s = site("app-denied")
    err = CollectionError("publishing_credentials_policies", "web.publishing_credentials", s.resource_id,
                          "AuthorizationFailed", "no access", 403, None, AT)  # fmt: skip
    found = run("app-service-basic-auth-disabled", s, errors=[err])
    assert [f.status for f in found if f.resource_id == s.resource_id] == [Status.ERROR]
    assert any("AuthorizationFailed" in f.reason_en for f in found)
