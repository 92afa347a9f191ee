"""Fixtures for the call: a real coturn TURN server on loopback.

coturn comes from Debian's package (``apt-get install coturn``; .ci/run
installs it). Without it these tests are skipped on a developer's machine and
fail in CI (``CI=true``), like the Chromium and PostgreSQL tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.turn import TurnServer, require_turnserver, require_uclient

TURN_SECRET = "ally-call-tests-turn-secret"


@pytest.fixture(scope="session")
def turnserver_binary() -> str:
    """coturn's ``turnserver``."""
    return require_turnserver()


@pytest.fixture(scope="session")
def turn_server(
    turnserver_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TurnServer]:
    """A running turnserver on 127.0.0.1 checking TURN REST logins (TURN_SECRET).

    Shared by the whole run; its log is ``turn_server.log_path``.
    """
    workdir = tmp_path_factory.mktemp("turnserver")
    with TurnServer(TURN_SECRET, binary=turnserver_binary, workdir=workdir) as server:
        yield server


@pytest.fixture(scope="session")
def turn_uclient() -> str:
    """coturn's test client, ``turnutils_uclient``."""
    return require_uclient()
