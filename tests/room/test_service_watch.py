"""The service watch (issue 13): a process tells its own sockets when the
database or Redis goes away and when both are back, and pushes the stored state
of its rooms again on the way back.

The services' answers are a test's own (stopping the shared PostgreSQL is not
for CI); the scale-out test restarts a real Redis under two processes.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from flask import Flask

from ally.extensions import db
from ally.models import LiveSocket, utcnow
from ally.services import schedule
from ally.services.health import OK
from ally.services.room.service_watch import (
    DOWN_RECHECK_SECONDS,
    NOT_LISTENING,
    RECONNECTING,
    SERVICE,
    ServiceWatch,
    news,
    service_answers,
    sessions_of,
)
from ally.services.room.snapshots import publish_many
from tests.support.room import LONG, named, new_session, ok

UP = {"database": OK, "redis": OK}
REDIS_DOWN = {"database": OK, "redis": "Error 111 connecting to 127.0.0.1:6379."}
BOTH_DOWN = {"database": "connection refused", "redis": REDIS_DOWN["redis"]}


class Fakes:
    """The answers a test sets, and what the watch told and pushed."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = dict(UP)
        self.told: list[tuple[str, dict] | tuple[str, dict, str]] = []
        self.pushed: list[list[int]] = []
        self.fail_push = False
        self.sockets: set[str] = {"s1", "s2"}

    def tell(self, event: str, payload: dict, to: str | None = None) -> None:
        self.told.append((event, payload) if to is None else (event, payload, to))

    def republish(self, session_ids: list[int], now: datetime) -> None:
        if self.fail_push:
            raise RuntimeError("the database went again")
        self.pushed.append(session_ids)

    def take(self) -> tuple[list[tuple[str, dict]], list[list[int]]]:
        told, pushed = self.told, self.pushed
        self.told, self.pushed = [], []
        return told, pushed


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def third_session(make_user, make_partnership) -> int:
    """A session of a third pair (a partnership has one extra session at a time)."""
    eve = make_user("eve@example.com", display_name="Eve")
    fay = make_user("fay@example.com", display_name="Fay")
    pair = make_partnership(eve, fay)
    return schedule.create_extra_session(
        eve.id, pair.id, utcnow(), turns=2, teach_seconds=LONG, rate_seconds=LONG
    ).id


def watch_of(app: Flask, fakes: Fakes, instance: str) -> ServiceWatch:
    return ServiceWatch(
        app,
        instance,
        answers=lambda: dict(fakes.answers),
        sockets=lambda: set(fakes.sockets),
        tell=fakes.tell,
        republish=fakes.republish,
    )


def socket_row(sid: str, user_id: int, instance: str, session_id: int | None) -> None:
    db.session.add(
        LiveSocket(
            sid=sid,
            user_id=user_id,
            instance=instance,
            auth_version=1,
            session_id=session_id,
            connected_at=utcnow(),
        )
    )
    db.session.commit()


def test_the_news_is_told_once_per_change():
    nothing, redis, both = (
        frozenset(),
        frozenset({"redis"}),
        frozenset({"redis", "database"}),
    )
    assert news(nothing, nothing) is None
    assert news(nothing, redis) is False
    assert news(redis, redis) is None
    assert news(redis, both) is None  # already reconnecting
    assert news(both, redis) is None  # not all back yet
    assert news(redis, nothing) is True


def test_down_once_then_back_republishes_this_instances_rooms(
    app, world, fakes, third_session
):
    here, elsewhere = "web-1:5001", "web-2:5002"
    ours = new_session(world)
    also_ours = new_session(world, teacher="cara")
    theirs = third_session
    socket_row("a", world.ann, here, ours)
    socket_row("b", world.ben, here, ours)  # one room, pushed once
    socket_row("c", world.cara, here, also_ours)
    socket_row("d", world.dan, here, None)  # a dashboard's socket: no room
    socket_row("e", world.ben, elsewhere, theirs)  # another process's to push
    watch = watch_of(app, fakes, here)

    watch.look(utcnow())
    assert fakes.take() == ([], [])
    assert watch.ok and watch.pause(5.0) == 5.0

    fakes.answers = dict(REDIS_DOWN)
    watch.look(utcnow())
    assert fakes.take() == ([(SERVICE, {"ok": False, "message": RECONNECTING})], [])
    assert watch.down == {"redis"}
    assert watch.pause(5.0) == DOWN_RECHECK_SECONDS

    # Still down, and then the database too: nothing more to tell but to a
    # socket that connected since (once).
    watch.look(utcnow())
    assert fakes.take() == ([], [])
    fakes.sockets = {"s2", "s3"}
    watch.look(utcnow())
    assert fakes.take() == (
        [(SERVICE, {"ok": False, "message": RECONNECTING}, "s3")],
        [],
    )
    fakes.answers = dict(BOTH_DOWN)
    watch.look(utcnow())
    fakes.answers = dict(REDIS_DOWN)
    watch.look(utcnow())
    assert fakes.take() == ([], [])

    fakes.answers = dict(UP)
    watch.look(utcnow())
    assert fakes.take() == ([(SERVICE, {"ok": True})], [sorted([ours, also_ours])])
    assert watch.ok and watch.pause(5.0) == 5.0
    watch.look(utcnow())
    assert fakes.take() == ([], [])


def test_not_listening_on_the_queue_is_an_outage_once_redis_has_answered(app, fakes):
    watch = watch_of(app, fakes, "local")
    # Just started: python-socketio subscribes in a moment.
    fakes.answers = {"database": OK, "redis": NOT_LISTENING}
    watch.look(utcnow())
    assert watch.ok and fakes.take() == ([], [])
    fakes.answers = dict(UP)
    watch.look(utcnow())
    fakes.answers = dict(REDIS_DOWN)
    watch.look(utcnow())
    assert not watch.ok
    # Redis answers again before this process listens on it again.
    fakes.answers = {"database": OK, "redis": NOT_LISTENING}
    watch.look(utcnow())
    assert watch.down == {"redis"} and fakes.take()[0] == [
        (SERVICE, {"ok": False, "message": RECONNECTING})
    ]
    fakes.answers = dict(UP)
    watch.look(utcnow())
    assert watch.ok and fakes.take()[0] == [(SERVICE, {"ok": True})]


def test_the_database_going_away_is_told_the_same_way(app, world, fakes):
    session_id = new_session(world)
    socket_row("a", world.ann, "local", session_id)
    watch = watch_of(app, fakes, "local")
    fakes.answers = {"database": "connection refused"}  # no Redis configured
    watch.look(utcnow())
    assert fakes.take() == ([(SERVICE, {"ok": False, "message": RECONNECTING})], [])
    fakes.answers = {"database": OK}
    watch.look(utcnow())
    assert fakes.take() == ([(SERVICE, {"ok": True})], [[session_id]])


def test_a_failed_republish_is_tried_again_before_saying_all_is_well(app, world, fakes):
    session_id = new_session(world)
    socket_row("a", world.ann, "local", session_id)
    watch = watch_of(app, fakes, "local")
    fakes.answers = dict(REDIS_DOWN)
    watch.look(utcnow())
    fakes.take()

    fakes.answers, fakes.fail_push = dict(UP), True
    watch.look(utcnow())
    assert fakes.take() == ([], [])
    assert not watch.ok  # still reconnecting, looked at again soon

    fakes.fail_push = False
    watch.look(utcnow())
    assert fakes.take() == ([(SERVICE, {"ok": True})], [[session_id]])


def test_sessions_of_are_the_rooms_of_this_instances_sockets(app, world, third_session):
    first, second = new_session(world), new_session(world, teacher="cara")
    socket_row("a", world.ann, "here", second)
    socket_row("b", world.ben, "here", first)
    socket_row("c", world.cara, "there", third_session)
    socket_row("d", world.dan, "here", None)
    assert sessions_of("here") == sorted([first, second])
    assert sessions_of("nowhere") == []


def test_real_sockets_hear_the_outage_and_the_stored_state_after_it(
    app, world, people, token_socket
):
    """The real local emit and snapshot push, to the sockets of this process."""
    session_id = new_session(world)
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    ok(people.ben.emit("join_session", {"session_id": session_id}))
    answers = dict(UP)
    watch = ServiceWatch(app, app.config["ALLY_INSTANCE"], answers=lambda: answers)
    for sock in (people.ann, people.ben, people.cara):
        sock.take()

    answers["redis"] = REDIS_DOWN["redis"]
    watch.look(utcnow())
    watch.look(utcnow())
    for sock in (people.ann, people.ben, people.cara):
        # Every socket of the process, in a room or not.
        assert sock.take() == [(SERVICE, {"ok": False, "message": RECONNECTING})]

    # A socket opened during the outage hears of it at the next look.
    late = token_socket(world.dan)
    late.take()
    watch.look(utcnow())
    assert late.take() == [(SERVICE, {"ok": False, "message": RECONNECTING})]
    assert people.ann.take() == []

    # A change stored meanwhile, whose push was lost with the queue.
    ok(people.ann.emit("set_topic", {"session_id": session_id, "title": "Tides"}))
    people.ann.take(), people.ben.take()

    answers["redis"] = OK
    watch.look(utcnow())
    for sock in (people.ann, people.ben):
        received = sock.take()
        [state] = named(received, "session_state")
        assert state["turns"][0]["topic"] == "Tides"
        assert received[-1] == (SERVICE, {"ok": True})  # after the state
    assert people.cara.take() == [(SERVICE, {"ok": True})]
    assert late.take() == [(SERVICE, {"ok": True})]


def test_without_a_queue_only_the_database_is_asked(app):
    assert service_answers(app) == {"database": OK}


def test_the_real_republish_is_publish_many(app):
    assert ServiceWatch(app, "local").republish is publish_many
