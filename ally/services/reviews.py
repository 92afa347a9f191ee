"""The review: a student's explanations, topics, gaps, calibration, ratings given.

Privacy: a rating belongs to the two partners of its session. Everything here
starts from turns the user taught (ratings received) or ratings the user gave,
so nobody else's ratings can be reached. Every page uses a fixed number of
queries whatever the length of the history (lists are paginated; the figures
come from one query over the user's own turns).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    String,
    and_,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.orm import aliased, joinedload

from ..domain import review as rules
from ..domain.attendance import HELD, MISSED
from ..domain.readability import Readability, measure
from ..domain.timezones import local_date
from ..domain.vocabulary import QUESTION_KINDS, SIGNAL_KINDS
from ..extensions import db
from ..models import (
    Partnership,
    Profile,
    Rating,
    Signal,
    TeachSession,
    Topic,
    Turn,
    User,
)
from . import reteach, review_cache
from .accounts import get_user
from .errors import Invalid
from .profiles import clean_terms

MAX_PER_PAGE = 100
MAX_PAGE = 100_000  # well past any history; keeps OFFSET within the database
DEFAULT_PER_PAGE = 20


# --- pagination ----------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One page of a list: items plus where it sits."""

    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages in all (at least 1)."""
        return max(1, -(-self.total // self.per_page))


def page_args(page: Any, per_page: Any) -> tuple[int, int]:
    """Validated page number and size (Invalid with a message otherwise)."""
    try:
        number = int(page) if page not in (None, "") else 1
        size = int(per_page) if per_page not in (None, "") else DEFAULT_PER_PAGE
    except (TypeError, ValueError) as exc:
        raise Invalid("page and per_page must be whole numbers.") from exc
    if not 1 <= number <= MAX_PAGE:
        raise Invalid(f"page must be 1 to {MAX_PAGE}.", field="page")
    if not 1 <= size <= MAX_PER_PAGE:
        raise Invalid(f"per_page must be 1 to {MAX_PER_PAGE}.", field="per_page")
    return number, size


# --- the allow-list --------------------------------------------------------------


def allowed_terms(user_id: int) -> list[str]:
    """Terms the user must use, exempt from rare-word flags."""
    return list(get_user(user_id).profile.allowed_terms or [])


def set_allowed_terms(user_id: int, raw: Any) -> list[str]:
    """Replace the user's allow-list."""
    terms = clean_terms(raw)
    profile = db.session.get(Profile, user_id)
    profile.allowed_terms = terms
    db.session.commit()
    return terms


# --- my explanations ---------------------------------------------------------------


@dataclass(frozen=True)
class ExplanationRow:
    """One turn the user taught, with everything said about it."""

    turn_id: int
    session_id: int
    index: int
    taught_at: datetime
    local_day: str
    topic: str | None
    partner: str
    simplicity: int | None
    note: str
    jargon: list[str]
    rated_at: datetime | None
    self_simplicity: int | None
    summary: str | None
    readability: Readability | None
    signals: dict[str, int]
    # The listener's why/how questions, in the order they were asked.
    questions: list[tuple[str, str]]


def _partner_name(name: str | None) -> str:
    return name or "a former member"


def explanations(user_id: int, page: Any = 1, per_page: Any = None) -> Page:
    """Turns the user taught, newest first, one page at a time."""
    number, size = page_args(page, per_page)
    user = get_user(user_id)
    taught = and_(Turn.teacher_id == user_id, Turn.started_at.is_not(None))
    total = db.session.scalar(select(func.count()).select_from(Turn).where(taught))
    listener = aliased(User)
    rows = db.session.execute(
        select(Turn, Rating, listener.display_name)
        .outerjoin(Rating, Rating.turn_id == Turn.id)
        .outerjoin(listener, listener.id == Turn.listener_id)
        .where(taught)
        .order_by(Turn.started_at.desc(), Turn.id.desc())
        .limit(size)
        .offset((number - 1) * size)
    ).all()
    counts = _signal_counts([turn.id for turn, _, _ in rows])
    questions = _questions([turn.id for turn, _, _ in rows])
    allow = user.profile.allowed_terms or []
    items = [
        ExplanationRow(
            turn_id=turn.id,
            session_id=turn.session_id,
            index=turn.index,
            taught_at=turn.started_at,
            local_day=local_date(turn.started_at, user.timezone).isoformat(),
            topic=turn.topic,
            partner=_partner_name(name),
            simplicity=rating.simplicity if rating else None,
            note=rating.note if rating else "",
            jargon=list(rating.jargon or []) if rating else [],
            rated_at=rating.created_at if rating else None,
            self_simplicity=turn.self_simplicity,
            summary=turn.summary,
            readability=measure(turn.summary, allow) if turn.summary else None,
            signals=counts.get(turn.id, dict.fromkeys(SIGNAL_KINDS, 0)),
            questions=questions.get(turn.id, []),
        )
        for turn, rating, name in rows
    ]
    return Page(items, number, size, total)


def _signal_counts(turn_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    if not turn_ids:
        return counts
    for turn_id, kind, n in db.session.execute(
        select(Signal.turn_id, Signal.kind, func.count())
        .where(Signal.turn_id.in_(turn_ids))
        .group_by(Signal.turn_id, Signal.kind)
    ):
        counts.setdefault(turn_id, dict.fromkeys(SIGNAL_KINDS, 0))[kind] = n
    return counts


def _questions(turn_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """(kind, question) of each turn's why/how signals that asked one."""
    found: dict[int, list[tuple[str, str]]] = {}
    if not turn_ids:
        return found
    for turn_id, kind, question in db.session.execute(
        select(Signal.turn_id, Signal.kind, Signal.question)
        .where(
            Signal.turn_id.in_(turn_ids),
            Signal.kind.in_(sorted(QUESTION_KINDS)),
            Signal.question.is_not(None),
        )
        .order_by(Signal.turn_id, Signal.at)
    ):
        found.setdefault(turn_id, []).append((kind, question))
    return found


# --- figures -------------------------------------------------------------------


def _utc_text(column: ColumnExpressionArgument[datetime | None]) -> ColumnElement[str]:
    """A naive UTC timestamp column as ISO 8601 text ending in "+00:00"."""
    # datetime.fromisoformat makes that the aware instant in one C call: far
    # cheaper per row than a timestamp through UTCDateTime (on SQLite, a string
    # parsed and then given its zone). SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff";
    # PostgreSQL writes the same in the ISO DateStyle, which psycopg needs anyway.
    return cast(column, String) + "+00:00"


def history(user_id: int) -> list[rules.Explanation]:
    """Every turn the user taught, oldest first, as plain values (one query)."""
    # Core rows, not ORM ones: thousands of them, and nothing here is an entity.
    rows = (
        db.session.connection()
        .execute(
            select(
                func.coalesce(Turn.topic, ""),
                _utc_text(Turn.started_at),
                Rating.simplicity,
                Turn.self_simplicity,
                # Listener signals plus the words named in the rating.
                func.coalesce(Turn.jargon_flags, 0)
                + func.coalesce(func.json_array_length(Rating.jargon), 0),
            )
            .outerjoin(
                Rating,
                # A rating's teacher is its turn's teacher (room.rate): saying
                # so lets the database take the user's ratings by index rather
                # than hash every rating there is.
                and_(Rating.turn_id == Turn.id, Rating.teacher_id == user_id),
            )
            .where(Turn.teacher_id == user_id, Turn.started_at.is_not(None))
            # Oldest first: the review's own sorts then find their input in order.
            .order_by(Turn.started_at, Turn.id)
        )
        .all()
    )
    make, instant = rules.Explanation._make, datetime.fromisoformat
    return [
        make((topic, instant(taught_at), simplicity, own, jargon))
        for topic, taught_at, simplicity, own, jargon in rows
    ]


@dataclass(frozen=True)
class Summary:
    """The review's figures for one student (tuples: one Summary may serve many
    requests, see review_cache)."""

    topics: tuple[rules.TopicStats, ...]
    gaps: tuple[rules.Gap, ...]
    calibration: rules.Calibration
    explanations: int
    rated: int
    mean: float | None
    overall: tuple[tuple[str, float, int], ...]  # (period label, mean, count)
    # (period label, mean self-rating, mean partner rating, turns)
    calibration_series: tuple[tuple[str, float, float, int], ...]
    period: str  # day, week or month
    timezone: str  # the student's: days are theirs


def summary(user_id: int) -> Summary:
    """Topics, gaps, calibration and the overall series of the user's history.

    Computed from one query over every turn they taught, and kept until that
    history changes (review_cache: two small statements tell).
    """
    timezone = get_user(user_id).timezone
    return review_cache.figures(
        user_id, timezone, lambda: fresh_summary(user_id, timezone)
    )


def fresh_summary(user_id: int, timezone: str) -> Summary:
    """The figures computed afresh from the database, bypassing the cache."""
    items = history(user_id)  # oldest first
    stats = rules.topic_stats(items)
    rated_items = [e for e in items if e.simplicity]
    rated = [e.simplicity for e in rated_items]
    period = (
        rules.choose_period(rated_items[0].taught_at, rated_items[-1].taught_at)
        if rated_items
        else "month"
    )
    # Each explanation's day, week or month in the student's zone, once.
    buckets = rules.buckets_of((e.taught_at for e in items), period, timezone)
    return Summary(
        topics=tuple(stats),
        gaps=tuple(rules.gaps(stats)),
        calibration=rules.calibration(items),
        explanations=len(items),
        rated=len(rated),
        mean=round(sum(rated) / len(rated), 2) if rated else None,
        overall=tuple(
            rules.series_from_buckets(
                (
                    (b, e.simplicity)
                    for b, e in zip(buckets, items, strict=True)
                    if e.simplicity
                ),
                period,
            )
        ),
        calibration_series=tuple(
            rules.calibration_from_buckets(
                (
                    (b, (e.self_simplicity, e.simplicity))
                    for b, e in zip(buckets, items, strict=True)
                    if e.self_simplicity is not None and e.simplicity is not None
                ),
                period,
            )
        ),
        period=period,
        timezone=timezone,
    )


def gap_titles(user_id: int) -> list[str]:
    """The user's gap topics, most urgent first (for "prepare to teach")."""
    return [g.stats.topic for g in summary(user_id).gaps]


# --- ratings given -------------------------------------------------------------


@dataclass(frozen=True)
class RatingRow:
    """A rating seen by one of the two partners of its session."""

    id: int
    session_id: int
    turn: int
    topic: str | None
    teacher_id: int | None
    teacher: str
    rater_id: int | None
    rater: str
    simplicity: int
    note: str
    jargon: list[str]
    created_at: datetime
    self_simplicity: int | None


def ratings(user_id: int, role: str, page: Any = 1, per_page: Any = None) -> Page:
    """Ratings the user received (role=received) or gave (given), newest first."""
    if role not in ("received", "given"):
        raise Invalid("role must be received or given.", field="role")
    number, size = page_args(page, per_page)
    mine = (
        Rating.teacher_id == user_id
        if role == "received"
        else (Rating.rater_id == user_id)
    )
    total = db.session.scalar(select(func.count()).select_from(Rating).where(mine))
    teacher = aliased(User)
    rater = aliased(User)
    rows = db.session.execute(
        select(Rating, Turn, teacher.display_name, rater.display_name)
        .join(Turn, Turn.id == Rating.turn_id)
        .outerjoin(teacher, teacher.id == Rating.teacher_id)
        .outerjoin(rater, rater.id == Rating.rater_id)
        .where(mine)
        .order_by(Rating.created_at.desc(), Rating.id.desc())
        .limit(size)
        .offset((number - 1) * size)
    ).all()
    items = [
        RatingRow(
            id=rating.id,
            session_id=rating.session_id,
            turn=turn.index,
            topic=turn.topic,
            teacher_id=rating.teacher_id,
            teacher=_partner_name(teacher_name),
            rater_id=rating.rater_id,
            rater=_partner_name(rater_name),
            simplicity=rating.simplicity,
            note=rating.note,
            jargon=list(rating.jargon or []),
            created_at=rating.created_at,
            self_simplicity=turn.self_simplicity,
        )
        for rating, turn, teacher_name, rater_name in rows
    ]
    return Page(items, number, size, total)


# --- per partnership -------------------------------------------------------------


@dataclass(frozen=True)
class PartnershipStats:
    """Sessions held and missed, streak, and average simplicity each way."""

    partnership_id: int
    partner: str
    status: str
    held: int
    missed: int
    streak: int
    mine: float | None  # mean rating of my explanations
    theirs: float | None  # mean rating I gave my partner's explanations


def partnership_stats(user_id: int) -> list[PartnershipStats]:
    """One entry per partnership of the user, newest first (fixed query count)."""
    pships = list(
        db.session.scalars(
            select(Partnership)
            .where(
                or_(Partnership.user_a_id == user_id, Partnership.user_b_id == user_id)
            )
            # The partners' names come with their partnerships, not one by one.
            .options(joinedload(Partnership.user_a), joinedload(Partnership.user_b))
            .order_by(Partnership.id.desc())
        )
    )
    if not pships:
        return []
    ids = [p.id for p in pships]
    # Held, missed and the streak (held sessions since the last missed one; the
    # rule of domain.attendance) counted by the database: five years of daily
    # sessions are thousands of rows, and only three numbers are shown.
    last_missed = (
        select(
            TeachSession.partnership_id.label("partnership_id"),
            func.max(TeachSession.starts_at).label("at"),
        )
        .where(TeachSession.partnership_id.in_(ids), TeachSession.status == MISSED)
        .group_by(TeachSession.partnership_id)
        .subquery()
    )
    held = TeachSession.status.in_(HELD)
    since_last_miss = or_(
        last_missed.c.at.is_(None), TeachSession.starts_at > last_missed.c.at
    )
    counts = {
        pid: (held_n, missed_n, streak)
        for pid, held_n, missed_n, streak in db.session.execute(
            select(
                TeachSession.partnership_id,
                func.count().filter(held),
                func.count().filter(TeachSession.status == MISSED),
                func.count().filter(and_(held, since_last_miss)),
            )
            .outerjoin(
                last_missed,
                last_missed.c.partnership_id == TeachSession.partnership_id,
            )
            .where(
                TeachSession.partnership_id.in_(ids),
                TeachSession.status.in_((*HELD, MISSED)),
            )
            .group_by(TeachSession.partnership_id)
        )
    }
    means = {
        (pid, teacher_id): value
        for pid, teacher_id, value in db.session.execute(
            select(
                TeachSession.partnership_id,
                Rating.teacher_id,
                func.avg(Rating.simplicity),
            )
            .join(TeachSession, TeachSession.id == Rating.session_id)
            .where(TeachSession.partnership_id.in_(ids))
            .group_by(TeachSession.partnership_id, Rating.teacher_id)
        )
    }
    result = []
    for p in pships:
        held_n, missed_n, streak = counts.get(p.id, (0, 0, 0))
        partner = p.partner_of(user_id)
        theirs = means.get((p.id, partner.id)) if partner else None
        result.append(
            PartnershipStats(
                partnership_id=p.id,
                partner=partner.display_name if partner else "a former member",
                status=p.status,
                held=held_n,
                missed=missed_n,
                streak=streak,
                mine=_round(means.get((p.id, user_id))),
                theirs=_round(theirs),
            )
        )
    return result


def _round(value: float | None) -> float | None:
    return round(float(value), 2) if value is not None else None


# --- export ------------------------------------------------------------------------

EXPORT_FIELDS = (
    "date",
    "session_id",
    "turn",
    "topic",
    "teacher",
    "listener",
    "simplicity",
    "note",
    "jargon",
    "self_simplicity",
    "summary",
    "reading_grade",
    "rare_words",
    *(f"signals_{kind}" for kind in SIGNAL_KINDS),
    "rated_at",
)


def export_rows(user_id: int, role: str) -> list[dict[str, Any]]:
    """Every explanation the user taught (received) or rated (given), oldest first.

    The same figures the pages show; ratings of other people never appear.
    """
    if role not in ("received", "given"):
        raise Invalid("role must be received or given.", field="role")
    user = get_user(user_id)
    teacher = aliased(User)
    listener = aliased(User)
    if role == "received":
        mine = and_(Turn.teacher_id == user_id, Turn.started_at.is_not(None))
    else:
        mine = Rating.rater_id == user_id
    query = (
        select(Turn, Rating, teacher.display_name, listener.display_name)
        .outerjoin(Rating, Rating.turn_id == Turn.id)
        .outerjoin(teacher, teacher.id == Turn.teacher_id)
        .outerjoin(listener, listener.id == Turn.listener_id)
        .where(mine)
        .order_by(Turn.started_at, Turn.id)
    )
    rows = db.session.execute(query).all()
    counts: dict[int, dict[str, int]] = {}
    signal_scope = (
        Turn.teacher_id == user_id
        if role == "received"
        else Turn.id.in_(select(Rating.turn_id).where(Rating.rater_id == user_id))
    )
    for turn_id, kind, n in db.session.execute(
        select(Signal.turn_id, Signal.kind, func.count())
        .join(Turn, Turn.id == Signal.turn_id)
        .where(signal_scope)
        .group_by(Signal.turn_id, Signal.kind)
    ):
        counts.setdefault(turn_id, dict.fromkeys(SIGNAL_KINDS, 0))[kind] = n
    # My allow-list applies to my own summaries, not to my partner's.
    allow = (user.profile.allowed_terms or []) if role == "received" else []
    out = []
    for turn, rating, teacher_name, listener_name in rows:
        measured = measure(turn.summary, allow) if turn.summary else None
        signals = counts.get(turn.id, dict.fromkeys(SIGNAL_KINDS, 0))
        out.append(
            {
                "date": local_date(turn.started_at, user.timezone).isoformat()
                if turn.started_at
                else None,
                "session_id": turn.session_id,
                "turn": turn.index,
                "topic": turn.topic,
                "teacher": _partner_name(teacher_name),
                "listener": _partner_name(listener_name),
                "simplicity": rating.simplicity if rating else None,
                "note": rating.note if rating else "",
                "jargon": list(rating.jargon or []) if rating else [],
                "self_simplicity": turn.self_simplicity,
                "summary": turn.summary,
                "reading_grade": measured.grade if measured else None,
                "rare_words": list(measured.rare_words) if measured else [],
                **{f"signals_{kind}": signals[kind] for kind in SIGNAL_KINDS},
                "rated_at": rating.created_at.isoformat() if rating else None,
            }
        )
    return out


DUE_LABEL = "due to teach again"  # the re-teach schedule says it is time
GAP_LABEL = "teach again"  # not simple yet (a gap)


class TopicChoice(NamedTuple):
    """A topic offered when choosing what to teach, and why it comes first
    (the label; "" for the other topics)."""

    title: str
    label: str

    @property
    def due(self) -> bool:
        """Whether the re-teach schedule says it is time to teach it again."""
        return self.label == DUE_LABEL

    @property
    def gap(self) -> bool:
        """Whether it is a gap (and not already listed as due)."""
        return self.label == GAP_LABEL


def topics_to_prepare(user_id: int, now: datetime) -> list[TopicChoice]:
    """Topics to choose what to teach from: the ones due again (most overdue
    first), then the gaps (most urgent first), then the user's other topics
    in their usual order; each topic once."""
    choices: list[TopicChoice] = []
    seen: set[str] = set()

    def offer(titles: list[str], label: str) -> None:
        for title in titles:
            if rules.topic_key(title) not in seen:
                seen.add(rules.topic_key(title))
                choices.append(TopicChoice(title, label))

    offer([card.topic for card in reteach.due(user_id, now)], DUE_LABEL)
    offer(gap_titles(user_id), GAP_LABEL)
    offer(
        list(
            db.session.scalars(
                select(Topic.title)
                .where(Topic.user_id == user_id)
                .order_by(Topic.title)
            )
        ),
        "",
    )
    return choices
