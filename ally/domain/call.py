"""The call's rules: what a `call` event may carry, when, and TURN credentials.

Pure: no Flask, no database; `now` is passed in. The contract is DESIGN.md §10.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .vocabulary import CALL_KINDS, OVER, CallKind, Status

# How long after a session ends its partners may still talk (and say goodbye).
CALL_GRACE = timedelta(minutes=15)
MAX_SDP_BYTES = 32 * 1024
MAX_CANDIDATE_CHARS = 1024
MAX_MID_CHARS = 64
MAX_MLINE_INDEX = 1023
# Candidates come in bursts at the start of a call: about 50 a second.
CALL_RATE, CALL_BURST = 50.0, 50.0
ICE_TRANSPORT_POLICIES = ("all", "relay")


class BadCall(ValueError):
    """A `call` payload that breaks the contract; the message says how."""


def call_open(
    status: str,
    starts_at: datetime,
    ended_at: datetime | None,
    ends_at: datetime,
    now: datetime,
    opens_before: timedelta,
) -> bool:
    """True from the room's opening until CALL_GRACE after the session ended."""
    if status in (Status.OPEN, Status.LIVE):
        return True
    if status in OVER:
        return now <= (ended_at or ends_at) + CALL_GRACE
    # Scheduled: the clock job may not have opened the room yet.
    return now >= starts_at - opens_before


def is_polite(user_id: int, partner_id: int) -> bool:
    """Perfect negotiation's roles: the partner with the lower id yields on glare."""
    return user_id < partner_id


def clean_call(kind: Any, data: Any) -> dict[str, Any] | None:
    """The payload's data as relayed (only known fields), or BadCall."""
    if kind not in CALL_KINDS:
        raise BadCall(f"kind must be one of {', '.join(CALL_KINDS)}.")
    if kind in (CallKind.OFFER, CallKind.ANSWER):
        return _description(kind, data)
    if kind == CallKind.CANDIDATE:
        return None if data is None else _candidate(data)
    if kind == CallKind.HANGUP:
        if data is not None:
            raise BadCall("A hangup carries no data (null).")
        return None
    return _media(data)


def _description(kind: str, data: Any) -> dict[str, str]:
    if not isinstance(data, dict) or set(data) != {"type", "sdp"}:
        raise BadCall(f"An {kind} carries {{type, sdp}}.")
    if data["type"] != kind:
        raise BadCall(f"An {kind}'s type must be {kind!r}.")
    sdp = data["sdp"]
    if not isinstance(sdp, str) or not sdp:
        raise BadCall("sdp must be text.")
    if len(sdp.encode("utf-8", "surrogatepass")) > MAX_SDP_BYTES:
        raise BadCall("sdp is limited to 32 KiB.")
    return {"type": kind, "sdp": sdp}


def _candidate(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadCall(
            "A candidate is an object {candidate, sdpMid, sdpMLineIndex} or null."
        )
    unknown = set(data) - {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}
    if unknown or "candidate" not in data:
        raise BadCall("A candidate carries {candidate, sdpMid, sdpMLineIndex}.")
    candidate, mid = data["candidate"], data.get("sdpMid")
    index, fragment = data.get("sdpMLineIndex"), data.get("usernameFragment")
    if not isinstance(candidate, str) or len(candidate) > MAX_CANDIDATE_CHARS:
        raise BadCall("candidate must be text of at most 1024 characters.")
    if mid is not None and (not isinstance(mid, str) or len(mid) > MAX_MID_CHARS):
        raise BadCall("sdpMid must be short text or null.")
    if index is not None and not (
        isinstance(index, int)
        and not isinstance(index, bool)
        and 0 <= index <= MAX_MLINE_INDEX
    ):
        raise BadCall("sdpMLineIndex must be a small whole number or null.")
    if mid is None and index is None:
        raise BadCall("A candidate names its sdpMid or sdpMLineIndex.")
    if fragment is not None and (
        not isinstance(fragment, str) or len(fragment) > MAX_MID_CHARS
    ):
        raise BadCall("usernameFragment must be short text or null.")
    clean = {"candidate": candidate, "sdpMid": mid, "sdpMLineIndex": index}
    if fragment is not None:
        clean["usernameFragment"] = fragment
    return clean


def _media(data: Any) -> dict[str, bool]:
    if (
        not isinstance(data, dict)
        or set(data) != {"audio", "video"}
        or not all(isinstance(v, bool) for v in data.values())
    ):
        raise BadCall("media carries {audio: true|false, video: true|false}.")
    return {"audio": data["audio"], "video": data["video"]}


# --- TURN credentials (the TURN REST scheme coturn checks with use-auth-secret)


@dataclass(frozen=True)
class TurnLogin:
    """A time-limited TURN username and its credential."""

    username: str
    credential: str


def turn_login(secret: str, user_id: int, now: datetime, ttl: timedelta) -> TurnLogin:
    """Username `<expiry unix time>:<user id>`, credential base64(HMAC-SHA1)."""
    expiry = int((now + ttl).timestamp())
    username = f"{expiry}:{user_id}"
    return TurnLogin(username, turn_credential(secret, username))


def turn_credential(secret: str, username: str) -> str:
    """base64(HMAC-SHA1(secret, username)), as coturn's static-auth-secret expects."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def ice_servers(
    stun_urls: list[str],
    turn_urls: list[str],
    login: TurnLogin | None,
) -> list[dict[str, Any]]:
    """The RTCIceServer list a browser is given (empty: host candidates only)."""
    servers: list[dict[str, Any]] = []
    if stun_urls:
        servers.append({"urls": list(stun_urls)})
    if turn_urls and login is not None:
        servers.append(
            {
                "urls": list(turn_urls),
                "username": login.username,
                "credential": login.credential,
            }
        )
    return servers


def url_list(raw: str) -> list[str]:
    """A comma-separated setting as a list of URLs (blank entries dropped)."""
    return [part.strip() for part in raw.split(",") if part.strip()]
