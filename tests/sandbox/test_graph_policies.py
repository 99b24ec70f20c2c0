"""The sandbox's Graph serves tenant-wide directory settings and the security defaults policy."""

from sandbox import graph
from sandbox.estate import estate_from_mapping

TENANT = "c789e719-364a-4a28-aff9-0db8d2f428d5"
SUB = "a8233bec-16ce-49d8-af36-5decabf6c438"
RULES = {"id": "s1", "displayName": "Password Rule Settings", "templateId": "5cf42378-d67d-4f36-ba46-e8b86229381d",
         "values": [{"name": "LockoutThreshold", "value": "10"}]}  # fmt: skip


def directory(d: dict):
    return estate_from_mapping(
        {"tenant": {"id": TENANT}, "subscriptions": [{"subscriptionId": SUB}], "directory": d}
    ).directory


def test_group_settings_are_listed_with_select():
    result = graph.read(directory({"groupSettings": [RULES]}), "groupSettings", {"$select": "id,templateId,values"})
    assert result.items == [{"id": "s1", "templateId": RULES["templateId"], "values": RULES["values"]}]
    assert result.context == "groupSettings(id,templateId,values)"


def test_security_defaults_is_served_and_defaults_to_off():
    path = "policies/identitySecurityDefaultsEnforcementPolicy"
    assert graph.read(directory({}), path, {}).item["isEnabled"] is False
    on = directory({"securityDefaults": {"id": "00000000-0000-0000-0000-000000000005", "isEnabled": True}})
    assert graph.read(on, path, {"$select": "isEnabled"}).item == {"isEnabled": True}
