"""Benchmark the auto-match pool against networkx's exact optimum (issue 13).

    python -m bench.bench_match                          # 100 … 10,000 people
    python -m bench.bench_match --sizes 1000 --exact-sizes 1000,2000
    python -m bench.bench_match --runs 1 --exact-sizes ""   # timings only

People are made in memory by bench.seed_users.build_rows (the same spread of
time zones, availability, exams, exam dates and subjects as the seeded
databases), turned into matching Persons as ally.services.matching_data does.
Per size, `ally.domain.matching.pool_pairs` (what the pool job runs) is timed
`--runs` times after one warm-up run (wall and CPU of this process); its total
weight is each pair's score from the smaller id's horizon (`pair_weight`).

At `--exact-sizes` the exact optimum is computed once in a child process:
every pair weighed (the full compatibility graph, no pruning) and
networkx.max_weight_matching on it; the child is stopped after
`--exact-timeout` seconds (600). The table gives both times and the pool's
share of the optimum's weight. JSON goes to bench/results/match-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ally.domain.matching import Person, pair_weight, pool_pairs, rank_candidates
from ally.services.profiles import windows_from_text
from bench.seed_users import DEFAULT_SEED, build_rows
from bench.suite import Row, machine, table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# A fixed instant away from clock changes: the same people, the same horizons.
NOW = datetime(2026, 5, 13, 14, 0, tzinfo=UTC)
SIZES = (100, 500, 1_000, 2_000, 5_000, 10_000)
QUICK_SIZES = (100, 1_000, 10_000)
SESSION_MINUTES = 60


def pool_people(n: int, seed: int = DEFAULT_SEED) -> list[Person]:
    """n waiting students spread like the seeded databases (ids 1..n)."""
    users, profiles = build_rows(n, seed, NOW.date(), NOW)
    return [
        Person(
            user_id=user["id"],
            display_name=user["display_name"],
            timezone=user["timezone"],
            exam=profile["exam"],
            exam_date=profile["exam_date"],
            subjects=tuple(profile["subjects"]),
            windows=windows_from_text(json.dumps(profile["availability"])),
        )
        for user, profile in zip(users, profiles, strict=True)
    ]


def total_weight(people: list[Person], pairs: list[tuple[int, int]]) -> int:
    """Sum of the pairs' scores, each from its smaller id's horizon."""
    by_id = {p.user_id: p for p in people}
    return sum(pair_weight(by_id[a], by_id[b], NOW, SESSION_MINUTES) for a, b in pairs)


def _exact(n: int, seed: int, out: Any) -> None:
    import networkx as nx

    people = pool_people(n, seed)
    began = time.perf_counter()
    graph = nx.Graph()
    for i, person in enumerate(people):
        for found in rank_candidates(person, people[i + 1 :], NOW, SESSION_MINUTES):
            graph.add_edge(person.user_id, found.user_id, weight=found.score)
    built = time.perf_counter()
    matching = nx.max_weight_matching(graph)
    done = time.perf_counter()
    out.put(
        {
            "edges": graph.number_of_edges(),
            "graph_s": round(built - began, 2),
            "matching_s": round(done - built, 2),
            "total_s": round(done - began, 2),
            "cpu_s": round(time.process_time(), 2),
            "weight": sum(graph[u][v]["weight"] for u, v in matching),
            "pairs": len(matching),
        }
    )


def exact_optimum(n: int, seed: int, timeout: float) -> dict[str, Any]:
    """networkx's exact optimum on the full graph, or how long it ran till stopped."""
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_exact, args=(n, seed, out), daemon=True)
    began = time.perf_counter()
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return {
            "finished": False,
            "gave_up_after_s": round(time.perf_counter() - began),
        }
    return {"finished": True, **out.get(timeout=5)}


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(
    sizes: list[int], runs: int, exact_sizes: set[int], timeout: float, seed: int
) -> list[dict[str, Any]]:
    """Time pool_pairs at each size; compare with the exact optimum where asked."""
    results = []
    for n in sizes:
        people = pool_people(n, seed)
        pool_pairs(people, NOW, SESSION_MINUTES)  # warm-up: imports and caches
        walls, cpus = [], []
        pairs: list[tuple[int, int]] = []
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            pairs = pool_pairs(people, NOW, SESSION_MINUTES)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        result: dict[str, Any] = {
            "size": n,
            "runs": runs,
            "wall_s": [round(w, 3) for w in walls],
            "cpu_s": [round(c, 3) for c in cpus],
            "median_s": round(statistics.median(walls), 3),
            "p95_s": round(_p95(walls), 3),
            "cpu_median_s": round(statistics.median(cpus), 3),
            "cpu_p95_s": round(_p95(cpus), 3),
            "pairs": len(pairs),
            "weight": total_weight(people, pairs),
            "peak_rss_mib": round(_rss_mib()),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        }
        if n in exact_sizes:
            result["exact"] = exact_optimum(n, seed, timeout)
            if result["exact"].get("finished"):
                result["share_of_optimum"] = round(
                    result["weight"] / result["exact"]["weight"], 5
                )
        print(json.dumps(result), file=sys.stderr, flush=True)
        results.append(result)
    return results


def to_rows(results: list[dict[str, Any]]) -> list[Row]:
    """Suite rows: the pool's times beside the exact optimum."""
    rows = []
    for r in results:
        exact = r.get("exact")
        if exact is None:
            baseline = "exact not run"
        elif exact["finished"]:
            baseline = (
                f"networkx exact {exact['total_s']:.0f} s, weight {exact['weight']:,}; "
                f"pool {100 * r['share_of_optimum']:.2f} %"
            )
        else:
            baseline = f"networkx exact > {exact['gave_up_after_s']} s (stopped)"
        rows.append(
            Row(
                scenario="match pool (pool_pairs)",
                size=f"{r['size']:,} people",
                p50_ms=r["median_s"] * 1000,
                p95_ms=r["p95_s"] * 1000,
                throughput=f"{r['size'] / r['median_s']:,.0f} people/s",
                server_cpu=(
                    f"{r['cpu_median_s']:.2f} s CPU/run (p95 {r['cpu_p95_s']:.2f})"
                ),
                memory=f"{r['peak_rss_mib']} MiB peak RSS",
                baseline=baseline,
                note=f"{r['runs']} runs, {r['pairs']:,} pairs, weight {r['weight']:,}",
                extra=r,
            )
        )
    return rows


def rows(full: bool) -> list[Row]:
    """The suite's entry: quick sizes, or the recorded ones with the exact optimum."""
    if full:
        results = measure(list(SIZES), 5, {1_000, 2_000}, 600.0, DEFAULT_SEED)
    else:
        results = measure(list(QUICK_SIZES), 3, {100}, 600.0, DEFAULT_SEED)
    return to_rows(results)


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=list(SIZES),
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs per size")
    parser.add_argument(
        "--exact-sizes",
        type=lambda s: {int(x) for x in s.split(",") if x},
        default={1_000, 2_000},
        help="sizes at which networkx's exact optimum is computed (once)",
    )
    parser.add_argument("--exact-timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = measure(
        args.sizes, args.runs, args.exact_sizes, args.exact_timeout, args.seed
    )
    text = table(to_rows(results))
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.bench_match", *sys.argv[1:]]),
        "machine": {**machine(), "loadavg_at_start": load_before},
        "results": results,
        "markdown": text,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"match-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report["machine"]))
    print(text)
    print(f"\n{report['total_seconds']} s in all; JSON: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
