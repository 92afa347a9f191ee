"""Shared fixtures: a migrated database per test, the app, clients and factories."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ally import create_app
from ally.database import upgrade_database
from ally.extensions import db
from ally.models import Partnership, User, utcnow
from ally.services import accounts, partners, profiles, tokens, topics
from tests.support.services import fresh_postgres_database

PASSWORD = "correct horse battery"
DEFAULT_WINDOWS = [{"start": "18:00", "end": "22:00"}]
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def base_config(database_path: Path) -> dict[str, Any]:
    """The configuration every test app starts from."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database_path}",
        "RATELIMIT_ENABLED": False,
        "ALLY_SCHEDULER": "off",
    }


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every migration applied, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "ally.db"
    application = create_app(base_config(path))
    upgrade_database(application)
    with application.app_context():
        # Fold the WAL into the main file so a plain copy holds every table.
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.engine.dispose()
    return path


@pytest.fixture
def make_app(migrated_template: Path, tmp_path: Path) -> Callable[..., Flask]:
    """Build an app on a fresh copy of the migrated database; overrides win."""

    def build(**overrides: Any) -> Flask:
        path = tmp_path / f"ally-{len(list(tmp_path.glob('ally-*.db')))}.db"
        shutil.copy(migrated_template, path)
        return create_app({**base_config(path), **overrides})

    return build


@contextmanager
def postgres_app(**overrides: Any) -> Iterator[Flask]:
    """An app (context pushed) on a fresh, migrated PostgreSQL database."""
    with fresh_postgres_database() as url:
        application = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret-key",
                "SQLALCHEMY_DATABASE_URI": url,
                "RATELIMIT_ENABLED": False,
                "ALLY_SCHEDULER": "off",
                **overrides,
            }
        )
        upgrade_database(application)
        with application.app_context():
            try:
                yield application
            finally:
                db.session.remove()
                db.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_app(request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The app (context pushed) on the embedded SQLite file or on PostgreSQL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("app")
        return
    with postgres_app() as application:
        yield application


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    """The app with an application context pushed (services need one)."""
    application = make_app()
    with application.app_context():
        yield application
        db.session.remove()


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context.

    The `app` fixture keeps one app context pushed, which Flask reuses for
    requests: `g` (Flask-Login's cached user) and the database session would
    leak between clients. Data a test writes must be committed to be seen.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def isolated_requests(app: Flask) -> None:
    """Clients of the app give each request its own `g` and database session."""
    app.test_client_class = IsolatedClient


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser-like test client (cookies kept between requests)."""
    return app.test_client()


def csrf_from(html: str) -> str:
    """The CSRF token rendered in a page."""
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


class Browser:
    """Page-level helpers around a test client: log in, post forms with CSRF."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf(self, path: str = "/login") -> str:
        """A CSRF token valid for this client's session."""
        return csrf_from(self.client.get(path).get_data(as_text=True))

    def login(self, email: str, password: str = PASSWORD, **extra: Any):
        """Log in through the login form."""
        token = self.csrf("/login")
        return self.client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": token, **extra},
        )

    def post(self, path: str, data: dict | None = None, csrf_page: str = "/account"):
        """POST a form with a valid CSRF token taken from a logged-in page."""
        token = self.csrf(csrf_page)
        return self.client.post(path, data={**(data or {}), "csrf_token": token})


@pytest.fixture
def browser_client(client: FlaskClient) -> Browser:
    """The page helper bound to the test client."""
    return Browser(client)


def user_maker() -> Callable[..., User]:
    """A function creating users with profiles through the services (in an app
    context: the `make_user` fixture's, or any app's, e.g. `postgres_app()`)."""
    counter = iter(range(1, 10_000))

    def create(
        email: str | None = None,
        *,
        password: str = PASSWORD,
        display_name: str | None = None,
        timezone: str = "Europe/London",
        availability: list[dict] | None = None,
        exam: str | None = "USMLE Step 1",
        exam_date: str | None = None,
        subjects: list[str] | None = None,
        looking_for_partner: bool = True,
        auto_match: bool = False,
        topic_titles: list[str] | None = None,
    ) -> User:
        n = next(counter)
        user = accounts.register(
            email or f"student{n}@example.com",
            password,
            display_name or f"Student {n}",
            timezone,
        )
        profiles.update_profile(
            user.id,
            {
                "availability": DEFAULT_WINDOWS
                if availability is None
                else availability,
                "exam": exam,
                "exam_date": exam_date,
                "subjects": subjects or [],
                "looking_for_partner": looking_for_partner,
                "auto_match": auto_match,
            },
        )
        for title in topic_titles or []:
            topics.add_topic(user.id, title)
        return user

    return create


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    """Create a user with a profile through the services."""
    return user_maker()


def pair_up(a: User, b: User) -> Partnership:
    """Pair two users through a request and its acceptance."""
    now = utcnow()
    request = partners.send_request(a.id, b.id, "", now)
    return partners.accept_request(b.id, request.id, now)


@pytest.fixture
def make_partnership(app: Flask) -> Callable[[User, User], Partnership]:
    """Pair two users through a request and its acceptance."""
    return pair_up


@pytest.fixture
def api_token(app: Flask) -> Callable[[User], dict[str, str]]:
    """Authorization headers with a fresh bearer token for a user."""

    def headers(user: User) -> dict[str, str]:
        _, raw = tokens.create_token(user.id, "tests")
        return {"Authorization": f"Bearer {raw}"}

    return headers
