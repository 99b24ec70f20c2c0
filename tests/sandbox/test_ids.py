from __future__ import annotations

import pytest

from sandbox import ids

S = "/subscriptions/00000000-0000-0000-0000-000000000001"
RG = f"{S}/resourceGroups/rg1"
SITE = f"{RG}/providers/Microsoft.Web/sites/app1"


@pytest.mark.parametrize(
    ("path", "kind", "rtype", "parent", "top_level"),
    [
        ("/subscriptions", "collection", ids.SUBSCRIPTION_TYPE, None, False),
        (S, "resource", ids.SUBSCRIPTION_TYPE, None, False),
        (f"{S}/resourcegroups", "collection", ids.RESOURCE_GROUP_TYPE, S, False),
        (RG, "resource", ids.RESOURCE_GROUP_TYPE, S, False),
        (f"{S}/resources", "resources_listing", None, S, False),
        (f"{S}/providers/Microsoft.Web/sites", "collection", "Microsoft.Web/sites", S, True),
        (SITE, "resource", "Microsoft.Web/sites", RG, True),
        (f"{SITE}/config", "collection", "Microsoft.Web/sites/config", SITE, False),
        (f"{SITE}/config/web", "resource", "Microsoft.Web/sites/config", SITE, False),
        (
            f"{SITE}/providers/Microsoft.Insights/diagnosticSettings",
            "collection",
            "Microsoft.Insights/diagnosticSettings",
            SITE,
            False,
        ),
        (
            f"{SITE}/providers/microsoft.insights/diagnosticSettings/send",
            "resource",
            "microsoft.insights/diagnosticSettings",
            SITE,
            False,
        ),
        (
            f"{S}/providers/Microsoft.Authorization/roleAssignments/abc",
            "resource",
            "Microsoft.Authorization/roleAssignments",
            S,
            True,
        ),
        (
            f"{RG}/providers/Microsoft.Storage/storageAccounts/st/blobServices/default/providers/"
            "Microsoft.Insights/diagnosticSettings/d",
            "resource",
            "Microsoft.Insights/diagnosticSettings",
            f"{RG}/providers/Microsoft.Storage/storageAccounts/st/blobServices/default",
            False,
        ),
    ],
)
def test_parse_classifies_paths(path: str, kind: str, rtype: str | None, parent: str | None, top_level: bool) -> None:
    parsed = ids.parse(path + "/")  # a trailing slash is ignored
    assert (parsed.kind, parsed.type, parsed.parent, parsed.top_level) == (kind, rtype, parent, top_level)


def test_type_of_child_resource() -> None:
    assert ids.type_of(f"{SITE}/config/web") == "Microsoft.Web/sites/config"
    with pytest.raises(ids.NotAnArmPath):
        ids.type_of(f"{SITE}/config")


@pytest.mark.parametrize(
    "path",
    ["/", "/tenants", f"{S}/providers", f"{S}/providers/Microsoft.Web", f"{S}/whatever/x", f"{RG}/foo"],
)
def test_parse_rejects_non_arm_paths(path: str) -> None:
    with pytest.raises(ids.NotAnArmPath):
        ids.parse(path)
