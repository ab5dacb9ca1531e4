"""Fast hand-back: job end to UoW handed back, with no tick during the measurement.

One tick submits every UoW (the instance ticks every 5 minutes, so no other
tick comes while the jobs run); the job wrapper hands each one back itself.
The figure per job is the time from the script's last command (it writes
``date +%s.%N``: Slurm's End is whole seconds) to the moment the UoW is in
``AnalysedFiles/`` without ``sentinels/``.

Modes:

- default: 20 jobs of 1 to 60 s (about 5 minutes on a 2-CPU test cluster);
- ``--quick``: 6 jobs of 1 to 10 s;
- ``--busy``: every CPU of the test cluster busy with other jobs the whole time:
  the measured jobs spin their CPU instead of sleeping, and as many spinning
  filler jobs as the cluster has CPUs are queued behind them (so each freed CPU
  is taken at once, and the last measured jobs end on a full cluster too).

Targets: median <= 3 s, max <= 10 s.

Run: ``.venv/bin/python benchmarks/bench_handback.py [--quick] [--busy]``
(it starts and stops its own test cluster).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from agent_bench_common import make_instance, make_uow, scratch, start_cluster

from hpc_agent import protocol
from hpc_agent.loop.tick import tick

HEADER = "#!/bin/bash\n#SBATCH --time=00:03:00\n#SBATCH --ntasks=1\n#SBATCH --mem=20M\n"
STAMP = "date +%s.%N > data/ended_at\n"
SPIN = 'end=$((SECONDS + {seconds})); while [ "$SECONDS" -lt "$end" ]; do :; done\n'


def durations(quick: bool) -> list[int]:
    if quick:
        return [1, 2, 3, 5, 8, 10]
    return [round(1 + i * 59 / 19) for i in range(20)]


def script(seconds: int, busy: bool) -> str:
    work = SPIN.format(seconds=seconds) if busy else f"sleep {seconds}\n"
    return HEADER + work + STAMP


def submit_fillers(cluster: object, count: int, seconds: int) -> list[str]:
    """``count`` spinning jobs of ``seconds`` that keep every CPU busy (not UoWs)."""
    ids = []
    for _ in range(count):
        out = subprocess.run(
            [
                "sbatch",
                "--parsable",
                "--ntasks=1",
                "--mem=10M",
                "--time=00:10:00",
                "-o",
                "/dev/null",
                *(["--account", cluster.account] if cluster.account else []),  # type: ignore[attr-defined]
                *(["--qos", cluster.qos] if cluster.qos else []),  # type: ignore[attr-defined]
                "--wrap",
                f"end=$((SECONDS + {seconds})); while [ $SECONDS -lt $end ]; do :; done",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        ids.append(out.stdout.strip().split(";")[0])
    return ids


def measure(quick: bool, busy: bool) -> list[tuple[int, float]]:
    root = scratch()
    cluster = start_cluster(root / "slurm")
    fillers: list[str] = []
    try:
        cfg = make_instance(
            root / "inst",
            "handback",
            account=cluster.account,
            qos=cluster.qos,
            every_minutes=5,
        )
        jobs = durations(quick)
        for number, seconds in enumerate(jobs):
            make_uow(cfg.path(protocol.UPLOADED), f"u{number:02d}", script=script(seconds, busy))
        submitted = tick(cfg).submitted
        assert len(submitted) == len(jobs), submitted
        if busy:
            fillers = submit_fillers(cluster, cluster.cpus, max(jobs) + 30)
        started = time.time()
        arrived: dict[str, float] = {}
        budget = sum(jobs) + 120
        while len(arrived) < len(jobs):
            for name in submitted:
                done = cfg.path(protocol.ANALYSED) / name
                if name not in arrived and done.is_dir() and not (done / "sentinels").exists():
                    arrived[name] = time.time()
            if time.time() - started > budget:
                missing = sorted(set(submitted) - set(arrived))
                raise SystemExit(f"not handed back without a tick in {budget} s: {missing}")
            time.sleep(0.05)
        results = []
        for number, seconds in enumerate(jobs):
            name = f"u{number:02d}"
            ended = float((cfg.path(protocol.ANALYSED) / name / "data" / "ended_at").read_text())
            results.append((seconds, arrived[name] - ended))
        return results
    finally:
        if fillers:
            subprocess.run(["scancel", *fillers], check=False)
        cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 jobs of 1-10 s")
    parser.add_argument("--busy", action="store_true", help="every CPU busy with other jobs")
    args = parser.parse_args()
    results = measure(args.quick, args.busy)
    load = "every CPU busy" if args.busy else "idle cluster"
    print(f"fast hand-back, {len(results)} jobs, {load}, no tick: script end -> handed back")
    print(f"{'job':>4} {'runs (s)':>9} {'hand-back (s)':>14}")
    for number, (seconds, delay) in enumerate(results, 1):
        print(f"{number:>4} {seconds:>9} {delay:>14.2f}")
    delays = [delay for _, delay in results]
    median, worst = statistics.median(delays), max(delays)
    verdict = "met" if median <= 3 and worst <= 10 else "NOT met"
    print(f"median {median:.2f} s, max {worst:.2f} s: target (median <= 3, max <= 10) {verdict}")
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main())
