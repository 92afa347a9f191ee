"""The four-way calibration over a small written history: the service's figures
(only the student's own rated explanations of the last 26 weeks) and the
review partial that shows them (chart, tables, sentence)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import render_template
from sqlalchemy import update

from ally.extensions import db
from ally.models import Turn
from ally.services import calibration
from ally.web.charts import four_way_chart
from tests.conftest import pair_up, postgres_app, user_maker
from tests.test_reviews import Taught, write_session

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
MONDAY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # ISO week 10


def own(turn_id: int, predicted: int | None, recheck: int | None) -> None:
    db.session.execute(
        update(Turn)
        .where(Turn.id == turn_id)
        .values(predicted_simplicity=predicted, recheck_simplicity=recheck)
    )


def history(make_user, make_partnership):
    """Ana: RAAS three times in week 10 (predicts 4, delivers 2-3, re-checks
    what her partner saw), Loop once in week 11; plus what must not count."""
    ana = make_user("ana@example.com", display_name="Ana", timezone="UTC")
    ben = make_user("ben@example.com", display_name="Ben")
    pair = make_partnership(ana, ben)
    # (day, topic, partner, self, predicted, re-check)
    plan = [
        (0, "RAAS", 2, 3, 4, 2),
        (1, "raas", 3, 3, 4, 3),
        (2, "RAAS", 2, 2, 4, 2),
        (8, "Loop diuretics", 4, 4, 4, None),
        (9, "Loop diuretics", None, 5, 5, 5),  # unrated: does not count
        (-200, "RAAS", 1, 1, 5, 1),  # before the 26 weeks: does not count
    ]
    for day, topic, partner, mine, predicted, again in plan:
        hers = Taught(ana, ben, MONDAY + timedelta(days=day), topic, partner, mine)
        # Ben's explanation, rated by Ana, with his own figures: never hers.
        his = Taught(ben, ana, hers.when + timedelta(minutes=10), "RAAS", 5, 1)
        write_session(pair, [hers, his])
        own(hers.turn_id, predicted, again)
        own(his.turn_id, 1, 1)
    db.session.commit()
    return ana, ben


def test_the_figures_are_the_students_own_rated_explanations(
    make_user, make_partnership
):
    ana, ben = history(make_user, make_partnership)
    four = calibration.four_way(ana.id, NOW)
    o = four.overall
    assert (o.explanations, o.partner, o.predicted, o.self_rating) == (
        4,
        2.75,
        4.0,
        3.0,
    )
    assert (o.recheck, o.recheck_pairs) == (2.33, 3)
    assert (o.predicted_gap, o.self_gap, o.recheck_gap) == (1.25, 0.25, 0.0)
    assert four.period == "day"
    assert [(f.label, f.explanations) for f in four.topics] == [
        ("RAAS", 3),
        ("Loop diuretics", 1),
    ]
    assert four.sentence == (
        "You expect more than you deliver before teaching; right after, you rate "
        "yourself as your partner does; after a night your re-checks match your "
        "partner."
    )
    # Ben's own figures are his: the partner he had (Ana) rated him 5 each time.
    theirs = calibration.four_way(ben.id, NOW).overall
    assert (theirs.explanations, theirs.partner, theirs.predicted) == (5, 5.0, 1.0)


def test_a_re_check_changes_the_figures_at_once(make_user, make_partnership):
    ana, _ = history(make_user, make_partnership)
    before = calibration.four_way(ana.id, NOW).overall
    loop = db.session.scalar(
        db.select(Turn.id).where(
            Turn.teacher_id == ana.id,
            Turn.topic == "Loop diuretics",
            Turn.recheck_simplicity.is_(None),
        )
    )
    own(loop, 4, 5)
    db.session.commit()
    after = calibration.four_way(ana.id, NOW).overall
    assert (before.recheck_pairs, after.recheck_pairs) == (3, 4)
    assert after.recheck_gap == 0.25


def cells(markup: str, caption: str) -> list[list[str]]:
    """The rows of the table with this caption, as text cells."""
    table = markup.split(f">{caption}</caption>", 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_partial_shows_the_chart_the_tables_and_the_sentence(
    app, make_user, make_partnership
):
    ana, _ = history(make_user, make_partnership)
    four = calibration.four_way(ana.id, NOW)
    with app.test_request_context():
        markup = render_template(
            "review/_calibration4.html",
            four=four,
            four_chart=four_way_chart(four.periods, four.period),
        )
    assert "You expect more than you deliver before teaching;" in markup
    assert "The last 26 weeks" in markup and "12 hours to 7 days later" in markup
    assert 'id="calibration4-title">Prediction, self-rating, partner and ' in markup
    assert markup.count("<polyline") == 4  # one line per figure
    assert cells(markup, "Per topic, most explained first") == [
        [
            "All topics",
            "4",
            "4.0",
            "3.0",
            "2.8",
            "2.3",
            "+1.2 (4)",
            "+0.2 (4)",
            "+0.0 (3)",
        ],
        ["RAAS", "3", "4.0", "2.7", "2.3", "2.3", "+1.7 (3)", "+0.3 (3)", "+0.0 (3)"],
        ["Loop diuretics", "1", "4.0", "4.0", "4.0", "—", "+0.0 (1)", "+0.0 (1)", "—"],
    ]
    days = cells(markup, "All topics, per day")
    assert [row[:6] for row in days] == [
        ["2026-03-02", "1", "4.0", "3.0", "2.0", "2.0"],
        ["2026-03-03", "1", "4.0", "3.0", "3.0", "3.0"],
        ["2026-03-04", "1", "4.0", "2.0", "2.0", "2.0"],
        ["2026-03-10", "1", "4.0", "4.0", "4.0", "—"],
    ]
    # Each point of the chart is a figure of that table.
    points = set(
        re.findall(r"<title>([^<]+), (\d{4}-\d\d-\d\d): ([\d.]+)</title>", markup)
    )
    assert ("Re-check", "2026-03-03", "3") in points
    assert ("Prediction", "2026-03-10", "4") in points
    assert not any(day == "2026-03-10" for name, day, _ in points if name == "Re-check")


def test_the_partial_without_history_says_what_to_do(app, make_user):
    ana = make_user("ana@example.com")
    four = calibration.four_way(ana.id, NOW)
    with app.test_request_context():
        markup = render_template(
            "review/_calibration4.html", four=four, four_chart=None
        )
    assert "Predict how simply you can explain a topic before you teach it" in markup
    assert "<table" not in markup and "<svg" not in markup


@pytest.mark.postgres
def test_the_figures_are_the_same_on_postgresql():
    with postgres_app():
        ana, _ = history(user_maker(), pair_up)
        o = calibration.four_way(ana.id, NOW).overall
        assert (o.explanations, o.partner, o.predicted, o.self_rating) == (
            4,
            2.75,
            4.0,
            3.0,
        )
        assert (o.predicted_gap, o.self_gap, o.recheck_gap) == (1.25, 0.25, 0.0)
