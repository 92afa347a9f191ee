"""Where students see the re-teach schedule: the dashboard, the prepare form
and the room's topic list, the review's topic table and topic view."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from ally.models import utcnow
from ally.services import reviews, schedule, topics
from ally.services.reviews import DUE_LABEL, GAP_LABEL
from tests.conftest import Browser
from tests.support.reteach import rate

pytestmark = pytest.mark.usefixtures("isolated_requests")


@pytest.fixture
def world(app, make_user, make_partnership):
    ann = make_user("ann@example.com", display_name="Ann")
    ben = make_user("ben@example.com", display_name="Ben")
    pid = make_partnership(ann, ben).id
    now = utcnow()
    ago = lambda days: now - timedelta(days=days)  # noqa: E731
    for title in ("Acid-base", "Loop diuretics"):
        topics.add_topic(ann.id, title)
    rate(ann, ben, pid, "Glycolysis", 4, ago(12))  # Good: due 10 days ago
    rate(ann, ben, pid, "RAAS", 1, ago(3))  # Again: due 2 days ago, and a gap
    rate(ann, ben, pid, "Cardiac output", 2, ago(0.2))  # a gap, due tomorrow
    rate(ann, ben, pid, "Renal clearance", 5, ago(1))  # Easy: a week away
    rate(ben, ann, pid, "Nephron", 1, ago(5))  # Ben's, due: never Ann's
    browser = Browser(app.test_client())
    assert browser.login("ann@example.com").status_code == 302
    return ann, ben, pid, browser


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_choosing_what_to_teach_offers_due_topics_then_gaps_then_the_rest(world):
    ann, *_ = world
    assert reviews.topics_to_prepare(ann.id, utcnow()) == [
        ("Glycolysis", DUE_LABEL),
        ("RAAS", DUE_LABEL),  # due, and a gap: listed once, as due
        ("Cardiac output", GAP_LABEL),
        ("Acid-base", ""),
        ("Loop diuretics", ""),
    ]


def test_the_dashboard_says_how_many_topics_are_due_and_which(world):
    *_, browser = world
    page = browser.client.get("/").get_data(as_text=True)
    words = text_of(page)
    assert "Due to teach again" in words
    assert "2 topics due" in words
    listed = re.findall(r'<ol class="due-list">(.*?)</ol>', page, re.S)[0]
    assert re.findall(r'#retention">([^<]+)</a>', listed) == ["Glycolysis", "RAAS"]
    assert "Nephron" not in words and "Renal clearance" not in listed


def test_nothing_due_means_no_due_section(app, make_user):
    make_user("cara@example.com")
    browser = Browser(app.test_client())
    browser.login("cara@example.com")
    assert 'id="due-topics"' not in browser.client.get("/").get_data(as_text=True)


def test_the_prepare_form_and_the_room_list_due_topics_first(world):
    ann, ben, pid, browser = world
    session = schedule.create_extra_session(ann.id, pid, utcnow() + timedelta(hours=1))
    page = browser.client.get(f"/sessions/{session.id}").get_data(as_text=True)
    datalist = re.findall(r'<datalist id="my-topics">(.*?)</datalist>', page, re.S)[0]
    options = re.findall(r'<option value="([^"]+)"(?: label="([^"]+)")?>', datalist)
    assert options == [
        ("Glycolysis", DUE_LABEL),
        ("RAAS", DUE_LABEL),
        ("Cardiac output", GAP_LABEL),
        ("Acid-base", ""),
        ("Loop diuretics", ""),
    ]
    words = text_of(page)
    assert (
        "Due to teach again (the schedule brings them back now): Glycolysis, RAAS "
        in words
    )
    assert "Teach again first (not simple yet): Cardiac output " in words
    room = browser.client.get(f"/sessions/{session.id}/room").get_data(as_text=True)
    datalist = re.findall(r'<datalist id="room-topics">(.*?)</datalist>', room, re.S)[0]
    assert re.findall(r'<option value="([^"]+)"', datalist) == [
        "Glycolysis",
        "RAAS",
        "Cardiac output",
        "Acid-base",
        "Loop diuretics",
    ]


def test_the_review_topic_table_shows_when_each_topic_comes_back(world):
    *_, browser = world
    page = browser.client.get("/review").get_data(as_text=True)
    table = re.findall(r'<table class="topic-table">(.*?)</table>', page, re.S)[0]
    assert '<th scope="col">Comes back</th>' in table
    rows = {
        text_of(name): text_of(back)
        for name, back in re.findall(
            r'#chart">([^<]+)</a></td>.*?<td class="comes-back">(.*?)</td>', table, re.S
        )
    }
    assert rows["Glycolysis"] == rows["RAAS"] == "due now"
    in_a_week = (utcnow() + timedelta(days=7)).year
    assert rows["Renal clearance"].endswith(str(in_a_week))
    assert rows["Renal clearance"] != "due now" and rows["Cardiac output"] != "due now"


def test_the_topic_view_plots_retrievability_over_time(world):
    *_, browser = world
    page = browser.client.get("/review?topic=raas").get_data(as_text=True)
    section = re.findall(r'<section class="retention-chart".*?</section>', page, re.S)
    chart = re.findall(
        r'<section aria-labelledby="chart-heading".*?</section>', page, re.S
    )
    assert "retention" not in chart[0]  # its own section, not the trend chart's
    assert section, "no retention chart on the topic view"
    svg = section[0]
    assert "Chance you can still explain RAAS well, over time" in svg
    assert svg.count('class="review"') == 1  # one rated explanation
    assert 'class="aim"' in svg and 'class="now"' in svg
    heights = [
        float(v)
        for v in re.findall(r'<polyline points="([^"]+)"', svg)[0]
        .replace(",", " ")
        .split()[1::2]
    ]
    assert heights == sorted(heights)  # y grows downwards: the chance falls
    assert "Due to teach again now" in text_of(svg)
    # No chosen topic: no chart of one.
    assert "retention-chart" not in browser.client.get("/review").get_data(as_text=True)
