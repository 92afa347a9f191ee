"""Run Ally: python app.py [--host H] [--port P] [--demo].

One process serves the pages, the JSON API and Socket.IO on the database in
DATABASE_URL (SQLite in instance/ by default), applying pending migrations first.
"""

from __future__ import annotations

import importlib.util
import os

# Serving (`python app.py`), gevent is the default: measured on a 2-core box it
# is the setup that holds thousands of sockets (docs/performance.md). It must
# patch the standard library before anything else imports it. Imported (the
# `flask --app app` CLI, tests) nothing is patched and threading is used.
SERVING = __name__ == "__main__"
if SERVING:
    has_gevent = importlib.util.find_spec("gevent") is not None
    os.environ.setdefault("ALLY_ASYNC_MODE", "gevent" if has_gevent else "threading")
    if os.environ["ALLY_ASYNC_MODE"] == "gevent":
        from gevent import monkey

        monkey.patch_all()
elif os.environ.get("ALLY_ASYNC_MODE") == "gevent":
    os.environ["ALLY_ASYNC_MODE"] = "threading"  # unpatched: gevent cannot serve

import argparse  # noqa: E402
import gc  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

from ally import create_app  # noqa: E402
from ally.config import SettingsError  # noqa: E402
from ally.database import upgrade_database  # noqa: E402
from ally.extensions import socketio  # noqa: E402
from ally.heartbeat import heartbeat  # noqa: E402
from ally.logs import EMBEDDED, WEB, configure_logs  # noqa: E402
from ally.models import utcnow  # noqa: E402
from ally.scheduler import scheduler_enabled, start_in_background  # noqa: E402
from ally.services.demo import DEMO_PASSWORD, seed_demo  # noqa: E402
from ally.services.health import require_services  # noqa: E402
from ally.services.room import instances  # noqa: E402
from ally.services.room.signal_store import flush as flush_signals  # noqa: E402
from ally.serving import gevent_server_options  # noqa: E402

try:
    app = create_app()
except SettingsError as error:
    # One line naming the setting, for `python app.py` and `flask --app app`
    # alike, instead of a traceback.
    sys.exit(f"ally: {error}")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(description="Run the Ally server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument(
        "--demo", action="store_true", help="create two paired demo students"
    )
    args = parser.parse_args(argv)

    try:
        embedded = scheduler_enabled(app)
        # A database or Redis that does not answer stops the start here, in
        # one line, not in the first request or the first migration.
        require_services(app)
    except ValueError as error:  # SettingsError, or ALLY_SCHEDULER's own
        sys.exit(f"ally: {error}")
    configure_logs(EMBEDDED if embedded else WEB, port=args.port)
    upgrade_database(app)
    # Sockets are listed in the database under this server's name; a restart
    # forgets the ones its previous run left behind (and tells their rooms).
    if not os.environ.get("ALLY_INSTANCE"):
        app.config["ALLY_INSTANCE"] = f"{socket.gethostname()}:{args.port}"
    with app.app_context():
        instances.reap(app.config["ALLY_INSTANCE"], utcnow())
        instances.beat(app.config["ALLY_INSTANCE"], utcnow())
    if args.demo:
        with app.app_context():
            users = seed_demo(utcnow())
        print("Demo students (log in with either):", flush=True)
        for user in users:
            print(f"  {user.email}  password: {DEMO_PASSWORD}", flush=True)
    # The entry point, never create_app, starts the scheduler; with the reloader
    # off there is exactly one copy of it in this process.
    scheduler = start_in_background(app) if embedded else None
    # One event loop serves every socket: a full garbage collection stops all
    # of them. Objects from start-up are frozen out of collection and full
    # collections made rarer (measured: 430 ms pauses every ~12 s otherwise;
    # raising the young threshold too made the room's tail worse, not better).
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 1000)
    print(
        f"Ally is running on http://{args.host}:{args.port}/ "
        f"({app.config['ALLY_ASYNC_MODE']})",
        flush=True,
    )
    server_options = {}
    if app.config["ALLY_ASYNC_MODE"] == "gevent":
        server_options = gevent_server_options()
    # A stop (SIGTERM from a service manager, a test, a deploy) ends like ^C,
    # through the `finally` below, so queued signals are written first.
    _stop_on_sigterm(app.config["ALLY_ASYNC_MODE"])
    socketio.start_background_task(heartbeat, app)
    try:
        socketio.run(
            app,
            host=args.host,
            port=args.port,
            allow_unsafe_werkzeug=True,
            use_reloader=False,
            log_output=False,
            **server_options,
        )
    finally:
        with app.app_context():
            flush_signals()
        if scheduler is not None:
            thread, stop = scheduler
            stop.set()
            thread.join(timeout=10)


def _stop_on_sigterm(async_mode: str) -> None:
    """Make SIGTERM leave the server loop, so `main` ends through its `finally`."""
    if async_mode == "gevent":
        import gevent

        # In a greenlet of its own: a plain Python handler would raise in
        # whichever greenlet happened to be running (a scheduler job, say).
        gevent.signal_handler(signal.SIGTERM, socketio.stop)
    else:
        # Handlers run in the main thread, which is the server's loop.
        signal.signal(signal.SIGTERM, _leave_server_loop)


def _leave_server_loop(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
