"""Finalize-by-dependency on an idle test cluster: job end to UoW in AnalysedFiles/.

One tick submits the UoW and its tiny ``--dependency=afterany`` finalize job;
no further tick runs. The figure is the time from the job's end (the end time
Slurm reports) to the moment the UoW appears, handed back, in AnalysedFiles/.
Target: <= 5 s.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

from agent_bench_common import make_instance, make_uow, scratch, start_cluster

from hpc_agent import protocol
from hpc_agent.tick import tick

RUNS = 3


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
            )
            make_uow(cfg.path(protocol.UPLOADED), "uow")
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
            delays.append(arrived - ended)
    finally:
        cluster.stop()
    print(f"{'run':>4} {'job end -> AnalysedFiles (s)':>30}")
    for number, delay in enumerate(delays, 1):
        print(f"{number:>4} {delay:>30.2f}")
    print(f"target <= 5 s: {'met' if max(delays) <= 5 else 'NOT met'} (worst {max(delays):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
