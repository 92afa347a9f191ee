"""The call's pure rules: its window, the polite side, TURN credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from ally.domain.call import (
    call_open,
    clean_call,
    ice_servers,
    is_polite,
    turn_credential,
    turn_login,
    url_list,
)

START = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
OPENS = timedelta(minutes=10)


@pytest.mark.parametrize(
    ("status", "ended_at", "now", "expected"),
    [
        ("scheduled", None, START - timedelta(minutes=11), False),
        ("scheduled", None, START - timedelta(minutes=10), True),  # the room opens
        ("open", None, START - timedelta(minutes=30), True),
        ("live", None, END + timedelta(hours=2), True),
        ("completed", END, END + timedelta(minutes=15), True),
        ("completed", END, END + timedelta(minutes=15, seconds=1), False),
        ("completed", START + timedelta(minutes=5), END, False),  # ended early
        ("missed", None, END + timedelta(minutes=14), True),  # no ended_at: ends_at
        ("cancelled", None, END + timedelta(minutes=16), False),
    ],
)
def test_the_call_is_open_from_the_rooms_opening_until_15_minutes_after(
    status, ended_at, now, expected
):
    assert call_open(status, START, ended_at, END, now, OPENS) is expected


def test_exactly_one_side_is_polite():
    assert is_polite(3, 7) is True
    assert is_polite(7, 3) is False


def test_turn_login_follows_the_turn_rest_scheme():
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    login = turn_login("secret", 42, now, timedelta(hours=1))
    assert login.username == f"{int(now.timestamp()) + 3600}:42"
    digest = hmac.new(b"secret", login.username.encode(), hashlib.sha1).digest()
    assert login.credential == base64.b64encode(digest).decode()
    assert turn_credential("other", login.username) != login.credential


def test_ice_servers_leave_out_turn_without_a_login():
    assert ice_servers([], [], None) == []
    assert ice_servers(["stun:a"], ["turn:b"], None) == [{"urls": ["stun:a"]}]
    assert url_list(" turn:a:1 ,, turn:b:2 ") == ["turn:a:1", "turn:b:2"]


def test_clean_call_keeps_only_the_known_fields():
    data = {"candidate": "c", "sdpMid": "0", "sdpMLineIndex": 0}
    assert clean_call("candidate", data) == data
    assert clean_call("hangup", None) is None
    assert clean_call("media", {"audio": False, "video": True}) == {
        "audio": False,
        "video": True,
    }
