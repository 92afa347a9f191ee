"""Every page fits a 390 px phone with nothing cut off.

For every HTML page (the same list as the accessibility test: every GET route
of the url_map, on the demo's data), logged in, at 390 x 844:

- the page never scrolls sideways (``scrollWidth <= 390``);
- no visible element clips its content (``scrollWidth > clientWidth`` with
  overflow hidden/auto/scroll), except deliberate scroll areas;
- the menu collapses behind one disclosure button, which opens and closes it;
- the room's clock starts within the first screen.

Screenshots of the main pages at 390 px and 1280 px go to /tmp/shots/ (and
the test's artifacts folder) to be looked at.
"""

# ruff: noqa: E501 (the browser-side checks are JavaScript in strings)
# ruff: noqa: F811 (`demo`, the accessibility test's fixture, is imported and used by name)
from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.test_accessibility import (  # noqa: F401 - `demo` is a fixture
    ANA,
    BEN,
    DESKTOP,
    PHONE,
    Demo,
    demo,
    log_in,
    open_html,
    page_paths,
)

SHOTS = Path("/tmp/shots")
# Scroll areas on purpose: the room's signal feed (newest first, bounded).
DELIBERATE_SCROLL = ("signal-feed",)

# Every element whose content is wider or taller than its box while its
# overflow hides or scrolls it; text inputs scroll their own text by design.
CLIPPED = """(deliberate) => {
  const out = [];
  // Text for screen readers only: a 1 px box that clips on purpose.
  const visuallyHidden = (node) => {
    for (let n = node; n && n !== document.body; n = n.parentElement) {
      const r = n.getBoundingClientRect();
      if (r.width <= 1 && r.height <= 1) return true;
    }
    return false;
  };
  for (const el of document.querySelectorAll("body *")) {
    if (["INPUT", "TEXTAREA", "SELECT", "OPTION", "SCRIPT", "STYLE", "svg"].includes(el.tagName)) continue;
    if (el.closest("svg, datalist, .visually-hidden, [hidden]")) continue;
    if (deliberate.some((id) => el.closest(`#${id}`))) continue;
    if (visuallyHidden(el)) continue;
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height) continue;
    const clipsX = ["hidden", "auto", "scroll", "clip"].includes(style.overflowX);
    const clipsY = ["hidden", "auto", "scroll", "clip"].includes(style.overflowY);
    const wide = clipsX && el.scrollWidth > el.clientWidth + 1;
    const tall = clipsY && el.scrollHeight > el.clientHeight + 1;
    if (wide || tall) {
      const name = el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`;
      out.push(`${name} ${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x${el.clientHeight}`);
    }
    // Text running past the right edge of the screen is cut off too.
    if (box.right > window.innerWidth + 1 && style.position !== "fixed" && style.position !== "absolute") {
      out.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} ends at ${Math.round(box.right)}px`);
    }
  }
  return out;
}"""

MAIN_PAGES = {
    "dashboard": "/",
    "partners": "/partners",
    "review": "/review",
    "sessions": "/sessions",
    "profile": "/profile",
}


def shoot(page: Page, artifacts_dir: Path, name: str) -> None:
    """A full-page screenshot in the artifacts and in /tmp/shots/."""
    target = artifacts_dir / f"{name}.png"
    page.screenshot(path=str(target), full_page=True, animations="disabled")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(target, SHOTS / target.name)


def layout_problems(page: Page) -> list[str]:
    """Sideways scrolling of the page and clipped elements."""
    problems = []
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        problems.append(f"page is {width}px wide")
    problems += page.evaluate(CLIPPED, list(DELIBERATE_SCROLL))
    return problems


def test_every_page_fits_a_phone(
    new_context, make_app, demo: Demo, artifacts_dir
) -> None:
    context = new_context(viewport=PHONE, timezone_id=BEN.timezone, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, demo.url, ANA.email)
    found = {}
    for path in page_paths(make_app, demo):
        if not open_html(page, demo.url + path):
            continue
        problems = layout_problems(page)
        if problems:
            found[path] = problems
    assert found == {}, found


def test_the_menu_collapses_behind_a_button_on_a_phone(new_context, demo: Demo) -> None:
    context = new_context(viewport=PHONE, timezone_id=BEN.timezone)
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, demo.url, ANA.email)
    menu = page.locator("#main-menu")
    toggle = page.get_by_role("button", name="Menu")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_hidden()
    # The header is one line: the brand and the button.
    assert page.locator("body > header").bounding_box()["height"] < 90
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_role("link", name="Review")).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(toggle).to_be_focused()
    toggle.click()
    menu.get_by_role("link", name="Review").click()
    expect(page.get_by_role("heading", name="Review", exact=True)).to_be_visible()
    expect(page.locator("#main-menu")).to_be_hidden()

    # On a desktop the menu is all there, and no button.
    page.set_viewport_size(DESKTOP)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(
        page.locator("#main-menu").get_by_role("link", name="Review")
    ).to_be_visible()


def test_the_menu_shows_without_javascript(new_context, demo: Demo) -> None:
    context = new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{demo.url}/login")
    expect(
        page.locator("#main-menu").get_by_role("link", name="Log in")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_rooms_clock_is_on_the_first_screen_of_a_phone(
    new_context, demo: Demo, artifacts_dir
) -> None:
    context = new_context(viewport=PHONE, timezone_id=BEN.timezone)
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, demo.url, ANA.email)
    page.goto(f"{demo.url}/sessions/{demo.ids['session_id']}/room")
    expect(page.locator("#phase-label")).to_have_text("Session complete.")
    clock = page.locator("#countdown").bounding_box()
    assert clock is not None and clock["y"] + clock["height"] < PHONE["height"], clock


def test_screenshots_of_the_main_pages(new_context, demo: Demo, artifacts_dir) -> None:
    """Dashboard, room, review, partners, session, at 390 and 1280 px."""
    pages = {
        **MAIN_PAGES,
        "room": f"/sessions/{demo.ids['session_id']}/room",
        "session": f"/sessions/{demo.ids['session_id']}",
        "partnership": f"/partnerships/{demo.ids['partnership_id']}",
    }
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        context = new_context(
            viewport=viewport, timezone_id=BEN.timezone, locale="en-GB"
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        log_in(page, demo.url, ANA.email)
        for name, path in pages.items():
            page.goto(demo.url + path)
            page.wait_for_load_state("load")
            shoot(page, artifacts_dir, f"{label}-{name}")
            if label == "phone":
                assert layout_problems(page) == [], (path, layout_problems(page))
        context.close()
