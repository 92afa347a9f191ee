"""Calibration of the four figures: prediction, self-rating, partner, re-check.

Pure functions over plain values (the student's zone passed in), so the page,
its table and its sentence all come from one computation, tested without an
app. Rules (also in docs/review.md):

- Every explanation the partner rated counts; the partner's rating is the
  yardstick. The other three are the teacher's own: the prediction before
  teaching ("how simply can you explain this now?"), the self-rating right
  after, the re-check 12 hours to 7 days later.
- A mean is over the explanations that have that figure. A difference
  (prediction − partner, self − partner, re-check − partner) is the mean of
  the differences over the explanations that have both, never a difference
  of two means over different explanations.
- Over the last HORIZON (six months: 26 weeks): how one judges oneself now,
  not years ago, and a bounded cost whatever the length of the history.
- Per topic (case and spacing folded, as in the review) and per day or ISO
  week in the student's zone (the review's choice by span).
- The sentence speaks of a difference only once CLEAR_AT_LEAST_PAIRS
  explanations have both figures; a mean difference of CLEAR_GAP or more
  either way is "more" or "less", anything closer "matches".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple

from .recheck import RECHECK_CLOSES_AFTER, RECHECK_OPENS_AFTER
from .review import Bucket, _label, buckets_of, choose_period, topic_key

HORIZON = timedelta(weeks=26)
CLEAR_GAP = 0.5  # half a point on the 1-5 scale
CLEAR_AT_LEAST_PAIRS = 3
NO_SENTENCE = (
    "Predict how simply you can explain a topic before you teach it, and "
    "re-check it the next day: after a few turns, this says how well you judge "
    "yourself."
)


def horizon_start(now: datetime) -> datetime:
    """The first instant counted: midnight UTC starting the horizon's first
    day (so the figures move on once a day, not at every request)."""
    return datetime.combine((now - HORIZON).date(), time(0), UTC)


# The chart's lines and the table's columns: (name, Figures attribute).
CHART_LINES = (
    ("Prediction", "predicted"),
    ("Self-rating", "self_rating"),
    ("Partner", "partner"),
    ("Re-check", "recheck"),
)
# The differences that matter: (name, Figures attribute, its pairs' attribute).
GAP_COLUMNS = (
    ("Prediction − partner", "predicted_gap", "predicted_pairs"),
    ("Self − partner", "self_gap", "self_pairs"),
    ("Re-check − partner", "recheck_gap", "recheck_pairs"),
)
ABOUT = (
    f"The last {HORIZON.days // 7} weeks, explanations your partner rated. "
    "Prediction: before teaching; self-rating: right after; re-check: "
    f"{RECHECK_OPENS_AFTER.seconds // 3600} hours to {RECHECK_CLOSES_AFTER.days} "
    "days later. A difference is yours minus your partner's, over the "
    f"explanations that have both; {CLEAR_GAP:g} points or more either way "
    f"counts, once {CLEAR_AT_LEAST_PAIRS} explanations have both."
)


class Rated(NamedTuple):
    """One explanation the partner rated, with the teacher's own figures."""

    topic: str
    taught_at: datetime
    partner: int
    predicted: int | None = None
    self_rating: int | None = None
    recheck: int | None = None


@dataclass(frozen=True)
class Figures:
    """The four means and three differences of a group of explanations."""

    label: str
    explanations: int
    predicted: float | None
    self_rating: float | None
    partner: float | None
    recheck: float | None
    predicted_gap: float | None  # prediction − partner, mean over pairs
    self_gap: float | None
    recheck_gap: float | None
    predicted_pairs: int
    self_pairs: int
    recheck_pairs: int


@dataclass(frozen=True)
class FourWay:
    """The calibration part of the review: overall, per topic, over time."""

    overall: Figures
    topics: tuple[Figures, ...]  # most explanations first
    periods: tuple[Figures, ...]  # oldest first
    period: str  # day, week or month
    sentence: str

    lines = CHART_LINES
    gaps = GAP_COLUMNS
    about = ABOUT

    @property
    def has_own_figures(self) -> bool:
        """Whether any prediction, self-rating or re-check is there to compare."""
        o = self.overall
        return bool(o.predicted_pairs or o.self_pairs or o.recheck_pairs)


def _ratio(total: int, count: int) -> float | None:
    return round(total / count, 2) if count else None


def figures_of(label: str, items: Sequence[Rated]) -> Figures:
    """The four means and three paired differences of some explanations."""
    # Column by column in comprehensions: a review folds thousands of them.
    partner_sum = sum([item.partner for item in items])
    own = []
    for index in (3, 4, 5):  # predicted, self_rating, recheck
        pairs = [(item[index], item.partner) for item in items if item[index]]
        mine = sum([value for value, _ in pairs])
        theirs = sum([value for _, value in pairs])
        own.append(
            (_ratio(mine, len(pairs)), _ratio(mine - theirs, len(pairs)), len(pairs))
        )
    (predicted, p_gap, p_n), (own_mean, s_gap, s_n), (again, r_gap, r_n) = own
    return Figures(
        label,
        len(items),
        predicted,
        own_mean,
        _ratio(partner_sum, len(items)),
        again,
        p_gap,
        s_gap,
        r_gap,
        p_n,
        s_n,
        r_n,
    )


def _clause(gap: float | None, pairs: int, words: tuple[str, str, str]) -> str | None:
    """More / less / matches, or nothing with too few pairs."""
    if gap is None or pairs < CLEAR_AT_LEAST_PAIRS:
        return None
    more, less, same = words
    if gap >= CLEAR_GAP:
        return more
    if gap <= -CLEAR_GAP:
        return less
    return same


BEFORE = (
    "you expect more than you deliver before teaching",
    "you deliver more than you expect before teaching",
    "before teaching you predict what you deliver",
)
RIGHT_AFTER = (
    "right after, you rate yourself higher than your partner does",
    "right after, you rate yourself lower than your partner does",
    "right after, you rate yourself as your partner does",
)
AFTER_A_NIGHT = (
    "after a night your re-checks are higher than your partner's rating",
    "after a night your re-checks are lower than your partner's rating",
    "after a night your re-checks match your partner",
)


def sentence(figures: Figures) -> str:
    """What the three differences mean, in plain words, as one sentence."""
    clauses = [
        clause
        for clause in (
            _clause(figures.predicted_gap, figures.predicted_pairs, BEFORE),
            _clause(figures.self_gap, figures.self_pairs, RIGHT_AFTER),
            _clause(figures.recheck_gap, figures.recheck_pairs, AFTER_A_NIGHT),
        )
        if clause
    ]
    if not clauses:
        return NO_SENTENCE
    text = "; ".join(clauses)
    return text[0].upper() + text[1:] + "."


def four_way(
    items: Sequence[Rated], tz: str | None = None, period: str | None = None
) -> FourWay:
    """Overall, per topic and per period figures of rated explanations (oldest
    first), and the sentence; the period is chosen from the span if not given."""
    topics: dict[str, list[Rated]] = {}
    for item in items:
        key = topic_key(item.topic)
        if key:
            group = topics.get(key)
            if group is None:
                topics[key] = [item]
            else:
                group.append(item)
    whens = [item.taught_at for item in items]
    if period is None:
        period = choose_period(whens[0], whens[-1]) if whens else "month"
    periods: dict[Bucket, list[Rated]] = {}
    for bucket, item in zip(buckets_of(whens, period, tz), items, strict=True):
        group = periods.get(bucket)
        if group is None:
            periods[bucket] = [item]
        else:
            group.append(item)
    by_topic = sorted(
        # Oldest first: the last item carries the latest spelling, shown.
        (figures_of(group[-1].topic, group) for group in topics.values()),
        key=lambda f: (-f.explanations, f.label.casefold()),
    )
    overall = figures_of("All topics", items)
    return FourWay(
        overall=overall,
        topics=tuple(by_topic),
        periods=tuple(
            figures_of(_label(period, bucket), periods[bucket])
            for bucket in sorted(periods)
        ),
        period=period,
        sentence=sentence(overall),
    )


def chart_series(
    periods: Iterable[Figures],
) -> list[tuple[str, list[tuple[str, float]]]]:
    """(name, points) of the four lines over time, each where it has a value."""
    periods = list(periods)
    lines = []
    for name, attr in CHART_LINES:
        values = [(f.label, getattr(f, attr)) for f in periods]
        lines.append((name, [(label, v) for label, v in values if v is not None]))
    return lines
