"""The gevent server's options: Nagle off on every connection, quiet close frames."""

from __future__ import annotations

import logging
import socket

import pytest

from ally.serving import gevent_server_options

pywsgi = pytest.importorskip("gevent.pywsgi")


def test_every_accepted_connection_sends_without_nagle(monkeypatch):
    handler_class = gevent_server_options()["handler_class"]
    assert issubclass(handler_class, pywsgi.WSGIHandler)
    handled = []
    monkeypatch.setattr(pywsgi.WSGIHandler, "handle", lambda self: handled.append(1))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        accepted, address = listener.accept()
        with client, accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            handler = handler_class.__new__(handler_class)
            handler.socket = accepted
            handler.handle()
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    assert handled == [1]  # and then pywsgi serves the connection as usual


def test_close_frame_noise_is_dropped_and_real_errors_kept(caplog):
    log = gevent_server_options()["error_log"]
    with caplog.at_level(logging.ERROR, logger=log.name):
        log.error("Invalid HTTP method: '\\x88\\x82'")
        log.error("Traceback: something real")
    assert [r.getMessage() for r in caplog.records] == ["Traceback: something real"]


def test_frames_after_a_websocket_ends_are_not_read_as_http(caplog):
    """A frame the browser sends after the websocket's close exchange (here a
    pong whose mask holds a space) reached pywsgi as a request line, logged as
    `Expected GET method`; the server now ends the connection instead."""
    import base64
    import os

    import gevent
    import gevent.event
    import gevent.selectors
    import gevent.socket
    import simple_websocket

    class Greenlet(gevent.Greenlet):
        def __init__(self, target, args=(), kwargs=None):
            super().__init__(target, *args, **(kwargs or {}))

        def _run(self):
            return self.run()

    def app(environ, start_response):
        # As python-engineio's gevent driver serves a websocket.
        ws = simple_websocket.Server(
            environ,
            thread_class=Greenlet,
            event_class=gevent.event.Event,
            selector_class=gevent.selectors.DefaultSelector,
        )
        with pytest.raises(simple_websocket.ConnectionClosed):
            while True:
                ws.receive()
        return []

    def frame(opcode: int, payload: bytes, mask: bytes = b"  ab") -> bytes:
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked

    options = gevent_server_options()
    server = pywsgi.WSGIServer(("127.0.0.1", 0), app, **options)
    server.start()
    try:
        with caplog.at_level(logging.DEBUG, logger=options["error_log"].name):
            client = gevent.socket.create_connection(server.address)
            key = base64.b64encode(os.urandom(16)).decode()
            client.sendall(
                "GET / HTTP/1.1\r\nHost: ally\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            assert client.recv(4096).startswith(b"HTTP/1.1 101")
            client.sendall(frame(0x1, b"hi") + frame(0x8, b"\x03\xe8"))
            assert client.recv(4096).startswith(b"\x88")  # the close reply
            client.sendall(frame(0xA, b""))  # a late pong
            with gevent.Timeout(5):
                try:
                    rest = client.recv(4096)
                except ConnectionResetError:
                    rest = b""
            assert rest == b""  # the server ended the connection
            client.close()
            gevent.sleep(0)
    finally:
        server.stop(timeout=1)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
