"""One benchmark suite: every bench in bench/ as rows of one table.

    python -m bench                     # quick sizes, a few minutes
    python -m bench --full              # the recorded sizes (long; a quiet machine)
    python -m bench --only match,reteach --json bench/results/suite.json

Each bench module has a ``rows(full: bool) -> list[Row]`` that runs it at the
quick or the recorded sizes; its own command line prints the same rows.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Row:
    """One line of the suite's table (latencies in ms; None where not measured)."""

    scenario: str
    size: str
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    throughput: str = ""
    server_cpu: str = ""
    memory: str = ""
    baseline: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)


def _ms(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}"


def table(rows: list[Row]) -> str:
    """The rows as one markdown table."""
    head = (
        "| Scenario | Size | p50 ms | p95 ms | p99 ms | Throughput | Server CPU "
        "| Memory | Baseline | Note |"
    )
    lines = [head, "|" + "---|" * 10]
    for row in rows:
        cells = [
            row.scenario,
            row.size,
            _ms(row.p50_ms),
            _ms(row.p95_ms),
            _ms(row.p99_ms),
            row.throughput,
            row.server_cpu,
            row.memory,
            row.baseline,
            row.note,
        ]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def failed(scenario: str, message: str) -> Row:
    """A row saying a scenario could not run, and why."""
    return Row(scenario=scenario, size="–", note=f"not run: {message}")


def room_behind_nginx(full: bool) -> list[Row]:
    """The room on two web processes behind nginx with Redis (issue 13)."""
    return importlib.import_module("bench.bench_room").nginx_rows(full)


def _module_rows(name: str) -> Callable[[bool], list[Row]]:
    def run(full: bool) -> list[Row]:
        return importlib.import_module(f"bench.{name}").rows(full)

    return run


# Quick first, the long live-server ones last.
BENCHES: dict[str, Callable[[bool], list[Row]]] = {
    "match": _module_rows("bench_match"),
    "reteach": _module_rows("bench_reteach"),
    "suggestions": _module_rows("bench_suggestions"),
    "review": _module_rows("bench_review"),
    "jobs": _module_rows("bench_jobs"),
    "call": _module_rows("bench_call"),
    "room": _module_rows("bench_room"),
    "room-nginx": room_behind_nginx,
}


def machine() -> dict:
    """nproc, CPU model, load: what the table was measured on."""
    cpu = "unknown"
    try:
        found = re.search(
            r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M
        )
        cpu = found[1].strip() if found else cpu
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: run the chosen benches in turn and print one table."""
    parser = argparse.ArgumentParser(description="Run every benchmark; one table.")
    parser.add_argument(
        "--full", action="store_true", help="the recorded sizes (long, quiet box)"
    )
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated names among {', '.join(BENCHES)}",
    )
    parser.add_argument("--json", help="also write the rows and the machine here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    started = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    rows: list[Row] = []
    for name in names:
        print(f"== {name}", file=sys.stderr, flush=True)
        begun = time.perf_counter()
        try:
            found = BENCHES[name](args.full)
        except Exception as exc:  # one bench failing must not lose the others
            traceback.print_exc()
            found = [failed(name, f"{type(exc).__name__}: {exc}")]
        rows.extend(found)
        print(
            f"   {name}: {time.perf_counter() - begun:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    info = machine()
    info["loadavg_at_start"] = load_before
    text = table(rows)
    print(json.dumps(info))
    print(text)
    kind = "full" if args.full else "quick"
    print(f"\n{time.perf_counter() - started:.0f} s in all ({kind} sizes)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {
                    "when": datetime.now(UTC).isoformat(timespec="seconds"),
                    "full": args.full,
                    "machine": info,
                    "rows": [asdict(r) for r in rows],
                    "markdown": text,
                },
                indent=1,
                default=str,
            )
        )
    return 1 if any(r.note.startswith("not run") for r in rows) else 0
