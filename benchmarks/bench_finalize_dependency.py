"""Finalize-by-dependency on an idle test cluster: job end to UoW in AnalysedFiles/.

One tick submits the UoW and its tiny ``--dependency=afterany`` finalize job;
no further tick runs. The figure is the time from the job's end (the end time
Slurm reports) to the moment the UoW appears, handed back, in AnalysedFiles/.
Slurm reports End in whole seconds, so the job script also writes the time of
its last command, and the figure is measured from that (Slurm's coarser figure
is shown beside it). On an idle cluster most of the delay is Slurm's own: the
dependent job is started by the next batch scheduling pass (``batch_sched_delay``,
3 s by default), then the finalize step itself takes about half a second.
Target: <= 5 s.

Run: ``.venv/bin/python benchmarks/bench_finalize_dependency.py`` (under a
minute; it starts and stops its own test cluster).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

from agent_bench_common import make_instance, make_uow, scratch, start_cluster

from hpc_agent import protocol
from hpc_agent.loop.tick import tick

RUNS = 3

TIMED_SCRIPT = (
    "#!/bin/bash\n#SBATCH --time=00:01:00\n#SBATCH --ntasks=1\n#SBATCH --mem=10M\n"
    # Slurm's End is whole seconds; the script's own last act is the precise end.
    "date +%s.%N > data/ended_at\n"
)


def main() -> int:
    root = scratch()
    cluster = start_cluster(root / "slurm")
    delays = []
    try:
        for run in range(RUNS):
            cfg = make_instance(
                root / f"inst{run}",
                f"dep{run}",
                account=cluster.account,
                qos=cluster.qos,
                finalize_by_dependency=True,
                fast_handback=False,
            )
            make_uow(cfg.path(protocol.UPLOADED), "uow", script=TIMED_SCRIPT)
            tick(cfg)
            done = cfg.path(protocol.ANALYSED) / "uow"
            deadline = time.time() + 120
            while not (done / protocol.REPORT_JSON).exists() or (done / "sentinels").exists():
                if time.time() > deadline:
                    raise SystemExit("the finalize job did not hand the UoW back in 120 s")
                time.sleep(0.05)
            arrived = time.time()
            report = json.loads((done / protocol.REPORT_JSON).read_text())
            ended = datetime.fromisoformat(report["end_time"]).timestamp()
            script_end = float((done / "data" / "ended_at").read_text())
            delays.append((arrived - script_end, arrived - ended))
    finally:
        cluster.stop()
    print("finalize-by-dependency on an idle test cluster: job end -> handed back")
    print(f"{'run':>4} {'from the script end (s)':>24} {'from Slurm End (s, to 1 s)':>27}")
    for number, (precise, coarse) in enumerate(delays, 1):
        print(f"{number:>4} {precise:>24.2f} {coarse:>27.2f}")
    worst = max(precise for precise, _ in delays)
    print(f"target <= 5 s: {'met' if worst <= 5 else 'NOT met'} (worst {worst:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
