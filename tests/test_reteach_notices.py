"""The re-teach notice: when topics fall due, one notification a day at most,
and none for a student who turned it off."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ally.extensions import db
from ally.jobs import run_job
from ally.models import Notification, TopicCard, User
from ally.services import accounts
from ally.services.reteach_notices import notice_text
from tests.conftest import Browser

JOB = "remind_reteach"
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def card(user: User, title: str, due: datetime) -> None:
    db.session.add(
        TopicCard(
            user_id=user.id,
            topic_key=title.casefold(),
            topic=title,
            state=2,
            due_at=due,
            reviews=1,
        )
    )
    db.session.commit()


def told(user: User) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.kind == "reteach")
            .order_by(Notification.id)
        )
    )


@pytest.fixture
def ann(make_user):
    return make_user("ann@example.com", timezone="Europe/London")


def test_a_topic_falling_due_brings_one_notice_listing_every_due_topic(ann):
    card(ann, "RAAS", NOON - hours(30))
    card(ann, "Loop diuretics", NOON - hours(1))
    card(ann, "Glycolysis", NOON + hours(1))  # not due yet
    assert run_job(JOB, NOON) == 1
    [notice] = told(ann)
    assert notice.text == (
        "Time to teach again: RAAS and Loop diuretics (2 topics due). "
        "Pick one when you prepare your next session."
    )
    assert notice.url == "/#due-topics"


def test_at_most_one_notice_a_day(ann):
    card(ann, "RAAS", NOON - hours(1))
    assert run_job(JOB, NOON) == 1
    # Another topic falls due the same afternoon: the day already had its notice.
    card(ann, "Loop diuretics", NOON + hours(2))
    assert run_job(JOB, NOON + hours(3)) == 0
    assert run_job(JOB, NOON + hours(11)) == 0  # 23:00 in London
    # The next local day, the news is told (every due topic listed).
    assert run_job(JOB, NOON + hours(12.5)) == 1
    assert "RAAS and Loop diuretics" in told(ann)[-1].text
    assert len(told(ann)) == 2


def test_topics_already_announced_bring_no_new_notice(ann):
    card(ann, "RAAS", NOON - hours(1))
    assert run_job(JOB, NOON) == 1
    for day in range(1, 5):  # still untaught, nothing new due
        assert run_job(JOB, NOON + timedelta(days=day)) == 0
    card(ann, "Glycolysis", NOON + timedelta(days=5))
    assert run_job(JOB, NOON + timedelta(days=5, hours=1)) == 1
    assert len(told(ann)) == 2


def test_the_local_date_decides_the_day(make_user):
    tokyo = make_user("kei@example.com", timezone="Asia/Tokyo")
    card(tokyo, "RAAS", NOON - hours(1))
    assert run_job(JOB, NOON) == 1  # 21:00 in Tokyo
    card(tokyo, "Loop diuretics", NOON + hours(2))
    # 00:30 the next day in Tokyo (still the same UTC date): a new local day.
    assert run_job(JOB, NOON + hours(3.5)) == 1


def test_no_notice_when_the_setting_is_off(ann, make_user):
    ben = make_user("ben@example.com")
    accounts.update_notification_settings(ann.id, 10, True, False)
    card(ann, "RAAS", NOON - hours(1))
    card(ben, "RAAS", NOON - hours(1))
    assert run_job(JOB, NOON) == 1
    assert told(ann) == [] and len(told(ben)) == 1


def test_the_notice_is_e_mailed_when_e_mail_is_on(app, ann):
    app.config["ALLY_SMTP_HOST"] = "127.0.0.1"
    card(ann, "RAAS", NOON - hours(1))
    run_job(JOB, NOON)
    assert [n.email_state for n in told(ann)] == ["pending"]


@pytest.mark.usefixtures("isolated_requests")
def test_the_setting_is_on_the_account_page(app, ann):
    browser = Browser(app.test_client())
    browser.login("ann@example.com")
    page = browser.client.get("/account").get_data(as_text=True)
    assert "Tell me once a day when topics are due to teach again" in page
    box = re.search(r'<input[^>]*name="reteach_reminders"[^>]*>', page)[0]
    assert "checked" in box
    response = browser.post(
        "/account/notifications",
        {"reminder_minutes": "10", "email_notifications": "y"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.get(User, ann.id)
    assert user.reteach_reminders is False and user.email_notifications is True
    browser.post(
        "/account/notifications",
        {"reminder_minutes": "10", "reteach_reminders": "y"},
    )
    db.session.expire_all()
    assert db.session.get(User, ann.id).reteach_reminders is True


def test_a_bad_setting_is_refused(ann):
    with pytest.raises(accounts.Invalid):
        accounts.update_notification_settings(ann.id, 10, True, "yes")


@pytest.mark.parametrize(
    ("titles", "listed"),
    [
        (["RAAS"], "RAAS (1 topic due)"),
        (["A", "B", "C"], "A, B and C (3 topics due)"),
        (["A", "B", "C", "D", "E"], "A, B, C and 2 more (5 topics due)"),
    ],
)
def test_the_notice_names_a_few_topics_and_counts_the_rest(titles, listed):
    assert notice_text(titles).startswith(f"Time to teach again: {listed}. ")
