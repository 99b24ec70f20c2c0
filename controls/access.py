"""What a failed read says about the collector's access, in words an operator can act on.

A check that could not see its facts reports `error`; the finding should say what to grant or register,
not only the HTTP code. ARM names the denied action in its 403 message and the unregistered namespace in
its 409; Graph names neither, so the application permission is what to look at.
"""

from __future__ import annotations

import re

from controls.model import CollectionError

# ARM 403: "The client '…' with object id '…' does not have authorization to perform action
# 'Microsoft.Security/pricings/read' over scope '/subscriptions/…' or the scope is invalid."
_DENIED_ACTION = re.compile(r"perform action '([^']+)'", re.IGNORECASE)
# ARM 409: "The subscription is not registered to use namespace 'Microsoft.Security'. See …"
_UNREGISTERED_NAMESPACE = re.compile(r"namespace '([^']+)'", re.IGNORECASE)


# A Graph 403 names no permission, or names it in its own words; a fetcher of a read that needs an optional one
# appends "(needs Microsoft Graph application permission Policy.Read.All)" to the error message, and
# "(needs Microsoft Entra ID P2)" when the tenant's edition lacks the feature (collector.fetchers.graph_reads).
_GRAPH_PERMISSION = re.compile(r"needs Microsoft Graph application permission ([A-Za-z]+(?:\.[A-Za-z]+)+)")
_ENTRA_LICENCE = re.compile(r"needs Microsoft Entra ID (P1 or P2|P1|P2)")


def lacks_licence(err: CollectionError, edition: str) -> bool:
    """Whether the read was refused because the tenant is not licensed for Entra ID `edition` (e.g. "P2")."""
    found = _ENTRA_LICENCE.search(err.message or "")
    return bool(found) and found.group(1) == edition


def cause(err: CollectionError) -> tuple[str, str]:
    """(ja, en): the code and HTTP status, and, where the answer tells, the permission or provider missing."""
    code = f"{err.code} (HTTP {err.status_code})" if err.status_code is not None else err.code
    message = err.message or ""
    if err.code == "AuthorizationFailed":
        action = _DENIED_ACTION.search(message)
        if action:
            return (
                f"{code}: 収集用 ID に操作 {action.group(1)} の権限がありません（閲覧者ロール等で付与）",
                f"{code}: the collector's identity lacks permission for {action.group(1)} (grant Reader or a role "
                "with that action)",
            )
        return (f"{code}: 収集用 ID に読み取り権限がありません", f"{code}: the collector's identity may not read this")
    if err.code == "MissingSubscriptionRegistration":
        namespace = _UNREGISTERED_NAMESPACE.search(message)
        name = namespace.group(1) if namespace else "?"
        return (
            f"{code}: サブスクリプションにリソースプロバイダー {name} が登録されていません",
            f"{code}: resource provider {name} is not registered in the subscription",
        )
    licence = _ENTRA_LICENCE.search(message)
    if licence:
        return (
            f"{code}: この読み取りには Microsoft Entra ID {licence.group(1)} が必要ですが、"
            "テナントにライセンスがありません",
            f"{code}: this read needs Microsoft Entra ID {licence.group(1)}, which the tenant is not licensed for",
        )
    named = _GRAPH_PERMISSION.search(message)
    if named:  # a fetcher of an optional read says which permission it needs, whatever Graph's code
        return (
            f"{code}: アプリケーションに Microsoft Graph のアプリケーション権限 {named.group(1)} がありません",
            f"{code}: the application lacks the Microsoft Graph application permission {named.group(1)}",
        )
    if err.code == "Authorization_RequestDenied":
        return (
            f"{code}: アプリケーションに Microsoft Graph の読み取り権限（Directory.Read.All 等）がありません",
            f"{code}: the application lacks the Microsoft Graph read permission (Directory.Read.All or the one "
            "this read needs)",
        )
    return code, code
