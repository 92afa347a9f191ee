"""A pass that pushes many rooms at once spaces them out when they go through
the message queue (ally.push.between_pushes), so web processes deliver them
between their sockets' relays rather than in one burst."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ally import push
from ally.extensions import socketio
from ally.services.room import snapshots as snapshots_module

NOW = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """Every socketio.sleep, by its length (nothing actually sleeps)."""
    slept: list[float] = []
    monkeypatch.setattr(socketio, "sleep", slept.append)
    return slept


def test_through_the_queue_many_rooms_are_spaced_and_spread_at_most_half_a_second(
    make_app, pauses
):
    make_app(SOCKETIO_MESSAGE_QUEUE="redis://127.0.0.1:6379/0")
    push.between_pushes(130)
    push.between_pushes(2000)
    assert pauses == [push.PUSH_GAP_SECONDS, push.PUSH_SPREAD_SECONDS / 2000]
    assert 2000 * pauses[1] <= push.PUSH_SPREAD_SECONDS


def test_without_a_queue_nothing_waits(app, pauses):
    push.between_pushes(130)  # threading: the OS interleaves; no pause at all
    assert pauses == []


def test_a_pass_pauses_between_the_rooms_it_pushes(make_app, pauses, monkeypatch):
    make_app(SOCKETIO_MESSAGE_QUEUE="redis://127.0.0.1:6379/0")
    steps: list[object] = []
    monkeypatch.setattr(
        snapshots_module,
        "snapshots",
        lambda ids, now: {i: {"session_id": i} for i in ids},
    )
    monkeypatch.setattr(
        snapshots_module,
        "emit_to_session",
        lambda session_id, event, state: steps.append(session_id),
    )
    monkeypatch.setattr(socketio, "sleep", steps.append)
    snapshots_module.publish_many([1, 2, 3], NOW)
    gap = push.PUSH_GAP_SECONDS
    assert steps == [1, gap, 2, gap, 3, gap]
    steps.clear()
    snapshots_module.publish_many([4], NOW)  # one room: nothing to space
    assert steps == [4]
