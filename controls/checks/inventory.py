"""Inventory and residency: every resource Azure lists stays in an allowed region and names its owner."""

from __future__ import annotations

import re
from collections.abc import Iterator

from controls.checks.base import INVENTORY, Outcome, check, failed, passed
from controls.checks.helpers import display_name
from controls.model import Evidence, FactKind, FactSet, Thresholds

# Locations that are not a region: ARM gives "global" to resources that live in no region (DNS zones,
# Front Door, some Insights resources).
_NOT_REGION_BOUND = frozenset({"global"})
# ARM location names ("japaneast", "westus2"); display names ("Japan East") normalise to them.
ARM_LOCATION_RE = re.compile(r"^[a-z][a-z0-9]*$")


def normalise_location(location: str) -> str:
    """ "Japan East", "japan east" and "japaneast" are the same ARM location."""
    return "".join(location.split()).lower()


def _type(ev: Evidence) -> str:
    return str(ev.content.get("type") or "?")


def _is_system_database(ev: Evidence) -> bool:
    """A SQL server's master database: Azure creates and manages it with the server (kind "v12.0,system")."""
    kind = str(ev.content.get("kind") or "").lower()
    return _type(ev).lower() == "microsoft.sql/servers/databases" and "system" in kind.split(",")


@check(
    id="resource-region-allowed",
    title_ja="リソースが許可されたリージョンにある（国内保管）",
    title_en="Resources are in an allowed region (data kept in Japan)",
    judges=(INVENTORY,),
    reads=(FactKind.RESOURCE,),
    api="Resources - List (GET /subscriptions/{s}/resources): id, name, type, location of every resource.",
    rule_ja="各リソースの location が allowed_regions のいずれかであれば合格（ARM のロケーション名として、"
    '大文字小文字と空白を無視して比較: "Japan East" = japaneast）。location が "global" のリソースと '
    "location のないリソースはリージョンに属さないため合格。",
    rule_en="Passes when the resource's location is one of allowed_regions (compared as ARM location names, "
    'ignoring case and spaces: "Japan East" = japaneast). Resources whose location is "global", and '
    "resources with no location, are not bound to a region and pass.",
    remediation_ja="許可リージョン外のリソースを許可リージョン（例: japaneast）で作り直してデータを移行し、"
    "元のリソースを削除する。Azure Policy の「許可されている場所」で新規作成を防ぐ。",
    remediation_en="Recreate the resource in an allowed region (e.g. japaneast), move its data and delete "
    'the original; assign the Azure Policy "Allowed locations" to stop new ones.',
    thresholds=("allowed_regions",),
    per_subscription=True,  # one document at a time
)
def resource_region_allowed(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    allowed = {normalise_location(r) for r in thresholds.allowed_regions}
    allowed_text = ", ".join(thresholds.allowed_regions)
    for ev in facts.of(FactKind.RESOURCE):
        name, rtype = display_name(ev), _type(ev)
        location = ev.content.get("location")
        if not isinstance(location, str) or not location.strip():
            yield passed(
                ev.resource_id,
                f"{rtype} {name} には location がなく、リージョンに属しません",
                f"{rtype} {name} has no location and is not bound to a region",
                ev,
            )
        elif normalise_location(location) in _NOT_REGION_BOUND:
            yield passed(
                ev.resource_id,
                f"{rtype} {name} の location は {location} で、リージョンに属しません",
                f"{rtype} {name} location is {location}, not bound to a region",
                ev,
            )
        elif normalise_location(location) in allowed:
            yield passed(
                ev.resource_id,
                f"{rtype} {name} の location は許可リージョンの {location} です",
                f"{rtype} {name} location is {location}, an allowed region",
                ev,
            )
        else:
            yield failed(
                ev.resource_id,
                f"{rtype} {name} の location が {location} です（許可リージョン: {allowed_text}）",
                f"{rtype} {name} location is {location} (allowed regions: {allowed_text})",
                ev,
            )


@check(
    id="resource-owner-tagged",
    title_ja="リソースに所有者タグがある",
    title_en="Resources carry an owner tag",
    judges=(INVENTORY,),
    reads=(FactKind.RESOURCE,),
    api="Resources - List (GET /subscriptions/{s}/resources): id, name, type, kind, tags of every resource.",
    rule_ja="各リソースの tags に owner_tag の名前（大文字小文字を区別しない。ARM のタグ名と同じ）のタグがあり、"
    "値が空でなければ合格。SQL サーバーの master データベース（kind に system を含む）は Azure がサーバーと"
    "共に作成・管理するため判定しない。",
    rule_en="Passes when the resource's tags hold a tag named owner_tag (compared case-insensitively, as ARM "
    "compares tag names) with a non-empty value. A SQL server's master database (kind includes system) is "
    "created and managed by Azure with its server and is not judged.",
    remediation_ja="リソースに所有者タグ（既定: owner、値は担当者または担当チーム）を付ける。Azure Policy の"
    "「リソースにタグが必要」で付け忘れを防ぐ。",
    remediation_en="Tag the resource with its owner (default tag name: owner; the value names the person or "
    'team responsible); assign the Azure Policy "Require a tag on resources" to stop untagged ones.',
    thresholds=("owner_tag",),
    per_subscription=True,  # one document at a time
)
def resource_owner_tagged(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    wanted = thresholds.owner_tag.strip().lower()
    for ev in facts.of(FactKind.RESOURCE):
        if _is_system_database(ev):
            continue
        name, rtype = display_name(ev), _type(ev)
        tags = ev.content.get("tags")
        found = [(k, v) for k, v in tags.items() if str(k).lower() == wanted] if isinstance(tags, dict) else []
        value = found[0][1] if found else None
        if isinstance(value, str) and value.strip():
            yield passed(
                ev.resource_id,
                f"{rtype} {name} のタグ {found[0][0]} は {value} です",
                f"{rtype} {name} tag {found[0][0]} is {value}",
                ev,
            )
        elif found:
            yield failed(
                ev.resource_id,
                f"{rtype} {name} のタグ {found[0][0]} の値が空です",
                f"{rtype} {name} tag {found[0][0]} is empty",
                ev,
            )
        else:
            have = ", ".join(str(k) for k in tags) if isinstance(tags, dict) and tags else ""
            yield failed(
                ev.resource_id,
                f"{rtype} {name} にタグ {thresholds.owner_tag} がありません（タグ: {have or 'なし'}）",
                f"{rtype} {name} has no {thresholds.owner_tag} tag (tags: {have or 'none'})",
                ev,
            )
