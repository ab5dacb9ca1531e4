"""``make demo``: the whole FlowCron loop on this machine, in seconds, without Globus.

Run it as ``python -m flowgen.demo`` (``--slurm`` to submit to the Slurm
cluster this machine's Slurm commands reach, instead of the embedded
``local`` executor). It:

1. builds the FlowCron flow from ``flows/example.toml`` (:data:`EXAMPLE_CONFIG`);
2. makes a sample Unit of Work (a small analysis script with ``#SBATCH``
   lines that reads ``data/`` and writes ``results/`` with relative paths)
   in a "laptop" collection directory;
3. sets up an agent instance at the example's base path
   (``/tmp/flowcron-demo/hpc/example``);
4. simulates a run, printing one line per step (upload, hand-over, the
   agent admitting and submitting, the job's state, the hand-back, the
   results coming back), and ends with where the results landed.

Where the HPC collection is rooted: not at ``/``. The simulated Transfer
actions can write and delete anywhere inside a collection's root, so a
collection rooted at ``/`` would give the demo's flow the whole file system.
Instead the HPC collection is rooted at the base path's parent
(``/tmp/flowcron-demo/hpc``), as a real Globus collection is rooted at a
project directory, and the flow is built with the base path as the
collection sees it (``/example``). The instance still lives at the
example's real base path.

Everything lives under ``/tmp/flowcron-demo``, which carries a marker file;
a second run deletes that directory (and only a directory with the marker)
first, so the demo can run any number of times. Exit code 0 when the run
succeeded, 1 when it failed, 2 when the demo could not start.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TextIO

from flowgen.core.errors import FlowgenError
from flowgen.flowcron import build, load_config
from flowgen.simulate import Collection, LogEntry, RunResult, Simulator
from flowgen.simulate.agent import AgentDriver, AgentEvent, create_instance

DEMO_HOLD_LIMIT = 300.0
"""Real seconds the demo waits for a job before giving up (the job takes about 2 s)."""
EXAMPLE_CONFIG = Path(__file__).resolve().parent / "data" / "example.toml"
"""The embedded example instance, shipped in the package so the demo runs from a wheel too
(``flows/example.toml`` in the repository is a link to it)."""
LAPTOP_ID = "7c2b4f1e-3d6a-4e58-9b0c-1a2d3e4f5a6b"
"""The demo's "laptop" collection (any UUID: the simulator knows it by this id)."""
MARKER = ".flowcron-demo"
"""A file in the demo directory: only a directory holding it is ever deleted."""
UOW_NAME = "sample_analysis"

ANALYSIS_SCRIPT = """\
#!/bin/bash
#SBATCH --job-name=flowcron-demo
#SBATCH --time=00:05:00
#SBATCH --ntasks=1
#SBATCH --mem=100M
# Summarise every CSV in data/: rows, and mean, min and max of each numeric
# column. The job starts in the Unit of Work, so relative paths work.
set -euo pipefail
mkdir -p results
for csv in data/*.csv; do
    awk -F, -v name="$(basename "$csv")" '
        NR == 1 { for (i = 1; i <= NF; i++) col[i] = $i; n = NF; next }
        {
            rows++
            for (i = 1; i <= n; i++) {
                sum[i] += $i
                if (rows == 1 || $i < lo[i]) lo[i] = $i
                if (rows == 1 || $i > hi[i]) hi[i] = $i
            }
        }
        END {
            printf "%s: %d rows\\n", name, rows
            for (i = 1; i <= n; i++)
                printf "  %-12s mean %8.3f  min %8.3f  max %8.3f\\n", col[i], sum[i] / rows, lo[i], hi[i]
        }' "$csv"
done > results/summary.txt
sleep 2  # a real analysis takes a while; this lets the demo show the job running
echo "analysed $(ls data/*.csv | wc -l) file(s) on $(hostname)"
"""

SAMPLE_DATA = """\
temperature,pressure,humidity
21.5,1012.8,40.2
22.1,1011.9,42.7
20.8,1013.4,39.5
23.4,1010.2,45.1
22.9,1010.8,44.0
21.7,1012.1,41.3
"""


class DemoError(FlowgenError):
    """The demo cannot start; the message says why and what to do."""


def prepare_root(root: Path) -> None:
    """Make ``root`` an empty demo directory, deleting only a previous demo's directory."""
    if root.exists() or root.is_symlink():
        if root.is_symlink() or not (root / MARKER).is_file():
            raise DemoError(
                f"{root} exists but was not made by the FlowCron demo (no {MARKER} file in it); "
                "move it away and run the demo again"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("Made by `make demo` (python -m flowgen.demo); safe to delete.\n")


def make_sample_uow(laptop: Path) -> Path:
    """The sample Unit of Work: ``data/weather.csv`` and ``scripts/submission_script.sh``."""
    uow = laptop / UOW_NAME
    (uow / "data").mkdir(parents=True)
    (uow / "scripts").mkdir()
    (uow / "data" / "weather.csv").write_text(SAMPLE_DATA)
    script = uow / "scripts" / "submission_script.sh"
    script.write_text(ANALYSIS_SCRIPT)
    script.chmod(0o755)
    return uow


def slurm_reachable() -> str | None:
    """None when ``sinfo`` answers, else why not."""
    try:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    # sinfo explains itself over several lines; the last one says what failed.
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"sinfo exited {done.returncode}"


class Progress:
    """Prints one line per significant step of the flow and the agent."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start: object = None
        self.waiting_shown = False
        self.checks = 0

    def line(self, when: object, text: str) -> None:
        """``[+HH:MM:SS] text``, with the flow time since the run started."""
        if self.start is None:
            self.start = when
        offset = int((when - self.start).total_seconds())  # type: ignore[operator]
        hours, rest = divmod(offset, 3600)
        stamp = f"+{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        print(f"[{stamp}] {text}", file=self.out, flush=True)

    def flow(self, entry: LogEntry) -> None:
        """Listener for the simulator's run log."""
        if self.start is None:
            self.start = entry.time
        details = entry.details
        state = details.get("state_name")
        if entry.code == "WaitStarted" and not self.waiting_shown:
            self.waiting_shown = True
            self.line(entry.time, "flow waiting for the agent (checks back off from 30 s)")
        if entry.code == "ActionCompleted" and str(state).startswith("Check"):
            self.checks += 1
        if entry.code != "ActionCompleted" or "caught" in details:
            return
        items = (details.get("parameters") or {}).get("DATA") or []
        first = items[0] if items and isinstance(items[0], dict) else {}
        if state == "Upload":
            self.line(
                entry.time,
                f"uploaded {first.get('source_path')} -> HPC {first.get('destination_path')}",
            )
        elif state == "MarkUploadComplete":
            self.line(entry.time, "created sentinels/: the upload is handed to the agent")
        elif state in ("ReturnResults", "ReturnFailedJob"):
            self.line(
                entry.time,
                f"flow noticed the end after {self.checks} checks; copied "
                f"{first.get('source_path')} back into {first.get('destination_path')}",
            )
        elif state in ("DeleteResultsCopy", "DeleteFailedJobCopy"):
            self.line(entry.time, "deleted the HPC copy")

    def agent(self, event: AgentEvent) -> None:
        """Listener for the agent driver."""
        self.line(event.time, f"agent {event.message}")


def run_demo(root: Path, *, slurm: bool, out: TextIO) -> tuple[RunResult, Path]:
    """Set everything up under ``root`` and run the flow once; returns the result and the UoW."""
    cfg = load_config(EXAMPLE_CONFIG)
    base = PurePosixPath(cfg.base_path)
    if Path(base.parent.parent) != root:
        raise DemoError(
            f"{EXAMPLE_CONFIG}: the demo expects base_path under {root}/hpc/, got {cfg.base_path}"
        )
    prepare_root(root)
    hpc_root, laptop = Path(base.parent), root / "laptop"
    laptop.mkdir()
    uow = make_sample_uow(laptop)
    # The flow sees the base path relative to the HPC collection's root.
    flow_cfg = dataclasses.replace(cfg, base_path=f"/{base.name}")
    built = build(flow_cfg)
    executor = "slurm" if slurm else "local"
    instance = create_instance(Path(base), cfg.name, executor=executor)
    progress = Progress(out)
    # The demo job takes seconds; a job stuck for minutes means something is wrong,
    # so give up long before the driver's default hour.
    driver = AgentDriver(
        instance, hold_poll=0.2, hold_limit=DEMO_HOLD_LIMIT, on_event=progress.agent
    )
    print(
        f"FlowCron demo: flow {cfg.flow_title} ({len(built.definition['States'])} states), "
        f"agent on the {executor} executor\n"
        f"  laptop collection {laptop}   (Unit of Work: {UOW_NAME}/)\n"
        f"  HPC collection    {hpc_root}   (agent instance: {instance.base_dir})",
        file=out,
        flush=True,
    )
    simulator = Simulator(
        built.definition,
        collections={
            LAPTOP_ID: laptop,
            flow_cfg.collection: Collection(root=hpc_root, display_name=cfg.hpc_name),
        },
        input_schema=built.input_schema,
        hooks=[driver.hook()],
        on_log=progress.flow,
    )
    result = simulator.run({"input": {"source": {"id": LAPTOP_ID, "path": f"/{UOW_NAME}/"}}})
    return result, uow


def summarise(result: RunResult, uow: Path, wall: float, out: TextIO) -> None:
    """The closing lines: status, cost, and where the results are."""
    stats = result.stats
    print(
        f"\n{result.status} in {wall:.1f} s ({stats.elapsed_seconds:.0f} s of flow time, "
        f"{sum(stats.action_calls.values())} Globus actions, {stats.states_executed} states)",
        file=out,
    )
    if result.succeeded:
        print(result.output["FlowResult"]["message"], file=out)
        summary = uow / "results" / "summary.txt"
        print(f"\nResults: {summary}", file=out)
        if summary.is_file():
            print(summary.read_text().rstrip(), file=out)
    else:
        print(f"{result.error}: {result.cause}", file=out)
    print(f"\nThe whole Unit of Work, with the Slurm output and the report: {uow}/", file=out)


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Run the demo; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m flowgen.demo",
        description="Run the whole FlowCron loop locally: flow, agent and job, in seconds.",
    )
    parser.add_argument(
        "--slurm",
        action="store_true",
        help="submit to the Slurm cluster sbatch reaches here instead of the local executor",
    )
    args = parser.parse_args(argv)
    try:
        root = Path(PurePosixPath(load_config(EXAMPLE_CONFIG).base_path).parent.parent)
        if args.slurm and (why := slurm_reachable()) is not None:
            raise DemoError(f"--slurm: no Slurm cluster answers here ({why}); run without --slurm")
        wall = time.perf_counter()
        result, uow = run_demo(root, slurm=args.slurm, out=out)
    except FlowgenError as exc:
        print(f"demo: {exc.message}", file=sys.stderr)
        return 2
    summarise(result, uow, time.perf_counter() - wall, out)
    return 0 if result.succeeded else 1


if __name__ == "__main__":
    raise SystemExit(main())
