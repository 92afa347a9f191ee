"""Playwright fixtures: Debian's Chromium, browser contexts, a live server.

Playwright's own browser download cannot be fetched here, so the system
Chromium (``/usr/bin/chromium``) is launched through ``executable_path``.
Never run ``playwright install``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

from tests.support.live_server import LiveServer
from tests.support.services import require_chromium

ARTIFACTS_ROOT = Path(__file__).resolve().parents[1] / "artifacts"
DEFAULT_VIEWPORT = {"width": 1280, "height": 900}
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TEST_SECRET_KEY = "ally-browser-tests-secret-key"


BROWSER_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser/ ``browser`` (``-m "not browser"``)."""
    for item in items:
        if BROWSER_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep each phase's report on the item so fixtures can see a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    """Tell whether the requesting test's setup or call failed."""
    return any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    """One Playwright driver for the whole run."""
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Headless Debian Chromium, shared by every browser test."""
    browser = playwright_instance.chromium.launch(
        executable_path=require_chromium(), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """``tests/artifacts/<test name>/`` (created) for screenshots and logs."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    path = ARTIFACTS_ROOT / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def new_context(
    browser: Browser, request: pytest.FixtureRequest, artifacts_dir: Path
) -> Iterator[Callable[..., BrowserContext]]:
    """Factory for browser contexts (one per simulated person).

    ``new_context(viewport={"width": 390, "height": 844}, **playwright_kwargs)``.
    Every context is closed at teardown; if the test failed, each open page is
    screenshotted into ``artifacts_dir`` first.
    """
    contexts: list[BrowserContext] = []

    def make(viewport: dict[str, int] | None = None, **kwargs: Any) -> BrowserContext:
        context = browser.new_context(viewport=viewport or DEFAULT_VIEWPORT, **kwargs)
        contexts.append(context)
        return context

    yield make

    failed = _failed(request)
    for c_index, context in enumerate(contexts):
        if failed:
            for p_index, page in enumerate(context.pages):
                shot = artifacts_dir / f"failure-context{c_index}-page{p_index}.png"
                try:
                    page.screenshot(path=str(shot), full_page=True)
                except Exception:  # noqa: BLE001 - best effort on a failed test
                    pass
        context.close()


@pytest.fixture
def make_live_server(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    artifacts_dir: Path,
) -> Iterator[Callable[..., LiveServer]]:
    """Factory: start ``python app.py`` on a fresh SQLite file.

    ``make_live_server(**env)`` adds/overrides environment variables (e.g.
    ``ALLY_MIN_TEACH_SECONDS="2"``). All servers are stopped at teardown; a
    failed test gets each server's log copied into ``artifacts_dir``.
    """
    servers: list[LiveServer] = []

    def make(**env: str) -> LiveServer:
        workdir = tmp_path_factory.mktemp("live")
        base_env = {
            "DATABASE_URL": f"sqlite:///{workdir / 'ally.db'}",
            "SECRET_KEY": TEST_SECRET_KEY,
            "ALLY_SCHEDULER": "off",
            "ALLY_AUTH_RATE_LIMIT": "1000 per minute",
        }
        server = LiveServer({**base_env, **env}, log_path=workdir / "server.log")
        servers.append(server)
        return server.start()

    yield make

    failed = _failed(request)
    for index, server in enumerate(servers):
        server.stop()
        if failed and server.log_path.exists():
            shutil.copy(server.log_path, artifacts_dir / f"server{index}.log")


@pytest.fixture
def live_server(make_live_server: Callable[..., LiveServer]) -> LiveServer:
    """A running Ally server with a fresh SQLite database and no scheduler."""
    return make_live_server()
