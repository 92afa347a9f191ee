"""Load people for matching in a fixed number of queries, whatever the user count."""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache

from sqlalchemy import Text, cast, func, literal_column, select, union_all
from sqlalchemy.engine import Result

from ..domain.matching import Person
from ..extensions import db
from ..models import Block, Partnership, Profile, User
from .profiles import windows_from_text

OPEN_PARTNERSHIP = ("active", "paused")


@lru_cache(maxsize=65536)
def _subjects_from_text(text: str | None) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text else ()


@lru_cache(maxsize=65536)
def _person(
    user_id: int,
    display_name: str,
    timezone: str,
    exam: str | None,
    exam_date: date | None,
    subjects_text: str | None,
    windows_text: str | None,
) -> Person:
    # Cached on the raw row: rebuilding 10,000 Person objects per request is
    # most of the cost of a suggestions page otherwise.
    return Person(
        user_id=user_id,
        display_name=display_name,
        timezone=timezone,
        exam=exam,
        exam_date=exam_date,
        subjects=_subjects_from_text(subjects_text),
        windows=windows_from_text(windows_text),
    )


def _person_columns():
    return (
        User.id,
        User.display_name,
        User.timezone,
        Profile.exam,
        Profile.exam_date,
        cast(Profile.subjects, Text),
        cast(Profile.availability, Text),
    )


def _core_rows(statement) -> Result:
    """Execute on the session's connection: same transaction, plain Core rows.

    The ORM's result processing costs ~5 ms per 10,000 rows of a candidate list
    and adds nothing for plain columns. Flushing first keeps what the ORM's
    autoflush would have done before the query.
    """
    if db.session.autoflush:
        db.session.flush()
    return db.session.connection().execute(statement)


def load_person(user_id: int) -> Person | None:
    """One user as a matching Person (one query)."""
    row = db.session.execute(
        select(*_person_columns())
        .join(Profile, Profile.user_id == User.id)
        .where(User.id == user_id)
    ).first()
    return _person(*row) if row else None


def full_user_ids(limit: int):
    """A subquery of users already in `limit` or more open partnerships."""
    members = union_all(
        select(Partnership.user_a_id.label("uid")).where(
            Partnership.status.in_(OPEN_PARTNERSHIP)
        ),
        select(Partnership.user_b_id.label("uid")).where(
            Partnership.status.in_(OPEN_PARTNERSHIP)
        ),
    ).subquery()
    uid = literal_column("uid")
    return (
        select(uid)
        .select_from(members)
        .where(uid.is_not(None))
        .group_by(uid)
        .having(func.count() >= limit)
    )


def open_partnership_count(user_id: int) -> int:
    """How many active or paused partnerships the user is in."""
    return db.session.scalar(
        select(func.count())
        .select_from(Partnership)
        .where(
            (Partnership.user_a_id == user_id) | (Partnership.user_b_id == user_id),
            Partnership.status.in_(OPEN_PARTNERSHIP),
        )
    )


def load_candidates(user_id: int, partnership_limit: int) -> list[Person]:
    """Everyone looking for a partner that user_id may see and pair with (one query)."""
    blocked = select(Block.blocked_id).where(Block.blocker_id == user_id)
    blockers = select(Block.blocker_id).where(Block.blocked_id == user_id)
    rows = _core_rows(
        select(*_person_columns())
        .join(Profile, Profile.user_id == User.id)
        .where(
            User.id != user_id,
            Profile.looking_for_partner.is_(True),
            User.id.not_in(blocked),
            User.id.not_in(blockers),
            User.id.not_in(full_user_ids(partnership_limit)),
        )
    )
    return [_person(*row) for row in rows]


def load_pool(partnership_limit: int) -> list[Person]:
    """Everyone with auto-match on, looking, and under the partnership limit."""
    rows = _core_rows(
        select(*_person_columns())
        .join(Profile, Profile.user_id == User.id)
        .where(
            Profile.looking_for_partner.is_(True),
            Profile.auto_match.is_(True),
            User.id.not_in(full_user_ids(partnership_limit)),
        )
        .order_by(User.id)
    )
    return [_person(*row) for row in rows]


def blocked_pairs() -> set[tuple[int, int]]:
    """Every blocked pair as (smaller id, larger id)."""
    rows = db.session.execute(select(Block.blocker_id, Block.blocked_id))
    return {tuple(sorted(row)) for row in rows}
