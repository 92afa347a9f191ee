"""The daily teach-back hour: sessions from schedules, reminders, no-shows, stats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, or_, select, tuple_, update

from ..domain.schedule import (
    Occurrence,
    Schedule,
    occurrences,
    session_plan,
    turn_lengths,
)
from ..domain.timezones import local_date
from ..extensions import db
from ..models import (
    JobRun,
    Partnership,
    SessionParticipant,
    TeachSession,
    User,
)
from ..models.teach_session import OVER_STATUSES
from . import notifications
from .errors import Conflict, Invalid, NotFound
from .sql import insert_ignoring_conflicts
from .storable import require_storable

MATERIALIZE_AHEAD = timedelta(hours=2)  # covers the longest reminder
MAX_LOOKBACK = timedelta(days=7)
ALLOWED_TURNS = (2, 4, 6)
MAX_TEACH_SECONDS = 30 * 60
MAX_RATE_SECONDS = 10 * 60
MAX_TOPIC = 120
CHUNK = 500


@dataclass(frozen=True)
class SessionItem:
    """A session in a list: a stored row, or one computed from the schedule."""

    id: int | None
    partnership_id: int
    local_date: date
    starts_at: datetime
    ends_at: datetime
    status: str
    kind: str
    first_teacher_id: int | None
    partner_id: int | None


def schedule_of(partnership: Partnership) -> Schedule:
    """The domain schedule of a partnership."""
    return Schedule(
        partnership.daily_minute,
        partnership.timezone,
        Schedule.weekdays_from_mask(partnership.weekdays),
        partnership.session_minutes,
        partnership.turns,
        anchor_date=local_date(partnership.created_at, partnership.timezone),
    )


def _teachers(partnership: Partnership, occurrence: Occurrence) -> tuple:
    pair = (partnership.user_a_id, partnership.user_b_id)
    first = occurrence.first_teacher
    return pair[first], pair[1 - first]


def _session_row(partnership: Partnership, occurrence: Occurrence) -> dict:
    teach, rate = turn_lengths(partnership.session_minutes, partnership.turns)
    first, second = _teachers(partnership, occurrence)
    return {
        "partnership_id": partnership.id,
        "scheduled_date": occurrence.local_date,
        "local_date": occurrence.local_date,
        "kind": "scheduled",
        "starts_at": occurrence.starts_at,
        "ends_at": occurrence.ends_at,
        "status": "scheduled",
        "phase": "waiting",
        "current_turn": 0,
        "turns": partnership.turns,
        "teach_seconds": teach,
        "rate_seconds": rate,
        "first_teacher_id": first,
        "second_teacher_id": second,
        "version": 0,
        "created_at": occurrence.starts_at,
    }


def _last_run(job_id: str) -> datetime | None:
    run = db.session.get(JobRun, job_id)
    return run.last_run_at if run else None


def _opens_before() -> timedelta:
    return timedelta(minutes=int(current_app.config["ALLY_ROOM_OPENS_MINUTES"]))


def materialize_due(now: datetime) -> int:
    """Create session rows due soon (and missed during downtime); open rooms."""
    last = _last_run("open_sessions")
    since = max(min(last or now, now) - timedelta(hours=1), now - MAX_LOOKBACK)
    until = now + MATERIALIZE_AHEAD
    # Plain columns, not ORM objects: this runs every 15 s over every pair.
    cols = Partnership.__table__.c
    active = db.session.execute(
        select(
            cols.id,
            cols.user_a_id,
            cols.user_b_id,
            cols.daily_minute,
            cols.timezone,
            cols.session_minutes,
            cols.turns,
            cols.weekdays,
            cols.created_at,
        ).where(
            cols.status == "active",
            cols.user_a_id.is_not(None),
            cols.user_b_id.is_not(None),
        )
    ).all()
    # Rows already stored are not offered again (a local date's start can lie a
    # day either side of the window's UTC days).
    stored = set(
        db.session.execute(
            select(TeachSession.partnership_id, TeachSession.scheduled_date).where(
                TeachSession.starts_at >= since - timedelta(days=1),
                TeachSession.starts_at < until + timedelta(days=1),
                TeachSession.scheduled_date.is_not(None),
            )
        ).all()
    )
    rows: list[dict] = []
    for partnership in active:
        for occurrence in occurrences(schedule_of(partnership), since, until):
            # Meetings before the pair existed are not theirs to miss.
            if occurrence.starts_at <= partnership.created_at:
                continue
            if (partnership.id, occurrence.local_date) not in stored:
                rows.append(_session_row(partnership, occurrence))
    created = 0
    # executemany with one cached statement; the unique key still decides.
    insert = insert_ignoring_conflicts(
        TeachSession.__table__, ["partnership_id", "scheduled_date"]
    ).returning(TeachSession.id)
    for start in range(0, len(rows), CHUNK):
        created += len(db.session.execute(insert, rows[start : start + CHUNK]).all())
    _add_participants(since, until)
    db.session.commit()
    return created + open_rooms(now)


def _add_participants(since: datetime, until: datetime) -> None:
    """Give every session in the window its two participant rows (idempotent)."""
    for column in (TeachSession.first_teacher_id, TeachSession.second_teacher_id):
        source = select(TeachSession.id, column).where(
            TeachSession.starts_at >= since,
            TeachSession.starts_at < until,
            column.is_not(None),
        )
        db.session.execute(
            insert_ignoring_conflicts(
                SessionParticipant.__table__, ["session_id", "user_id"]
            ).from_select(["session_id", "user_id"], source)
        )


def open_rooms(now: datetime) -> int:
    """scheduled → open for sessions whose room-opening time has come."""
    opened = db.session.execute(
        update(TeachSession)
        .where(
            TeachSession.status == "scheduled",
            TeachSession.starts_at <= now + _opens_before(),
        )
        .values(status="open", version=TeachSession.version + 1)
        .returning(TeachSession.id, TeachSession.starts_at)
    ).all()
    db.session.commit()
    # A room opened late (after downtime) for an hour already past its no-show
    # time is not announced: "starts soon" would be false.
    grace = timedelta(minutes=int(current_app.config["ALLY_NO_SHOW_MINUTES"]))
    fresh = [session_id for session_id, starts in opened if starts + grace > now]
    if fresh:
        _announce_open(fresh, now)
    return len(opened)


def _announce_open(session_ids: list[int], now: datetime) -> None:
    """Tell both partners their room is open (one notification each, ever)."""
    rows = db.session.execute(
        select(SessionParticipant.session_id, SessionParticipant.user_id).where(
            SessionParticipant.session_id.in_(session_ids)
        )
    ).all()
    notifications.notify_many(
        [
            {
                "user_id": user_id,
                "kind": "session_open",
                "text": "Your teach-back room is open: the hour starts soon.",
                "url": f"/sessions/{session_id}",
                "dedupe_key": f"open:{session_id}:{user_id}",
            }
            for session_id, user_id in rows
        ],
        now,
    )


def send_reminders(now: datetime) -> int:
    """Remind each participant once, reminder_minutes before the start."""
    due = db.session.execute(
        select(
            SessionParticipant.session_id,
            SessionParticipant.user_id,
            SessionParticipant.planned_topic,
            TeachSession.starts_at,
            TeachSession.first_teacher_id,
            TeachSession.second_teacher_id,
            User.reminder_minutes,
            User.timezone,
            Partnership.meeting_url,
        )
        .join(TeachSession, TeachSession.id == SessionParticipant.session_id)
        .join(User, User.id == SessionParticipant.user_id)
        .join(Partnership, Partnership.id == TeachSession.partnership_id)
        .where(
            SessionParticipant.reminder_sent_at.is_(None),
            TeachSession.status.in_(("scheduled", "open")),
            TeachSession.starts_at > now,
            TeachSession.starts_at <= now + MATERIALIZE_AHEAD,
        )
    ).all()
    chosen = [
        row
        for row in due
        if row.reminder_minutes
        and row.starts_at - timedelta(minutes=row.reminder_minutes) <= now
    ]
    sent = 0
    for start in range(0, len(chosen), CHUNK):
        batch = chosen[start : start + CHUNK]
        # Compare-and-set: only rows still unflagged are ours to remind.
        claimed = set(
            db.session.execute(
                update(SessionParticipant)
                .where(
                    tuple_(
                        SessionParticipant.session_id, SessionParticipant.user_id
                    ).in_([(r.session_id, r.user_id) for r in batch]),
                    SessionParticipant.reminder_sent_at.is_(None),
                )
                .values(reminder_sent_at=now)
                .returning(SessionParticipant.session_id, SessionParticipant.user_id)
                .execution_options(synchronize_session=False)
            ).all()
        )
        db.session.commit()
        partner_of = {
            (r.session_id, r.user_id): (
                r.second_teacher_id
                if r.first_teacher_id == r.user_id
                else r.first_teacher_id
            )
            for r in batch
        }
        names = dict(
            db.session.execute(
                select(User.id, User.display_name).where(
                    User.id.in_({p for p in partner_of.values() if p})
                )
            ).all()
        )
        items = [
            {
                "user_id": r.user_id,
                "kind": "reminder",
                "text": reminder_text(
                    partner=names.get(partner_of[(r.session_id, r.user_id)]),
                    starts_at=r.starts_at,
                    timezone=r.timezone,
                    teaches_first=r.first_teacher_id == r.user_id,
                    planned_topic=r.planned_topic,
                    meeting_url=r.meeting_url,
                ),
                "url": f"/sessions/{r.session_id}",
                "dedupe_key": f"reminder:{r.session_id}:{r.user_id}",
            }
            for r in batch
            if (r.session_id, r.user_id) in claimed
        ]
        sent += notifications.notify_many(items, now)
    return sent


def reminder_text(
    *,
    partner: str | None,
    starts_at: datetime,
    timezone: str,
    teaches_first: bool,
    planned_topic: str | None,
    meeting_url: str | None,
) -> str:
    """E.g. "Your teach-back hour with Ben starts at 19:00. You teach first."."""
    name = partner or "your partner"
    at = starts_at.astimezone(ZoneInfo(timezone)).strftime("%H:%M")
    first = "You teach first" if teaches_first else f"{name} teaches first"
    text = f"Your teach-back hour with {name} starts at {at}. {first}."
    if planned_topic:
        text += f" You will teach: {planned_topic}."
    else:
        text += " Pick the topic you will teach."
    if meeting_url:
        text += f" Call: {meeting_url}"
    return text


def _partnership_of_member(user_id: int, partnership_id: int) -> Partnership:
    partnership = db.session.get(Partnership, partnership_id)
    if partnership is None or user_id not in partnership.member_ids():
        raise NotFound("No such partnership.")
    return partnership


def get_session(user_id: int, session_id: int) -> TeachSession:
    """One of the user's sessions, or NotFound."""
    session = db.session.get(TeachSession, session_id)
    if session is None or user_id not in session.member_ids():
        raise NotFound("No such session.")
    return session


def plan_of(session: TeachSession) -> list[dict]:
    """The session's turns: index, teacher and listener ids, phase lengths."""
    pair = (session.first_teacher_id, session.second_teacher_id)
    return [
        {
            "index": turn.index,
            "teacher_id": pair[turn.teacher],
            "listener_id": pair[turn.listener],
            "teach_seconds": turn.teach_seconds,
            "rate_seconds": turn.rate_seconds,
        }
        for turn in session_plan(
            session.turns, 0, session.teach_seconds, session.rate_seconds
        )
    ]


def participant(session_id: int, user_id: int) -> SessionParticipant | None:
    """One partner's attendance row in a session."""
    return db.session.get(SessionParticipant, (session_id, user_id))


def session_item(session: TeachSession, user_id: int) -> SessionItem:
    """A stored session as a list item seen by one of its members."""
    partner = next((i for i in session.member_ids() if i != user_id), None)
    return SessionItem(
        id=session.id,
        partnership_id=session.partnership_id,
        local_date=session.local_date,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        status=session.status,
        kind=session.kind,
        first_teacher_id=session.first_teacher_id,
        partner_id=partner,
    )


def list_sessions(
    user_id: int, start: datetime, end: datetime, now: datetime
) -> list[SessionItem]:
    """Stored sessions in [start, end) plus upcoming ones computed from schedules."""
    pships = db.session.scalars(
        select(Partnership).where(
            or_(Partnership.user_a_id == user_id, Partnership.user_b_id == user_id)
        )
    ).all()
    if not pships:
        return []
    stored = db.session.scalars(
        select(TeachSession)
        .where(
            TeachSession.partnership_id.in_([p.id for p in pships]),
            TeachSession.starts_at >= start,
            TeachSession.starts_at < end,
        )
        .order_by(TeachSession.starts_at)
    ).all()
    items = [session_item(s, user_id) for s in stored]
    have = {(s.partnership_id, s.scheduled_date) for s in stored if s.scheduled_date}
    for partnership in pships:
        if partnership.status != "active" or None in (
            partnership.user_a_id,
            partnership.user_b_id,
        ):
            continue
        for occurrence in occurrences(schedule_of(partnership), max(start, now), end):
            if (partnership.id, occurrence.local_date) in have:
                continue
            if occurrence.starts_at <= partnership.created_at:
                continue
            first, _ = _teachers(partnership, occurrence)
            items.append(
                SessionItem(
                    id=None,
                    partnership_id=partnership.id,
                    local_date=occurrence.local_date,
                    starts_at=occurrence.starts_at,
                    ends_at=occurrence.ends_at,
                    status="scheduled",
                    kind="scheduled",
                    first_teacher_id=first,
                    partner_id=partnership.partner_of(user_id).id
                    if partnership.partner_of(user_id)
                    else None,
                )
            )
    return sorted(items, key=lambda i: (i.starts_at, i.partnership_id))


def next_session(user_id: int, now: datetime) -> SessionItem | None:
    """The user's next session not yet over (the one now open or live first)."""
    items = list_sessions(
        user_id, now - timedelta(hours=2), now + timedelta(days=14), now
    )
    for item in items:
        if item.status in ("scheduled", "open", "live") and item.ends_at > now:
            return item
    return None


def ensure_session(user_id: int, partnership_id: int, day: date) -> TeachSession:
    """The stored session of a scheduled local date, creating it if needed."""
    partnership = _partnership_of_member(user_id, partnership_id)
    existing = db.session.scalar(
        select(TeachSession).where(
            TeachSession.partnership_id == partnership.id,
            TeachSession.scheduled_date == day,
        )
    )
    if existing is not None:
        return existing
    if partnership.status != "active" or None in (
        partnership.user_a_id,
        partnership.user_b_id,
    ):
        raise Conflict("This partnership has no upcoming sessions.")
    schedule = schedule_of(partnership)
    start = datetime.combine(day - timedelta(days=1), time(0), tzinfo=UTC)
    found = [
        o
        for o in occurrences(schedule, start, start + timedelta(days=3))
        if o.local_date == day and o.starts_at > partnership.created_at
    ]
    if not found:
        raise NotFound("No session is scheduled on that date.")
    row = _session_row(partnership, found[0])
    db.session.execute(
        insert_ignoring_conflicts(
            TeachSession.__table__, ["partnership_id", "scheduled_date"]
        ),
        [row],
    )
    session = db.session.scalar(
        select(TeachSession).where(
            TeachSession.partnership_id == partnership.id,
            TeachSession.scheduled_date == day,
        )
    )
    for member in session.member_ids():
        db.session.execute(
            insert_ignoring_conflicts(
                SessionParticipant.__table__, ["session_id", "user_id"]
            ),
            [{"session_id": session.id, "user_id": member, "absent": False}],
        )
    db.session.commit()
    return session


def set_planned_topic(user_id: int, session_id: int, title: str | None) -> TeachSession:
    """Name the topic the user will teach in a session (before it is over)."""
    session = get_session(user_id, session_id)
    if session.is_over:
        raise Conflict("This session is over.")
    clean = " ".join(require_storable(title or "", "topic").split()) or None
    if clean and len(clean) > MAX_TOPIC:
        raise Invalid(f"Use at most {MAX_TOPIC} characters for a topic.", field="topic")
    participant = db.session.get(SessionParticipant, (session_id, user_id))
    if participant is None:
        participant = SessionParticipant(session_id=session_id, user_id=user_id)
        db.session.add(participant)
    participant.planned_topic = clean
    db.session.commit()
    return session


class SessionUnderWay(Conflict):
    """An extra session was asked for while another of the pair is under way."""

    def __init__(self, message: str, session_id: int) -> None:
        super().__init__(message)
        self.session_id = session_id


def _locked_partnership(user_id: int, partnership_id: int) -> Partnership:
    """A member's partnership, re-read under a lock held until the commit.

    Two requests of the same pair (a double click) then run one after the
    other, and the second sees what the first stored. PostgreSQL locks the
    row (`FOR UPDATE`); SQLite has no row locks, so a write that changes
    nothing takes the database's write lock first (reads before a write run
    outside any transaction with Python's sqlite3).
    """
    if db.engine.dialect.name == "sqlite":
        db.session.execute(
            update(Partnership)
            .where(Partnership.id == partnership_id)
            .values(status=Partnership.status)
            .execution_options(synchronize_session=False)
        )
    partnership = db.session.scalar(
        select(Partnership)
        .where(Partnership.id == partnership_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if partnership is None or user_id not in partnership.member_ids():
        raise NotFound("No such partnership.")
    return partnership


def _refuse_a_second_session(partnership_id: int) -> None:
    """Raise SessionUnderWay if an extra session of the pair is not over, or
    any session of theirs is live (call with the partnership locked)."""
    under_way = db.session.execute(
        select(TeachSession.id, TeachSession.kind)
        .where(
            TeachSession.partnership_id == partnership_id,
            or_(
                and_(
                    TeachSession.kind == "extra",
                    TeachSession.status.not_in(OVER_STATUSES),
                ),
                TeachSession.status == "live",
            ),
        )
        .order_by(TeachSession.id.desc())
        .limit(1)
    ).first()
    if under_way is None:
        return
    session_id, kind = under_way
    what = "An extra session" if kind == "extra" else "A session"
    raise SessionUnderWay(
        f"{what} of this partnership is already under way (session {session_id}): "
        "join it instead of starting another.",
        session_id,
    )


def create_extra_session(
    user_id: int,
    partnership_id: int,
    now: datetime,
    *,
    turns: int | None = None,
    teach_seconds: int | None = None,
    rate_seconds: int | None = None,
) -> TeachSession:
    """An extra session starting now, within the configured bounds.

    One at a time: while an extra session of the partnership is not over, or
    any of its sessions is live, the answer is `SessionUnderWay` (a Conflict
    naming that session) and nothing is written.
    """
    partnership = _locked_partnership(user_id, partnership_id)
    if partnership.status != "active" or None in (
        partnership.user_a_id,
        partnership.user_b_id,
    ):
        raise Conflict("Only an active partnership can start a session.")
    config = current_app.config
    turns = partnership.turns if turns is None else turns
    default_teach, default_rate = turn_lengths(partnership.session_minutes, turns)
    teach = default_teach if teach_seconds is None else teach_seconds
    rate = default_rate if rate_seconds is None else rate_seconds
    if isinstance(turns, bool) or turns not in ALLOWED_TURNS:
        raise Invalid("Turns must be 2, 4 or 6.", field="turns")
    min_teach, min_rate = (
        config["ALLY_MIN_TEACH_SECONDS"],
        config["ALLY_MIN_RATE_SECONDS"],
    )
    if not isinstance(teach, int) or not min_teach <= teach <= MAX_TEACH_SECONDS:
        raise Invalid(
            f"Teaching time must be {min_teach} to {MAX_TEACH_SECONDS} seconds.",
            field="teach_seconds",
        )
    if not isinstance(rate, int) or not min_rate <= rate <= MAX_RATE_SECONDS:
        raise Invalid(
            f"Rating time must be {min_rate} to {MAX_RATE_SECONDS} seconds.",
            field="rate_seconds",
        )
    _refuse_a_second_session(partnership.id)
    partner_id = next(i for i in partnership.member_ids() if i != user_id)
    session = TeachSession(
        partnership_id=partnership.id,
        scheduled_date=None,
        local_date=local_date(now, partnership.timezone),
        kind="extra",
        starts_at=now,
        ends_at=now + timedelta(seconds=turns * (teach + rate)),
        status="open",
        phase="waiting",
        turns=turns,
        teach_seconds=teach,
        rate_seconds=rate,
        first_teacher_id=user_id,
        second_teacher_id=partner_id,
        created_at=now,
    )
    session.participants = [
        SessionParticipant(user_id=user_id),
        SessionParticipant(user_id=partner_id),
    ]
    db.session.add(session)
    db.session.commit()
    starter = db.session.get(User, user_id)
    notifications.notify(
        partner_id,
        "session_open",
        f"{starter.display_name} started an extra session: join now.",
        f"/sessions/{session.id}",
        dedupe_key=f"extra:{session.id}:{partner_id}",
        now=now,
    )
    return session


def drop_future_sessions(
    partnership_id: int, now: datetime, *, cancel_open: bool = False
) -> None:
    """Call off stored sessions not yet open, so a changed schedule is recomputed.

    A stored row may have been announced (a reminder, a calendar, a link), so
    it is never deleted and its id never reused: it becomes `cancelled`, and
    gives up its `scheduled_date` so the new schedule's meeting of that local
    date is stored as a new row (`local_date` and `kind` still tell which
    meeting it was). With cancel_open (a pause or an end) a room already open
    but not begun is called off too; it keeps its date, so resuming does not
    bring back a meeting that was about to start.
    """
    called_off = {
        "status": "cancelled",
        "phase": "done",
        "phase_ends_at": None,
        "ended_at": now,
        "version": TeachSession.version + 1,
    }
    db.session.execute(
        update(TeachSession)
        .where(
            TeachSession.partnership_id == partnership_id,
            TeachSession.status == "scheduled",
            TeachSession.starts_at > now,
        )
        .values(scheduled_date=None, **called_off)
    )
    if cancel_open:
        db.session.execute(
            update(TeachSession)
            .where(
                TeachSession.partnership_id == partnership_id,
                TeachSession.status.in_(("scheduled", "open")),
                TeachSession.phase == "waiting",
            )
            .values(**called_off)
        )
