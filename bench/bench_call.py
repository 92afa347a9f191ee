"""Join-to-audio time of the call: two real Chromium pages through a real coturn.

    python -m bench.bench_call               # 10 runs
    python -m bench.bench_call --runs 30 --label evening

What it does (DESIGN.md §10; every packet stays on loopback):

1. A coturn on 127.0.0.1 (`tests/support/turn.py` TurnServer, its files in a
   temporary directory of this run) and the real server (`python app.py`
   through `tests/support/live_server.py`, SQLite in the same temporary
   directory, `ALLY_SCHEDULER=off`, relay-only ICE: `ALLY_TURN_URLS`,
   `ALLY_TURN_SECRET`, `ALLY_ICE_TRANSPORT_POLICY=relay`).
2. Two users registered and paired through the JSON API, and one extra session
   (10-minute turns, so nothing changes phase during the runs).
3. Debian's Chromium (`/usr/bin/chromium` or `ALLY_TEST_CHROMIUM`, Playwright's
   sync API, headless) with the browser tests' arguments plus fake, pre-granted
   media (`--use-fake-device-for-media-stream --use-fake-ui-for-media-stream
   --autoplay-policy=no-user-gesture-required`); two contexts log in through
   the form and open the room.
4. `--runs` times: Alex clicks "Join the call" and the bench waits until Alex
   waits for Blake and Blake's page says Alex is in the call; then Blake clicks
   "Join the call". **t0** is when that second click returns. Both pages are
   then polled (`page.evaluate` of `allyCall.pc` and its `getStats()`, every
   `--poll-ms`, 20 by default) until on BOTH pages `connectionState` is
   "connected" and the inbound audio's `packetsReceived` is above 0:
   **join-to-audio**. The first poll that saw "connected" on both pages gives
   **join-to-connected**; per page, the first poll that saw each condition is
   kept too. Each time is taken when the poll's answer is back, so it is late
   by at most one poll interval plus one `evaluate` (and Chromium caches
   `getStats()` for a few tens of ms). Then both click "Leave the call" and the
   bench waits until both pages say "You are not in the call." and show the
   Join button again.

`--wait-quiet LOAD` first waits (up to 40 minutes) for the 1-minute load
average to drop below LOAD; each run records the load average at its start.

The server and pages are this working tree's, uncommitted changes included
(listed in the JSON as `app_files_changed_vs_head`).

Prints and writes p50, p95, min and max (nearest rank over the runs) of both
times, each run's figures, the ICE candidate pair that carried the audio
(relay on 127.0.0.1 both ends, or the run is marked), and the machine (CPU
model, cores, load average at the start and the end) to
`bench/results/call-join[-label]-<time>.json` and the `.md` beside it.
Only 127.0.0.1 is contacted. Needs coturn (`apt-get install coturn`),
Chromium and Playwright (the project's dev dependencies); never run
`playwright install`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bench_room import wait_until_quiet
from bench.bench_suggestions import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
SECRET_KEY = "bench-call-secret-key"
TURN_SECRET = "bench-call-turn-secret"
PASSWORD = "teach-it-simply-42"
# The browser tests' arguments (tests/browser/conftest.py CHROMIUM_ARGS) and
# the fake media of tests/browser/test_call.py.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
PEOPLE = (
    # email, display name, time zone, availability window (local)
    ("alex@bench.example.org", "Alex", "America/New_York", ("08:00", "12:00")),
    ("blake@bench.example.org", "Blake", "Europe/London", ("13:00", "17:00")),
)
NOT_IN_CALL = "You are not in the call."

# One poll of a page: its connection's state and the inbound audio so far, and
# the candidate pair in use (the page's own object, as the browser tests read it).
PROBE = """async () => {
  const call = window.allyCall;
  const pc = call && call.pc;
  if (!pc) return {state: "none", generation: call ? call.generation : 0, packets: 0};
  const out = {state: pc.connectionState, generation: call.generation, packets: 0,
               pair: null};
  const report = await pc.getStats();
  const byId = {};
  report.forEach((s) => { byId[s.id] = s; });
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.packets += s.packetsReceived || 0;
    }
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
      const end = (c) => c && {type: c.candidateType, address: c.address || c.ip,
                               protocol: c.relayProtocol || c.protocol};
      out.pair = {local: end(byId[s.localCandidateId]),
                  remote: end(byId[s.remoteCandidateId])};
    }
  });
  return out;
}"""


# --- set-up -------------------------------------------------------------------


def api(base: str, method: str, path: str, body: Any = None, token: str = "") -> Any:
    """One JSON API call; fails loudly on anything but a 2xx."""
    import requests

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.request(
        method, f"{base}/api/v1{path}", json=body, headers=headers, timeout=10
    )
    if not response.ok:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
    return response.json() if response.content else None


def pair_and_session(base: str) -> int:
    """Register both, pair them (Alex asks, Blake accepts), create an extra
    session; returns the session's id."""
    tokens = []
    for email, name, zone, (start, end) in PEOPLE:
        api(
            base,
            "POST",
            "/auth/register",
            {
                "email": email,
                "password": PASSWORD,
                "display_name": name,
                "timezone": zone,
            },
        )
        token = api(
            base,
            "POST",
            "/auth/token",
            {"email": email, "password": PASSWORD, "name": "bench"},
        )["token"]
        api(
            base,
            "PATCH",
            "/me",
            {
                "exam": "USMLE Step 1",
                "subjects": ["Renal", "Cardio"],
                "looking_for_partner": True,
                "availability": [{"start": start, "end": end}],
            },
            token,
        )
        tokens.append(token)
    blake_id = api(base, "GET", "/me", token=tokens[1])["id"]
    asked = api(
        base,
        "POST",
        "/partner-requests",
        {"to_user_id": blake_id, "message": "Teach back daily?"},
        tokens[0],
    )
    accepted = api(
        base, "POST", f"/partner-requests/{asked['id']}/accept", token=tokens[1]
    )
    partnership = accepted["partnership"]["id"]
    session = api(
        base,
        "POST",
        f"/partnerships/{partnership}/sessions",
        {"teach_seconds": 600, "rate_seconds": 120},
        tokens[0],
    )
    return session["id"]


def open_room(browser, base: str, session_id: int, person: tuple) -> Any:
    """A context in the person's zone, logged in through the form, in the room."""
    from playwright.sync_api import expect

    email, name, zone, _window = person
    context = browser.new_context(
        timezone_id=zone, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=f"Hi, {name}")).to_be_visible()
    page.goto(f"{base}/sessions/{session_id}/room")
    expect(page.locator("#call-state")).to_have_text(NOT_IN_CALL)
    return page


# --- one run --------------------------------------------------------------------


def one_run(first, second, names: tuple[str, str], args) -> dict[str, Any]:
    """Both join (t0: the second click), poll until audio on both, both leave."""
    from playwright.sync_api import expect

    join = lambda page: page.get_by_role("button", name="Join the call")  # noqa: E731
    join(first).click()
    expect(first.locator("#call-state")).to_have_text(
        f"Waiting for {names[1]} to join the call…"
    )
    expect(second.locator("#call-state")).to_have_text(f"{names[0]} is in the call.")
    pages = {"first": first, "second": second}
    before = {role: page.evaluate(PROBE)["generation"] for role, page in pages.items()}
    click_start = time.monotonic()
    join(second).click()
    t0 = time.monotonic()
    seen: dict[str, dict[str, float]] = {role: {} for role in pages}
    last: dict[str, dict] = {}
    polls = 0
    interval = args.poll_ms / 1000
    deadline = t0 + args.timeout
    both_connected = both_audio = None
    while time.monotonic() < deadline:
        tick = time.monotonic()
        for role, page in pages.items():
            figures = page.evaluate(PROBE)
            now = time.monotonic()
            last[role] = figures
            if figures["generation"] <= before[role]:
                continue  # still the old (closed) connection, or none yet
            if figures["state"] == "connected":
                seen[role].setdefault("connected", now)
            if figures["packets"] > 0:
                seen[role].setdefault("audio", now)
            if figures["state"] == "connected" and figures["packets"] > 0:
                seen[role].setdefault("connected_and_audio", now)
        polls += 1
        now = time.monotonic()
        if both_connected is None and all("connected" in s for s in seen.values()):
            both_connected = now
        if all("connected_and_audio" in s for s in seen.values()):
            both_audio = now
            break
        time.sleep(max(0.0, tick + interval - time.monotonic()))
    ms = lambda t: round(1000 * (t - t0), 1) if t is not None else None  # noqa: E731
    result: dict[str, Any] = {
        "join_to_audio_ms": ms(both_audio),
        "join_to_connected_ms": ms(both_connected),
        "second_click_ms": round(1000 * (t0 - click_start), 1),
        "polls": polls,
        "pages": {
            role: {
                "connected_ms": ms(s.get("connected")),
                "first_audio_ms": ms(s.get("audio")),
                "state": last.get(role, {}).get("state"),
                "packets": last.get(role, {}).get("packets"),
                "generation": last.get(role, {}).get("generation"),
                "pair": last.get(role, {}).get("pair"),
            }
            for role, s in seen.items()
        },
    }
    if both_audio is not None:
        # The pair that carried the audio (getStats may name it a poll later).
        for role, page in pages.items():
            pair = result["pages"][role]["pair"] or page.evaluate(PROBE)["pair"]
            result["pages"][role]["pair"] = pair
        result["relay_on_loopback"] = all(
            (p := result["pages"][role]["pair"]) is not None
            and all(
                p[end]["type"] == "relay" and p[end]["address"] == "127.0.0.1"
                for end in ("local", "remote")
            )
            for role in pages
        )
    else:
        result["error"] = f"no audio on both pages within {args.timeout} s"
    # Both leave; the next run starts from "not in the call" on both pages.
    for page in (first, second):
        leave = page.get_by_role("button", name="Leave the call")
        if leave.is_visible():
            leave.click()
    for page in (first, second):
        expect(page.locator("#call-state")).to_have_text(NOT_IN_CALL)
        expect(join(page)).to_be_visible()
    return result


# --- statistics and output ------------------------------------------------------


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def summary(values: list[float | None]) -> dict[str, Any]:
    ordered = sorted(v for v in values if v is not None)
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "min": ordered[0] if ordered else None,
        "max": ordered[-1] if ordered else None,
        "mean": round(sum(ordered) / len(ordered), 1) if ordered else None,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}"
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"Join-to-audio, {report['runs_ok']} of {len(report['runs'])} runs "
        f'(t0: the second "Join the call" click; polled every '
        f"{report['options']['poll_ms']:.0f} ms)",
        "",
        "| Time, ms | n | p50 | p95 | min | max | mean |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, title in (
        ("join_to_audio_ms", "**join to audio** (both connected, packets in)"),
        ("join_to_connected_ms", "join to connected (both pages)"),
        ("first_audio_ms_first", "first audio packet, first joiner's page"),
        ("first_audio_ms_second", "first audio packet, second joiner's page"),
        ("connected_ms_first", "connected, first joiner's page"),
        ("connected_ms_second", "connected, second joiner's page"),
    ):
        s = report["summary"][key]
        lines.append(
            f"| {title} | {s['n']} | "
            + " | ".join(_fmt(s[k]) for k in ("p50", "p95", "min", "max", "mean"))
            + " |"
        )
    lines += [
        "",
        "| Run | join→audio | join→connected | 1st: connected / audio "
        "| 2nd: connected / audio | relay on 127.0.0.1 |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for k, run in enumerate(report["runs"], 1):
        p1, p2 = run["pages"]["first"], run["pages"]["second"]
        lines.append(
            f"| {k} | {_fmt(run['join_to_audio_ms'])} "
            f"| {_fmt(run['join_to_connected_ms'])} "
            f"| {_fmt(p1['connected_ms'])} / {_fmt(p1['first_audio_ms'])} "
            f"| {_fmt(p2['connected_ms'])} / {_fmt(p2['first_audio_ms'])} "
            f"| {run.get('relay_on_loopback', run.get('error'))} |"
        )
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['nproc']} cores, {m['ram']}; load average "
        f"{' / '.join(f'{x:.2f}' for x in report['loadavg_at_start'])} at the start, "
        f"{' / '.join(f'{x:.2f}' for x in m['loadavg_1_5_15_at_end'])} at the end; "
        f"{report['browser']}, {report['turnserver']}, server "
        f"{report['server_async_mode']}, commit {m.get('git_commit', '?')}.",
    ]
    return "\n".join(lines)


def turnserver_version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "coturn (version unknown)"
    text = (out.stdout or out.stderr).strip().splitlines()
    return f"coturn {text[-1].strip()}" if text else "coturn"


# --- main -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--poll-ms", type=float, default=20.0, help="poll interval of both pages"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds a run may take"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=None,
        metavar="LOAD",
        help="first wait (up to 40 min) until the 1-minute load average is below LOAD",
    )
    parser.add_argument("--label", default="", help="added to the result file name")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from tests.support.live_server import LiveServer
    from tests.support.turn import TurnServer, relay_port_range, turnserver_path

    chromium = shutil.which(os.environ.get("ALLY_TEST_CHROMIUM", DEFAULT_CHROMIUM))
    turnserver = turnserver_path()
    if chromium is None:
        parser.error("Chromium not found (apt-get install chromium)")
    if turnserver is None:
        parser.error("turnserver not found (apt-get install coturn)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    quiet = wait_until_quiet(args.wait_quiet, 40) if args.wait_quiet else None
    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "started_at": started.isoformat(),
        "argv": sys.argv[1:] if argv is None else argv,
        "options": vars(args),
        "loadavg_after_wait": quiet,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "turnserver": turnserver_version(turnserver),
        # What was measured: the working tree, with anything not committed.
        "app_files_changed_vs_head": subprocess.run(
            ["git", "status", "--porcelain", "app.py", "ally", "static", "templates"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.splitlines(),
        "runs": [],
    }
    print(f"load average at start: {report['loadavg_at_start']}", flush=True)
    with ExitStack() as stack:
        folder = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="ally-bench-call-"))
        )
        # A wider relay port range than the tests' 64: a run's two allocations
        # may linger until coturn's lifetime ends if Chromium does not free them.
        turn = TurnServer(
            TURN_SECRET, workdir=folder / "turn", relay_ports=relay_port_range(512)
        ).start()
        stack.callback(turn.stop)
        server = LiveServer(
            {
                "DATABASE_URL": f"sqlite:///{folder / 'ally.db'}",
                "SECRET_KEY": SECRET_KEY,
                "ALLY_SCHEDULER": "off",
                "ALLY_AUTH_RATE_LIMIT": "1000 per minute",
                "ALLY_TURN_URLS": turn.url,
                "ALLY_TURN_SECRET": turn.secret,
                "ALLY_ICE_TRANSPORT_POLICY": "relay",
            },
            log_path=folder / "server.log",
        ).start()
        stack.callback(server.stop)
        log_head = server.log_text()
        report["server_async_mode"] = (
            "gevent" if "(gevent)" in log_head else "threading"
        )
        report["turn_url"] = turn.url
        session_id = pair_and_session(server.url)
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        stack.callback(browser.close)
        report["browser"] = f"Chromium {browser.version}"
        first, second = (
            open_room(browser, server.url, session_id, person) for person in PEOPLE
        )
        names = (PEOPLE[0][1], PEOPLE[1][1])
        for k in range(args.runs):
            load = round(os.getloadavg()[0], 2)
            try:
                run = one_run(first, second, names, args)
                run["loadavg1_at_start"] = load
            except Exception as exc:  # recorded; the page state decides the rest
                run = {
                    "join_to_audio_ms": None,
                    "join_to_connected_ms": None,
                    "pages": {
                        r: {"connected_ms": None, "first_audio_ms": None}
                        for r in ("first", "second")
                    },
                    "error": str(exc).splitlines()[0][:300],
                    "loadavg1_at_start": load,
                }
                report["runs"].append(run)
                print(f"run {k + 1}: failed: {run['error']}", flush=True)
                report["server_log_tail"] = server.log_tail(30)
                report["turn_log_tail"] = turn.log_tail(30)
                break
            report["runs"].append(run)
            print(
                f"run {k + 1}: join→audio {run['join_to_audio_ms']} ms, "
                f"join→connected {run['join_to_connected_ms']} ms"
                + (f" ({run['error']})" if "error" in run else ""),
                flush=True,
            )
    runs = report["runs"]
    report["runs_ok"] = sum(r["join_to_audio_ms"] is not None for r in runs)
    report["summary"] = {
        "join_to_audio_ms": summary([r["join_to_audio_ms"] for r in runs]),
        "join_to_connected_ms": summary([r["join_to_connected_ms"] for r in runs]),
        **{
            f"{what}_{role}": summary([r["pages"][role][what] for r in runs])
            for what in ("connected_ms", "first_audio_ms")
            for role in ("first", "second")
        },
    }
    report["machine"] = machine(None)
    report["machine"]["python_implementation"] = platform.python_implementation()
    label = f"-{args.label}" if args.label else ""
    stem = f"call-join{label}-{started:%Y%m%dT%H%M%S}"
    table = markdown(report)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1))
    (RESULTS / f"{stem}.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nwritten: bench/results/{stem}.json and .md")
    return report


def rows(full: bool) -> list:
    """Suite rows (bench/suite.py): join to connected and to first audio."""
    from bench.suite import Row

    report = main([] if full else ["--runs", "3"])
    found = []
    for key, label in (
        ("join_to_connected_ms", "call: join to connected"),
        ("join_to_audio_ms", "call: join to first audio"),
    ):
        s = report["summary"][key]
        found.append(
            Row(
                scenario=label,
                size=f"{report['runs_ok']}/{len(report['runs'])} runs",
                p50_ms=s["p50"],
                p95_ms=s["p95"],
                note=f"max {s['max']} ms",
            )
        )
    return found


if __name__ == "__main__":
    main()
