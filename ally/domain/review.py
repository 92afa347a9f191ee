"""The review: per-topic figures, trends, the gaps to teach again, calibration.

Pure functions over plain values (`now` passed in), so every figure the pages,
the exports and the API show is computed once, here, and tested without an app.

Rules (also in docs/review.md):

- A topic is the turn's topic with case and spacing folded ("RAAS" = "raas ").
- Trend, from the listener ratings of a topic in time order: the mean of the
  last three against the mean of the three before; "improving" if it rose by
  at least 0.5, "worse" if it fell by at least 0.5, else "flat". Fewer than
  four ratings: "new" (not enough to say).
- A gap ("teach again") is a topic whose last rating is 2 or less, whose mean
  is below 3, or whose explanations drew on average 3 or more jargon flags
  (listener signals plus words named in the rating). Most urgent first: the
  lowest last rating, then the one taught longest ago.
- Calibration: for each turn with both a self-rating and a listener rating,
  self minus partner; the mean of that difference says whether the student
  tends to over- (positive) or under-rate (negative) their own explanations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import NamedTuple, TypeVar

from .timezones import zone

TREND_WINDOW = 3
TREND_STEP = 0.5
GAP_LAST_AT_MOST = 2
GAP_MEAN_BELOW = 3.0
GAP_JARGON_PER_EXPLANATION = 3.0

# The sort key of explanations (a C call: a review sorts thousands of them).
_taught_at = attrgetter("taught_at")


@lru_cache(maxsize=4096)
def topic_key(title: str | None) -> str:
    """The folded form topics are grouped by ("" for no topic)."""
    return " ".join((title or "").split()).casefold()


def mean(values: Sequence[int]) -> float:
    """The arithmetic mean of whole ratings (statistics.mean is exact, and slow:
    with integers a plain division gives the same correctly rounded float)."""
    return sum(values) / len(values)


class Explanation(NamedTuple):
    """One turn a student taught, as the review needs it (a tuple: a review
    builds thousands of them per request)."""

    topic: str  # as written (the latest spelling is shown)
    taught_at: datetime
    simplicity: int | None  # the listener's rating, if any
    self_simplicity: int | None = None
    jargon_flags: int = 0

    @property
    def key(self) -> str:
        """The topic's folded form."""
        return topic_key(self.topic)


@dataclass(frozen=True)
class TopicStats:
    """Figures for one topic."""

    key: str
    topic: str
    explanations: int
    rated: int
    mean: float | None
    last: int | None
    trend: str  # improving / flat / worse / new
    last_taught: datetime
    jargon_per_explanation: float
    ratings: tuple[tuple[datetime, int], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Gap:
    """A topic to teach again, and why."""

    stats: TopicStats
    reasons: tuple[str, ...]


def trend(ratings: Sequence[int]) -> str:
    """improving / flat / worse over the last ratings (oldest first), or new."""
    if len(ratings) < TREND_WINDOW + 1:
        return "new"
    recent = ratings[-TREND_WINDOW:]
    before = ratings[-2 * TREND_WINDOW : -TREND_WINDOW]
    change = mean(recent) - mean(before)
    if change >= TREND_STEP:
        return "improving"
    if change <= -TREND_STEP:
        return "worse"
    return "flat"


def topic_stats(explanations: Iterable[Explanation]) -> list[TopicStats]:
    """One entry per topic, most recently taught first (untitled turns left out)."""
    groups: dict[str, list[Explanation]] = {}
    for item in sorted(explanations, key=_taught_at):
        # topic_key directly, once: the key property costs a call more per item.
        key = topic_key(item.topic)
        if key:
            group = groups.get(key)
            if group is None:
                group = groups[key] = []
            group.append(item)
    result = []
    for key, items in groups.items():
        rated = [(e.taught_at, e.simplicity) for e in items if e.simplicity]
        values = [v for _, v in rated]
        result.append(
            TopicStats(
                key=key,
                topic=items[-1].topic,
                explanations=len(items),
                rated=len(values),
                mean=round(mean(values), 2) if values else None,
                last=values[-1] if values else None,
                trend=trend(values),
                last_taught=items[-1].taught_at,
                jargon_per_explanation=round(
                    sum([e.jargon_flags for e in items]) / len(items), 2
                ),
                ratings=tuple(rated),
            )
        )
    return sorted(result, key=lambda s: s.last_taught, reverse=True)


def gap_reasons(stats: TopicStats) -> tuple[str, ...]:
    """Why a topic needs teaching again (empty if it does not)."""
    reasons = []
    if stats.last is not None and stats.last <= GAP_LAST_AT_MOST:
        reasons.append(f"last rated {stats.last}/5")
    if stats.mean is not None and stats.mean < GAP_MEAN_BELOW:
        reasons.append(f"average {stats.mean:.1f}/5")
    if stats.jargon_per_explanation >= GAP_JARGON_PER_EXPLANATION:
        reasons.append(
            f"{stats.jargon_per_explanation:.1f} jargon flags per explanation"
        )
    return tuple(reasons)


def gaps(stats: Iterable[TopicStats]) -> list[Gap]:
    """The topics to teach again, most urgent first (lowest, then oldest)."""
    found = [Gap(s, r) for s in stats if (r := gap_reasons(s))]
    return sorted(
        found,
        key=lambda g: (
            g.stats.last if g.stats.last is not None else 6,
            g.stats.last_taught,
        ),
    )


@dataclass(frozen=True)
class Calibration:
    """Self-rating against the partner's rating, over time."""

    points: tuple[tuple[datetime, int, int], ...]  # (when, self, partner)
    mean_difference: float | None  # self minus partner
    over: int  # turns rated higher by oneself
    under: int
    same: int

    @property
    def verdict(self) -> str:
        """A sentence for the page."""
        if self.mean_difference is None:
            return "Rate yourself after each turn to see how well you judge."
        if self.mean_difference >= 0.5:
            return "You tend to rate your explanations higher than your partner."
        if self.mean_difference <= -0.5:
            return "You tend to rate your explanations lower than your partner."
        return "Your own ratings match your partner's closely."


def calibration(explanations: Iterable[Explanation]) -> Calibration:
    """Self against partner for every turn that has both, oldest first."""
    points = tuple(
        (e.taught_at, e.self_simplicity, e.simplicity)
        for e in sorted(explanations, key=_taught_at)
        if e.self_simplicity is not None and e.simplicity is not None
    )
    diffs = [s - p for _, s, p in points]
    over = under = 0
    for diff in diffs:
        if diff > 0:
            over += 1
        elif diff < 0:
            under += 1
    return Calibration(
        points=points,
        mean_difference=round(mean(diffs), 2) if diffs else None,
        over=over,
        under=under,
        same=len(diffs) - over - under,
    )


def choose_period(first: datetime, last: datetime) -> str:
    """Day, week or month buckets, so a chart has a readable number of points."""
    span = (last - first).days
    if span <= 45:
        return "day"
    if span <= 210:
        return "week"
    return "month"


# (year, month, day), (ISO year, week, 0) or (year, month, 0)
Bucket = tuple[int, int, int]


def buckets_of(whens: Iterable[datetime], period: str, tz: str | None) -> list[Bucket]:
    """The day, ISO week or month (in `tz` if given) of each instant, in order.

    Computed once per instant: a review converts thousands of them."""
    info = zone(tz) if tz else None
    local = [when.astimezone(info) for when in whens] if info else list(whens)
    # One comprehension per period rather than a test of the period per instant.
    if period == "week":
        return [(year, week, 0) for year, week, _ in map(datetime.isocalendar, local)]
    if period == "day":
        return [(d.year, d.month, d.day) for d in local]
    return [(d.year, d.month, 0) for d in local]


_V = TypeVar("_V")


def _grouped(pairs: Iterable[tuple[Bucket, _V]]) -> list[tuple[Bucket, list[_V]]]:
    """The values of each bucket, buckets oldest first."""
    groups: dict[Bucket, list[_V]] = {}
    for bucket, value in pairs:
        values = groups.get(bucket)
        if values is None:
            groups[bucket] = [value]
        else:
            values.append(value)
    return sorted(groups.items())


def series_from_buckets(
    pairs: Iterable[tuple[Bucket, int]], period: str
) -> list[tuple[str, float, int]]:
    """(period label, mean, count) per bucket, oldest first."""
    return [
        (_label(period, bucket), round(mean(values), 2), len(values))
        for bucket, values in _grouped(pairs)
    ]


def calibration_from_buckets(
    pairs: Iterable[tuple[Bucket, tuple[int, int]]], period: str
) -> list[tuple[str, float, float, int]]:
    """(period label, mean self-rating, mean partner rating, turns), oldest first."""
    return [
        (
            _label(period, bucket),
            round(mean([own for own, _ in both]), 2),
            round(mean([theirs for _, theirs in both]), 2),
            len(both),
        )
        for bucket, both in _grouped(pairs)
    ]


def series_by_period(
    points: Iterable[tuple[datetime, int]],
    period: str | None = None,
    tz: str | None = None,
) -> list[tuple[str, float, int]]:
    """Mean rating per day ("2026-03-10"), ISO week ("2026-W10") or month
    ("2026-03"), oldest first; the period is chosen from the span if not given.
    With `tz`, days (weeks, months) are the student's own, not UTC's."""
    points = list(points)
    if not points:
        return []
    whens = [when for when, _ in points]
    period = period or choose_period(min(whens), max(whens))
    buckets = buckets_of(whens, period, tz)
    return series_from_buckets(
        zip(buckets, (value for _, value in points), strict=True), period
    )


def calibration_by_period(
    points: Iterable[tuple[datetime, int, int]], period: str, tz: str | None = None
) -> list[tuple[str, float, float, int]]:
    """(period, mean self-rating, mean partner rating, turns), oldest first:
    both series of the calibration chart in one pass."""
    points = list(points)
    buckets = buckets_of((when for when, _, _ in points), period, tz)
    return calibration_from_buckets(
        zip(buckets, ((own, theirs) for _, own, theirs in points), strict=True),
        period,
    )


def _label(period: str, bucket: Bucket) -> str:
    year, number, day = bucket
    if period == "week":
        return f"{year}-W{number:02d}"
    if period == "day":
        return f"{year:04d}-{number:02d}-{day:02d}"
    return f"{year:04d}-{number:02d}"
