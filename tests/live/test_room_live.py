"""The room protocol (DESIGN.md §6) against a real `python app.py` process, with
real python-socketio clients over websocket: a full session driven by the
partners, a turn ended by its deadline, a reconnect, and a restart mid-turn."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.live.room_kit import (
    Account,
    RoomClient,
    assert_clean_log,
    close_all,
    extra_session,
    partners,
    stored,
)
from tests.support.live_server import LiveServer
from tests.support.services import fresh_postgres_database

pytestmark = pytest.mark.live

SECRET_KEY = "ally-live-room-tests"


# --- the server and the accounts ------------------------------------------------


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[[], LiveServer]]:
    """Start `python app.py` on a fresh SQLite file, with the scheduler on."""
    servers: list[LiveServer] = []

    def start(**extra_env: str) -> LiveServer:
        env = {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ally.db'}",
            "SECRET_KEY": SECRET_KEY,
            "ALLY_SCHEDULER": "on",
            "ALLY_MIN_TEACH_SECONDS": "1",
            "ALLY_MIN_RATE_SECONDS": "1",
            "ALLY_AUTH_RATE_LIMIT": "1000 per minute",
            "SOCKETIO_MESSAGE_QUEUE": "",
            **extra_env,
        }
        server = LiveServer(env, log_path=tmp_path / "server.log")
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


# --- a websocket client ---------------------------------------------------------


@pytest.fixture
def make_client() -> Iterator[Callable[[LiveServer, Account], RoomClient]]:
    clients: list[RoomClient] = []

    def make(server: LiveServer, account: Account) -> RoomClient:
        client = RoomClient(server, account)
        clients.append(client)
        return client.connect()

    yield make
    close_all(clients)


def both_in_the_room(
    server: LiveServer, make_client, *, teach: int = 60, rate: int = 60
) -> tuple[Account, Account, int, RoomClient, RoomClient]:
    """Two new partners, a 2-turn extra session, both joined: ann, ben, sid, a, b."""
    ann, ben, pid = partners(server)
    sid = extra_session(server, ann, pid, turns=2, teach=teach, rate=rate)
    a, b = make_client(server, ann), make_client(server, ben)
    a.join(sid)
    b.join(sid)
    return ann, ben, sid, a, b


def instant(value: str | None) -> datetime:
    assert value is not None
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), value
    return parsed


def without_clock(state: dict) -> dict:
    """A snapshot minus `server_time` (the moment it was taken)."""
    return {key: value for key, value in state.items() if key != "server_time"}


def without_tallies(state: dict) -> dict:
    """Also minus the turns' signal tallies: a `signal` event, not a new
    `session_state`, tells the room about each signal."""
    plain = without_clock(state)
    plain["turns"] = [
        {key: value for key, value in turn.items() if key != "signals"}
        for turn in state["turns"]
    ]
    return plain


def assert_matches_database(state: dict, row: dict) -> None:
    """A room snapshot says what GET /api/v1/sessions/<id> says."""
    assert (state["session_id"], state["status"], state["phase"], state["turn"]) == (
        row["id"],
        row["status"],
        row["phase"],
        row["turn"],
    )
    assert instant(state["starts_at"]) == instant(row["starts_at"])
    if row["phase_ends_at"] is None:
        assert state["phase_ends_at"] is None
    else:
        assert instant(state["phase_ends_at"]) == instant(row["phase_ends_at"])
    stored_turns = {turn["index"]: turn for turn in row["turns"]}
    for turn in state["turns"]:
        saved = stored_turns.get(turn["index"])
        if saved is None:
            assert (turn["started_at"], turn["topic"], turn["simplicity"]) == (
                None,
                None,
                None,
            )
            continue
        for key in ("teacher_id", "listener_id", "topic", "simplicity", "summary"):
            assert turn[key] == saved[key], (turn["index"], key)
        for key in ("started_at", "teach_ends_at", "ended_at"):
            if saved[key] is None:
                assert turn[key] is None, (turn["index"], key)
            else:
                assert instant(turn[key]) == instant(saved[key]), (turn["index"], key)
        tally: dict[str, int] = {}
        for signal in saved["signals"]:
            tally[signal["kind"]] = tally.get(signal["kind"], 0) + 1
        assert turn["signals"] == tally, turn["index"]


# --- 1. a full session driven by the partners -----------------------------------

TOPICS = ["Nephron", "Frank-Starling", "Beta blockers", "Loop of Henle"]


def test_a_four_turn_session_driven_by_finish_and_rate(start_server, make_client):
    server = start_server()
    ann, ben, pid = partners(server)
    sid = extra_session(server, ann, pid, turns=4, teach=60, rate=60)
    a, b = make_client(server, ann), make_client(server, ben)

    waiting = a.join(sid)
    assert (waiting["status"], waiting["phase"]) == ("open", "waiting")
    started = b.join(sid)
    assert (started["status"], started["phase"], started["turn"]) == (
        "live",
        "teaching",
        0,
    )
    seen = 0

    def next_state(**expected: Any) -> dict:
        """Both clients get exactly one more session_state, the same one."""
        nonlocal seen
        seen += 1
        state = a.wait_count("session_state", seen)[seen - 1]
        assert b.wait_count("session_state", seen)[seen - 1] == state
        for key, value in expected.items():
            assert state[key] == value, (key, state)
        return state

    first = next_state(status="live", phase="teaching", turn=0)
    assert without_clock(first) == without_clock(started)
    for i, topic in enumerate(TOPICS):
        teacher, listener = (a, b) if i % 2 == 0 else (b, a)
        assert [t["teacher_id"] for t in first["turns"]][i] == teacher.account.id

        ack = teacher.ok("set_topic", {"session_id": sid, "title": topic})
        assert (ack["turn"], ack["topic"]) == (i, topic)
        assert next_state(phase="teaching", turn=i)["turns"][i]["topic"] == topic

        word = f"word{i}"
        listener.ok("signal", {"session_id": sid, "kind": "jargon", "word": word})
        listener.ok("signal", {"session_id": sid, "kind": "clear"})
        relayed, _ = teacher.wait_event(
            ("signal",), lambda p, i=i: p["turn"] == i and p["kind"] == "clear"
        )
        jargon_signal, _ = teacher.wait_event(
            ("signal",), lambda p, i=i: p["turn"] == i and p["kind"] == "jargon"
        )
        assert (jargon_signal["session_id"], jargon_signal["word"]) == (sid, word)
        assert relayed["word"] is None

        rating_ack = teacher.ok("finish_turn", {"session_id": sid})["state"]
        rating = next_state(phase="rating", turn=i)
        assert without_clock(rating) == without_clock(rating_ack)
        assert rating["turns"][i]["signals"] == {"jargon": 1, "clear": 1}

        # A self-rating in the pause says the teacher is ready: the room hears it.
        teacher.ok("self_rate", {"session_id": sid, "turn": i, "simplicity": 3})
        ready = next_state(phase="rating", turn=i)["turns"][i]
        assert (ready["teacher_ready"], ready["rated"]) == (True, False)
        text = f"{topic} in plain words, turn {i}."
        teacher.ok("summary", {"session_id": sid, "turn": i, "text": text})
        assert next_state(phase="rating", turn=i)["turns"][i]["summary"] == text

        rated = listener.ok(
            "rate",
            {
                "session_id": sid,
                "turn": i,
                "simplicity": i + 2,
                "note": f"note {i}",
                "jargon": [word],
            },
        )["rating"]
        assert rated["simplicity"] == i + 2
        if i + 1 < len(TOPICS):
            after = next_state(status="live", phase="teaching", turn=i + 1)
        else:
            after = next_state(status="completed", phase="done", turn=4)
        assert after["turns"][i]["simplicity"] == i + 2
        for client in (a, b):
            client.wait_event(("rated",), lambda p, i=i: p["turn"] == i)

    # Every change reached both clients once, in order; nothing came after.
    time.sleep(0.5)
    states = a.states()
    assert states == b.states()
    assert len(states) == seen == 1 + 5 * len(TOPICS)
    versions = [state["version"] for state in states]
    assert versions == sorted(versions)
    phase_changes = [
        state["version"]
        for before, state in zip(states, states[1:], strict=False)
        if (state["phase"], state["turn"]) != (before["phase"], before["turn"])
    ]
    assert len(phase_changes) == 2 * len(TOPICS)
    assert len(set(phase_changes)) == len(phase_changes)
    assert [r["turn"] for r in a.events("rated")] == [0, 1, 2, 3]

    row = stored(server, ann, sid)
    assert (row["status"], row["phase"]) == ("completed", "done")
    assert len(row["turns"]) == 4
    for i, turn in enumerate(row["turns"]):
        assert turn["index"] == i
        assert turn["teacher_id"] == (ann.id if i % 2 == 0 else ben.id)
        assert turn["topic"] == TOPICS[i]
        assert (turn["simplicity"], turn["note"], turn["jargon"]) == (
            i + 2,
            f"note {i}",
            [f"word{i}"],
        )
        assert turn["summary"] == f"{TOPICS[i]} in plain words, turn {i}."
        assert turn["self_simplicity"] == 3
        assert [(s["kind"], s["word"]) for s in turn["signals"]] == [
            ("jargon", f"word{i}"),
            ("clear", None),
        ]
        assert all(s["offset_ms"] >= 0 for s in turn["signals"])
        if i:
            # The next turn starts at once when the listener rates (the
            # teacher, having rated themselves, was ready already).
            previous = row["turns"][i - 1]
            assert instant(turn["started_at"]) == instant(previous["ended_at"])
    assert_matches_database(states[-1], row)
    assert_clean_log(server)


# --- 1b. one client's events keep their order ----------------------------------


@pytest.mark.parametrize("async_mode", ["gevent", "threading"])
def test_a_burst_of_signals_reaches_the_teacher_in_the_order_sent(
    start_server, make_client, async_mode
):
    server = start_server(ALLY_ASYNC_MODE=async_mode)
    ann, ben, sid, a, b = both_in_the_room(server, make_client)
    # Fired without waiting for each ack, as fast as a key held down (the
    # burst the rate limit allows): each handler must finish before the next.
    words = [f"w{n}" for n in range(8)]
    for word in words:
        b.sio.emit(
            "signal",
            {"session_id": sid, "kind": "jargon", "word": word},
            callback=partial(b._record, "ack"),
        )
    relayed = a.wait_count("signal", len(words))
    assert [p["word"] for p in relayed] == words
    acks = b.wait_count("ack", len(words))
    assert [ack["signal"]["word"] for ack in acks] == words
    stored_words = [s["word"] for s in stored(server, ann, sid)["turns"][0]["signals"]]
    assert stored_words == words
    assert_clean_log(server)


@pytest.mark.parametrize("async_mode", ["gevent", "threading"])
def test_an_acked_signal_is_committed_and_survives_a_kill(
    start_server, make_client, async_mode
):
    # No clock job (it writes too): the ack itself must wait for the commit of
    # the batch holding the signal (group commit, DESIGN.md §6), so each row is
    # in the database as its ack arrives, and a SIGKILL loses none of them.
    server = start_server(ALLY_ASYNC_MODE=async_mode, ALLY_SCHEDULER="off")
    ann, ben, sid, a, b = both_in_the_room(server, make_client)
    database = server.env["DATABASE_URL"].removeprefix("sqlite:///")

    def stored_words() -> list[str]:
        with closing(sqlite3.connect(database)) as connection:
            return [
                word
                for (word,) in connection.execute(
                    "SELECT word FROM signals WHERE session_id = ? ORDER BY id", (sid,)
                )
            ]

    words = [f"w{n}" for n in range(5)]
    for n, word in enumerate(words):
        b.ok("signal", {"session_id": sid, "kind": "jargon", "word": word})
        assert stored_words() == words[: n + 1]  # committed before the ack
    assert server.kill() == -9  # a crash: no chance to write anything more
    assert stored_words() == words


@pytest.mark.postgres
def test_signals_are_stored_by_a_gevent_server_on_postgresql(start_server, make_client):
    # Under gevent the batches are written on the thread pool (signal_store):
    # here with psycopg, on a database the server migrates itself.
    with fresh_postgres_database() as url:
        server = start_server(DATABASE_URL=url, ALLY_ASYNC_MODE="gevent")
        ann, ben, sid, a, b = both_in_the_room(server, make_client)
        words = [f"pg{n}" for n in range(5)]
        for word in words:
            b.ok("signal", {"session_id": sid, "kind": "jargon", "word": word})
        assert [p["word"] for p in a.wait_count("signal", len(words))] == words
        # Each ack came after its batch's commit (on the thread pool).
        turn = stored(server, ann, sid)["turns"][0]
        assert [s["word"] for s in turn["signals"]] == words
        assert_clean_log(server)
        assert server.stop() == 0


# --- 2. a turn ended by its deadline --------------------------------------------


def test_deadlines_move_the_phases_with_no_client_event(start_server, make_client):
    server = start_server()
    ann, ben, pid = partners(server)
    sid = extra_session(server, ann, pid, turns=2, teach=2, rate=2)
    a, b = make_client(server, ann), make_client(server, ben)
    a.join(sid)
    start = b.join(sid)
    assert (start["phase"], start["turn"]) == ("teaching", 0)
    two = timedelta(seconds=2)

    def state_of(phase: str, turn: int) -> tuple[dict, float]:
        return a.wait_event(
            ("session_state",),
            lambda s: (s["phase"], s["turn"]) == (phase, turn),
        )

    rating0, rating0_at = state_of("rating", 0)
    teaching1, _ = state_of("teaching", 1)
    rating1, rating1_at = state_of("rating", 1)
    done, _ = a.wait_event(("session_state",), lambda s: s["status"] == "completed")

    turn0 = rating0["turns"][0]
    started0 = instant(start["turns"][0]["started_at"])
    assert instant(turn0["started_at"]) == started0
    # The turn ends on its planned deadline exactly, not whenever the job ran.
    assert instant(turn0["teach_ends_at"]) == started0 + two
    assert instant(rating0["phase_ends_at"]) == started0 + 2 * two
    assert instant(turn0["rating_ends_at"]) == started0 + 2 * two
    assert rating0_at <= (started0 + two).timestamp() + 2.5

    turn1 = rating1["turns"][1]
    assert instant(teaching1["turns"][0]["ended_at"]) == started0 + 2 * two
    assert teaching1["turns"][0]["simplicity"] is None  # nobody rated: unrated
    assert instant(turn1["started_at"]) == started0 + 2 * two
    assert instant(turn1["teach_ends_at"]) == started0 + 3 * two
    assert rating1_at <= (started0 + 3 * two).timestamp() + 2.5
    assert instant(done["turns"][1]["ended_at"]) == started0 + 4 * two
    assert (done["phase"], done["turn"], done["phase_ends_at"]) == ("done", 2, None)

    # Both clients saw the same moves, and the database agrees.
    assert b.wait_event(("session_state",), lambda s: s["status"] == "completed")
    assert [s["version"] for s in a.states()] == [s["version"] for s in b.states()]
    row = stored(server, ben, sid)
    assert_matches_database(done, row)
    assert [t["simplicity"] for t in row["turns"]] == [None, None]
    assert_clean_log(server)


# --- 3. a reconnect -------------------------------------------------------------


def test_a_reconnecting_client_gets_the_database_state(start_server, make_client):
    server = start_server()
    ann, ben, sid, a, b = both_in_the_room(server, make_client)
    a.ok("set_topic", {"session_id": sid, "title": "Nephron"})
    b.ok("signal", {"session_id": sid, "kind": "jargon", "word": "osmolality"})
    b.ok("signal", {"session_id": sid, "kind": "lost"})
    a.wait_event(("signal",), lambda p: p["kind"] == "lost")

    old_sid = b.sio.sid
    b.close()
    a.wait_event(
        ("presence",), lambda p: p["user_id"] == ben.id and p["online"] is False
    )
    b.connect()
    assert b.sio.sid != old_sid
    rejoined = b.join(sid)

    # Ann saw Ben come, go, and come back.
    a.wait_count("presence", 4)  # Ann's own join, then Ben: on, off, on
    assert [p["online"] for p in a.events("presence") if p["user_id"] == ben.id] == [
        True,
        False,
        True,
    ]
    assert all(p["session_id"] == sid for p in a.events("presence"))

    # The snapshot is the database's state and the partner's latest state.
    assert (rejoined["phase"], rejoined["turn"]) == ("teaching", 0)
    assert rejoined["turns"][0]["topic"] == "Nephron"
    assert rejoined["turns"][0]["signals"] == {"jargon": 1, "lost": 1}
    assert [p["online"] for p in rejoined["participants"]] == [True, True]
    assert_matches_database(rejoined, stored(server, ben, sid))
    assert without_tallies(rejoined) == without_tallies(a.states()[-1])

    # The new socket is in the room: its signal reaches Ann, Ann's finish reaches it.
    b.ok("signal", {"session_id": sid, "kind": "slower"})
    a.wait_event(("signal",), lambda p: p["kind"] == "slower")
    rating = a.ok("finish_turn", {"session_id": sid})["state"]
    seen, _ = b.wait_event(("session_state",), lambda s: s["phase"] == "rating")
    assert without_clock(seen) == without_clock(rating)
    assert seen["turns"][0]["signals"] == {"jargon": 1, "lost": 1, "slower": 1}
    assert_clean_log(server)


# --- 4. a server restart mid-turn -----------------------------------------------


def test_a_restart_mid_turn_loses_nothing(start_server, make_client):
    server = start_server()
    teach = timedelta(seconds=8)
    ann, ben, sid, a, b = both_in_the_room(server, make_client, teach=8)

    # Turn 0 (Ann teaches) goes by quickly and is rated.
    a.ok("set_topic", {"session_id": sid, "title": "Nephron"})
    b.ok("signal", {"session_id": sid, "kind": "jargon", "word": "osmolality"})
    a.ok("finish_turn", {"session_id": sid})
    a.ok("self_rate", {"session_id": sid, "turn": 0, "simplicity": 4})
    a.ok("summary", {"session_id": sid, "turn": 0, "text": "Kidneys filter blood."})
    rating0 = {"turn": 0, "simplicity": 3, "note": "ok", "jargon": ["GFR"]}
    b.ok("rate", {"session_id": sid, **rating0})
    # Turn 1 (Ben teaches): a topic and signals, then the server goes down.
    b.ok("set_topic", {"session_id": sid, "title": "Frank-Starling"})
    a.ok("signal", {"session_id": sid, "kind": "slower"})
    a.ok("signal", {"session_id": sid, "kind": "jargon", "word": "preload"})
    before, _ = b.wait_event(
        ("session_state",),
        lambda s: (
            (s["phase"], s["turn"]) == ("teaching", 1)
            and s["turns"][1]["topic"] == "Frank-Starling"
        ),
    )
    started1 = instant(before["turns"][1]["started_at"])
    assert instant(before["turns"][1]["teach_ends_at"]) == started1 + teach
    sids = (a.sio.sid, b.sio.sid)
    received_before = (len(a.received), len(b.received))

    server.restart()

    # Both clients reconnect by themselves, join again and get the current state.
    for client, count in zip((a, b), received_before, strict=True):

        def rejoined(client=client, count=count):
            acks = [p for e, p, _ in client.received[count:] if e == "rejoined"]
            return acks[-1] if acks else None

        ack = client.wait("a rejoin after the restart", rejoined, timeout=20)
        assert ack["ok"] is True, ack
        state = ack["state"]
        assert state["turn"] == 1 and state["phase"] in ("teaching", "rating")
        assert state["turns"][1]["topic"] == "Frank-Starling"
        assert state["turns"][1]["signals"] == {"slower": 1, "jargon": 1}
        assert (state["turns"][0]["simplicity"], state["turns"][0]["summary"]) == (
            3,
            "Kidneys filter blood.",
        )
    assert a.sio.sid != sids[0] and b.sio.sid != sids[1]

    # The turn ends on its stored deadline, even though the server restarted.
    def state_in(payload: dict) -> dict:
        """A pushed session_state, or the state in a join ack."""
        return payload.get("state") or payload

    rating, _ = a.wait_event(
        ("session_state", "rejoined"),
        lambda p: (state_in(p).get("phase"), state_in(p).get("turn")) == ("rating", 1),
    )
    rating = state_in(rating)
    assert instant(rating["turns"][1]["started_at"]) == started1
    assert instant(rating["turns"][1]["teach_ends_at"]) == started1 + teach
    assert_matches_database(rating, stored(server, ann, sid))

    # The room still works: Ann rates turn 1, Ben is done reflecting, and the
    # session completes (the pause waits for both).
    a.ok("rate", {"session_id": sid, "turn": 1, "simplicity": 5})
    b.ok("ready", {"session_id": sid, "turn": 1})
    for client in (a, b):
        client.wait_event(("session_state",), lambda s: s["status"] == "completed")

    row = stored(server, ann, sid)
    assert (row["status"], row["phase"]) == ("completed", "done")
    first, second = row["turns"]
    assert (first["topic"], first["simplicity"], first["note"], first["jargon"]) == (
        "Nephron",
        3,
        "ok",
        ["GFR"],
    )
    assert (first["summary"], first["self_simplicity"]) == ("Kidneys filter blood.", 4)
    assert [(s["kind"], s["word"]) for s in first["signals"]] == [
        ("jargon", "osmolality")
    ]
    assert (second["topic"], second["simplicity"]) == ("Frank-Starling", 5)
    assert instant(second["teach_ends_at"]) == started1 + teach
    assert [(s["kind"], s["word"]) for s in second["signals"]] == [
        ("slower", None),
        ("jargon", "preload"),
    ]
    assert server.log_text().count("--- start:") == 2
    assert_clean_log(server)
