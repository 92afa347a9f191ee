"""axe-core on every page: no serious or critical violation, logged in or out,
on a desktop (1280 px) and a phone (390 px).

The pages are every GET route of the app that answers HTML, listed from the
app's url_map, so a new page is checked without touching this file (a route
with a path parameter this file has no value for fails, naming it). The
server runs with ``--demo``: two paired students with three weeks of history
(sessions held and missed, ratings, re-checks), so every page shows real
content. The ids come from that database.

axe-core is vendored (static/vendor/axe-core/) and added as an init script:
the browser injects those itself, so the pages' CSP (no inline scripts) stays
on and is what users get.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from ally.services.demo import DEMO_PASSWORD, DEMO_USERS
from tests.browser.conftest import TEST_SECRET_KEY
from tests.support.live_server import LiveServer

AXE = Path(__file__).resolve().parents[2] / "static/vendor/axe-core/axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
BLOCKING = ("serious", "critical")
ANA = DEMO_USERS[0]  # America/New_York
BEN = DEMO_USERS[1]  # Europe/London


@dataclass(frozen=True)
class Demo:
    """The demo server and the ids its pages need."""

    server: LiveServer
    db_path: Path
    ids: dict[str, Any]
    # Pages beyond one per route: other states of the same page.
    extra: tuple[str, ...]

    @property
    def url(self) -> str:
        return self.server.url


def _ids(db_path: Path) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Ana's partnership, a held and a missed session, a turn she taught."""
    with sqlite3.connect(db_path) as conn:
        ana = conn.execute(
            "SELECT id FROM users WHERE email = ?", (ANA.email,)
        ).fetchone()[0]
        partnership = conn.execute(
            "SELECT id FROM partnerships WHERE user_a_id = ? OR user_b_id = ?",
            (ana, ana),
        ).fetchone()[0]
        held = conn.execute(
            "SELECT id FROM teach_sessions"
            " WHERE partnership_id = ? AND status = 'completed'"
            " ORDER BY starts_at DESC",
            (partnership,),
        ).fetchone()[0]
        missed = conn.execute(
            "SELECT id FROM teach_sessions"
            " WHERE partnership_id = ? AND status = 'missed'"
            " ORDER BY starts_at DESC",
            (partnership,),
        ).fetchone()[0]
        turn = conn.execute(
            "SELECT id FROM turns WHERE teacher_id = ? AND ended_at IS NOT NULL"
            " ORDER BY ended_at DESC",
            (ana,),
        ).fetchone()[0]
    tomorrow = datetime.now(ZoneInfo(ANA.timezone)).date() + timedelta(days=1)
    ids = {
        "partnership_id": partnership,
        "session_id": held,
        "turn_id": turn,
        "day": tomorrow.isoformat(),
        # Tokens in links (calendar feed, password reset): a wrong one still
        # answers a page (or a non-HTML error) that must be accessible.
        "token": "not-a-real-token",
        "fmt": "csv",
    }
    extra = (
        f"/sessions/{missed}",
        f"/sessions/{missed}/room",
        f"/sessions/{missed}/summary",
    )
    return ids, extra


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``python app.py --demo`` on a fresh SQLite file, for the whole module."""
    workdir = tmp_path_factory.mktemp("demo")
    db_path = workdir / "ally.db"
    server = LiveServer(
        {
            "DATABASE_URL": f"sqlite:///{db_path}",
            "SECRET_KEY": TEST_SECRET_KEY,
            "ALLY_SCHEDULER": "off",
            "ALLY_AUTH_RATE_LIMIT": "1000 per minute",
        },
        extra_args=("--demo",),
        log_path=workdir / "server.log",
    )
    server.start()
    try:
        ids, extra = _ids(db_path)
        yield Demo(server, db_path, ids, extra)
    finally:
        server.stop()


def html_page_paths(app: Flask, ids: dict[str, Any]) -> list[str]:
    """Every GET route outside the API and static files, its parameters filled."""
    paths = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        if rule.rule.startswith("/api/"):
            continue
        missing = [name for name in rule.arguments if name not in ids]
        assert not missing, (
            f"{rule.rule}: no value for {missing} in the page tests' ids "
            "(tests/browser/test_accessibility.py _ids)"
        )
        paths.append(rule.build({name: ids[name] for name in rule.arguments})[1])
    return paths


def page_paths(make_app, demo: Demo) -> list[str]:
    """The routes' paths and the extra states, in a stable order."""
    return [*html_page_paths(make_app(), demo.ids), *demo.extra]


def log_in(page: Page, base: str, email: str) -> None:
    """Log in through the form and wait for the dashboard."""
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hi,")).to_be_visible()


def open_html(page: Page, url: str) -> bool:
    """Open ``url`` if it answers HTML (a download or JSON is not a page)."""
    response = page.context.request.get(url, max_redirects=5)
    if not response.headers.get("content-type", "").startswith("text/html"):
        return False
    page.goto(url)
    page.wait_for_load_state("load")
    return True


def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now: rule, impact, nodes."""
    return page.evaluate(
        """async () => {
            const options = { resultTypes: ["violations"] };
            const result = await window.axe.run(document, options);
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
            }));
        }"""
    )


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the serious and critical ones."""
    return [v for v in violations if v["impact"] in BLOCKING]


def axe_context(new_context, viewport: dict[str, int], zone: str) -> BrowserContext:
    """A context at ``viewport`` with axe-core injected into every page."""
    context = new_context(viewport=viewport, timezone_id=zone, locale="en-GB")
    context.set_default_timeout(15_000)
    context.add_init_script(path=str(AXE))
    return context


def write_report(artifacts_dir: Path, name: str, found: dict[str, list]) -> None:
    lines = []
    for path, violations in found.items():
        summary = ", ".join(
            f"{v['id']} ({v['impact']}, {len(v['nodes'])})" for v in violations
        )
        lines.append(f"{path}: {summary or 'none'}")
    (artifacts_dir / f"axe-{name}.txt").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("logged_in", [False, True], ids=["logged-out", "logged-in"])
def test_no_serious_or_critical_axe_violation_on_any_page(
    new_context,
    make_app,
    demo: Demo,
    artifacts_dir: Path,
    viewport: str,
    logged_in: bool,
) -> None:
    context = axe_context(new_context, VIEWPORTS[viewport], BEN.timezone)
    page = context.new_page()
    if logged_in:
        log_in(page, demo.url, ANA.email)
    found: dict[str, list] = {}
    seen_urls: set[str] = set()
    for path in page_paths(make_app, demo):
        if not open_html(page, demo.url + path):
            continue
        if page.url in seen_urls:  # a redirect to a page already checked
            continue
        seen_urls.add(page.url)
        found[path] = run_axe(page)
    write_report(artifacts_dir, f"{viewport}-{'in' if logged_in else 'out'}", found)
    assert len(found) >= (12 if logged_in else 3), sorted(found)
    serious = {path: blocking(v) for path, v in found.items() if blocking(v)}
    assert serious == {}, serious


def test_axe_sees_a_violation(new_context, demo: Demo) -> None:
    """The check above would notice a problem: an image without a name."""
    context = axe_context(new_context, DESKTOP, BEN.timezone)
    page = context.new_page()
    page.goto(f"{demo.url}/login")
    page.evaluate(
        """() => {
            const button = document.createElement("button");
            document.querySelector("main").append(button);
        }"""
    )
    ids = {v["id"] for v in blocking(run_axe(page))}
    assert "button-name" in ids, ids
