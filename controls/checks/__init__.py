"""All checks, one module per family, registered declaratively by the `@check` decorator.

Import order below is the order of `ALL_CHECKS` (and of findings in a run).
"""

from controls.checks import (  # noqa: F401  (imported for their @check registrations)
    app_service,
    diagnostics,
    flow_logs,
    log_analytics,
    nsg,
    roles,
    sql,
    storage,
)
from controls.checks.base import REGISTRY, Check, Outcome, check

ALL_CHECKS: tuple[Check, ...] = tuple(REGISTRY)
CHECKS_BY_ID: dict[str, Check] = {c.id: c for c in ALL_CHECKS}

__all__ = ["ALL_CHECKS", "CHECKS_BY_ID", "Check", "Outcome", "check"]
