"""Logins, reset links and counted attempts on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from ally.models import LiveSocket, utcnow
from ally.services import accounts, login_limits, password_reset, tokens
from ally.services.errors import RateLimited
from ally.services.room import presence
from tests.conftest import user_maker


def test_the_account_life_cycle_on_every_backend(any_app, monkeypatch):
    monkeypatch.setattr(accounts, "disconnect_socket", lambda sid: None)
    monkeypatch.setattr(tokens, "disconnect_socket", lambda sid: None)
    user = user_maker()("pg@example.com")
    now = utcnow()

    key = accounts.start_login(user)
    login_id = user.login_id
    assert accounts.load_login(key).id == user.id
    presence.register_socket(
        "s1", user.id, user.auth_version, "t", now, login_id=login_id
    )
    token, raw = tokens.create_token(user.id, "phone")
    presence.register_socket(
        "s2", user.id, user.auth_version, "t", now, api_token_id=token.id
    )

    assert accounts.end_login(user.id, login_id) == 1
    assert accounts.load_login(key) is None
    assert not accounts.credential_alive(login_id, None)
    tokens.revoke_token(user.id, token.id)
    for sid in ("s1", "s2"):  # refused on their next event
        with pytest.raises(Exception, match="login has ended"):
            presence.socket_user(sid)

    email_key = login_limits.account_key("pg@example.com")
    for _ in range(login_limits.LOGIN_FAILURES):
        login_limits.login_failed(email_key, now)
    with pytest.raises(RateLimited):
        login_limits.check_login(email_key, now)

    mail = password_reset.request_reset("pg@example.com", now)
    assert (
        password_reset.confirm_reset(mail.token, "a brand new passphrase", now).id
        == user.id
    )
    login_limits.check_login(email_key, now)  # the reset lifted the lock-out
    with pytest.raises(password_reset.InvalidToken):
        password_reset.confirm_reset(mail.token, "a brand new passphrase", now)
    assert sorted(s.sid for s in LiveSocket.query.all()) == ["s1", "s2"]
