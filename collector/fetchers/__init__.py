"""Every fetcher: each module of this package declares its `Fetcher`s at module level and is found by
walking the package, so a new family of facts is a new file (or a declaration in an existing one)."""

import importlib
import pkgutil

from collector.fetchers.base import Fetcher

_found: list[Fetcher] = []
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    _found += [v for v in vars(importlib.import_module(f"{__name__}.{_module}")).values() if isinstance(v, Fetcher)]

# The subscription list runs first: the per-subscription fetchers need it.
SUBSCRIPTIONS = next(f for f in _found if f.name == "resource.subscriptions")
# Everything else a run may collect; the collection plan picks those the run's checks read.
FETCHERS: tuple[Fetcher, ...] = tuple(sorted((f for f in _found if f is not SUBSCRIPTIONS), key=lambda f: f.name))
