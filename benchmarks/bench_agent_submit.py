"""Newly uploaded UoWs submitted in one tick against a real test Slurm cluster.

For N = 20, 200 and 1000 uploads: milliseconds per UoW for the whole tick
(admission, rename, records and sbatch), and how many scheduler query calls
the tick made (the target is a constant, whatever N). Target: <= 30 ms/UoW.

Run: ``.venv/bin/python benchmarks/bench_agent_submit.py`` (about a minute; it
starts and stops its own test cluster).
"""

from __future__ import annotations

import shutil
import sys
import threading
import time

from agent_bench_common import make_instance, make_uow, scratch, start_cluster

from hpc_agent import protocol
from hpc_agent.executors import make_executor
from hpc_agent.loop.tick import tick


class Counting:
    """Wraps an executor to count calls by kind."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.name = inner.name
        self.counts = {"ping": 0, "submit": 0, "query": 0, "find_by_name": 0}
        self._lock = threading.Lock()  # the tick runs sbatch from several threads

    def ping(self):  # type: ignore[no-untyped-def]
        self.counts["ping"] += 1
        return self.inner.ping()

    def submit(self, spec):  # type: ignore[no-untyped-def]
        with self._lock:
            self.counts["submit"] += 1
        return self.inner.submit(spec)

    def query(self, ids):  # type: ignore[no-untyped-def]
        self.counts["query"] += 1
        return self.inner.query(ids)

    def find_by_name(self, names):  # type: ignore[no-untyped-def]
        self.counts["find_by_name"] += 1
        return self.inner.find_by_name(names)

    def cancel(self, job_id):  # type: ignore[no-untyped-def]
        return self.inner.cancel(job_id)

    def non_submit_calls(self) -> int:
        """Scheduler calls other than sbatch (ping, status query, name look-up)."""
        return sum(count for kind, count in self.counts.items() if kind != "submit")


def main() -> int:
    root = scratch()
    cluster = start_cluster(root / "slurm")
    rows = []
    try:
        for n in (20, 200, 1000):
            cfg = make_instance(
                root / f"inst{n}", f"bench{n}", account=cluster.account, qos=cluster.qos
            )
            for i in range(n):
                make_uow(cfg.path(protocol.UPLOADED), f"uow{i:05d}")
            executor = Counting(make_executor(cfg))
            started = time.perf_counter()
            result = tick(cfg, executor)
            wall = time.perf_counter() - started
            assert len(result.submitted) == n, (len(result.submitted), result.message)
            assert executor.counts["submit"] == n
            first_calls = executor.non_submit_calls()
            # A second tick: the ping and one batched status query for all N jobs.
            executor.counts = dict.fromkeys(executor.counts, 0)
            started = time.perf_counter()
            tick(cfg, executor)
            second = time.perf_counter() - started
            rows.append((n, wall * 1000 / n, first_calls, executor.non_submit_calls(), second))
            cluster.run(["scancel", "--user", cluster.user], check=False)
            shutil.rmtree(cfg.base_dir, ignore_errors=True)
    finally:
        cluster.stop()
    print("newly uploaded UoWs submitted in one tick (real Slurm, accounting on)")
    print(
        f"{'N':>6} {'ms/UoW (incl. sbatch)':>22} {'other calls, tick 1':>20} "
        f"{'calls, next tick':>17} {'next tick s':>12}"
    )
    for n, per, first, later, second in rows:
        print(f"{n:>6} {per:>22.1f} {first:>20} {later:>17} {second:>12.2f}")
    worst = max(row[1] for row in rows)
    constant = len({row[2] for row in rows}) == 1 and len({row[3] for row in rows}) == 1
    print(f"target <= 30 ms/UoW: {'met' if worst <= 30 else 'NOT met'} (worst {worst:.1f})")
    print(f"scheduler calls besides sbatch constant in N: {'yes' if constant else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
