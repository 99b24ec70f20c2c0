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
    # Edge devices: their logs are the intrusion-detection and WAF records (check ids-logs-retained).
    "microsoft.network/azurefirewalls",
    "microsoft.network/applicationgateways",
)
# The edge devices among them, whose logs are the intrusion records (check ids-logs-retained).
IDS_TYPES = ("microsoft.network/azurefirewalls", "microsoft.network/applicationgateways")

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
    # Azure Firewall, resource-specific tables: IDPS signature hits, threat-intelligence hits, and the
    # network and application rule decisions (source, destination, port, action of each flow).
    "microsoft.network/azurefirewalls": (
        "AZFWIdpsSignature",
        "AZFWThreatIntel",
        "AZFWNetworkRule",
        "AZFWApplicationRule",
    ),
    # Application Gateway: the WAF log (rule id, action, client IP, URI of each match) and the access log.
    "microsoft.network/applicationgateways": ("ApplicationGatewayFirewallLog", "ApplicationGatewayAccessLog"),
}
# A complete alternative set for a type: the legacy Azure Diagnostics categories of Azure Firewall, where
# IDPS and threat-intelligence records are written into the network and application rule logs.
ALTERNATIVE_CATEGORIES = {
    "microsoft.network/azurefirewalls": ("AzureFirewallNetworkRule", "AzureFirewallApplicationRule"),
}
CATEGORY_GROUPS = ("allLogs", "audit")
# Types whose audit category group does not hold the logs above: only allLogs covers them.
ALL_LOGS_ONLY = frozenset(IDS_TYPES)
