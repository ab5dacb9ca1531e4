"""Cold-start wall time of the offline commands on the FlowCron config.

Target (issue 2): ``flowgen build`` and ``flowgen validate`` on the FlowCron
config each finish in <= 0.5 s wall, from a fresh process. Each command is
run several times in a new interpreter; the median and the worst are
reported (the first run also pays for writing .pyc files, so it is run once
untimed first). PYTHONDONTWRITEBYTECODE is removed for the measured
processes: an installed flowgen has its bytecode (pip compiles it), and a
setting that makes every run recompile flowgen from source would measure
the environment, not flowgen.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOWGEN = Path(sys.executable).with_name("flowgen")
RUNS = 7
TARGET = 0.5


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    config = ROOT / "flows" / "example.toml"
    build_dir = ROOT / "flows" / "build" / "example"
    with tempfile.TemporaryDirectory() as out:
        commands = {
            "build": [str(FLOWGEN), "build", str(config), "-o", out],
            "validate (config)": [str(FLOWGEN), "validate", str(config)],
            "validate (files)": [
                str(FLOWGEN),
                "validate",
                str(build_dir / "FlowCron-example_definition.json"),
                "--input-schema",
                str(build_dir / "FlowCron-example_input_schema.json"),
            ],
        }
        print(f"{'command':<20} {'median':>8} {'worst':>8}  (target <= {TARGET}s, {RUNS} runs)")
        missed = []
        for name, argv in commands.items():
            timed(argv)
            times = [timed(argv) for _ in range(RUNS)]
            median = statistics.median(times)
            print(f"{name:<20} {median:>7.3f}s {max(times):>7.3f}s")
            if median > TARGET:
                missed.append(name)
    for name in missed:
        print(f"TARGET MISSED: {name}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
