"""A dead server's sockets count as gone for everyone within 30 seconds
(DESIGN.md §6): two `python app.py` processes on PostgreSQL share rooms through
Redis; partner A is on process 1, partner B on process 2. Process 2 is killed
with SIGKILL, so nothing of it says goodbye: process 1's heartbeat notices the
silence (ALLY_HEARTBEAT_SECONDS=5, ALLY_INSTANCE_DEAD_SECONDS=20, the
defaults), forgets B's socket and tells A's room B is offline.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, select

from ally.models import LiveSocket, ServerInstance
from tests.live.room_kit import (
    RoomClient,
    assert_clean_log,
    close_all,
    extra_session,
    pair,
    two_web_processes,
)

pytestmark = [pytest.mark.live, pytest.mark.postgres, pytest.mark.redis]

SECRET_KEY = "ally-live-presence-tests"
PROMISE = 30.0  # seconds, DESIGN.md §6
GRACE = 15.0  # waited beyond the promise only to report how late it came


SETTINGS = {
    "SECRET_KEY": SECRET_KEY,
    "ALLY_HEARTBEAT_SECONDS": "5",  # only the heartbeats reap
    "ALLY_INSTANCE_DEAD_SECONDS": "20",
}


def test_a_killed_process_partner_goes_offline_within_30_seconds(tmp_path):
    with two_web_processes(tmp_path, SETTINGS) as (first, second, database_url):
        clients: list[RoomClient] = []
        engine = create_engine(database_url)
        try:
            ann, ben, pid = pair(first, "Ann", "Ben")
            sid = extra_session(first, ann, pid, turns=2, teach=600, rate=60)
            a = RoomClient(first, ann).connect()
            b = RoomClient(second, ben, reconnection=False).connect()
            clients += [a, b]
            a.join(sid)
            both = b.join(sid)
            assert {p["user_id"]: p["online"] for p in both["participants"]} == {
                ann.id: True,
                ben.id: True,
            }
            # B's arrival reached A through Redis: the processes share the room.
            a.wait_event(
                ("presence",),
                lambda p: (
                    (p["session_id"], p["user_id"], p["online"]) == (sid, ben.id, True)
                ),
            )
            with engine.connect() as connection:
                held = connection.execute(
                    select(LiveSocket.instance).where(LiveSocket.user_id == ben.id)
                ).scalars()
                assert [name.endswith(f":{second.port}") for name in held] == [True]

            assert second.kill() == -9
            killed_at = time.time()
            _, seen_at = a.wait_event(
                ("presence",),
                lambda p: (
                    (p["session_id"], p["user_id"], p["online"]) == (sid, ben.id, False)
                ),
                timeout=PROMISE + GRACE,
            )
            after = seen_at - killed_at
            print(f"\npresence offline {after:.1f} s after kill -9 (promise: 30 s)")
            assert after <= PROMISE, after

            # A fresh snapshot agrees: B is offline, A still online.
            state = a.ok("join_session", {"session_id": sid})["state"]
            assert {p["user_id"]: p["online"] for p in state["participants"]} == {
                ann.id: True,
                ben.id: False,
            }
            with engine.connect() as connection:
                left = connection.execute(
                    select(LiveSocket.sid).where(LiveSocket.user_id == ben.id)
                ).all()
                beating = connection.execute(select(ServerInstance.name)).scalars()
                assert left == []
                assert not any(name.endswith(f":{second.port}") for name in beating)
            assert_clean_log(first)
        finally:
            close_all(clients)
            engine.dispose()
