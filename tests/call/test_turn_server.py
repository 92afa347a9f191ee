"""The TURN logins Ally hands out work against the real coturn (DESIGN.md §10).

Each test allocates relays with coturn's own client, ``turnutils_uclient``,
using a username and credential made by ``ally.domain.call.turn_login``, and
reads the server's log for its verdict on that username. Each uses its own
user id, so log lines of one test never satisfy another.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ally.domain.call import turn_credential, turn_login
from tests.support.turn import TurnServer, uclient_allocate

DEPLOY_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "turnserver.conf"
HOUR = timedelta(hours=1)


def _context(server: TurnServer, output: str) -> str:
    """What a failing assertion shows: uclient's output and the server log."""
    return (
        f"\n--- turnutils_uclient:\n{output}\n"
        f"--- turnserver log ({server.log_path}):\n{server.log_tail()}"
    )


def _assert_unauthorized(server: TurnServer, username: str, context: str) -> None:
    """The server answered this username 401 and never allocated for it."""
    server.wait_for_log(
        f"user <{username}>: incoming packet message processed, error 401"
    )
    allocated = f"user <{username}>: incoming packet ALLOCATE processed, success"
    assert allocated not in server.log_text(), context


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_login_made_with_the_secret_allocates_a_relay_on_loopback(
    turn_server: TurnServer, turn_uclient: str, tcp: bool
) -> None:
    user_id = 102 if tcp else 101
    login = turn_login(turn_server.secret, user_id, datetime.now(UTC), HOUR)

    result = uclient_allocate(
        turn_server, login.username, login.credential, tcp=tcp, uclient=turn_uclient
    )

    context = _context(turn_server, result.output)
    assert result.allocated, f"allocation failed{context}"
    assert result.relays, f"no relay address{context}"
    for host, port in result.relays:
        assert host == "127.0.0.1", context
        assert turn_server.min_port <= port <= turn_server.max_port, context
    turn_server.wait_for_log(
        f"user <{login.username}>: incoming packet ALLOCATE processed, success"
    )
    # uclient's two clients relay to each other: loopback peers are allowed.
    turn_server.wait_for_log(
        f"user <{login.username}>: incoming packet CHANNEL_BIND processed, success"
    )


def test_a_login_made_with_another_secret_is_refused(
    turn_server: TurnServer, turn_uclient: str
) -> None:
    login = turn_login("not-" + turn_server.secret, 103, datetime.now(UTC), HOUR)

    result = uclient_allocate(
        turn_server, login.username, login.credential, uclient=turn_uclient
    )

    context = _context(turn_server, result.output)
    assert not result.allocated, f"a wrong secret allocated a relay{context}"
    assert result.returncode not in (None, 0), context
    assert "Cannot complete Allocation" in result.output, context
    assert not result.relays, context
    _assert_unauthorized(turn_server, login.username, context)


def test_an_expired_login_is_refused(
    turn_server: TurnServer, turn_uclient: str
) -> None:
    # The right secret, but the expiry in the username is a minute ago.
    login = turn_login(
        turn_server.secret, 104, datetime.now(UTC), timedelta(seconds=-60)
    )

    result = uclient_allocate(
        turn_server, login.username, login.credential, uclient=turn_uclient
    )

    context = _context(turn_server, result.output)
    assert not result.allocated, f"an expired login allocated a relay{context}"
    # Refused for its expiry alone: the credential matches the username.
    assert int(login.username.split(":")[0]) < datetime.now(UTC).timestamp()
    assert login.credential == turn_credential(turn_server.secret, login.username)
    assert result.returncode not in (None, 0), context
    assert "Cannot complete Allocation" in result.output, context
    _assert_unauthorized(turn_server, login.username, context)


# --- deploy/turnserver.conf, the production sample

# Peers a relay must never reach (one per denied range tested), with the one
# user id each test logs in as. 127.0.0.1 is also coturn's own default.
INTERNAL_PEERS = {
    "10.1.2.3": 110,
    "172.16.0.1": 111,
    "192.168.1.1": 112,
    "169.254.169.254": 113,  # cloud metadata
    "100.64.0.1": 114,
    "127.0.0.1": 115,
}
# A public address: the permission must be granted. Nothing is sent to it
# (uclient is stopped before its data phase, and the relay is on loopback).
PUBLIC_PEER = "8.8.8.8"
DEPLOY_SECRET = "deploy-config-test-secret"


@pytest.fixture(scope="module")
def deploy_turn_server(
    turnserver_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TurnServer]:
    """deploy/turnserver.conf with a test secret, started on loopback.

    Only what a test cannot use is changed: the secret, no certificate (TLS
    and DTLS off) and a log file instead of syslog; command-line options move
    listener, relays and files onto loopback and into a temporary directory.
    """
    workdir = tmp_path_factory.mktemp("deploy-turnserver")
    text, count = re.subn(
        r"(?m)^static-auth-secret=.*$",
        f"static-auth-secret={DEPLOY_SECRET}",
        DEPLOY_CONFIG.read_text(),
    )
    assert count == 1, "deploy/turnserver.conf sets static-auth-secret once"
    text = re.sub(r"(?m)^(cert|pkey)=.*$|^syslog$", "", text)
    config = workdir / "turnserver.conf"
    config.write_text(text)
    with TurnServer(
        DEPLOY_SECRET,
        binary=turnserver_binary,
        config=config,
        workdir=workdir / "server",
        extra_args=("--no-tls", "--no-dtls"),
    ) as server:
        yield server


def test_the_deploy_config_relays_to_public_peers(
    deploy_turn_server: TurnServer, turn_uclient: str
) -> None:
    server = deploy_turn_server
    login = turn_login(server.secret, 116, datetime.now(UTC), HOUR)

    result = uclient_allocate(
        server, login.username, login.credential, peer=PUBLIC_PEER, uclient=turn_uclient
    )

    context = _context(server, result.output)
    assert result.allocated, f"no relay to a public peer{context}"
    server.wait_for_log(
        f"user <{login.username}>: incoming packet CHANNEL_BIND processed, success"
    )


@pytest.mark.parametrize("peer", INTERNAL_PEERS)
def test_the_deploy_config_denies_relaying_to_internal_peers(
    deploy_turn_server: TurnServer, turn_uclient: str, peer: str
) -> None:
    server = deploy_turn_server
    login = turn_login(server.secret, INTERNAL_PEERS[peer], datetime.now(UTC), HOUR)

    result = uclient_allocate(
        server, login.username, login.credential, peer=peer, uclient=turn_uclient
    )

    context = _context(server, result.output)
    assert result.relays, f"the login did not even allocate{context}"
    assert 403 in result.errors, f"relaying to {peer} was not refused{context}"
    server.wait_for_log(
        f"user <{login.username}>: incoming packet CHANNEL_BIND processed, error 403"
    )


def test_the_deploy_config_refuses_a_login_made_with_another_secret(
    deploy_turn_server: TurnServer, turn_uclient: str
) -> None:
    server = deploy_turn_server
    login = turn_login("not-" + server.secret, 117, datetime.now(UTC), HOUR)

    result = uclient_allocate(
        server, login.username, login.credential, peer=PUBLIC_PEER, uclient=turn_uclient
    )

    context = _context(server, result.output)
    assert not result.relays, f"a wrong secret allocated a relay{context}"
    _assert_unauthorized(server, login.username, context)
