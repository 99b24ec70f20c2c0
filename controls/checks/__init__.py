"""All checks: every module of this package that declares checks with `@check` is one family.

Checks are found by walking the package, so adding a check is adding a file; the order of
`ALL_CHECKS` (and of findings in a run) is module name, then declaration order.
"""

import importlib
import pkgutil

from controls.checks.base import REGISTRY, Check, Outcome, check

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

ALL_CHECKS: tuple[Check, ...] = tuple(REGISTRY)
CHECKS_BY_ID: dict[str, Check] = {c.id: c for c in ALL_CHECKS}

__all__ = ["ALL_CHECKS", "CHECKS_BY_ID", "Check", "Outcome", "check"]
