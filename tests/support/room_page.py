"""Builders shared by the room page's browser tests."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

# Every role panel of the room page; a screen shows at most one at a time.
ROLE_PANELS = (
    "teacher-view",
    "listener-view",
    "rate-form",
    "reflect-view",
    "done-view",
)
EXPECT_TIMEOUT_MS = 15_000


def shoot(page: Page, artifacts_dir: Path, name: str) -> None:
    """A full-page screenshot with transitions finished (the progress bar eases
    its width; a page in the background would be caught mid-way)."""
    page.screenshot(
        path=str(artifacts_dir / f"{name}.png"), full_page=True, animations="disabled"
    )


def expect_only_visible(page: Page, *visible: str) -> None:
    """Of the room's role panels, exactly these are shown."""
    for panel in ROLE_PANELS:
        box = page.locator(f"#{panel}")
        if panel in visible:
            expect(box).to_be_visible()
        else:
            expect(box).to_be_hidden()
