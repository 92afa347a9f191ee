"""`GET /healthz` and the start-up check behind it: the database and, where
configured, Redis must answer."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from ally.config import SettingsError
from ally.services.health import require_services
from tests.conftest import postgres_app
from tests.support.live_server import free_port
from tests.support.services import require_postgres, require_redis


def closed_redis() -> str:
    """A Redis URL on a loopback port nothing listens on."""
    return f"redis://:secret@127.0.0.1:{free_port()}/0"


def test_healthy_on_sqlite_without_redis(make_app):
    app = make_app()
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "checks": {"database": "ok"}}
    assert response.headers["Cache-Control"] == "no-store"


def test_needs_no_login_and_no_rate_limit_applies(make_app):
    # Even a site-wide default limit leaves the load balancer's probe alone.
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2 per minute")
    client = app.test_client()
    statuses = {client.get("/healthz").status_code for _ in range(5)}
    assert statuses == {200}
    # ... while the default does apply elsewhere (the limit is really on).
    assert [client.get("/login").status_code for _ in range(3)] == [200, 200, 429]


def test_a_database_that_cannot_be_opened_answers_503(make_app, tmp_path):
    missing = tmp_path / "no-such-folder" / "ally.db"
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{missing}")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["ok"] is False
    assert body["error"] == "unavailable"
    assert body["checks"]["database"] == "unable to open database file"
    assert body["message"] == "database: unable to open database file"
    assert response.headers["Cache-Control"] == "no-store"
    with pytest.raises(SettingsError, match=r"^DATABASE_URL: cannot use sqlite:///"):
        require_services(app)


def test_a_redis_that_does_not_answer_answers_503(make_app):
    app = make_app(SOCKETIO_MESSAGE_QUEUE=closed_redis())
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] != "ok"
    assert body["message"].startswith("redis: ")
    with pytest.raises(SettingsError) as raised:
        require_services(app)
    message = str(raised.value)
    assert message.startswith("SOCKETIO_MESSAGE_QUEUE: cannot reach Redis at redis://")
    assert "secret" not in message and "\n" not in message


@pytest.mark.redis
def test_healthy_with_redis(make_app):
    url = require_redis()
    app = make_app(SOCKETIO_MESSAGE_QUEUE=url)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "ok": True,
        "checks": {"database": "ok", "redis": "ok"},
    }
    require_services(app)


@pytest.mark.postgres
def test_healthy_on_postgres():
    with postgres_app() as app:
        response = app.test_client().get("/healthz")
        assert response.status_code == 200
        assert response.get_json()["checks"] == {"database": "ok"}
        require_services(app)


@pytest.mark.postgres
def test_a_postgres_role_that_does_not_exist_answers_503(make_app):
    url = make_url(require_postgres()).set(username="no_such_role", password="hunter2")
    app = make_app(SQLALCHEMY_DATABASE_URI=url.render_as_string(hide_password=False))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert 'role "no_such_role" does not exist' in response.get_json()["message"]
    with pytest.raises(SettingsError) as raised:
        require_services(app)
    assert "hunter2" not in str(raised.value)
    assert str(raised.value).startswith(
        "DATABASE_URL: cannot use postgresql+psycopg://"
    )
