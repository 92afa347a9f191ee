"""CPU per room event inside the server, without the network: where Ally's cost goes.

    python bench/room/handler_cost.py [--sessions 200] [--signals 4000]

Seeds a fresh SQLite database like the stress profile of `bench/bench_room.py`
(one open extra session per pair, a 30-minute first turn), then drives Ally's
own Socket.IO handlers through Flask-SocketIO's test client (the Socket.IO
packet encoding and the handlers run; Engine.IO, the websocket and the
compression do not) and times, with `time.process_time`: connecting (token
auth and the socket's row), joining, one `signal` (validated, stored, relayed
to the room), one `sketch` (a 20-point stroke by the teacher), one snapshot
published to a room, and one phase change applied by the `advance_phases`
job. The same `signal` through the bare relay (`bench/room/bare_relay.py`) is
timed as the baseline. SQL statements are
counted with a `before_cursor_execute` listener.

It imports `ally` from the directory it sits in (two levels up), so a patched
copy of the repository can be measured by running the copy's file.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.bench_room import seed_room  # noqa: E402


def _counter(engine):
    """Counts of SQL statements ("n"), pool checkouts and commits."""
    from sqlalchemy import event

    box = {"n": 0, "checkouts": 0, "commits": 0}

    def bump(key):
        def count(*_args, **_kwargs):
            box[key] += 1

        return count

    event.listen(engine, "before_cursor_execute", bump("n"))
    event.listen(engine.pool, "checkout", bump("checkouts"))
    event.listen(engine, "commit", bump("commits"))
    return box


def measure(sessions: int, signals: int, url: str | None = None) -> dict:
    os.environ.setdefault("ALLY_ASYNC_MODE", "threading")
    from ally import create_app
    from ally.domain.rate_limit import Buckets
    from ally.extensions import db, socketio
    from ally.services.room import clock as room_clock
    from ally.services.room import signals as room_signals
    from ally.services.room import sketches as room_sketches
    from ally.services.room import snapshots as room_state

    # The per-user limit (5 a second) would refuse a tight loop; same work.
    room_signals._buckets = Buckets(1e9, 1e9)
    room_sketches._buckets = Buckets(1e9, 1e9)
    if url is None:
        folder = tempfile.mkdtemp(prefix="ally-cost-")
        url = f"sqlite:///{folder}/cost.db"
    plan, _ = seed_room(url, sessions, turns=2, teach_seconds=1800, rate_seconds=60)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "cost",
            "ALLY_SCHEDULER": "off",
            "ALLY_MIN_TEACH_SECONDS": 1,
            "ALLY_MIN_RATE_SECONDS": 1,
        }
    )
    with app.app_context():
        counter = _counter(db.engine)
    out: dict = {"sessions": sessions, "sqlite_file": url}

    def timed(name, count, fn):
        counter.update(n=0, checkouts=0, commits=0)
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        out[name] = {
            "count": count,
            "cpu_ms_each": round(1000 * cpu / count, 3),
            "wall_ms_each": round(1000 * wall / count, 3),
            "sql_each": round(counter["n"] / count, 2),
            "checkouts_each": round(counter["checkouts"] / count, 2),
            "commits_each": round(counter["commits"] / count, 2),
        }

    clients: list[list] = []

    def connect_all():
        for s in plan:
            clients.append(
                [
                    socketio.test_client(app, auth={"token": u["token"]})
                    for u in s["users"]
                ]
            )

    timed("connect", 2 * sessions, connect_all)
    assert all(c.is_connected() for pair in clients for c in pair)

    def join_all():
        for s, pair in zip(plan, clients, strict=True):
            for c in pair:
                ack = c.emit("join_session", {"session_id": s["id"]}, callback=True)
                assert ack["ok"], ack

    timed("join", 2 * sessions, join_all)
    for pair in clients:
        for c in pair:
            c.get_received()

    def send_signals():
        for i in range(signals):
            k = i % sessions
            ack = clients[k][1].emit(
                "signal",
                {"session_id": plan[k]["id"], "kind": "jargon", "word": f"s{i}"},
                callback=True,
            )
            assert ack["ok"], ack

    timed("signal", signals, send_signals)
    got = clients[0][0].get_received()
    assert any(e["name"] == "signal" for e in got), got

    # A pen stroke as the pad sends it: 20 points, about 50 ms of drawing.
    stroke = [{"width": 3, "points": [[10 * i, 5 * i] for i in range(20)]}]

    def send_sketches():
        for i in range(signals):
            k = i % sessions
            ack = clients[k][0].emit(
                "sketch",
                {"session_id": plan[k]["id"], "turn": 0, "strokes": stroke},
                callback=True,
            )
            assert ack["ok"], ack

    timed("sketch", signals, send_sketches)

    def publish_all():
        with app.app_context():
            now = datetime.now(UTC)
            for s in plan:
                room_state.publish(s["id"], now)
            db.session.remove()

    timed("publish_snapshot", sessions, publish_all)

    def advance_all():
        # Every session's teaching deadline passes: one job run moves them all.
        with app.app_context():
            from sqlalchemy import update

            from ally.models import TeachSession

            now = datetime.now(UTC)
            db.session.execute(
                update(TeachSession).values(phase_ends_at=now - timedelta(seconds=1))
            )
            db.session.commit()
            counter["n"] = 0
            moved = room_clock.advance_due(now)
            assert moved == sessions, moved
            db.session.remove()

    timed("advance_phase_job", sessions, advance_all)

    def disconnect_all():
        for pair in clients:
            for c in pair:
                c.disconnect()

    timed("disconnect", 2 * sessions, disconnect_all)
    return out


def measure_bare(signals: int, sessions: int) -> dict:
    spec = importlib.util.spec_from_file_location(
        "bare_relay", ROOT / "bench" / "room" / "bare_relay.py"
    )
    bare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bare)
    pairs = [
        [bare.socketio.test_client(bare.app) for _ in range(2)] for _ in range(sessions)
    ]
    for k, pair in enumerate(pairs):
        for c in pair:
            assert c.emit("join_session", {"session_id": k + 1}, callback=True)["ok"]
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(signals):
        k = i % sessions
        pairs[k][1].emit(
            "signal",
            {"session_id": k + 1, "kind": "jargon", "word": f"s{i}"},
            callback=True,
        )
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {
        "count": signals,
        "cpu_ms_each": round(1000 * cpu / signals, 3),
        "wall_ms_each": round(1000 * wall / signals, 3),
        "sql_each": 0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--signals", type=int, default=4000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args(argv)
    if args.backend == "postgres":
        from tests.support.services import fresh_postgres_database

        with fresh_postgres_database() as url:
            result = measure(args.sessions, args.signals, url)
    else:
        result = measure(args.sessions, args.signals)
    result["bare_signal"] = measure_bare(args.signals, args.sessions)
    result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    result["ally_from"] = str(ROOT)
    print(json.dumps(result, indent=1))
    print(
        "\n| Event | CPU ms each | wall ms each | SQL statements each "
        "| checkouts | commits |\n|---|---:|---:|---:|---:|---:|"
    )
    for name in (
        "connect",
        "join",
        "signal",
        "sketch",
        "bare_signal",
        "publish_snapshot",
        "advance_phase_job",
    ):
        r = result[name]
        print(
            f"| {name} | {r['cpu_ms_each']:.2f} | {r['wall_ms_each']:.2f} "
            f"| {r['sql_each']:g} | {r.get('checkouts_each', 0):g} "
            f"| {r.get('commits_each', 0):g} |"
        )


if __name__ == "__main__":
    main()
