"""A student's review figures, kept between requests until their history changes.

The review recomputes its figures from every explanation the student gave:
five years of daily sessions are thousands of rows, fetched and folded on
every visit (docs/performance.md, "Review"). Those figures read, per started
turn the student taught: its start, topic, self-rating and jargon count, and
the simplicity and jargon words of its rating; and the student's time zone.
The stamp covers each of them:

- a turn starts: one more started turn, a later start;
- a rating arrives: one more rating received, a later one (a rating is never
  changed: the room refuses a different one; it goes only with its teacher);
- the teacher rates themselves: one more self-rating and their sum (given
  once, possibly after the session ended, within the turn's rating time);
- a jargon count is written (when a turn ends, unrated or not) or a topic
  set: the sums of the jargon counts and of the topics' lengths over every
  started turn, wherever it happens, and the exact rows of the student's
  turns in live sessions, where the room names topics (a typo fixed keeps
  the length).

So the stamp is: those counts, latest instants and sums, the rows of the
student's turns in live sessions, and their time zone, in two statements. It
is read before the figures are computed, so a change committed in between can
only cause one more recomputation, never stale figures.
tests/test_room_properties.py checks the kept figures against fresh ones after
every random room event.

The cache lives on the app (one per process), bounded by
ALLY_REVIEW_CACHE_SIZE students, least recently used first out; 0 turns it off.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import cache
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import ColumnElement, bindparam, func, literal, select, union_all

from ..extensions import db
from ..models import Rating, TeachSession, Turn

_T = TypeVar("_T")
_KEY = "ally.review_cache"


class StampedCache:
    """A bounded map of key -> (stamp, value); a value is served only while the
    stamp it was computed under is still the current one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, stamp: Hashable) -> Any | None:
        """The value kept for key under this very stamp, else None."""
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] != stamp:
                return None
            self._items.move_to_end(key)
            return found[1]

    def put(self, key: Hashable, stamp: Hashable, value: Any) -> None:
        """Keep value for key under stamp, dropping the least recently used."""
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = (stamp, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def _cache() -> StampedCache:
    extensions = current_app.extensions
    cache = extensions.get(_KEY)
    if cache is None:
        size = int(current_app.config.get("ALLY_REVIEW_CACHE_SIZE", 0))
        cache = extensions.setdefault(_KEY, StampedCache(size))
    return cache


def _sum(column) -> ColumnElement:
    return func.coalesce(func.sum(column), 0)


@cache
def _totals_statement():
    """Over a teacher's started turns: count, latest start, self-ratings (count
    and sum), the sums of jargon counts and of topic lengths; over the ratings
    they received: count and latest (built once: building a statement costs
    more than running it). The turns' row is read anyway for the self-ratings,
    so the sums cost little; the ratings' two come from their index alone."""
    user = bindparam("user_id")
    taught = select(
        literal("taught"),
        func.count(),
        func.max(Turn.started_at),
        func.count(Turn.self_simplicity),
        _sum(Turn.self_simplicity),
        _sum(Turn.jargon_flags),
        _sum(func.length(Turn.topic)),
    ).where(Turn.teacher_id == user, Turn.started_at.is_not(None))
    none = literal(0)
    received = select(
        literal("received"),
        func.count(),
        func.max(Rating.created_at),
        none,
        none,
        none,
        none,
    ).where(Rating.teacher_id == user)
    return union_all(taught, received)


@cache
def _live_statement():
    """A teacher's started turns in live sessions, what can still change in them
    (the live sessions by their status index: SQLite then checks each of the
    teacher's turns against that short list instead of looking its session up)."""
    live = select(TeachSession.id).where(TeachSession.status == "live")
    return (
        select(Turn.id, Turn.topic, Turn.self_simplicity, Turn.jargon_flags)
        .where(
            Turn.teacher_id == bindparam("user_id"),
            Turn.started_at.is_not(None),
            Turn.session_id.in_(live),
        )
        .order_by(Turn.id)
    )


def history_stamp(user_id: int) -> tuple:
    """What the student's review figures depend on, read in two statements."""
    params = {"user_id": user_id}
    totals = sorted(map(tuple, db.session.execute(_totals_statement(), params)))
    live = tuple(map(tuple, db.session.execute(_live_statement(), params)))
    return tuple(totals), live


def figures(user_id: int, timezone: str, compute: Callable[[], _T]) -> _T:
    """compute()'s result for this student, reused while their history stands."""
    cache = _cache()
    if cache.size <= 0:
        return compute()
    stamp = (timezone, history_stamp(user_id))
    value = cache.get(user_id, stamp)
    if value is None:
        value = compute()
        cache.put(user_id, stamp, value)
    return value
