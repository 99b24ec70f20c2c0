"""The sandbox's own CPU per call at a given estate size, without TLS or a network in the way.

Answers the calls a collection makes most (every page of a subscription's `/resources` and of a provider listing,
one document, one resource's diagnostic settings) through `Sandbox.handle`, and prints milliseconds per call for
each, so a change to how the sandbox indexes its collections can be measured before and after.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from sandbox.server import Sandbox

API = "api-version=2024-01-01"


def _pages(sb: Sandbox, headers: dict[str, str], target: str) -> int:
    """Follow nextLink to the end; returns the number of calls."""
    calls = 0
    while target:
        reply, _, _ = sb.handle("GET", target, headers, b"")
        calls += 1
        if reply.status != 200:
            raise RuntimeError(f"{target}: {reply.status} {reply.body[:200]!r}")
        link = json.loads(reply.body).get("nextLink")
        target = "" if not link else link[len(sb.info.base_url) :] if link.startswith(sb.info.base_url) else link
        if target.startswith("https://"):
            split = urlsplit(target)
            target = f"{split.path}?{split.query}"
    return calls


def measure(sb: Sandbox, sample: int = 200) -> dict[str, tuple[int, float]]:
    """{call kind: (calls, ms per call)} over one subscription of the running sandbox `sb`."""
    headers = {"Authorization": f"Bearer {sb.issue_token('arm')}"}
    index = sb._index  # the estate's lookup structure, to pick targets
    sub = sb.info.subscriptions[0]
    sites = [p.path for p, _ in index.by_type.get("microsoft.web/sites", []) if p.subscription == sub][:sample]
    out: dict[str, tuple[int, float]] = {}

    def timed(name: str, fn: Callable[[], int]) -> None:
        t0 = time.process_time()
        calls = fn()
        out[name] = (calls, (time.process_time() - t0) * 1000 / max(calls, 1))

    timed("pages of /resources", lambda: _pages(sb, headers, f"/subscriptions/{sub}/resources?{API}"))
    timed(
        "pages of a provider listing (sites)",
        lambda: _pages(sb, headers, f"/subscriptions/{sub}/providers/Microsoft.Web/sites?{API}"),
    )

    def each(fmt: str) -> Callable[[], int]:
        def run() -> int:
            for site in sites:
                _pages(sb, headers, fmt.format(site=site))
            return len(sites)

        return run

    timed("one document (config/web)", each("{site}/config/web?" + API))
    timed("diagnostic settings of one resource", each("{site}/providers/Microsoft.Insights/diagnosticSettings?" + API))
    return out


def report(estate: Any, page_size: int) -> list[str]:
    with Sandbox(estate, page_size=page_size) as sb:
        return [f"  {name:<40} {calls:>6} calls  {ms:8.2f} ms/call" for name, (calls, ms) in measure(sb).items()]
