"""What an ok ack promises (DESIGN.md §6): the effect is committed, so a
`kill -9` never loses it.

Each round runs a gevent `python app.py` (as in production) with a few live
extra sessions of short turns; in every room both partners play their part as
fast as the room allows: the listener signals (about 5 a second, bursts of 8),
rates each turn, the teacher sometimes finishes early, writes a summary and
says ready (or rates themselves). At a random moment the server is killed with
SIGKILL and started again on the same database. Every item that got an ok ack
(a signal, by its unique word or by session, turn, kind and instant; a rating;
a summary; the teacher's ready) must then be stored exactly once.

The kill moments come from a seeded random generator; the seed is printed
(run with -s to see it) and ALLY_CRASH_SEED=<seed> replays the same moments.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from ally.models import Rating, Signal, Turn
from tests.live.room_kit import (
    OVER,
    Account,
    RoomClient,
    close_all,
    extra_session,
    pair,
    stored,
    wait_for,
)
from tests.support.live_server import LiveServer
from tests.support.services import fresh_postgres_database

pytestmark = pytest.mark.live

SECRET_KEY = "ally-live-crash-tests"
SEED = int(os.environ.get("ALLY_CRASH_SEED") or random.SystemRandom().randrange(2**32))
ROUNDS = 10
PAIRS_PER_ROUND = 3
# The random moment of the kill, in seconds after every room is teaching.
KILL_AFTER = (0.1, 1.8)
# The server allows about 5 signals a second per user, a burst of 8: the
# listener keeps just under it (a refusal would only cost a promise).
SIGNAL_RATE, SIGNAL_BURST = 4.8, 8.0
TICK = 0.02
KINDS_WITHOUT_WORD = ("lost", "slower", "clear")


# --- what the acks promised -------------------------------------------------------


@dataclass
class Promises:
    """Everything the server acknowledged ok (filled on the clients' threads)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    signals: list[dict] = field(default_factory=list)
    ratings: dict[tuple[int, int], tuple[int, str]] = field(default_factory=dict)
    summaries: dict[tuple[int, int], str] = field(default_factory=dict)
    ready: dict[tuple[int, int], int | None] = field(default_factory=dict)
    refused: Counter = field(default_factory=Counter)

    def on_ack(self, event: str, key: Any, ack: Any = None) -> None:
        with self.lock:
            if not isinstance(ack, dict) or ack.get("ok") is not True:
                code = ack.get("error") if isinstance(ack, dict) else repr(ack)
                self.refused[f"{event}:{code}"] += 1
            elif event == "signal":
                self.signals.append(ack["signal"])
            elif event == "rate":
                rating = ack["rating"]
                self.ratings[key] = (rating["simplicity"], rating["note"])
            elif event == "summary":
                self.summaries[key] = ack["summary"]
            elif event in ("ready", "self_rate"):
                self.ready[key] = ack.get("simplicity")

    def counts(self) -> str:
        with self.lock:
            return (
                f"{len(self.signals)} signals, {len(self.ratings)} ratings, "
                f"{len(self.summaries)} summaries, {len(self.ready)} ready"
            )


# --- the partners' parts ----------------------------------------------------------


class Player:
    """One partner in one room: does what their role allows in the current phase.

    Events are emitted without waiting for their acks (as a page does); each ack
    is recorded in `promises` when it comes.
    """

    def __init__(
        self,
        client: RoomClient,
        session_id: int,
        promises: Promises,
        rng: random.Random,
        tag: str,
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.me = client.account.id
        self.promises = promises
        self.rng = rng
        self.tag = tag
        self.tokens = SIGNAL_BURST
        self.refilled = time.monotonic()
        self.sent = 0
        self.done: set[tuple[str, int]] = set()
        self.finish_at: dict[int, float | None] = {}

    def emit(self, event: str, key: Any, payload: dict) -> None:
        self.client.send(
            event,
            {"session_id": self.session_id, **payload},
            lambda ack=None: self.promises.on_ack(event, key, ack),
        )

    def once(self, action: str, turn: int) -> bool:
        if (action, turn) in self.done:
            return False
        self.done.add((action, turn))
        return True

    def step(self) -> None:
        state = self.client.latest_state()
        if state is None or state["status"] != "live":
            return
        index = state["turn"]
        turn = state["turns"][index]
        key = (self.session_id, index)
        if state["phase"] == "teaching":
            if turn["listener_id"] == self.me:
                self.signal(index)
            elif turn["teacher_id"] == self.me:
                self.maybe_finish(index)
        elif state["phase"] == "rating":
            if turn["listener_id"] == self.me and self.once("rate", index):
                rating = {"simplicity": self.rng.randint(1, 5)}
                rating["note"] = f"{self.tag} note {index}"
                self.emit("rate", key, {"turn": index, **rating})
            if turn["teacher_id"] == self.me and self.once("summary", index):
                text = f"{self.tag} summary of turn {index}"
                self.emit("summary", key, {"turn": index, "text": text})
                # This client's events are handled in order: the summary first.
                if self.rng.random() < 0.5:
                    self.emit("ready", key, {"turn": index})
                else:
                    simplicity = self.rng.randint(1, 5)
                    self.emit(
                        "self_rate", key, {"turn": index, "simplicity": simplicity}
                    )

    def signal(self, index: int) -> None:
        now = time.monotonic()
        self.tokens = min(
            SIGNAL_BURST, self.tokens + (now - self.refilled) * SIGNAL_RATE
        )
        self.refilled = now
        if self.tokens < 1:
            return
        self.tokens -= 1
        self.sent += 1
        if self.rng.random() < 0.75:
            payload = {"kind": "jargon", "word": f"{self.tag}n{self.sent}"}
        else:
            payload = {"kind": self.rng.choice(KINDS_WITHOUT_WORD)}
        self.emit("signal", None, payload)

    def maybe_finish(self, index: int) -> None:
        """Sometimes the teacher says "done" early, at a random moment."""
        if index not in self.finish_at:
            early = self.rng.random() < 0.4
            delay = self.rng.uniform(0.2, 0.8)
            self.finish_at[index] = time.monotonic() + delay if early else None
        due = self.finish_at[index]
        if due is not None and time.monotonic() >= due and self.once("finish", index):
            self.emit("finish_turn", None, {})

    def play(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.step()
            except Exception:  # noqa: BLE001 - the server is gone (the kill)
                if stop.wait(TICK):
                    return
            stop.wait(TICK)


# --- checking the database against the promises -----------------------------------


def at(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def broken_promises(engine: Engine, promises: Promises, session_ids: list[int]):
    """Every acked item not stored exactly once (as it was acked); [] is good."""
    with engine.connect() as connection:
        signals = connection.execute(
            select(Signal.session_id, Turn.index, Signal.kind, Signal.word, Signal.at)
            .join(Turn, Turn.id == Signal.turn_id)
            .where(Signal.session_id.in_(session_ids))
        ).all()
        turns = connection.execute(
            select(
                Turn.session_id,
                Turn.index,
                Turn.summary,
                Turn.teacher_ready_at,
                Turn.self_simplicity,
            ).where(Turn.session_id.in_(session_ids))
        ).all()
        ratings = connection.execute(
            select(Rating.session_id, Turn.index, Rating.simplicity, Rating.note)
            .join(Turn, Turn.id == Rating.turn_id)
            .where(Rating.session_id.in_(session_ids))
        ).all()
    broken = []
    # No word is stored twice, acked or not (each was sent once).
    words = Counter(row.word for row in signals if row.word is not None)
    broken += [("signal stored twice", w, n) for w, n in words.items() if n > 1]
    rows = Counter(tuple(row) for row in signals)
    for sent in promises.signals:
        key = (sent["session_id"], sent["turn"], sent["kind"], sent["word"])
        found = rows[(*key, at(sent["at"]))]
        if found != 1:
            broken.append(("signal", sent, found))
    by_turn = {(row.session_id, row.index): row for row in turns}
    rated = Counter((row.session_id, row.index) for row in ratings)
    rating_of = {(row.session_id, row.index): row for row in ratings}
    for key, (simplicity, note) in promises.ratings.items():
        row = rating_of.get(key)
        if rated[key] != 1 or (row.simplicity, row.note) != (simplicity, note):
            broken.append(("rating", key, (simplicity, note), rated[key]))
    for key, text in promises.summaries.items():
        if key not in by_turn or by_turn[key].summary != text:
            broken.append(("summary", key, text))
    for key, self_simplicity in promises.ready.items():
        row = by_turn.get(key)
        if row is None or row.teacher_ready_at is None:
            broken.append(("ready", key))
        elif self_simplicity is not None and row.self_simplicity != self_simplicity:
            broken.append(("self_rate", key, self_simplicity))
    return broken


# --- the rounds --------------------------------------------------------------------


@dataclass
class Pair:
    one: Account
    two: Account
    partnership_id: int
    session_id: int | None = None  # this pair's latest session


def in_the_room(server: LiveServer, session_id: int, accounts) -> list[RoomClient]:
    """Both partners connected (no reconnection: the kill ends them) and joined."""
    clients = []
    for member in accounts:
        client = RoomClient(server, member, reconnection=False).connect()
        clients.append(client)
        client.join(session_id)
    return clients


def crash_round(
    server: LiveServer,
    engine: Engine,
    pairs: list[Pair],
    number: int,
    rng: random.Random,
) -> tuple[Promises, str]:
    """One round: rooms live, traffic, SIGKILL at a random moment, a restart."""
    promises = Promises()
    began = time.monotonic()
    clients: list[RoomClient] = []
    players: list[Player] = []
    for k, couple in enumerate(pairs):
        if couple.session_id is not None:
            # The restarted server's clock ends the pair's previous session.
            previous = couple.session_id
            wait_for(
                f"session {previous} to end after the restart",
                lambda c=couple, p=previous: stored(server, c.one, p)["status"] in OVER,
                timeout=30,
            )
        teach = rng.choice([1, 2])
        couple.session_id = extra_session(
            server, couple.one, couple.partnership_id, turns=2, teach=teach, rate=1
        )
        members = in_the_room(server, couple.session_id, (couple.one, couple.two))
        clients += members
        for client in members:
            tag = f"r{number}s{k}u{client.account.id}"
            seed = rng.randrange(2**32)
            players.append(
                Player(client, couple.session_id, promises, random.Random(seed), tag)
            )
    for client in clients:
        client.wait(
            "the room to teach",
            lambda c=client: (c.latest_state() or {}).get("status") == "live",
        )
    stop = threading.Event()
    threads = [threading.Thread(target=p.play, args=(stop,)) for p in players]
    for thread in threads:
        thread.start()
    delay = rng.uniform(*KILL_AFTER)
    time.sleep(delay)  # the random moment of the crash: the scenario itself
    assert server.kill() == -9
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()
    close_all(clients)
    restarting = time.monotonic()
    server.start()  # the same database, the same port
    timing = (
        f"killed {delay:.2f} s into the traffic (setup {restarting - began - delay:.1f}"
        f" s, restart {time.monotonic() - restarting:.1f} s)"
    )
    return promises, timing


def run_rounds(database_url: str, log_path: Path, backend: str) -> None:
    rng = random.Random(f"{SEED}:{backend}")
    print(f"\ncrash rounds on {backend}: ALLY_CRASH_SEED={SEED}")
    server = LiveServer(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": SECRET_KEY,
            "ALLY_ASYNC_MODE": "gevent",
            "ALLY_SCHEDULER": "on",
            "ALLY_MIN_TEACH_SECONDS": "1",
            "ALLY_MIN_RATE_SECONDS": "1",
            "ALLY_AUTH_RATE_LIMIT": "1000 per minute",
            "SOCKETIO_MESSAGE_QUEUE": "",
        },
        log_path=log_path,
    )
    engine = None
    try:
        server.start()
        engine = create_engine(database_url)
        # Two sets of pairs, used in turn: a pair's previous session has a
        # whole round to end by its deadlines before the pair starts another.
        sets = [
            [
                Pair(*pair(server, f"C{s}{k}a", f"C{s}{k}b"))
                for k in range(PAIRS_PER_ROUND)
            ]
            for s in range(2)
        ]
        totals: Counter = Counter()
        for number in range(ROUNDS):
            pairs = sets[number % 2]
            promises, timing = crash_round(server, engine, pairs, number, rng)
            ids = [couple.session_id for couple in pairs]
            broken = broken_promises(engine, promises, ids)
            print(
                f"round {number}: {timing}; acked "
                f"{promises.counts()}; lost {len(broken)}; "
                f"refused {dict(promises.refused)}"
            )
            assert broken == [], (f"ALLY_CRASH_SEED={SEED} round {number}", broken)
            totals["signals"] += len(promises.signals)
            totals["ratings"] += len(promises.ratings)
            totals["summaries"] += len(promises.summaries)
            totals["ready"] += len(promises.ready)
        print(f"{backend}: {ROUNDS} rounds, acked {dict(totals)}, lost 0")
        # The rounds did test something: signals, and the rating pause's items.
        assert totals["signals"] >= ROUNDS, totals
        assert totals["ratings"] + totals["summaries"] + totals["ready"] > 0, totals
        assert server.log_text().count("--- start:") == ROUNDS + 1
        assert "Traceback" not in server.log_text(), server.log_tail(120)
    finally:
        server.stop()
        if engine is not None:
            engine.dispose()


def test_acked_items_survive_kill_9_on_sqlite(tmp_path):
    run_rounds(f"sqlite:///{tmp_path / 'ally.db'}", tmp_path / "server.log", "sqlite")


@pytest.mark.postgres
def test_acked_items_survive_kill_9_on_postgresql(tmp_path):
    with fresh_postgres_database() as url:
        run_rounds(url, tmp_path / "server.log", "postgresql")
