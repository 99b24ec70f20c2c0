"""Relative times served as seconds since 1970 (`${now+400d:epoch}`), as Key Vault writes key attributes."""

from datetime import UTC, datetime, timedelta

from sandbox.estate import estate_from_mapping


def test_epoch_suffix_serves_whole_seconds_counted_from_loading():
    sub = "/subscriptions/a8233bec-16ce-49d8-af36-5decabf6c438"
    vault = f"{sub}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1"
    est = estate_from_mapping(
        {
            "tenant": {"id": "c789e719-364a-4a28-aff9-0db8d2f428d5"},
            "subscriptions": [{"subscriptionId": "a8233bec-16ce-49d8-af36-5decabf6c438"}],
            "resources": [
                {"id": vault, "type": "Microsoft.KeyVault/vaults", "location": "japaneast", "properties": {}},
                {
                    "id": f"{vault}/keys/k1",
                    "type": "Microsoft.KeyVault/vaults/keys",
                    "properties": {
                        "attributes": {"exp": "${now+400d:epoch}", "created": "${now-30d:epoch}", "note": "${now:x}"}
                    },
                },
            ],
        }
    )
    key = next(d for d in est.resources if d["type"] == "Microsoft.KeyVault/vaults/keys")
    attrs = key["properties"]["attributes"]
    now = datetime.now(UTC)
    assert isinstance(attrs["exp"], int) and isinstance(attrs["created"], int)
    assert abs(datetime.fromtimestamp(attrs["exp"], UTC) - (now + timedelta(days=400))) < timedelta(minutes=1)
    assert abs(datetime.fromtimestamp(attrs["created"], UTC) - (now - timedelta(days=30))) < timedelta(minutes=1)
    assert attrs["note"] == "${now:x}"  # only the epoch suffix is recognised
    assert est.raw["resources"][1]["properties"]["attributes"]["exp"] == "${now+400d:epoch}"
