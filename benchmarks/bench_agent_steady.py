"""A steady-state tick: 10,000 finished UoWs and 1,000 running ones.

The 1,000 "running" UoWs have real (held) jobs on the test cluster, so the
tick's one batched query is a real one. The tick runs in a fresh child
process so its wall time and peak RSS are measured alone, and every Slurm
command it runs is counted (``hpc_agent.executors.slurm._run``).
Targets (issue 13): a steady tick <= 0.35 s wall and exactly 2 Slurm calls
(the ping and the one batched query: whether the cluster keeps accounting is
remembered in ``CodeToRun/.state/``), <= 100 MB peak RSS. The first tick
after the 1,000 sbatch calls is shown but not held to the target: nearly all
of it is Slurm's first query of the new jobs. ``--no-slurm`` replaces the
scheduler with a stub that answers PENDING (measures the agent alone).
``--limits`` spreads the UoWs over 50 users (starters), turns every admission
limit on (``max_active_per_user = 20``, each user's 20 running UoWs fill it;
``max_running_per_user``, ``max_active``, ``max_uow_bytes_per_user`` too) and
adds 500 complete uploads (10 per user) that the limits hold back: the tick
then also reads every upload's starter, plans the admission and keeps its
memory of held uploads (the first run logs 500 ``held-by-limit``, the later
ones nothing).

Run: ``.venv/bin/python benchmarks/bench_agent_steady.py`` (under a minute; it
starts and stops its own test cluster).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from agent_bench_common import REPO, make_instance, make_uow, scratch, start_cluster

from hpc_agent import protocol
from hpc_agent.loop.state import SUBMITTED, JobRecord, Ledger, StateStore, ledger_key
from hpc_agent.uow.record import job_name

FINISHED = 10_000
RUNNING = 1_000
USERS = 50
HELD = 500
LIMITS = {
    "max_running_per_user": 10,
    "max_active_per_user": 20,
    "max_active": 2_000,
    "max_uow_bytes_per_user": 1024**4,
}

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from hpc_agent.config import load_instance
from hpc_agent.executors.base import JobInfo
from hpc_agent.loop.tick import tick
from hpc_agent.loop.holds import HeldList
from hpc_agent.loop.state import StateStore
from hpc_agent.executors import slurm

calls = []
real_run = slurm._run
def counting_run(argv, timeout):
    calls.append(argv[0])
    return real_run(argv, timeout)
slurm._run = counting_run

class Stub:
    name = "stub"
    def ping(self): pass
    def submit(self, spec): raise AssertionError("nothing to submit")
    def query(self, ids): return {{i: JobInfo(job_id=i, state="PENDING") for i in ids}}
    def find_by_name(self, names): return {{}}
    def cancel(self, job_id): pass

cfg = load_instance({base!r})
executor = Stub() if {stub!r} else None
started = time.perf_counter()
result = tick(cfg, executor)
wall = time.perf_counter() - started
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"wall": wall, "rss_mb": rss, "finished": len(result.finished),
                  "slurm_calls": len(calls),
                  "queries": result.scheduler_queries, "exit": result.exit_code,
                  "held": len(HeldList(StateStore(cfg.base_dir).root).load().entries)}}))
"""


def populate(cfg, job_ids: list[str], *, limits: bool = False) -> None:  # type: ignore[no-untyped-def]
    store = StateStore(cfg.base_dir)
    store.ensure()
    ledger = Ledger(store.root).load()
    now = time.time()
    for i in range(FINISHED):
        directory = protocol.ANALYSED if i % 5 else protocol.FAILED
        uow = cfg.path(directory) / f"done{i:05d}"
        (uow / "data").mkdir(parents=True)
        (uow / "data" / "out.txt").write_text("result\n")
        ledger.put(ledger_key(directory, uow.name), now - 3600, job_id=str(i))
    ledger.save()
    for i, job_id in enumerate(job_ids):
        name = f"run{i:04d}"
        (cfg.path(protocol.RUNNING) / name / "data").mkdir(parents=True)
        store.save(
            JobRecord(
                uow=name,
                phase=SUBMITTED,
                source=name,
                admitted_at=now,
                job_name=job_name(cfg.name, name),
                job_id=job_id,
                submitted_at=now,
                user=f"user{i % USERS:02d}" if limits else "unknown",
            )
        )
    if limits:
        for i in range(HELD):
            uow = make_uow(cfg.path(protocol.UPLOADED), f"wait{i:04d}")
            (uow / protocol.STARTER_DIR / f"user{i % USERS:02d}").mkdir(parents=True)


def main() -> int:
    stub = "--no-slurm" in sys.argv
    limits = "--limits" in sys.argv
    root = scratch()
    cluster = None if stub else start_cluster(root / "slurm")
    try:
        cfg = make_instance(
            root / "inst",
            "steady",
            account=cluster.account if cluster else None,
            qos=cluster.qos if cluster else None,
            **(LIMITS if limits else {}),
        )
        if cluster is None:
            job_ids = [str(100000 + i) for i in range(RUNNING)]
        else:
            job_ids = []
            for _ in range(RUNNING):
                out = cluster.run(
                    ["sbatch", "--parsable", "--hold", "--mem=10M", "-t", "1", "--wrap", "true"]
                ).stdout
                job_ids.append(out.strip().split(";")[0])
        populate(cfg, job_ids, limits=limits)
        runs = []
        for _ in range(4):
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD.format(repo=str(REPO), base=str(cfg.base_dir), stub=stub),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            run = json.loads(out)
            # A tick that stopped early (scheduler down) would look fast for nothing.
            assert run["exit"] == 0, run
            assert len(list(cfg.path(protocol.UPLOADED).iterdir())) == (HELD if limits else 0)
            runs.append(run)
    finally:
        if cluster is not None:
            cluster.stop()
    print(
        f"steady-state tick, {FINISHED} finished + {RUNNING} running UoWs "
        f"({'stub scheduler' if stub else 'real Slurm'})"
        + (f", {USERS} users, limits on, {HELD} uploads held" if limits else "")
    )
    print(
        f"{'run':>4} {'wall s':>8} {'peak RSS MB':>12} {'queries':>8} {'Slurm calls':>12} "
        f"{'moved':>6} {'held':>5}"
    )
    for number, run in enumerate(runs, 1):
        note = "  (first tick after the sbatch calls)" if number == 1 and not stub else ""
        print(
            f"{number:>4} {run['wall']:>8.3f} {run['rss_mb']:>12.1f} {run['queries']:>8} "
            f"{run['slurm_calls']:>12} {run['finished']:>6} {run['held']:>5}{note}"
        )
    steady = runs if stub else runs[1:]
    worst_wall = max(r["wall"] for r in steady)
    worst_rss = max(r["rss_mb"] for r in runs)
    calls = {r["slurm_calls"] for r in steady}
    met = worst_wall <= 0.35 and worst_rss <= 100 and (stub or calls == {2})
    print(
        f"steady ticks: worst {worst_wall:.3f} s, Slurm calls {sorted(calls)}; "
        f"targets (<= 0.35 s, 2 Slurm calls, <= 100 MB): {'met' if met else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
