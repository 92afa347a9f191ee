"""A listener's kept facts hear a room change made on another process.

Two `python app.py` processes on PostgreSQL share rooms through Redis. Ben
listens on process 2, whose signal path keeps what its read said about the
room (services/room/kept_facts.py, here for a minute so only hearing the
change can drop it):

- Ann, the teacher, ends her turn on process 1: the room's snapshot reaches
  process 2 through the queue, which forgets the kept facts, so Ben's next
  signal is checked against the rating phase and refused, and nothing is
  stored for it.
- Ann and Ben share process 2, so Ben's signals are relayed there without the
  queue. Ann opens a second tab on process 1: its `presence` reaches process
  2 through the queue, the kept facts (which said no other process held a
  socket in the room) are dropped, and Ben's next signal reaches both tabs.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select

from ally.models import LiveSocket, Signal
from tests.live.room_kit import (
    RoomClient,
    assert_clean_log,
    close_all,
    extra_session,
    pair,
    two_web_processes,
)

pytestmark = [pytest.mark.live, pytest.mark.postgres, pytest.mark.redis]

# Kept for a minute: only hearing the change can drop them in time.
SETTINGS = {"SECRET_KEY": "ally-live-kept-facts", "ALLY_KEPT_FACTS_SECONDS": "60"}


def test_a_turn_ended_on_another_process_refuses_the_next_signal(tmp_path):
    with two_web_processes(tmp_path, SETTINGS) as (first, second, database_url):
        clients: list[RoomClient] = []
        engine = create_engine(database_url)
        try:
            ann, ben, pid = pair(first, "Ann", "Ben")
            sid = extra_session(first, ann, pid, turns=2, teach=600, rate=60)
            a = RoomClient(first, ann).connect()
            b = RoomClient(second, ben).connect()
            clients += [a, b]
            a.join(sid)
            state = b.join(sid)
            assert (state["phase"], state["turn"]) == ("teaching", 0)
            with engine.connect() as connection:
                [held] = connection.execute(
                    select(LiveSocket.instance).where(LiveSocket.user_id == ben.id)
                ).scalars()
            assert held.endswith(f":{second.port}")

            # The first signal reads the room and keeps it; the second uses it.
            for _ in range(2):
                b.ok("signal", {"session_id": sid, "kind": "lost"})
            a.wait_count("signal", 2)

            ended = a.ok("finish_turn", {"session_id": sid})["state"]
            assert ended["phase"] == "rating"
            # Process 2 delivers the snapshot after forgetting the facts.
            b.wait_event(("session_state",), lambda s: s["phase"] == "rating")
            refused = b.call("signal", {"session_id": sid, "kind": "lost"})
            assert refused["ok"] is False and refused["error"] == "wrong_phase", refused
            with engine.connect() as connection:
                count = connection.scalar(
                    select(func.count())
                    .select_from(Signal)
                    .where(Signal.session_id == sid)
                )
            assert count == 2
            assert_clean_log(first)
            assert_clean_log(second)
        finally:
            close_all(clients)
            engine.dispose()


def test_a_partner_arriving_on_another_process_gets_the_next_signal(tmp_path):
    with two_web_processes(tmp_path, SETTINGS) as (first, second, _):
        clients: list[RoomClient] = []
        try:
            ann, ben, pid = pair(first, "Ann", "Ben")
            sid = extra_session(first, ann, pid, turns=2, teach=600, rate=60)
            a = RoomClient(second, ann).connect()
            b = RoomClient(second, ben).connect()
            clients += [a, b]
            a.join(sid)
            b.join(sid)
            # Kept: no other process holds a socket in the room, so the relay
            # stays on process 2.
            for word in ("one", "two"):
                b.ok("signal", {"session_id": sid, "kind": "jargon", "word": word})
            a.wait_count("signal", 2)

            tab = RoomClient(first, ann).connect()
            clients.append(tab)
            tab.join(sid)
            b.wait_event(
                ("presence",),
                lambda p: p["user_id"] == ann.id and p["online"] is True,
            )
            b.ok("signal", {"session_id": sid, "kind": "jargon", "word": "three"})
            [relayed] = tab.wait_count("signal", 1)
            assert relayed["word"] == "three"
            assert [p["word"] for p in a.wait_count("signal", 3)] == [
                "one",
                "two",
                "three",
            ]
            assert_clean_log(first)
            assert_clean_log(second)
        finally:
            close_all(clients)
