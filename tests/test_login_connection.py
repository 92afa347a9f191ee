"""A login gives its database connection back before the password hash.

The hash waits for one of a few worker threads; a burst of logins that held
their pooled connections meanwhile left none for anything else (bench/soak.py
found it: 200 logins, QueuePool time-outs on pages and room events).
"""

from __future__ import annotations

import pytest

from ally.extensions import db
from ally.services import accounts
from ally.services.errors import Unauthorized
from tests.conftest import PASSWORD


@pytest.fixture
def hashing(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the session was in a transaction at each hash."""
    seen: list[bool] = []
    real = accounts.blocking

    def watched(function, *args):
        seen.append(db.session().in_transaction())
        return real(function, *args)

    monkeypatch.setattr(accounts, "blocking", watched)
    return seen


@pytest.mark.parametrize(
    ("email", "password", "succeeds"),
    [
        ("ana@example.com", PASSWORD, True),
        ("ana@example.com", "not the password", False),
        ("nobody@example.com", PASSWORD, False),
    ],
)
def test_the_password_is_hashed_outside_any_transaction(
    app, make_user, hashing, email, password, succeeds
):
    ana = make_user("ana@example.com")
    db.session.commit()
    if succeeds:
        assert accounts.authenticate(email, password).id == ana.id
    else:
        with pytest.raises(Unauthorized):
            accounts.authenticate(email, password)
    assert hashing == [False]
