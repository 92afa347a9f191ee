"""The ICE servers a session's member is given for the call."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from ...domain.call import ice_servers, is_polite, turn_login, url_list
from ..room import load_session
from .signalling import require_call_open


def ice_config(user_id: int, session_id: Any, now: datetime) -> dict[str, Any]:
    """STUN and TURN servers (TURN with credentials for this user, valid for the
    configured time), the transport policy, and whether this side is polite;
    only while the call is open."""
    session = load_session(user_id, session_id)
    # Credentials for the relay only while the two may talk.
    require_call_open(session, now)
    config = current_app.config
    ttl_seconds = int(config["ALLY_TURN_TTL_SECONDS"])
    turn_urls = url_list(config["ALLY_TURN_URLS"])
    secret = config["ALLY_TURN_SECRET"]
    login = (
        turn_login(secret, user_id, now, timedelta(seconds=ttl_seconds))
        if turn_urls and secret
        else None
    )
    partner = next((m for m in session.member_ids() if m != user_id), None)
    return {
        "ice_servers": ice_servers(
            url_list(config["ALLY_STUN_URLS"]), turn_urls, login
        ),
        "ice_transport_policy": config["ALLY_ICE_TRANSPORT_POLICY"],
        "ttl_seconds": ttl_seconds,
        "polite": partner is None or is_polite(user_id, partner),
    }
