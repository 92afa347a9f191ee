"""What a signal's read said about its socket and session, kept a moment.

A listener sends a few signals a second, and each one read the socket, the
user, the session and the turn again: 12 % of the server's time at the stress
profile's ceiling (docs/performance.md, "Decisions"). Facts that let a
signal through are kept ALLY_KEPT_FACTS_SECONDS (2 s) from their read (a hit
does not extend them) per (socket, session), and dropped as soon as the room
changes (every change publishes a snapshot; who is in it, `presence`), its
socket closes, or the login ends (its sockets close). A passed deadline is
still seen on every signal (`phase_ends_at` is in the facts).

With Redis as the message queue other processes change rooms too: their
snapshots and presence reach this process through the queue, whose manager
(realtime/queue.py) calls `forget_sessions` before delivering them. While this
process does not hear the queue (Redis away), nothing is kept or used: a
change made elsewhere meanwhile would go unheard. With any other queue nothing
is kept at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from .signal_store import Facts

_MAX_KEPT = 20_000
_KEY = "ally.kept_facts"


class KeptFacts:
    """Facts per (socket, session), each until a monotonic time."""

    def __init__(
        self, seconds: float, hearing: Callable[[], bool] | None = None
    ) -> None:
        self.seconds = seconds
        # Whether every room change made elsewhere reaches forget_sessions.
        self.hearing = hearing or (lambda: True)
        self.lock = threading.Lock()
        self.by_session: dict[int, dict[str, tuple[float, Facts]]] = {}
        self.session_of: dict[str, int] = {}
        # Counts room changes: facts read before a change (a read that yielded
        # while the change committed) are not kept. Rooms change rarely next to
        # signals, so one count for all rooms costs next to nothing.
        self.changes = 0
        self.clock = time.monotonic  # tests move it

    def get(self, sid: str, session_id: int) -> Facts | None:
        """The kept facts, or None when none are kept or they are too old."""
        if not self.hearing():
            self.forget_all()
            return None
        with self.lock:
            kept = self.by_session.get(session_id, {}).get(sid)
        if kept is None or kept[0] <= self.clock():
            return None
        return kept[1]

    def keep(self, sid: str, session_id: int, facts: Facts, change: int) -> None:
        """Keep facts that let a signal through, unless the room changed
        since `change` was taken."""
        if self.seconds <= 0 or not self.hearing():
            return
        until = self.clock() + self.seconds
        with self.lock:
            if self.changes != change:
                return
            if len(self.session_of) >= _MAX_KEPT:
                self.by_session.clear()
                self.session_of.clear()
            previous = self.session_of.get(sid)
            if previous is not None and previous != session_id:
                self.by_session.get(previous, {}).pop(sid, None)
            self.by_session.setdefault(session_id, {})[sid] = (until, facts)
            self.session_of[sid] = session_id

    def forget_sessions(self, session_ids: list[int]) -> None:
        """These rooms changed: their facts are read again."""
        with self.lock:
            self.changes += 1
            for session_id in session_ids:
                for sid in self.by_session.pop(session_id, {}):
                    self.session_of.pop(sid, None)

    def forget_all(self) -> None:
        """Every room may have changed unheard: all facts are read again."""
        with self.lock:
            self.changes += 1
            self.by_session.clear()
            self.session_of.clear()

    def forget_socket(self, sid: str) -> None:
        """This socket closed: its facts go."""
        with self.lock:
            self.changes += 1
            session_id = self.session_of.pop(sid, None)
            if session_id is not None:
                self.by_session.get(session_id, {}).pop(sid, None)


def kept_facts() -> KeptFacts:
    """The current app's kept facts."""
    kept = current_app.extensions.get(_KEY)
    if kept is None:
        # An app whose queue nobody listens on for it (a scheduler, a CLI
        # command) only forgets; alone, it keeps.
        alone = not current_app.config.get("SOCKETIO_MESSAGE_QUEUE")
        seconds = current_app.config["ALLY_KEPT_FACTS_SECONDS"]
        kept = KeptFacts(seconds if alone else 0.0)
        kept = current_app.extensions.setdefault(_KEY, kept)
    return kept


def keep_facts_hearing(app: Flask, hearing: Callable[[], bool]) -> KeptFacts:
    """Give `app` kept facts that last while `hearing()` says every room
    change made by another process reaches `forget_sessions`."""
    seconds = app.config["ALLY_KEPT_FACTS_SECONDS"]
    kept = app.extensions[_KEY] = KeptFacts(seconds, hearing)
    return kept
