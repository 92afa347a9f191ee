"""The call in the room, in two real Chromium contexts through a real coturn.

Every packet stays on loopback: the server hands out relay-only ICE settings
(`ALLY_ICE_TRANSPORT_POLICY=relay`) for a coturn listening and relaying on
127.0.0.1, and each test checks from `getStats()` that every candidate its
connection used is a relay candidate on 127.0.0.1. Chromium's fake devices
(`--use-fake-device-for-media-stream --use-fake-ui-for-media-stream`) give
each context a microphone that beeps and a camera, and grant them at once.

Every wait is for a state (polled `getStats()` figures, the page's words),
with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import CHROMIUM_ARGS
from tests.browser.test_dashboard_live import (
    LONDON,
    NEW_YORK,
    PHONE,
    log_in,
    new_person,
    no_sideways_scroll,
    pair_up,
    shoot,
)
from tests.support.services import require_chromium
from tests.support.turn import TurnServer, require_turnserver

MEDIA_ARGS = [
    *CHROMIUM_ARGS,
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
CONNECT_WITHIN_S = 10.0  # the issue: connected within 10 s of both joining
# Mean received power below this is silence: the fake microphone's beeps
# measure 0.2-0.4 here, a muted track 0 after a few hundred milliseconds.
SILENCE = 1e-4

# What the page's connection says, read through the page's own object.
STATS = """async () => {
  const call = window.allyCall;
  const pc = call && call.pc;
  if (!pc) return {state: "none", generation: call ? call.generation : 0};
  const report = await pc.getStats();
  const out = {state: pc.connectionState, generation: call.generation,
               packets: 0, energy: 0, duration: 0, pairs: [], candidates: []};
  const byId = {};
  report.forEach((s) => { byId[s.id] = s; });
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.packets += s.packetsReceived || 0;
      out.energy += s.totalAudioEnergy || 0;
      out.duration += s.totalSamplesDuration || 0;
    }
    if (s.type === "candidate-pair" && (s.nominated || s.state === "succeeded")) {
      const local = byId[s.localCandidateId], remote = byId[s.remoteCandidateId];
      const end = (c) => c && {type: c.candidateType, address: c.address || c.ip};
      out.pairs.push({state: s.state, local: end(local), remote: end(remote)});
    }
    if (s.type === "local-candidate" || s.type === "remote-candidate") {
      out.candidates.push({side: s.type, type: s.candidateType,
                           address: s.address || s.ip});
    }
  });
  return out;
}"""


def stats(page: Page) -> dict[str, Any]:
    return page.evaluate(STATS)


def wait_for(
    what: str, check: Callable[[], Any], timeout_s: float = 15.0, every_s: float = 0.1
) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)  # polling interval, not a wait for time to pass
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def audio_flowing(page: Page, since: dict | None = None) -> dict | None:
    """The stats, once connected with more audio packets than `since` had."""
    now = stats(page)
    base = since["packets"] if since and since["generation"] == now["generation"] else 0
    if now["state"] == "connected" and now["packets"] > base + 10:
        return now
    return None


def audio_power(page: Page, window_s: float = 0.5) -> float:
    """The received audio's mean power over the next `window_s` seconds."""
    first = stats(page)
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        time.sleep(0.05)
    second = stats(page)
    spent = second["duration"] - first["duration"]
    if second["generation"] != first["generation"] or spent <= 0:
        return -1.0  # a new connection or no samples: no reading
    return (second["energy"] - first["energy"]) / spent


def assert_relay_on_loopback(figures: dict) -> None:
    """Every candidate and every used pair goes through the relay on 127.0.0.1.

    Our side only has relay candidates (the relay-only policy). The partner's
    side may show as "prflx" when its connectivity check (from its relay
    address) arrives before its candidate message: the same address.
    """
    assert figures["pairs"], figures
    used = [p for p in figures["pairs"] if p["state"] == "succeeded"]
    assert used, figures["pairs"]
    for pair in used:
        assert pair["local"] == {"type": "relay", "address": "127.0.0.1"}, pair
        assert pair["remote"]["type"] in ("relay", "prflx"), pair
        assert pair["remote"]["address"] == "127.0.0.1", pair
    for candidate in figures["candidates"]:
        kinds = (
            ("relay",) if candidate["side"] == "local-candidate" else ("relay", "prflx")
        )
        assert candidate["type"] in kinds, candidate
        assert candidate["address"] == "127.0.0.1", candidate


@pytest.fixture(scope="module")
def media_browser(playwright_instance) -> Iterator[Browser]:
    """Chromium with fake, pre-granted microphone and camera."""
    browser = playwright_instance.chromium.launch(
        executable_path=require_chromium(), headless=True, args=MEDIA_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def turn(tmp_path_factory) -> Iterator[TurnServer]:
    require_turnserver()
    with TurnServer(workdir=tmp_path_factory.mktemp("turn")) as server:
        yield server


@pytest.fixture
def media_context(media_browser, request, artifacts_dir):
    """Contexts in the media browser; screenshots of each page if the test failed."""
    contexts = []

    def make(**kwargs: Any):
        context = media_browser.new_context(
            viewport=kwargs.pop("viewport", {"width": 1280, "height": 900}), **kwargs
        )
        contexts.append(context)
        return context

    yield make
    failed = any(
        getattr(getattr(request.node, f"report_{w}", None), "failed", False)
        for w in ("setup", "call")
    )
    for c, context in enumerate(contexts):
        if failed:
            for p, page in enumerate(context.pages):
                try:
                    page.screenshot(path=str(artifacts_dir / f"failure-{c}-{p}.png"))
                except Exception:  # noqa: BLE001 - best effort
                    pass
        context.close()


def _two_in_the_room(make_live_server, media_context, turn, secret: str | None = None):
    server = make_live_server(
        ALLY_TURN_URLS=",".join(turn.urls),
        ALLY_TURN_SECRET=secret or turn.secret,
        ALLY_ICE_TRANSPORT_POLICY="relay",
    )
    alex_api, _blake_api, _blake_id, partnership = pair_up(
        server.url,
        {"start": "08:00", "end": "12:00"},
        {"start": "13:00", "end": "17:00"},
    )
    session = alex_api.call(
        "POST",
        f"/partnerships/{partnership}/sessions",
        {"teach_seconds": 600, "rate_seconds": 120},
        status=201,
    )
    pages = []
    for email, name, zone, viewport in (
        ("alex@example.org", "Alex", NEW_YORK, PHONE),
        ("blake@example.org", "Blake", LONDON, None),
    ):
        page, _watch = new_person(
            lambda **kw: media_context(**kw),
            zone,
            **({"viewport": viewport} if viewport else {}),
        )
        log_in(page, server.url, email, name)
        page.goto(f"{server.url}/sessions/{session['id']}/room")
        expect(page.locator("#call-state")).to_have_text("You are not in the call.")
        pages.append(page)
    return server, pages[0], pages[1]


def test_partners_talk_through_the_relay_mute_and_come_back_after_a_reload(
    make_live_server, media_context, turn, artifacts_dir
):
    _server, alex, blake = _two_in_the_room(make_live_server, media_context, turn)

    # Both join (Alex by keyboard); connected and audio flowing both ways
    # within 10 s of the second joining.
    alex.get_by_role("button", name="Join the call").focus()
    alex.keyboard.press("Enter")
    expect(alex.locator("#call-state")).to_have_text(
        "Waiting for Blake to join the call…"
    )
    blake.get_by_role("button", name="Join the call").click()
    joined = time.monotonic()
    for page in (alex, blake):
        wait_for("audio both ways", lambda p=page: audio_flowing(p), CONNECT_WITHIN_S)
    connect_s = time.monotonic() - joined
    print(f"join-to-audio: {connect_s:.2f} s")
    expect(alex.locator("#call-state")).to_have_text("Connected to Blake.")
    expect(blake.locator("#call-state")).to_have_text("Connected to Alex.")
    for page in (alex, blake):
        assert_relay_on_loopback(stats(page))
    expect(alex.locator("#call-partner-muted")).to_be_hidden()
    wait_for("Blake's voice reaching Alex", lambda: audio_power(alex) > 0)
    shoot(alex, artifacts_dir, "phone-connected")
    shoot(blake, artifacts_dir, "desktop-connected")
    no_sideways_scroll(alex)

    # Blake mutes (key M): within 2 s Alex receives silence and is told.
    blake.locator("body").press("m")
    expect(blake.get_by_role("button", name="Mute", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    wait_for("silence from Blake", lambda: 0 <= audio_power(alex) < SILENCE, 2.0)
    expect(alex.locator("#call-partner-muted")).to_be_visible()
    blake.locator("body").press("m")
    wait_for("Blake's voice again", lambda: audio_power(alex) > 0, timeout_s=3.0)
    expect(alex.locator("#call-partner-muted")).to_be_hidden()

    # Alex turns the camera on (key V): Blake sees moving pictures; off again.
    alex.locator("body").press("v")
    expect(alex.locator("#call-local-video")).to_be_visible()
    expect(alex.get_by_role("button", name="Camera", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    remote_video = blake.locator("#call-remote-video")
    expect(remote_video).to_be_visible()
    wait_for(
        "Alex's camera on Blake's page",
        lambda: remote_video.evaluate("(v) => v.videoWidth > 0 && !v.paused"),
    )
    shoot(blake, artifacts_dir, "desktop-camera")
    alex.locator("body").press("v")
    expect(remote_video).to_be_hidden()
    expect(alex.get_by_role("button", name="Camera", exact=True)).to_have_attribute(
        "aria-pressed", "false"
    )

    # Blake reloads: the call comes back by itself within 10 s, Alex untouched.
    before = stats(alex)
    blake.reload()
    wait_for(
        "a new connection on Alex's side with audio",
        lambda: (s := audio_flowing(alex)) and s["generation"] > before["generation"],
        timeout_s=CONNECT_WITHIN_S,
    )
    wait_for("audio on Blake's page again", lambda: audio_flowing(blake), 10.0)
    assert_relay_on_loopback(stats(blake))
    expect(blake.locator("#call-state")).to_have_text("Connected to Alex.")

    # Leaving the call ends it for both; the partner is told in words.
    blake.get_by_role("button", name="Leave the call").click()
    expect(alex.locator("#call-state")).to_have_text(
        "Waiting for Blake to join the call…"
    )
    expect(blake.get_by_role("button", name="Join the call")).to_be_visible()


def test_a_wrong_turn_secret_does_not_connect_and_the_page_says_why(
    make_live_server, media_context, turn, artifacts_dir
):
    _server, alex, blake = _two_in_the_room(
        make_live_server, media_context, turn, secret="not-the-secret"
    )
    alex.get_by_role("button", name="Join the call").click()
    blake.get_by_role("button", name="Join the call").click()
    for page in (alex, blake):
        expect(page.locator("#call-state")).to_contain_text(
            "refused Ally's credentials", timeout=20_000
        )
        expect(page.locator("#call-fallback")).to_be_visible()
        expect(page.get_by_role("button", name="Try again")).to_be_visible()
        assert stats(page)["state"] != "connected"
    shoot(alex, artifacts_dir, "phone-failed")


def test_the_session_page_checks_the_microphone_and_camera_before_the_hour(
    make_live_server, media_context, artifacts_dir
):
    server = make_live_server()
    alex_api, _blake_api, _blake_id, partnership = pair_up(
        server.url,
        {"start": "08:00", "end": "12:00"},
        {"start": "13:00", "end": "17:00"},
    )
    session = alex_api.call(
        "POST", f"/partnerships/{partnership}/sessions", {}, status=201
    )
    page, _watch = new_person(
        lambda **kw: media_context(**kw), NEW_YORK, viewport=PHONE
    )
    log_in(page, server.url, "alex@example.org", "Alex")
    page.goto(f"{server.url}/sessions/{session['id']}")
    check = page.get_by_role("region", name="Your microphone and camera")
    expect(check).to_contain_text("nothing is recorded")
    check.get_by_label("Test the camera too").check()
    check.get_by_role("button", name="Test microphone and camera").click()
    expect(check.get_by_role("button", name="Stop the test")).to_be_visible()
    # The fake microphone beeps: the meter moves; the camera shows a picture.
    wait_for(
        "the level meter to move",
        lambda: page.locator("#device-level").evaluate("(m) => m.value > 0"),
    )
    preview = page.locator("#device-preview")
    expect(preview).to_be_visible()
    wait_for("a camera picture", lambda: preview.evaluate("(v) => v.videoWidth > 0"))
    # Devices are listed by name once allowed; the choice is kept for the room.
    microphones = page.locator("#device-microphone option")
    expect(microphones.first).not_to_have_text("Default microphone")
    chosen = microphones.last.get_attribute("value")
    page.locator("#device-microphone").select_option(chosen)
    expect(page.locator("#device-message")).to_have_text(
        "Saved: the room uses this one."
    )
    assert page.evaluate("() => localStorage.getItem('ally.call.microphone')") == chosen
    shoot(page, artifacts_dir, "phone-device-check")
    no_sideways_scroll(page)
    check.get_by_role("button", name="Stop the test").click()
    expect(preview).to_be_hidden()


def test_a_socket_reconnect_brings_the_call_back_by_itself(
    make_live_server, media_context, turn
):
    _server, alex, blake = _two_in_the_room(make_live_server, media_context, turn)
    for page in (alex, blake):
        page.get_by_role("button", name="Join the call").click()
    for page in (alex, blake):
        wait_for("audio", lambda p=page: audio_flowing(p), CONNECT_WITHIN_S)
    before = stats(alex)

    # Blake's network drops: the room's socket is lost, then comes back.
    blake.context.set_offline(True)
    expect(blake.locator("#reconnecting")).to_be_visible()
    blake.context.set_offline(False)
    expect(blake.locator("#reconnecting")).to_be_hidden()
    wait_for(
        "a new connection on Alex's side with audio",
        lambda: (s := audio_flowing(alex)) and s["generation"] > before["generation"],
        timeout_s=CONNECT_WITHIN_S,
    )
    wait_for("audio on Blake's page", lambda: audio_flowing(blake), CONNECT_WITHIN_S)
    assert_relay_on_loopback(stats(blake))
    expect(alex.locator("#call-state")).to_have_text("Connected to Blake.")


def test_a_second_tab_a_closed_tab_and_a_logout_never_leave_the_call_lying(
    make_live_server, media_context, turn
):
    server, alex, blake = _two_in_the_room(make_live_server, media_context, turn)
    for page in (alex, blake):
        page.get_by_role("button", name="Join the call").click()
    for page in (alex, blake):
        wait_for("audio", lambda p=page: audio_flowing(p), CONNECT_WITHIN_S)
    before = stats(alex)

    # Alex opens the room in a second tab: it does not take the call over.
    second = alex.context.new_page()
    second.goto(alex.url)
    expect(second.locator("#call-state")).to_have_text(
        "You are in this call in another tab. Use that tab, or leave the call "
        "there first."
    )
    assert (
        audio_flowing(alex, before)
        and stats(alex)["generation"] == before["generation"]
    )
    second.close()

    # Blake logs out in another tab: his microphone closes and the page says so.
    blake.context.new_page().goto(f"{server.url}/dashboard")
    other = blake.context.pages[-1]
    other.get_by_role("button", name="Log out").click()
    expect(blake.locator("#call-state")).to_have_text(
        "Your login ended, so the call was closed. Log in again to rejoin."
    )
    assert blake.evaluate("() => window.allyCall.stream === null")
    # Alex is told Blake left, not that the network failed.
    expect(alex.locator("#call-state")).to_have_text(
        "Blake left the room — the call resumes when they are back."
    )
    assert stats(alex)["state"] == "none"
