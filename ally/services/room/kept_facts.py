"""What a signal's read said about its socket and session, kept a moment.

A listener sends a few signals a second, and each one read the socket, the
user, the session and the turn again: 12 % of the server's time at the stress
profile's ceiling (docs/performance.md, "Decisions"). Facts that let a signal
through are kept KEEP_SECONDS from their read (a hit does not extend them) per
(socket, session), and dropped as soon as this process changes the room (every
change publishes a snapshot), its socket closes, or the login ends (its
sockets close). A passed deadline is still seen
on every signal (`phase_ends_at` is in the facts). With a message queue other
processes move rooms too, and nothing here would hear of it: then nothing is
kept and every signal reads.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from .signal_store import Facts

KEEP_SECONDS = 2.0
_MAX_KEPT = 20_000
_KEY = "ally.kept_facts"


class KeptFacts:
    """Facts per (socket, session), each until a monotonic time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
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
        with self.lock:
            kept = self.by_session.get(session_id, {}).get(sid)
        if kept is None or kept[0] <= self.clock():
            return None
        return kept[1]

    def keep(self, sid: str, session_id: int, facts: Facts, change: int) -> None:
        """Keep facts that let a signal through, unless the room changed
        since `change` was taken."""
        if self.seconds <= 0:
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

    def forget_socket(self, sid: str) -> None:
        """This socket closed: its facts go."""
        with self.lock:
            self.changes += 1
            session_id = self.session_of.pop(sid, None)
            if session_id is not None:
                self.by_session.get(session_id, {}).pop(sid, None)


def kept_facts() -> KeptFacts:
    """The app's kept facts (nothing is kept when a message queue is set)."""
    kept = current_app.extensions.get(_KEY)
    if kept is None:
        alone = not current_app.config.get("SOCKETIO_MESSAGE_QUEUE")
        kept = KeptFacts(KEEP_SECONDS if alone else 0.0)
        kept = current_app.extensions.setdefault(_KEY, kept)
    return kept
