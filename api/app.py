"""The API application: `create_app(settings)` builds it; `shoko serve` runs it with uvicorn.

More routers (the dashboard's pages, the sign-in flow) plug in with `create_app(..., routers=[...])` or
`app.include_router` and authenticate with api.auth's dependencies; a sign-in fills `session_principal`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from collector import __version__
from collector.settings import Settings
from controls.catalog import Catalog, load_catalog
from storage.ledger import Ledger, LedgerError

from . import dashboard
from .auth import FailureLimiter, Principal, SessionPrincipal, authenticated, no_session
from .common import ERRORS
from .headers import SecurityHeaders
from .register_pages import RegisterPages
from .routes import attestations, drift, evidence, registers, requirements, runs, snapshot, tokens
from .schemas import Health, Me
from .signin import SignIn
from .signin import router as signin_routes
from .uploads import BodyLimit, upload_limit

log = logging.getLogger("shoko.api")
API_PREFIX = "/api/v1"


def existing_ledger(settings: Settings) -> Ledger:
    """The configured ledger, which must already exist at this shoko's schema (checked read-only first, so a
    mistyped path is an error rather than a new empty database); opened for writing, because the API records
    token use and people's writes."""
    Ledger(settings.database.url, read_only=True).close()
    return Ledger(settings.database.url)


def create_app(
    settings: Settings,
    *,
    ledger: Ledger | None = None,
    session_principal: SessionPrincipal | None = None,
    routers: Iterable[APIRouter] = (),
    start_collection: Callable[[], str | None] | None = None,
    catalog: Catalog | None = None,
    signin: SignIn | None = None,
) -> FastAPI:
    """The app over `ledger` (default: the configured database, which must exist; closed on shutdown).
    `start_collection`: how "collect now" asks for a run (the agent queues its full job and says what it does;
    None: one is already queued or running); without it the app runs one itself in a thread. `signin`: people's
    sign-in (default: from api.oidc when it is enabled); its session is the session principal unless one is given."""
    owned = ledger is None
    if ledger is None:
        ledger = existing_ledger(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            ledger.close()
        if signin is not None:
            signin.oidc.close()

    app = FastAPI(
        title="shoko",
        version=__version__,
        description=(
            "Control evidence for 3省2ガイドライン on Azure: the ledger's verdicts, findings, evidence, runs, drift, "
            "registers, attestations and signed snapshots. Every route but /healthz needs a bearer token "
            "(`shoko token create`); roles auditor < operator < admin."
        ),
        # No Swagger UI or ReDoc: they load scripts from a CDN and run inline script. /openapi.json is served
        # below, to authenticated clients only.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.ledger = ledger
    app.state.catalog = catalog or load_catalog()
    app.state.register_pages = RegisterPages()  # sealed runs' registers, built once and paged from disk
    app.state.limiter = FailureLimiter(
        settings.api.auth_failure_limit, settings.api.auth_failure_window_seconds, ledger
    )
    if signin is None and settings.api.oidc.enabled:
        signin = SignIn.from_settings(settings.api.oidc)
    app.state.signin = signin
    app.state.session_principal = session_principal or (signin.principal if signin else no_session)
    app.state.start_collection = start_collection
    import threading

    app.state.collect_lock = threading.Lock()
    app.add_middleware(BodyLimit, upload_bytes=upload_limit(settings.api))
    app.add_middleware(SecurityHeaders, hsts_always=settings.api.hsts or bool(settings.api.tls_cert_file))
    _errors(app)

    @app.get("/healthz", response_model=Health, tags=["health"], summary="alive (the only route without a token)")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(authenticated)])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    api = APIRouter(prefix=API_PREFIX, responses=ERRORS)

    @api.get("/me", response_model=Me, tags=["auth"], summary="who the token (or session) is")
    def me(principal: Principal = Depends(authenticated)) -> dict[str, str]:
        return {"name": principal.name, "role": principal.role.label, "via": principal.via}

    for module in (requirements, evidence, runs, drift, registers, attestations, snapshot, tokens):
        api.include_router(module.router)
    app.include_router(api)
    for extra in routers:
        app.include_router(extra)
    app.include_router(signin_routes())
    dashboard.install(app)
    return app


def _errors(app: FastAPI) -> None:
    """Every error body is {"detail": "one line"}."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
        kind = {"query": "query parameter", "path": "path parameter", "body": "body"}.get(
            str((first.get("loc") or ("",))[0]), "request"
        )
        line = f"{kind} {where!r}: {first.get('msg', 'invalid')}" if where else f"{kind}: {first.get('msg', 'invalid')}"
        return JSONResponse({"detail": line}, status_code=422)

    @app.exception_handler(LedgerError)
    async def ledger_error(_request: Request, exc: LedgerError) -> JSONResponse:
        log.error("ledger error: %s", exc)
        return JSONResponse({"detail": f"ledger error: {exc}"}, status_code=500)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)
