"""Secrets are blanked before a document becomes evidence (collector/redaction.yaml), never a field a check
judges, and no fetcher calls an API that returns secrets."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from collector.redaction import RulesError, parse_rules, redact, shipped_rules
from controls.checks import ALL_CHECKS
from controls.model import Redaction

ROOT = Path(__file__).resolve().parents[2]
MARK = shipped_rules().marker
STORAGE_KEY = "Zm9v" * 21 + "YQ=="  # 86 base64 characters and ==, the shape of a storage account key


def test_every_rule_says_why_and_the_file_is_checked() -> None:
    rules = shipped_rules()
    assert rules.names and rules.values
    assert all(len(r.why) > 20 for r in (*rules.names, *rules.values))
    with pytest.raises(RulesError, match="used twice"):
        parse_rules(
            {"marker": "x", "names": [{"id": "a", "match": "a", "why": "w"}, {"id": "a", "match": "b", "why": "w"}]}
        )
    with pytest.raises(RulesError, match="secret"):
        parse_rules({"marker": "x", "values": [{"id": "v", "match": "sig=.*", "why": "w"}]})
    with pytest.raises(RulesError, match="not a valid regex"):
        parse_rules({"marker": "x", "names": [{"id": "a", "match": "(", "why": "w"}]})


def test_secrets_in_every_known_place_are_blanked_and_recorded() -> None:
    doc = {
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app",
        "tags": {
            "owner": "platform-team",
            "dbPassword": "tag-password-1",
            "backup": "https://st.blob.core.windows.net/c?sv=2022-11-02&sp=r&sig=SIGNATURE%2B1",
            "note": f"DefaultEndpointsProtocol=https;AccountName=st;AccountKey={STORAGE_KEY};EndpointSuffix=x.net",
            "copy": STORAGE_KEY,
        },
        "properties": {
            "siteConfig": {
                "appSettings": [{"name": "API_TOKEN", "value": "app-setting-1"}],
                "connectionStrings": [
                    {"name": "db", "connectionString": "Server=db;Password=cs-1", "type": "SQLAzure"}
                ],
                "azureStorageAccounts": {"files": {"accountName": "st", "accessKey": "storage-key-1"}},
            },
            "storageAccountAccessKey": "auditing-key-1",
            "accessKeys": {"primaryKey": "redis-1", "secondaryKey": "redis-2"},
            "administratorLoginPassword": "admin-password-1",
            "osProfile": {"adminUsername": "azureuser", "adminPassword": "vm-password-1", "customData": "IyEvYmluL3No"},
            "webhookReceivers": [
                {"name": "w", "serviceUri": "https://logic.example/x?api-version=1&sig=HOOKSIG", "status": "Enabled"}
            ],
        },
    }
    out, found = redact(doc)
    text = repr(out)
    for secret in ("tag-password-1", "SIGNATURE%2B1", STORAGE_KEY, "app-setting-1", "cs-1", "storage-key-1",
                   "auditing-key-1", "redis-1", "redis-2", "admin-password-1", "vm-password-1", "IyEvYmluL3No",
                   "HOOKSIG"):  # fmt: skip
        assert secret not in text
    # What is not secret stays: names, types, the URL without its signature, the owner tag.
    assert out["tags"]["owner"] == "platform-team"
    assert out["tags"]["backup"] == f"https://st.blob.core.windows.net/c?sv=2022-11-02&sp=r&sig={MARK}"
    assert out["properties"]["siteConfig"]["appSettings"] == [{"name": "API_TOKEN", "value": MARK}]
    assert out["properties"]["siteConfig"]["connectionStrings"][0]["type"] == "SQLAzure"
    assert out["properties"]["osProfile"]["adminUsername"] == "azureuser"
    assert Redaction("$.properties.siteConfig.appSettings[0].value", "app-setting-value") in found
    assert Redaction("$.properties.storageAccountAccessKey", "access-key") in found
    assert Redaction("$.tags.backup", "sas-signature") in found
    assert Redaction("$.tags.copy", "storage-account-key") in found
    assert doc["tags"]["dbPassword"] == "tag-password-1"  # the caller's document is not changed
    # Redacting twice finds nothing more: the marker is not a secret.
    assert redact(out) == (out, ())


def test_a_document_without_secrets_is_returned_unchanged() -> None:
    doc = {"properties": {"minimumTlsVersion": "TLS1_2", "keySource": "Microsoft.Keyvault", "tags": None}}
    assert redact(doc) == (doc, ())


def _judged_field_names() -> set[str]:
    """Every identifier the checks and the views name: string constants in their code, and the field names in
    each check's `api` description."""
    names: set[str] = set()
    sources = [*(ROOT / "controls").rglob("*.py"), *(ROOT / "collector").glob("*_view.py")]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"[A-Za-z@$][A-Za-z0-9_@$.-]*", node.value)
            ):
                names.update(node.value.split("."))
    for c in ALL_CHECKS:
        names.update(re.findall(r"[A-Za-z@$][A-Za-z0-9_@$]*", c.api))
    return names


# Words of prose in the checks' descriptions ("Key Vault", "Keys - List", "Password Rule Settings") and URL
# segments (vaults/keys), not fields of a document.
PROSE = {"Key", "Keys", "Password", "key", "keys"}


def test_no_rule_blanks_a_field_a_check_reads() -> None:
    names = _judged_field_names()
    assert {"minimumTlsVersion", "keySource", "allowSharedKeyAccess", "publicNetworkAccess", "passwordAuth"} <= names
    rules = shipped_rules()
    blanked = sorted(n for n in names - PROSE if rules.name_rule(n))
    assert blanked == []
    for name in ("minimumTlsVersion", "keySource", "keyVaultProperties", "keyvaultproperties", "allowSharedKeyAccess",
                 "publicNetworkAccess", "disableLocalAuth", "keyName", "keyUri", "keyVersion", "keyCreationTime",
                 "keyPolicy", "passwordPolicies", "disablePasswordAuthentication", "adminUserEnabled",
                 "isStorageSecondaryKeyInUse", "sasPolicy", "encryption"):  # fmt: skip
        assert rules.name_rule(name) is None, name
    # A key described by an object (a customer-managed key in Key Vault) is judged, so it stays.
    cmk = {"encryption": {"customerManagedKey": {"keyVaultUri": "https://kv", "keyName": "k"}}}
    assert redact(cmk) == (cmk, ())


# Operations whose responses carry secrets: never called. Matched on the SDK method (or operation group) name.
SECRET_RETURNING = re.compile(
    r"(?i)^(list_keys|get_keys|regenerate_key|list_key|get_shared_keys|shared_keys|list_account_sas|list_service_sas"
    r"|list_application_settings(_slot)?|list_connection_strings(_slot)?|list_publishing_credentials(_slot)?"
    r"|list_publishing_profile_xml_with_secrets(_slot)?|list_metadata(_slot)?|get_auth_settings(_v2)?(_slot)?"
    r"|list_auth_settings(_v2)?(_slot)?|list_function_keys(_slot)?|list_host_keys(_slot)?|list_function_secrets"
    r"(_slot)?|list_sync_function_triggers(_slot)?|list_credentials|list_admin_credentials|list_user_credentials"
    r"|list_cluster_admin_credentials|list_secrets|get_secret|list_connection_strings_by_account)$"
)
# REST actions with secrets in their responses, as they would appear in a hand-built URL (the Graph fetchers).
SECRET_PATHS = re.compile(
    r"(?i)(listKeys|regenerateKey|listCredentials|listSecrets|appsettings/list|connectionstrings/list"
    r"|publishingcredentials|publishxml|sharedKeys|listAccountSas|listServiceSas|addPassword|/secrets\b)"
)


def test_no_fetcher_calls_an_api_that_returns_secrets() -> None:
    fetchers = sorted((ROOT / "collector" / "fetchers").glob("*.py"))
    assert len(fetchers) > 10
    attributes, texts = set(), []
    for path in fetchers:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                attributes.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                texts.append(node.value)
    # The scan sees the SDK calls fetchers do make (so it is not looking at nothing).
    assert {"list_basic_publishing_credentials_policies", "get_configuration", "list_by_server"} <= attributes
    assert sorted(a for a in attributes if SECRET_RETURNING.match(a)) == []
    assert [t for t in texts if SECRET_PATHS.search(t)] == []


@pytest.mark.parametrize(
    "name",
    [
        "list_keys",
        "list_application_settings",
        "list_publishing_credentials",
        "list_connection_strings_slot",
        "get_shared_keys",
        "list_credentials",
    ],
)
def test_the_scan_knows_the_secret_returning_calls(name: str) -> None:
    assert SECRET_RETURNING.match(name)


def test_a_failed_calls_message_loses_its_secrets() -> None:
    from collector.fetchers.base import Sink

    sink = Sink()
    url = "https://st.blob.core.windows.net/c?sv=2022-11-02&sig=LEAKED"
    sink.error("storage_account", "storage.accounts", "/subscriptions/s", RuntimeError(f"cannot read {url}"))
    assert sink.errors[0].message == f"cannot read https://st.blob.core.windows.net/c?sv=2022-11-02&sig={MARK}"
