"""Finding a partner: suggestions, partner requests and blocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from ..domain.availability import earliest_daily_start, parse_hhmm
from ..domain.matching import Suggestion, normalize_label, rank_candidates
from ..extensions import db
from ..models import Block, PartnerRequest, Partnership, User, pair_key, utcnow
from . import matching_data, notifications, schedule
from .errors import Conflict, Invalid, NotFound
from .profiles import windows_from_json
from .storable import require_storable

MAX_MESSAGE = 500
FALLBACK_DAILY_MINUTE = 18 * 60


@dataclass(frozen=True)
class SuggestedPartner:
    """A ranked candidate with what the page and the API show about them."""

    user_id: int
    display_name: str
    timezone: str
    exam: str | None
    suggestion: Suggestion
    pending: str | None  # "sent", "received" or None


@dataclass(frozen=True)
class Suggestions:
    """The ranked list, and whether the seeker can take a partner at all."""

    items: list[SuggestedPartner]
    at_limit: bool


def _limit() -> int:
    return int(current_app.config["ALLY_MAX_PARTNERSHIPS"])


def _session_minutes() -> int:
    return int(current_app.config["ALLY_SESSION_MINUTES"])


def _pending_with(user_id: int) -> dict[int, str]:
    """Other user id -> "sent"/"received" for the user's pending requests."""
    rows = db.session.execute(
        select(PartnerRequest.from_user_id, PartnerRequest.to_user_id).where(
            PartnerRequest.status == "pending",
            or_(
                PartnerRequest.from_user_id == user_id,
                PartnerRequest.to_user_id == user_id,
            ),
        )
    )
    return {
        (to_id if from_id == user_id else from_id): (
            "sent" if from_id == user_id else "received"
        )
        for from_id, to_id in rows
    }


def suggest_partners(
    user_id: int,
    now: datetime,
    *,
    exam: str | None = None,
    subject: str | None = None,
    min_overlap: int = 0,
    limit: int | None = None,
) -> Suggestions:
    """Compatible partners for the user, best first, in a fixed number of queries."""
    expire_requests(now)
    seeker = matching_data.load_person(user_id)
    if seeker is None:
        raise NotFound("No such user.")
    at_limit = matching_data.open_partnership_count(user_id) >= _limit()
    candidates = matching_data.load_candidates(user_id, _limit())
    if exam:
        wanted = normalize_label(exam)
        candidates = [c for c in candidates if normalize_label(c.exam or "") == wanted]
    if subject:
        wanted = normalize_label(subject)
        candidates = [
            c for c in candidates if wanted in {normalize_label(s) for s in c.subjects}
        ]
    ranked = rank_candidates(
        seeker,
        candidates,
        now,
        session_minutes=_session_minutes(),
        min_overlap=min_overlap,
        limit=limit or current_app.config["ALLY_SUGGESTION_LIMIT"],
    )
    by_id = {c.user_id: c for c in candidates}
    pending = _pending_with(user_id)
    items = [
        SuggestedPartner(
            user_id=s.user_id,
            display_name=by_id[s.user_id].display_name,
            timezone=by_id[s.user_id].timezone,
            exam=by_id[s.user_id].exam,
            suggestion=s,
            pending=pending.get(s.user_id),
        )
        for s in ranked
    ]
    return Suggestions(items=items, at_limit=at_limit)


def expire_requests(now: datetime) -> int:
    """Mark pending requests past their expiry as expired; returns how many."""
    result = db.session.execute(
        update(PartnerRequest)
        .where(PartnerRequest.status == "pending", PartnerRequest.expires_at <= now)
        .values(status="expired")
    )
    db.session.commit()
    return result.rowcount


def _is_blocked(a: int, b: int) -> bool:
    return (
        db.session.scalar(
            select(Block.id).where(
                or_(
                    (Block.blocker_id == a) & (Block.blocked_id == b),
                    (Block.blocker_id == b) & (Block.blocked_id == a),
                )
            )
        )
        is not None
    )


def _visible_user(viewer_id: int, other_id: int) -> User:
    """Another user the viewer may see; NotFound for unknown or blocked."""
    other = db.session.get(User, other_id) if other_id != viewer_id else None
    if other is None or _is_blocked(viewer_id, other_id):
        raise NotFound("No such user.")
    return other


def _partners_already(a: int, b: int) -> bool:
    return (
        db.session.scalar(
            select(Partnership.id).where(
                Partnership.status.in_(matching_data.OPEN_PARTNERSHIP),
                or_(
                    (Partnership.user_a_id == a) & (Partnership.user_b_id == b),
                    (Partnership.user_a_id == b) & (Partnership.user_b_id == a),
                ),
            )
        )
        is not None
    )


def clean_message(message: str | None) -> str:
    """A request message of at most 500 characters."""
    if message is None:
        return ""
    if not isinstance(message, str):
        raise Invalid("Message must be text.", field="message")
    message = require_storable(message, "message").strip()
    if len(message) > MAX_MESSAGE:
        raise Invalid(
            f"Use at most {MAX_MESSAGE} characters for the message.", field="message"
        )
    return message


def send_request(
    from_id: int, to_id: int, message: str | None, now: datetime
) -> PartnerRequest:
    """Ask another user to be partners."""
    message = clean_message(message)
    if from_id == to_id:
        raise Invalid("You cannot send a request to yourself.", field="to_user_id")
    _visible_user(from_id, to_id)
    expire_requests(now)
    if _partners_already(from_id, to_id):
        raise Conflict("You two are already partners.")
    if matching_data.open_partnership_count(from_id) >= _limit():
        raise Conflict("You already have a partner; end that partnership first.")
    if matching_data.open_partnership_count(to_id) >= _limit():
        raise Conflict("That student already has a partner.")
    existing = db.session.scalar(
        select(PartnerRequest).where(
            PartnerRequest.pair_key == pair_key(from_id, to_id),
            PartnerRequest.status == "pending",
        )
    )
    if existing is not None:
        if existing.from_user_id == to_id:
            raise Conflict("They already asked you: accept their request instead.")
        raise Conflict("You already have a pending request to this student.")
    ttl = timedelta(days=int(current_app.config["ALLY_REQUEST_TTL_DAYS"]))
    request = PartnerRequest(
        from_user_id=from_id,
        to_user_id=to_id,
        pair_key=pair_key(from_id, to_id),
        message=message,
        status="pending",
        created_at=now,
        expires_at=now + ttl,
    )
    db.session.add(request)
    try:
        db.session.commit()
    except IntegrityError as exc:  # a simultaneous request between the same pair
        db.session.rollback()
        raise Conflict("A request between you two is already pending.") from exc
    notifications.notify(
        to_id,
        "request_received",
        f"{request.from_user.display_name} asked you to be study partners.",
        "/requests",
        dedupe_key=f"request:{request.id}",
        now=now,
    )
    return request


def list_requests(
    user_id: int, now: datetime, status: str | None = None
) -> list[PartnerRequest]:
    """Requests the user sent or received, newest first."""
    expire_requests(now)
    query = (
        select(PartnerRequest)
        .where(
            or_(
                PartnerRequest.from_user_id == user_id,
                PartnerRequest.to_user_id == user_id,
            )
        )
        .order_by(PartnerRequest.created_at.desc(), PartnerRequest.id.desc())
        .limit(200)
    )
    if status:
        query = query.where(PartnerRequest.status == status)
    return list(db.session.scalars(query))


def _pending_request(request_id: int, now: datetime, **owner) -> PartnerRequest:
    expire_requests(now)
    request = db.session.get(PartnerRequest, request_id)
    if request is None or any(getattr(request, k) != v for k, v in owner.items()):
        raise NotFound("No such partner request.")
    if request.status != "pending":
        raise Conflict(f"This request is no longer pending (it was {request.status}).")
    return request


def _lock_users(*user_ids: int) -> list[User]:
    """Load and lock the users so partnership limits hold under concurrency."""
    if db.engine.dialect.name == "sqlite":
        # SQLite has no row locks (FOR UPDATE is ignored): a no-op write takes
        # the database's write lock, so no other writer interleaves with the
        # checks that follow and they see every earlier commit.
        db.session.execute(
            update(User)
            .where(User.id.in_(user_ids))
            .values(auth_version=User.auth_version)
            .execution_options(synchronize_session=False)
        )
    return list(
        db.session.scalars(
            select(User)
            .where(User.id.in_(user_ids))
            .order_by(User.id)
            .with_for_update()
        )
    )


def _daily_start(requester: User, accepter: User, now: datetime) -> int:
    """The earliest shared daily start that fits a session, in the accepter's zone."""
    minute = earliest_daily_start(
        windows_from_json(requester.profile.availability),
        requester.timezone,
        windows_from_json(accepter.profile.availability),
        accepter.timezone,
        accepter.timezone,
        now,
        _session_minutes(),
    )
    if minute is not None:
        return minute
    # No shared hour any more (profiles changed since the request): start from the
    # accepter's own first window; either partner can propose another time.
    own = accepter.profile.availability
    if own:
        return parse_hhmm(own[0]["start"])
    return FALLBACK_DAILY_MINUTE


def _cancel_pending_of_full(user_ids: list[int], now: datetime) -> None:
    full = [
        uid for uid in user_ids if matching_data.open_partnership_count(uid) >= _limit()
    ]
    if not full:
        return
    db.session.execute(
        update(PartnerRequest)
        .where(
            PartnerRequest.status == "pending",
            or_(
                PartnerRequest.from_user_id.in_(full),
                PartnerRequest.to_user_id.in_(full),
            ),
        )
        .values(status="cancelled", responded_at=now)
    )


def _start_partnership(requester: User, accepter: User, now: datetime) -> Partnership:
    """A new active partnership, its daily time fixed in the accepter's zone."""
    partnership = Partnership(
        user_a_id=requester.id,
        user_b_id=accepter.id,
        daily_minute=_daily_start(requester, accepter, now),
        timezone=accepter.timezone,
        session_minutes=_session_minutes(),
        turns=4,
        weekdays=127,
        status="active",
        created_at=now,
    )
    db.session.add(partnership)
    db.session.flush()
    _cancel_pending_of_full([requester.id, accepter.id], now)
    return partnership


def accept_request(user_id: int, request_id: int, now: datetime) -> Partnership:
    """Accept a request addressed to the user and start the partnership."""
    request = _pending_request(request_id, now, to_user_id=user_id)
    _lock_users(request.from_user_id, request.to_user_id)
    db.session.refresh(request)
    if request.status != "pending":  # answered by a racing request meanwhile
        raise Conflict(f"This request is no longer pending (it was {request.status}).")
    for uid in (request.from_user_id, request.to_user_id):
        if matching_data.open_partnership_count(uid) >= _limit():
            who = "You already have" if uid == user_id else "They already have"
            raise Conflict(f"{who} a partner; the request cannot be accepted.")
    requester, accepter = request.from_user, request.to_user
    request.status = "accepted"
    request.responded_at = now
    partnership = _start_partnership(requester, accepter, now)
    db.session.commit()
    notifications.notify(
        requester.id,
        "request_accepted",
        f"{accepter.display_name} accepted your request: you are study partners.",
        f"/partnerships/{partnership.id}",
        dedupe_key=f"accepted:{request.id}",
        now=now,
    )
    return partnership


def create_auto_partnership(a: int, b: int, now: datetime) -> Partnership | None:
    """Pair two users the auto-match pool chose; None if either is no longer free."""
    users = {u.id: u for u in _lock_users(a, b)}
    if len(users) != 2 or _is_blocked(a, b):
        return None
    if any(matching_data.open_partnership_count(uid) >= _limit() for uid in (a, b)):
        return None
    if not all(
        u.profile.auto_match and u.profile.looking_for_partner for u in users.values()
    ):
        return None
    # The one with the lower id proposes, the other's zone fixes the time (as if
    # they had accepted a request): a stable, explainable rule.
    partnership = _start_partnership(users[a], users[b], now)
    db.session.execute(
        update(PartnerRequest)
        .where(
            PartnerRequest.pair_key == pair_key(a, b),
            PartnerRequest.status == "pending",
        )
        .values(status="accepted", responded_at=now)
    )
    db.session.commit()
    for me, other in ((a, b), (b, a)):
        notifications.notify(
            me,
            "auto_matched",
            f"Auto-match paired you with {users[other].display_name}: "
            "your daily teach-back hour is set.",
            f"/partnerships/{partnership.id}",
            dedupe_key=f"auto:{partnership.id}:{me}",
            now=now,
        )
    return partnership


def decline_request(user_id: int, request_id: int, now: datetime) -> PartnerRequest:
    """Decline a request addressed to the user."""
    request = _pending_request(request_id, now, to_user_id=user_id)
    request.status = "declined"
    request.responded_at = now
    db.session.commit()
    return request


def cancel_request(user_id: int, request_id: int, now: datetime) -> PartnerRequest:
    """Withdraw a request the user sent."""
    request = _pending_request(request_id, now, from_user_id=user_id)
    request.status = "cancelled"
    request.responded_at = now
    db.session.commit()
    return request


def block_user(user_id: int, other_id: int, now: datetime) -> None:
    """Hide two users from each other; pending requests and partnerships end.

    An unknown id is answered like a known one (nothing is stored for it), so
    blocking cannot be used to find out which accounts exist."""
    if other_id == user_id:
        raise Invalid("You cannot block yourself.", field="user_id")
    if db.session.get(User, other_id) is None:
        return
    exists = db.session.scalar(
        select(Block.id).where(
            Block.blocker_id == user_id, Block.blocked_id == other_id
        )
    )
    if exists is None:
        db.session.add(Block(blocker_id=user_id, blocked_id=other_id, created_at=now))
    db.session.execute(
        update(PartnerRequest)
        .where(
            PartnerRequest.pair_key == pair_key(user_id, other_id),
            PartnerRequest.status == "pending",
        )
        .values(status="cancelled", responded_at=now)
    )
    ended = db.session.scalars(
        update(Partnership)
        .where(
            Partnership.status.in_(matching_data.OPEN_PARTNERSHIP),
            or_(
                (Partnership.user_a_id == user_id)
                & (Partnership.user_b_id == other_id),
                (Partnership.user_a_id == other_id)
                & (Partnership.user_b_id == user_id),
            ),
        )
        .values(status="ended", ended_at=now, proposal=None, proposed_by_id=None)
        .returning(Partnership.id)
    ).all()
    for partnership_id in ended:
        schedule.drop_future_sessions(partnership_id, now, cancel_open=True)
    db.session.commit()


def unblock_user(user_id: int, other_id: int) -> None:
    """Remove a block the user made."""
    block = db.session.scalar(
        select(Block).where(Block.blocker_id == user_id, Block.blocked_id == other_id)
    )
    if block is None:
        raise NotFound("You have not blocked that user.")
    db.session.delete(block)
    db.session.commit()


def list_blocks(user_id: int) -> list[Block]:
    """The users this user has blocked."""
    return list(
        db.session.scalars(
            select(Block).where(Block.blocker_id == user_id).order_by(Block.id.desc())
        )
    )


@dataclass(frozen=True)
class ShownBlock:
    """A block as its maker sees it: `user` only when they have met that user
    through a request or a partnership (else just the id)."""

    user_id: int
    user: User | None
    created_at: datetime


def list_blocks_shown(user_id: int) -> list[ShownBlock]:
    """The user's blocks, newest first, naming only users they have met (a
    block of an id typed by hand must not reveal whose it is)."""
    blocks = list_blocks(user_id)
    ids = [b.blocked_id for b in blocks]
    met: set[int] = set()
    if ids:
        requests = select(PartnerRequest.from_user_id, PartnerRequest.to_user_id).where(
            or_(
                (PartnerRequest.from_user_id == user_id)
                & PartnerRequest.to_user_id.in_(ids),
                (PartnerRequest.to_user_id == user_id)
                & PartnerRequest.from_user_id.in_(ids),
            )
        )
        pairs = select(Partnership.user_a_id, Partnership.user_b_id).where(
            or_(
                (Partnership.user_a_id == user_id) & Partnership.user_b_id.in_(ids),
                (Partnership.user_b_id == user_id) & Partnership.user_a_id.in_(ids),
            )
        )
        for statement in (requests, pairs):
            for a, b in db.session.execute(statement):
                met.add(b if a == user_id else a)
    return [
        ShownBlock(
            user_id=b.blocked_id,
            user=b.blocked if b.blocked_id in met else None,
            created_at=b.created_at,
        )
        for b in blocks
    ]


def count_incoming(user_id: int) -> int:
    """Pending, unexpired requests addressed to the user."""
    return db.session.scalar(
        select(db.func.count())
        .select_from(PartnerRequest)
        .where(
            PartnerRequest.to_user_id == user_id,
            PartnerRequest.status == "pending",
            PartnerRequest.expires_at > utcnow(),
        )
    )
