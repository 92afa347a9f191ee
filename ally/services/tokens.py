"""API tokens: create, list, revoke, and resolve a bearer token to a user."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select, update

from ..extensions import db
from ..models import ApiToken, LiveSocket, User, utcnow
from ..push import disconnect_socket
from .accounts import ENDED_SOCKET_VERSION
from .errors import Invalid, NotFound
from .room.kept_facts import kept_facts
from .storable import require_storable

MAX_TOKENS = 20
TOKEN_PREFIX = "ally_"
# Writing last_used_at on every request would turn reads into writes.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(user_id: int, name: str) -> tuple[ApiToken, str]:
    """Create a token; the raw value is returned once and never stored."""
    name = " ".join(require_storable(name or "", "name").split()) or "API token"
    if len(name) > 60:
        raise Invalid("Use at most 60 characters for the token name.", field="name")
    count = len(list_tokens(user_id))
    if count >= MAX_TOKENS:
        raise Invalid(f"You can have at most {MAX_TOKENS} tokens; revoke one first.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user_id, name=name, token_hash=_digest(raw), prefix=raw[:12]
    )
    db.session.add(token)
    db.session.commit()
    return token, raw


def list_tokens(user_id: int) -> list[ApiToken]:
    """The user's tokens, newest first."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.id.desc())
        )
    )


def revoke_token(user_id: int, token_id: int) -> None:
    """Delete one of the user's tokens; sockets it opened are refused and close."""
    # Marked before the delete: the foreign key then forgets which token they had.
    sids = list(
        db.session.scalars(
            update(LiveSocket)
            .where(LiveSocket.user_id == user_id, LiveSocket.api_token_id == token_id)
            .values(auth_version=ENDED_SOCKET_VERSION)
            .returning(LiveSocket.sid)
        )
    )
    result = db.session.execute(
        delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
    )
    if result.rowcount == 0:
        db.session.rollback()
        raise NotFound("No such token.")
    db.session.commit()
    for sid in sids:
        kept_facts().forget_socket(sid)  # its next signal reads the ended token
        disconnect_socket(sid)


def token_and_user(raw: str) -> tuple[ApiToken, User] | None:
    """A raw bearer token's row and its owner, or None."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(raw))
    )
    if token is None:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.commit()
    return token, db.session.get(User, token.user_id)


def user_for_token(raw: str) -> User | None:
    """The owner of a raw bearer token, or None."""
    found = token_and_user(raw)
    return found[1] if found else None
