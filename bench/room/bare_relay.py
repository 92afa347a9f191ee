"""A bare Flask-SocketIO relay: the baseline for the room benchmark.

    ALLY_ASYNC_MODE=gevent python bench/room/bare_relay.py --port P

It serves the same events the load generator uses, with the same payload
shapes and acknowledgements as Ally, and nothing else: no login, no database.
`join_session` puts the socket in the session's room; `signal` re-emits the
payload to that room (both clients, as Ally does) and acknowledges it; `call`
(`--call-signalling`) re-emits the message to the room's other socket only
(Ally relays it to the partner's sockets) and acknowledges it; `sketch`
(`--sketching`) re-emits `{session_id, turn, strokes}` to the room's other
socket (Ally's skip_sid) and acknowledges it with the turn's points so far, as
Ally does (no validation, no storage). It runs
under the same async mode, server and garbage-collector setting as
`python app.py` (``ALLY_ASYNC_MODE`` = ``threading`` or ``gevent``,
``socketio.run``), or
under gunicorn (``gunicorn -k gevent -w 1 bench.room.bare_relay:app``).
"""

from __future__ import annotations

import os

# As in app.py: gevent must patch the standard library before anything else.
if os.environ.get("ALLY_ASYNC_MODE", "threading") == "gevent":
    from gevent import monkey

    monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

from flask import Flask, request  # noqa: E402
from flask_socketio import SocketIO, join_room  # noqa: E402

from ally.serving import gevent_server_options  # noqa: E402

ASYNC_MODE = os.environ.get("ALLY_ASYNC_MODE", "threading")

app = Flask(__name__)
# As Ally's: one client's events in the order sent.
socketio = SocketIO(app, async_mode=ASYNC_MODE, async_handlers=False)


@app.get("/healthz")
def healthz() -> dict:
    """The same readiness probe as Ally's (tests/support/live_server.py polls it)."""
    return {"status": "ok"}


@socketio.on("join_session")
def on_join_session(data: object = None) -> dict:
    """Join the session's room; the ack has no snapshot (there is no state)."""
    if not isinstance(data, dict) or not isinstance(data.get("session_id"), int):
        return {"ok": False, "error": "invalid", "message": "session_id"}
    join_room(f"session:{data['session_id']}")
    return {"ok": True}


@socketio.on("signal")
def on_signal(data: object = None) -> dict:
    """Re-emit the signal to the session's room, shaped like Ally's."""
    if not isinstance(data, dict) or not isinstance(data.get("session_id"), int):
        return {"ok": False, "error": "invalid", "message": "session_id"}
    payload = {
        "session_id": data["session_id"],
        "turn": 0,
        "kind": data.get("kind"),
        "word": data.get("word"),
        "at": datetime.now(UTC).isoformat(),
    }
    socketio.emit("signal", payload, to=f"session:{data['session_id']}")
    return {"ok": True, "signal": payload}


@socketio.on("call")
def on_call(data: object = None) -> dict:
    """Re-emit a call message to the other socket in the room, shaped like Ally's.

    There are no users here: `from_user_id` is null, and "the partner" is
    every socket in the session's room but the sender's.
    """
    if not isinstance(data, dict) or not isinstance(data.get("session_id"), int):
        return {"ok": False, "error": "invalid", "message": "session_id"}
    payload = {
        "session_id": data["session_id"],
        "from_user_id": None,
        "kind": data.get("kind"),
        "data": data.get("data"),
    }
    socketio.emit(
        "call", payload, to=f"session:{data['session_id']}", skip_sid=request.sid
    )
    return {"ok": True}


# (session id, turn) -> points drawn, for the ack (Ally's `Turn.sketch_points`).
_sketch_points: dict[tuple[int, object], int] = {}


@socketio.on("sketch")
def on_sketch(data: object = None) -> dict:
    """Re-emit a sketch to the room's other socket, shaped like Ally's."""
    if not isinstance(data, dict) or not isinstance(data.get("session_id"), int):
        return {"ok": False, "error": "invalid", "message": "session_id"}
    strokes = data.get("strokes")
    if not isinstance(strokes, list):
        return {"ok": False, "error": "invalid", "message": "strokes"}
    payload = {
        "session_id": data["session_id"],
        "turn": data.get("turn"),
        "strokes": strokes,
    }
    if data.get("clear"):
        payload["clear"] = True
    socketio.emit(
        "sketch", payload, to=f"session:{data['session_id']}", skip_sid=request.sid
    )
    key = (data["session_id"], data.get("turn"))
    points = _sketch_points.get(key, 0) + sum(
        len(s.get("points") or []) for s in strokes if isinstance(s, dict)
    )
    _sketch_points[key] = points
    return {
        "ok": True,
        "session_id": data["session_id"],
        "turn": key[1],
        "points": points,
    }


def main(argv: list[str] | None = None) -> None:
    """Serve like app.py does: socketio.run, no reloader, no access log."""
    parser = argparse.ArgumentParser(description="Bare Flask-SocketIO relay.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    # The same garbage-collector setting as app.py's, so only the handlers differ.
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 1000)
    print(f"bare relay ({ASYNC_MODE}) on http://{args.host}:{args.port}/", flush=True)
    # The same pywsgi options as app.py (TCP_NODELAY): the server setup is
    # Ally's, only the application differs.
    options = gevent_server_options() if ASYNC_MODE == "gevent" else {}
    socketio.run(
        app,
        host=args.host,
        port=args.port,
        allow_unsafe_werkzeug=True,
        use_reloader=False,
        log_output=False,
        **options,
    )


if __name__ == "__main__":
    main()
