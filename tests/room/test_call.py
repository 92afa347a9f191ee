"""The call's signalling (`call`, DESIGN §6/§10) and its ICE servers over HTTP.

A call message goes to the other participant's sockets in that session only:
not to the sender, not to another of the partner's pages, not to outsiders.
Every refusal changes nothing and reaches nobody.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import timedelta

import pytest

from ally.domain.call import MAX_SDP_BYTES
from ally.models import TeachSession, utcnow
from ally.services.call.signalling import FACTS_TTL, forget_facts
from tests.support.room import (
    assert_refused,
    change,
    named,
    new_session,
    ok,
)

SDP = "v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
CANDIDATE = {
    "candidate": "candidate:1 1 udp 41885439 127.0.0.1 50000 typ relay raddr 0.0.0.0"
    " rport 0",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
    "usernameFragment": "abcd",
}
VALID = {
    "offer": {"type": "offer", "sdp": SDP},
    "answer": {"type": "answer", "sdp": SDP},
    "candidate": CANDIDATE,
    "hangup": None,
    "media": {"audio": True, "video": False},
}


def _call(session_id: int, kind: str, data: object) -> dict:
    return {"session_id": session_id, "kind": kind, "data": data}


@pytest.fixture
def room(app, world, people):
    """A session both partners have joined; everyone's inbox emptied."""
    session_id = new_session(world)
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    ok(people.ben.emit("join_session", {"session_id": session_id}))
    for sock in (people.ann, people.ben, people.cara):
        sock.take()
    return session_id


@pytest.mark.parametrize("kind", sorted(VALID))
def test_each_kind_reaches_the_partner_only_with_the_senders_id(
    room, world, people, kind
):
    ack = ok(people.ann.emit("call", _call(room, kind, VALID[kind])))
    assert ack == {"ok": True}
    assert named(people.ben.take(), "call") == [
        {
            "session_id": room,
            "from_user_id": world.ann,
            "kind": kind,
            "data": VALID[kind],
        }
    ]
    assert people.ann.take() == []
    assert people.cara.take() == []


def test_the_end_of_candidates_is_relayed_as_null(room, people):
    ok(people.ben.emit("call", _call(room, "candidate", None)))
    assert named(people.ann.take(), "call")[0]["data"] is None


def test_a_partners_page_outside_the_room_hears_nothing(
    room, world, people, token_socket
):
    dashboard = token_socket(world.ben)  # Ben's second page, not in the room
    dashboard.take()
    ok(people.ann.emit("call", _call(room, "offer", VALID["offer"])))
    assert named(dashboard.take(), "call") == []
    assert len(named(people.ben.take(), "call")) == 1


def test_after_leaving_the_room_a_socket_hears_no_call(room, people):
    ok(people.ben.emit("leave_session", {"session_id": room}))
    people.ben.take()
    ok(people.ann.emit("call", _call(room, "media", VALID["media"])))
    assert named(people.ben.take(), "call") == []


def test_an_outsider_gets_not_found_and_nothing_reaches_anyone(app, room, people):
    assert_refused(
        app,
        people.cara,
        "call",
        (_call(room, "offer", VALID["offer"]),),
        "not_found",
        watchers=(people.ann, people.ben),
    )


BAD = [
    ("ring", None),
    ("offer", {"type": "offer", "sdp": "x" * (MAX_SDP_BYTES + 1)}),
    ("offer", {"type": "offer", "sdp": "é" * (MAX_SDP_BYTES // 2 + 1)}),
    ("offer", {"type": "answer", "sdp": SDP}),
    ("offer", {"type": "offer", "sdp": SDP, "extra": 1}),
    ("offer", {"type": "offer", "sdp": 5}),
    ("answer", None),
    ("candidate", "candidate:1 1 udp 1 127.0.0.1 1 typ host"),
    ("candidate", ["a"]),
    ("candidate", {"candidate": "c", "sdpMid": None, "sdpMLineIndex": None}),
    ("candidate", {"candidate": "c", "sdpMid": "0", "sdpMLineIndex": -1}),
    ("candidate", {"candidate": "c", "sdpMid": "0", "sdpMLineIndex": True}),
    ("candidate", {"candidate": "c" * 1025, "sdpMid": "0", "sdpMLineIndex": 0}),
    ("candidate", {"candidate": "c", "sdpMid": "0", "sdpMLineIndex": 0, "x": 1}),
    ("hangup", {"reason": "bye"}),
    ("media", {"audio": "yes", "video": False}),
    ("media", {"audio": True}),
    ("media", None),
]


@pytest.mark.parametrize(("kind", "data"), BAD)
def test_a_malformed_call_is_invalid_and_reaches_nobody(app, room, people, kind, data):
    assert_refused(
        app,
        people.ann,
        "call",
        (_call(room, kind, data),),
        "invalid",
        watchers=(people.ben,),
    )


def test_a_payload_that_is_not_an_object_is_invalid(app, room, people):
    assert_refused(
        app, people.ann, "call", ("offer",), "invalid", watchers=(people.ben,)
    )


def test_the_call_stays_open_15_minutes_after_the_end_then_closes(app, room, people):
    ended = utcnow() - timedelta(minutes=14)
    change(app, TeachSession, room, status="completed", phase="done", ended_at=ended)
    ok(people.ann.emit("call", _call(room, "hangup", None)))
    assert len(named(people.ben.take(), "call")) == 1

    change(app, TeachSession, room, ended_at=utcnow() - timedelta(minutes=16))
    forget_facts()  # what a message sees is at most FACTS_TTL (1 s) old
    assert_refused(
        app,
        people.ann,
        "call",
        (_call(room, "offer", VALID["offer"]),),
        "wrong_phase",
        watchers=(people.ben,),
    )


def test_before_the_room_opens_a_call_is_wrong_phase(app, world, people):
    session_id = new_session(world)
    later = utcnow() + timedelta(hours=1)
    change(
        app,
        TeachSession,
        session_id,
        status="scheduled",
        starts_at=later,
        ends_at=later + timedelta(hours=1),
    )
    assert_refused(
        app,
        people.ann,
        "call",
        (_call(session_id, "media", VALID["media"]),),
        "wrong_phase",
        watchers=(people.ben,),
    )


def test_a_burst_above_the_limit_is_rate_limited_and_not_relayed(room, people):
    acks = [
        people.ann.emit("call", _call(room, "candidate", CANDIDATE)) for _ in range(60)
    ]
    refused = [a for a in acks if a.get("error") == "rate_limited"]
    assert refused, "60 at once must exceed the limit of about 50"
    assert all(a.get("ok") is True for a in acks[:50])
    relayed = named(people.ben.take(), "call")
    assert len(relayed) == len(acks) - len(refused)


# --- ICE servers over HTTP ---------------------------------------------------------


TURN = {
    "ALLY_STUN_URLS": "stun:127.0.0.1:3478",
    "ALLY_TURN_URLS": (
        "turn:127.0.0.1:3478?transport=udp, turn:127.0.0.1:3478?transport=tcp"
    ),
    "ALLY_TURN_SECRET": "s3cret",
    "ALLY_TURN_TTL_SECONDS": 600,
    "ALLY_ICE_TRANSPORT_POLICY": "relay",
}


def test_ice_servers_carry_a_turn_credential_coturn_can_verify(app, world, browser_for):
    app.config.update(TURN)
    session_id = new_session(world)
    response = browser_for("ben@example.com").client.get(
        f"/api/v1/sessions/{session_id}/ice-servers"
    )
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    body = response.get_json()
    assert body["ice_transport_policy"] == "relay"
    assert body["ttl_seconds"] == 600
    assert body["polite"] is (world.ben < world.ann)
    stun, turn = body["ice_servers"]
    assert stun == {"urls": ["stun:127.0.0.1:3478"]}
    assert turn["urls"] == [
        "turn:127.0.0.1:3478?transport=udp",
        "turn:127.0.0.1:3478?transport=tcp",
    ]
    expiry, user = turn["username"].split(":")
    assert int(user) == world.ben
    assert 590 <= int(expiry) - time.time() <= 601
    expected = hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()
    assert base64.b64decode(turn["credential"]) == expected


def test_without_configuration_the_list_is_empty(app, world, browser_for):
    session_id = new_session(world)
    body = (
        browser_for("ann@example.com")
        .client.get(f"/api/v1/sessions/{session_id}/ice-servers")
        .get_json()
    )
    assert body["ice_servers"] == []
    assert body["ice_transport_policy"] == "all"
    # The two sides disagree on who is polite, so glare always resolves.
    assert body["polite"] is (world.ann < world.ben)


def test_ice_servers_are_404_to_an_outsider_and_401_to_nobody(app, world, browser_for):
    app.config.update(TURN)
    session_id = new_session(world)
    outsider = browser_for("cara@example.com").client
    response = outsider.get(f"/api/v1/sessions/{session_id}/ice-servers")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert "credential" not in response.get_data(as_text=True)
    anonymous = app.test_client().get(f"/api/v1/sessions/{session_id}/ice-servers")
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"ALLY_ICE_TRANSPORT_POLICY": "turn-only"}, "ALLY_ICE_TRANSPORT_POLICY"),
        ({"ALLY_TURN_URLS": "turn:x:3478"}, "ALLY_TURN_SECRET"),
        ({"ALLY_ICE_TRANSPORT_POLICY": "relay"}, "needs ALLY_TURN_URLS"),
        ({**TURN, "ALLY_TURN_TTL_SECONDS": 5}, "ALLY_TURN_TTL_SECONDS"),
        ({**TURN, "ALLY_TURN_URLS": "https://turn.example.org"}, "turn: or turns:"),
        ({"ALLY_STUN_URLS": "turn:x:3478"}, "stun: or stuns:"),
    ],
)
def test_call_settings_that_cannot_work_stop_the_start(make_app, settings, words):
    with pytest.raises(ValueError, match=words):
        make_app(**settings)


def test_a_block_closes_the_call_and_its_relay_at_once(
    app, room, world, people, browser_for
):
    from ally.services import partners

    ok(people.ann.emit("call", _call(room, "media", VALID["media"])))  # facts kept
    with app.app_context():
        partners.block_user(world.ben, world.ann, utcnow())
    forget_facts()  # what a message sees is at most FACTS_TTL (1 s) old
    people.ben.take()
    assert_refused(
        app,
        people.ann,
        "call",
        (_call(room, "media", VALID["media"]),),
        "wrong_phase",
        watchers=(people.ben,),
    )
    response = browser_for("ann@example.com").client.get(
        f"/api/v1/sessions/{room}/ice-servers"
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "wrong_phase"


def test_no_turn_credentials_outside_the_calls_window(app, world, browser_for):
    app.config.update(TURN)
    session_id = new_session(world)
    change(
        app,
        TeachSession,
        session_id,
        status="completed",
        phase="done",
        ended_at=utcnow() - timedelta(days=300),
    )
    response = browser_for("ann@example.com").client.get(
        f"/api/v1/sessions/{session_id}/ice-servers"
    )
    assert response.status_code == 409
    assert "credential" not in response.get_data(as_text=True)


def test_call_facts_are_kept_at_most_a_second(app, room, people, monkeypatch):
    """A burst reads the session once; a change is seen once FACTS_TTL passed."""
    from ally.services.call import signalling

    ok(people.ann.emit("call", _call(room, "media", VALID["media"])))
    change(
        app,
        TeachSession,
        room,
        status="completed",
        phase="done",
        ended_at=utcnow() - timedelta(hours=1),
    )
    ok(people.ann.emit("call", _call(room, "media", VALID["media"])))  # kept
    later = signalling._clock() + FACTS_TTL + 0.01
    monkeypatch.setattr(signalling, "_clock", lambda: later)
    ack = people.ann.emit("call", _call(room, "media", VALID["media"]))
    assert ack["ok"] is False and ack["error"] == "wrong_phase"
