"""The review: pages, exports and the ratings API over hand-made histories.

History rows are written straight to the tables (as demo_history does) with
known values, so every figure shown can be checked against numbers worked out
by hand: means, trends, the gaps and their order, calibration, readability.
Also: the allow-list, bad input, the privacy matrix (a rating is seen by the
two partners of its session and nobody else), the export round-trip, and a
query count that does not grow with the length of the history.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event

from ally.domain.review import topic_key
from ally.extensions import db
from ally.models import (
    Partnership,
    Profile,
    Rating,
    SessionParticipant,
    Signal,
    TeachSession,
    Turn,
    User,
    utcnow,
)
from ally.services import reviews, tokens, topics
from tests.conftest import (
    Browser,
    IsolatedClient,
    pair_up,
    postgres_app,
    user_maker,
)

# Every request in its own app context (see tests.conftest.IsolatedClient).
pytestmark = pytest.mark.usefixtures("isolated_requests")

API = "/api/v1"
START = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # a Monday
KIDNEY_SUMMARY = "The kidney makes renin. Renin helps keep blood pressure up."
WATER_SUMMARY = "Water flows into the kidney. The kidney cleans it."
RAAS_NOTE = "Lost me at the enzyme cascade."
LOOP_NOTE = 'Say "salt pump" & <not> NKCC2'


@pytest.fixture
def browser_for(app):
    """A logged-in browser of its own for a user."""

    def login(user: User) -> Browser:
        browser = Browser(app.test_client())
        assert browser.login(user.email).status_code == 302
        return browser

    return login


# --- writing history ------------------------------------------------------------------


def at(day: float, hour: int = 15, minute: int = 0) -> datetime:
    return START + timedelta(days=day, hours=hour - 15, minutes=minute)


@dataclass
class Taught:
    """One turn as it happened: who taught whom, and everything said about it."""

    teacher: User
    listener: User
    when: datetime
    topic: str | None
    simplicity: int | None  # None: the listener did not rate
    self_rating: int | None = None
    note: str = ""
    jargon: tuple[str, ...] = ()
    summary: str | None = None
    signals: dict[str, int] = field(default_factory=dict)
    signal_word: str | None = None
    # Filled in when written:
    turn_id: int = 0
    session_id: int = 0
    index: int = 0
    rating_id: int | None = None

    @property
    def rated_at(self) -> datetime:
        return self.when + timedelta(minutes=9)


def write_session(
    partnership: Partnership, turns: list[Taught], status: str = "completed"
) -> TeachSession:
    """A held session with its turns (teachers alternating), ratings, signals."""
    first, second = turns[0].teacher, turns[0].listener
    starts = turns[0].when
    session = TeachSession(
        partnership_id=partnership.id,
        scheduled_date=None,
        local_date=starts.date(),
        kind="extra",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=60),
        status=status,
        phase="done",
        current_turn=len(turns),
        turns=len(turns),
        teach_seconds=480,
        rate_seconds=60,
        first_teacher_id=first.id,
        second_teacher_id=second.id,
        started_at=starts,
        ended_at=starts + timedelta(minutes=60),
        created_at=starts - timedelta(hours=2),
    )
    session.participants = [
        SessionParticipant(user_id=first.id, joined_at=starts, absent=False),
        SessionParticipant(user_id=second.id, joined_at=starts, absent=False),
    ]
    db.session.add(session)
    db.session.flush()
    rows = []
    for index, spec in enumerate(turns):
        assert spec.teacher.id == (first, second)[index % 2].id
        row = Turn(
            session_id=session.id,
            index=index,
            teacher_id=spec.teacher.id,
            listener_id=spec.listener.id,
            topic=spec.topic,
            topic_key=topic_key(spec.topic) if spec.topic else None,
            started_at=spec.when,
            teach_ends_at=spec.when + timedelta(minutes=8),
            rating_ends_at=spec.rated_at,
            ended_at=spec.rated_at,
            summary=spec.summary,
            summary_at=spec.when + timedelta(minutes=8, seconds=30)
            if spec.summary
            else None,
            self_simplicity=spec.self_rating,
            self_rated_at=spec.when + timedelta(minutes=8, seconds=10)
            if spec.self_rating
            else None,
            jargon_flags=spec.signals.get("jargon", 0),
        )
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    ratings = []
    for spec, row in zip(turns, rows, strict=True):
        spec.turn_id, spec.session_id, spec.index = row.id, session.id, row.index
        offset = 0
        for kind, n in spec.signals.items():
            for _ in range(n):
                offset += 15_000
                db.session.add(
                    Signal(
                        session_id=session.id,
                        turn_id=row.id,
                        user_id=spec.listener.id,
                        kind=kind,
                        word=spec.signal_word if kind == "jargon" else None,
                        at=spec.when + timedelta(milliseconds=offset),
                        offset_ms=offset,
                    )
                )
        if spec.simplicity is not None:
            rating = Rating(
                turn_id=row.id,
                session_id=session.id,
                rater_id=spec.listener.id,
                teacher_id=spec.teacher.id,
                simplicity=spec.simplicity,
                note=spec.note,
                jargon=list(spec.jargon),
                created_at=spec.rated_at,
            )
            db.session.add(rating)
            ratings.append((spec, rating))
    db.session.flush()
    for spec, rating in ratings:
        spec.rating_id = rating.id
    return session


def write_missed(
    partnership: Partnership, a: User, b: User, when: datetime, status: str = "missed"
) -> None:
    """A session without turns (missed by `a`, or only its `status` matters)."""
    session = TeachSession(
        partnership_id=partnership.id,
        scheduled_date=None,
        local_date=when.date(),
        kind="extra",
        starts_at=when,
        ends_at=when + timedelta(minutes=60),
        status=status,
        phase="teaching" if status == "live" else "done",
        current_turn=0,
        turns=2,
        teach_seconds=480,
        rate_seconds=60,
        first_teacher_id=a.id,
        second_teacher_id=b.id,
        ended_at=when + timedelta(minutes=10),
        created_at=when - timedelta(hours=2),
    )
    session.participants = [
        SessionParticipant(user_id=a.id, joined_at=None, absent=True),
        SessionParticipant(user_id=b.id, joined_at=when, absent=False),
    ]
    db.session.add(session)
    db.session.flush()


# --- the hand-made history ------------------------------------------------------------


def build_history(make_user, make_partnership) -> SimpleNamespace:
    """Ann (New York) teaches Ben (London) for three weeks; she rates him twice.

    Ann's figures, worked out by hand:
    - 19 explanations, 18 rated, mean 54/18 = 3.0.
    - Renal clearance 2,2,2,4,4,4: mean 3.0, last 4, improving.
    - RAAS (spelt five ways) 4,4,4,2,2,1: mean 2.83, last 1, worse; 4 jargon
      flags over 6 explanations.
    - "R A A S" (another key) 2; Cardiac action potential 5,2; Loop diuretics 3,2.
    - Glycolysis: never rated, 3 jargon signals.
    - Gaps: RAAS (last 1), Cardiac (last 2, day 4), R A A S (last 2, day 9),
      Loop diuretics (last 2, day 13), Glycolysis (unrated).
    - Calibration: self minus partner +2, 0, +2, +2: mean +1.5 (3 higher, 1 same).
    - With Ben: 19 held, 1 missed, streak 19; hers 3.0, his (her ratings) 4.0.
    """
    ann = make_user("ann@example.com", display_name="Ann", timezone="America/New_York")
    ben = make_user("ben@example.com", display_name="Ben", timezone="Europe/London")
    partnership = make_partnership(ann, ben)

    def a(day, topic, simplicity, hour=15, **extra) -> Taught:
        return Taught(ann, ben, at(day, hour), topic, simplicity, **extra)

    turns = {
        "renal0": a(0, "Renal clearance", 2, self_rating=4),
        "raas1": a(1, "raas", 4),
        "renal2": a(2, "Renal clearance", 2),
        "raas3": a(3, " RAAS", 4),
        "cardiac3": a(3, "Cardiac action potential", 5, hour=17),
        "renal4": a(4, "Renal clearance", 2),
        "cardiac4": a(4, "Cardiac action potential", 2, hour=17),
        "raas5": a(5, "Raas ", 4),
        "renal6": a(6, "Renal clearance", 4),
        "raas7": a(7, "RAAS", 2, signals={"jargon": 1}, signal_word="renin"),
        "renal8": a(8, "Renal clearance", 4),
        "spaced9": a(9, "R A A S", 2),
        "raas9": a(9, "RAAS", 2, hour=17),
        "renal10": a(10, "Renal clearance", 4, self_rating=4),
        "raas11": a(
            11,
            "RAAS",
            1,
            self_rating=3,
            note=RAAS_NOTE,
            jargon=("renin", "angiotensin"),
            summary=KIDNEY_SUMMARY,
            signals={"jargon": 1, "lost": 2, "clear": 1},
            signal_word="renin",
        ),
        "loop12": a(12, "Loop diuretics", 3, note=LOOP_NOTE),
        "loop13": a(
            13,
            "Loop  diuretics",
            2,
            self_rating=4,
            note="Better, but still fast.",
            summary=WATER_SUMMARY,
            signals={"slower": 2},
        ),
        "glyco14": a(
            14,
            "Glycolysis",
            None,
            self_rating=4,
            summary="Glycolysis splits glucose into pyruvate.",
            signals={"jargon": 3},
            signal_word="pyruvate",
        ),
        "untitled15": a(15, None, 5),
    }
    # Ben teaches after Ann on days 10 and 11; Ann rates him.
    given = {
        "nephron": Taught(
            ben,
            ann,
            at(10, minute=10),
            "Nephron segments",
            3,
            note="Slow down on the loop.",
            signals={"lost": 1},
        ),
        "acid": Taught(
            ben,
            ann,
            at(11, minute=10),
            "Acid-base",
            5,
            jargon=("bicarbonate",),
            summary="Bicarbonate soaks up acid in the blood.",
        ),
    }
    write_missed(partnership, ann, ben, at(-1))
    for name, spec in turns.items():
        partner_turn = {"renal10": "nephron", "raas11": "acid"}.get(name)
        write_session(
            partnership, [spec] + ([given[partner_turn]] if partner_turn else [])
        )
    db.session.commit()
    return SimpleNamespace(
        ann=ann, ben=ben, partnership=partnership, turns=turns, given=given
    )


@pytest.fixture
def history(make_user, make_partnership, api_token):
    """The hand-made history (build_history), with API tokens for both."""
    made = build_history(make_user, make_partnership)
    made.a, made.b = api_token(made.ann), api_token(made.ben)
    return made


# --- helpers --------------------------------------------------------------------------


def words(markup: str) -> str:
    """The text of some HTML: tags dropped, entities decoded, spaces collapsed."""
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())
    return re.sub(r" ([,.;:])", r"\1", text)  # "<mark>renin</mark>, " → "renin,"


def page_html(browser: Browser, path: str, status: int = 200) -> str:
    response = browser.client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def articles(markup: str) -> dict[int, str]:
    """The explanations on a page, by turn id, in page order."""
    return {
        int(turn_id): body
        for turn_id, body in re.findall(
            r'<article class="explanation" id="turn-(\d+)">(.*?)</article>',
            markup,
            re.S,
        )
    }


def table_rows(markup: str, table_class: str | None = None) -> list[list[str]]:
    """The body rows of the first table (or the one with a class), as cell text."""
    start = markup.index(f'<table class="{table_class}">' if table_class else "<table")
    body = markup[start : markup.index("</table>", start)]
    body = body[body.index("<tbody>") :]
    return [
        [words(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def iso(when: datetime) -> str:
    return when.isoformat()


def get_json(client: FlaskClient, path: str, headers: dict, status: int = 200):
    response = client.get(path, headers=headers)
    assert response.status_code == status, (path, response.get_json())
    return response.get_json()


def allowed_terms_of(user: User) -> list[str]:
    db.session.expire_all()
    return list(db.session.get(Profile, user.id).allowed_terms or [])


# --- /review --------------------------------------------------------------------------


def test_review_page_shows_the_hand_worked_figures(history, browser_for):
    markup = page_html(browser_for(history.ann), "/review")
    text = words(markup)
    assert "19 explanations 18 rated mean 3.0 /5" in text

    # Teach again, most urgent first, with the reasons and the date in her zone.
    gaps_part = markup[markup.index('<ol class="gaps">') : markup.index("</ol>")]
    items = [words(li) for li in re.findall(r"<li>(.*?)</li>", gaps_part, re.S)]
    assert items == [
        "RAAS — last rated 1/5; average 2.8/5; last taught 16 Jan 2026",
        "Cardiac action potential — last rated 2/5; last taught 09 Jan 2026",
        "R A A S — last rated 2/5; average 2.0/5; last taught 14 Jan 2026",
        "Loop diuretics — last rated 2/5; average 2.5/5; last taught 18 Jan 2026",
        "Glycolysis — 3.0 jargon flags per explanation; last taught 19 Jan 2026",
    ]
    assert 'href="/review?topic=raas#chart"' in gaps_part

    # The topics table: most recently taught first ("comes back": no card, as
    # this history was not rated through the room).
    assert table_rows(markup, "topic-table") == [
        ["Glycolysis", "1", "—", "—", "new", "19 Jan 2026", "—"],
        ["Loop diuretics", "2", "2.5", "2/5", "new", "18 Jan 2026", "—"],
        ["RAAS", "6", "2.8", "1/5", "↓ worse", "16 Jan 2026", "—"],
        ["Renal clearance", "6", "3.0", "4/5", "↑ improving", "15 Jan 2026", "—"],
        ["R A A S", "1", "2.0", "2/5", "new", "14 Jan 2026", "—"],
        ["Cardiac action potential", "2", "3.5", "2/5", "new", "09 Jan 2026", "—"],
    ]

    # The chart and the same figures as a table (one row per day).
    assert markup.count('<svg class="chart"') == 2  # simplicity and calibration
    assert "Mean simplicity per day" in markup
    series_rows = table_rows(markup[markup.index('id="chart"') :])
    assert series_rows[0] == ["2026-01-05", "2.00", "1"]
    assert ["2026-01-08", "4.50", "2"] in series_rows
    assert series_rows[-1] == ["2026-01-20", "5.00", "1"]
    assert len(series_rows) == 15
    assert "<polyline" in markup and "<circle" in markup

    # Calibration.
    assert (
        "You tend to rate your explanations higher than your partner. "
        "(self minus partner: +1.5 on average over 4 turns; "
        "higher 3, same 1, lower 0)"
    ) in text
    assert "Self-rating against partner" in markup
    # Its figures as a table: self and partner means per day.
    assert table_rows(markup[markup.index('id="calibration-heading"') :]) == [
        ["2026-01-05", "4.00", "2.00", "1"],
        ["2026-01-15", "4.00", "4.00", "1"],
        ["2026-01-16", "3.00", "1.00", "1"],
        ["2026-01-18", "4.00", "2.00", "1"],
    ]

    # With each partner: held, missed, streak, her mean, his mean (her ratings).
    partners = markup[markup.index('id="partners-heading"') :]
    assert table_rows(partners) == [["Ben", "19", "1", "19", "3.0", "4.0"]]


def test_partner_table_streak_counts_back_to_the_last_miss(
    make_user, make_partnership, browser_for
):
    ann = make_user("ann@example.com", display_name="Ann")
    ben = make_user("ben@example.com", display_name="Ben")
    partnership = make_partnership(ann, ben)
    statuses = ["completed", "missed", "completed", "completed", "cancelled", "live"]
    for day, status in enumerate(statuses):
        write_missed(partnership, ann, ben, at(day), status)
    db.session.commit()
    # Held counts the live one; the streak stops at the miss, skipping the
    # cancelled one: days 2, 3 and 5.
    partners = page_html(browser_for(ann), "/review")
    partners = partners[partners.index('id="partners-heading"') :]
    assert table_rows(partners) == [["Ben", "4", "1", "3", "—", "—"]]


def test_review_page_of_the_partner_shows_his_own_figures(history, browser_for):
    markup = page_html(browser_for(history.ben), "/review")
    text = words(markup)
    assert "2 explanations 2 rated mean 4.0 /5" in text
    assert table_rows(markup, "topic-table") == [
        ["Acid-base", "1", "5.0", "5/5", "new", "16 Jan 2026", "—"],
        ["Nephron segments", "1", "3.0", "3/5", "new", "15 Jan 2026", "—"],
    ]
    assert "No gaps" in text
    assert "Rate yourself after each turn" in text
    partners = markup[markup.index('id="partners-heading"') :]
    assert table_rows(partners) == [["Ann", "19", "1", "19", "4.0", "3.0"]]
    assert "Renal clearance" not in text


def test_review_topic_filter_adds_the_topic_line(history, browser_for):
    browser = browser_for(history.ann)
    markup = page_html(browser, "/review?topic=raas")
    assert "Simplicity over time: RAAS" in words(markup)
    assert '<option value="raas" selected>' in markup
    chart = markup[markup.index('<svg class="chart"') : markup.index("</svg>")]
    # All topics and RAAS: two lines, RAAS's six ratings on six days.
    assert chart.count("<polyline") == 2
    assert len(re.findall(r"<title>RAAS, 2026-01-\d\d: [\d.]+</title>", chart)) == 6
    assert "<title>RAAS, 2026-01-16: 1</title>" in chart
    # The spacing of a key is part of it: "r a a s" is another topic.
    assert "Simplicity over time: R A A S" in words(
        page_html(browser, "/review?topic=r+a+a+s")
    )
    # A topic never rated: the overall line only, its column empty.
    markup = page_html(browser, "/review?topic=glycolysis")
    assert table_rows(markup[markup.index('id="chart"') :])[0] == [
        "2026-01-05",
        "2.00",
        "1",
        "—",
        "0",
    ]
    page_html(browser, "/review?topic=nope", status=404)
    page_html(browser, "/review?topic=renal", status=404)


def test_review_with_no_history(make_user, browser_for):
    user = make_user("new@example.com")
    browser = browser_for(user)
    text = words(page_html(browser, "/review"))
    assert "No explanations yet" in text
    assert words(page_html(browser, "/review/explanations")).count("Nothing yet") == 1
    assert "You have not rated anyone yet." in words(
        page_html(browser, "/review/given")
    )
    page_html(browser, "/review?topic=raas", status=404)


# --- /review/explanations -------------------------------------------------------------


def test_explanations_newest_first_with_every_detail(history, browser_for):
    t = history.turns
    markup = page_html(browser_for(history.ann), "/review/explanations")
    found = articles(markup)
    newest_first = [
        "untitled15",
        "glyco14",
        "loop13",
        "loop12",
        "raas11",
        "renal10",
        "raas9",
        "spaced9",
        "renal8",
        "raas7",
        "renal6",
        "raas5",
        "cardiac4",
        "renal4",
        "cardiac3",
        "raas3",
        "renal2",
        "raas1",
        "renal0",
    ]
    assert list(found) == [t[name].turn_id for name in newest_first]
    assert "pager" not in markup  # 19 fit on one page of 20

    # The richest one: times in Ann's zone (New York, 15:00 UTC is 10:00).
    raas = found[t["raas11"].turn_id]
    text = words(raas)
    assert "RAAS Fri 16 Jan 2026, 10:00 · to Ben" in text
    assert "Simplicity 1/5 · you said 3/5" in text
    assert f"Listener’s note “{RAAS_NOTE}”" in text
    assert "Jargon flagged renin, angiotensin" in text
    assert "<dd><mark>renin</mark>, <mark>angiotensin</mark></dd>" in raas
    assert "Signals jargon 1 · lost 2 · slower 0 · clear 1" in text
    assert (
        'The kidney makes <mark class="rare">renin</mark>. '
        '<mark class="rare">Renin</mark> helps keep blood pressure up.'
    ) in raas
    # 10 words, 2 sentences, 14 syllables: 0.39*5 + 11.8*1.4 - 15.59 = 2.88.
    assert "Reading grade 2.9 · rare words: renin" in text
    assert f'href="/sessions/{t["raas11"].session_id}/summary#turn-0"' in raas

    loop = words(found[t["loop13"].turn_id])
    assert "Loop diuretics Sun 18 Jan 2026, 10:00 · to Ben" in loop
    assert "Simplicity 2/5 · you said 4/5" in loop
    assert "Signals jargon 0 · lost 0 · slower 2 · clear 0" in loop
    # 9 words, 2 sentences, 13 syllables: 0.39*4.5 + 11.8*13/9 - 15.59 = 3.21.
    assert "Reading grade 3.2 · no rare words" in loop
    assert 'class="rare"' not in found[t["loop13"].turn_id]

    # A note is escaped, never markup.
    loop12 = found[t["loop12"].turn_id]
    assert "&lt;not&gt;" in loop12 and "<not>" not in loop12
    assert 'Say "salt pump" & <not> NKCC2' in words(loop12)

    glyco = words(found[t["glyco14"].turn_id])
    assert "Simplicity — · you said 4/5" in glyco
    assert "Listener’s note" not in glyco
    assert "Signals jargon 3 · lost 0 · slower 0 · clear 0" in glyco
    assert "rare words: Glycolysis, pyruvate" in glyco

    untitled = words(found[t["untitled15"].turn_id])
    assert "Untitled explanation Tue 20 Jan 2026, 10:00 · to Ben" in untitled
    assert "Simplicity 5/5 Signals jargon 0 · lost 0 · slower 0 · clear 0" in untitled
    assert "you said" not in untitled and "Your summary" not in untitled


def test_explanations_are_paginated(history, browser_for):
    t = history.turns
    browser = browser_for(history.ann)
    first = page_html(browser, "/review/explanations?per_page=5")
    assert list(articles(first)) == [
        t[n].turn_id for n in ("untitled15", "glyco14", "loop13", "loop12", "raas11")
    ]
    assert "Page 1 of 4 (19 in all)" in words(first)
    assert 'href="/review/explanations?page=2&amp;per_page=5" rel="next"' in first
    assert 'rel="prev"' not in first

    second = page_html(browser, "/review/explanations?page=2&per_page=5")
    assert list(articles(second)) == [
        t[n].turn_id for n in ("renal10", "raas9", "spaced9", "renal8", "raas7")
    ]
    last = page_html(browser, "/review/explanations?page=4&per_page=5")
    assert list(articles(last)) == [
        t[n].turn_id for n in ("raas3", "renal2", "raas1", "renal0")
    ]
    assert "Page 4 of 4 (19 in all)" in words(last)
    assert 'rel="next"' not in last and 'rel="prev"' in last
    # Past the end: an empty page, not an error.
    assert articles(page_html(browser, "/review/explanations?page=5&per_page=5")) == {}
    # Every page together is every explanation once.
    everything = []
    for n in range(1, 5):
        everything += list(
            articles(page_html(browser, f"/review/explanations?page={n}&per_page=5"))
        )
    assert sorted(everything) == sorted(spec.turn_id for spec in t.values())


def test_explanations_in_the_partners_zone(history, browser_for):
    """Ben (London) sees his own turns at 15:10 London time, not New York's."""
    markup = page_html(browser_for(history.ben), "/review/explanations")
    found = articles(markup)
    assert list(found) == [
        history.given["acid"].turn_id,
        history.given["nephron"].turn_id,
    ]
    acid = words(found[history.given["acid"].turn_id])
    assert "Acid-base Fri 16 Jan 2026, 15:10 · to Ann" in acid
    assert "Jargon flagged bicarbonate" in acid
    assert "rare words: Bicarbonate, soaks" in acid
    # Ann's turns are not his explanations.
    assert RAAS_NOTE not in html.unescape(markup)


# --- /review/given --------------------------------------------------------------------


def test_ratings_given_page(history, browser_for):
    markup = page_html(browser_for(history.ann), "/review/given")
    assert table_rows(markup) == [
        ["16 Jan 2026", "Ben", "Acid-base", "5/5", "(jargon: bicarbonate)"],
        ["15 Jan 2026", "Ben", "Nephron segments", "3/5", "Slow down on the loop."],
    ]
    given = history.given
    assert f'href="/sessions/{given["acid"].session_id}/summary#turn-1"' in markup
    # Ben gave eighteen: the newest first, one page of 20.
    ben = page_html(browser_for(history.ben), "/review/given")
    rows = table_rows(ben)
    assert len(rows) == 18
    assert rows[0] == ["20 Jan 2026", "Ann", "Untitled", "5/5", ""]
    assert rows[2] == ["17 Jan 2026", "Ann", "Loop diuretics", "3/5", LOOP_NOTE]
    assert rows[3] == [
        "16 Jan 2026",
        "Ann",
        "RAAS",
        "1/5",
        f"{RAAS_NOTE} (jargon: renin, angiotensin)",
    ]
    paged = page_html(browser_for(history.ben), "/review/given?page=2&per_page=10")
    assert len(table_rows(paged)) == 8
    assert "Page 2 of 2 (18 in all)" in words(paged)


# --- the API --------------------------------------------------------------------------


def rating_json(spec: Taught) -> dict:
    return {
        "id": spec.rating_id,
        "session_id": spec.session_id,
        "turn": spec.index,
        "topic": spec.topic,
        "teacher_id": spec.teacher.id,
        "teacher": spec.teacher.display_name,
        "rater_id": spec.listener.id,
        "rater": spec.listener.display_name,
        "simplicity": spec.simplicity,
        "note": spec.note,
        "jargon": list(spec.jargon),
        "created_at": iso(spec.rated_at),
        "self_simplicity": spec.self_rating,
    }


def test_api_ratings_received_and_given(history, client):
    t, given = history.turns, history.given
    body = get_json(client, f"{API}/ratings?role=received", history.a)
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (
        18,
        1,
        20,
        1,
    )
    rated_newest_first = [
        name
        for name in sorted(t, key=lambda n: t[n].when, reverse=True)
        if t[name].simplicity is not None
    ]
    assert [i["id"] for i in body["items"]] == [
        t[n].rating_id for n in rated_newest_first
    ]
    assert body["items"][0] == rating_json(t["untitled15"])
    assert body["items"][3] == rating_json(t["raas11"])
    assert body["items"][3]["jargon"] == ["renin", "angiotensin"]
    # role=received is the default.
    assert get_json(client, f"{API}/ratings", history.a) == body

    paged = get_json(
        client, f"{API}/ratings?role=received&page=4&per_page=5", history.a
    )
    assert (paged["total"], paged["page"], paged["per_page"], paged["pages"]) == (
        18,
        4,
        5,
        4,
    )
    assert [i["id"] for i in paged["items"]] == [
        t[n].rating_id for n in rated_newest_first[15:]
    ]

    mine_given = get_json(client, f"{API}/ratings?role=given", history.a)
    assert mine_given["total"] == 2
    assert mine_given["items"] == [
        rating_json(given["acid"]),
        rating_json(given["nephron"]),
    ]
    # What Ann gave is what Ben received, and the other way round.
    assert get_json(client, f"{API}/ratings?role=received", history.b) == mine_given
    assert get_json(client, f"{API}/ratings?role=given&per_page=20", history.b) == body


_day = "2026-01-{:02d}T{:02d}:00:00+00:00".format
# Ann's summary, worked out by hand (see build_history).
ANN_SUMMARY = {
    "explanations": 19,
    "rated": 18,
    "mean": 3.0,
    "topics": [
        {
            "topic": "Glycolysis",
            "key": "glycolysis",
            "count": 1,
            "rated": 0,
            "mean": None,
            "last": None,
            "trend": "new",
            "last_taught": _day(19, 15),
            "jargon_per_explanation": 3.0,
        },
        {
            "topic": "Loop  diuretics",
            "key": "loop diuretics",
            "count": 2,
            "rated": 2,
            "mean": 2.5,
            "last": 2,
            "trend": "new",
            "last_taught": _day(18, 15),
            "jargon_per_explanation": 0.0,
        },
        {
            "topic": "RAAS",
            "key": "raas",
            "count": 6,
            "rated": 6,
            "mean": 2.83,
            "last": 1,
            "trend": "worse",
            "last_taught": _day(16, 15),
            "jargon_per_explanation": 0.67,
        },
        {
            "topic": "Renal clearance",
            "key": "renal clearance",
            "count": 6,
            "rated": 6,
            "mean": 3.0,
            "last": 4,
            "trend": "improving",
            "last_taught": _day(15, 15),
            "jargon_per_explanation": 0.0,
        },
        {
            "topic": "R A A S",
            "key": "r a a s",
            "count": 1,
            "rated": 1,
            "mean": 2.0,
            "last": 2,
            "trend": "new",
            "last_taught": _day(14, 15),
            "jargon_per_explanation": 0.0,
        },
        {
            "topic": "Cardiac action potential",
            "key": "cardiac action potential",
            "count": 2,
            "rated": 2,
            "mean": 3.5,
            "last": 2,
            "trend": "new",
            "last_taught": _day(9, 17),
            "jargon_per_explanation": 0.0,
        },
    ],
    "gaps": [
        {
            "topic": "RAAS",
            "key": "raas",
            "reasons": ["last rated 1/5", "average 2.8/5"],
            "last": 1,
            "mean": 2.83,
            "last_taught": _day(16, 15),
        },
        {
            "topic": "Cardiac action potential",
            "key": "cardiac action potential",
            "reasons": ["last rated 2/5"],
            "last": 2,
            "mean": 3.5,
            "last_taught": _day(9, 17),
        },
        {
            "topic": "R A A S",
            "key": "r a a s",
            "reasons": ["last rated 2/5", "average 2.0/5"],
            "last": 2,
            "mean": 2.0,
            "last_taught": _day(14, 15),
        },
        {
            "topic": "Loop  diuretics",
            "key": "loop diuretics",
            "reasons": ["last rated 2/5", "average 2.5/5"],
            "last": 2,
            "mean": 2.5,
            "last_taught": _day(18, 15),
        },
        {
            "topic": "Glycolysis",
            "key": "glycolysis",
            "reasons": ["3.0 jargon flags per explanation"],
            "last": None,
            "mean": None,
            "last_taught": _day(19, 15),
        },
    ],
    "calibration": {
        "mean_difference": 1.5,
        "over": 3,
        "under": 0,
        "same": 1,
        "verdict": "You tend to rate your explanations higher than your partner.",
    },
    "granularity": "day",
    "series": [
        {"period": f"2026-01-{d:02d}", "mean": m, "count": n}
        for d, m, n in [
            (5, 2.0, 1),
            (6, 4.0, 1),
            (7, 2.0, 1),
            (8, 4.5, 2),
            (9, 2.0, 2),
            (10, 4.0, 1),
            (11, 4.0, 1),
            (12, 2.0, 1),
            (13, 4.0, 1),
            (14, 2.0, 2),
            (15, 4.0, 1),
            (16, 1.0, 1),
            (17, 3.0, 1),
            (18, 2.0, 1),
            (20, 5.0, 1),
        ]
    ],
}


def test_api_rating_summary(history, client):
    assert get_json(client, f"{API}/ratings/summary", history.a) == ANN_SUMMARY


def test_api_summary_with_no_history(make_user, api_token, client):
    user = make_user("new@example.com")
    assert get_json(client, f"{API}/ratings/summary", api_token(user)) == {
        "explanations": 0,
        "rated": 0,
        "mean": None,
        "topics": [],
        "gaps": [],
        "calibration": {
            "mean_difference": None,
            "over": 0,
            "under": 0,
            "same": 0,
            "verdict": "Rate yourself after each turn to see how well you judge.",
        },
        "granularity": "month",
        "series": [],
    }
    assert get_json(client, f"{API}/ratings?role=given", api_token(user)) == {
        "items": [],
        "page": 1,
        "per_page": 20,
        "total": 0,
        "pages": 1,
    }


def test_the_series_uses_the_students_own_dates(
    make_user, make_partnership, api_token, client
):
    kiri = make_user(
        "kiri@example.com", display_name="Kiri", timezone="Pacific/Auckland"
    )
    tom = make_user("tom@example.com", display_name="Tom")
    partnership = make_partnership(kiri, tom)
    # 15:00 UTC is 04:00 the next day in Auckland (UTC+13 in January).
    for day, score in [(0, 2), (1, 4), (2, 5)]:
        write_session(partnership, [Taught(kiri, tom, at(day), "ECG", score)])
    db.session.commit()
    browser = Browser(client)
    assert browser.login(kiri.email).status_code == 302
    items = json.loads(page_html(browser, "/review/export.json"))["items"]
    dates = ["2026-01-06", "2026-01-07", "2026-01-08"]
    assert [row["date"] for row in items] == dates
    shown = words(page_html(browser, "/review/explanations"))
    assert "Tue 06 Jan 2026, 04:00" in shown
    summary = get_json(client, f"{API}/ratings/summary", api_token(kiri))
    assert [p["period"] for p in summary["series"]] == dates
    # The table under the chart, with the chosen topic's own columns, too.
    assert table_rows(page_html(browser, "/review?topic=ecg")) == [
        ["2026-01-06", "2.00", "1", "2.00", "1"],
        ["2026-01-07", "4.00", "1", "4.00", "1"],
        ["2026-01-08", "5.00", "1", "5.00", "1"],
    ]


# --- the allow-list -------------------------------------------------------------------


def test_terms_form_saves_a_cleaned_allow_list(history, browser_for):
    browser = browser_for(history.ann)
    response = browser.post(
        "/review/terms",
        {"terms": "angiotensin, Renin\n  ACE   inhibitor ,\n renin , ,\n"},
        csrf_page="/review",
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/review#terms")
    assert allowed_terms_of(history.ann) == ["angiotensin", "Renin", "ACE inhibitor"]
    markup = page_html(browser, "/review")
    assert "Saved 3 terms." in words(markup)
    assert ">angiotensin, Renin, ACE inhibitor</textarea>" in markup

    # Her summary no longer flags renin, in any case; the grade is unchanged.
    raas = articles(page_html(browser, "/review/explanations"))[
        history.turns["raas11"].turn_id
    ]
    assert 'class="rare"' not in raas
    assert "Reading grade 2.9 · no rare words" in words(raas)
    # Ben's allow-list is his own: nothing changed for him.
    assert allowed_terms_of(history.ben) == []

    # An empty form clears the list.
    browser.post("/review/terms", {"terms": " , \n"}, csrf_page="/review")
    assert allowed_terms_of(history.ann) == []
    assert "Saved 0 terms." in words(page_html(browser, "/review"))


@pytest.fixture
def student(make_user, api_token):
    """A user without history: enough for input that is refused up front."""
    user = make_user("sam@example.com", display_name="Sam")
    return SimpleNamespace(user=user, headers=api_token(user))


TOO_MANY = "\n".join(f"term{n}" for n in range(201))
TOO_LONG = "renin, " + "x" * 41


def test_terms_form_refuses_too_many_or_too_long_and_writes_nothing(
    student, browser_for
):
    browser = browser_for(student.user)
    browser.post("/review/terms", {"terms": "angiotensin"}, csrf_page="/review")
    assert allowed_terms_of(student.user) == ["angiotensin"]
    for terms, message in (
        (TOO_MANY, "At most 200 terms."),
        (TOO_LONG, "Terms are limited to 40 characters: " + "x" * 40 + "…"),
    ):
        response = browser.post("/review/terms", {"terms": terms}, csrf_page="/review")
        # The review again, the error beside the box, what was typed kept.
        assert response.status_code == 400
        markup = response.get_data(as_text=True)
        assert f"{message} Nothing was saved." in words(markup)
        assert 'aria-invalid="true"' in markup
        typed = re.search(
            r'<textarea id="terms-input"[^>]*>(.*?)</textarea>', markup, re.S
        )
        assert html.unescape(typed.group(1)) == terms
        assert allowed_terms_of(student.user) == ["angiotensin"]
    # Reloading shows the saved list, without the error.
    markup = page_html(browser, "/review")
    assert ">angiotensin</textarea>" in markup and "Nothing was saved" not in markup


def test_terms_form_bounds_are_inclusive(student, browser_for):
    browser = browser_for(student.user)
    many = [f"term{n}" for n in range(200)]
    # 200 distinct terms plus case-duplicates: 200 after folding.
    response = browser.post(
        "/review/terms",
        {"terms": ", ".join(many + [m.upper() for m in many[:5]])},
        csrf_page="/review",
    )
    assert response.status_code == 302
    assert allowed_terms_of(student.user) == many
    browser.post("/review/terms", {"terms": "y" * 40}, csrf_page="/review")
    assert allowed_terms_of(student.user) == ["y" * 40]


def test_terms_form_needs_csrf(student, browser_for):
    browser = browser_for(student.user)
    response = browser.client.post("/review/terms", data={"terms": "renin"})
    assert response.status_code == 400
    assert allowed_terms_of(student.user) == []


def test_api_patch_me_sets_the_allow_list(history, client, browser_for):
    response = client.patch(
        f"{API}/me",
        json={"allowed_terms": ["renin", " ACE  inhibitor ", "RENIN", ""]},
        headers=history.a,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["allowed_terms"] == ["renin", "ACE inhibitor"]
    assert allowed_terms_of(history.ann) == ["renin", "ACE inhibitor"]
    assert get_json(client, f"{API}/me", history.a)["allowed_terms"] == [
        "renin",
        "ACE inhibitor",
    ]
    # The review uses it: renin is no longer rare in her summary or her export.
    browser = browser_for(history.ann)
    raas = articles(page_html(browser, "/review/explanations"))[
        history.turns["raas11"].turn_id
    ]
    assert 'class="rare"' not in raas
    assert "Reading grade 2.9 · no rare words" in words(raas)
    items = json.loads(page_html(browser, "/review/export.json"))["items"]
    row = next(
        r for r in items if r["session_id"] == history.turns["raas11"].session_id
    )
    assert row["rare_words"] == []
    # The boundaries are allowed.
    many = [f"term{n}" for n in range(199)] + ["z" * 40]
    response = client.patch(
        f"{API}/me", json={"allowed_terms": many}, headers=history.a
    )
    assert response.status_code == 200
    assert allowed_terms_of(history.ann) == many
    # An empty list clears it.
    response = client.patch(f"{API}/me", json={"allowed_terms": []}, headers=history.a)
    assert response.status_code == 200 and allowed_terms_of(history.ann) == []


def test_api_patch_me_refuses_bad_terms_and_writes_nothing(student, client):
    headers = student.headers
    client.patch(f"{API}/me", json={"allowed_terms": ["angiotensin"]}, headers=headers)
    for terms in (
        [f"term{n}" for n in range(201)],  # too many
        ["renin", "x" * 41],  # too long
        "renin, angiotensin",  # not a list
        [1, 2],
        [["renin"]],
        None,
        {"renin": True},
    ):
        response = client.patch(
            f"{API}/me",
            json={"allowed_terms": terms, "bio": "should not be saved"},
            headers=headers,
        )
        assert response.status_code == 400, terms
        body = response.get_json()
        assert body["error"] == "invalid"
        assert body["message"].startswith("allowed_terms"), body
        assert allowed_terms_of(student.user) == ["angiotensin"]
        assert db.session.get(Profile, student.user.id).bio != "should not be saved"


# --- bad input ------------------------------------------------------------------------

BAD_PAGES = (
    ("page=0", "page must be 1 to 100000."),
    ("page=-3", "page must be 1 to 100000."),
    ("per_page=0", "per_page must be 1 to 100."),
    ("per_page=101", "per_page must be 1 to 100."),
    ("page=abc", "page and per_page must be whole numbers."),
    ("per_page=1.5", "page and per_page must be whole numbers."),
)


def test_pages_refuse_bad_pagination(student, browser_for):
    browser = browser_for(student.user)
    for path in ("/review/explanations", "/review/given"):
        for query, message in BAD_PAGES:
            markup = page_html(browser, f"{path}?{query}", status=400)
            assert message in words(markup), (path, query)


def test_a_huge_page_number_is_refused_not_a_server_error(student, browser_for, client):
    browser = browser_for(student.user)
    huge = "page=99999999999999999999"
    for path in ("/review/explanations", "/review/given"):
        assert "page" in words(page_html(browser, f"{path}?{huge}", status=400))
    body = get_json(client, f"{API}/ratings?{huge}", student.headers, status=400)
    assert body["error"] == "invalid" and body["message"].startswith("page: ")


def test_pages_accept_the_pagination_bounds(history, browser_for):
    browser = browser_for(history.ann)
    assert len(articles(page_html(browser, "/review/explanations?per_page=1"))) == 1
    assert len(articles(page_html(browser, "/review/explanations?per_page=100"))) == 19


def test_api_refuses_bad_ratings_parameters(student, client):
    for query, name in (
        ("page=0", "page"),
        ("per_page=101", "per_page"),
        ("per_page=0", "per_page"),
        ("page=abc", "page"),
        ("role=boss", "role"),
        ("role=", "role"),
        ("role=received&page=1.5", "page"),
    ):
        body = get_json(client, f"{API}/ratings?{query}", student.headers, status=400)
        assert body["error"] == "invalid", query
        assert body["message"].startswith(f"{name}: "), (query, body)


def test_exports_refuse_bad_roles_and_formats(student, browser_for):
    browser = browser_for(student.user)
    assert "role must be received or given." in words(
        page_html(browser, "/review/export.csv?role=boss", status=400)
    )
    page_html(browser, "/review/export.json?role=", status=400)
    page_html(browser, "/review/export.xml", status=404)
    page_html(browser, "/review/export.csv.bak", status=404)


def test_unknown_and_foreign_ids_are_404(student, make_user, make_partnership, client):
    cleo = make_user("cleo@example.com", display_name="Cleo")
    dan = make_user("dan@example.com", display_name="Dan")
    theirs = write_session(
        make_partnership(cleo, dan), [Taught(cleo, dan, at(3), "ECG", 4, note="ok")]
    )
    db.session.commit()
    browser = Browser(client)
    browser.login(student.user.email)
    for path in (f"/sessions/{theirs.id}/summary", "/sessions/999999/summary"):
        page_html(browser, path, status=404)
    headers = student.headers
    foreign = get_json(client, f"{API}/sessions/{theirs.id}", headers, status=404)
    unknown = get_json(client, f"{API}/sessions/999999", headers, status=404)
    assert foreign == unknown  # existence is never revealed
    assert foreign["error"] == "not_found" and foreign["message"]


def test_the_review_needs_a_login(client):
    for path in (
        "/review",
        "/review/explanations",
        "/review/given",
        "/review/export.csv",
    ):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    for path in ("/ratings", "/ratings/summary"):
        body = get_json(client, API + path, {}, status=401)
        assert body["error"] == "unauthorized"


# --- privacy matrix -------------------------------------------------------------------


@pytest.fixture
def two_pairs(make_user, make_partnership, api_token):
    """A–B partners and C–D partners; each teaches once and is rated once.

    Every turn carries unique words (topic, note, jargon, summary), so a response
    can be searched for anything it should not hold.
    """
    people = {
        name: make_user(f"{name.lower()}@example.com", display_name=f"{name}qzname")
        for name in ("Alpha", "Bravo", "Charlie", "Delta")
    }
    tokens = {}
    sessions = {}
    for first, second in (("Alpha", "Bravo"), ("Charlie", "Delta")):
        a, b = people[first], people[second]
        specs = []
        for teacher, listener, minute in ((a, b, 0), (b, a, 10)):
            tag = teacher.display_name.removesuffix("qzname").lower()
            tokens[tag] = [
                f"{tag}qztopic",
                f"{tag}qznote",
                f"{tag}qzjargon",
                f"{tag}qzsummary",
            ]
            specs.append(
                Taught(
                    teacher,
                    listener,
                    at(2, minute=minute),
                    f"{tag}qztopic",
                    2,
                    self_rating=4,
                    note=f"{tag}qznote",
                    jargon=(f"{tag}qzjargon",),
                    summary=f"The {tag}qzsummary is plain.",
                    signals={"jargon": 1},
                )
            )
        session = write_session(make_partnership(a, b), specs)
        sessions[first] = sessions[second] = session.id
    db.session.commit()
    return SimpleNamespace(
        people=people,
        tokens=tokens,
        sessions=sessions,
        headers={name: api_token(user) for name, user in people.items()},
    )


PAGES = ("/review", "/review/explanations", "/review/given")
EXPORTS = tuple(
    f"/review/export.{fmt}?role={role}"
    for fmt in ("csv", "json")
    for role in ("received", "given")
)
API_LISTS = (
    f"{API}/ratings?role=received",
    f"{API}/ratings?role=given",
    f"{API}/ratings/summary",
)


def test_privacy_matrix(two_pairs, browser_for, client):
    pairs = {"Alpha": "Bravo", "Bravo": "Alpha", "Charlie": "Delta", "Delta": "Charlie"}
    for viewer, partner in pairs.items():
        me, mate = viewer.lower(), partner.lower()
        others = [n for n in pairs if n not in (viewer, partner)]
        forbidden = [
            token for other in others for token in two_pairs.tokens[other.lower()]
        ] + [f"{other}qzname" for other in others]
        browser = browser_for(two_pairs.people[viewer])
        headers = two_pairs.headers[viewer]
        own_session = two_pairs.sessions[viewer]
        foreign_session = two_pairs.sessions[others[0]]

        seen: dict[str, str] = {}
        for path in PAGES + EXPORTS + (f"/sessions/{own_session}/summary",):
            seen[path] = html.unescape(page_html(browser, path))
        for path in API_LISTS + (f"{API}/sessions/{own_session}",):
            seen[path] = json.dumps(get_json(client, path, headers))
        # The other pair's session does not exist for this viewer.
        seen["foreign page"] = html.unescape(
            page_html(browser, f"/sessions/{foreign_session}/summary", status=404)
        )
        seen["foreign api"] = json.dumps(
            get_json(client, f"{API}/sessions/{foreign_session}", headers, status=404)
        )

        for path, body in seen.items():
            for token in forbidden:
                assert token not in body, f"{viewer} sees {token} on {path}"

        # What each of the two partners must see, and where.
        received_note, given_note = f"{me}qznote", f"{mate}qznote"
        for path in (
            "/review/explanations",
            "/review/export.csv?role=received",
            "/review/export.json?role=received",
            f"{API}/ratings?role=received",
            f"/sessions/{own_session}/summary",
            f"{API}/sessions/{own_session}",
        ):
            assert received_note in seen[path], (
                f"{viewer} misses {received_note} on {path}"
            )
        for path in (
            "/review/given",
            "/review/export.csv?role=given",
            "/review/export.json?role=given",
            f"{API}/ratings?role=given",
            f"/sessions/{own_session}/summary",
            f"{API}/sessions/{own_session}",
        ):
            assert given_note in seen[path], f"{viewer} misses {given_note} on {path}"
        # Lists by role hold only that role.
        assert given_note not in seen["/review/explanations"]
        assert given_note not in seen["/review/export.json?role=received"]
        assert given_note not in seen[f"{API}/ratings?role=received"]
        assert received_note not in seen["/review/given"]
        assert received_note not in seen["/review/export.csv?role=given"]
        assert received_note not in seen[f"{API}/ratings?role=given"]
        assert f"{me}qztopic" in seen["/review"]
        assert f"{me}qztopic" in seen[f"{API}/ratings/summary"]
        assert f"{mate}qztopic" not in seen[f"{API}/ratings/summary"]
        assert f"{me}qzsummary" in seen["/review/explanations"]


# --- export round-trip ----------------------------------------------------------------


def read_csv(text: str) -> list[dict]:
    """CSV rows back into the JSON export's types."""
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        for name in ("session_id", "turn", "signals_jargon", "signals_lost"):
            row[name] = int(row[name])
        for name in ("signals_slower", "signals_clear", "signals_why", "signals_how"):
            row[name] = int(row[name])
        for name in ("simplicity", "self_simplicity"):
            row[name] = int(row[name]) if row[name] else None
        row["reading_grade"] = (
            float(row["reading_grade"]) if row["reading_grade"] else None
        )
        for name in ("jargon", "rare_words"):
            row[name] = row[name].split("; ") if row[name] else []
        for name in ("topic", "summary", "rated_at", "date"):
            row[name] = row[name] or None
        rows.append(row)
    return rows


def exported(browser: Browser, role: str) -> list[dict]:
    as_csv = browser.client.get(f"/review/export.csv?role={role}")
    as_json = browser.client.get(f"/review/export.json?role={role}")
    assert as_csv.status_code == 200 and as_json.status_code == 200
    assert as_csv.mimetype == "text/csv" and as_json.mimetype == "application/json"
    assert as_csv.headers["Content-Type"] == "text/csv; charset=utf-8"  # once
    assert as_csv.headers["Content-Disposition"].startswith(
        f'attachment; filename="ally-{role}-'
    )
    assert as_csv.headers["Content-Disposition"].endswith('.csv"')
    body = json.loads(as_json.get_data(as_text=True))
    assert body["role"] == role
    items = body["items"]
    # CSV and JSON hold the same rows with the same values.
    assert read_csv(as_csv.get_data(as_text=True)) == items
    return items


def test_export_round_trip_received(history, browser_for, client):
    ann = browser_for(history.ann)
    items = exported(ann, "received")
    t = history.turns
    # Every explanation, oldest first: as many as the page lists.
    page = page_html(ann, "/review/explanations?per_page=100")
    found = articles(page)
    assert len(items) == len(found) == 19
    assert "(19 in all)" not in words(page)  # one page
    by_link = {}
    for body in found.values():
        session_id, index = re.search(
            r'href="/sessions/(\d+)/summary#turn-(\d+)"', body
        ).groups()
        by_link[(int(session_id), int(index))] = body
    assert [row["date"] for row in items] == sorted(row["date"] for row in items)
    for row in items:
        body = by_link[(row["session_id"], row["turn"])]
        text = words(body)
        shown = datetime.strptime(text.split(" · to ")[0][-22:], "%a %d %b %Y, %H:%M")
        assert shown.date() == date.fromisoformat(row["date"])
        title = " ".join((row["topic"] or "Untitled explanation").split())
        assert text.startswith(f"{title} {shown:%a %d %b %Y, %H:%M} · to Ben ")
        assert (row["teacher"], row["listener"]) == ("Ann", "Ben")
        stars = f"{row['simplicity']}/5" if row["simplicity"] else "—"
        assert f"Simplicity {stars}" in text
        if row["self_simplicity"]:
            assert f"you said {row['self_simplicity']}/5" in text
        else:
            assert "you said" not in text
        if row["note"]:
            assert f"“{row['note']}”" in text
        else:
            assert "Listener’s note" not in text
        if row["jargon"]:
            assert "Jargon flagged " + ", ".join(row["jargon"]) in text
        assert (
            f"Signals jargon {row['signals_jargon']} · lost {row['signals_lost']} · "
            f"slower {row['signals_slower']} · clear {row['signals_clear']} · "
            f"why {row['signals_why']} · how {row['signals_how']}"
        ) in text
        if row["summary"]:
            assert f"Reading grade {row['reading_grade']:.1f}" in text
            if row["rare_words"]:
                assert "rare words: " + ", ".join(row["rare_words"]) in text
            else:
                assert "no rare words" in text
        else:
            assert row["reading_grade"] is None and "Reading grade" not in text

    # The rated ones are exactly the ratings the API lists, value for value.
    api = get_json(client, f"{API}/ratings?role=received&per_page=100", history.a)
    rated = [row for row in items if row["simplicity"] is not None]
    assert len(rated) == api["total"] == len(api["items"]) == 18
    by_turn = {(i["session_id"], i["turn"]): i for i in api["items"]}
    for row in rated:
        item = by_turn[(row["session_id"], row["turn"])]
        assert (
            row["topic"],
            row["simplicity"],
            row["note"],
            row["jargon"],
            row["self_simplicity"],
            row["teacher"],
            row["listener"],
        ) == (
            item["topic"],
            item["simplicity"],
            item["note"],
            item["jargon"],
            item["self_simplicity"],
            item["teacher"],
            item["rater"],
        )
        assert datetime.fromisoformat(row["rated_at"]) == datetime.fromisoformat(
            item["created_at"]
        )
    # Hand-checked values survive the trip.
    raas = next(r for r in items if r["session_id"] == t["raas11"].session_id)
    assert raas == {
        "date": "2026-01-16",
        "session_id": t["raas11"].session_id,
        "turn": 0,
        "topic": "RAAS",
        "teacher": "Ann",
        "listener": "Ben",
        "simplicity": 1,
        "note": RAAS_NOTE,
        "jargon": ["renin", "angiotensin"],
        "self_simplicity": 3,
        "summary": KIDNEY_SUMMARY,
        "reading_grade": 2.9,
        "rare_words": ["renin"],
        "signals_jargon": 1,
        "signals_lost": 2,
        "signals_slower": 0,
        "signals_clear": 1,
        "signals_why": 0,
        "signals_how": 0,
        "rated_at": "2026-01-16T15:09:00+00:00",
    }
    loop12 = next(r for r in items if r["session_id"] == t["loop12"].session_id)
    assert loop12["note"] == LOOP_NOTE


def test_export_round_trip_given(history, browser_for, client):
    for user, headers in ((history.ann, history.a), (history.ben, history.b)):
        browser = browser_for(user)
        items = exported(browser, "given")
        page = page_html(browser, "/review/given?per_page=100")
        rows = table_rows(page)
        api = get_json(client, f"{API}/ratings?role=given&per_page=100", headers)
        assert len(items) == len(rows) == api["total"] == len(api["items"])
        # The page and the API are newest first, the export oldest first.
        for row, shown, item in zip(reversed(items), rows, api["items"], strict=True):
            assert (row["session_id"], row["turn"]) == (
                item["session_id"],
                item["turn"],
            )
            assert row["teacher"] == item["teacher"] == shown[1]
            assert row["listener"] == user.display_name == item["rater"]
            assert row["topic"] == item["topic"]
            assert " ".join((row["topic"] or "Untitled").split()) == shown[2]
            assert f"{row['simplicity']}/5" == shown[3]
            assert f"{date.fromisoformat(row['date']):%d %b %Y}" == shown[0]
            assert row["simplicity"] == item["simplicity"]
            assert row["note"] == item["note"]
            assert row["jargon"] == item["jargon"]
            assert shown[4].startswith(row["note"])
            if row["jargon"]:
                assert f"(jargon: {', '.join(row['jargon'])})" in shown[4]
            assert datetime.fromisoformat(row["rated_at"]) == datetime.fromisoformat(
                item["created_at"]
            )
            assert row["self_simplicity"] == item["self_simplicity"]
    assert [
        (r["topic"], r["simplicity"])
        for r in exported(browser_for(history.ann), "given")
    ] == [("Nephron segments", 3), ("Acid-base", 5)]


def test_export_of_a_user_without_history(make_user, browser_for):
    browser = browser_for(make_user("new@example.com"))
    for role in ("received", "given"):
        assert exported(browser, role) == []
        text = browser.client.get(f"/review/export.csv?role={role}").get_data(
            as_text=True
        )
        assert text.strip() == ",".join(
            [
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
                "signals_jargon",
                "signals_lost",
                "signals_slower",
                "signals_clear",
                "signals_why",
                "signals_how",
                "rated_at",
            ]
        )


# --- query count ----------------------------------------------------------------------


TOPICS = (
    "Renal clearance",
    "RAAS",
    "Loop diuretics",
    "Cardiac action potential",
    "Glycolysis",
    "Acid-base",
    "Nephron segments",
)


def write_days(partnership, ann: User, ben: User, first: int, count: int) -> None:
    """One session a day: Ann teaches, then Ben; ratings, signals, summaries."""
    for day in range(first, first + count):
        write_session(
            partnership,
            [
                Taught(
                    ann,
                    ben,
                    at(day),
                    TOPICS[day % len(TOPICS)],
                    1 + day % 5,
                    self_rating=1 + (day * 3) % 5,
                    note=f"note {day}",
                    jargon=("renin",) if day % 3 == 0 else (),
                    summary=KIDNEY_SUMMARY,
                    signals={"jargon": 1, "lost": day % 2},
                    signal_word="renin",
                ),
                Taught(
                    ben,
                    ann,
                    at(day, minute=10),
                    TOPICS[(day + 3) % len(TOPICS)],
                    1 + (day * 2) % 5 if day % 7 else None,
                    note=f"given {day}",
                    summary=WATER_SUMMARY,
                    signals={"clear": 1},
                ),
            ],
        )
    db.session.commit()


@contextmanager
def counting_statements():
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def test_query_count_does_not_grow_with_history(
    make_user, make_partnership, browser_for, api_token, client
):
    ann = make_user("ann@example.com", display_name="Ann", timezone="America/New_York")
    ben = make_user("ben@example.com", display_name="Ben")
    partnership = make_partnership(ann, ben)
    write_days(partnership, ann, ben, 0, 10)
    browser = browser_for(ann)
    headers = api_token(ann)
    pages = (
        "/review",
        "/review?topic=raas",
        "/review/explanations",
        "/review/explanations?page=2&per_page=5",
        "/review/given",
        "/review/export.csv?role=received",
        "/review/export.json?role=given",
    )
    api = (
        f"{API}/ratings?role=received",
        f"{API}/ratings?role=given&per_page=100",
        f"{API}/ratings/summary",
    )

    def measure() -> dict[str, int]:
        counts = {}
        for path in pages + api:
            get = (
                (lambda p: client.get(p, headers=headers))
                if path.startswith(API)
                else browser.client.get
            )
            assert get(path).status_code == 200  # warm up
            with counting_statements() as statements:
                response = get(path)
            assert response.status_code == 200, path
            counts[path] = len(statements)
        return counts

    small = measure()
    assert all(n > 0 for n in small.values())
    write_days(partnership, ann, ben, 10, 290)
    large = measure()
    assert large == small
    # The history really is longer now, and the pages show it.
    summary = get_json(client, f"{API}/ratings/summary", headers)
    assert summary["explanations"] == 300 and summary["granularity"] == "month"
    assert "Page 1 of 15 (300 in all)" in words(
        page_html(browser, "/review/explanations")
    )


# --- the gaps come first when preparing -----------------------------------------------


def test_gaps_come_first_when_choosing_what_to_teach(history, browser_for):
    for title in ("Acid-base", "raas", "Renal clearance", "Beta blockers"):
        topics.add_topic(history.ann.id, title)
    # No ratings went through the room here, so no card is due: gaps first.
    assert reviews.topics_to_prepare(history.ann.id, utcnow()) == [
        ("RAAS", "teach again"),
        ("Cardiac action potential", "teach again"),
        ("R A A S", "teach again"),
        ("Loop  diuretics", "teach again"),
        ("Glycolysis", "teach again"),
        # Her other topics, alphabetically; "raas" is already a gap.
        ("Acid-base", ""),
        ("Beta blockers", ""),
        ("Renal clearance", ""),
    ]


# --- the same figures on PostgreSQL ---------------------------------------------------


@pytest.mark.postgres
def test_the_figures_are_the_same_on_postgresql():
    """JSON lengths, averages and time zones go through another SQL dialect."""
    with postgres_app() as application:
        application.test_client_class = IsolatedClient
        made = build_history(user_maker(), pair_up)
        _, raw = tokens.create_token(made.ann.id, "tests")
        headers = {"Authorization": f"Bearer {raw}"}
        client = application.test_client()
        assert get_json(client, f"{API}/ratings/summary", headers) == (ANN_SUMMARY)
        received = get_json(client, f"{API}/ratings?per_page=100", headers)
        assert received["total"] == 18
        assert received["items"][3] == rating_json(made.turns["raas11"])

        browser = Browser(application.test_client())
        assert browser.login(made.ann.email).status_code == 302
        markup = page_html(browser, "/review")
        assert table_rows(markup[markup.index('id="partners-heading"') :]) == [
            ["Ben", "19", "1", "19", "3.0", "4.0"]
        ]
        found = articles(page_html(browser, "/review/explanations"))
        assert len(found) == 19
        raas = words(found[made.turns["raas11"].turn_id])
        assert "RAAS Fri 16 Jan 2026, 10:00 · to Ben" in raas
        assert "Signals jargon 1 · lost 2 · slower 0 · clear 1" in raas
        items = exported(browser, "received")
        assert len(items) == 19
        row = next(
            r for r in items if r["session_id"] == made.turns["raas11"].session_id
        )
        assert (row["jargon"], row["rare_words"], row["reading_grade"]) == (
            ["renin", "angiotensin"],
            ["renin"],
            2.9,
        )
        assert [r["simplicity"] for r in exported(browser, "given")] == [3, 5]


def test_csv_export_defuses_spreadsheet_formulas(
    make_user, make_partnership, browser_for
):
    """A partner's note like "=HYPERLINK(...)" must not run in a spreadsheet: the
    CSV cell starts with an apostrophe; the JSON keeps the text as written."""
    ann = make_user("ann@example.com", display_name="Ann")
    ben = make_user("ben@example.com", display_name="Ben")
    pair = make_partnership(ann, ben)
    formula = '=HYPERLINK("http://evil.example","click")'
    write_session(
        pair,
        [Taught(ann, ben, at(1), "RAAS", 2, note=formula, jargon=("+renin",))],
    )
    db.session.commit()
    browser = browser_for(ann)
    body = browser.client.get("/review/export.csv").get_data(as_text=True)
    (row,) = list(csv.DictReader(io.StringIO(body)))
    assert row["note"] == "'" + formula
    assert row["jargon"] == "'+renin"
    data = browser.client.get("/review/export.json").get_json()
    assert data["items"][0]["note"] == formula
