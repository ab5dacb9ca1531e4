"""One tick admitting and submitting 1,000 function UoWs against a real test Slurm cluster.

Each UoW holds a ``job.toml`` calling a published function with a path, an
int and a string parameter; the tick checks every call, renders its script,
writes it into the UoW and runs sbatch. Printed: milliseconds per UoW for
the whole tick, and the same tick over 1,000 script UoWs in the same run as
the baseline (the ratio is what the function path costs on top). Target:
<= 40 ms per function UoW, sbatch included.

Run: ``.venv/bin/python benchmarks/bench_function_submit.py`` (a minute or
two; it starts and stops its own test cluster).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from agent_bench_common import make_instance, make_uow, scratch, start_cluster

from hpc_agent import protocol
from hpc_agent.executors import make_executor
from hpc_agent.loop.tick import tick

N = 1000
TARGET_MS = 40.0

FUNCTION_TOML = """\
name = "count"
version = "1.0.0"
description = "Count the words of a file"

[params.input]
type = "path"
match = "*.txt"

[params.threads]
type = "int"
default = 1
min = 1
max = 4

[params.label]
type = "string"
pattern = "[a-z0-9-]+"
default = "run"

[resources]
time = "5"
cpus = "{threads}"
memory = "100M"
"""

TEMPLATE = '#!/bin/bash\nset -euo pipefail\nwc -w "$input" > "words-$label.txt"\n'


def make_function_uow(parent: Path, name: str) -> None:
    uow = parent / name
    (uow / "data").mkdir(parents=True)
    (uow / "data" / "input.txt").write_text("1 2 3\n")
    (uow / protocol.JOB_FILE).write_text(
        'function = "count"\n[params]\ninput = "input.txt"\nthreads = 1\nlabel = "bench"\n'
    )
    (uow / "sentinels").mkdir()


def one_tick(root: Path, name: str, cluster: object, *, functions: bool) -> float:
    cfg = make_instance(
        root / name,
        name,
        account=cluster.account,  # type: ignore[attr-defined]
        qos=cluster.qos,  # type: ignore[attr-defined]
    )
    if functions:
        folder = cfg.path(protocol.FUNCTIONS) / "count"
        folder.mkdir(parents=True)
        (folder / "function.toml").write_text(FUNCTION_TOML)
        (folder / "template.sh").write_text(TEMPLATE)
    for i in range(N):
        if functions:
            make_function_uow(cfg.path(protocol.UPLOADED), f"uow{i:05d}")
        else:
            make_uow(cfg.path(protocol.UPLOADED), f"uow{i:05d}")
    started = time.perf_counter()
    result = tick(cfg, make_executor(cfg))
    wall = time.perf_counter() - started
    assert len(result.submitted) == N, (len(result.submitted), result.message)
    if functions:
        first = cfg.path(protocol.RUNNING) / "uow00000" / protocol.RENDERED_SCRIPT
        assert first.is_file(), "the rendered script was not written into the UoW"
    cluster.run(["scancel", "--user", cluster.user], check=False)  # type: ignore[attr-defined]
    shutil.rmtree(cfg.base_dir, ignore_errors=True)
    return wall * 1000 / N


def main() -> int:
    root = scratch()
    cluster = start_cluster(root / "slurm")
    try:
        scripts = one_tick(root, "scripts", cluster, functions=False)
        functions = one_tick(root, "functions", cluster, functions=True)
    finally:
        cluster.stop()
    print(f"one tick admitting and submitting {N} UoWs (real Slurm, accounting on)")
    print(f"{'kind':>10} {'ms/UoW (incl. sbatch)':>22}")
    print(f"{'scripts':>10} {scripts:>22.1f}")
    print(f"{'functions':>10} {functions:>22.1f}")
    print(f"functions / scripts: {functions / scripts:.2f}x")
    met = functions <= TARGET_MS
    print(f"target <= {TARGET_MS:.0f} ms per function UoW: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
