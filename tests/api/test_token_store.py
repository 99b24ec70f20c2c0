"""Tokens and the record of API writes in the ledger, on SQLite and PostgreSQL: a token is found by its id and
checked by its secret's hash; expired and revoked ones are refused; the record of writes is append-only and
chained, and `verify` names an edited record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from api import tokens
from storage.actions import TOKEN_CREATE, TOKEN_REVOKE
from storage.ledger import Ledger, LedgerError


def test_tokens_are_checked_by_hash_and_refused_once_expired_or_revoked(database_url):
    now = datetime.now(UTC)
    with Ledger(database_url) as ledger:
        record, text_ = tokens.issue(ledger, "grc", "auditor", timedelta(hours=1), "admin-sato", now=now)
        assert tokens.check(ledger, text_, now) == record
        assert ledger.token(record.id).last_used_at == now  # type: ignore[union-attr]
        assert tokens.check(ledger, text_ + "x", now) is None
        assert tokens.check(ledger, text_[:-1] + ("A" if text_[-1] != "A" else "B"), now) is None
        assert tokens.check(ledger, text_, now + timedelta(hours=1)) is None  # expired
        with pytest.raises(LedgerError, match="a token named 'grc' already exists"):
            tokens.issue(ledger, "grc", "admin", timedelta(hours=1), "admin-sato")
        with pytest.raises(tokens.TokenError, match="must be one of auditor, operator, admin"):
            tokens.issue(ledger, "x", "root", timedelta(hours=1), "admin-sato")
        ledger.revoke_token("grc", "admin-sato", now, {"via": "cli"})
        assert tokens.check(ledger, text_, now) is None
        with pytest.raises(LedgerError, match="already revoked"):
            ledger.revoke_token(record.id, "admin-sato", now, {})
        assert [(a.action, a.subject, a.actor) for a in ledger.actions()] == [
            (TOKEN_CREATE, record.id, "admin-sato"),
            (TOKEN_REVOKE, record.id, "admin-sato"),
        ]
        report = ledger.verify()
        assert report.ok and report.actions_checked == 2


@pytest.mark.parametrize("expires", ["0d", "30", "3651d", "1w", ""])
def test_bad_lifetimes_are_one_line(expires):
    with pytest.raises(tokens.TokenError, match=r"^--expires: "):
        tokens.parse_expiry(expires)


def test_the_record_of_writes_is_append_only_and_verified(database_url):
    with Ledger(database_url) as ledger:
        ledger.record_action("drift_acknowledge", "7", "ops-ito", {"note": "known"})
        ledger.record_action("collect_now", "full", "ops-ito", {})
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        for statement in ("UPDATE api_actions SET actor = 'someone-else'", "DELETE FROM api_actions"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
                connection.execute(text(statement))
        # Past the triggers (as a database owner could): verify names the edited record.
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("ALTER TABLE api_actions DISABLE TRIGGER USER"))
                connection.execute(text("UPDATE api_actions SET actor = 'someone-else' WHERE id = 1"))
            else:
                connection.execute(text("DROP TRIGGER shoko_api_actions_no_update"))
                connection.execute(text("UPDATE api_actions SET actor = 'someone-else' WHERE id = 1"))
    finally:
        engine.dispose()
    with Ledger(database_url) as ledger:
        report = ledger.verify()
    assert not report.ok
    assert (
        report.problem
        == "api_actions row 1 (drift_acknowledge 7): action, subject or actor differ from the hashed content"
    )
