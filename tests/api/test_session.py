"""Session and sign-in cookies: sealed, bound to their purpose and key, expiring; CSRF tokens bound to a session."""

from __future__ import annotations

import pytest

from api.oidc import OidcConfigError, PendingSignIn, SignedInUser
from api.session import (
    SessionCodec,
    SessionError,
    cookie_attributes,
)
from collector.settings import OidcSettings

KEY = "k" * 40
USER = SignedInUser("ca555b5d-b768-4266-9708-142c712c18a1", "tid", "田中 由紀", "yuki@example.jp", "auditor", ("A",))


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_session_round_trips_and_hides_the_principal() -> None:
    codec = SessionCodec(KEY, 3600, clock=Clock())
    session, value = codec.issue(USER)
    assert codec.read(value) == session
    assert (session.role, session.username, session.expires_at - session.issued_at) == ("auditor", USER.username, 3600)
    assert USER.username not in value and "auditor" not in value  # encrypted, not only signed


def test_a_session_expires() -> None:
    clock = Clock()
    codec = SessionCodec(KEY, 3600, clock=clock)
    _, value = codec.issue(USER)
    clock.now += 3599
    assert codec.read(value).role == "auditor"
    clock.now += 2
    with pytest.raises(SessionError, match="expired"):
        codec.read(value)


def test_altered_or_foreign_cookies_are_refused() -> None:
    codec = SessionCodec(KEY, 3600, clock=Clock())
    _, value = codec.issue(USER)
    flipped = value[:20] + ("A" if value[20] != "A" else "B") + value[21:]
    for bad in (flipped, value[:-4], "", None, "not-a-token"):
        with pytest.raises(SessionError):
            codec.read(bad)
    with pytest.raises(SessionError, match="invalid or expired"):
        SessionCodec("z" * 40, 3600, clock=Clock()).read(value)  # another key


def test_a_sign_in_cookie_is_not_a_session_and_expires_in_ten_minutes() -> None:
    clock = Clock()
    codec = SessionCodec(KEY, 3600, clock=clock)
    pending = PendingSignIn("state", "nonce", "verifier", "/drift", clock.now)
    value = codec.seal_pending(pending)
    assert codec.open_pending(value) == pending
    with pytest.raises(SessionError):
        codec.read(value)  # other purpose, other key
    _, session_value = codec.issue(USER)
    with pytest.raises(SessionError):
        codec.open_pending(session_value)
    clock.now += 601
    with pytest.raises(SessionError, match="invalid or expired"):
        codec.open_pending(value)


def test_csrf_token_is_bound_to_the_session() -> None:
    codec = SessionCodec(KEY, 3600, clock=Clock())
    first, _ = codec.issue(USER)
    second, _ = codec.issue(USER)
    token = codec.csrf_token(first)
    assert codec.check_csrf(first, token)
    assert not codec.check_csrf(second, token)  # another session (same person) has another token
    assert not codec.check_csrf(first, "") and not codec.check_csrf(first, None)
    assert not SessionCodec("z" * 40, 3600).check_csrf(first, token)


def test_key_comes_from_the_environment_or_a_file_and_must_be_long(tmp_path) -> None:
    settings = OidcSettings(session_key_env="SK", session_key_file=str(tmp_path / "key"))
    assert SessionCodec.from_settings(settings, {"SK": KEY}).lifetime == 480 * 60
    (tmp_path / "key").write_text(KEY + "\n", encoding="utf-8")
    assert SessionCodec.from_settings(settings, {}).lifetime == 480 * 60
    (tmp_path / "key").write_text("short", encoding="utf-8")
    with pytest.raises(OidcConfigError, match="at least 32 characters"):
        SessionCodec.from_settings(settings, {})
    with pytest.raises(OidcConfigError, match="not set"):
        SessionCodec.from_settings(OidcSettings(session_key_env="SK", session_key_file=None), {})


def test_cookie_attributes() -> None:
    assert cookie_attributes(600) == {"path": "/", "secure": True, "httponly": True, "samesite": "lax", "max_age": 600}
