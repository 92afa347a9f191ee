"""The re-teach schedule's service: cards kept with the ratings, the rebuild,
the due list, and the CLI.

Ratings go through the room's own `rate` (tests/support/reteach.py), so every
card here was written by the hook in the rating's transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ally.domain import reteach as rules
from ally.extensions import db
from ally.models import Rating, TopicCard
from ally.services import reteach
from tests.support.reteach import live_turn, rate

START = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
FSRS_COLUMNS = (
    "topic",
    "state",
    "step",
    "stability",
    "difficulty",
    "due_at",
    "last_review_at",
    "reviews",
)


def day(n: float) -> datetime:
    return START + timedelta(days=n)


@pytest.fixture
def pair(make_user, make_partnership):
    ann = make_user("ann@example.com", display_name="Ann")
    ben = make_user("ben@example.com", display_name="Ben")
    return ann, ben, make_partnership(ann, ben).id


def stored(user_id: int | None = None) -> dict[tuple[int, str], tuple]:
    """Every card's FSRS columns, read fresh."""
    db.session.expire_all()
    query = select(TopicCard)
    if user_id is not None:
        query = query.where(TopicCard.user_id == user_id)
    return {
        (c.user_id, c.topic_key): tuple(getattr(c, name) for name in FSRS_COLUMNS)
        for c in db.session.scalars(query)
    }


def test_a_rating_reviews_the_teachers_card_at_the_end_of_the_explanation(pair):
    ann, ben, pid = pair
    rate(ann, ben, pid, "  RAAS ", 4, day(0))
    card = db.session.scalars(select(TopicCard)).one()
    expected = rules.review(None, 4, day(0))
    assert (card.user_id, card.topic_key, card.topic) == (ann.id, "raas", "  RAAS ")
    assert card.reviews == 1 and card.last_review_at == day(0)
    assert (card.due_at, card.stability, card.difficulty) == (
        expected.due_at,
        expected.stability,
        expected.difficulty,
    )
    # At 90 % retention FSRS's interval is the stability, in whole days.
    assert card.due_at == day(round(expected.stability)) == day(2)


def test_the_same_topic_folded_is_one_card_and_the_title_is_the_latest(pair):
    ann, ben, pid = pair
    rate(ann, ben, pid, "RAAS", 2, day(0))
    rate(ann, ben, pid, "raas", 4, day(2))
    cards = stored(ann.id)
    assert list(cards) == [(ann.id, "raas")]
    topic, *_, reviews = cards[(ann.id, "raas")]
    assert (topic, reviews) == ("raas", 2)
    assert cards[(ann.id, "raas")][1:] == astuple_of(
        rules.replay([(day(0), 2), (day(2), 4)])
    )


def astuple_of(state: rules.CardState) -> tuple:
    return (
        state.state,
        state.step,
        state.stability,
        state.difficulty,
        state.due_at,
        state.last_review_at,
        state.reviews,
    )


def test_unrated_and_untitled_turns_are_not_reviews(pair):
    ann, ben, pid = pair
    rate(ann, ben, pid, "Loop diuretics", None, day(0))
    rate(ann, ben, pid, None, 4, day(1))
    rate(ann, ben, pid, "   ", 4, day(2))
    assert stored() == {}
    assert db.session.scalar(select(db.func.count()).select_from(Rating)) == 2


def test_the_rating_and_the_card_commit_together(pair, monkeypatch):
    """The card is written in the rating's transaction: a failing review
    leaves neither."""
    ann, ben, pid = pair
    session_id = live_turn(ann, ben, pid, "RAAS", day(0)).id

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(rules, "review", broken)
    from ally.services.room import events

    with pytest.raises(RuntimeError):
        events.rate(ben.id, session_id, 0, 4, "", [], day(0) + timedelta(minutes=1))
    db.session.rollback()
    assert stored() == {}
    assert db.session.scalar(select(db.func.count()).select_from(Rating)) == 0


def history(ann, ben, pid) -> None:
    """Several topics of two teachers, with lapses and two late ratings."""
    plan = [
        (ann, ben, "RAAS", 3, 0),
        (ben, ann, "Glycolysis", 5, 0.1),
        (ann, ben, "Loop diuretics", 4, 1),
        (ann, ben, "RAAS", 1, 2),  # Again: a lapse
        (ann, ben, "raas", 4, 5),
        (ben, ann, "Glycolysis", 2, 6),  # a lapse after Easy
        (ann, ben, "Loop diuretics", 5, 9),
        (ann, ben, "RAAS", 5, 30),
        (ben, ann, "glycolysis ", 3, 31),
    ]
    for teacher, listener, topic, simplicity, when in plan:
        rate(teacher, listener, pid, topic, simplicity, day(when))
    # Rated late, out of order: explanations that ended before the last ones.
    rate(ann, ben, pid, "Loop diuretics", 2, day(3))
    rate(ann, ben, pid, "RAAS", 3, day(20))


def test_rebuild_equals_the_incremental_state(pair):
    ann, ben, pid = pair
    history(ann, ben, pid)
    incremental = stored()
    assert {key for _, key in incremental} == {"raas", "loop diuretics", "glycolysis"}
    assert incremental[(ann.id, "raas")][-1] == 5
    # The late RAAS rating (day 20) sits before day 30 in the replay.
    replayed = rules.replay(
        [(day(0), 3), (day(2), 1), (day(5), 4), (day(20), 3), (day(30), 5)]
    )
    assert incremental[(ann.id, "raas")][1:] == astuple_of(replayed)
    db.session.execute(TopicCard.__table__.delete())
    db.session.commit()
    assert reteach.rebuild() == 3
    assert stored() == incremental


def test_rebuild_of_one_student_leaves_the_others_alone(pair):
    ann, ben, pid = pair
    history(ann, ben, pid)
    before = stored()
    # Ben's card damaged, Ann's removed: a rebuild of Ann fixes only hers.
    db.session.execute(
        TopicCard.__table__.update()
        .where(TopicCard.user_id == ben.id)
        .values(reviews=99)
    )
    db.session.execute(TopicCard.__table__.delete().where(TopicCard.user_id == ann.id))
    db.session.commit()
    assert reteach.rebuild(ann.id) == 2
    after = stored()
    assert {k: v for k, v in after.items() if k[0] == ann.id} == {
        k: v for k, v in before.items() if k[0] == ann.id
    }
    assert after[(ben.id, "glycolysis")][-1] == 99


def test_rebuild_drops_cards_without_ratings(pair):
    ann, ben, pid = pair
    rate(ann, ben, pid, "RAAS", 4, day(0))
    db.session.add(
        TopicCard(
            user_id=ann.id,
            topic_key="ghost",
            topic="Ghost",
            state=2,
            due_at=day(1),
            reviews=3,
        )
    )
    db.session.commit()
    reteach.rebuild()
    assert set(stored()) == {(ann.id, "raas")}


def test_due_lists_the_most_overdue_first_and_only_the_students_own(pair):
    ann, ben, pid = pair
    rate(ann, ben, pid, "RAAS", 1, day(0))  # Again: due a day later
    rate(ann, ben, pid, "Loop diuretics", 2, day(1))  # due on day 2
    rate(ann, ben, pid, "Glycolysis", 5, day(1))  # Easy: weeks away
    rate(ben, ann, pid, "Cardiac action potential", 1, day(0))
    now = day(3)
    due = reteach.due(ann.id, now)
    assert [c.topic for c in due] == ["RAAS", "Loop diuretics"]
    assert due[0].due_at < due[1].due_at <= now
    assert all(c.due and 0 < c.retrievability < 1 for c in due)
    every = reteach.cards(ann.id, now)
    assert [c.topic for c in every] == ["RAAS", "Loop diuretics", "Glycolysis"]
    assert not every[-1].due and every[-1].due_at > now
    # Nothing was due before the first lapse's day came.
    assert reteach.due(ann.id, day(0.5)) == []


def test_the_desired_retention_moves_the_due_dates(pair, app):
    ann, ben, pid = pair
    rate(ann, ben, pid, "Glycolysis", 5, day(0))
    rate(ann, ben, pid, "Glycolysis", 5, day(20))
    at_90 = stored()[(ann.id, "glycolysis")]
    app.config["ALLY_DESIRED_RETENTION"] = 0.8
    reteach.rebuild()
    at_80 = stored()[(ann.id, "glycolysis")]
    assert at_80[5] > at_90[5]  # a lower aim comes back later


def test_curve_starts_at_one_and_falls_until_the_next_review(pair):
    ann, ben, pid = pair
    rate(ann, ben, pid, "RAAS", 3, day(0))
    rate(ann, ben, pid, "RAAS", 4, day(4))
    points = reteach.curve(reteach.topic_reviews(ann.id, "raas"), day(10))
    assert points[0] == (day(0), 1.0)
    assert (day(4), 1.0) in points
    before = [r for at, r in points if day(0) < at < day(4)]
    assert before == sorted(before, reverse=True) and before[-1] < 1
    assert points[-1][0] >= day(10)
    assert reteach.topic_reviews(ann.id, "nothing") == []
    assert reteach.curve([], day(10)) == []


def test_the_cli_rebuilds_every_card(pair, app):
    ann, ben, pid = pair
    history(ann, ben, pid)
    incremental = stored()
    db.session.execute(TopicCard.__table__.delete())
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["ally", "rebuild-cards"])
    assert result.exit_code == 0, result.output
    assert "3 cards" in result.output
    assert stored() == incremental


def test_the_demo_history_is_scheduled(app):
    from ally.models import User, utcnow
    from ally.services.demo import DEMO_USERS, seed_demo

    now = utcnow()
    seed_demo(now)
    ana = db.session.scalars(
        select(User).where(User.email == DEMO_USERS[0].email)
    ).one()
    shown = reteach.cards(ana.id, now)
    assert len(shown) == 3 and all(c.reviews > 5 for c in shown)
    # RAAS is still rated low: it is due (or due soon), before the others.
    assert shown[0].topic == "Renin–angiotensin–aldosterone system"
    assert shown[0].due_at <= now + timedelta(days=2)


def test_rebuild_equals_the_incremental_state_on_every_backend(any_app):
    """PostgreSQL too: the insert-if-missing, the row lock, the float columns."""
    from tests.conftest import pair_up, user_maker

    make = user_maker()
    ann, ben = make("ann@example.com"), make("ben@example.com")
    history(ann, ben, pair_up(ann, ben).id)
    incremental = stored()
    assert len(incremental) == 3
    assert reteach.rebuild() == 3
    assert stored() == incremental
