"""The delayed re-check: a turn's teacher, the next day, says how simply they
could explain its topic now; and the job that invites them to.

Rules (the window, the scale, the question) are `domain.recheck`'s. The turn
is always looked up through its teacher, so anyone else's turn (the listener's
too) is a NotFound, like every object that is not the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from ..domain import recheck as rules
from ..domain.timezones import zone
from ..extensions import db
from ..models import Rating, TeachSession, Turn, User
from . import notifications
from .errors import AlreadyRated, Invalid, NotFound, WrongPhase

NOTIFICATION_KIND = "recheck"
# A turn ends within its session; a session never lasts a day, so sessions that
# started a day before the oldest open window hold every turn still to invite.
SESSION_SPAN_AT_MOST = timedelta(days=1)
CHUNK = 500
MAX_ID = 2**31 - 1


def recheck_url(turn_id: int) -> str:
    """The re-check page of a turn (the invitation's link)."""
    return f"/turns/{turn_id}/recheck"


def _when(instant: datetime, timezone: str) -> str:
    """E.g. "Tue 8 Dec at 03:25" in the student's own zone."""
    local = instant.astimezone(zone(timezone))
    return f"{local:%a} {local.day} {local:%b} at {local:%H:%M}"


def _span(delta: timedelta) -> str:
    """E.g. "12 hours", "7 days"."""
    if delta % timedelta(days=1):
        hours = int(delta / timedelta(hours=1))
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{delta.days} day{'s' if delta.days != 1 else ''}"


@dataclass(frozen=True)
class RecheckTurn:
    """One turn as its re-check page and the API show it."""

    turn_id: int
    topic: str | None
    question: str
    state: str  # early, open, closed; "untaught" for a turn never taught
    opens_at: datetime | None
    closes_at: datetime | None
    simplicity: int | None  # the re-check, once given
    rechecked_at: datetime | None
    predicted: int | None
    self_simplicity: int | None
    partner: int | None
    timezone: str

    @property
    def done(self) -> bool:
        """Whether the re-check was given."""
        return self.simplicity is not None


UNTAUGHT = "untaught"


def _load(user_id: int, turn_id: Any) -> tuple[Turn, int | None, str]:
    """The user's own turn (as its teacher), its partner's rating, their zone."""
    if isinstance(turn_id, bool) or not isinstance(turn_id, int):
        raise NotFound("No such turn.")
    if not 0 < turn_id <= MAX_ID:
        raise NotFound("No such turn.")
    row = db.session.execute(
        select(Turn, Rating.simplicity, User.timezone)
        .join(User, User.id == Turn.teacher_id)
        .outerjoin(Rating, Rating.turn_id == Turn.id)
        .where(Turn.id == turn_id, Turn.teacher_id == user_id)
    ).first()
    if row is None:
        raise NotFound("No such turn.")
    return row[0], row[1], row[2]


def _view(turn: Turn, partner: int | None, timezone: str, now: datetime):
    taught = turn.started_at is not None and turn.ended_at is not None
    span = rules.window(turn.ended_at) if taught else None
    return RecheckTurn(
        turn_id=turn.id,
        topic=turn.topic,
        question=rules.question(turn.topic),
        state=span.state(now).value if span else UNTAUGHT,
        opens_at=span.opens_at if span else None,
        closes_at=span.closes_at if span else None,
        simplicity=turn.recheck_simplicity,
        rechecked_at=turn.rechecked_at,
        predicted=turn.predicted_simplicity,
        self_simplicity=turn.self_simplicity,
        partner=partner,
        timezone=timezone,
    )


def get_recheck(user_id: int, turn_id: Any, now: datetime) -> RecheckTurn:
    """The user's turn with its re-check window and state; NotFound for others."""
    turn, partner, timezone = _load(user_id, turn_id)
    return _view(turn, partner, timezone, now)


def refusal(view: RecheckTurn) -> AlreadyRated | WrongPhase | None:
    """Why a re-check cannot be given now (None when it can)."""
    if view.done:
        return AlreadyRated(
            f"You already re-checked this explanation ({view.simplicity}/5, "
            f"{_when(view.rechecked_at, view.timezone)}); a re-check is given once."
        )
    if view.state == UNTAUGHT:
        return WrongPhase("This turn was not taught, so there is nothing to re-check.")
    if view.state == rules.WindowState.EARLY:
        return WrongPhase(
            f"The re-check opens {_span(rules.RECHECK_OPENS_AFTER)} after the turn "
            f"ended: {_when(view.opens_at, view.timezone)} (your time). "
            "Come back then."
        )
    if view.state == rules.WindowState.CLOSED:
        return WrongPhase(
            f"The re-check closed {_span(rules.RECHECK_CLOSES_AFTER)} after the "
            f"turn ended: {_when(view.closes_at, view.timezone)} (your time)."
        )
    return None


def recheck(user_id: int, turn_id: Any, simplicity: Any, now: datetime) -> RecheckTurn:
    """Save the teacher's delayed re-check of a turn, once, within its window.

    NotFound (not the caller's turn), Invalid (not 1 to 5), AlreadyRated (given
    before), WrongPhase (not taught, or outside the window); nothing is
    written then."""
    turn, partner, timezone = _load(user_id, turn_id)
    problem = rules.simplicity_problem(simplicity)
    if problem is not None:
        raise Invalid(problem[0].upper() + problem[1:], field="simplicity")
    refused = refusal(_view(turn, partner, timezone, now))
    if refused is not None:
        raise refused
    # Compare-and-set: of two re-checks at once, one writes, the other is told.
    written = db.session.execute(
        update(Turn)
        .where(Turn.id == turn.id, Turn.recheck_simplicity.is_(None))
        .values(recheck_simplicity=simplicity, rechecked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if written != 1:
        db.session.rollback()
        db.session.expire_all()
        raise refusal(get_recheck(user_id, turn_id, now)) or AlreadyRated(
            "You already re-checked this explanation; a re-check is given once."
        )
    db.session.commit()
    db.session.expire(turn)
    return get_recheck(user_id, turn_id, now)


# --- the invitation ------------------------------------------------------------


def invite_due(now: datetime) -> int:
    """Invite each teacher, once, to re-check a turn whose window is open.

    Only taught turns with a topic, not yet re-checked nor invited; a turn
    whose window closed is never invited. Returns how many invitations went."""
    oldest, newest = rules.invitation_window(now)
    due = db.session.execute(
        select(Turn.id, Turn.teacher_id, Turn.topic)
        .join(TeachSession, TeachSession.id == Turn.session_id)
        .where(
            # The sessions' start index narrows the turns to the last days'.
            TeachSession.starts_at >= oldest - SESSION_SPAN_AT_MOST,
            TeachSession.starts_at <= newest,
            Turn.started_at.is_not(None),
            Turn.ended_at >= oldest,
            Turn.ended_at <= newest,
            Turn.topic != "",  # NULL equals nothing: no topic is left out too
            Turn.recheck_invited_at.is_(None),
            Turn.recheck_simplicity.is_(None),
        )
        .order_by(Turn.id)
    ).all()
    sent = 0
    for start in range(0, len(due), CHUNK):
        batch = due[start : start + CHUNK]
        # Compare-and-set: only turns still uninvited are ours to invite.
        claimed = set(
            db.session.scalars(
                update(Turn)
                .where(
                    Turn.id.in_([row.id for row in batch]),
                    Turn.recheck_invited_at.is_(None),
                )
                .values(recheck_invited_at=now)
                .returning(Turn.id)
                .execution_options(synchronize_session=False)
            ).all()
        )
        db.session.commit()
        sent += notifications.notify_many(
            [
                {
                    "user_id": row.teacher_id,
                    "kind": NOTIFICATION_KIND,
                    "text": rules.question(row.topic),
                    "url": recheck_url(row.id),
                    "dedupe_key": f"recheck:{row.id}",
                }
                for row in batch
                if row.id in claimed
            ],
            now,
        )
    return sent
