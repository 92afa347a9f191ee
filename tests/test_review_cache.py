"""The review's figures kept between requests (ally.services.review_cache).

The property test of the room (tests/test_room_properties.py) checks that kept
figures are never stale after any room event; these tests pin what the cache
itself promises: the same figures object while nothing changed, new figures
after each kind of change, a bound on how many students it holds, and off
when its size is 0.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from ally.extensions import db
from ally.models import Rating, TeachSession, Turn, User
from ally.services import reviews
from ally.services.review_cache import StampedCache
from tests.conftest import Browser
from tests.test_reviews import Taught, at, write_session


def test_stamped_cache_serves_a_value_only_under_its_stamp() -> None:
    cache = StampedCache(2)
    cache.put("ann", 1, "figures of 1")
    assert cache.get("ann", 1) == "figures of 1"
    assert cache.get("ann", 2) is None
    assert cache.get("ben", 1) is None


def test_stamped_cache_drops_the_least_recently_used() -> None:
    cache = StampedCache(2)
    cache.put("ann", 1, "a")
    cache.put("ben", 1, "b")
    assert cache.get("ann", 1) == "a"  # ann is now the most recent
    cache.put("cy", 1, "c")
    assert len(cache) == 2
    assert cache.get("ben", 1) is None
    assert (cache.get("ann", 1), cache.get("cy", 1)) == ("a", "c")


def test_stamped_cache_of_size_zero_keeps_nothing() -> None:
    cache = StampedCache(0)
    cache.put("ann", 1, "a")
    assert len(cache) == 0
    assert cache.get("ann", 1) is None


@pytest.fixture
def pair(make_user, make_partnership):
    ann = make_user("ann@example.com", display_name="Ann", timezone="America/New_York")
    ben = make_user("ben@example.com", display_name="Ben", timezone="Europe/London")
    return ann, ben, make_partnership(ann, ben)


def taught(ann: User, ben: User, day: float, topic: str, simplicity: int | None):
    return Taught(ann, ben, at(day), topic, simplicity)


def fresh(user: User) -> reviews.Summary:
    return reviews.fresh_summary(user.id, user.timezone)


def rate_later(session: TeachSession, simplicity: int, when) -> Turn:
    """The listener's rating of the session's only turn, written afterwards."""
    turn = db.session.scalars(select(Turn).where(Turn.session_id == session.id)).one()
    db.session.add(
        Rating(
            turn_id=turn.id,
            session_id=session.id,
            rater_id=turn.listener_id,
            teacher_id=turn.teacher_id,
            simplicity=simplicity,
            note="",
            jargon=[],
            created_at=when,
        )
    )
    db.session.commit()
    return turn


def test_unchanged_history_serves_the_same_figures(pair) -> None:
    ann, ben, partnership = pair
    write_session(
        partnership,
        [taught(ann, ben, 0, "RAAS", 2), Taught(ben, ann, at(0, 15, 10), "Loop", 4)],
    )
    db.session.commit()
    first = reviews.summary(ann.id)
    assert first.explanations == 1 and first.mean == 2.0
    assert reviews.summary(ann.id) is first
    assert reviews.gap_titles(ann.id) == ["RAAS"]
    # Ben's figures are his own, kept apart from Ann's.
    assert reviews.summary(ben.id).mean == 4.0
    assert reviews.summary(ann.id) is first


def test_each_kind_of_change_gives_new_figures(pair) -> None:
    ann, ben, partnership = pair
    session = write_session(partnership, [taught(ann, ben, 0, "RAAS", None)])
    db.session.commit()
    assert reviews.summary(ann.id).rated == 0

    # A rating arrives.
    turn = rate_later(session, 3, at(0, 15, 9))
    assert reviews.summary(ann.id).mean == 3.0

    # The teacher rates herself after the session ended (her rating time).
    turn.self_simplicity = 5
    db.session.commit()
    assert reviews.summary(ann.id).calibration.over == 1

    # A new turn starts, in a live session this time.
    live = write_session(
        partnership, [taught(ann, ben, 1, "Loop diuretics", None)], status="live"
    )
    db.session.commit()
    assert reviews.summary(ann.id).explanations == 2

    # Inside a live session: the topic renamed, the jargon count written.
    db.session.execute(
        update(Turn)
        .where(Turn.session_id == live.id)
        .values(topic="Nephron", jargon_flags=4)
    )
    db.session.commit()
    figures = reviews.summary(ann.id)
    assert {t.topic for t in figures.topics} == {"RAAS", "Nephron"}
    assert figures == fresh(ann)

    # The session ends: the stamp changes once more, the figures do not.
    db.session.execute(
        update(TeachSession)
        .where(TeachSession.id == live.id)
        .values(status="completed")
    )
    db.session.commit()
    assert reviews.summary(ann.id) == figures


def test_a_new_time_zone_regroups_the_days(pair) -> None:
    ann, ben, partnership = pair
    # 03:30 UTC is the evening before in New York and the same day in Tokyo.
    late = at(0, 3, 30)
    write_session(partnership, [Taught(ann, ben, late, "RAAS", 4)])
    db.session.commit()
    assert reviews.summary(ann.id).overall[0][0].endswith("01-04")
    ann.timezone = "Asia/Tokyo"
    db.session.commit()
    again = reviews.summary(ann.id)
    assert again.timezone == "Asia/Tokyo"
    assert again.overall[0][0].endswith("01-05")


@pytest.fixture
def pair_with_cache_size(request, make_app, make_user, make_partnership):
    """Ann and Ben, Ann with one rated explanation, in an app whose cache holds
    `size` students (its context pushed for the rest of the test)."""

    def build(size: int) -> tuple[User, User]:
        context = make_app(ALLY_REVIEW_CACHE_SIZE=size).app_context()
        context.push()
        request.addfinalizer(context.pop)
        ann = make_user("ann@example.com", display_name="Ann")
        ben = make_user("ben@example.com", display_name="Ben")
        write_session(make_partnership(ann, ben), [taught(ann, ben, 0, "RAAS", 3)])
        db.session.commit()
        return ann, ben

    return build


def test_the_cache_holds_at_most_its_size(pair_with_cache_size) -> None:
    ann, ben = pair_with_cache_size(1)
    kept = reviews.summary(ann.id)
    assert reviews.summary(ann.id) is kept
    reviews.summary(ben.id)  # pushes Ann out
    assert reviews.summary(ann.id) is not kept
    assert reviews.summary(ann.id) == kept


def test_size_zero_recomputes_every_time(pair_with_cache_size) -> None:
    ann, _ = pair_with_cache_size(0)
    first = reviews.summary(ann.id)
    assert reviews.summary(ann.id) is not first
    assert reviews.summary(ann.id) == first


def gaps_section(html: str) -> str:
    return html.split('id="gaps-heading"', 1)[1].split("</section>", 1)[0]


def test_the_review_page_shows_a_rating_given_after_the_first_visit(pair, app) -> None:
    """Through the page: the gaps change as soon as the history does."""
    ann, ben, partnership = pair
    session = write_session(partnership, [taught(ann, ben, 0, "RAAS", None)])
    db.session.commit()
    browser = Browser(app.test_client())
    assert browser.login(ann.email).status_code == 302
    before = gaps_section(browser.client.get("/review").get_data(as_text=True))
    assert "No gaps" in before and "RAAS" not in before
    rate_later(session, 1, at(0, 15, 9) + timedelta(seconds=1))
    after = gaps_section(browser.client.get("/review").get_data(as_text=True))
    assert "No gaps" not in after and "<strong>RAAS</strong>" in after


def gap_topics(figures: reviews.Summary) -> list[str]:
    return [gap.stats.topic for gap in figures.gaps]


def topics_of(figures: reviews.Summary) -> set[str]:
    return {stats.topic for stats in figures.topics}


@pytest.mark.parametrize(
    ("column", "value", "before", "after"),
    [
        # A jargon count written as an unrated turn ends: the jargon gap.
        (
            "jargon_flags",
            4,
            lambda f: gap_topics(f) == [],
            lambda f: gap_topics(f) == ["RAAS"],
        ),
        # A self-rating given (or changed) after its session: the calibration.
        (
            "self_simplicity",
            5,
            lambda f: (f.calibration.over, f.calibration.under) == (0, 1),
            lambda f: (f.calibration.over, f.calibration.under) == (1, 0),
        ),
        # A topic named anew: the topics.
        (
            "topic",
            "Renin–angiotensin system",
            lambda f: topics_of(f) == {"RAAS"},
            lambda f: topics_of(f) == {"Renin–angiotensin system"},
        ),
    ],
    ids=["jargon", "self-rating", "topic"],
)
def test_each_value_the_figures_read_is_in_the_stamp_in_any_session(
    pair, column, value, before, after
) -> None:
    """Not only in a live session: a value written once its session is over
    (the room does not today, but the figures must not depend on that)."""
    ann, ben, partnership = pair
    spec = Taught(ann, ben, at(0), "RAAS", 4, self_rating=2)
    session = write_session(partnership, [spec])
    db.session.commit()
    kept = reviews.summary(ann.id)
    assert before(kept) and reviews.summary(ann.id) is kept

    db.session.execute(
        update(Turn).where(Turn.session_id == session.id).values({column: value})
    )
    db.session.commit()

    figures = reviews.summary(ann.id)
    assert figures == fresh(ann)
    assert after(figures)
