"""Which resources must keep logs (check diagnostic-logs-retained), and where each one's diagnostic settings live.

Shared by the collector (which reads exactly these ids) and the diagnostic-settings check (which
judges them), so the two can never disagree about what was looked at.
"""

MONITORED_TYPES = (
    "microsoft.web/sites",
    # A deployment slot is its own App Service app (own host name, own diagnostic settings on its own id).
    "microsoft.web/sites/slots",
    "microsoft.sql/servers",
    "microsoft.keyvault/vaults",
    "microsoft.network/networksecuritygroups",
    "microsoft.storage/storageaccounts",
)

# Where a type's logs are configured, when not on the resource itself: storage data-plane logs (reads,
# writes, deletes) come from the blob service; SQL server-level audit and security logs are diagnostic
# settings of the server's master database.
_LOG_CHILD = {
    "microsoft.storage/storageaccounts": "/blobServices/default",
    "microsoft.sql/servers": "/databases/master",
}


def log_settings_target(resource_id: str, resource_type: str) -> str:
    """The id whose diagnostic settings hold `resource_id`'s logs."""
    return resource_id.rstrip("/") + _LOG_CHILD.get(resource_type.lower(), "")


# The audit categories each type must keep in a retained destination, unless a whole category group
# that includes them (allLogs, audit) is sent: access and sign-in activity for App Service, the
# security audit for SQL, data-plane access for Key Vault and blob storage, rule events for NSGs.
AUDIT_CATEGORIES = {
    "microsoft.web/sites": ("AppServiceHTTPLogs", "AppServiceAuditLogs"),
    "microsoft.web/sites/slots": ("AppServiceHTTPLogs", "AppServiceAuditLogs"),
    "microsoft.sql/servers": ("SQLSecurityAuditEvents",),
    "microsoft.keyvault/vaults": ("AuditEvent",),
    "microsoft.network/networksecuritygroups": ("NetworkSecurityGroupEvent",),
    "microsoft.storage/storageaccounts": ("StorageRead", "StorageWrite", "StorageDelete"),
}
CATEGORY_GROUPS = ("allLogs", "audit")
