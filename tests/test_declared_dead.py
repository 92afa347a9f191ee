"""A process's beat: written on a thread and a connection of its own, so a
busy process is not declared dead while alive; and one that was (its beat came
too late) closes its sockets, so their clients reconnect and register again
instead of being refused for ever."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from ally import push
from ally.extensions import db, socketio
from ally.heartbeat import Beat, heartbeat
from ally.models import ServerInstance, utcnow
from ally.services.room import instances


def test_a_beat_says_whether_the_instance_was_still_known(app):
    with app.app_context():
        now = utcnow()
        assert instances.beat("web-a", now) is False  # the first beat
        assert instances.beat("web-a", now + timedelta(seconds=5)) is True
        instances.reap("web-a", now + timedelta(seconds=30))  # declared dead
        assert instances.beat("web-a", now + timedelta(seconds=31)) is False


def test_a_beat_after_being_declared_dead_says_so(app):
    beat = Beat(app, "web-b", 5)
    assert beat.once() and not beat.declared_dead.is_set()  # the first beat
    assert beat.once() and not beat.declared_dead.is_set()
    instances.reap("web-b", utcnow())  # another process declares it dead
    db.session.remove()
    assert beat.once() and beat.declared_dead.is_set()


class Stop(Exception):
    """Ends the heartbeat loop after its rounds."""


def test_the_heartbeat_closes_its_sockets_when_its_beat_was_declared_dead(
    app, monkeypatch
):
    app.config["ALLY_INSTANCE"] = "web-b"
    beat = Beat(app, "web-b", 5)  # not started: the test says what it saw
    closed: list[int] = []
    rounds = {"n": 0}

    def after_round(_seconds):
        rounds["n"] += 1
        if rounds["n"] == 1:
            assert closed == []
            beat.declared_dead.set()
        elif rounds["n"] == 3:
            raise Stop

    monkeypatch.setattr(push, "close_local_sockets", lambda: closed.append(1) or 0)
    monkeypatch.setattr(socketio, "sleep", after_round)
    with pytest.raises(Stop):
        heartbeat(app, beat)
    assert closed == [1]  # once, in the round after
    assert not beat.declared_dead.is_set()


def beat_at(connection, name: str):
    found = connection.scalar(
        db.select(ServerInstance.beat_at).where(ServerInstance.name == name)
    )
    connection.rollback()
    return found


def test_the_beat_goes_on_while_requests_hold_every_pooled_connection(make_app):
    # Two pooled connections and no overflow: the beat keeps one, the
    # "requests" below hold the other, and a third would wait.
    app = make_app(
        SQLALCHEMY_ENGINE_OPTIONS={
            "pool_size": 2,
            "max_overflow": 0,
            "pool_timeout": 0.2,
        }
    )
    beat = Beat(app, "web-c", 5)
    assert beat.once()
    with app.app_context(), db.engine.connect() as held:
        first = beat_at(held, "web-c")
        assert beat.once()
        second = beat_at(held, "web-c")
    assert first is not None and second > first


def test_the_beat_runs_on_its_own_thread(app):
    beat = Beat(app, "web-d", 0.05).start()
    try:
        with app.app_context(), db.engine.connect() as connection:
            deadline = time.monotonic() + 20
            seen = set()
            while len(seen) < 3 and time.monotonic() < deadline:
                found = beat_at(connection, "web-d")
                if found is not None:
                    seen.add(found)
                time.sleep(0.02)
        assert len(seen) >= 3  # it beat again and again by itself
    finally:
        beat.stopped.set()


def test_the_beat_thread_is_a_real_thread_under_gevent(monkeypatch):
    spawned = []

    class Pool:
        def __init__(self, size):
            spawned.append(size)

        def spawn(self, function):
            spawned.append(function)

    import gevent.threadpool

    from ally import offload

    monkeypatch.setattr(offload, "_patched", lambda: True)
    monkeypatch.setattr(gevent.threadpool, "ThreadPool", Pool)
    offload.real_thread(print, "x")
    assert spawned == [1, print]
