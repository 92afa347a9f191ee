"""Whether this process's outside services answer, watched from its heartbeat.

Every round (`ServiceWatch.look`) asks the database and, where configured,
Redis (the Socket.IO message queue: reachable and this process listening on
it). The watch remembers what was down last time and tells this process's own
sockets only when that changes:

- something went away: `service` `{ok: false, message}` (delivered here, not
  through the queue, which may be what is down), and to each socket that
  connects while it stays away. Events are still stored and acknowledged
  while only Redis is away; their pushes to other processes are lost.
- everything is back: the snapshot of every session with a socket on this
  process is pushed again first, so each page converges on the stored state
  without waiting for the next change, then `service` `{ok: true}`.

While something is down the heartbeat looks every DOWN_RECHECK_SECONDS, so
pages leave the "reconnecting" state soon after the service returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import Connection, select

from ...extensions import db
from ...models import LiveSocket
from ...push import emit_here, queue_listening, sockets_here
from ..health import OK, health
from .snapshots import publish_many

SERVICE = "service"  # the server event (docs/room.md)
RECONNECTING = "Reconnecting to the live service…"
NOT_LISTENING = "this process does not listen on the queue yet"
DOWN_RECHECK_SECONDS = 1.0

log = logging.getLogger(__name__)


def down_services(answers: dict[str, str]) -> frozenset[str]:
    """The services whose answer is not "ok"."""
    return frozenset(name for name, answer in answers.items() if answer != OK)


def news(was_down: frozenset[str], down: frozenset[str]) -> bool | None:
    """What the sockets must hear: False when a service went away, True when
    all are back, None when their state has not changed."""
    if down and not was_down:
        return False
    if was_down and not down:
        return True
    return None


def service_answers(app: Flask, lane: Connection | None = None) -> dict[str, str]:
    """Each service's answer ("ok" or why not), in an app context; the
    database on `lane` when given."""
    answers = dict(health(app, lane).checks)
    if answers.get("redis") == OK and not queue_listening():
        answers["redis"] = NOT_LISTENING
    return answers


def sessions_of(instance: str) -> list[int]:
    """The sessions whose room has a socket held by this server instance."""
    rows = db.session.scalars(
        select(LiveSocket.session_id)
        .where(LiveSocket.instance == instance, LiveSocket.session_id.is_not(None))
        .distinct()
    )
    return sorted(rows)


class ServiceWatch:
    """One process's memory of which outside services were down, and which of
    its sockets were told.

    `answers`, `sockets`, `tell` and `republish` are the real checks, this
    process's sockets, the local emit and the snapshot push unless a test
    gives its own.
    """

    def __init__(
        self,
        app: Flask,
        instance: str,
        *,
        answers: Callable[[], dict[str, str]] | None = None,
        sockets: Callable[[], set[str]] = sockets_here,
        tell: Callable[..., None] = emit_here,
        republish: Callable[[list[int], datetime], Any] = publish_many,
    ) -> None:
        self.instance = instance
        self.answers = answers or (lambda: service_answers(app))
        self.sockets = sockets
        self.tell = tell
        self.republish = republish
        self.down: frozenset[str] = frozenset()
        self.told: set[str] = set()  # sockets that heard of the outage
        # python-socketio subscribes to the queue just after the process
        # starts: not listening yet is no outage until Redis first answers.
        self.starting = True

    @property
    def ok(self) -> bool:
        """Whether every service answered at the last look."""
        return not self.down

    def pause(self, every: float) -> float:
        """Seconds until the next look: shorter while something is down."""
        return every if self.ok else min(every, DOWN_RECHECK_SECONDS)

    def look(self, now: datetime) -> None:
        """Ask every service once; tell this process's sockets of a change."""
        answers = self.answers()
        if self.starting and answers.get("redis") == NOT_LISTENING:
            answers["redis"] = OK
        else:
            self.starting = False
        down = down_services(answers)
        change = news(self.down, down)
        if change is False:
            log.warning(
                "services unavailable: %s",
                "; ".join(f"{name}: {answers[name]}" for name in sorted(down)),
            )
            # Listed before telling: a socket that connects in between hears
            # it twice rather than never.
            self.told = self.sockets()
            self.tell(SERVICE, {"ok": False, "message": RECONNECTING})
        elif change is None and down:
            here = self.sockets()
            for sid in sorted(here - self.told):  # connected since
                self.tell(SERVICE, {"ok": False, "message": RECONNECTING}, to=sid)
            self.told = here
        elif change is True:
            # Pushes made while a service was away are lost: the stored state
            # goes out again before the pages hear all is well. If this fails
            # (the database went again), the next look tries once more.
            try:
                self.republish(sessions_of(self.instance), now)
            except Exception:  # noqa: BLE001 - still down: try again next look
                db.session.rollback()
                log.exception("could not push the rooms again after an outage")
                return
            log.info("services back: %s", ", ".join(sorted(self.down)))
            self.tell(SERVICE, {"ok": True})
            self.told = set()
        self.down = down
