"""Benchmark GET /api/v1/partners/suggestions over real HTTP (issue 2).

    python -m bench.bench_suggestions                      # SQLite
    python -m bench.bench_suggestions --backend postgres   # fresh PostgreSQL db
    python -m bench.bench_suggestions --backend both

For each backend and each size in --sizes (default 1,000 / 5,000 / 10,000 users)
a fresh database is seeded (bench.seed_users) and the SQL statements of one
suggestions request are counted in-process (Flask test client, SQLAlchemy
``before_cursor_execute``). On the largest size the real server is started
(``python app.py --port P`` via tests/support/live_server.py) and the endpoint is
timed over HTTP with keep-alive from 127.0.0.1: the cold first request, a
warm-up pass, then --requests requests across --seekers seekers per case.
Prints markdown tables and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bench.seed_users import DEFAULT_SEED, PASSWORD, seed
from tests.support.live_server import LiveServer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ENDPOINT = "/api/v1/partners/suggestions"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET_KEY = "bench-secret-key"
AUTH_LIMIT = "100000 per minute"
CASE_BUDGET_SECONDS = 45.0  # a case stops early rather than run away
TIMEOUT = 30.0
# (name, query parameters, share of --requests)
CASES: tuple[tuple[str, dict[str, Any], float], ...] = (
    ("no filter", {}, 1.0),
    ("exam=USMLE Step 1", {"exam": "USMLE Step 1"}, 0.5),
    ("min_overlap=60", {"min_overlap": 60}, 0.5),
    ("exam=PLAB&min_overlap=30", {"exam": "PLAB", "min_overlap": 30}, 0.5),
)
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


# --- databases -------------------------------------------------------------


def _libpq(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


@contextmanager
def sqlite_database(size: int) -> Iterator[str]:
    """A SQLite file in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="ally-bench-") as folder:
        yield f"sqlite:///{folder}/bench-{size}.db"


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """CREATE DATABASE ally_bench_<hex>; yield its URL; DROP it (WITH FORCE)."""
    import psycopg
    from psycopg import sql

    name = f"ally_bench_{secrets.token_hex(6)}"
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


# --- statistics and machine ------------------------------------------------


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_ms)))
    return sorted_ms[rank - 1]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def summarize(latencies_ms: list[float], wall_seconds: float) -> dict[str, Any]:
    """p50/p95/p99/max in ms and requests per second."""
    ordered = sorted(latencies_ms)
    return {
        "requests": len(ordered),
        "p50_ms": round(percentile(ordered, 50), 1),
        "p95_ms": round(percentile(ordered, 95), 1),
        "p99_ms": round(percentile(ordered, 99), 1),
        "max_ms": round(ordered[-1], 1) if ordered else math.nan,
        "mean_ms": round(sum(ordered) / len(ordered), 1) if ordered else math.nan,
        "requests_per_s": round(len(ordered) / wall_seconds, 1) if wall_seconds else 0,
    }


def machine(postgres_url: str | None) -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "unknown"
    try:
        found = re.search(
            r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M
        )
        cpu = found[1].strip() if found else cpu
    except OSError:
        pass
    ram = "unknown"
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
        ram = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, TypeError):
        pass
    info = {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        # Other work on the box skews the numbers: record how busy it was.
        "loadavg_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    if postgres_url:
        try:
            import psycopg

            with psycopg.connect(_libpq(postgres_url)) as conn:
                info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
        except Exception as exc:  # reported, not fatal
            info["postgresql"] = f"unavailable: {exc}"
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        pass
    return info


# --- in-process: seekers and query counts ----------------------------------


def _bench_app(url: str):
    from ally import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": SECRET_KEY,
            "ALLY_SCHEDULER": "off",
            "RATELIMIT_ENABLED": False,
        }
    )


def pick_seekers(url: str, count: int, seed: int) -> list[tuple[int, str]]:
    """(id, email) of `count` users who are looking and not yet paired."""
    import random

    from sqlalchemy import select

    from ally.extensions import db
    from ally.models import Profile, User
    from ally.services.matching_data import full_user_ids

    app = _bench_app(url)
    with app.app_context():
        rows = db.session.execute(
            select(User.id, User.email)
            .join(Profile, Profile.user_id == User.id)
            .where(
                Profile.looking_for_partner.is_(True),
                User.id.not_in(full_user_ids(app.config["ALLY_MAX_PARTNERSHIPS"])),
            )
            .order_by(User.id)
        ).all()
        db.session.remove()
        db.engine.dispose()
    return [tuple(r) for r in random.Random(seed).sample(rows, count)]


def count_queries(url: str, seekers: list[tuple[int, str]]) -> dict[str, Any]:
    """SQL statements per suggestions request, through the whole Flask stack."""
    from sqlalchemy import event

    from ally.extensions import db
    from ally.services import tokens

    app = _bench_app(url)
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(" ".join(statement.split())[:90])

    per_request = []
    with app.app_context():
        raw_tokens = [tokens.create_token(uid, "bench-count")[1] for uid, _ in seekers]
        db.session.remove()
        event.listen(db.engine, "before_cursor_execute", record)
        client = app.test_client()
        try:
            for round_ in ("first", "repeat"):
                for (uid, _), raw in zip(seekers, raw_tokens, strict=True):
                    statements.clear()
                    started = time.perf_counter()
                    resp = client.get(
                        ENDPOINT, headers={"Authorization": f"Bearer {raw}"}
                    )
                    elapsed = (time.perf_counter() - started) * 1000
                    assert resp.status_code == 200, resp.get_data(as_text=True)
                    per_request.append(
                        {
                            "round": round_,
                            "user_id": uid,
                            "queries": len(statements),
                            "items": len(resp.get_json()["items"]),
                            "in_process_ms": round(elapsed, 1),
                            "statements": list(statements),
                        }
                    )
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
            db.session.remove()
            db.engine.dispose()
    repeat = [r["queries"] for r in per_request if r["round"] == "repeat"]
    first = [r["queries"] for r in per_request if r["round"] == "first"]
    return {
        "first_min": min(first),
        "first_max": max(first),
        "repeat_min": min(repeat),
        "repeat_max": max(repeat),
        "in_process_ms_repeat_median": sorted(
            r["in_process_ms"] for r in per_request if r["round"] == "repeat"
        )[len(repeat) // 2],
        "requests": per_request,
    }


# --- over HTTP ---------------------------------------------------------------


def _get(session: requests.Session, base: str, token: str, params) -> float:
    started = time.perf_counter()
    resp = session.get(
        base + ENDPOINT,
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    elapsed = (time.perf_counter() - started) * 1000
    if resp.status_code != 200:
        raise RuntimeError(f"{resp.status_code}: {resp.text[:300]}")
    resp.json()  # the client pays for parsing too, but it is not timed
    return elapsed


def _run_case(
    get: Callable[[str, dict[str, Any]], float],
    tokens: list[str],
    params: dict[str, Any],
    count: int,
) -> dict[str, Any]:
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        latencies.append(get(tokens[i % len(tokens)], params))
        if time.perf_counter() - started > CASE_BUDGET_SECONDS:
            break
    return summarize(latencies, time.perf_counter() - started)


def _with_server_cpu(pid: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a phase and add the server's CPU ms per request (contention-proof)."""
    before = process_cpu_seconds(pid)
    result = run()
    spent = process_cpu_seconds(pid) - before
    result["server_cpu_ms_per_request"] = round(spent * 1000 / result["requests"], 1)
    return result


def _concurrent(
    base: str, tokens: list[str], clients: int, per_client: int
) -> dict[str, Any]:
    """`clients` threads, each with its own keep-alive session."""
    results: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            with requests.Session() as session:
                for i in range(per_client):
                    token = tokens[(k * per_client + i) % len(tokens)]
                    results[k].append(_get(session, base, token, {}))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=CASE_BUDGET_SECONDS * 2)
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return summarize([x for r in results for x in r], wall)


def bench_http(
    url: str, seekers: list[tuple[int, str]], requests_per_case: int, clients: int
) -> dict[str, Any]:
    """Start the real server on `url` and time the endpoint over HTTP."""
    log = Path(tempfile.gettempdir()) / f"ally-bench-server-{os.getpid()}.log"
    server = LiveServer(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET_KEY,
            "ALLY_SCHEDULER": "off",
            "ALLY_AUTH_RATE_LIMIT": AUTH_LIMIT,
        },
        log_path=log,
        startup_timeout=60,
    )
    out: dict[str, Any] = {"server_command": " ".join(server.command[1:])}
    with server, requests.Session() as session:
        base = server.url
        assert urlsplit(base).hostname == "127.0.0.1"
        tokens = []
        for _, email in seekers:
            resp = session.post(
                f"{base}/api/v1/auth/token",
                json={"email": email, "password": PASSWORD, "name": "bench"},
                timeout=TIMEOUT,
            )
            resp.raise_for_status()
            tokens.append(resp.json()["token"])

        def get(token: str, params: dict[str, Any]) -> float:
            return _get(session, base, token, params)

        # The first suggestions request the process serves: empty caches.
        out["cold_first_ms"] = round(get(tokens[0], {}), 1)
        # Warm-up: every seeker's first request (no filter).
        warm = [get(t, {}) for t in tokens]
        out["warmup"] = summarize(warm, sum(warm) / 1000)
        pid = server.process.pid
        out["cases"] = {}
        for name, params, share in CASES:
            count = max(1, round(requests_per_case * share))
            out["cases"][name] = _with_server_cpu(
                pid, lambda p=params, n=count: _run_case(get, tokens, p, n)
            )
            sample = session.get(
                base + ENDPOINT,
                params=params,
                headers={"Authorization": f"Bearer {tokens[0]}"},
                timeout=TIMEOUT,
            ).json()
            out["cases"][name]["items_sample"] = len(sample["items"])
        if clients > 1:
            per_client = max(1, requests_per_case // 2 // clients)
            out["concurrent"] = {
                "clients": clients,
                **_with_server_cpu(
                    pid, lambda: _concurrent(base, tokens, clients, per_client)
                ),
            }
    return out


# --- driver ----------------------------------------------------------------


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Seed each size, count queries; HTTP benchmark on the largest size."""
    sizes = sorted(args.sizes)
    result: dict[str, Any] = {"backend": backend, "sizes": {}}
    for size in sizes:
        database = (
            sqlite_database(size)
            if backend == "sqlite"
            else postgres_database(args.postgres_url)
        )
        with database as url:
            print(f"[{backend}] seeding {size} users ...", file=sys.stderr, flush=True)
            summary = seed(url, size, args.seed)
            seekers = pick_seekers(url, args.seekers, args.seed)
            counts = count_queries(url, seekers[: args.count_seekers])
            entry: dict[str, Any] = {"seed": summary, "queries": counts}
            if size == sizes[-1]:
                print(f"[{backend}] HTTP benchmark ...", file=sys.stderr, flush=True)
                entry["http"] = bench_http(url, seekers, args.requests, args.clients)
            result["sizes"][size] = entry
    return result


def markdown(results: list[dict[str, Any]]) -> str:
    """The tables for docs/performance.md."""
    lines = [
        "| Backend | Users | Case | Requests | p50 ms | p95 ms | p99 ms | max ms "
        "| req/s | server CPU ms/req |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        size = max(res["sizes"])
        http = res["sizes"][size]["http"]
        b = res["backend"]
        lines.append(
            f"| {b} | {size:,} | cold first request | 1 | {http['cold_first_ms']} "
            "| | | | | |"
        )
        w = http["warmup"]
        lines.append(
            f"| {b} | {size:,} | warm-up (each seeker's first request) "
            f"| {w['requests']} | {w['p50_ms']} | {w['p95_ms']} | {w['p99_ms']} "
            f"| {w['max_ms']} | | |"
        )
        rows = list(http["cases"].items())
        if "concurrent" in http:
            c = http["concurrent"]
            rows.append((f"no filter, {c['clients']} concurrent clients", c))
        for name, s in rows:
            lines.append(
                f"| {b} | {size:,} | {name} | {s['requests']} | {s['p50_ms']} "
                f"| {s['p95_ms']} | {s['p99_ms']} | {s['max_ms']} "
                f"| {s['requests_per_s']} | {s['server_cpu_ms_per_request']} |"
            )
    lines += [
        "",
        "| Backend | Users | Looking | SQL statements, first request per token "
        "| SQL statements, repeat requests | Median in-process ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        for size, entry in sorted(res["sizes"].items()):
            q = entry["queries"]
            first = (
                str(q["first_min"])
                if q["first_min"] == q["first_max"]
                else f"{q['first_min']}–{q['first_max']}"
            )
            repeat = (
                str(q["repeat_min"])
                if q["repeat_min"] == q["repeat_max"]
                else f"{q['repeat_min']}–{q['repeat_max']}"
            )
            lines.append(
                f"| {res['backend']} | {size:,} | {entry['seed']['looking']:,} "
                f"| {first} | {repeat} | {q['in_process_ms_repeat_median']} |"
            )
    return "\n".join(lines)


def write_report(report: dict[str, Any], name: str, table: str) -> Path:
    """Save the report as bench/results/<name>-<time>.json and print it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report["machine"], indent=2))
    print(table)
    print(f"\n{report['total_seconds']} s in all; JSON: {path.relative_to(ROOT)}")
    return path


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """--backend (sqlite, postgres or both) and --postgres-url, for every bench."""
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "both"), default="sqlite"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ALLY_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="an existing database to connect to for CREATE/DROP DATABASE",
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line; returns the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_arguments(parser)
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1000, 5000, 10000],
        help="user counts, comma separated; HTTP runs on the largest",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=300,
        help="for the no-filter case; half as many per filter case",
    )
    parser.add_argument("--seekers", type=int, default=30)
    parser.add_argument(
        "--count-seekers", type=int, default=5, help="seekers for query counting"
    )
    parser.add_argument(
        "--clients", type=int, default=4, help="concurrent phase (1: skip it)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)

    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    started = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = [run_backend(b, args) for b in backends]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.bench_suggestions", *sys.argv[1:]]),
        "machine": machine(args.postgres_url if "postgres" in backends else None),
        "loadavg_at_start": load_before,
        "settings": {k: v for k, v in vars(args).items() if k not in {"postgres_url"}},
        "results": results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    table = markdown(results)
    report["markdown"] = table
    write_report(report, f"suggestions-{args.backend}", table)
    return report


QUICK_ARGV = ["--sizes", "1000", "--requests", "60", "--seekers", "10"]
QUICK_ARGV += ["--count-seekers", "2", "--clients", "2"]


def rows(full: bool) -> list:
    """Suite rows (bench/suite.py): each timed case on the largest size."""
    from bench.suite import Row

    report = main([] if full else QUICK_ARGV)
    found = []
    for res in report["results"]:
        size = max(res["sizes"])
        http = res["sizes"][size]["http"]
        cases = list(http["cases"].items())
        if "concurrent" in http:
            cases.append(
                (f"{http['concurrent']['clients']} clients", http["concurrent"])
            )
        for name, s in cases:
            found.append(
                Row(
                    scenario=f"suggestions: {name}",
                    size=f"{size:,} users, {res['backend']}",
                    p50_ms=s["p50_ms"],
                    p95_ms=s["p95_ms"],
                    p99_ms=s["p99_ms"],
                    throughput=f"{s['requests_per_s']} req/s",
                    server_cpu=f"{s['server_cpu_ms_per_request']} ms/req",
                    note=f"{s['requests']} requests",
                )
            )
    return found


if __name__ == "__main__":
    main()
