"""The re-check page in Chromium on a phone (390 px), by keyboard.

The real server runs with ``--demo``: Ana taught yesterday, and the demo ran
the invitation job, so her notifications invite her to re-check. She follows
the invitation, sends the form empty (a clear message, nothing saved), picks
a point of the scale with the arrow keys and sends it with Enter; the page
then shows her four figures and never offers the form again, and a second
answer by the API is refused. Screenshots go to
``tests/artifacts/<test name>/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS_ROOT, TEST_SECRET_KEY
from tests.browser.test_dashboard_live import PHONE, no_sideways_scroll, shoot
from tests.browser.test_review_page import ANA, DEMO_PASSWORD, open_as_ana
from tests.support.live_server import LiveServer

# The question (the button's name also says "Unread: " to screen readers).
QUESTION = re.compile(
    r"Explain (.+) to yourself in one minute — how simply could you now\?"
)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``python app.py --demo`` on a fresh SQLite file, for the whole module."""
    workdir = tmp_path_factory.mktemp("recheck-demo")
    server = LiveServer(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'ally.db'}",
            "SECRET_KEY": TEST_SECRET_KEY,
            "ALLY_SCHEDULER": "off",
            "ALLY_AUTH_RATE_LIMIT": "1000 per minute",
        },
        extra_args=("--demo",),
        log_path=workdir / "server.log",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        ARTIFACTS_ROOT.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log_path, ARTIFACTS_ROOT / "recheck-demo-server.log")


def test_a_recheck_on_a_phone_by_keyboard(
    new_context, demo_server: LiveServer, artifacts_dir: Path
) -> None:
    base = demo_server.url
    page, watch = open_as_ana(new_context, base, viewport=PHONE)

    # The invitation, among her notifications, leads to the page.
    page.goto(f"{base}/notifications")
    invitation = page.get_by_role("button", name=QUESTION).first
    expect(invitation).to_be_visible()
    question = QUESTION.search(invitation.inner_text())[0]
    topic = QUESTION.search(question)[1]
    invitation.click()
    page.wait_for_url(re.compile(r"/turns/\d+/recheck$"))
    url = page.url
    turn_id = int(url.rsplit("/", 2)[-2])
    expect(page.get_by_role("heading", level=1)).to_have_text(question)
    scale = page.get_by_role("group", name="How simply could you explain it now?")
    expect(scale.get_by_role("radio")).to_have_count(5)
    no_sideways_scroll(page)
    shoot(page, artifacts_dir, "recheck-phone-asked")

    # Sent empty, by keyboard: a message, and nothing saved.
    page.get_by_role("button", name="Save my re-check").focus()
    page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("from 1 to 5. Nothing was saved.")
    no_sideways_scroll(page)
    shoot(page, artifacts_dir, "recheck-phone-empty")

    # Tab into the scale, arrow to 3, Tab to the button, Enter.
    first = scale.get_by_role("radio").first
    first.focus()
    page.keyboard.press("Space")
    expect(scale.get_by_role("radio", name="1 I would lose them")).to_be_checked()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    three = scale.get_by_role("radio", name="3 Mostly clear")
    expect(three).to_be_checked()
    expect(three).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Save my re-check")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(url)
    expect(page.get_by_role("status").filter(has_text="Re-check saved")).to_be_visible()
    done = page.locator(".recheck-done")
    expect(done).to_contain_text("You re-checked this explanation: 3/5")
    figures = page.get_by_role("table", name="This explanation, four ways")
    expect(
        figures.get_by_role("row", name=re.compile("re-check, now"))
    ).to_contain_text("3/5")
    expect(page.get_by_role("radio")).to_have_count(0)
    no_sideways_scroll(page)
    shoot(page, artifacts_dir, "recheck-phone-done")

    # A second answer, through the API, is refused: once only.
    http = requests.Session()
    token = http.post(
        f"{base}/api/v1/auth/token",
        json={"email": ANA, "password": DEMO_PASSWORD},
        timeout=10,
    ).json()["token"]
    again = http.post(
        f"{base}/api/v1/turns/{turn_id}/recheck",
        json={"simplicity": 5},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert again.status_code == 409 and again.json()["error"] == "already_rated"
    page.reload()
    expect(done).to_contain_text("3/5")
    assert topic in page.get_by_role("heading", level=1).inner_text()

    # The one HTTP error was the empty form's 400, on purpose.
    expected = {
        f"HTTP 400 {url}",
        "console error: Failed to load resource: the server responded with a "
        "status of 400 (BAD REQUEST)",
    }
    assert set(watch.problems) == expected, watch.problems
    assert len(watch.problems) == 2
