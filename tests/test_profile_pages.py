"""The profile page: details, availability windows and the topics to teach."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from ally.extensions import db
from ally.models import Topic, User
from ally.services import topics

# Every request in its own app context (see tests.conftest.IsolatedClient).
pytestmark = pytest.mark.usefixtures("isolated_requests")


@pytest.fixture
def ana(make_user, browser_client):
    """A logged-in user with an every-evening window and no topics."""
    user = make_user("ana@example.com", display_name="Ana")
    assert browser_client.login("ana@example.com").status_code == 302
    return user


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def flashes(response) -> list[str]:
    return re.findall(r'<p class="flash flash-\w+">([^<]*)</p>', text_of(response))


def stored(user_id: int) -> User:
    db.session.expire_all()
    return db.session.get(User, user_id)


def topic_rows(user_id: int) -> list[tuple[str, str | None]]:
    db.session.expire_all()
    return [(t.title, t.subject) for t in topics.list_topics(user_id)]


def profile_form(**overrides) -> dict:
    """A full profile form as the browser posts it (one window, no days ticked)."""
    form = {
        "display_name": "Ana",
        "timezone": "Europe/London",
        "exam": "USMLE Step 1",
        "exam_date": "",
        "subjects": "",
        "bio": "",
        "looking_for_partner": "y",
        "windows-0-start": "18:00",
        "windows-0-end": "22:00",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def save_profile(browser, **overrides):
    return browser.post("/profile", profile_form(**overrides))


# --- the profile -----------------------------------------------------------------


def test_profile_page_shows_the_stored_profile(app, ana, browser_client):
    page = browser_client.client.get("/profile")

    assert page.status_code == 200
    body = text_of(page)
    assert 'value="Ana"' in body
    assert 'value="USMLE Step 1"' in body
    assert (
        '<input id="windows-0-start" maxlength="5" name="windows-0-start" step="300"'
        ' type="time" value="18:00">'
    ) in body
    assert (
        '<input id="windows-0-end" maxlength="5" name="windows-0-end" step="300"'
        ' type="time" value="22:00">'
    ) in body
    assert 'name="windows-1-start" step="300" type="time" value=""' in body


def test_saving_every_field(app, ana, browser_client):
    response = browser_client.post(
        "/profile",
        {
            **profile_form(
                display_name="  Ana  Lima ",
                timezone="America/Sao_Paulo",
                exam="USMLE Step 2 CK",
                exam_date="2026-06-01",
                subjects="Renal, Cardio, renal, ",
                bio="Night owl.",
                looking_for_partner=None,
                auto_match="y",
                **{"windows-0-start": "19:30", "windows-0-end": "21:00"},
            ),
            "windows-0-weekdays": ["0", "2"],
        },
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/profile"
    user = stored(ana.id)
    assert user.display_name == "Ana Lima"
    assert user.timezone == "America/Sao_Paulo"
    profile = user.profile
    assert profile.exam == "USMLE Step 2 CK"
    assert profile.exam_date == date(2026, 6, 1)
    assert profile.subjects == ["Renal", "Cardio"]
    assert profile.bio == "Night owl."
    assert profile.looking_for_partner is False
    assert profile.auto_match is True
    assert profile.availability == [
        {"start": "19:30", "end": "21:00", "weekdays": [0, 2]}
    ]
    page = browser_client.client.get("/profile")
    assert "Profile saved." in flashes(page)
    assert "your own time, America/Sao_Paulo" in text_of(page)
    ticked = re.findall(r'<input checked id="(windows-0-weekdays-\d)"', text_of(page))
    assert ticked == ["windows-0-weekdays-0", "windows-0-weekdays-2"]


def test_clearing_optional_fields(app, make_user, browser_client):
    user = make_user(
        "ana@example.com", exam_date="2026-06-01", subjects=["Renal"], auto_match=True
    )
    browser_client.login("ana@example.com")

    response = save_profile(browser_client, exam="", exam_date="", subjects="")

    assert response.status_code == 302
    profile = stored(user.id).profile
    assert (profile.exam, profile.exam_date, profile.subjects) == (None, None, [])
    assert profile.auto_match is False


def test_six_windows_are_saved(app, ana, browser_client):
    rows = {}
    for i in range(6):
        rows[f"windows-{i}-start"] = f"{6 + 2 * i:02d}:00"
        rows[f"windows-{i}-end"] = f"{7 + 2 * i:02d}:00"

    response = save_profile(browser_client, **rows)

    assert response.status_code == 302
    saved = stored(ana.id).profile.availability
    assert [(w["start"], w["end"]) for w in saved] == [
        ("06:00", "07:00"),
        ("08:00", "09:00"),
        ("10:00", "11:00"),
        ("12:00", "13:00"),
        ("14:00", "15:00"),
        ("16:00", "17:00"),
    ]


def test_a_seventh_window_is_refused_not_dropped(app, ana, browser_client):
    rows = {}
    for i in range(7):
        rows[f"windows-{i}-start"] = f"{6 + 2 * i:02d}:00"
        rows[f"windows-{i}-end"] = f"{7 + 2 * i:02d}:00"

    response = save_profile(browser_client, **rows)

    assert response.status_code == 400
    assert "Give at most 6 availability windows." in text_of(response)
    assert stored(ana.id).profile.availability == [
        {"start": "18:00", "end": "22:00", "weekdays": None}
    ]


def test_a_window_crossing_midnight_is_kept(app, ana, browser_client):
    response = save_profile(
        browser_client, **{"windows-0-start": "22:00", "windows-0-end": "01:00"}
    )

    assert response.status_code == 302
    assert stored(ana.id).profile.availability == [
        {"start": "22:00", "end": "01:00", "weekdays": None}
    ]
    assert 'value="01:00"' in text_of(browser_client.client.get("/profile"))


def test_overlapping_windows_on_the_same_days_are_merged(app, ana, browser_client):
    response = browser_client.post(
        "/profile",
        {
            **profile_form(
                **{
                    "windows-0-start": "18:00",
                    "windows-0-end": "20:00",
                    "windows-1-start": "19:00",
                    "windows-1-end": "21:30",
                    "windows-2-start": "07:00",
                    "windows-2-end": "08:00",
                }
            ),
            "windows-0-weekdays": ["0", "1"],
            "windows-1-weekdays": ["0", "1"],
        },
    )

    assert response.status_code == 302
    assert stored(ana.id).profile.availability == [
        {"start": "07:00", "end": "08:00", "weekdays": None},
        {"start": "18:00", "end": "21:30", "weekdays": [0, 1]},
    ]


def test_overlapping_windows_on_different_day_sets_are_refused(
    app, ana, browser_client
):
    response = browser_client.post(
        "/profile",
        {
            **profile_form(
                **{
                    "windows-0-start": "18:00",
                    "windows-0-end": "20:00",
                    "windows-1-start": "19:00",
                    "windows-1-end": "21:00",
                }
            ),
            "windows-0-weekdays": ["0"],
        },
    )

    assert response.status_code == 400
    assert any("overlap on Mon" in message for message in flashes(response))
    assert stored(ana.id).profile.availability == [
        {"start": "18:00", "end": "22:00", "weekdays": None}
    ]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("25:00", "26:00", "'25:00' is not a time of day (use HH:MM, 00:00–23:59)"),
        ("18:00", "25:00", "'25:00' is not a time of day (use HH:MM, 00:00–23:59)"),
        ("7pm", "21:00", "'7pm' is not a time of day (use HH:MM, 00:00–23:59)"),
        ("18:00", "", "a time of day is required (use HH:MM, 00:00–23:59)"),
        ("18:00", "18:00", "18:00–18:00 is empty: the end must differ from the start"),
    ],
)
def test_bad_window_times_show_a_message_and_save_nothing(
    app, ana, browser_client, start, end, message
):
    response = save_profile(
        browser_client,
        display_name="Changed",
        **{"windows-0-start": start, "windows-0-end": end},
    )

    assert response.status_code == 400
    assert message in flashes(response)
    user = stored(ana.id)
    assert user.display_name == "Ana"
    assert user.profile.availability == [
        {"start": "18:00", "end": "22:00", "weekdays": None}
    ]


def test_an_unknown_time_zone_shows_a_message_and_saves_nothing(
    app, ana, browser_client
):
    response = save_profile(browser_client, timezone="Mars/Olympus", bio="changed")

    assert response.status_code == 400
    assert (
        "'Mars/Olympus' is not a known time zone (e.g. America/New_York)."
        in text_of(response)
    )
    user = stored(ana.id)
    assert user.timezone == "Europe/London"
    assert user.profile.bio == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("display_name", "x" * 61, "Field cannot be longer than 60 characters."),
        ("display_name", "", "This field is required."),
        ("exam_date", "2026-13-45", "Not a valid date value."),
        ("bio", "b" * 1001, "Field cannot be longer than 1000 characters."),
        ("subjects", "S" * 41, "Use at most 40 characters per subject."),
    ],
)
def test_bad_profile_fields_show_a_message_and_save_nothing(
    app, ana, browser_client, field, value, message
):
    response = save_profile(browser_client, **{field: value, "exam": "Changed"})

    assert response.status_code == 400
    assert message in text_of(response)
    assert stored(ana.id).profile.exam == "USMLE Step 1"


# --- topics ----------------------------------------------------------------------


def add_topic(browser, title: str, subject: str = ""):
    return browser.post("/topics", {"title": title, "subject": subject})


def test_add_a_topic(app, ana, browser_client):
    response = add_topic(browser_client, "  Renin  angiotensin system ", "Renal")

    assert response.status_code == 302
    assert response.headers["Location"] == "/profile#topics"
    assert topic_rows(ana.id) == [("Renin angiotensin system", "Renal")]
    page = browser_client.client.get("/profile")
    assert "Added “Renin angiotensin system”." in flashes(page)
    assert 'value="Renin angiotensin system"' in text_of(page)


def test_a_duplicate_title_is_refused_whatever_the_case(app, ana, browser_client):
    add_topic(browser_client, "Renal clearance")

    response = add_topic(browser_client, "RENAL   Clearance")

    assert response.status_code == 302
    assert topic_rows(ana.id) == [("Renal clearance", None)]
    page = browser_client.client.get("/profile")
    assert "You already have a topic with that title." in flashes(page)


def test_a_title_of_121_characters_is_refused(app, ana, browser_client):
    response = add_topic(browser_client, "t" * 121)

    assert response.status_code == 302
    assert topic_rows(ana.id) == []
    page = browser_client.client.get("/profile")
    assert "Topic: Field cannot be longer than 120 characters." in flashes(page)


def test_a_title_of_120_characters_is_accepted(app, ana, browser_client):
    add_topic(browser_client, "t" * 120)

    assert topic_rows(ana.id) == [("t" * 120, None)]


def test_an_empty_title_is_refused(app, ana, browser_client):
    add_topic(browser_client, "   ")

    assert topic_rows(ana.id) == []


def test_rename_a_topic(app, ana, browser_client):
    topic = topics.add_topic(ana.id, "Renal clearance", "Renal")

    response = browser_client.post(
        f"/topics/{topic.id}", {"title": "Glomerular filtration", "subject": "Nephro"}
    )

    assert response.status_code == 302
    assert topic_rows(ana.id) == [("Glomerular filtration", "Nephro")]
    assert "Topic saved." in flashes(browser_client.client.get("/profile"))


def test_rename_to_another_topics_title_is_refused(app, ana, browser_client):
    topics.add_topic(ana.id, "Renal clearance")
    second = topics.add_topic(ana.id, "Cardiac cycle")

    browser_client.post(f"/topics/{second.id}", {"title": "renal CLEARANCE"})

    assert sorted(topic_rows(ana.id)) == [
        ("Cardiac cycle", None),
        ("Renal clearance", None),
    ]
    page = browser_client.client.get("/profile")
    assert "You already have a topic with that title." in flashes(page)


def test_rename_changing_only_the_case_is_allowed(app, ana, browser_client):
    topic = topics.add_topic(ana.id, "renal clearance")

    browser_client.post(f"/topics/{topic.id}", {"title": "Renal Clearance"})

    assert topic_rows(ana.id) == [("Renal Clearance", None)]


def test_remove_a_topic(app, ana, browser_client):
    keep = topics.add_topic(ana.id, "Cardiac cycle")
    gone = topics.add_topic(ana.id, "Renal clearance")

    response = browser_client.post(f"/topics/{gone.id}/delete")

    assert response.status_code == 302
    assert topic_rows(ana.id) == [("Cardiac cycle", None)]
    assert db.session.get(Topic, keep.id) is not None


def test_another_users_topic_is_not_found(app, ana, make_user, browser_client):
    ben = make_user("ben@example.com", topic_titles=["Cardiac cycle"])
    bens_topic = topics.list_topics(ben.id)[0].id

    renamed = browser_client.post(f"/topics/{bens_topic}", {"title": "Mine now"})
    removed = browser_client.post(f"/topics/{bens_topic}/delete")
    unknown = browser_client.post("/topics/99999", {"title": "Nothing"})

    assert renamed.status_code == removed.status_code == unknown.status_code == 404
    assert topic_rows(ben.id) == [("Cardiac cycle", None)]
    assert topic_rows(ana.id) == []
    assert db.session.scalar(select(func.count()).select_from(Topic)) == 1
