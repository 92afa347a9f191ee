"""The seeded world of the authorization matrix, built once, copied per cell.

Ann (the owner) and Ben (her partner) share a partnership with a past session
(Ann taught turn 0 a day ago and Ben rated it: she may re-check it), an
upcoming stored session, notifications, the request that paired them, an API token, a
calendar feed, a password-reset link and a block. Cara (the outsider) has her
own partner Dan and a rated session of their own. Eve is a stranger anyone may
block; Ann has blocked Gus.

Every actor's cookies (and CSRF token) are captured once: the per-cell database
is a copy of the seeded file, and a login lives in its `logins` row, so the
same cookie works on each copy. The old cookie is a copy of a login of Ann's
(remembered) taken before that login logged out; the old token is an API token
of Ann's that she revoked.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ally import create_app
from ally.domain.timezones import local_date
from ally.extensions import db
from ally.models import Notification, Topic, Turn, utcnow
from ally.services import calendar, partners, password_reset, schedule, tokens
from ally.services.room import events
from tests.conftest import PASSWORD, base_config, csrf_from, pair_up, user_maker
from tests.support.reteach import live_turn

# Strings only Ann and the people she shares things with may ever see.
OWNER_EMAIL = "ann.owner@example.com"
OWNER_NAME = "Ann Ownerly"
OWNER_TOPIC = "Owner secret topic Kx7"
OWNER_NOTE = "Owner secret note Qz9"
OWNER_SUMMARY = "Owner secret summary Wv3"
OWNER_MARKERS = (OWNER_EMAIL, OWNER_NAME, OWNER_TOPIC, OWNER_NOTE, OWNER_SUMMARY)

EMAILS = {
    "owner": OWNER_EMAIL,
    "partner": "ben.partner@example.com",
    "outsider": "cara.outsider@example.com",
}


@dataclass
class World:
    """Ids of the seeded objects, and each actor's captured cookies."""

    path: Path
    owner: int
    partner: int
    outsider: int
    outsider_partner: int
    stranger: int
    blocked: int
    partnership: int
    outsider_partnership: int
    request: int
    past_session: int
    upcoming_session: int
    upcoming_day: str
    free_day: str
    owner_turn: int
    owner_topic: int
    owner_token: int
    owner_token_raw: str
    owner_notification: int
    calendar_token: str
    reset_token: str
    old_token_raw: str
    cookies: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)


def cookies_of(client: FlaskClient) -> list[tuple[str, str, str]]:
    """A client's cookies as (name, value, domain)."""
    return [(c.key, c.value, c.domain) for c in client._cookies.values()]


def client_with(app: Flask, cookies: list[tuple[str, str, str]]) -> FlaskClient:
    """A new client of `app` holding the given cookies."""
    client = app.test_client()
    for name, value, domain in cookies:
        client.set_cookie(name, value, domain=domain)
    return client


def _login(app: Flask, email: str, **extra: Any) -> FlaskClient:
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token, **extra},
    )
    assert response.status_code == 302, response.status_code
    return client


def _seed_rows(now) -> dict[str, Any]:
    make = user_maker()
    ann = make(
        OWNER_EMAIL, display_name=OWNER_NAME, topic_titles=[OWNER_TOPIC, "Renal"]
    )
    ben = make(EMAILS["partner"], display_name="Ben Partner", topic_titles=["Cardio"])
    cara = make(
        EMAILS["outsider"], display_name="Cara Outsider", topic_titles=["Lungs"]
    )
    dan = make("dan@example.com", display_name="Dan Other")
    eve = make("eve@example.com", display_name="Eve Stranger")
    gus = make("gus@example.com", display_name="Gus Blocked")
    pair = pair_up(ann, ben)
    other = pair_up(cara, dan)
    request = partners.list_requests(ann.id, now)[0]

    # Ann taught turn 0 a day ago; Ben rated it; the session ended.
    past = live_turn(ann, ben, pair.id, OWNER_TOPIC, now - timedelta(days=1))
    events.summary(
        ann.id, past.id, 0, OWNER_SUMMARY, now - timedelta(days=1, minutes=-1)
    )
    events.rate(
        ben.id,
        past.id,
        0,
        4,
        OWNER_NOTE,
        ["renin"],
        now - timedelta(days=1, minutes=-2),
    )
    past.status, past.phase, past.ended_at = (
        "completed",
        "done",
        now - timedelta(hours=23),
    )
    taught = db.session.scalar(select(Turn).where(Turn.session_id == past.id))
    taught.ended_at = now - timedelta(hours=23)
    # Cara's own rated session with Dan.
    theirs = live_turn(cara, dan, other.id, "Lungs", now - timedelta(days=1))
    events.rate(dan.id, theirs.id, 0, 3, "", [], now - timedelta(days=1, minutes=-2))
    theirs.status, theirs.phase = "completed", "done"
    db.session.commit()

    today = local_date(now, pair.timezone)
    upcoming_day = today + timedelta(days=2)
    upcoming = schedule.ensure_session(ann.id, pair.id, upcoming_day)
    token, raw = tokens.create_token(ann.id, "owner script")
    # The old token: one of Ann's, revoked.
    old, old_raw = tokens.create_token(ann.id, "old laptop")
    tokens.revoke_token(ann.id, old.id)
    partners.block_user(ann.id, gus.id, now)
    mail = password_reset.request_reset(OWNER_EMAIL, now)
    assert mail is not None
    turn = db.session.scalar(
        select(Turn).where(Turn.session_id == past.id, Turn.index == 0)
    )
    notification = db.session.scalar(
        select(Notification)
        .where(Notification.user_id == ann.id)
        .order_by(Notification.id)
    )
    assert notification is not None, "Ann has no notification to open"
    return {
        "owner": ann.id,
        "partner": ben.id,
        "outsider": cara.id,
        "outsider_partner": dan.id,
        "stranger": eve.id,
        "blocked": gus.id,
        "partnership": pair.id,
        "outsider_partnership": other.id,
        "request": request.id,
        "past_session": past.id,
        "upcoming_session": upcoming.id,
        "upcoming_day": upcoming_day.isoformat(),
        "free_day": (today + timedelta(days=3)).isoformat(),
        "owner_turn": turn.id,
        "owner_topic": db.session.scalar(
            select(Topic.id).where(Topic.user_id == ann.id, Topic.title == OWNER_TOPIC)
        ),
        "owner_token": token.id,
        "owner_token_raw": raw,
        "owner_notification": notification.id,
        "calendar_token": calendar.feed_token(ann.id),
        "reset_token": mail.token,
        "old_token_raw": old_raw,
    }


def seed_world(migrated_template: Path, directory: Path) -> World:
    """Seed the world into a copy of the migrated database; log every actor in."""
    path = directory / "world.db"
    shutil.copy(migrated_template, path)
    app = create_app(base_config(path))
    with app.app_context():
        ids = _seed_rows(utcnow())
        db.session.remove()
    world = World(path=path, **ids)
    for actor, email in EMAILS.items():
        client = _login(app, email)
        world.csrf[actor] = csrf_from(client.get("/account").get_data(as_text=True))
        world.cookies[actor] = cookies_of(client)
    # Anonymous: no login, but a session of its own with a CSRF token, so what
    # refuses its writes is the login check, not CSRF.
    anonymous = app.test_client()
    world.csrf["anonymous"] = csrf_from(anonymous.get("/login").get_data(as_text=True))
    world.cookies["anonymous"] = cookies_of(anonymous)
    # The old token sends Ann's revoked bearer token, with an anonymous session
    # of its own for the pages' CSRF check.
    world.csrf["old_token"] = world.csrf["anonymous"]
    world.cookies["old_token"] = world.cookies["anonymous"]
    # The old cookie: a remembered login of Ann's, copied, then logged out.
    browser = _login(app, OWNER_EMAIL, remember="y")
    world.csrf["old_cookie"] = csrf_from(browser.get("/account").get_data(as_text=True))
    world.cookies["old_cookie"] = cookies_of(browser)
    logout = browser.post("/logout", data={"csrf_token": world.csrf["old_cookie"]})
    assert logout.status_code == 302
    # A second login of Ann's, for the old socket (logged out inside its cell).
    spare = _login(app, OWNER_EMAIL)
    world.csrf["old_socket"] = csrf_from(spare.get("/account").get_data(as_text=True))
    world.cookies["old_socket"] = cookies_of(spare)
    with app.app_context():
        # Fold the WAL into the main file so a plain copy holds every row.
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.engine.dispose()
    return world


def cell_app(world: World, directory: Path, **overrides: Any) -> Flask:
    """An app on a fresh copy of the seeded database."""
    path = directory / f"cell-{len(list(directory.glob('cell-*.db')))}.db"
    shutil.copy(world.path, path)
    return create_app({**base_config(path), **overrides})
