"""The dashboard: server-rendered pages (Jinja2, autoescaped) and one stylesheet, all served by shoko itself.

Pages answer people signed in through Entra ID (api.signin); without a session a page redirects to /signin.
They read through api.data, as the JSON routes do. Forms that change something (attestations, drift acknowledgements,
"collect now", sign-out) carry the session's CSRF token. Lists are paged (?offset=, ?limit=) with plain links.
Japanese by default; ?lang=en (remembered in a cookie) for English.
No script at all: everything works with JavaScript off.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from .. import data
from ..auth import Principal, Role
from ..common import (
    answering_run,
    check_limit,
    ledger_of,
    paginate,
    parse_moment,
    register_pages_of,
    run_out,
    settings_of,
)
from ..signin import signin_of, signin_url
from ..uploads import read_uploads
from .labels import LANG_COOKIE, STATUS_ORDER, label, language, status_label

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")  # autoescapes HTML


class SignInRequired(Exception):
    """A page asked for without a session: the browser is sent to /signin and back."""


def _principal(request: Request, role: Role = Role.AUDITOR) -> Principal:
    principal = request.app.state.session_principal(request)
    if principal is None:
        raise SignInRequired()
    if principal.role < role:
        raise HTTPException(403, f"forbidden: this needs the {role.label} role")
    request.state.principal = principal
    return principal


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    lang = language(request)
    signin = signin_of(request)
    principal: Principal | None = getattr(request.state, "principal", None)
    ctx = {
        "request": request,
        "lang": lang,
        "t": lambda key: label(key, lang),
        "st": lambda status: status_label(status, lang),
        "principal": principal,
        "csrf": signin.csrf_token(request) if signin else None,
        "can_operate": principal is not None and principal.role >= Role.OPERATOR,
        "is_admin": principal is not None and principal.role >= Role.ADMIN,
        "other_lang": "en" if lang == "ja" else "ja",
        "switch_url": _with_query(request, lang="en" if lang == "ja" else "ja"),
        "upload_accept": ",".join(settings_of(request).api.upload_media_types),
        "upload_mb": round(settings_of(request).api.max_upload_bytes / (1024 * 1024), 1),
        "back_url": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        **context,
    }
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    if request.query_params.get("lang") in ("ja", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="lax", httponly=True)
    return response


def _with_query(request: Request, **changes: str) -> str:
    query = {k: v for k, v in request.query_params.items() if v}
    query.update(changes)
    text = urlencode({k: v for k, v in query.items() if v})
    return f"{request.url.path}?{text}" if text else request.url.path


def _check_csrf(request: Request, token: str) -> None:
    signin = signin_of(request)
    session = signin.session(request) if signin else None
    if signin is None or session is None or not signin.sessions.check_csrf(session, token):
        raise HTTPException(403, "forbidden: the form's CSRF token is missing or not this session's")


def _as_of(request: Request) -> tuple[str | None, datetime | None]:
    text = request.query_params.get("as_of") or None
    return text, parse_moment(text)


PAGE_SIZE = 50  # rows per dashboard page unless ?limit= asks for another (at most api.max_page_size)


def _paged(request: Request, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of `rows` (?limit=, ?offset=, bounded as the API's lists are) with plain previous/next links."""
    limit, offset = _page_params(request)
    page = paginate(request, rows, limit, offset)
    return _pager(request, page["items"], page["total"], limit, offset)


def _page_params(request: Request) -> tuple[int, int]:
    """?limit= and ?offset= (bounded as the API's lists are)."""
    limit = _int_param(request, "limit", PAGE_SIZE, 1)
    check_limit(request, limit)
    return limit, _int_param(request, "offset", 0, 0)


def _pager(request: Request, items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    """A page already cut (`items` of `total`) with plain previous/next links."""
    return {
        "items": items,
        "total": total,
        "first": offset + 1 if items else 0,
        "last": offset + len(items),
        "prev_url": _with_query(request, offset=str(max(0, offset - limit))) if offset > 0 else None,
        "next_url": _with_query(request, offset=str(offset + limit)) if offset + limit < total else None,
    }


def _int_param(request: Request, name: str, default: int, least: int) -> int:
    text = request.query_params.get(name) or ""
    if not text:
        return default
    if not text.isdigit() or int(text) < least or len(text) > 9:
        raise HTTPException(422, f"query parameter {name!r}: a whole number of at least {least}, got {text[:20]!r}")
    return int(text)


def _back(target: str, fallback: str) -> str:
    """Where a form sends the browser afterwards: a path on this site only (never another host)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")) and len(target) <= 2000:
        return target
    return fallback


def router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/")
    def home(request: Request) -> Response:
        _principal(request)
        return RedirectResponse("/requirements", status_code=303)

    @r.get("/requirements")
    def matrix_page(
        request: Request,
        status: str | None = None,
        section: str | None = None,
        responsibility: str | None = None,
    ) -> Response:
        _principal(request)
        ledger, catalog = ledger_of(request), request.app.state.catalog
        as_of, moment = _as_of(request)
        run = answering_run(ledger, moment)
        rows, counts = data.matrix(
            catalog,
            ledger,
            run,
            status=status or None,
            section=section or None,
            responsibility=responsibility or None,
        )
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(".".join(row["section"].split(".")[:2]), []).append(row)
        sections = sorted({".".join(req.section.split(".")[:2]) for req in catalog}, key=_section_key)
        return _render(
            request,
            "matrix.html",
            {
                "run": run_out(run),
                "rows": rows,
                "groups": sorted(groups.items(), key=lambda kv: _section_key(kv[0])),
                "counts": [(s, counts.get(s, 0)) for s in STATUS_ORDER if counts.get(s)],
                "total": sum(counts.values()),
                "sections": sections,
                "filters": {"status": status or "", "section": section or "", "responsibility": responsibility or ""},
                "as_of": as_of or "",
                "statuses": STATUS_ORDER,
            },
        )

    @r.get("/requirements/{no}")
    def requirement_page(request: Request, no: int, status: str = "", resource: str = "") -> Response:
        principal = _principal(request)
        ledger = ledger_of(request)
        as_of, moment = _as_of(request)
        older = _int_param(request, "history_before", 0, 1) or None
        if status and status not in FINDING_STATUSES:
            raise HTTPException(422, f"query parameter 'status': one of {', '.join(FINDING_STATUSES)}, got {status!r}")
        if len(resource) > 500:
            raise HTTPException(422, "query parameter 'resource': at most 500 characters")
        limit, offset = _page_params(request)
        detail = data.requirement_detail(
            request.app.state.catalog,
            ledger,
            answering_run(ledger, moment),
            no,
            history_before=older,
            limit=limit,
            offset=offset,
            status=status or None,
            resource=resource.strip() or None,
        )
        attestations = data.attestation_rows(ledger, moment, requirement=no)
        return _render(
            request,
            "requirement.html",
            {
                "r": detail,
                "as_of": as_of or "",
                "attestations": attestations,
                "page": _pager(request, detail["findings"], detail["total"], limit, offset),
                "counts": list(detail["counts"].items()),
                "counts_total": sum(detail["counts"].values()),
                "filters": {"status": status, "resource": resource.strip()},
                "finding_statuses": FINDING_STATUSES,
                "status_url": lambda s: _with_query(request, status=s, offset=""),
                "history_older": _with_query(request, history_before=str(detail["history_next"]))
                if detail["history_next"]
                else None,
                "history_newest": _with_query(request, history_before="") if older else None,
            }
            | {"admin_form": principal.role >= Role.ADMIN},
        )

    @r.get("/resources")
    def resource_page(request: Request, id: str = "") -> Response:
        _principal(request)
        if not id or len(id) > 2000:
            raise HTTPException(422, "query parameter 'id': a resource id is required")
        ledger = ledger_of(request)
        as_of, moment = _as_of(request)
        run = answering_run(ledger, moment)
        findings = sorted(data.finding_rows(ledger, run, resource_id=id), key=lambda f: _SEVERITY.get(f["status"], 3))
        drift = [d for d in data.drift_rows(ledger, moment) if (d["resource_id"] or "").lower() == id.lower()]
        return _render(
            request,
            "resource.html",
            {"resource_id": id, "run": run_out(run), "findings": findings, "drift": drift, "as_of": as_of or ""},
        )

    @r.get("/drift")
    def drift_page(request: Request) -> Response:
        _principal(request)
        as_of, moment = _as_of(request)
        limit, offset = _page_params(request)
        rows, total = data.drift_page(ledger_of(request), moment, limit=limit, offset=offset)
        page = _pager(request, rows, total, limit, offset)
        return _render(request, "drift.html", {"page": page, "rows": page["items"], "as_of": as_of or ""})

    @r.post("/drift/{event_id}/acknowledge")
    def acknowledge_page(
        request: Request,
        event_id: int,
        csrf: str = Form(""),
        note: str = Form("", max_length=2000),
        back: str = Form("/drift", max_length=2000),
    ) -> Response:
        principal = _principal(request, Role.OPERATOR)
        _check_csrf(request, csrf)
        if not 1 <= event_id < 2**31:
            raise HTTPException(404, f"no drift event {event_id}")
        data.acknowledge_drift(request, principal, event_id, note.strip())
        return RedirectResponse(_back(back, "/drift"), status_code=303)

    @r.get("/accounts")
    def accounts_page(request: Request) -> Response:
        _principal(request)
        ledger = ledger_of(request)
        as_of, moment = _as_of(request)
        run = answering_run(ledger, moment)
        limit, offset = _page_params(request)
        thresholds = settings_of(request).thresholds
        total, rows = register_pages_of(request).accounts(ledger, run, thresholds, offset, limit)
        page = _pager(request, rows, total, limit, offset)
        return _render(
            request, "accounts.html", {"page": page, "rows": page["items"], "run": run_out(run), "as_of": as_of or ""}
        )

    @r.get("/inventory")
    def inventory_page(request: Request) -> Response:
        _principal(request)
        ledger = ledger_of(request)
        as_of, moment = _as_of(request)
        run = answering_run(ledger, moment)
        owner_tag = settings_of(request).thresholds.owner_tag
        limit, offset = _page_params(request)
        total, rows = register_pages_of(request).inventory(ledger, run, owner_tag, offset, limit)
        page = _pager(request, rows, total, limit, offset)
        return _render(
            request, "inventory.html", {"page": page, "rows": page["items"], "run": run_out(run), "as_of": as_of or ""}
        )

    @r.get("/runs")
    def runs_page(request: Request) -> Response:
        _principal(request)
        from collector.runs import run_row

        limit, offset = _page_params(request)
        runs, total = ledger_of(request).runs_page(limit, offset)
        page = _pager(request, [run_row(x) for x in runs], total, limit, offset)
        return _render(request, "runs.html", {"page": page, "runs": page["items"]})

    @r.get("/runs/{run_id}")
    def run_page(request: Request, run_id: int) -> Response:
        _principal(request)
        ledger = ledger_of(request)
        run = data.run_started_by(ledger, run_id, None)
        return _render(request, "run.html", {"run": run_out(run), "errors": data.collection_errors(ledger, run)})

    @r.post("/collect")
    def collect_page(request: Request, csrf: str = Form("")) -> Response:
        principal = _principal(request, Role.OPERATOR)
        _check_csrf(request, csrf)
        data.collect_now(request, principal)
        return RedirectResponse("/runs?started=1", status_code=303)

    @r.get("/attestations")
    def attestations_page(request: Request) -> Response:
        _principal(request)
        as_of, moment = _as_of(request)
        page = _paged(request, data.attestation_rows(ledger_of(request), moment, include_revoked=True)[::-1])
        return _render(request, "attestations.html", {"page": page, "rows": page["items"], "as_of": as_of or ""})

    @r.post("/attestations")
    async def attest_page(
        request: Request,
        csrf: str = Form(""),
        requirements: str = Form("", max_length=500),
        owner: str = Form("", max_length=500),
        valid_until: str = Form("", max_length=10),
        statement_ja: str = Form("", max_length=10000),
        statement_en: str = Form("", max_length=10000),
    ) -> Response:
        principal = _principal(request, Role.ADMIN)
        _check_csrf(request, csrf)
        uploads = await read_uploads((await request.form()).getlist("documents"), settings_of(request).api)
        fields = {
            "requirements": requirements,
            "owner": owner,
            "attested_on": datetime.now().date().isoformat(),
            "valid_until": valid_until,
            "statement_ja": statement_ja,
            "statement_en": statement_en,
        }
        made = await run_in_threadpool(data.add_attestation, request, principal, fields, None, uploads)
        return RedirectResponse(f"/attestations?added={made['id']}", status_code=303)

    @r.post("/attestations/{attestation_id}/revoke")
    def revoke_page(
        request: Request, attestation_id: str, csrf: str = Form(""), reason: str = Form("", max_length=2000)
    ) -> Response:
        principal = _principal(request, Role.ADMIN)
        _check_csrf(request, csrf)
        if not reason.strip():
            raise HTTPException(422, "reason: say why the attestation is revoked")
        data.revoke_attestation(request, principal, attestation_id, reason.strip())
        return RedirectResponse("/attestations", status_code=303)

    @r.get("/snapshot.zip")
    def snapshot_page(request: Request) -> Response:
        _principal(request)
        _, moment = _as_of(request)
        lang = language(request)
        run = answering_run(ledger_of(request), moment)
        return data.snapshot_file(request, run, moment, None, lang)

    return r


_SEVERITY = {"fail": 0, "error": 1, "pass": 2}
FINDING_STATUSES = ("fail", "error", "pass")


def _section_key(section: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in section.split("."))


def install(app: FastAPI) -> None:
    """The pages, /static and the page-side error handling (HTML for pages, JSON stays for /api)."""
    app.include_router(router())
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    json_handler = app.exception_handlers[HTTPException]

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, _exc: SignInRequired) -> Response:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(signin_url(path), status_code=303)

    @app.exception_handler(HTTPException)
    async def page_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
            return await json_handler(request, exc)
        return _render(request, "error.html", {"status": exc.status_code, "detail": str(exc.detail)}, exc.status_code)
