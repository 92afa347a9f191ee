"""Every main page loads cleanly: no console errors, no CSP violations, no 404s.

Two students are set up through the JSON API (accounts, profiles, a topic, a
token, an accepted request), then one of them logs in through the form and
opens each page, at desktop and phone width, saving a screenshot of each.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

PASSWORD = "teach-it-simply-42"
PHONE = {"width": 390, "height": 844}

# Records CSP violations in the page itself; Playwright's init scripts are
# injected by the browser, so the page's own CSP does not block them.
CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
  );
});
"""


def api(
    base: str, method: str, path: str, body: Any = None, token: str | None = None
) -> Any:
    """Call the JSON API; return the decoded body (fails the test on an error)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/api/v1{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def make_student(
    base: str, email: str, name: str, zone: str, window: dict
) -> tuple[int, str]:
    """Register, get a token, fill the profile; return (user id, token)."""
    user = api(
        base,
        "POST",
        "/auth/register",
        {"email": email, "password": PASSWORD, "display_name": name, "timezone": zone},
    )
    token = api(
        base,
        "POST",
        "/auth/token",
        {"email": email, "password": PASSWORD, "name": "setup script"},
    )["token"]
    api(
        base,
        "PATCH",
        "/me",
        {
            "exam": "USMLE Step 1",
            "subjects": ["Renal", "Cardio"],
            "looking_for_partner": True,
            "availability": [window],
        },
        token,
    )
    return user["id"], token


@dataclass
class Watch:
    """What went wrong on a page, collected from the browser's events."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on(
            "console",
            lambda msg: (
                self.console.append(f"{msg.type}: {msg.text}")
                if msg.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on(
            "response",
            lambda r: (
                self.bad_responses.append(f"{r.status} {r.url}")
                if r.status >= 400
                else None
            ),
        )
        # ERR_ABORTED is the browser dropping a request of the page it leaves.
        page.on(
            "requestfailed",
            lambda r: (
                self.failed_requests.append(f"{r.url} ({r.failure})")
                if "ERR_ABORTED" not in (r.failure or "")
                else None
            ),
        )

    def problems(self, page: Page) -> list[str]:
        found = [
            *self.console,
            *self.errors,
            *self.bad_responses,
            *self.failed_requests,
        ]
        found += [f"CSP: {v}" for v in page.evaluate("window.__cspViolations || []")]
        return found

    def reset(self) -> None:
        for items in (
            self.console,
            self.errors,
            self.bad_responses,
            self.failed_requests,
        ):
            items.clear()


def open_clean(page: Page, watch: Watch, url: str, settle: bool = False) -> None:
    """Load ``url`` and assert it and its static files loaded without a problem.

    ``settle`` also waits for requests after the load event (the favicon).
    """
    watch.reset()
    response = page.goto(url)
    assert response is not None and response.status == 200, (
        f"{url}: {response and response.status}"
    )
    if settle:
        page.wait_for_load_state("networkidle")
    # The stylesheets really applied (a 404 or a CSP block would leave Pico off).
    assert page.evaluate("document.styleSheets.length") >= 2, url
    assert page.evaluate(
        "[...document.styleSheets].every(s => s.cssRules.length > 0)"
    ), f"{url}: an empty or blocked stylesheet"
    assert watch.problems(page) == [], f"{url}: {watch.problems(page)}"


def shoot(page: Page, artifacts_dir: Path, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=True)


PUBLIC_PAGES = [("home", "/"), ("login", "/login"), ("register", "/register")]
PRIVATE_PAGES = [
    ("dashboard", "/"),
    ("profile", "/profile"),
    ("partners", "/partners"),
    ("requests", "/requests"),
    ("account", "/account"),
]


def test_main_pages_load_without_errors(
    new_context, live_server, artifacts_dir: Path
) -> None:
    base = live_server.url
    every_day = {"start": "18:00", "end": "21:00", "weekdays": None}
    _, dana_token = make_student(
        base, "dana@example.org", "Dana", "Europe/London", every_day
    )
    api(
        base,
        "POST",
        "/topics",
        {"title": "Loop of Henle", "subject": "Renal"},
        dana_token,
    )
    # Dana and Erin are partners; Gale has asked Fynn, who has not answered yet.
    erin_id, erin_token = make_student(
        base, "erin@example.org", "Erin", "Europe/Paris", every_day
    )
    asked = api(
        base,
        "POST",
        "/partner-requests",
        {"to_user_id": erin_id, "message": "Pair up?"},
        dana_token,
    )
    accepted = api(
        base, "POST", f"/partner-requests/{asked['id']}/accept", None, erin_token
    )
    partnership_id = accepted["partnership"]["id"]
    new_york = {"start": "13:00", "end": "16:00", "weekdays": None}
    fynn_id, _ = make_student(
        base, "fynn@example.org", "Fynn", "America/New_York", new_york
    )
    _, gale_token = make_student(
        base, "gale@example.org", "Gale", "Europe/Dublin", every_day
    )
    api(
        base,
        "POST",
        "/partner-requests",
        {"to_user_id": fynn_id, "message": "Hi!"},
        gale_token,
    )

    context = new_context(timezone_id="Europe/London")
    context.set_default_timeout(10_000)
    context.add_init_script(CSP_PROBE)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)

    for name, path in PUBLIC_PAGES:
        open_clean(page, watch, base + path, settle=name == "home")
        shoot(page, artifacts_dir, f"public-{name}")

    # Keyboard: the first Tab reaches the skip link, shown with a focus ring.
    open_clean(page, watch, f"{base}/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    expect(skip).to_have_css("outline-style", "solid")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Ally")).to_have_css("outline-style", "solid")
    shoot(page, artifacts_dir, "public-home-keyboard-focus")

    open_clean(page, watch, f"{base}/login")
    page.get_by_label("Email").fill("dana@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hi, Dana")).to_be_visible()

    pages = [*PRIVATE_PAGES, ("partnership", f"/partnerships/{partnership_id}")]
    for viewport_name, viewport in (("desktop", None), ("phone", PHONE)):
        if viewport:
            page.set_viewport_size(viewport)
        for name, path in pages:
            open_clean(page, watch, base + path)
            shoot(page, artifacts_dir, f"{viewport_name}-{name}")
            # Nothing is wider than the screen (no sideways scrolling of the page).
            overflow = page.evaluate(
                "document.documentElement.scrollWidth"
                " - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{viewport_name} {path} is {overflow}px too wide"
        page.get_by_text("Change the schedule").click()
        expect(page.get_by_label("Daily start")).to_be_visible()
        shoot(page, artifacts_dir, f"{viewport_name}-partnership-schedule-form")

    # Fynn's side: a pending request waiting, with the badge.
    fynn = context.browser.new_context(timezone_id="America/New_York")
    try:
        fynn.add_init_script(CSP_PROBE)
        fynn_page = fynn.new_page()
        fynn_watch = Watch()
        fynn_watch.attach(fynn_page)
        open_clean(fynn_page, fynn_watch, f"{base}/login")
        fynn_page.get_by_label("Email").fill("fynn@example.org")
        fynn_page.get_by_label("Password").fill(PASSWORD)
        fynn_page.get_by_role("main").get_by_role("button", name="Log in").click()
        expect(fynn_page.locator("#incoming-count")).to_have_text("1")
        for name, path in (("dashboard", "/"), ("requests", "/requests")):
            open_clean(fynn_page, fynn_watch, base + path)
            shoot(fynn_page, artifacts_dir, f"pending-{name}")
    finally:
        fynn.close()


def test_the_watch_sees_csp_violations_and_404s(new_context, live_server) -> None:
    """The checks above would notice an inline style, an inline script and a 404."""
    context = new_context()
    context.set_default_timeout(10_000)
    context.add_init_script(CSP_PROBE)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    open_clean(page, watch, f"{live_server.url}/login")

    page.evaluate(
        """() => {
          const div = document.createElement("div");
          div.setAttribute("style", "color: red");
          document.body.append(div);
          const script = document.createElement("script");
          script.textContent = "window.__inlineRan = true";
          document.body.append(script);
        }"""
    )
    page.wait_for_function("window.__cspViolations.length >= 2")
    violations = page.evaluate("window.__cspViolations")
    assert any(v.startswith("style-src") for v in violations), violations
    assert any(v.startswith("script-src") for v in violations), violations
    assert page.evaluate("window.__inlineRan === undefined")
    assert watch.problems(page), "the console errors for the blocked inline code"

    watch.reset()
    page.goto(f"{live_server.url}/static/css/missing.css")
    assert any("404" in p and "missing.css" in p for p in watch.problems(page))
