"""People's sign-in routes (GET /signin, GET /auth/callback, POST /signout) and the session principal that
api.auth asks for on requests without a bearer token.

Cookies are HttpOnly, SameSite=Lax, Path=/ and Secure. Secure is dropped only when the configured redirect URI
is plain http:// on a loopback address (127.0.0.1, ::1, localhost): a sign-in on the same machine, as in
tests, where nothing crosses a network; any other http:// redirect URI keeps Secure (the browser then never
sends the cookie back, so sign-in fails rather than leaking a session over plain HTTP).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from collector.settings import OidcSettings

from .auth import Principal, Role
from .oidc import InvalidCallback, OidcClient, OidcError, SignInRefused, safe_return_to
from .session import PENDING_COOKIE, SESSION_COOKIE, Session, SessionCodec, SessionError, cookie_attributes

log = logging.getLogger("shoko.api")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def secure_cookies(redirect_uri: str | None) -> bool:
    """False only for an http:// redirect URI on a loopback address (see the module docstring)."""
    parts = urlsplit(redirect_uri or "")
    return not (parts.scheme == "http" and (parts.hostname or "") in LOOPBACK)


@dataclass
class SignIn:
    """What the sign-in routes need: the Entra ID client, the cookie codec and the cookies' Secure flag."""

    oidc: OidcClient
    sessions: SessionCodec
    secure: bool = True

    @classmethod
    def from_settings(cls, settings: OidcSettings) -> SignIn:
        return cls(
            OidcClient.from_settings(settings),
            SessionCodec.from_settings(settings),
            secure_cookies(settings.redirect_uri),
        )

    def cookie(self, max_age: int | None = None) -> dict[str, object]:
        attrs = cookie_attributes(max_age)
        attrs["secure"] = self.secure
        return attrs

    def session(self, request: Request) -> Session | None:
        """The request's valid session, or None (missing, altered, expired)."""
        value = request.cookies.get(SESSION_COOKIE)
        if not value:
            return None
        try:
            return self.sessions.read(value)
        except SessionError as exc:
            log.info("session cookie refused: %s", exc)
            return None

    def principal(self, request: Request) -> Principal | None:
        """The session hook for api.auth: the signed-in person, or None."""
        session = self.session(request)
        if session is None:
            return None
        request.state.session = session
        return Principal(session.username or session.name, Role.of(session.role), "session")

    def csrf_token(self, request: Request) -> str | None:
        session = self.session(request)
        return self.sessions.csrf_token(session) if session else None


def signin_of(request: Request) -> SignIn | None:
    return getattr(request.app.state, "signin", None)


def signin_url(path: str) -> str:
    return "/signin?" + urlencode({"next": safe_return_to(path)})


REFUSED_PAGE = (
    '<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>{title}</title>'
    '<link rel="stylesheet" href="/static/shoko.css"></head><body><main class="narrow"><h1>{title}</h1>'
    '<p>{line}</p><p><a href="/signin">もう一度サインイン / Sign in again</a></p></main></body></html>'
)
REFUSALS: dict[type[OidcError], tuple[int, str, str]] = {
    SignInRefused: (
        403,
        "サインインできません / Sign-in refused",
        "このアカウントには shoko のロールがありません。 / Your account holds no shoko role.",
    ),
    InvalidCallback: (
        401,
        "サインインに失敗しました / Sign-in failed",
        "サインインを確認できませんでした。 / The sign-in could not be confirmed.",
    ),
}
PROVIDER_DOWN = (
    502,
    "サインインに失敗しました / Sign-in failed",
    "Entra ID に接続できませんでした。 / Entra ID could not be reached.",
)


def _refusal(exc: OidcError) -> HTMLResponse:
    status, title, line = next((v for k, v in REFUSALS.items() if isinstance(exc, k)), PROVIDER_DOWN)
    return HTMLResponse(REFUSED_PAGE.format(title=title, line=line), status_code=status)


def router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/signin")
    def begin(request: Request, next: str = "/") -> Response:
        signin = signin_of(request)
        if signin is None:
            return HTMLResponse(
                REFUSED_PAGE.format(
                    title="サインインは設定されていません / Sign-in is not configured",
                    line="api.oidc.enabled を設定してください。 / Set api.oidc (README 'Dashboard').",
                ),
                status_code=503,
            )
        try:
            url, pending = signin.oidc.begin(safe_return_to(next))
        except OidcError as exc:
            log.error("sign-in could not start: %s", exc)
            return _refusal(exc)
        response = RedirectResponse(url, status_code=302)
        response.set_cookie(PENDING_COOKIE, signin.sessions.seal_pending(pending), **signin.cookie(600))
        return response

    @r.get("/auth/callback")
    def callback(request: Request) -> Response:
        signin = signin_of(request)
        if signin is None:
            return Response(status_code=404)
        try:
            pending = signin.sessions.open_pending(request.cookies.get(PENDING_COOKIE))
        except SessionError as exc:
            log.warning("sign-in callback refused: %s", exc)
            response = _refusal(InvalidCallback(str(exc)))
        else:
            try:
                user = signin.oidc.complete(dict(request.query_params), pending)
            except OidcError as exc:
                log.warning("sign-in refused: %s", exc)
                response = _refusal(exc)
            else:
                _, value = signin.sessions.issue(user)
                log.info("signed in: %s (%s)", user.username or user.name, user.role)
                response = RedirectResponse(pending.return_to, status_code=303)
                response.set_cookie(SESSION_COOKIE, value, **signin.cookie(signin.sessions.lifetime))
        response.delete_cookie(PENDING_COOKIE, **signin.cookie())
        return response

    @r.post("/signout")
    async def signout(request: Request, csrf: str = Form("")) -> Response:
        signin = signin_of(request)
        session = signin.session(request) if signin else None
        if signin is None or session is None:
            return RedirectResponse("/signin", status_code=303)
        if not signin.sessions.check_csrf(session, csrf):
            return HTMLResponse(
                REFUSED_PAGE.format(title="CSRF", line="フォームが無効です。 / The form is not valid."), status_code=403
            )
        home = _home(signin)
        try:
            target = await run_in_threadpool(signin.oidc.logout_url, home) or "/"
        except OidcError as exc:
            log.warning("Entra sign-out URL unavailable: %s", exc)
            target = "/"
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(SESSION_COOKIE, **signin.cookie())
        log.info("signed out: %s", session.username or session.name)
        return response

    return r


def _home(signin: SignIn) -> str | None:
    """The site's root, from the redirect URI (Entra sends the browser back there after sign-out)."""
    redirect = signin.oidc.settings.redirect_uri
    if not redirect:
        return None
    parts = urlsplit(redirect)
    return f"{parts.scheme}://{parts.netloc}/"
