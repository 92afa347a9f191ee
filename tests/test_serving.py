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
