"""Demo history: three weeks of held (and two missed) teach-back hours.

So a new visitor running `python app.py --demo` sees the review filled in:
topics improving and one still not simple, jargon flagged, summaries with rare
words, self-ratings to compare, predictions that expect more than the
explanation delivers and next-day re-checks that match the partner. Written
straight to the tables (it is history: no notifications, no pushes), with a
fixed seed so every demo looks the same.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from ..domain.recheck import (
    RECHECK_OPENS_AFTER,
    SIMPLICITY_MAX,
    SIMPLICITY_MIN,
    WindowState,
)
from ..domain.recheck import window as recheck_window
from ..domain.review import topic_key
from ..domain.schedule import occurrences, turn_lengths
from ..extensions import db
from ..models import (
    Partnership,
    Rating,
    SessionParticipant,
    Signal,
    Sketch,
    TeachSession,
    Turn,
)
from .schedule import schedule_of

DAYS = 21
SEED = 20261125
MISSED_DAYS_AGO = (5, 12)
# Predictions run ahead of what the partner saw; re-checks a night later match.
PREDICTION_STEPS = (0, 1, 1, 2)
RECHECK_STEPS = (0, 0, 0, -1, 1)
RECHECK_SHARE = 0.7  # of the turns whose re-check window has opened
# topic -> (simplicity of each successive explanation, summary, jargon words)
STORIES = {
    "Renin–angiotensin–aldosterone system": (
        [2, 3, 2, 2, 1, 2, 3, 2, 2, 1, 2, 2, 2, 1],
        "Juxtaglomerular cells secrete renin, which cleaves angiotensinogen; ACE "
        "then yields angiotensin II, a vasoconstrictor that drives aldosterone.",
        ["juxtaglomerular", "angiotensinogen"],
    ),
    "Frank–Starling mechanism": (
        [2, 2, 3, 2, 3, 3, 3, 3, 3, 4, 3, 4, 5, 5],
        "The more the heart fills, the harder it squeezes. Stretch lines up the "
        "muscle fibres better, so a fuller heart pumps out more blood.",
        [],
    ),
    "Loop diuretics": (
        [3, 4, 4, 3, 4, 4, 4, 4, 4, 4, 4, 3, 3, 2],
        "They block a salt pump in the kidney loop, so more salt and water leave "
        "in the urine. You pee more and lose potassium too.",
        ["NKCC2"],
    ),
    "Nephron transport by segment": (
        [3, 2, 3, 2, 2, 3, 2, 2, 3, 2, 2, 2, 2, 2],
        "The proximal tubule reabsorbs most filtrate isosmotically; the thick "
        "ascending limb dilutes it; the collecting duct titrates water via ADH.",
        ["isosmotically", "titrates"],
    ),
    "Cardiac action potential": (
        [2, 3, 3, 3, 3, 4, 3, 3, 3, 3, 4, 5, 5, 4],
        "Sodium rushes in and the cell fires, calcium keeps it going so the heart "
        "can squeeze, and then potassium leaves to reset it.",
        [],
    ),
    "Glycolysis regulation": (
        [4, 3, 4, 4, 4, 4, 3, 4, 4, 4, 4, 4, 4, 4],
        "Sugar is split for quick energy. When the cell has plenty of energy the "
        "main gate, PFK-1, slows down; when it is short, it speeds up.",
        [],
    ),
}
# The listener's "why?" / "how?" questions (§11), a few per topic.
QUESTIONS = {
    "Renin–angiotensin–aldosterone system": [
        ("why", "Why does the macula densa react to chloride, not sodium?"),
        ("how", "How does angiotensin II raise the pressure, step by step?"),
    ],
    "Nephron transport by segment": [
        ("why", "Why is the thick ascending limb impermeable to water?"),
    ],
    "Loop diuretics": [("how", "How does blocking NKCC2 waste calcium too?")],
}
# A few sketches drawn from memory: a loop with an arrow (the feedback loop).
DEMO_SKETCH = [
    {
        "points": [
            [200, 500],
            [300, 300],
            [500, 220],
            [700, 300],
            [800, 500],
            [700, 700],
            [500, 780],
            [300, 700],
            [220, 560],
        ],
        "width": 5,
        "color": "#0b5394",
    },
    {"points": [[180, 600], [220, 560], [280, 590]], "width": 5, "color": "#0b5394"},
    {"points": [[450, 480], [550, 480]], "width": 8, "color": "#b3261e"},
]
SKETCH_DAYS = 6  # the last week's turns of the first topic carry a sketch

SIGNAL_WORDS = {
    "Renin–angiotensin–aldosterone system": ["juxtaglomerular", "macula densa"],
    "Nephron transport by segment": ["isosmotic", "countercurrent"],
    "Loop diuretics": ["NKCC2"],
}


def seed_history(partnership: Partnership, now: datetime) -> int:
    """Past sessions for the demo pair (idempotent: skipped if any exist)."""
    if (
        db.session.query(TeachSession.id)
        .filter_by(partnership_id=partnership.id)
        .first()
    ):
        return 0
    rng = random.Random(SEED)
    # Its own draws, so the rest of the history stays as it always was.
    own_rng = random.Random(SEED + 1)
    start = now - timedelta(days=DAYS)
    partnership.created_at = start - timedelta(days=1)
    db.session.flush()
    plan = occurrences(schedule_of(partnership), start, now - timedelta(hours=2))
    members = (partnership.user_a_id, partnership.user_b_id)
    topics_of = {
        members[0]: [
            "Renin–angiotensin–aldosterone system",
            "Frank–Starling mechanism",
            "Loop diuretics",
        ],
        members[1]: [
            "Nephron transport by segment",
            "Cardiac action potential",
            "Glycolysis regulation",
        ],
    }
    taught = {title: 0 for title in STORIES}
    teach, rate = turn_lengths(partnership.session_minutes, partnership.turns)
    # The latest session whose re-checks are open: left for the invitation job.
    for_job = max(
        (o.starts_at for o in plan if o.ends_at + RECHECK_OPENS_AFTER <= now),
        default=None,
    )
    made = 0
    for occurrence in plan:
        first = members[occurrence.first_teacher]
        second = members[1 - occurrence.first_teacher]
        days_ago = (now - occurrence.starts_at).days
        missed = days_ago in MISSED_DAYS_AGO
        session = TeachSession(
            partnership_id=partnership.id,
            scheduled_date=occurrence.local_date,
            local_date=occurrence.local_date,
            kind="scheduled",
            starts_at=occurrence.starts_at,
            ends_at=occurrence.ends_at,
            status="missed" if missed else "completed",
            phase="done",
            current_turn=0 if missed else partnership.turns,
            turns=partnership.turns,
            teach_seconds=teach,
            rate_seconds=rate,
            first_teacher_id=first,
            second_teacher_id=second,
            started_at=None if missed else occurrence.starts_at,
            ended_at=occurrence.starts_at + timedelta(minutes=10)
            if missed
            else occurrence.ends_at,
            created_at=occurrence.starts_at - timedelta(hours=2),
        )
        session.participants = [
            SessionParticipant(
                user_id=first,
                joined_at=None if missed else occurrence.starts_at,
                absent=missed,
            ),
            SessionParticipant(
                user_id=second, joined_at=occurrence.starts_at, absent=False
            ),
        ]
        db.session.add(session)
        db.session.flush()
        made += 1
        if missed:
            continue
        at = occurrence.starts_at
        for index in range(partnership.turns):
            teacher = (first, second)[index % 2]
            listener = (first, second)[1 - index % 2]
            title = topics_of[teacher][(days_ago + index) % 3]
            scores, summary, jargon = STORIES[title]
            score = scores[min(taught[title], len(scores) - 1)]
            taught[title] += 1
            spoke = rng.randint(int(teach * 0.6), teach)
            turn = Turn(
                session_id=session.id,
                index=index,
                teacher_id=teacher,
                listener_id=listener,
                topic=title,
                topic_key=topic_key(title),
                started_at=at,
                teach_ends_at=at + timedelta(seconds=spoke),
                rating_ends_at=at + timedelta(seconds=spoke + 40),
                ended_at=at + timedelta(seconds=spoke + 40),
                summary=summary,
                summary_at=at + timedelta(seconds=spoke + 35),
                self_simplicity=min(5, score + rng.choice((0, 1, 1))),
                self_rated_at=at + timedelta(seconds=spoke + 20),
            )
            _predict_and_recheck(
                turn, score, own_rng, now, occurrence.starts_at == for_job
            )
            db.session.add(turn)
            db.session.flush()
            words = SIGNAL_WORDS.get(title, [])
            flags = 0
            for n in range(max(0, 5 - score) + rng.randint(0, 1)):
                kind = (
                    "jargon"
                    if words and n % 2 == 0
                    else rng.choice(("lost", "slower", "clear"))
                )
                offset = rng.randint(20, spoke - 5) * 1000
                flags += kind == "jargon"
                db.session.add(
                    Signal(
                        session_id=session.id,
                        turn_id=turn.id,
                        user_id=listener,
                        kind=kind,
                        word=words[n // 2 % len(words)] if kind == "jargon" else None,
                        at=at + timedelta(milliseconds=offset),
                        offset_ms=offset,
                    )
                )
            turn.jargon_flags = flags
            _questions_and_sketch(session.id, turn, listener, title, days_ago, spoke)
            db.session.add(
                Rating(
                    turn_id=turn.id,
                    session_id=session.id,
                    rater_id=listener,
                    teacher_id=teacher,
                    simplicity=score,
                    note="Lost me at the enzyme cascade." if score <= 2 else "",
                    jargon=jargon if score <= 3 else [],
                    created_at=at + timedelta(seconds=spoke + 40),
                )
            )
            at += timedelta(seconds=spoke + 40)
    db.session.commit()
    return made


def _questions_and_sketch(
    session_id: int, turn: Turn, listener: int, title: str, days_ago: int, spoke: int
) -> None:
    """Every third day a why/how question; in the last week a sketch on the
    topic that is first on the teacher's list (no draw on the seeded rng)."""
    asked = QUESTIONS.get(title, [])
    if asked and days_ago % 3 == 0:
        kind, question = asked[days_ago // 3 % len(asked)]
        offset = spoke * 500  # halfway through the explanation
        db.session.add(
            Signal(
                session_id=session_id,
                turn_id=turn.id,
                user_id=listener,
                kind=kind,
                question=question,
                at=turn.started_at + timedelta(milliseconds=offset),
                offset_ms=offset,
            )
        )
    if days_ago < SKETCH_DAYS and turn.index == 0:
        points = sum(len(stroke["points"]) for stroke in DEMO_SKETCH)
        turn.sketch_points = points
        db.session.add(
            Sketch(
                turn_id=turn.id,
                session_id=session_id,
                user_id=turn.teacher_id,
                strokes=DEMO_SKETCH,
                points=points,
                at=turn.started_at + timedelta(seconds=30),
            )
        )


def _clamped(value: int) -> int:
    return max(SIMPLICITY_MIN, min(SIMPLICITY_MAX, value))


def _predict_and_recheck(
    turn: Turn, score: int, rng: random.Random, now: datetime, for_job: bool
) -> None:
    """A prediction before teaching and, once its window opened, a re-check.

    The turns `for_job` are left uninvited for the invitation job (demo.seed_demo
    runs it), so the demo shows its notifications and an open re-check too."""
    turn.predicted_simplicity = _clamped(score + rng.choice(PREDICTION_STEPS))
    turn.predicted_at = turn.started_at - timedelta(seconds=30)
    span = recheck_window(turn.ended_at)
    if span.state(now) == WindowState.EARLY:
        return
    if for_job:
        return
    turn.recheck_invited_at = span.opens_at
    if rng.random() < RECHECK_SHARE:
        turn.recheck_simplicity = _clamped(score + rng.choice(RECHECK_STEPS))
        turn.rechecked_at = min(span.opens_at + timedelta(hours=2), now)
