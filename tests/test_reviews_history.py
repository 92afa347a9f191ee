"""The review's one query (reviews.history) against instants written by hand.

history() reads each instant as ISO text and turns it into an aware UTC
datetime itself (not through UTCDateTime), and joins only the user's own
ratings. These tests pin what it must give back: every instant to the
microsecond, in UTC, oldest first (ties by turn), with the listener's rating,
the self-rating and the jargon count, on SQLite and on PostgreSQL (which writes
timestamps in its own text format).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ally.domain.review import Explanation
from ally.extensions import db
from ally.models import User
from ally.services import reviews
from tests.conftest import pair_up, postgres_app, user_maker
from tests.test_reviews import Taught, write_session

START = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def write_odd_instants(make_user, make_partnership) -> tuple[User, list[Explanation]]:
    """Ann's turns at awkward instants; returns her and what history must give."""
    ann = make_user("ann@example.com", display_name="Ann")
    ben = make_user("ben@example.com", display_name="Ben")
    pair = make_partnership(ann, ben)
    micro = timedelta(microseconds=1)
    # (when, topic, rating, self-rating, jargon words, jargon signals)
    turns = [
        (START + timedelta(days=2, seconds=59) - micro, "RAAS", 2, 4, ("renin",), 2),
        (START - timedelta(days=400) + micro, "Renal clearance", 5, None, (), 0),
        (START + timedelta(milliseconds=500), None, None, 3, (), 1),  # unrated
        (START + timedelta(days=1, microseconds=120_000), " raas ", 1, 1, (), 0),
        # Two turns at the very same instant: the older turn first.
        (START + timedelta(days=3), "Loop", 3, None, ("a", "b", "c"), 0),
        (START + timedelta(days=3), "Glycolysis", 4, 2, (), 0),
    ]
    for when, topic, rating, own, words, flags in turns:
        taught = Taught(
            ann,
            ben,
            when,
            topic,
            rating,
            self_rating=own,
            jargon=words,
            signals={"jargon": flags} if flags else {},
            signal_word="renin",
        )
        # Ben's turn in the same session, rated by Ann: never part of her history.
        theirs = Taught(ben, ann, when + timedelta(minutes=10), "Acid-base", 5)
        write_session(pair, [taught, theirs])
    db.session.commit()
    expected = [
        Explanation(topic or "", when, rating, own, flags + len(words))
        for when, topic, rating, own, words, flags in turns
    ]
    expected.sort(key=lambda e: e.taught_at)  # stable: the tie keeps turn order
    return ann, expected


def check_history(make_user, make_partnership) -> None:
    """history() gives back exactly the turns written, aware in UTC."""
    ann, expected = write_odd_instants(make_user, make_partnership)
    found = reviews.history(ann.id)
    assert found == expected
    micros = [e.taught_at.microsecond for e in found]
    assert micros == [1, 500_000, 120_000, 999_999, 0, 0]
    assert all(e.taught_at.tzinfo is UTC for e in found)
    # The figures built on it: the latest RAAS spelling, its instant to the µs.
    (raas,) = [t for t in reviews.summary(ann.id).topics if t.key == "raas"]
    assert raas.last_taught == START + timedelta(days=2, seconds=59, microseconds=-1)
    assert (raas.topic, raas.explanations, raas.mean) == ("RAAS", 2, 1.5)


def test_history_keeps_every_instant_to_the_microsecond(make_user, make_partnership):
    check_history(make_user, make_partnership)


@pytest.mark.postgres
def test_history_keeps_every_instant_to_the_microsecond_on_postgresql():
    with postgres_app():
        check_history(user_maker(), pair_up)
