"""Soak (issue 14): scripted pairs through short sessions, for a long time.

    python -m bench.soak --pairs 200 --minutes 20

Starts the embedded server (`app.py`: gevent, SQLite in a temporary directory,
the scheduler in-process) and runs `--pairs` pairs of students through short
extra sessions back to back, each pair in its own greenlet: both connect a
websocket (API token), `join_session`, the teacher names the topic, the
listener sends signals, the teacher says `finish_turn`, then `summary`, the
listener's `rate` and the teacher's `ready` (or `self_rate`); next turn; at the
end both `leave_session` and disconnect. Some turns are left to the server's
clock instead (teaching or rating runs to its deadline: the scheduler's
`advance_phases` moves them). Between sessions a pair loads pages with its
login cookie (dashboard, review, the session's summary), calls the JSON API
with its token (`GET /sessions`, `GET /sessions/<id>`), and starts the next
session with `POST /partnerships/<id>/sessions` (`--turns`, `--teach-seconds`,
`--rate-seconds`; the server runs with ALLY_MIN_TEACH_SECONDS=1 and
ALLY_MIN_RATE_SECONDS=1).

The pairs log in (the login form, one scrypt hash each) spread over
`--login-spread` seconds, as students arriving, not in one burst.

Every `--sample-seconds` the driver reads /proc/<pid> of the server: RSS,
open file descriptors, threads, CPU. Greenlets cannot be seen from outside, so
the server is started through this module (`python -m bench.soak serve --
--port P`), which runs `app.py` unchanged as `__main__` (runpy) beside one
greenlet that counts greenlets and garbage-collected objects with
`gc.get_objects()` every `--sample-seconds` and, when the driver asks, counts
objects by type; `--plain` starts `python app.py` itself and counts no
greenlets. Objects frozen at start-up (`gc.freeze()` in app.py) are not
counted: the figures are what was created since.

Every `--quiet-every` minutes the pairs stop after their current session and
close their HTTP connections, so nothing is connected: a *quiet point*. Its
file descriptors, greenlets and objects are compared with the first quiet
point after `--warmup` minutes (a leak keeps growing across them), and the
run ends with one more. The server's log is scanned for `level=error`,
`level=critical` and `Traceback` lines; the clients count every refused ack
(by event and code), ack and state time-outs, failed connects and HTTP
answers other than 2xx/3xx.

At a quiet point the server also runs a full garbage collection before its
census: app.py makes full collections rare, so connections that ended lie in
reference cycles until one comes; what survives it is what is kept.

Verdict: *flat* when, from the first quiet point after `--warmup` minutes to
the last, RSS grows less than `--rss-slope-bound` MiB/min, the objects
surviving a full collection less than `--object-growth`, fds and live
greenlets at every later quiet point stay within `--tolerance` of the first,
and there were no server errors and no client failures. The RSS slope over
the last 15 minutes of samples (least squares, while connected) is reported
beside it.

Results: `bench/results/soak-<time>.json` and the `.md` beside it (the server's
log: `bench/results/server-soak-<time>.log`). Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

# The driver's clients and the server's counting greenlet both run on gevent:
# it must patch the standard library before anything else imports it.
from gevent import monkey  # noqa: E402

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PAGE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
ACK_TIMEOUT = 20.0
HTTP_TIMEOUT = 30.0
# A state the clients wait for must come this long after its deadline at most.
STATE_SLACK = 20.0
SIGNAL_KINDS = ("jargon", "lost", "slower", "clear", "why", "how")
WORDS = ("juxtaglomerular", "macula densa", "aldosterone", "osmolality", "afferent")
ERROR_LINE = re.compile(r"level=(error|critical)\b|Traceback")


# --- the server side: app.py plus a counting greenlet ------------------------------


def _census(by_type: bool) -> dict[str, Any]:
    """Greenlets and objects tracked by the collector (not the frozen ones)."""
    import greenlet

    started = time.perf_counter()
    objects = gc.get_objects()
    greenlets = alive = 0
    types: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for obj in objects:
        if isinstance(obj, greenlet.greenlet):
            greenlets += 1
            alive += not obj.dead
            if by_type and not obj.dead:
                kinds[_greenlet_kind(obj)] += 1
        if by_type:
            types[type(obj).__qualname__] += 1
    row: dict[str, Any] = {
        "t": time.time(),
        "greenlets": greenlets,
        "greenlets_alive": alive,
        "objects": len(objects),
    }
    del objects
    if by_type:
        row["types"] = dict(types.most_common(60))
        row["greenlet_kinds"] = dict(kinds.most_common(20))
    row["census_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return row


def _greenlet_kind(glet: Any) -> str:
    """What a live greenlet runs: its function, or where it waits."""
    run = getattr(glet, "_run", None) or getattr(glet, "run", None)
    name = getattr(run, "__qualname__", None) or type(glet).__qualname__
    frame = glet.gr_frame
    while frame is not None and frame.f_back is not None:
        if "gevent" not in frame.f_code.co_filename:
            break
        frame = frame.f_back
    where = f" @ {frame.f_code.co_name}" if frame is not None else ""
    return f"{name}{where}"[:120]


def _count_forever(path: Path, every: float) -> None:
    """Append a census line every `every` seconds, or at once when asked
    (the driver creates `<path>.now`; that census counts types too)."""
    import gevent

    trigger = Path(f"{path}.now")
    last = 0.0
    while True:
        asked = trigger.exists()
        if asked or time.monotonic() - last >= every:
            row = _census(by_type=asked)
            if asked:
                # What a full collection frees is garbage waiting for it (the
                # thresholds app.py sets make full collections rare), not a
                # leak: the quiet points count what survives one.
                keys = ("objects", "greenlets", "greenlets_alive")
                before = {k: row[k] for k in keys}
                collected = gc.collect()
                row = _census(by_type=True)
                row["before_gc"] = before
                row["gc_collected"] = collected
            row["asked"] = asked
            with path.open("a") as out:
                out.write(json.dumps(row) + "\n")
            last = time.monotonic()
            if asked:
                trigger.unlink(missing_ok=True)
        gevent.sleep(0.25)


def serve(argv: list[str]) -> None:
    """`python -m bench.soak serve --stats FILE [--every S] -- APP ARGS`:
    app.py as `__main__`, with the counting greenlet beside it."""
    import runpy

    import gevent

    parser = argparse.ArgumentParser(prog="bench.soak serve")
    parser.add_argument("--stats", required=True)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("app_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    app_args = [a for a in args.app_args if a != "--"]
    os.environ["ALLY_ASYNC_MODE"] = "gevent"  # already patched, as app.py would
    gevent.spawn(_count_forever, Path(args.stats), args.every)
    sys.argv = [str(ROOT / "app.py"), *app_args]
    sys.path.insert(0, str(ROOT))
    runpy.run_path(str(ROOT / "app.py"), run_name="__main__")


# --- /proc ---------------------------------------------------------------------------


def proc_sample(pid: int) -> dict[str, Any]:
    """RSS, peak RSS, open fds, threads and CPU seconds of one process."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
        "hwm_mib": int(fields["VmHWM"].split()[0]) / 1024,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"]),
        "cpu_s": (int(stat[11]) + int(stat[12])) / CLOCK_TICK,
    }


def last_census(path: Path) -> dict[str, Any] | None:
    """The newest line of the server's census file."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return None
    return json.loads(lines[-1]) if lines else None


def fresh_census(path: Path, timeout: float = 30.0) -> dict[str, Any] | None:
    """Ask the server for a census now (with types) and wait for it."""
    before = len(path.read_text().splitlines()) if path.exists() else 0
    Path(f"{path}.now").touch()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().splitlines()
            for line in lines[before:]:
                row = json.loads(line)
                if row.get("asked"):
                    return row
        time.sleep(0.2)
    return None


def server_errors(log: Path) -> list[str]:
    """Error and traceback lines of the server's log."""
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if ERROR_LINE.search(line)]


# --- the clients ---------------------------------------------------------------------


class Tally:
    """What the clients saw, shared by every pair."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.examples: list[str] = []
        self.ack_ms: list[float] = []

    def fail(self, key: str, detail: str) -> None:
        """Count a client-side failure and keep the first few in full."""
        self.failures[key] += 1
        if len(self.examples) < 30:
            self.examples.append(f"{datetime.now(UTC):%H:%M:%S} {key}: {detail}")


class Gate:
    """Quiet points: pairs stop between sessions until the driver lets them go."""

    def __init__(self) -> None:
        from gevent.event import Event

        self.closed = False
        self.waiting = 0
        self.opened = Event()
        self.opened.set()

    def close(self) -> None:
        """Ask every pair to stop after its current session."""
        self.closed = True
        self.opened.clear()

    def open(self) -> None:
        """Let them go on."""
        self.closed = False
        self.opened.set()

    def pass_through(self, before_waiting) -> None:
        """Wait here while closed (after `before_waiting`, e.g. closing HTTP)."""
        if not self.closed:
            return
        before_waiting()
        self.waiting += 1
        try:
            self.opened.wait()
        finally:
            self.waiting -= 1


class Member:
    """One student: a websocket per session, the latest snapshot, counts."""

    def __init__(self, pair: Pair, user: dict[str, Any]) -> None:
        self.pair = pair
        self.id = user["id"]
        self.token = user["token"]
        self.client = None
        self.signals_received = 0

    def connect(self) -> bool:
        """A new websocket with the token; False (counted) if it fails."""
        import socketio

        client = socketio.Client(reconnection=False)
        client.on("session_state", self.pair.apply_state)
        client.on("signal", self._on_signal)
        self.client = client
        try:
            client.connect(
                self.pair.url,
                auth={"token": self.token},
                transports=["websocket"],
                wait_timeout=ACK_TIMEOUT,
            )
        except Exception as error:  # noqa: BLE001 - counted, the pair goes on
            self.pair.tally.fail("connect", repr(error))
            return False
        self.pair.tally.counts["connects"] += 1
        return True

    def _on_signal(self, data: Any) -> None:
        self.signals_received += 1

    def emit(self, event: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Send one event and wait for its ack; refusals and time-outs counted."""
        tally = self.pair.tally
        started = time.perf_counter()
        try:
            ack = self.client.call(event, data, timeout=ACK_TIMEOUT)
        except Exception as error:  # noqa: BLE001 - a time-out or a lost socket
            tally.fail(f"{event}:{type(error).__name__}", repr(error))
            return None
        tally.ack_ms.append((time.perf_counter() - started) * 1000)
        tally.counts[f"ack:{event}"] += 1
        if not isinstance(ack, dict) or not ack.get("ok"):
            code = ack.get("error") if isinstance(ack, dict) else "no_ack"
            tally.fail(f"{event}:{code}", f"user {self.id} {data} -> {ack}")
            return None
        if isinstance(ack.get("state"), dict):
            self.pair.apply_state(ack["state"])
        return ack

    def close(self) -> None:
        """Disconnect (the server sees the socket go)."""
        if self.client is not None:
            try:
                self.client.disconnect()
            except Exception as error:  # noqa: BLE001
                self.pair.tally.fail("disconnect", repr(error))
            self.client = None


class Pair:
    """Two partners going through sessions until the run ends."""

    def __init__(self, plan: dict[str, Any], url: str, args, tally, gate) -> None:
        import requests
        from gevent.event import Event

        self.url = url
        self.args = args
        self.tally = tally
        self.gate = gate
        self.partnership_id = plan["id"]  # seeded: partnership k+1, session k+1
        self.first_session = plan["id"]
        self.members = [Member(self, user) for user in plan["users"]]
        self.rng = random.Random(args.seed * 100_003 + plan["id"])
        self.session_id: int | None = None
        self.state: dict[str, Any] = {}
        self.changed = Event()
        self.api = requests.Session()
        self.pages = requests.Session()
        self.sessions_done = 0

    # -- state ------------------------------------------------------------------

    def apply_state(self, state: Any) -> None:
        """Keep the newest snapshot of the current session."""
        if not isinstance(state, dict) or state.get("session_id") != self.session_id:
            return
        if state.get("version", 0) >= self.state.get("version", -1):
            self.state = state
            self.changed.set()

    def wait_for(self, what: str, test, timeout: float) -> bool:
        """Wait until the snapshot passes `test`; a time-out is counted."""
        deadline = time.monotonic() + timeout
        while not test(self.state):
            self.changed.clear()
            if test(self.state):
                break
            left = deadline - time.monotonic()
            if left <= 0 or not self.changed.wait(left):
                if test(self.state):
                    break
                self.tally.fail(
                    f"state_timeout:{what}",
                    f"session {self.session_id}: {_brief(self.state)}",
                )
                return False
        return True

    # -- HTTP -------------------------------------------------------------------

    def http(self, session, method: str, path: str, **kwargs) -> Any:
        """One request; an answer other than 2xx/3xx or an exception is counted."""
        try:
            resp = session.request(
                method, self.url + path, timeout=HTTP_TIMEOUT, **kwargs
            )
        except Exception as error:  # noqa: BLE001
            self.tally.fail(f"http:{method} {_shape(path)}", repr(error))
            return None
        self.tally.counts["http"] += 1
        if resp.status_code >= 400:
            self.tally.fail(
                f"http:{method} {_shape(path)}:{resp.status_code}", resp.text[:200]
            )
            return None
        return resp

    def login(self) -> bool:
        """The first member logs in through the form (cookie for the pages)."""
        from bench.seed_users import PASSWORD

        page = self.http(self.pages, "GET", "/login")
        if page is None:
            return False
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        email = f"bench{self.members[0].id:05d}@bench.example.com"
        resp = self.http(
            self.pages,
            "POST",
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": token[1]},
            allow_redirects=False,
        )
        if resp is None or resp.status_code != 302:
            self.tally.fail("login", f"{email}: {resp and resp.status_code}")
            return False
        return True

    def browse(self, session_id: int) -> None:
        """What a student does between sessions: pages and API calls."""
        token = self.members[self.sessions_done % 2].token
        auth = {"Authorization": f"Bearer {token}"}
        self.http(self.api, "GET", "/api/v1/sessions", headers=auth)
        self.http(self.api, "GET", f"/api/v1/sessions/{session_id}", headers=auth)
        if self.sessions_done % 3 == 0:
            self.http(self.pages, "GET", "/")
            self.http(self.pages, "GET", f"/sessions/{session_id}/summary")
        if self.sessions_done % 6 == 0:
            self.http(self.pages, "GET", "/review")

    def wait_ended(self, session_id: int, until: float) -> None:
        """Poll the API until the session is over (its clock runs it out)."""
        auth = {"Authorization": f"Bearer {self.members[0].token}"}
        path = f"/api/v1/sessions/{session_id}"
        while time.monotonic() < until:
            resp = self.http(self.api, "GET", path, headers=auth)
            if resp is None or resp.json().get("status") not in ("open", "live"):
                return
            time.sleep(5)

    def next_session(self) -> int | None:
        """Start the next extra session through the API (members alternate)."""
        starter = self.members[self.sessions_done % 2]
        resp = self.http(
            self.api,
            "POST",
            f"/api/v1/partnerships/{self.partnership_id}/sessions",
            headers={"Authorization": f"Bearer {starter.token}"},
            json={
                "turns": self.args.turns,
                "teach_seconds": self.args.teach_seconds,
                "rate_seconds": self.args.rate_seconds,
            },
        )
        return resp.json()["id"] if resp is not None else None

    def close_http(self) -> None:
        """Close the keep-alive connections (a quiet point has none open)."""
        self.api.close()
        self.pages.close()

    # -- a session ---------------------------------------------------------------

    def run(self, until: float, delay: float) -> None:
        """Sessions back to back until `until` (monotonic), with quiet points."""
        time.sleep(delay)
        if not self.login():
            return
        session_id: int | None = self.first_session
        while time.monotonic() < until:
            if session_id is not None:
                ok = self.session(session_id)
                self.sessions_done += 1
                self.tally.counts[
                    "sessions_completed" if ok else "sessions_failed"
                ] += 1
                self.browse(session_id)
                if not ok:
                    # Counted once; the next session waits for this one to end
                    # (one extra session at a time), not adding 409s to it.
                    self.wait_ended(session_id, until)
            # A pause between sessions, jittered so the pairs do not march in step.
            pause = self.args.pause * self.rng.uniform(0.5, 1.5)
            time.sleep(min(pause, max(0.0, until - time.monotonic())))
            self.gate.pass_through(self.close_http)
            if time.monotonic() >= until:
                break
            session_id = self.next_session()
            if session_id is None:
                time.sleep(self.args.pause)
        self.close_http()

    def session(self, session_id: int) -> bool:
        """One session from both joins to both leaves; True if it completed."""
        self.session_id = session_id
        self.state = {}
        try:
            for member in self.members:
                member.signals_received = 0
                if not member.connect():
                    return False
            for member in self.members:
                if member.emit("join_session", {"session_id": session_id}) is None:
                    return False
            sent = self._turns(session_id)
            done = self.wait_for(
                "completed",
                lambda s: s.get("status") == "completed",
                self._deadline_wait(),
            )
            received = sum(m.signals_received for m in self.members)
            # Both sockets are in the room: each relayed signal arrives twice.
            if done and received < 2 * sent:
                # Relays travel before the acks; give stragglers a moment.
                time.sleep(0.5)
                received = sum(m.signals_received for m in self.members)
                if received < 2 * sent:
                    self.tally.fail(
                        "signals_lost", f"session {session_id}: {received}/{2 * sent}"
                    )
            self.tally.counts["signals_sent"] += sent
            for member in self.members:
                member.emit("leave_session", {"session_id": session_id})
            return done
        finally:
            for member in self.members:
                member.close()

    def _deadline_wait(self) -> float:
        return self.args.teach_seconds + self.args.rate_seconds + STATE_SLACK

    def _turns(self, session_id: int) -> int:
        """Every turn of the session; returns the signals acknowledged."""
        args, rng = self.args, self.rng
        sent = 0
        for turn in range(args.turns):
            if not self.wait_for(
                f"teaching {turn}",
                lambda s, t=turn: s.get("turn") == t and s.get("phase") == "teaching",
                self._deadline_wait(),
            ):
                return sent
            roles = self.state["turns"][turn]
            teacher = self._member(roles["teacher_id"])
            listener = self._member(roles["listener_id"])
            # Some turns are left to the server's clock (the scheduler's
            # advance_phases): teaching, or the rating pause, runs out.
            clock_teach = rng.random() < args.clock_share
            clock_rate = not clock_teach and rng.random() < args.clock_share
            self.tally.counts["turns_clock_teach" if clock_teach else "turns"] += 1
            teacher.emit(
                "set_topic",
                {"session_id": session_id, "title": f"Topic {rng.randrange(40)}"},
            )
            if turn == 0 and rng.random() < 0.3:
                # A call's first message each way (relayed, nothing stored).
                for member in self.members:
                    member.emit(
                        "call",
                        {
                            "session_id": session_id,
                            "kind": "media",
                            "data": {"audio": True, "video": False},
                        },
                    )
            ends = time.monotonic() + args.teach_seconds
            for _ in range(args.signals):
                time.sleep(args.signal_gap * rng.uniform(0.5, 1.5))
                if ends - time.monotonic() < 3:
                    break  # never race the deadline: that refusal is expected
                kind = rng.choice(SIGNAL_KINDS)
                payload = {"session_id": session_id, "kind": kind}
                if kind == "jargon":
                    payload["word"] = rng.choice(WORDS)
                if kind in ("why", "how") and rng.random() < 0.5:
                    payload["question"] = "Why does the afferent arteriole matter?"
                if listener.emit("signal", payload) is not None:
                    sent += 1
            if not clock_teach:
                teacher.emit("finish_turn", {"session_id": session_id})
            if not self.wait_for(
                f"rating {turn}",
                lambda s, t=turn: (
                    s.get("turn", -1) > t
                    or s.get("status") == "completed"
                    or (s.get("turn") == t and s.get("phase") == "rating")
                ),
                self._deadline_wait(),
            ):
                return sent
            if clock_rate:
                self.tally.counts["turns_clock_rate"] += 1
            elif self.state.get("turn") == turn and self.state.get("phase") == "rating":
                teacher.emit(
                    "summary",
                    {
                        "session_id": session_id,
                        "turn": turn,
                        "text": "Low pressure at the kidney releases renin. "
                        "Renin starts a chain that tightens vessels and keeps salt.",
                    },
                )
                listener.emit(
                    "rate",
                    {
                        "session_id": session_id,
                        "turn": turn,
                        "simplicity": rng.randint(1, 5),
                        "note": "Lost me at the second step."
                        if rng.random() < 0.4
                        else "",
                        "jargon": [rng.choice(WORDS)] if rng.random() < 0.5 else [],
                    },
                )
                if rng.random() < 0.5:
                    teacher.emit("ready", {"session_id": session_id, "turn": turn})
                else:
                    teacher.emit(
                        "self_rate",
                        {
                            "session_id": session_id,
                            "turn": turn,
                            "simplicity": rng.randint(1, 5),
                        },
                    )
            if not self.wait_for(
                f"after rating {turn}",
                lambda s, t=turn: (
                    s.get("turn", -1) > t or s.get("status") == "completed"
                ),
                self._deadline_wait(),
            ):
                return sent
        return sent

    def _member(self, user_id: int) -> Member:
        return next(m for m in self.members if m.id == user_id)


def _brief(state: dict[str, Any]) -> str:
    keys = ("status", "phase", "turn", "phase_ends_at", "server_time", "version")
    return json.dumps({k: state.get(k) for k in keys})


def _shape(path: str) -> str:
    return re.sub(r"/\d+", "/<id>", path)


# --- the run ---------------------------------------------------------------------


def slope_mib_per_min(samples: list[dict[str, Any]], minutes: float) -> float | None:
    """Least-squares slope of RSS over the last `minutes` of samples."""
    if not samples:
        return None
    end = samples[-1]["elapsed_s"]
    points = [
        (s["elapsed_s"] / 60, s["rss_mib"])
        for s in samples
        if s["elapsed_s"] >= end - minutes * 60
    ]
    if len(points) < 3:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx if sxx else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, start the server, run the pairs, sample, stop; the report."""
    import gevent

    from bench.bench_room import CommandServer, raise_fd_limit, seed_room
    from bench.bench_suggestions import machine
    from tests.support.live_server import LiveServer

    # A refused or dropped client socket is counted here, not logged by
    # python-engineio's client on every retry of its write loop.
    logging.getLogger("engineio.client").setLevel(logging.CRITICAL)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / f"server-soak-{stamp}.log"
    raise_fd_limit()
    tmp = Path(tempfile.mkdtemp(prefix="ally-soak-"))
    database_url = f"sqlite:///{tmp / 'ally.db'}"
    stats = tmp / "census.jsonl"
    print(f"seeding {args.pairs} pairs into {database_url}", flush=True)
    plan, seeded = seed_room(
        database_url,
        args.pairs,
        turns=args.turns,
        teach_seconds=args.teach_seconds,
        rate_seconds=args.rate_seconds,
        seed=args.seed,
    )
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "soak-" + os.urandom(8).hex(),
        "ALLY_ASYNC_MODE": "gevent",
        "ALLY_SCHEDULER": "on",
        "ALLY_MIN_TEACH_SECONDS": "1",
        "ALLY_MIN_RATE_SECONDS": "1",
        "ALLY_AUTH_RATE_LIMIT": "100000 per minute",
    }
    if args.plain:
        server = LiveServer(env, log_path=log, startup_timeout=60)
    else:
        argv = [
            "{python}",
            "-m",
            "bench.soak",
            "serve",
            "--stats",
            str(stats),
            "--every",
            str(args.sample_seconds),
            "--",
            "--host",
            "{host}",
            "--port",
            "{port}",
        ]
        server = CommandServer(
            argv, env=env, cwd=ROOT, log_path=log, startup_timeout=60
        )
    load_start = [round(x, 2) for x in os.getloadavg()]
    server.start()
    pid = server.process.pid
    started = time.monotonic()
    own_cpu0 = sum(os.times()[:2])
    samples: list[dict[str, Any]] = []
    quiet: list[dict[str, Any]] = []
    tally, gate = Tally(), Gate()

    def sample(kind: str, census: dict[str, Any] | None = None) -> dict[str, Any]:
        row = {
            "kind": kind,
            "elapsed_s": round(time.monotonic() - started, 1),
            **proc_sample(pid),
        }
        census = census or (None if args.plain else last_census(stats))
        if census:
            row["greenlets"] = census["greenlets"]
            row["greenlets_alive"] = census["greenlets_alive"]
            row["objects"] = census["objects"]
            for key in ("types", "greenlet_kinds"):
                if key in census:
                    row[key] = census[key]
        row["sessions_completed"] = tally.counts["sessions_completed"]
        row["client_failures"] = sum(tally.failures.values())
        row["server_errors"] = len(server_errors(log))
        row["loadavg_1m"] = round(os.getloadavg()[0], 2)
        return row

    def quiet_point(label: str) -> dict[str, Any]:
        # Connections closed a moment ago: let the server finish with them
        # (its fds settle), then ask for a census with types.
        last, steady = None, 0
        for _ in range(40):
            fds = proc_sample(pid)["fds"]
            steady = steady + 1 if fds == last else 0
            if steady >= 3:
                break
            last = fds
            time.sleep(0.5)
        census, waited = None, time.monotonic()
        if not args.plain:
            # A closed socket's Engine.IO ping greenlet ends at its next beat
            # (ping_interval, 25 s): wait for those, no longer than 40 s.
            for _ in range(20):
                census = fresh_census(stats)
                if census is None or not any(
                    "_send_ping" in kind for kind in census.get("greenlet_kinds", {})
                ):
                    break
                time.sleep(2.0)
        row = sample(label, census)
        row["settle_s"] = round(time.monotonic() - waited, 1)
        quiet.append(row)
        samples.append(row)
        print(_line(row), flush=True)
        return row

    quiet_point("quiet:start")
    pairs = [Pair(p, server.url, args, tally, gate) for p in plan]
    until = started + args.minutes * 60
    spread = args.login_spread / max(1, len(pairs))
    workers = [
        gevent.spawn(pair.run, until, i * spread) for i, pair in enumerate(pairs)
    ]

    next_sample = time.monotonic() + args.sample_seconds
    quiet_every = args.quiet_every * 60
    next_quiet = started + quiet_every if quiet_every else float("inf")
    while not all(w.dead for w in workers):
        now = time.monotonic()
        if now >= next_quiet and now < until - 60:
            gate.close()
            alive = [w for w in workers if not w.dead]
            # A pair in trouble may wait minutes (state time-outs, or a session
            # left waiting for its no-show); past 5 minutes the point is taken
            # anyway, marked incomplete, and left out of the verdict.
            wait_until = time.monotonic() + 300
            while gate.waiting < len(alive) and time.monotonic() < wait_until:
                time.sleep(0.2)
                alive = [w for w in workers if not w.dead]
            minute = round((time.monotonic() - started) / 60)
            row = quiet_point(f"quiet:{minute}min")
            row["complete"] = gate.waiting >= len(alive)
            gate.open()
            next_quiet += quiet_every
            next_sample = time.monotonic() + args.sample_seconds
        if now >= next_sample:
            row = sample("run")
            samples.append(row)
            print(_line(row), flush=True)
            next_sample += args.sample_seconds
        time.sleep(0.2)
    ran_s = time.monotonic() - started
    quiet_point("quiet:end")
    own_cpu = sum(os.times()[:2]) - own_cpu0
    server.stop()
    if not args.keep_db:
        shutil.rmtree(tmp, ignore_errors=True)
    errors = server_errors(log)
    load_end = [round(x, 2) for x in os.getloadavg()]
    report = {
        "stamp": stamp,
        "options": vars(args),
        "machine": machine(None),
        # Other work in the same tree: what the server ran beside HEAD.
        "ally_files_differing_from_head": subprocess.run(
            ["git", "diff", "--name-only", "HEAD", "--", "ally", "app.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split(),
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "seeded": seeded,
        "ran_minutes": round(ran_s / 60, 2),
        "driver_cpu_s": round(own_cpu, 1),
        "counts": dict(tally.counts),
        "failures": dict(tally.failures),
        "failure_examples": tally.examples,
        "ack_ms": _percentiles(tally.ack_ms),
        "server_errors": errors[:50],
        "server_error_count": len(errors),
        "server_log": str(log.relative_to(ROOT)),
        "samples": samples,
        "quiet": quiet,
    }
    report["verdict"] = verdict(report, args)
    out = RESULTS / f"soak-{stamp}.json"
    out.write_text(json.dumps(report, indent=1, default=str))
    table = markdown(report)
    out.with_suffix(".md").write_text(table)
    print(table, flush=True)
    print(f"results: {out.relative_to(ROOT)}", flush=True)
    return report


def _percentiles(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    pick = lambda p: round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)  # noqa: E731
    return {
        "n": len(ordered),
        "p50": pick(0.5),
        "p99": pick(0.99),
        "max": round(ordered[-1], 1),
    }


def verdict(report: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Flat or not, and why."""
    samples = report["samples"]
    slope = slope_mib_per_min([s for s in samples if s["kind"] == "run"], 15)
    after = [
        q
        for q in report["quiet"]
        if q["elapsed_s"] >= args.warmup * 60 and q.get("complete", True)
    ]
    reasons = []
    quiet_slope = None
    if len(after) >= 2:
        # Quiet points compare like with like: nothing connected, after a
        # full collection.
        minutes = (after[-1]["elapsed_s"] - after[0]["elapsed_s"]) / 60
        quiet_slope = (after[-1]["rss_mib"] - after[0]["rss_mib"]) / minutes
        if quiet_slope > args.rss_slope_bound:
            reasons.append(
                f"RSS at quiet points grows {quiet_slope:.2f} MiB/min "
                f"(bound {args.rss_slope_bound})"
            )
        base, last = after[0], after[-1]
        if "objects" in base and last["objects"] > base["objects"] * (
            1 + args.object_growth
        ):
            reasons.append(
                f"objects surviving a full collection {base['objects']} -> "
                f"{last['objects']}"
            )
        for q in after[1:]:
            for key in ("fds", "greenlets_alive"):
                if key in q and key in base and q[key] > base[key] + args.tolerance:
                    reasons.append(f"{key} {base[key]} -> {q[key]} at {q['kind']}")
    else:
        reasons.append("fewer than two quiet points after warm-up")
    if report["server_error_count"]:
        reasons.append(f"{report['server_error_count']} error lines in the server log")
    if report["failures"]:
        reasons.append(f"{sum(report['failures'].values())} client failures")
    growth = None
    if len(after) >= 2 and "objects" in after[0]:
        first, last = after[0], after[-1]
        growth = {
            "objects": last["objects"] - first["objects"],
            "rss_mib": round(last["rss_mib"] - first["rss_mib"], 1),
            "types": _type_growth(first.get("types", {}), last.get("types", {})),
            "greenlet_kinds": _type_growth(
                first.get("greenlet_kinds", {}), last.get("greenlet_kinds", {})
            ),
        }
    return {
        "flat": not reasons,
        "reasons": reasons,
        "rss_slope_mib_per_min_last_15": None if slope is None else round(slope, 3),
        "rss_mib_per_min_between_quiet_points": (
            None if quiet_slope is None else round(quiet_slope, 3)
        ),
        "growth_between_quiet_points": growth,
    }


def _type_growth(first: dict[str, int], last: dict[str, int]) -> dict[str, int]:
    """The object types that grew most between two censuses."""
    grown = {t: last.get(t, 0) - first.get(t, 0) for t in set(first) | set(last)}
    return dict(sorted(grown.items(), key=lambda kv: -kv[1])[:12])


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['elapsed_s'] / 60:6.1f} min {row['kind']:<14}"
        f" rss {row['rss_mib']:7.1f} MiB"
        f"  fds {row['fds']:4d}  threads {row['threads']:3d}"
        f"  greenlets {row.get('greenlets_alive', '-')!s:>5}"
        f"  sessions {row['sessions_completed']:6d}"
        f"  failures {row['client_failures']}  errors {row['server_errors']}"
        f"  load {row['loadavg_1m']}"
    )


def markdown(report: dict[str, Any]) -> str:
    """The samples table (start, every few minutes, quiet points, end), verdict."""
    samples = report["samples"]
    every = report["options"]["table_minutes"] * 60
    shown, next_at = [], 0.0
    for row in samples:
        if row["kind"].startswith("quiet") or row["elapsed_s"] >= next_at:
            shown.append(row)
            if not row["kind"].startswith("quiet"):
                next_at = row["elapsed_s"] // every * every + every
    lines = [
        f"Soak {report['stamp']}: {report['options']['pairs']} pairs, "
        f"{report['ran_minutes']} min, load average {report['loadavg_start']} at the "
        f"start, {report['loadavg_end']} at the end "
        f"({report['machine']['nproc']} cores, {report['machine']['cpu']}).",
        "",
        "| min | sample | RSS MiB | fds | threads | greenlets (alive) | objects"
        " | server CPU s | sessions done | client failures | server errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in shown:
        greenlets = (
            f"{row['greenlets']} ({row['greenlets_alive']})"
            if "greenlets" in row
            else "-"
        )
        lines.append(
            f"| {row['elapsed_s'] / 60:.1f} | {row['kind']} | {row['rss_mib']:.1f} "
            f"| {row['fds']} | {row['threads']} | {greenlets} "
            f"| {row.get('objects', '-')} | {row['cpu_s']:.0f} "
            f"| {row['sessions_completed']} | {row['client_failures']} "
            f"| {row['server_errors']} |"
        )
    v = report["verdict"]
    counts = report["counts"]
    lines += [
        "",
        f"Sessions completed {counts.get('sessions_completed', 0)}, failed "
        f"{counts.get('sessions_failed', 0)}; signals {counts.get('signals_sent', 0)}; "
        f"acks {report['ack_ms']}; HTTP requests {counts.get('http', 0)}; "
        f"websocket connects {counts.get('connects', 0)}; turns ended by the clock "
        f"{counts.get('turns_clock_teach', 0)} (teaching), "
        f"{counts.get('turns_clock_rate', 0)} (rating).",
        "RSS slope over the last 15 min: "
        f"{v['rss_slope_mib_per_min_last_15']} MiB/min; between the quiet points "
        f"after warm-up: {v['rss_mib_per_min_between_quiet_points']} MiB/min.",
        f"Growth between the first quiet point after warm-up and the last: "
        f"{v['growth_between_quiet_points']}.",
        f"Client failures: {report['failures'] or 'none'}; server error lines: "
        f"{report['server_error_count']}.",
        f"Verdict: {'FLAT' if v['flat'] else 'NOT FLAT: ' + '; '.join(v['reasons'])}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.soak [options]` or `python -m bench.soak serve ...`."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument(
        "--teach-seconds",
        type=int,
        default=30,
        help="a turn's teaching deadline (most turns end sooner)",
    )
    parser.add_argument("--rate-seconds", type=int, default=15)
    parser.add_argument("--signals", type=int, default=4, help="signals a turn")
    parser.add_argument(
        "--signal-gap",
        type=float,
        default=2.5,
        help="mean seconds between a listener's signals",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=20.0,
        help="mean seconds between a pair's sessions",
    )
    parser.add_argument(
        "--login-spread",
        type=float,
        default=120.0,
        help="seconds over which the pairs log in and start (not all at once)",
    )
    parser.add_argument(
        "--clock-share",
        type=float,
        default=0.1,
        help="share of turns whose teaching (or rating) runs out",
    )
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument(
        "--quiet-every",
        type=float,
        default=5.0,
        help="minutes between quiet points (0: only start and end)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=10.0,
        help="minutes (pools and caches fill); the first quiet point after is the base",
    )
    parser.add_argument(
        "--table-minutes",
        type=float,
        default=2.0,
        help="minutes between the table's rows",
    )
    parser.add_argument(
        "--rss-slope-bound",
        type=float,
        default=0.5,
        help="MiB/min of RSS growth between the quiet points after warm-up",
    )
    parser.add_argument(
        "--object-growth",
        type=float,
        default=0.05,
        help="allowed growth of objects surviving a full collection (fraction)",
    )
    parser.add_argument(
        "--tolerance",
        type=int,
        default=2,
        help="fds / greenlets above the first quiet point after warm-up",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="start `python app.py` itself (no greenlet counts)",
    )
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="keep the temporary directory (SQLite file, census lines)",
    )
    args = parser.parse_args(argv)
    report = run(args)
    sys.exit(0 if report["verdict"]["flat"] else 1)


if __name__ == "__main__":
    main()
