"""The re-teach schedule in Chromium: after rated sessions, the dashboard says
which topics are due, and a topic's view plots when it comes back.

The history is made in-process on a SQLite file (users through the services,
each explanation rated through the room's own `rate`, so the cards come from
the real hook), then the real server serves that file.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from playwright.sync_api import expect

from ally import create_app
from ally.database import upgrade_database
from ally.extensions import db
from ally.models import utcnow
from tests.browser.conftest import TEST_SECRET_KEY
from tests.browser.test_dashboard_live import PHONE, no_sideways_scroll, shoot
from tests.conftest import PASSWORD, pair_up, user_maker
from tests.support.reteach import rate

ANN = "ann@example.com"


def seed(database: Path) -> None:
    """Ann taught four topics over two weeks; Ben rated each explanation."""
    application = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "SECRET_KEY": TEST_SECRET_KEY,
            "ALLY_SCHEDULER": "off",
        }
    )
    upgrade_database(application)
    with application.app_context():
        make = user_maker()
        ann = make(ANN, display_name="Ann")
        ben = make("ben@example.com", display_name="Ben")
        pid = pair_up(ann, ben).id
        now = utcnow()
        rate(ann, ben, pid, "Glycolysis", 4, now - timedelta(days=12))  # due
        rate(ann, ben, pid, "RAAS", 4, now - timedelta(days=6))
        rate(ann, ben, pid, "RAAS", 2, now - timedelta(days=4))  # a lapse: due
        rate(ann, ben, pid, "Renal clearance", 5, now - timedelta(days=1))
        rate(ben, ann, pid, "Nephron", 1, now - timedelta(days=5))  # Ben's
        db.session.remove()
        db.engine.dispose()


def test_the_dashboard_lists_the_topics_due_after_rated_sessions(
    tmp_path, make_live_server, new_context, artifacts_dir
):
    database = tmp_path / "ally.db"
    seed(database)
    server = make_live_server(DATABASE_URL=f"sqlite:///{database}")
    context = new_context(timezone_id="Europe/London", locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(ANN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hi, Ann")).to_be_visible()

    due = page.locator("#due-topics")
    expect(due.get_by_role("heading", name="Due to teach again")).to_be_visible()
    expect(page.locator("#due-count")).to_have_text("2")
    expect(due.locator(".due-list li a")).to_have_text(["Glycolysis", "RAAS"])
    expect(due).not_to_contain_text("Renal clearance")
    expect(due).not_to_contain_text("Nephron")
    shoot(page, artifacts_dir, "dashboard-due")

    # The topic's view: when it comes back, and its forgetting curve.
    due.get_by_role("link", name="RAAS").click()
    chart = page.locator("#retention svg.retention")
    expect(chart).to_be_visible()
    expect(chart.locator("circle.review")).to_have_count(2)
    expect(page.locator("#retention")).to_contain_text("Due to teach again now")
    row = page.locator("table.topic-table tr", has_text="RAAS")
    expect(row.locator("td.comes-back")).to_have_text("due now")
    shoot(page, artifacts_dir, "review-raas-retention")

    # On a phone the dashboard still fits.
    phone = new_context(viewport=PHONE, timezone_id="Europe/London").new_page()
    phone.goto(f"{server.url}/login")
    phone.get_by_label("Email").fill(ANN)
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("main").get_by_role("button", name="Log in").click()
    expect(phone.locator("#due-count")).to_have_text("2")
    phone.wait_for_load_state("load")  # measured with every stylesheet applied
    no_sideways_scroll(phone)
    shoot(phone, artifacts_dir, "dashboard-due-phone")
