"""Live room benchmark (issue 4): many sessions, two websocket clients each.

    python -m bench.bench_room --profile realistic --sessions 2000 --server gevent
    python -m bench.bench_room --profile stress --sessions 100,200,400 --server gevent

For each number of sessions, and for each target (`ally`, then the bare
Flask-SocketIO relay `bench/room/bare_relay.py` as the baseline): a fresh
SQLite database seeded in bulk (users, profiles, partnerships, API tokens and
one extra session per partnership, already open), the server started as a
subprocess (`python app.py --port P` through `tests.support.live_server`), the
Node load generator `bench/room/load.mjs` (socket.io-client, in
`--workers` processes), and the server's CPU and memory sampled from /proc.

Profiles:

* realistic: turns of `--teach-seconds` / `--rate-seconds` (default 20 s / 10 s,
  6 turns) so the room changes phase during the run and every client gets the
  `session_state` snapshots; the current listener of each session sends a
  `signal` every `--signal-mean` seconds on average (Poisson) while a turn is
  taught.
* stress: one 30-minute turn (no phase change), `--stress-rate` signals per
  second per session (default 2), evenly spaced.

`--call-signalling` (either profile): right after a session's two clients
joined (so spread over `--join-spread` like the joins), they do a call's worth
of `call` messages as a browser pair would: one `media` each way, an `offer`
(a ~5 KB SDP) and its `answer`, then 10 relay `candidate` messages each way,
each message after the previous one's ack (bench/room/load.mjs). Reported
apart from the signals: sent, acknowledged, relayed (received by the partner),
lost (acknowledged but never received), refused, ack and relay times; a step
with call signalling passes only if none was lost, refused or timed out too.

`--sketching F` (realistic profile; default 0, off): a fraction F of the
sessions (chosen with the seed, the same ones for every target) also sketch
during the run: whoever teaches the current turn sends a `sketch` 10 times a
second, one stroke of 20 points (a random walk inside 0-1000), each after the
previous one's ack, only while the turn is taught. Reported apart: sent,
acknowledged, refused, relayed to the partner, lost (acknowledged but never
received), ack and relay times; such a step passes only if no sketch was lost
or timed out and the sketch relay p99 is under 100 ms too.

Results (every step, every worker's report, the machine, the load average) go
to `bench/results/room-<profile>-<server>-<time>.json` and a markdown table to
the `.md` next to it. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.bench_suggestions import machine, postgres_database
from bench.seed_users import build_rows
from tests.support.live_server import LiveServer

ROOT = Path(__file__).resolve().parents[1]
ROOM = ROOT / "bench" / "room"
RESULTS = ROOT / "bench" / "results"
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
DEFAULT_SEED = 20240604
TOKEN_PREFIX = "ally_"  # ally.services.tokens.TOKEN_PREFIX
# The p99 a step must stay under to count as sustained (issue 4).
P99_TARGET_MS = 100.0

# Server setups: the environment, and how the process is started.
SETUPS: dict[str, dict[str, Any]] = {
    "threading": {"env": {"ALLY_ASYNC_MODE": "threading"}, "runner": "python"},
    "gevent": {"env": {"ALLY_ASYNC_MODE": "gevent"}, "runner": "python"},
    "gunicorn-gevent": {"env": {"ALLY_ASYNC_MODE": "gevent"}, "runner": "gunicorn"},
}


# --- seeding ------------------------------------------------------------------


def _token(rng: random.Random, user_id: int) -> str:
    return f"{TOKEN_PREFIX}bench{user_id:06d}{rng.getrandbits(128):032x}"


def seed_room(
    database_url: str,
    sessions: int,
    *,
    turns: int,
    teach_seconds: int,
    rate_seconds: int,
    seed: int = DEFAULT_SEED,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Migrate and bulk-insert 2 users, a partnership, tokens and an open extra
    session per session; returns the generator's session list and a summary."""
    from sqlalchemy import insert, text

    from ally import create_app
    from ally.database import upgrade_database
    from ally.extensions import db
    from ally.models import (
        ApiToken,
        Partnership,
        Profile,
        SessionParticipant,
        TeachSession,
        User,
    )

    started = time.perf_counter()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "bench-room",
            "ALLY_SCHEDULER": "off",
        }
    )
    upgrade_database(app)
    now = datetime.now(UTC).replace(microsecond=0)
    users, profiles = build_rows(2 * sessions, seed, now.date(), now)
    for profile in profiles:
        # Everyone is already paired: no suggestions, no auto-match pool.
        profile["looking_for_partner"] = False
        profile["auto_match"] = False
    rng = random.Random(seed)
    # A daily time half a day away, so the open_sessions job has nothing to do.
    daily = (now.hour * 60 + now.minute + 720) // 30 * 30 % 1440
    partnerships, teach_sessions, participants, tokens, plan = [], [], [], [], []
    length = timedelta(seconds=turns * (teach_seconds + rate_seconds))
    for k in range(sessions):
        a, b = 2 * k + 1, 2 * k + 2
        partnerships.append(
            {
                "id": k + 1,
                "user_a_id": a,
                "user_b_id": b,
                "daily_minute": daily,
                "timezone": "UTC",
                "session_minutes": 60,
                "turns": 4,
                "weekdays": 127,
                "status": "active",
                "created_at": now - timedelta(days=10),
            }
        )
        # What schedule.create_extra_session stores, started by a.
        teach_sessions.append(
            {
                "id": k + 1,
                "partnership_id": k + 1,
                "scheduled_date": None,
                "local_date": now.date(),
                "kind": "extra",
                "starts_at": now,
                "ends_at": now + length,
                "status": "open",
                "phase": "waiting",
                "current_turn": 0,
                "phase_ends_at": None,
                "turns": turns,
                "teach_seconds": teach_seconds,
                "rate_seconds": rate_seconds,
                "first_teacher_id": a,
                "second_teacher_id": b,
                "version": 0,
                "created_at": now,
            }
        )
        pair = []
        for uid in (a, b):
            participants.append({"session_id": k + 1, "user_id": uid, "absent": False})
            raw = _token(rng, uid)
            tokens.append(
                {
                    "user_id": uid,
                    "name": "bench",
                    "token_hash": hashlib.sha256(raw.encode()).hexdigest(),
                    "prefix": raw[:12],
                    "created_at": now,
                    "last_used_at": now,
                }
            )
            pair.append({"id": uid, "token": raw})
        plan.append({"id": k + 1, "users": pair})
    with app.app_context():
        for model, rows in (
            (User, users),
            (Profile, profiles),
            (Partnership, partnerships),
            (TeachSession, teach_sessions),
            (SessionParticipant, participants),
            (ApiToken, tokens),
        ):
            for i in range(0, len(rows), 2000):
                db.session.execute(insert(model.__table__), rows[i : i + 2000])
        if db.engine.dialect.name == "postgresql":
            for table in ("users", "partnerships", "teach_sessions"):
                db.session.execute(
                    text(
                        f"SELECT setval('{table}_id_seq', "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        db.engine.dispose()
    return plan, {
        "users": len(users),
        "sessions": sessions,
        "starts_at": now.isoformat(),
        "seconds": round(time.perf_counter() - started, 2),
    }


# --- servers ------------------------------------------------------------------


class CommandServer(LiveServer):
    """LiveServer with another command line (the bare relay, gunicorn)."""

    def __init__(self, argv: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.argv = argv

    @property
    def command(self) -> list[str]:
        return [
            part.format(host=self.host, port=self.port, python=sys.executable)
            for part in self.argv
        ]


def websocket_implementation(env: dict[str, str]) -> str:
    """Which websocket server Flask-SocketIO will use under gevent there."""
    probe = subprocess.run(
        [sys.executable, "-c", "import geventwebsocket"],
        env={**os.environ, **env},
        capture_output=True,
        check=False,
    )
    return "gevent-websocket" if probe.returncode == 0 else "simple-websocket"


def server_env(args: argparse.Namespace) -> dict[str, str]:
    """Environment of every server process of this run (setup and paths)."""
    env = dict(SETUPS[args.server]["env"])
    if args.pythonpath:
        parts = [args.pythonpath, os.environ.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p)
    return env


def make_server(
    target: str, args: argparse.Namespace, env: dict[str, str], log: Path
) -> LiveServer:
    """The server for one step: Ally or the bare relay, under one setup."""
    spec = SETUPS[args.server]
    env = {**env, **server_env(args)}
    cwd = Path(args.app_dir).resolve()
    if spec["runner"] == "gunicorn":
        module = "app:app" if target == "ally" else "bench.room.bare_relay:app"
        argv = [
            "{python}",
            "-m",
            "gunicorn",
            "-k",
            "gevent",
            "-w",
            "1",
            "--worker-connections",
            "20000",
            "--backlog",
            "2048",
            "-b",
            "{host}:{port}",
            module,
        ]
        return CommandServer(argv, env=env, cwd=cwd, log_path=log, startup_timeout=60)
    if target == "ally":
        return LiveServer(env, cwd=cwd, log_path=log, startup_timeout=60)
    argv = [
        "{python}",
        "bench/room/bare_relay.py",
        "--host",
        "{host}",
        "--port",
        "{port}",
    ]
    return CommandServer(argv, env=env, cwd=cwd, log_path=log, startup_timeout=60)


# --- /proc sampling -----------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_tree(root: int) -> list[int]:
    """The pid and all its descendants (gunicorn has a master and a worker)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_usage(pids: list[int]) -> dict[str, float]:
    """CPU seconds (user + system), RSS MiB and threads of some processes."""
    cpu = rss = threads = 0.0
    for pid in pids:
        fields = _stat(pid)
        if not fields:
            continue
        cpu += (int(fields[11]) + int(fields[12])) / CLOCK_TICK
        threads += int(fields[17])
        rss += int(fields[21]) * PAGE / 2**20
    return {"cpu_s": cpu, "rss_mib": rss, "threads": threads}


def system_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def cpu_by_process(names: dict[int, str]) -> dict[int, tuple[str, float]]:
    """Every process's CPU seconds so far, with a name: `names` for the
    server's own processes, the command for the rest of the box."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        fields = _stat(pid)
        if not fields:
            continue
        try:
            command = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        name = names.get(pid) or command
        found[pid] = (name, (int(fields[11]) + int(fields[12])) / CLOCK_TICK)
    return found


class Sampler:
    """Samples the server and the generators every `interval` seconds."""

    def __init__(
        self,
        server_pids: list[int],
        generator_pids: list[int],
        interval=0.5,
        names: dict[int, str] | None = None,
    ):
        # Every process of the server side (one, or nginx + web + scheduler).
        self.server_pids = server_pids
        # Where the box's CPU went, per process name, between marks.
        self.names = names or {}
        self.processes: dict[str, dict[int, tuple[str, float]]] = {}
        self.generator_pids = generator_pids
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self.marks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _take(self) -> dict[str, Any]:
        server = tree_usage(
            [pid for root in self.server_pids for pid in process_tree(root)]
        )
        gens = tree_usage(self.generator_pids)
        busy, total = system_busy()
        return {
            "t": time.time(),
            "server_cpu_s": server["cpu_s"],
            "server_rss_mib": round(server["rss_mib"], 1),
            "server_threads": server["threads"],
            "gen_cpu_s": gens["cpu_s"],
            "gen_rss_mib": round(gens["rss_mib"], 1),
            "sys_busy": busy,
            "sys_total": total,
            "loadavg1": os.getloadavg()[0],
        }

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self._take())
            self._stop.wait(self.interval)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def mark(self, name: str) -> None:
        """Remember where a stage starts (a sample taken now)."""
        self.samples.append(self._take())
        self.marks[name] = len(self.samples) - 1
        self.processes[name] = cpu_by_process(self.names)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def window(self, start: str, end: str) -> dict[str, Any]:
        """CPU use and memory between two marks."""
        a, b = self.samples[self.marks[start]], self.samples[self.marks[end]]
        wall = b["t"] - a["t"]
        inside = self.samples[self.marks[start] : self.marks[end] + 1]
        cores = os.cpu_count() or 1
        busy = (
            100
            * cores
            * (b["sys_busy"] - a["sys_busy"])
            / max(1, b["sys_total"] - a["sys_total"])
        )
        server = 100 * (b["server_cpu_s"] - a["server_cpu_s"]) / wall
        gen = 100 * (b["gen_cpu_s"] - a["gen_cpu_s"]) / wall
        by_name: dict[str, float] = {}
        before, after = self.processes[start], self.processes[end]
        for pid, (name, cpu) in after.items():
            spent = cpu - before.get(pid, (name, 0.0))[1]
            by_name[name] = by_name.get(name, 0.0) + 100 * spent / wall
        busiest = sorted(by_name.items(), key=lambda item: -item[1])[:10]
        return {
            "cpu_pct_by_process": {
                name: round(pct, 1) for name, pct in busiest if pct >= 0.5
            },
            "wall_s": round(wall, 2),
            "server_cpu_pct": round(
                100 * (b["server_cpu_s"] - a["server_cpu_s"]) / wall, 1
            ),
            "server_rss_mib_end": b["server_rss_mib"],
            "server_rss_mib_max": max(s["server_rss_mib"] for s in inside),
            "server_threads_max": max(s["server_threads"] for s in inside),
            "gen_cpu_pct": round(100 * (b["gen_cpu_s"] - a["gen_cpu_s"]) / wall, 1),
            "machine_busy_pct": round(busy, 1),
            # Everything else on the box (other people's work, the kernel).
            "other_cpu_pct": round(busy - server - gen, 1),
        }


# --- the generator ------------------------------------------------------------


class Generator:
    """One `node load.mjs` process and its line protocol."""

    def __init__(self, config: dict[str, Any], folder: Path, index: int) -> None:
        self.config_path = folder / f"load-{index}.json"
        self.out_path = folder / f"latencies-{index}.json"
        self.config_path.write_text(json.dumps({**config, "out": str(self.out_path)}))
        self.stderr = (folder / f"load-{index}.err").open("w")
        self.process = subprocess.Popen(
            ["node", str(ROOM / "load.mjs"), str(self.config_path)],
            cwd=ROOM,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
        )

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def read(self, stage: str, timeout: float) -> dict[str, Any]:
        """The next report line; fails if the process dies or stays silent."""
        assert self.process.stdout is not None
        result: dict[str, Any] = {}

        def reader() -> None:
            for line in self.process.stdout:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if obj.get("stage") in (stage, "error"):
                    result.update(obj)
                    return

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        thread.join(timeout)
        if not result:
            raise RuntimeError(f"generator gave no '{stage}' report in {timeout:.0f} s")
        if result.get("stage") == "error":
            raise RuntimeError(f"generator failed: {result.get('error')}")
        return result

    def latencies(self) -> dict[str, list[float]]:
        return json.loads(self.out_path.read_text())

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send("close")
                self.process.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.stderr.close()


# --- statistics ---------------------------------------------------------------


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    out: dict[str, Any] = {"n": len(ordered)}
    for p in (50, 95, 99):
        value = percentile(ordered, p)
        out[f"p{p}"] = round(value, 1) if value is not None else None
    out["max"] = round(ordered[-1], 1) if ordered else None
    return out


def sketch_sessions(sessions: int, fraction: float, seed: int) -> set[int]:
    """Which session ids sketch (--sketching): round(fraction x sessions) of
    them (at least one), drawn with the seed, so spread over the join order and
    the workers."""
    count = min(sessions, max(1, round(fraction * sessions)))
    return {k + 1 for k in random.Random(seed).sample(range(sessions), count)}


def _merge_counts(reports: list[dict[str, Any]], key: str) -> dict[str, int]:
    merged: dict[str, int] = {}
    for report in reports:
        for name, count in (report.get(key) or {}).items():
            merged[name] = merged.get(name, 0) + count
    return merged


# --- one step -----------------------------------------------------------------


# Ally as `python app.py`, and Ally as the deployment: nginx in front of
# --web-processes web processes, a scheduler process, PostgreSQL and a Redis
# of its own (ally/deploy/local.py, docs/deploy.md).
NGINX = "ally-nginx"
ALLY_TARGETS = ("ally", NGINX)


def start_topology(stack: ExitStack, folder: Path, url: str, env, args):
    """The deployment for one step (stopped with the step's stack)."""
    from ally.deploy.local import Topology
    from tests.support.topology import RedisServer

    redis = RedisServer(folder).start()
    stack.callback(redis.stop)
    topology = Topology(
        url,
        redis.url,
        web=args.web_processes,
        schedulers=1,
        run_dir=folder / "topology",
        env={k: v for k, v in env.items() if k != "DATABASE_URL"},
    )
    topology.start()
    stack.callback(topology.stop)
    return topology


def database_and_queue_pids(target: str, args: argparse.Namespace) -> list[int]:
    """PostgreSQL's and Redis's processes, when the step uses them.

    With --priority the server runs at a higher priority than the rest of the
    box; a database or queue it waits on at the default priority is starved
    (measured: the two-process step relayed ~560 signals/s of 800 at ~90 % of
    one core, every read waiting on PostgreSQL).
    """
    names = []
    if target == NGINX or args.backend == "postgres":
        names.append("postgres")
    if target == NGINX:
        names.append("redis-server")
    pids = []
    for name in names:
        found = subprocess.run(
            ["pgrep", "-x", name], capture_output=True, text=True, check=False
        ).stdout.split()
        pids += [int(pid) for pid in found]
    return pids


def sockets_per_process(topology) -> dict[str, int]:
    """How nginx spread the sockets: live sockets per web process."""
    from sqlalchemy import text

    with topology.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT instance, count(*) FROM live_sockets GROUP BY instance")
        ).all()
    return {instance: count for instance, count in rows}


def run_step(target: str, sessions: int, args: argparse.Namespace) -> dict[str, Any]:
    """Seed, start the server, connect, join, measure, stop; one result row."""
    stress = args.profile == "stress"
    turns, teach, rate = (
        (2, 1800, 60) if stress else (args.turns, args.teach_seconds, args.rate_seconds)
    )
    result: dict[str, Any] = {
        "target": target,
        "server": args.server,
        "profile": args.profile,
        "sessions": sessions,
        "sockets": 2 * sessions,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"\n== {target}, {sessions} sessions ({args.profile}, {args.server})")
    with ExitStack() as stack:
        folder = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="ally-room-"))
        )
        env = {
            "SECRET_KEY": "bench-room",
            "ALLY_SCHEDULER": "on",
            "ALLY_MIN_TEACH_SECONDS": "1",
            "ALLY_MIN_RATE_SECONDS": "1",
            "ALLY_AUTH_RATE_LIMIT": "1000000 per minute",
        }
        if target in ALLY_TARGETS:
            if args.backend == "postgres" or target == NGINX:
                url = stack.enter_context(postgres_database(args.postgres_url))
            else:
                url = f"sqlite:///{folder}/room.db"
            plan, seeded = seed_room(
                url, sessions, turns=turns, teach_seconds=teach, rate_seconds=rate
            )
            result["seeded"] = seeded
            env["DATABASE_URL"] = url
            print(f"   seeded {seeded['users']} users in {seeded['seconds']} s")
        else:
            plan = [
                {
                    "id": k + 1,
                    "users": [
                        {"id": 2 * k + 1, "token": ""},
                        {"id": 2 * k + 2, "token": ""},
                    ],
                }
                for k in range(sessions)
            ]
        if args.sketching:
            chosen = sketch_sessions(sessions, args.sketching, DEFAULT_SEED)
            for entry in plan:
                entry["sketch"] = entry["id"] in chosen
        if target == NGINX:
            topology = start_topology(stack, folder, url, env, args)
            server_url, server_pids = topology.url, [p.pid for p in topology.processes]
            result["processes"] = {p.name: p.pid for p in topology.processes}

            def log_tail(lines, processes=(*topology.webs, *topology.schedulers)):
                return "\n".join(p.log_tail(lines) for p in processes)
        else:
            log = RESULTS / f"server-{target}-{args.server}.log"
            if log.exists():
                log.unlink()
            server = make_server(target, args, env, log)
            server.start()
            stack.callback(server.stop)
            assert server.process is not None
            server_url, server_pids = server.url, [server.process.pid]
            log_tail = server.log_tail
        if args.priority:
            for pid in server_pids + database_and_queue_pids(target, args):
                prioritize(pid, args.priority)
        config = {
            "url": server_url,
            # Behind nginx (ip_hash), each client its own address, so the
            # sockets spread over the web processes as real users' would.
            "forwardedFor": target == NGINX,
            "profile": args.profile,
            "bare": target == "bare",
            "signalMeanSeconds": args.signal_mean,
            "stressRate": args.stress_rate,
            "connectConcurrency": args.connect_concurrency,
            "joinSpreadSeconds": args.join_spread,
            "phaseMarginMs": 300,
            "perMessageDeflate": not args.no_deflate,
            "callSignalling": args.call_signalling,
        }
        if args.sketching:
            # The bare relay has no phases: its sessions follow this clock.
            config.update(
                sketching=args.sketching,
                turns=turns,
                teachSeconds=teach,
                rateSeconds=rate,
            )
        workers = max(1, min(args.workers, sessions))
        gens = [
            Generator({**config, "sessions": plan[i::workers]}, folder, i)
            for i in range(workers)
        ]
        for gen in gens:
            stack.callback(gen.close)
        names = {g.process.pid: f"generator{i}" for i, g in enumerate(gens)}
        if target == NGINX:
            names.update({p.pid: p.name for p in topology.processes})
        else:
            names[server_pids[0]] = f"server-{target}"
        sampler = Sampler(
            server_pids, [g.process.pid for g in gens], names=names
        ).start()
        stack.callback(sampler.stop)
        sampler.mark("connect")
        budget = 60 + sessions * 0.1
        connected = [g.read("connected", budget) for g in gens]
        sampler.mark("connected")
        for gen in gens:
            gen.send("join")
        # Call signalling ends the join stage. Its worst case, every ack and
        # every wait of a session's chain running out: 19 x 15 s.
        call_budget = 300 if args.call_signalling else 0
        joined = [
            g.read("joined", budget + args.join_spread + call_budget) for g in gens
        ]
        sampler.mark("joined")
        if target == NGINX:
            result["sockets_per_process"] = sockets_per_process(topology)
        for gen in gens:
            gen.send(f"run {args.duration} {args.drain}")
        sampler.mark("run")
        spies = []
        if args.py_spy:
            # Collapsed stacks of each Python server process during the run,
            # waits included (behind nginx: every web process).
            spied = (
                [web.pid for web in topology.webs]
                if target == NGINX
                else [server.process.pid]
            )
            result["py_spy"] = []
            for index, pid in enumerate(spied):
                suffix = f"-web{index}" if target == NGINX else ""
                path = RESULTS / f"py-spy-{target}-{args.server}-{sessions}{suffix}.txt"
                result["py_spy"].append(str(path))
                spies.append(
                    subprocess.Popen(
                        [
                            "py-spy",
                            "record",
                            "--pid",
                            str(pid),
                            "--duration",
                            str(int(args.duration)),
                            "--rate",
                            "200",
                            "--idle",
                            "--format",
                            "raw",
                            "--output",
                            str(path),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        ran = [g.read("ran", args.duration + args.drain + 60) for g in gens]
        sampler.mark("ran")
        for spy in spies:
            spy.wait(timeout=60)
        raw = [g.latencies() for g in gens]
        # Each generator's timed signals (send instant, latency), to see when
        # the slow ones happened.
        label = f"-{args.label}" if args.label else ""
        timeline = RESULTS / f"timeline-{target}-{args.server}-{sessions}{label}.json"
        timeline.write_text(
            json.dumps(
                [
                    {
                        "sent_at_ms": r.get("sent_at_ms", []),
                        "latency_ms": r["latencies_ms"],
                    }
                    for r in raw
                ]
            )
        )
        result["timeline"] = str(timeline)
        result["server_log_tail"] = log_tail(15)
        result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result.update(_summarize(connected, joined, ran, raw, sampler, args, sessions))
    return result


def _summarize(connected, joined, ran, raw, sampler, args, sessions) -> dict[str, Any]:
    latencies = [x for r in raw for x in r["latencies_ms"]]
    acks = [x for r in raw for x in r["ack_ms"]]
    send_seconds = max(r["send_seconds"] for r in ran)
    sum_ = lambda key: sum(r[key] for r in ran)  # noqa: E731
    events = _merge_counts(ran, "events")
    stress = args.profile == "stress"
    offered = sessions * (args.stress_rate if stress else 1 / args.signal_mean)
    out: dict[str, Any] = {
        "duration_s": round(send_seconds, 1),
        "connect": {
            "sockets": sum(c["sockets"] for c in connected),
            "connected": sum(c["connected"] for c in connected),
            "failures": _merge_counts(connected, "failures"),
            "seconds": round(max(c["seconds"] for c in connected), 1),
            # Per-worker percentiles: the worst worker's value is reported.
            "p50_ms": max(c["connect_ms"]["p50"] or 0 for c in connected),
            "p95_ms": max(c["connect_ms"]["p95"] or 0 for c in connected),
            "p99_ms": max(c["connect_ms"]["p99"] or 0 for c in connected),
            "max_ms": max(c["connect_ms"]["max"] or 0 for c in connected),
        },
        "join": {
            "joined": sum(j["joined"] for j in joined),
            "failures": _merge_counts(joined, "failures"),
            "p50_ms": max(j["join_ms"]["p50"] or 0 for j in joined),
            "p99_ms": max(j["join_ms"]["p99"] or 0 for j in joined),
            "phases": _merge_counts(joined, "phases"),
        },
        "signals": {
            "offered_per_s": round(offered, 1),
            "sent": sum_("sent"),
            "acked_ok": sum_("acked_ok"),
            "refused": _merge_counts(ran, "refused"),
            "ack_timeouts": sum_("ack_timeouts"),
            "skipped_not_teaching": sum_("skipped_not_teaching"),
            "received_by_teacher": sum_("received_by_teacher"),
            "lost": sum_("lost"),
            "duplicates": sum_("duplicates"),
            "relayed_per_s": round(sum_("received_by_teacher") / send_seconds, 1),
        },
        "latency_ms": summary(latencies),
        "ack_ms": summary(acks),
        "events_received": events,
        "delivered_events_per_s": round(sum(events.values()) / send_seconds, 1),
        "disconnects": _merge_counts(ran, "disconnects"),
        "generator_errors": _merge_counts(ran, "errors"),
        "generator": {
            "workers": len(ran),
            "cpu_pct_each": [
                round(
                    100
                    * (r["cpu_ms"]["user"] + r["cpu_ms"]["system"])
                    / 1000
                    / send_seconds,
                    1,
                )
                for r in ran
            ],
            "event_loop_delay_p99_ms": [
                round(r["event_loop_delay_ms"]["p99"], 1) for r in ran
            ],
            "event_loop_delay_max_ms": [
                round(r["event_loop_delay_ms"]["max"], 1) for r in ran
            ],
        },
        "resources": {
            "connect": sampler.window("connect", "connected"),
            "join": sampler.window("connected", "joined"),
            "run": sampler.window("run", "ran"),
        },
    }
    sig = out["signals"]
    run_cpu = out["resources"]["run"]["server_cpu_pct"]
    out["server_cpu_ms_per_signal"] = (
        round(run_cpu * 10 / sig["relayed_per_s"], 2) if sig["relayed_per_s"] else None
    )
    p99 = out["latency_ms"]["p99"]
    call_ok = True
    if args.call_signalling:
        out["call"] = _call_summary(joined, raw)
        call = out["call"]
        call_ok = (
            call["lost"] == 0
            and call["ack_timeouts"] == 0
            and not call["refused"]
            and call["sessions_skipped"] == 0
        )
    sketch_ok = True
    if args.sketching:
        out["sketch"] = _sketch_summary(ran, raw, send_seconds)
        sk = out["sketch"]
        sketch_ok = (
            sk["lost"] == 0
            and sk["ack_timeouts"] == 0
            and sk["relay_ms"]["p99"] is not None
            and sk["relay_ms"]["p99"] < P99_TARGET_MS
        )
    out["pass"] = bool(
        call_ok
        and sketch_ok
        and out["connect"]["connected"] == out["connect"]["sockets"]
        and out["join"]["joined"] == out["connect"]["sockets"]
        and sig["lost"] == 0
        and sig["ack_timeouts"] == 0
        and not out["disconnects"]
        and p99 is not None
        and p99 < P99_TARGET_MS
        # Sustained: what was relayed kept up with what was offered (the
        # realistic profile sends only while a turn is taught).
        and (not stress or sig["relayed_per_s"] >= 0.97 * sig["offered_per_s"])
    )
    return out


def _call_summary(joined: list[dict], raw: list[dict]) -> dict[str, Any]:
    """The call signalling of every worker, merged (--call-signalling)."""
    calls = [j["call"] for j in joined]
    total = lambda key: sum(c[key] for c in calls)  # noqa: E731
    sent = _merge_counts(calls, "sent")
    return {
        "sessions": total("sessions"),
        "sessions_completed": total("sessions_completed"),
        "sessions_skipped": total("sessions_skipped"),
        "sent": sum(sent.values()),
        "sent_by_kind": sent,
        "acked_ok": total("acked_ok"),
        "refused": _merge_counts(calls, "refused"),
        "ack_timeouts": total("ack_timeouts"),
        # Acknowledged ok, so the partner should receive each.
        "expected_relayed": total("expected"),
        "relayed": total("received"),
        "lost": total("lost"),
        "duplicates": total("duplicates"),
        "unexpected": total("unexpected"),
        "wait_timeouts": total("wait_timeouts"),
        "sdp_bytes": calls[0]["sdp_bytes"] if calls else None,
        "ack_ms": summary([x for r in raw for x in r.get("call_ack_ms", [])]),
        "relay_ms": summary([x for r in raw for x in r.get("call_relay_ms", [])]),
    }


def _sketch_summary(ran: list[dict], raw: list[dict], seconds: float) -> dict:
    """The sketching of every worker, merged (--sketching)."""
    sketches = [r["sketch"] for r in ran]
    total = lambda key: sum(s[key] for s in sketches)  # noqa: E731
    return {
        "sessions": total("sessions"),
        "sent": total("sent"),
        "sent_per_s": round(total("sent") / seconds, 1),
        "acked_ok": total("acked_ok"),
        "points_acked": total("points_acked"),
        "refused": _merge_counts(sketches, "refused"),
        "ack_timeouts": total("ack_timeouts"),
        "relayed": total("relayed"),
        "relayed_per_s": round(total("relayed") / seconds, 1),
        "lost": total("lost"),
        "mismatched": total("mismatched"),
        "unexpected": total("unexpected"),
        "unacked_received": total("unacked_received"),
        "skipped_unacked": total("skipped_unacked"),
        "skipped_not_teaching": total("skipped_not_teaching"),
        "skipped_turn_full": total("skipped_turn_full"),
        "points_per_message": sketches[0]["points_per_message"] if sketches else None,
        "ack_ms": summary([x for r in raw for x in r.get("sketch_ack_ms", [])]),
        "relay_ms": summary([x for r in raw for x in r.get("sketch_relay_ms", [])]),
    }


# --- output -------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def markdown(results: list[dict[str, Any]]) -> str:
    """One row per step: latency, rates, loss, connect, server CPU and RSS."""
    head = (
        "| Target | Sessions | Sockets | Signals/s offered | relayed "
        "| Events/s delivered "
        "| p50 ms | p95 ms | p99 ms | max ms | Lost | Refused | Connect p50 / p99 ms "
        "| Server CPU % | Server RSS MiB | Generator CPU % | Other CPU % | Load avg "
        "| p99 < 100 ms, no loss |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    rows = [head]
    for r in results:
        if "error" in r:
            rows.append(
                f"| {r['target']} | {r['sessions']} | {r['sockets']} "
                f"| failed: {r['error']} |"
            )
            continue
        s, lat, run = r["signals"], r["latency_ms"], r["resources"]["run"]
        refused = sum(s["refused"].values()) + s["ack_timeouts"]
        rows.append(
            "| "
            + " | ".join(
                _fmt(v)
                for v in (
                    r["target"],
                    r["sessions"],
                    r["sockets"],
                    s["offered_per_s"],
                    s["relayed_per_s"],
                    r["delivered_events_per_s"],
                    lat["p50"],
                    lat["p95"],
                    lat["p99"],
                    lat["max"],
                    s["lost"],
                    refused,
                    f"{r['connect']['p50_ms']:.0f} / {r['connect']['p99_ms']:.0f}",
                    run["server_cpu_pct"],
                    run["server_rss_mib_max"],
                    "+".join(f"{c:.0f}" for c in r["generator"]["cpu_pct_each"]),
                    f"{run['other_cpu_pct']:.0f}",
                    f"{r['loadavg_at_start'][0]:.2f}",
                    "yes" if r["pass"] else "**no**",
                )
            )
            + " |"
        )
    calls = [r for r in results if "call" in r]
    if calls:
        rows += ["", call_markdown(calls)]
    sketching = [r for r in results if "sketch" in r]
    if sketching:
        rows += ["", sketch_markdown(sketching)]
    best = best_rates(results)
    if best:
        rows.append("")
        for target, rate in best.items():
            rows.append(f"- highest sustained relayed rate, {target}: {rate} signals/s")
        if best.get("ally") and best.get("bare"):
            rows.append(f"- Ally / bare: {100 * best['ally'] / best['bare']:.0f} %")
    return "\n".join(rows)


def call_markdown(results: list[dict[str, Any]]) -> str:
    """Call signalling per step (--call-signalling), during the join stage."""
    rows = [
        "Call signalling (per session: media, offer/answer, 10 candidates each "
        "way; during the join spread)",
        "",
        "| Target | Sessions | Call msgs sent | acked ok | relayed | lost "
        "| refused | ack time-outs | Ack p50 ms | Ack p99 ms | Relay p50 ms "
        "| Relay p99 ms | SDP bytes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        c = r["call"]
        rows.append(
            "| "
            + " | ".join(
                _fmt(v)
                for v in (
                    r["target"],
                    r["sessions"],
                    c["sent"],
                    c["acked_ok"],
                    c["relayed"],
                    c["lost"],
                    sum(c["refused"].values()),
                    c["ack_timeouts"],
                    c["ack_ms"]["p50"],
                    c["ack_ms"]["p99"],
                    c["relay_ms"]["p50"],
                    c["relay_ms"]["p99"],
                    c["sdp_bytes"]["offer"] if c["sdp_bytes"] else None,
                )
            )
            + " |"
        )
    return "\n".join(rows)


def sketch_markdown(results: list[dict[str, Any]]) -> str:
    """Sketching per step (--sketching), during the run."""
    rows = [
        "Sketching (10 messages/s of one 20-point stroke by the current teacher, "
        "while teaching)",
        "",
        "| Target | Sessions sketching | Sent | /s | acked ok | refused "
        "| ack time-outs | relayed | /s | lost | mismatched | Ack p50 ms "
        "| Ack p99 ms | Relay p50 ms | Relay p99 ms |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        k = r["sketch"]
        refused = ", ".join(f"{code} {n}" for code, n in sorted(k["refused"].items()))
        rows.append(
            "| "
            + " | ".join(
                _fmt(v)
                for v in (
                    r["target"],
                    k["sessions"],
                    k["sent"],
                    k["sent_per_s"],
                    k["acked_ok"],
                    refused or "0",
                    k["ack_timeouts"],
                    k["relayed"],
                    k["relayed_per_s"],
                    k["lost"],
                    k["mismatched"],
                    k["ack_ms"]["p50"],
                    k["ack_ms"]["p99"],
                    k["relay_ms"]["p50"],
                    k["relay_ms"]["p99"],
                )
            )
            + " |"
        )
    return "\n".join(rows)


def best_rates(results: list[dict[str, Any]]) -> dict[str, float]:
    """The highest relayed signal rate per target among passing steps."""
    best: dict[str, float] = {}
    for r in results:
        if r.get("pass"):
            best[r["target"]] = max(
                best.get(r["target"], 0), r["signals"]["relayed_per_s"]
            )
    return best


# --- main ---------------------------------------------------------------------


def raise_fd_limit(want: int = 65536) -> tuple[int, int]:
    """Raise RLIMIT_NOFILE (inherited by the server and the generators)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def prioritize(pid: int, nice: int) -> None:
    """Give a process (and its autogroup) a nice value: on a shared box.

    With the kernel's autogroup scheduling every session (the server is started
    in its own) gets an equal CPU share whatever the processes' nice values, so
    the autogroup's own nice value is set too (/proc/PID/autogroup, as root).
    """
    os.setpriority(os.PRIO_PROCESS, pid, nice)
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except OSError:
        pass


def wait_until_quiet(limit: float, max_minutes: float) -> list[float]:
    """Poll the 1-minute load average every 30 s until it is below `limit`."""
    deadline = time.monotonic() + max_minutes * 60
    while True:
        load = os.getloadavg()
        if load[0] < limit or time.monotonic() >= deadline:
            return [round(x, 2) for x in load]
        print(f"   load average {load[0]:.2f} >= {limit}: waiting 30 s", flush=True)
        time.sleep(30)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", choices=("realistic", "stress"), default="realistic"
    )
    parser.add_argument(
        "--sessions",
        default="100",
        help="sessions per step, comma separated (stepped up)",
    )
    parser.add_argument("--server", choices=sorted(SETUPS), default="gevent")
    parser.add_argument(
        "--targets",
        default="ally,bare",
        help=f"comma-separated: ally, bare, {NGINX} (default: ally,bare)",
    )
    parser.add_argument(
        "--web-processes",
        type=int,
        default=2,
        help=f"{NGINX}: web processes behind nginx (default 2)",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "ALLY_BENCH_POSTGRES_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        ),
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds of signals"
    )
    parser.add_argument("--drain", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="node processes")
    parser.add_argument("--connect-concurrency", type=int, default=50)
    parser.add_argument("--join-spread", type=float, default=None)
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--teach-seconds", type=int, default=20)
    parser.add_argument("--rate-seconds", type=int, default=10)
    parser.add_argument("--signal-mean", type=float, default=5.0)
    parser.add_argument("--stress-rate", type=float, default=2.0)
    parser.add_argument(
        "--no-deflate",
        action="store_true",
        help="clients do not offer permessage-deflate (browsers do)",
    )
    parser.add_argument(
        "--stop-on-fail",
        action="store_true",
        help="stop a target at its first failing step",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=None,
        metavar="LOAD",
        help="first wait (up to 40 min) until the 1-minute load average is below LOAD",
    )
    parser.add_argument(
        "--py-spy",
        action="store_true",
        help="record the server with py-spy during the run (collapsed stacks)",
    )
    parser.add_argument(
        "--app-dir",
        default=str(ROOT),
        help="run the servers (app.py, bench/room/bare_relay.py) from this "
        "directory (e.g. a patched copy); not for ally-nginx, whose processes "
        "run from the checkout the driver runs from",
    )
    parser.add_argument(
        "--pythonpath", default="", help="prepended to the servers' PYTHONPATH"
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=0,
        metavar="NICE",
        help="run the server and generators at this nice value (e.g. -10, as "
        "root) when the machine is shared",
    )
    parser.add_argument(
        "--call-signalling",
        action="store_true",
        help="after joining, each session's clients do a call's signalling "
        "(media, offer, answer, 10 candidates each way)",
    )
    parser.add_argument(
        "--sketching",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="realistic profile: this fraction of the sessions also sketch "
        "(10 messages/s of 20 points by the current teacher while teaching); "
        "0 = off",
    )
    parser.add_argument("--label", default="", help="added to the result file name")
    args = parser.parse_args(argv)
    stress = args.profile == "stress"
    if not 0 <= args.sketching <= 1:
        parser.error("--sketching is a fraction of the sessions, from 0 to 1")
    if args.sketching and stress:
        parser.error("--sketching belongs to the realistic profile")
    # The deployment (ally.deploy.local) starts its processes from the
    # checkout it is imported from: a patched copy is measured by running
    # the copy's own driver (python -m bench.bench_room inside it).
    targets = {t.strip() for t in args.targets.split(",")}
    if NGINX in targets and Path(args.app_dir).resolve() != ROOT:
        parser.error(
            "--app-dir does not apply to ally-nginx: run the patched copy's own "
            "python -m bench.bench_room from inside it"
        )
    if args.duration is None:
        args.duration = 30.0 if stress else 90.0
    if args.join_spread is None:
        args.join_spread = 5.0 if stress else 40.0
    cycle = args.turns * (args.teach_seconds + args.rate_seconds)
    if not stress and args.join_spread + args.duration + 15 > cycle:
        parser.error(
            f"sessions last {cycle} s: "
            f"keep --join-spread + --duration under {cycle - 15} s"
        )
    if (
        not shutil.which("node")
        or not (ROOM / "node_modules" / "socket.io-client").exists()
    ):
        parser.error(
            "run `npm install` in bench/room first (Node and socket.io-client)"
        )
    steps = [int(x) for x in args.sessions.split(",") if x.strip()]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    limits = raise_fd_limit()
    if args.priority:
        # The driver and the Node generators it starts share this autogroup.
        prioritize(os.getpid(), args.priority)
    quiet = wait_until_quiet(args.wait_quiet, 40) if args.wait_quiet else None
    started = datetime.now(UTC)
    websocket_server = (
        websocket_implementation(server_env(args))
        if "gevent" in args.server
        else "simple-websocket (Werkzeug)"
    )
    ally_changes = subprocess.run(
        ["git", "status", "--porcelain", "ally", "app.py"],
        cwd=args.app_dir,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    report: dict[str, Any] = {
        "started_at": started.isoformat(),
        "argv": sys.argv[1:] if argv is None else argv,
        "options": vars(args),
        "fd_limit": limits,
        # --priority on a shared box: the server, the driver and the generators
        # run at this nice value (other CPU % shows what else ran).
        "niceness": os.getpriority(os.PRIO_PROCESS, 0),
        "autogroup": Path("/proc/self/autogroup").read_text().strip()
        if Path("/proc/self/autogroup").exists()
        else None,
        "loadavg_after_wait": quiet,
        "websocket_implementation": websocket_server,
        "app_dir": str(Path(args.app_dir).resolve()),
        "ally_files_changed_vs_head": ally_changes,
        "node": subprocess.run(
            ["node", "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "results": [],
    }
    failed: set[str] = set()
    for sessions in steps:
        for target in targets:
            if target in failed:
                continue
            try:
                row = run_step(target, sessions, args)
            except Exception as exc:  # recorded, the next step still runs
                row = {
                    "target": target,
                    "sessions": sessions,
                    "sockets": 2 * sessions,
                    "error": str(exc).splitlines()[0][:200],
                    "detail": str(exc)[-3000:],
                }
            report["results"].append(row)
            brief = {k: row.get(k) for k in ("latency_ms", "pass", "error")}
            if "signals" in row:
                brief["relayed_per_s"] = row["signals"]["relayed_per_s"]
                brief["lost"] = row["signals"]["lost"]
                brief["server_cpu_pct"] = row["resources"]["run"]["server_cpu_pct"]
                brief["cpu_pct_by_process"] = row["resources"]["run"][
                    "cpu_pct_by_process"
                ]
            if "call" in row:
                brief["call"] = {
                    k: row["call"][k] for k in ("sent", "relayed", "lost", "refused")
                } | {"ack_p99_ms": row["call"]["ack_ms"]["p99"]}
            if "sketch" in row:
                brief["sketch"] = {
                    k: row["sketch"][k] for k in ("sent", "relayed", "lost", "refused")
                } | {"relay_p99_ms": row["sketch"]["relay_ms"]["p99"]}
            print("  ", json.dumps(brief), flush=True)
            if args.stop_on_fail and not row.get("pass"):
                failed.add(target)
    report["machine"] = machine(None)
    report["best_relayed_per_s"] = best_rates(report["results"])
    label = f"-{args.label}" if args.label else ""
    stem = f"room-{args.profile}-{args.server}{label}-{started:%Y%m%dT%H%M%S}"
    table = markdown(report["results"])
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1))
    (RESULTS / f"{stem}.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nwritten: bench/results/{stem}.json and .md")
    return report


QUICK_ARGV = ["--profile", "stress", "--sessions", "20", "--duration", "10"]
QUICK_ARGV += ["--drain", "3", "--targets", "ally,bare"]
FULL_ARGV = ["--profile", "realistic", "--sessions", "2000", "--targets", "ally,bare"]


def rows(full: bool) -> list:
    """Suite rows (bench/suite.py): Ally's room beside the bare relay, per step."""
    return _rows(full, "ally", "one process")


def nginx_rows(full: bool) -> list:
    """Suite rows: the deployment (nginx, two web processes, Redis) beside the
    bare relay."""
    return _rows(full, NGINX, "2 processes behind nginx + Redis")


def _rows(full: bool, target: str, where: str) -> list:
    from bench.suite import Row

    argv = FULL_ARGV if full else QUICK_ARGV
    argv = [*argv[:-1], f"{target},bare"]  # the last argument: --targets
    report = main(argv)
    profile = "realistic" if full else "stress"
    bare = {
        r["sessions"]: r
        for r in report["results"]
        if r["target"] == "bare" and "error" not in r
    }
    found = []
    for r in report["results"]:
        if r["target"] != target:
            continue
        if "error" in r:
            found.append(
                Row(
                    scenario=f"room, {where}",
                    size=f"{r['sessions']} sessions",
                    note=f"failed: {r['error']}",
                )
            )
            continue
        lat, run, s = r["latency_ms"], r["resources"]["run"], r["signals"]
        other = bare.get(r["sessions"])
        baseline = "bare relay not run"
        if other is not None:
            b_run = other["resources"]["run"]
            baseline = (
                f"bare relay: p50/p99 {other['latency_ms']['p50']:.1f}/"
                f"{other['latency_ms']['p99']:.1f} ms, "
                f"{other['signals']['relayed_per_s']:.0f} signals/s, "
                f"CPU {b_run['server_cpu_pct']:.0f} %, "
                f"{b_run['server_rss_mib_max']:.0f} MiB"
            )
        found.append(
            Row(
                scenario=f"room {profile}, {where}",
                size=f"{r['sessions']:,} sessions",
                p50_ms=lat["p50"],
                p95_ms=lat["p95"],
                p99_ms=lat["p99"],
                throughput=f"{s['relayed_per_s']:.0f} signals/s",
                server_cpu=f"{run['server_cpu_pct']:.0f} %",
                memory=f"{run['server_rss_mib_max']:.0f} MiB",
                baseline=baseline,
                note=f"lost {s['lost']}, {'pass' if r['pass'] else 'FAIL'}",
            )
        )
    return found


if __name__ == "__main__":
    main()
