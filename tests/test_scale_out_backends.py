"""The same app on the scale-out backends: PostgreSQL for data, Redis for limits."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from ally import create_app
from ally.database import upgrade_database
from ally.extensions import db
from ally.models import PartnerRequest, Partnership, pair_key, utcnow
from ally.services import accounts, partners, profiles
from tests.conftest import PASSWORD
from tests.support.services import fresh_postgres_database, require_redis


@pytest.fixture
def postgres_app():
    """An app on a fresh, migrated PostgreSQL database."""
    with fresh_postgres_database() as url:
        app = create_app(
            {"TESTING": True, "SECRET_KEY": "t", "SQLALCHEMY_DATABASE_URI": url}
        )
        upgrade_database(app)
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()


@pytest.mark.postgres
def test_migrations_build_every_table_on_postgres(postgres_app):
    tables = set(inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables
    indexes = {i["name"] for i in inspect(db.engine).get_indexes("partner_requests")}
    assert "uq_partner_requests_pending_pair" in indexes


@pytest.mark.postgres
def test_pairing_flow_on_postgres(postgres_app):
    now = utcnow()
    ana = accounts.register("ana@example.com", PASSWORD, "Ana", "America/New_York")
    ben = accounts.register("ben@example.com", PASSWORD, "Ben", "Europe/London")
    profiles.update_profile(
        ana.id, {"availability": [{"start": "14:00", "end": "17:00"}]}
    )
    profiles.update_profile(
        ben.id, {"availability": [{"start": "18:30", "end": "22:00"}]}
    )

    found = partners.suggest_partners(ana.id, now)
    assert [item.user_id for item in found.items] == [ben.id]
    assert found.items[0].suggestion.overlap_minutes == 180

    request = partners.send_request(ana.id, ben.id, "hi", now)
    partnership = partners.accept_request(ben.id, request.id, now)
    assert (partnership.timezone, partnership.daily_minute) == (
        "Europe/London",
        19 * 60,
    )
    assert db.session.query(Partnership).count() == 1
    # Both are now at the partnership limit: a newcomer is offered neither.
    carol = accounts.register("carol@example.com", PASSWORD, "Carol", "Europe/Berlin")
    profiles.update_profile(
        carol.id, {"availability": [{"start": "19:00", "end": "23:00"}]}
    )
    assert partners.suggest_partners(carol.id, now).items == []


@pytest.mark.postgres
def test_one_pending_request_per_pair_is_enforced_by_postgres(postgres_app):
    now = utcnow()
    ana = accounts.register("ana@example.com", PASSWORD, "Ana", "Europe/London")
    ben = accounts.register("ben@example.com", PASSWORD, "Ben", "Europe/London")
    for sender, receiver in ((ana, ben), (ben, ana)):
        db.session.add(
            PartnerRequest(
                from_user_id=sender.id,
                to_user_id=receiver.id,
                pair_key=pair_key(ana.id, ben.id),
                status="pending",
                created_at=now,
                expires_at=now,
            )
        )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.redis
def test_rate_limits_shared_through_redis(make_app):
    url = require_redis()
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=url,
        ALLY_AUTH_RATE_LIMIT="3 per minute",
    )
    with app.app_context():
        from ally.extensions import limiter

        limiter.reset()
    body = {"email": "nobody@example.com", "password": "wrong-password"}
    first = app.test_client()
    statuses = [
        first.post("/api/v1/auth/token", json=body).status_code for _ in range(3)
    ]
    # A second client (think: a second web process) shares the same counter.
    second = app.test_client()
    blocked = second.post("/api/v1/auth/token", json=body)
    assert statuses == [401, 401, 401]
    assert blocked.status_code == 429
    assert blocked.get_json()["error"] == "rate_limited"
