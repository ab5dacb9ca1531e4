"""Submission at the speed of sbatch (issue 13), against a real test Slurm cluster.

In one run, ``--rounds`` times (3): 500 bare ``sbatch --wrap=true`` calls one
after the other (the baseline: what sbatch itself costs on this cluster),
and one tick that admits and submits 500 newly uploaded UoWs, the two in
turn (the baseline first in odd rounds, the tick first in even ones, so a
cluster that slows down or speeds up during the run favours neither).
Printed: each round's times, ratio and milliseconds per UoW, then the
medians. Targets, on the medians: the tick takes at most 1.2 x the baseline,
and at most 12 ms per UoW. Exit status 1 when a target is missed. One
round alone is noisy on a 2-core machine (the baseline itself varies by
some 20 % from one minute to the next), hence the rounds.

The test bed's one node is drained while both are timed, so the jobs stay
pending: on this machine they would otherwise run on the very cores that
submit them (on a real cluster they run on compute nodes).

Run: ``.venv/bin/python benchmarks/bench_submit_vs_sbatch.py`` (about a
minute; it starts and stops its own test cluster). ``--profile`` also prints
where the tick's time goes (cProfile, cumulative, top entries);
``--workers N`` sets ``submit_workers`` for the tick (default: the setting's
default); ``-n N`` changes the number of UoWs; ``--rounds R`` the number of rounds.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agent_bench_common import make_instance, make_uow, scratch, start_cluster

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.executors import make_executor
from hpc_agent.loop.tick import tick

N = 500
ROUNDS = 3
MAX_RATIO = 1.2
MAX_MS_PER_UOW = 12.0


def bare_sbatch(n: int, cwd: str) -> float:
    """Seconds for ``n`` sequential ``sbatch --wrap=true`` calls."""
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run(
            ["sbatch", "--wrap=true"],
            cwd=cwd,
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
    return time.perf_counter() - started


def settings(items: list[str], workers: int | None) -> dict[str, object]:
    """The instance settings ``--workers`` and ``--set KEY=VALUE`` ask for."""
    extra: dict[str, object] = {} if workers is None else {"submit_workers": workers}
    for item in items:
        key, _, value = item.partition("=")
        extra[key] = {"true": True, "false": False}.get(
            value, int(value) if value.isdigit() else value
        )
    return extra


def timed_tick(
    cluster: Any,
    root: Path,
    number: int,
    n: int,
    extra: dict[str, object],
    profiler: cProfile.Profile | None,
) -> tuple[float, InstanceConfig]:
    """Seconds for one tick that admits and submits ``n`` new UoWs on a fresh instance."""
    cfg = make_instance(
        root / f"inst{number}", f"bench{number}", account=cluster.account, qos=cluster.qos, **extra
    )
    for i in range(n):
        make_uow(cfg.path(protocol.UPLOADED), f"uow{i:05d}")
    executor = make_executor(cfg)
    # Accounting detection is part of start-up, not of submission: done once, like a
    # cached detection would be.
    _ = getattr(executor, "accounting", None)
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    result = tick(cfg, executor)
    if profiler is not None:
        profiler.disable()
    wall = time.perf_counter() - started
    assert len(result.submitted) == n, (len(result.submitted), result.message)
    return wall, cfg


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=N)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=INT|true|false",
        help="another setting for the instance (e.g. fast_handback=false)",
    )
    args = parser.parse_args()
    n = args.n
    extra = settings(args.set, args.workers)
    root = scratch()
    cluster = start_cluster(root / "slurm")
    profiler = cProfile.Profile() if args.profile else None
    rounds: list[tuple[float, float]] = []
    try:
        # The test bed's node is this machine: jobs running now would compete with the
        # submissions for its cores (on a real cluster they run on compute nodes), so the
        # node is drained while both are timed, and every job stays pending.
        nodes = ",".join(cluster.node_names)
        cluster.run(["scontrol", "update", f"NodeName={nodes}", "State=DRAIN", "Reason=bench"])
        out = root / "bare"
        out.mkdir()
        cfg: InstanceConfig | None = None
        for number in range(1, args.rounds + 1):
            if number % 2:
                bare = bare_sbatch(n, os.fspath(out))
                cluster.run(["scancel", "--user", cluster.user], check=False)
                wall, cfg = timed_tick(cluster, root, number, n, extra, profiler)
            else:
                wall, cfg = timed_tick(cluster, root, number, n, extra, profiler)
                cluster.run(["scancel", "--user", cluster.user], check=False)
                bare = bare_sbatch(n, os.fspath(out))
            cluster.run(["scancel", "--user", cluster.user], check=False)
            rounds.append((bare, wall))
            print(
                f"round {number}: bare sbatch {bare:6.2f} s ({bare * 1000 / n:.1f} ms each), "
                f"tick {wall:6.2f} s ({wall * 1000 / n:.1f} ms/UoW), ratio {wall / bare:.2f}",
                flush=True,
            )
    finally:
        cluster.stop()
    bare = statistics.median(b for b, _ in rounds)
    wall = statistics.median(w for _, w in rounds)
    ratio = statistics.median(w / b for b, w in rounds)
    per = wall * 1000 / n
    workers = getattr(cfg, "submit_workers", 1)
    shown = ", ".join(f"{k} = {v}" for k, v in extra.items() if k != "submit_workers")
    print(
        f"N = {n}, {len(rounds)} rounds (real Slurm, accounting on; submit_workers = {workers}"
        f"{', ' if shown else ''}{shown})"
    )
    print(
        f"bare sbatch --wrap=true x {n}, sequential, median: {bare:7.2f} s ({bare * 1000 / n:.1f} ms each)"
    )
    print(f"one tick submitting {n} new UoWs, median:        {wall:7.2f} s ({per:.1f} ms/UoW)")
    print(f"ratio tick / bare sbatch, median of rounds: {ratio:.2f} (target <= {MAX_RATIO})")
    ok = ratio <= MAX_RATIO and per <= MAX_MS_PER_UOW
    print(
        f"targets (<= {MAX_RATIO} x sbatch, <= {MAX_MS_PER_UOW:g} ms/UoW): "
        f"{'met' if ok else 'NOT met'}"
    )
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(20)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
