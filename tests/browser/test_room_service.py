"""The room page while Redis (the Socket.IO message queue) is away (issue 13).

One `python app.py` on SQLite with a Redis of the test's own as its queue.
Alex teaches, Blake listens. Redis stops: both pages show the "reconnecting"
banner with the server's message; Blake's signal buttons still work (the ack
says it was stored, and in one process it still reaches Alex). Redis starts
again: both banners go by themselves. Every wait is for a state on the page.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ally.services.room.service_watch import RECONNECTING
from tests.browser.test_dashboard_live import (
    LONDON,
    NEW_YORK,
    log_in,
    new_person,
    pair_up,
    shoot,
)
from tests.support.room_page import EXPECT_TIMEOUT_MS
from tests.support.topology import RedisServer

pytestmark = [pytest.mark.live, pytest.mark.redis]

# python-socketio listens on Redis again after a pause of 1, 2, 4 … s.
RECOVERY_MS = 60_000


@pytest.fixture
def redis_server(tmp_path):
    with RedisServer(tmp_path) as redis:
        yield redis


def test_the_banner_shows_while_redis_is_away_and_goes_by_itself(
    make_live_server, redis_server, new_context, artifacts_dir
):
    server = make_live_server(
        SOCKETIO_MESSAGE_QUEUE=redis_server.url, ALLY_HEARTBEAT_SECONDS="2"
    )
    alex_api, _blake_api, _blake_id, partnership = pair_up(
        server.url,
        {"start": "08:00", "end": "12:00"},
        {"start": "13:00", "end": "17:00"},
    )
    session = alex_api.call(
        "POST",
        f"/partnerships/{partnership}/sessions",
        {"turns": 2, "teach_seconds": 300, "rate_seconds": 120},
        status=201,
    )
    room_url = f"{server.url}/sessions/{session['id']}/room"
    alex, _ = new_person(new_context, NEW_YORK)
    blake, _ = new_person(new_context, LONDON)
    log_in(alex, server.url, "alex@example.org", "Alex")
    log_in(blake, server.url, "blake@example.org", "Blake")
    alex.goto(room_url)
    alex.locator("#predict-form").get_by_role("button", name="Skip").click()
    blake.goto(room_url)
    expect(blake.get_by_role("heading", name="You are listening")).to_be_visible()
    expect(alex.get_by_role("heading", name="You are teaching")).to_be_visible()
    for page in (alex, blake):
        expect(page.locator("#reconnecting")).to_be_hidden()

    redis_server.stop()
    for page in (alex, blake):
        banner = page.locator("#reconnecting")
        expect(banner).to_be_visible(timeout=EXPECT_TIMEOUT_MS)
        expect(banner).to_have_text(RECONNECTING)
    shoot(blake, artifacts_dir, "blake-redis-away")

    # The buttons still send: the signal is stored and acknowledged.
    blake.get_by_role("button", name="Slower").click()
    expect(blake.locator("#sent-count")).to_have_text("Sent: 1 signal this turn.")
    feed = alex.get_by_role("list", name="Signals from your partner")
    expect(feed.locator("li").first).to_have_text("Slower")
    expect(alex.locator("#tally li[data-kind=slower] strong")).to_have_text("1")

    redis_server.start()
    for page in (alex, blake):
        expect(page.locator("#reconnecting")).to_be_hidden(timeout=RECOVERY_MS)
    expect(alex.locator("#tally li[data-kind=slower] strong")).to_have_text("1")
    expect(blake.locator("#room-error")).to_be_hidden()
