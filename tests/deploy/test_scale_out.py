"""The scale-out topology end to end (issue 13): nginx in front of two web
processes, one scheduler and its standby, a fresh PostgreSQL database and a
Redis of the test's own, all on loopback, started by `ally.deploy.local`.

Ann and Ben run a whole session with their sockets on different web processes
(their sockets name no room, so nginx hashes on the client address, which
each client gives as X-Forwarded-For from loopback). Ann long-polls with an
API token; Ben logs in through the login form and uses a WebSocket with his
cookie. Three faults
strike during it:

(a) Ben's web process is killed with SIGKILL. Ann sees Ben offline once the
    living process notices the silent heartbeat; Ben reconnects through nginx
    (which fails over to the living process), rejoins and goes on. The killed
    process is restarted and Ben moves back to it.
(b) Redis is restarted. Each page hears from its own process that the live
    service is away (`service` ok: false); events are still acknowledged and
    stored, their pushes lost. Once Redis answers and each process listens on
    it again, each pushes its rooms' stored state and says `service` ok: true:
    both pages hold the topic named during the outage, with no other event
    behind it, and every stored signal.
(c) The scheduler holding the lock is killed. The standby takes over, and a
    phase deadline with no event behind it is still pushed to both.

At the end every acknowledged signal and rating is in the database exactly
once. The figures (presence after the crash, failover) are printed.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import requests
import socketio
from sqlalchemy import text

from ally import create_app
from ally.deploy.local import Topology
from ally.extensions import db
from ally.models import utcnow
from ally.services import accounts, partners, profiles, schedule, tokens
from tests.conftest import PASSWORD
from tests.support.services import fresh_postgres_database
from tests.support.topology import RedisServer, require_nginx

pytestmark = [pytest.mark.live, pytest.mark.postgres, pytest.mark.redis]

SECRET_KEY = "ally-scale-out-tests"
WAIT = 20.0  # generous: the box is shared; nothing here is a timing assertion
PRESENCE_PROMISE = 30.0  # DESIGN.md §6: a dead server's sockets gone within 30 s
FAILOVER_TARGET = 10.0  # issue 13
RECOVERY_WAIT = 90.0  # python-socketio listens on Redis again after 1, 2, 4… s
RATE_SECONDS = 8  # the pause after a turn: its deadline is the scheduler's to push
CHANNEL = "flask-socketio"  # Flask-SocketIO's channel on the message queue
SERVER_EVENTS = ("session_state", "signal", "presence", "rated", "call", "service")
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Seeded:
    ann: int
    ben: int
    session: int
    ann_token: str


def seed(database_url: str) -> Seeded:
    """Ann and Ben, partners, with a two-turn extra session starting now (Ann
    teaches first), made through the services."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SOCKETIO_MESSAGE_QUEUE": None,
            "ALLY_SCHEDULER": "off",
            "ALLY_MIN_RATE_SECONDS": RATE_SECONDS,
        }
    )
    with app.app_context():
        now = utcnow()
        ann = accounts.register("ann@example.com", PASSWORD, "Ann", "Europe/London")
        ben = accounts.register("ben@example.com", PASSWORD, "Ben", "Europe/London")
        for user in (ann, ben):
            profiles.update_profile(
                user.id, {"availability": [{"start": "00:00", "end": "23:30"}]}
            )
        request = partners.send_request(ann.id, ben.id, "", now)
        partnership = partners.accept_request(ben.id, request.id, now)
        session = schedule.create_extra_session(
            ann.id,
            partnership.id,
            now,
            turns=2,
            teach_seconds=600,  # teaching ends by finish_turn, never by itself
            rate_seconds=RATE_SECONDS,
        )
        _, token = tokens.create_token(ann.id, "scale-out test")
        seeded = Seeded(ann.id, ben.id, session.id, token)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return seeded


def login_cookie(url: str, email: str, forwarded_for: str) -> str:
    """Log in through the login form (via nginx); the Cookie header it earns."""
    browser = requests.Session()
    browser.headers["X-Forwarded-For"] = forwarded_for
    page = browser.get(f"{url}/login", timeout=WAIT)
    token = CSRF_INPUT.search(page.text).group(1)
    answer = browser.post(
        f"{url}/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=WAIT,
    )
    assert answer.status_code in (302, 303), answer.text
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


class Partner:
    """One student's python-socketio client through nginx, recording every
    event it receives as (name, payload, wall-clock time).

    Each `connect` is a new connection (as a reloaded page's), from the
    client address `forwarded_for`; reconnecting is the test's decision.
    """

    def __init__(
        self,
        name: str,
        user_id: int,
        url: str,
        *,
        forwarded_for: str,
        transports: list[str],
        token: str | None = None,
        cookie: str | None = None,
    ) -> None:
        self.name = name
        self.user_id = user_id
        self.url = url
        self.forwarded_for = forwarded_for
        self.transports = transports
        self.token = token
        self.cookie = cookie
        self.sio: socketio.Client | None = None
        self.http: requests.Session | None = None
        self.received: list[tuple[str, Any, float]] = []
        self.acks: dict[str, Any] = {}
        self.changed = threading.Condition()

    def _record(self, name: str, payload: Any = None) -> None:
        with self.changed:
            self.received.append((name, payload, time.time()))
            self.changed.notify_all()

    def connect(self) -> Partner:
        # Every request carries the client's address: python-engineio sends
        # `headers` with the handshake only, its session's headers always.
        # A browser's Origin too (websocket-client adds its own to a WebSocket).
        http = requests.Session()
        http.headers["X-Forwarded-For"] = self.forwarded_for
        if "polling" in self.transports:
            http.headers["Origin"] = self.url
        self.http = http
        self.sio = socketio.Client(reconnection=False, http_session=http)
        for name in SERVER_EVENTS:
            self.sio.on(name, partial(self._record, name))
        headers = {"X-Forwarded-For": self.forwarded_for}
        if self.cookie:
            headers["Cookie"] = self.cookie
        self.sio.connect(
            self.url,
            headers=headers,
            auth={"token": self.token} if self.token else None,
            transports=self.transports,
            wait_timeout=WAIT,
        )
        return self

    @property
    def sid(self) -> str:
        return self.sio.get_sid()

    def close(self) -> None:
        if self.sio is not None:
            websocket = self.sio.eio.ws
            self.sio.disconnect()
            if websocket is not None:
                websocket.shutdown()  # a killed server sent no close frame
            self.http.close()

    def wait_disconnected(self) -> None:
        wait_until(f"{self.name} to notice the drop", lambda: not self.sio.connected)

    def ok(self, event: str, payload: dict) -> dict:
        ack = self.sio.call(event, payload, timeout=WAIT)
        assert isinstance(ack, dict) and ack["ok"] is True, (self.name, event, ack)
        return ack

    def send(self, key: str, event: str, payload: dict) -> None:
        """Emit without waiting; the ack (if one comes) lands in `acks[key]`."""

        def on_ack(answer: Any = None) -> None:
            with self.changed:
                self.acks[key] = answer
                self.changed.notify_all()

        self.sio.emit(event, payload, callback=on_ack)

    def wait(self, what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
        """Wait until check() (called under the lock) returns something truthy."""
        with self.changed:
            result = self.changed.wait_for(check, timeout)
        assert result, (
            f"{self.name}: timed out after {timeout:.0f} s waiting for {what}"
        )
        return result

    def first(
        self,
        name: str,
        match: Callable[[Any], bool],
        after: int = 0,
        timeout: float = WAIT,
    ) -> tuple[int, Any, float]:
        """The first event `name` from position `after` that matches: (position,
        payload, when received)."""

        def found():
            for position in range(after, len(self.received)):
                event, payload, at = self.received[position]
                if event == name and match(payload):
                    return position, payload, at
            return None

        return self.wait(f"{name} matching", found, timeout)

    def mark(self) -> int:
        with self.changed:
            return len(self.received)

    def words(self) -> set[str]:
        with self.changed:
            return {p["word"] for e, p, _ in self.received if e == "signal"}


def unexpected_tracebacks(log: str) -> list[str]:
    """Logged tracebacks, but those of Redis being away (fault b)."""
    blocks = log.split("Traceback (most recent call last)")[1:]
    return [b for b in blocks if "redis.exceptions.ConnectionError" not in b[:5000]]


def wait_until(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Ledger:
    """Every signal sent (by its unique word) and what its ack said."""

    acked: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    unanswered: set[str] = field(default_factory=set)
    ratings: list[dict] = field(default_factory=list)
    count: int = 0

    def word(self) -> str:
        self.count += 1
        return f"w{self.count:02d}"

    def settle(self, partner: Partner, words: list[str]) -> None:
        """File the acks `partner` received for `words` (sent with `send`)."""
        with partner.changed:
            for word in words:
                ack = partner.acks.get(word)
                if ack is None:
                    self.unanswered.add(word)
                elif ack.get("ok"):
                    assert ack["signal"]["word"] == word, ack
                    self.acked.add(word)
                else:
                    self.refused.add(word)


def send_signals(
    listener: Partner, ledger: Ledger, session_id: int, n: int
) -> list[str]:
    """`n` signals from the listener, each acknowledged ok; their words."""
    words = []
    for kind in ("jargon", "lost", "slower", "clear", "why")[:n]:
        word = ledger.word()
        payload = {"session_id": session_id, "kind": kind, "word": word}
        ack = listener.ok("signal", payload)
        assert ack["signal"]["word"] == word
        ledger.acked.add(word)
        words.append(word)
    return words


def web_of(topology: Topology, sid: str) -> int:
    """Which web process holds a socket (its live_sockets row says)."""
    with topology.engine.connect() as connection:
        instance = connection.execute(
            text("SELECT instance FROM live_sockets WHERE sid = :sid"), {"sid": sid}
        ).scalar_one()
    return topology.web_ports.index(int(instance.rsplit(":", 1)[1]))


def instance_of(topology: Topology, index: int) -> str:
    with topology.engine.connect() as connection:
        return connection.execute(
            text("SELECT name FROM server_instances WHERE name LIKE :port"),
            {"port": f"%:{topology.web_ports[index]}"},
        ).scalar_one()


def stored_signal_words(topology: Topology, session_id: int) -> dict[str, int]:
    with topology.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT word, count(*) FROM signals WHERE session_id = :sid"
                " GROUP BY word"
            ),
            {"sid": session_id},
        ).all()
    return {word: count for word, count in rows}


def stored_tally(topology: Topology, session_id: int, turn: int) -> dict[str, int]:
    with topology.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.kind, count(*) FROM signals s JOIN turns t"
                " ON t.id = s.turn_id WHERE s.session_id = :sid AND t.index = :turn"
                " GROUP BY s.kind"
            ),
            {"sid": session_id, "turn": turn},
        ).all()
    return {kind: count for kind, count in rows}


def last_job_run(topology: Topology) -> float | None:
    with topology.engine.connect() as connection:
        value = connection.execute(
            text(
                "SELECT extract(epoch FROM last_run_at) FROM job_runs"
                " WHERE job_id = 'advance_phases'"
            )
        ).scalar()
    return None if value is None else float(value)


def subscribers(redis: RedisServer) -> int:
    client = redis.client()
    try:
        return dict(client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0)
    finally:
        client.close()


def connect_apart(
    topology: Topology, ann: Partner, make_ben: Callable[[str], Partner]
) -> Partner:
    """Ben from a client address nginx sends to the other web process than Ann's."""
    ann_web = web_of(topology, ann.sid)
    for n in range(2, 40):
        ben = make_ben(f"10.0.{n}.1").connect()
        if web_of(topology, ben.sid) != ann_web:
            return ben
        ben.close()
    pytest.fail("no client address sent Ben to the other web process")


def reconnect_to(topology: Topology, partner: Partner, index: int) -> None:
    """Reconnect (a page reload) until nginx sends `partner` to web process
    `index`: once nginx tries a process it had marked down, its clients'
    addresses hash to it again."""

    def landed() -> bool:
        partner.close()
        partner.connect()
        return web_of(topology, partner.sid) == index

    wait_until(f"{partner.name} back on web process {index}", landed)


@pytest.fixture
def redis_server(tmp_path):
    with RedisServer(tmp_path) as redis:
        yield redis


@pytest.fixture
def topology(tmp_path, redis_server):
    require_nginx()
    with fresh_postgres_database() as database_url:
        running = Topology(
            database_url,
            redis_server.url,
            web=2,
            run_dir=tmp_path / "topology",
            env={
                "SECRET_KEY": SECRET_KEY,
                "ALLY_HEARTBEAT_SECONDS": "5",
                "ALLY_INSTANCE_DEAD_SECONDS": "20",
            },
        )
        try:
            running.start()
            yield running
        finally:
            running.stop()


def test_a_whole_session_across_processes_survives_three_faults(topology, redis_server):
    seeded = seed(topology.database_url)
    sid = seeded.session
    ledger = Ledger()
    figures: dict[str, float] = {}

    ann = Partner(
        "Ann",
        seeded.ann,
        topology.url,
        forwarded_for="10.0.1.1",
        transports=["polling"],  # every request must reach the same process
        token=seeded.ann_token,
    ).connect()
    cookie = login_cookie(topology.url, "ben@example.com", "10.0.2.1")

    def make_ben(address: str) -> Partner:
        return Partner(
            "Ben",
            seeded.ben,
            topology.url,
            forwarded_for=address,
            transports=["websocket"],
            cookie=cookie,
        )

    ben = connect_apart(topology, ann, make_ben)
    clients = [ann, ben]
    try:
        ann_web, ben_web = web_of(topology, ann.sid), web_of(topology, ben.sid)
        assert ann_web != ben_web

        # --- both join; teaching starts; the call's signalling -------------
        ann.ok("join_session", {"session_id": sid})
        joined = ben.ok("join_session", {"session_id": sid})["state"]
        assert {p["user_id"]: p["online"] for p in joined["participants"]} == {
            seeded.ann: True,
            seeded.ben: True,
        }
        ann.first(
            "presence", lambda p: (p["user_id"], p["online"]) == (ben.user_id, True)
        )
        for partner in (ann, ben):
            partner.first(
                "session_state",
                lambda s: (
                    (s["status"], s["phase"], s["turn"]) == ("live", "teaching", 0)
                ),
            )
        ann.ok("set_topic", {"session_id": sid, "title": "Photosynthesis"})
        ben.first("session_state", lambda s: s["turns"][0]["topic"] == "Photosynthesis")

        offer = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}
        ann.ok("call", {"session_id": sid, "kind": "offer", "data": offer})
        ben.first(
            "call",
            lambda c: (
                (c["kind"], c["from_user_id"], c["data"])
                == ("offer", ann.user_id, offer)
            ),
        )
        answer = {"type": "answer", "sdp": "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\n"}
        ben.ok("call", {"session_id": sid, "kind": "answer", "data": answer})
        ann.first("call", lambda c: (c["kind"], c["data"]) == ("answer", answer))
        candidate = {
            "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
        }
        ann.ok("call", {"session_id": sid, "kind": "candidate", "data": candidate})
        ben.first("call", lambda c: c["kind"] == "candidate" and c["data"] == candidate)

        # --- turn 0: Ben listens; his signals reach Ann on the other process --
        first_words = send_signals(ben, ledger, sid, 3)
        ann.wait("Ben's signals", lambda: set(first_words) <= ann.words())

        # --- fault (a): Ben's web process is killed mid-burst ---------------
        burst = [ledger.word() for _ in range(4)]
        for word in burst:
            ben.send(
                word, "signal", {"session_id": sid, "kind": "slower", "word": word}
            )
        ben.wait("a first ack of the burst", lambda: any(w in ben.acks for w in burst))
        dead_instance = instance_of(topology, ben_web)
        topology.kill_web(ben_web)
        killed_at = time.time()
        ledger.settle(ben, burst)
        mark = ann.mark()
        _, _, seen_at = ann.first(
            "presence",
            lambda p: (p["user_id"], p["online"]) == (ben.user_id, False),
            after=mark,
            timeout=PRESENCE_PROMISE + 15,
        )
        figures["presence_offline_s"] = seen_at - killed_at
        with topology.engine.connect() as connection:
            left = connection.execute(
                text("SELECT count(*) FROM live_sockets WHERE instance = :name"),
                {"name": dead_instance},
            ).scalar_one()
        assert left == 0  # the crashed process's sockets are forgotten
        ben.wait_disconnected()

        # Ben reconnects through nginx from the same address: the dead process
        # refuses, nginx passes the handshake to the living one.
        ben.close()
        ben.connect()
        assert web_of(topology, ben.sid) == ann_web
        mark = ann.mark()
        state = ben.ok("join_session", {"session_id": sid})["state"]
        assert (state["status"], state["phase"], state["turn"]) == (
            "live",
            "teaching",
            0,
        )
        ann.first(
            "presence",
            lambda p: (p["user_id"], p["online"]) == (ben.user_id, True),
            after=mark,
        )
        # Every acknowledged signal so far is in the rejoined snapshot's tally.
        assert state["turns"][0]["signals"] == stored_tally(topology, sid, 0)
        more = send_signals(ben, ledger, sid, 2)
        ann.wait("Ben's signals after his reconnect", lambda: set(more) <= ann.words())

        # The killed process comes back, and Ben's address goes to it again.
        topology.start_web(ben_web)
        reconnect_to(topology, ben, ben_web)
        ben.ok("join_session", {"session_id": sid})

        # --- fault (b): Redis restarts ------------------------------------
        listening = subscribers(redis_server)
        marks = [partner.mark() for partner in clients]
        redis_server.stop()
        stopped = time.monotonic()
        # Each page hears from its own process (not through the queue, which
        # is gone) that the live service is away.
        for partner, mark in zip(clients, marks, strict=True):
            _, away, _ = partner.first("service", lambda s: not s["ok"], after=mark)
            assert away["message"], away
        figures["outage_told_s"] = time.monotonic() - stopped
        # While it is down, events are still stored and acknowledged; only
        # their pushes are lost.
        outage_word = ledger.word()
        sent = time.monotonic()
        ben.send(
            outage_word,
            "signal",
            {"session_id": sid, "kind": "lost", "word": outage_word},
        )
        ben.wait("the outage signal's ack", lambda: outage_word in ben.acks)
        figures["outage_ack_s"] = time.monotonic() - sent
        ledger.settle(ben, [outage_word])
        assert outage_word in ledger.acked, ben.acks[outage_word]
        unseen = "Photosynthesis, unseen"
        ann.ok("set_topic", {"session_id": sid, "title": unseen})
        marks = [partner.mark() for partner in clients]
        redis_server.start()
        started = time.monotonic()
        # Nothing else is sent: each process finds Redis again, pushes the
        # stored state of its rooms, then tells its pages all is well.
        for partner, mark in zip(clients, marks, strict=True):
            back, _, _ = partner.first(
                "service", lambda s: s["ok"], after=mark, timeout=RECOVERY_WAIT
            )
            with partner.changed:
                states = [
                    payload
                    for event, payload, _ in partner.received[mark:back]
                    if event == "session_state"
                ]
            assert states, f"{partner.name}: no snapshot before service ok"
            assert states[-1]["turns"][0]["topic"] == unseen, states[-1]
            assert states[-1]["turns"][0]["signals"] == stored_tally(topology, sid, 0)
        figures["recovered_s"] = time.monotonic() - started
        wait_until(
            "every process to listen on Redis again",
            lambda: subscribers(redis_server) >= listening,
            timeout=RECOVERY_WAIT,
        )
        # Pushes cross processes through the restarted Redis again.
        title = "Photosynthesis, after the restart"
        ann.ok("set_topic", {"session_id": sid, "title": title})
        for partner in (ann, ben):
            _, converged, _ = partner.first(
                "session_state", lambda s: s["turns"][0]["topic"] == title
            )
            assert converged["turns"][0]["signals"] == stored_tally(topology, sid, 0)
        after_restart = send_signals(ben, ledger, sid, 1)
        ann.wait(
            "a relay through the restarted Redis",
            lambda: set(after_restart) <= ann.words(),
        )

        # --- fault (c): the scheduler holding the lock is killed ----------
        killed = topology.kill_scheduler()
        killed_at = time.time()
        (standby,) = wait_until(
            "the standby to take the lock",
            lambda: [i for i in topology.lock_holders() if i != killed],
            timeout=30,
        )
        figures["failover_lock_s"] = time.time() - killed_at
        wait_until(
            "a job run by the standby",
            lambda: (last_job_run(topology) or 0) > killed_at,
            timeout=30,
        )
        figures["failover_job_s"] = time.time() - killed_at
        topology.start_scheduler(killed)  # back as the standby

        mark_ann, mark_ben = ann.mark(), ben.mark()
        rating_state = ann.ok("finish_turn", {"session_id": sid})["state"]
        assert rating_state["phase"] == "rating"
        rating = ben.ok(
            "rate",
            {
                "session_id": sid,
                "turn": 0,
                "simplicity": 4,
                "note": "Clear",
                "jargon": ["chlorophyll"],
            },
        )["rating"]
        ledger.ratings.append(rating)
        ann.first(
            "rated", lambda r: (r["turn"], r["simplicity"]) == (0, 4), after=mark_ann
        )
        ann.ok("summary", {"session_id": sid, "turn": 0, "text": "Light makes sugar."})
        # Ann is not ready: only the deadline ends the pause, and no event
        # comes after it. The standby's clock must push the next turn to both.
        turn_one = lambda s: (s["phase"], s["turn"]) == ("teaching", 1)  # noqa: E731
        _, pushed, ann_at = ann.first(
            "session_state", turn_one, after=mark_ann, timeout=RATE_SECONDS + WAIT
        )
        _, _, ben_at = ben.first(
            "session_state", turn_one, after=mark_ben, timeout=WAIT
        )
        deadline = _instant(rating_state["phase_ends_at"])
        figures["deadline_push_s"] = max(ann_at, ben_at) - deadline
        assert pushed["turns"][0]["simplicity"] == 4
        assert len(topology.lock_holders()) == 1

        # --- turn 1: Ann listens, Ben teaches; the session completes -------
        last_words = send_signals(ann, ledger, sid, 3)
        ben.wait("Ann's signals", lambda: set(last_words) <= ben.words())
        ann.ok(
            "call",
            {
                "session_id": sid,
                "kind": "media",
                "data": {"audio": True, "video": False},
            },
        )
        ben.first("call", lambda c: c["kind"] == "media")
        ben.ok("finish_turn", {"session_id": sid})
        ann.send(
            "rate-1",
            "rate",
            {"session_id": sid, "turn": 1, "simplicity": 5, "note": "", "jargon": []},
        )
        ben.send(
            "summary-1",
            "summary",
            {"session_id": sid, "turn": 1, "text": "Roots drink."},
        )
        ben.send("ready-1", "ready", {"session_id": sid, "turn": 1})
        ann.wait("the rating's ack", lambda: "rate-1" in ann.acks)
        ben.wait(
            "summary and ready acks", lambda: {"summary-1", "ready-1"} <= set(ben.acks)
        )
        assert ann.acks["rate-1"]["ok"] is True, ann.acks["rate-1"]
        assert ben.acks["summary-1"]["ok"] and ben.acks["ready-1"]["ok"], ben.acks
        ledger.ratings.append(ann.acks["rate-1"]["rating"])
        done = lambda s: (s["status"], s["phase"]) == ("completed", "done")  # noqa: E731
        for partner in (ann, ben):
            partner.first("session_state", done)
        ben.ok("call", {"session_id": sid, "kind": "hangup", "data": None})
        ann.first("call", lambda c: c["kind"] == "hangup")

        # The summary, through nginx, on whichever process each lands.
        stored = requests.get(
            f"{topology.url}/api/v1/sessions/{sid}",
            headers={
                "Authorization": f"Bearer {seeded.ann_token}",
                "X-Forwarded-For": "10.0.9.1",
            },
            timeout=WAIT,
        ).json()
        assert stored["status"] == "completed"
        assert [t["simplicity"] for t in stored["turns"]] == [4, 5]
        page = requests.get(
            f"{topology.url}/sessions/{sid}/summary",
            headers={"Cookie": cookie},
            timeout=WAIT,
        )
        assert page.status_code == 200 and title in page.text
        static = requests.get(f"{topology.url}/static/js/room.js", timeout=WAIT)
        # From nginx itself: the app would have added its security headers.
        assert static.status_code == 200, static.status_code
        assert "Content-Security-Policy" not in static.headers
    finally:
        for client in clients:
            client.close()

    # --- every acknowledged signal and rating, exactly once --------------
    stored_words = stored_signal_words(topology, sid)
    assert all(count == 1 for count in stored_words.values()), stored_words
    assert ledger.acked <= set(stored_words), ledger.acked - set(stored_words)
    assert not ledger.refused & set(stored_words)
    assert set(stored_words) <= ledger.acked | ledger.unanswered
    with topology.engine.connect() as connection:
        ratings = connection.execute(
            text(
                "SELECT t.index, r.simplicity, count(*) OVER (PARTITION BY t.index)"
                " FROM ratings r JOIN turns t ON t.id = r.turn_id"
                " WHERE r.session_id = :sid ORDER BY t.index"
            ),
            {"sid": sid},
        ).all()
    assert [(r["turn"], r["simplicity"]) for r in ledger.ratings] == [(0, 4), (1, 5)]
    assert [tuple(row) for row in ratings] == [(0, 4, 1), (1, 5, 1)]

    print(
        "\nscale-out figures:"
        f"\n  partner sees a kill -9'd process's client offline after"
        f" {figures['presence_offline_s']:.1f} s (promise {PRESENCE_PROMISE:.0f} s)"
        f"\n  scheduler failover: standby holds the lock after"
        f" {figures['failover_lock_s']:.1f} s, runs a job after"
        f" {figures['failover_job_s']:.1f} s (target {FAILOVER_TARGET:.0f} s)"
        f"\n  a deadline after the failover reached both partners"
        f" {figures['deadline_push_s']:.2f} s after it fell due"
        f"\n  Redis stopped: both pages told after {figures['outage_told_s']:.1f} s;"
        f" a signal sent meanwhile acknowledged after {figures['outage_ack_s']:.2f} s"
        f"\n  Redis started: both pages had the stored state and `service` ok"
        f" after {figures['recovered_s']:.1f} s"
        f"\n  signals acked {len(ledger.acked)}, unanswered (in flight at the kill)"
        f" {len(ledger.unanswered)}, refused {len(ledger.refused)}"
    )
    for process in topology.processes:
        log = process.log_path.read_text(errors="replace")
        assert not unexpected_tracebacks(log), f"{process.name}:\n{log[-4000:]}"
    assert figures["presence_offline_s"] <= PRESENCE_PROMISE, figures
    assert figures["failover_job_s"] <= FAILOVER_TARGET, figures


def _instant(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()
