"""What `python app.py` runs beside the app: pywsgi options, the heartbeat."""

from __future__ import annotations

import logging
import socket
from typing import Any


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
