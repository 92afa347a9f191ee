"""Fixtures of the authorization matrix: the seeded world, an app per cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.matrix import cell_count
from tests.security.world import World, seed_world


@pytest.fixture(scope="session")
def world(migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    """The seeded world (built once; each cell works on a copy of its file)."""
    return seed_world(migrated_template, tmp_path_factory.mktemp("authz-world"))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Say how many cells the authorization matrix holds (the issue's figure)."""
    ran = [
        report
        for key in ("passed", "failed")
        for report in terminalreporter.stats.get(key, [])
        if "test_authz_matrix.py::test_" in report.nodeid
        and "cell[" in report.nodeid
        and report.when == "call"
    ]
    if ran:
        terminalreporter.write_line(
            f"authorization matrix: {cell_count()} cells in the table, "
            f"{len(ran)} checked in this run"
        )
