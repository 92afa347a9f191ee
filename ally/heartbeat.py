"""A serving process's heartbeat: it beats, reaps silent processes and
watches the outside services, until the process ends.

The beat runs on a thread of its own, on a database connection kept for it.
Under gevent every request is a greenlet on one loop; in a storm (4,000
sockets joining at once on a slow box) a greenlet that waits for anything
waits behind thousands of others, and a beat that came later than
ALLY_INSTANCE_DEAD_SECONDS got a live process declared dead and its sockets
forgotten. A real thread gets its share of the interpreter every few
milliseconds whatever the loop holds, and its own connection never waits
for the pool. What must happen on the loop (telling sockets, closing them)
stays in the `heartbeat` greenlet.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask
from sqlalchemy import Connection

from .offload import real_thread

log = logging.getLogger("ally.heartbeat")


class Lane:
    """One database connection kept for the beat, opened on first use and
    again after a failure."""

    def __init__(self) -> None:
        self.connection: Connection | None = None

    def get(self) -> Connection:
        """The kept connection (in an app context)."""
        from .extensions import db

        if self.connection is not None and self.connection.invalidated:
            self.drop()  # its database connection broke: a new one
        if self.connection is None or self.connection.closed:
            self.connection = db.engine.connect()
        return self.connection

    def drop(self) -> None:
        """Close it after a failure: the next `get` opens a new one."""
        if self.connection is not None:
            try:
                self.connection.invalidate()
                self.connection.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self.connection = None


class Beat:
    """This process's beat: `once` writes it; `run` does so every
    ALLY_HEARTBEAT_SECONDS on its own thread."""

    def __init__(self, app: Flask, name: str, every: float) -> None:
        self.app, self.name, self.every = app, name, every
        self.lane = Lane()
        self.beaten = False
        # Set here, read by the loop: another process declared this one dead
        # (its sockets' rows are gone) and its sockets must close.
        self.declared_dead = threading.Event()
        # Set by the loop while the database is known to be away.
        self.paused = False
        self.stopped = threading.Event()

    def once(self) -> bool:
        """Beat now; False when it failed (logged) or was paused."""
        from .models import utcnow
        from .services.room import instances

        if self.paused:
            return False
        with self.app.app_context():
            try:
                known = instances.beat(self.name, utcnow(), self.lane.get())
            except Exception:  # noqa: BLE001 - the next beat tries again
                self.lane.drop()
                log.exception("heartbeat of %s failed", self.name)
                return False
        if not known and self.beaten:
            # A beat so late that another process declared this one dead and
            # forgot its sockets: they would be refused for ever. Closed,
            # they reconnect and register again.
            log.warning("%s was declared dead while alive", self.name)
            self.declared_dead.set()
        self.beaten = True
        return True

    def run(self) -> None:
        """Beat every ALLY_HEARTBEAT_SECONDS until stopped."""
        while not self.stopped.is_set():
            started = time.monotonic()
            self.once()
            self.stopped.wait(max(0.0, self.every - (time.monotonic() - started)))

    def start(self) -> Beat:
        """Run on a real thread of its own (not a greenlet)."""
        real_thread(self.run, "ally-beat")
        return self


def heartbeat(app: Flask, beat: Beat | None = None) -> None:
    """Beat for this server instance (on its own thread), reap silent ones
    and watch the outside services, until the process ends.

    Started by `python app.py` as a background task of the Socket.IO server
    (a greenlet under gevent). A failed round is logged and the next one tried.
    While a service is down the watch looks every second.
    """
    from .extensions import db, socketio
    from .models import utcnow
    from .push import close_local_sockets
    from .services.room import instances
    from .services.room.service_watch import ServiceWatch, service_answers

    name = app.config["ALLY_INSTANCE"]
    every = float(app.config["ALLY_HEARTBEAT_SECONDS"])
    if beat is None:
        beat = Beat(app, name, every).start()
    # The watch's database check also keeps a connection: on a pooled one it
    # would wait behind the storm and report the database away.
    watch_lane = Lane()

    def answers() -> dict[str, str]:
        try:
            connection = watch_lane.get()
        except Exception:  # noqa: BLE001 - the pooled check says why
            connection = None
        return service_answers(app, connection)

    watch = ServiceWatch(app, name, answers=answers)
    while True:
        with app.app_context():
            try:
                watch.look(utcnow())
            except Exception:  # noqa: BLE001 - never at the cost of the beat
                db.session.rollback()
                log.exception("service watch of %s failed", name)
            beat.paused = "database" in watch.down
            if beat.declared_dead.is_set():
                beat.declared_dead.clear()
                close_local_sockets()
            try:
                if beat.beaten and not beat.paused:
                    instances.reap_dead(utcnow(), alive=name)
            except Exception:  # noqa: BLE001 - the next round tries again
                db.session.rollback()
                log.exception("reaping silent processes from %s failed", name)
            finally:
                db.session.remove()
        socketio.sleep(watch.pause(every))
