"""Submission at the speed of sbatch (issue 13), against a real test Slurm cluster.

In one run: 500 bare ``sbatch --wrap=true`` calls one after the other (the
baseline: what sbatch itself costs on this cluster), then one tick that
admits and submits 500 newly uploaded UoWs. Printed: both times, their
ratio and milliseconds per UoW. Targets: the tick takes at most 1.2 x the
baseline, and at most 12 ms per UoW. Exit status 1 when a target is missed.

The test bed's one node is drained while both are timed, so the jobs stay
pending: on this machine they would otherwise run on the very cores that
submit them (on a real cluster they run on compute nodes).

Run: ``.venv/bin/python benchmarks/bench_submit_vs_sbatch.py`` (about a
minute; it starts and stops its own test cluster). ``--profile`` also prints
where the tick's time goes (cProfile, cumulative, top entries);
``--workers N`` sets ``submit_workers`` for the tick (default: the setting's
default); ``-n N`` changes the number of UoWs.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import time

from agent_bench_common import make_instance, make_uow, scratch, start_cluster

from hpc_agent import protocol
from hpc_agent.executors import make_executor
from hpc_agent.loop.tick import tick

N = 500
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=N)
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
    root = scratch()
    cluster = start_cluster(root / "slurm")
    try:
        # The test bed's node is this machine: jobs running now would compete with the
        # submissions for its cores (on a real cluster they run on compute nodes), so the
        # node is drained while both are timed, and every job stays pending.
        nodes = ",".join(cluster.node_names)
        cluster.run(["scontrol", "update", f"NodeName={nodes}", "State=DRAIN", "Reason=bench"])
        out = root / "bare"
        out.mkdir()
        bare = bare_sbatch(n, os.fspath(out))
        cluster.run(["scancel", "--user", cluster.user], check=False)
        extra: dict[str, object] = {} if args.workers is None else {"submit_workers": args.workers}
        for item in args.set:
            key, _, value = item.partition("=")
            extra[key] = {"true": True, "false": False}.get(value, value)
            if isinstance(extra[key], str) and value.isdigit():
                extra[key] = int(value)
        cfg = make_instance(
            root / "inst", "bench", account=cluster.account, qos=cluster.qos, **extra
        )
        for i in range(n):
            make_uow(cfg.path(protocol.UPLOADED), f"uow{i:05d}")
        executor = make_executor(cfg)
        # Accounting detection is part of start-up, not of submission: done once, like a
        # cached detection would be.
        _ = getattr(executor, "accounting", None)
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        result = tick(cfg, executor)
        if profiler is not None:
            profiler.disable()
        wall = time.perf_counter() - started
        assert len(result.submitted) == n, (len(result.submitted), result.message)
        cluster.run(["scancel", "--user", cluster.user], check=False)
    finally:
        cluster.stop()
    ratio = wall / bare
    per = wall * 1000 / n
    workers = getattr(cfg, "submit_workers", 1)
    shown = ", ".join(f"{k} = {v}" for k, v in extra.items() if k != "submit_workers")
    print(
        f"N = {n} (real Slurm, accounting on; submit_workers = {workers}{', ' if shown else ''}{shown})"
    )
    print(
        f"bare sbatch --wrap=true x {n}, sequential: {bare:7.2f} s ({bare * 1000 / n:.1f} ms each)"
    )
    print(f"one tick submitting {n} new UoWs:        {wall:7.2f} s ({per:.1f} ms/UoW)")
    print(f"ratio tick / bare sbatch: {ratio:.2f} (target <= {MAX_RATIO})")
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
