"""What `python app.py` runs beside the app: pywsgi options, the heartbeat."""

from __future__ import annotations

import logging
import socket
from typing import Any

from flask import Flask
from sqlalchemy import Connection


class _NoCloseFrameNoise(logging.Filter):
    """A websocket client's close frame, read by the HTTP server once the
    socket is already finished, is logged as an "Invalid HTTP method": harmless."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Invalid HTTP method" not in record.getMessage()


def _http_error_log() -> logging.Logger:
    """gevent's HTTP server errors, through logging, without the noise."""
    logger = logging.getLogger("ally.http")
    if not any(isinstance(f, _NoCloseFrameNoise) for f in logger.filters):
        logger.addFilter(_NoCloseFrameNoise())
    return logger


def _no_delay_handler() -> type:
    """pywsgi's connection handler with Nagle's algorithm off."""
    from gevent import pywsgi

    class NoDelayHandler(pywsgi.WSGIHandler):
        """pywsgi writes a small response's headers and body separately; with
        Nagle's algorithm on, the body then waits for the client's delayed ACK
        (~40 ms measured on every small page and API answer). Websocket frames
        on the same connection go out at once too."""

        def handle(self) -> None:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().handle()

        def run_application(self) -> None:
            super().run_application()
            if self.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                # simple-websocket spoke websocket on a dup of this socket, so
                # pywsgi never saw the 101 and would read the connection again
                # as HTTP: a frame the browser sends after the close (its close
                # reply, a pong) became "Expected GET method" or "Invalid HTTP
                # method" errors, by the spaces in its random mask. Nothing
                # after a websocket is HTTP: end the connection instead.
                self.close_connection = True

    return NoDelayHandler


def gevent_server_options() -> dict[str, Any]:
    """Keyword arguments for `socketio.run` under gevent."""
    return {"error_log": _http_error_log(), "handler_class": _no_delay_handler()}


class Lane:
    """One database connection kept for the heartbeat, opened on first use and
    again after a failure."""

    def __init__(self, app: Flask) -> None:
        self.app = app
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


def heartbeat(app: Flask) -> None:
    """Beat for this server instance, reap silent ones and watch the outside
    services, until the process ends.

    Started by `python app.py` as a background task of the Socket.IO server
    (a greenlet under gevent). A failed round is logged and the next one tried.
    While a service is down the watch looks every second; the beat stays at
    ALLY_HEARTBEAT_SECONDS and waits for the database.
    """
    import time

    from .extensions import db, socketio
    from .models import utcnow
    from .push import close_local_sockets
    from .services.room import instances
    from .services.room.service_watch import ServiceWatch, service_answers

    log = logging.getLogger("ally.heartbeat")
    name = app.config["ALLY_INSTANCE"]
    every = float(app.config["ALLY_HEARTBEAT_SECONDS"])
    # The beat and the watch's database check run on a connection kept for
    # them: on a pooled one they would queue behind every request of a busy
    # process (a join storm held the beat past ALLY_INSTANCE_DEAD_SECONDS).
    lane = Lane(app)
    watch = ServiceWatch(app, name, answers=lambda: service_answers(app, lane.get()))
    beaten = float("-inf")
    # Half a second's slack: a sleep of `every` may end a hair early by the
    # clock, and a skipped beat would leave this process silent for two.
    beat_after = every - 0.5
    while True:
        with app.app_context():
            try:
                watch.look(utcnow())
            except Exception:  # noqa: BLE001 - never at the cost of the beat
                db.session.rollback()
                log.exception("service watch of %s failed", name)
            beat = False
            try:
                due = time.monotonic() - beaten >= beat_after
                if "database" not in watch.down and due:
                    known = instances.beat(name, utcnow(), lane.get())
                    if not known and beaten > float("-inf"):
                        # A beat so late (an overloaded loop) that another
                        # process declared this one dead and forgot its
                        # sockets: they would be refused for ever. Closed,
                        # they reconnect and register again.
                        log.warning("%s was declared dead while alive", name)
                        close_local_sockets()
                    beaten, beat = time.monotonic(), True
            except Exception:  # noqa: BLE001 - the next beat tries again
                lane.drop()
                log.exception("heartbeat of %s failed", name)
            try:
                if beat:  # reaping others may wait for a pooled connection
                    instances.reap_dead(utcnow(), alive=name)
            except Exception:  # noqa: BLE001 - the next beat tries again
                db.session.rollback()
                log.exception("reaping silent processes from %s failed", name)
            finally:
                db.session.remove()
        socketio.sleep(watch.pause(every))
