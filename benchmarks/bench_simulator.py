"""Simulator speed: a flow that polls for 24 hours of virtual time must finish in <= 1 s wall.

The flow waits a minute, stats a file and loops until the file exists; a
hook creates the file when the virtual clock reaches 24 h, the way the HPC
agent will produce a job's results. Run: ``python benchmarks/bench_simulator.py``.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from flowgen.simulate import SimulatorOptions, simulate

HPC = "9d6d994a-6d04-11e5-ba46-22000b92c6ec"
LIMIT_SECONDS = 1.0
DAY = timedelta(hours=24)

DEFINITION = {
    "StartAt": "Pause",
    "States": {
        "Pause": {"Type": "Wait", "Seconds": 60, "Next": "Check"},
        "Check": {
            "Type": "Action",
            "ActionUrl": "https://transfer.actions.globus.org/stat",
            "Parameters": {"endpoint_id": HPC, "path": "/job/finished"},
            "ResultPath": "$.Check",
            "Next": "Done?",
        },
        "Done?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.Check.details.type", "IsPresent": True, "Next": "Done"}],
            "Default": "Pause",
        },
        "Done": {"Type": "Pass", "End": True},
    },
}


def main() -> int:
    """Run the benchmark, print the figures, fail when over the limit."""
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "job").mkdir()

        def agent(now: datetime) -> None:
            if now - start >= DAY:
                (root / "job" / "finished").touch()

        result = simulate(
            DEFINITION,
            {},
            collections={HPC: root},
            options=SimulatorOptions(start_time=start),
            hooks=[agent],
        )
    stats = result.stats
    print(
        f"simulator: {result.status}, {stats.elapsed_seconds / 3600:.1f} h of virtual time, "
        f"{stats.states_executed} states, {sum(stats.action_calls.values())} action calls "
        f"in {stats.wall_seconds:.3f} s wall (limit {LIMIT_SECONDS:.1f} s)"
    )
    ok = result.succeeded and stats.elapsed_seconds >= DAY.total_seconds()
    return 0 if ok and stats.wall_seconds <= LIMIT_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
