"""A process declared dead while alive (its beat came too late) closes its
sockets, so their clients reconnect and register again instead of being
refused for ever."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ally import push, serving
from ally.extensions import db, socketio
from ally.models import ServerInstance, utcnow
from ally.services.room import instances


def test_a_beat_says_whether_the_instance_was_still_known(app):
    with app.app_context():
        now = utcnow()
        assert instances.beat("web-a", now) is False  # the first beat
        assert instances.beat("web-a", now + timedelta(seconds=5)) is True
        instances.reap("web-a", now + timedelta(seconds=30))  # declared dead
        assert instances.beat("web-a", now + timedelta(seconds=31)) is False


class Stop(Exception):
    """Ends the heartbeat loop after its rounds."""


def test_the_heartbeat_closes_its_sockets_when_it_finds_itself_declared_dead(
    app, monkeypatch
):
    app.config["ALLY_INSTANCE"] = "web-b"
    app.config["ALLY_HEARTBEAT_SECONDS"] = 0
    closed: list[int] = []
    rounds = {"n": 0}

    def after_round(_seconds):
        rounds["n"] += 1
        if rounds["n"] == 1:
            # Between two beats, another process declares this one dead.
            with app.app_context():
                instances.reap("web-b", utcnow())
                db.session.remove()
        elif rounds["n"] == 3:
            raise Stop

    monkeypatch.setattr(push, "close_local_sockets", lambda: closed.append(1) or 0)
    monkeypatch.setattr(socketio, "sleep", after_round)
    with pytest.raises(Stop):
        serving.heartbeat(app)
    # Round 1: the first beat (unknown, nothing to close); round 2: reaped
    # meanwhile, so its sockets close; round 3: known again.
    assert closed == [1]


def test_the_heartbeat_beats_while_requests_hold_every_pooled_connection(
    make_app, monkeypatch
):
    # Two pooled connections and no overflow: the heartbeat keeps one for its
    # beat, the "requests" below hold the other, and a third would wait.
    app = make_app(
        ALLY_INSTANCE="web-c",
        ALLY_HEARTBEAT_SECONDS=0,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 2, "max_overflow": 0, "pool_timeout": 0.2},
    )
    held = []
    beats: list = []
    rounds = {"n": 0}

    def after_round(_seconds):
        rounds["n"] += 1
        with app.app_context():
            if not held:
                held.append(db.engine.connect())  # every other connection is busy
            beats.append(
                held[0].scalar(
                    db.select(ServerInstance.beat_at).where(ServerInstance.name == "web-c")
                )
            )
            held[0].rollback()
            if rounds["n"] == 3:
                raise Stop

    monkeypatch.setattr(socketio, "sleep", after_round)
    with pytest.raises(Stop):
        serving.heartbeat(app)
    for connection in held:
        connection.close()
    first, second, third = beats
    assert first is not None and first < second < third
