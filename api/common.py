"""What every route shares: the ledger and settings of the app, `as_of` and the run it selects, pagination."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from fastapi import HTTPException, Query, Request

from collector.drift_view import SinceError
from collector.runs import parse_as_of, run_row
from collector.settings import Settings
from storage.ledger import Ledger, RunRecord

from .register_pages import RegisterPages
from .schemas import Problem, RunOut

T = TypeVar("T")

# The errors any authenticated route may answer, documented once for /openapi.json.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing, wrong, expired or revoked token"},
    403: {"model": Problem, "description": "the token's role does not allow this"},
    404: {"model": Problem, "description": "nothing there (or nothing yet at as_of)"},
    422: {"model": Problem, "description": "a bad parameter or body, in one line"},
    429: {"model": Problem, "description": "too many failed authentications from this address"},
    503: {"model": Problem, "description": "authentication is unavailable for now (its database failed)"},
}

AS_OF_HELP = (
    "answer from the latest full run completed at or before this moment: ISO 8601, e.g. 2026-03-31 (the end "
    "of that day, UTC) or 2026-03-31T17:00+09:00; no offset: UTC. Default: the latest."
)
AsOf = Query(None, description=AS_OF_HELP, max_length=64)


def ledger_of(request: Request) -> Ledger:
    return request.app.state.ledger  # type: ignore[no-any-return]


def settings_of(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def register_pages_of(request: Request) -> RegisterPages:
    return request.app.state.register_pages  # type: ignore[no-any-return]


def parse_moment(text: str | None, name: str = "as_of") -> datetime | None:
    if text is None:
        return None
    try:
        return parse_as_of(text, name)
    except SinceError as exc:
        raise HTTPException(422, str(exc)) from None


def answering_run(ledger: Ledger, as_of: datetime | None) -> RunRecord:
    """The latest full run completed at or before `as_of` (the latest full run without it); 404 if none.
    One indexed query, as collector.runs.run_for picks it, without loading the partial runs after it (the
    matrix must not slow down as the history grows)."""
    if as_of is None:
        run = ledger.latest_run(full_only=True)
    else:
        run = ledger.run_as_of(as_of, completed_only=True, full_only=True)
    if run is None:
        when = f" at or before {as_of.isoformat()} (before the ledger began)" if as_of else " yet"
        raise HTTPException(404, f"no completed full run{when}")
    return run


def run_out(run: RunRecord) -> RunOut:
    return RunOut.model_validate(run_row(run))


def paginate(request: Request, items: Sequence[T], limit: int, offset: int) -> dict[str, Any]:
    """One page of `items` with the total; a limit above `api.max_page_size` is a 422."""
    check_limit(request, limit)
    return {"total": len(items), "limit": limit, "offset": offset, "items": list(items[offset : offset + limit])}


def check_limit(request: Request, limit: int) -> None:
    """A 422 for a page larger than `api.max_page_size`."""
    most = settings_of(request).api.max_page_size
    if limit > most:
        raise HTTPException(422, f"limit: at most {most} rows per page (api.max_page_size), got {limit}")


Limit = Query(100, ge=1, le=10000, description="rows per page (default 100, at most api.max_page_size)")
Offset = Query(0, ge=0, le=10_000_000, description="rows to skip")
