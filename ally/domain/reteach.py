"""The re-teach schedule: each (student, topic) is an FSRS card, reviewed by
every rated explanation of that topic.

The `fsrs` package does the scheduling; these rules decide what a review is
and how a card is stored. The scheduler has no learning steps (a topic is
taught at most a few times a day, never "again in ten minutes": every review
gives a whole number of days) and no fuzz, so replaying the ratings in time
order always gives the same card as reviewing them one by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from fsrs import Card, Rating, Scheduler, State

DEFAULT_RETENTION = 0.9
# Anki's bounds for desired retention: below, forgetting is the plan; above,
# the intervals shrink towards a review every day.
MIN_RETENTION, MAX_RETENTION = 0.7, 0.99
# fsrs asks for a card id; ours live in the database, so any fixed number does
# (left out, fsrs reads the clock and sleeps a millisecond).
CARD_ID = 0
CURVE_MAX_POINTS = 400


def rating_for(simplicity: int) -> Rating:
    """The FSRS rating of a listener's simplicity: 1–2 Again, 3 Hard, 4 Good,
    5 Easy."""
    if not 1 <= simplicity <= 5:
        raise ValueError(f"simplicity is 1 to 5, not {simplicity!r}")
    if simplicity <= 2:
        return Rating.Again
    return (Rating.Hard, Rating.Good, Rating.Easy)[simplicity - 3]


def check_retention(value: float) -> float:
    """The desired retention if it is within bounds, else ValueError."""
    if not MIN_RETENTION <= value <= MAX_RETENTION:
        raise ValueError(
            f"desired retention must be {MIN_RETENTION} to {MAX_RETENTION}"
            f" (got {value!r})"
        )
    return value


@lru_cache(maxsize=8)
def scheduler(desired_retention: float = DEFAULT_RETENTION) -> Scheduler:
    """The deterministic FSRS scheduler: default weights, days only, no fuzz."""
    return Scheduler(
        desired_retention=check_retention(desired_retention),
        learning_steps=(),
        relearning_steps=(),
        enable_fuzzing=False,
    )


@dataclass(frozen=True)
class CardState:
    """A card as stored (the columns of `topic_cards` that FSRS owns)."""

    state: int
    step: int | None
    stability: float | None
    difficulty: float | None
    due_at: datetime
    last_review_at: datetime | None
    reviews: int


def to_fsrs(card: CardState) -> Card:
    """The fsrs Card of a stored card."""
    return Card(
        card_id=CARD_ID,
        state=State(card.state),
        step=card.step,
        stability=card.stability,
        difficulty=card.difficulty,
        due=card.due_at,
        last_review=card.last_review_at,
    )


def from_fsrs(card: Card, reviews: int) -> CardState:
    """The stored form of an fsrs Card after `reviews` reviews."""
    return CardState(
        state=int(card.state),
        step=card.step,
        stability=card.stability,
        difficulty=card.difficulty,
        due_at=card.due,
        last_review_at=card.last_review,
        reviews=reviews,
    )


def _utc(instant: datetime) -> datetime:
    """fsrs takes only UTC instants (an aware one in another zone is converted)."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime given to the re-teach schedule")
    return instant.astimezone(UTC)


def review(
    card: CardState | None,
    simplicity: int,
    at: datetime,
    retention: float = DEFAULT_RETENTION,
) -> CardState:
    """The card after one rated explanation at `at` (a new card when None)."""
    at = _utc(at)
    before = to_fsrs(card) if card else Card(card_id=CARD_ID, due=at)
    after, _ = scheduler(retention).review_card(before, rating_for(simplicity), at)
    return from_fsrs(after, (card.reviews if card else 0) + 1)


def replay(
    reviews: Iterable[tuple[datetime, int]], retention: float = DEFAULT_RETENTION
) -> CardState | None:
    """The card after (instant, simplicity) reviews, given in time order."""
    card = None
    for at, simplicity in reviews:
        card = review(card, simplicity, at, retention)
    return card


def retrievability(
    card: CardState, now: datetime, retention: float = DEFAULT_RETENTION
) -> float:
    """The chance (0–1) of explaining the topic well now, as FSRS predicts it."""
    value = scheduler(retention).get_card_retrievability(to_fsrs(card), _utc(now))
    return min(1.0, max(0.0, float(value)))


def is_due(card: CardState, now: datetime) -> bool:
    """Whether the topic should be taught again by now."""
    return card.due_at <= now


def curve(
    reviews: list[tuple[datetime, int]],
    now: datetime,
    retention: float = DEFAULT_RETENTION,
) -> list[tuple[datetime, float]]:
    """Retrievability over time, from the first review until now or the due
    date, whichever is later: 1.0 at each review, then a point a day (FSRS
    counts whole days; a long history is thinned to every n-th day)."""
    if not reviews:
        return []
    plan = scheduler(retention)
    instants = [(_utc(at), simplicity) for at, simplicity in reviews]
    # fsrs Cards throughout (no stored form): a busy topic has hundreds of reviews.
    cards, card = [], Card(card_id=CARD_ID, due=instants[0][0])
    for at, simplicity in instants:
        card, _ = plan.review_card(card, rating_for(simplicity), at)
        cards.append(card)
    end = max(_utc(now), card.due)
    span_days = (end - instants[0][0]).days
    step = timedelta(days=max(1, -(-span_days // CURVE_MAX_POINTS)))
    points: list[tuple[datetime, float]] = []
    for i, (at, _) in enumerate(instants):
        points.append((at, 1.0))
        last = i + 1 == len(instants)
        stop = end if last else instants[i + 1][0]
        moment = at + step
        while moment < stop:
            points.append((moment, plan.get_card_retrievability(cards[i], moment)))
            moment += step
        if last and stop > at:
            points.append((stop, plan.get_card_retrievability(cards[i], stop)))
    return points
