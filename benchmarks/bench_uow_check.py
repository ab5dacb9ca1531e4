"""``flowgen uow check`` on a Unit of Work of 20,000 files.

Target (issue 11): the check of a UoW of 20,000 files takes <= 1 s, both
in-process (:func:`flowgen.uow.check.check_uow`, the agent's admission) and
as the whole command in a fresh process (start-up included). Two folders
are measured: one with its own job script, and one calling a function
whose glob parameter (``**/*.dat``) matches every file. The same run
measures a baseline on the same tree (``os.walk``, and ``os.walk`` plus an
``lstat`` of every entry, the least any size-counting walk does) and
prints the check's ratio to it, so a slow machine or file system shows as
such. Each figure is the median of several runs after one untimed run
(the page cache is warm, as it is for a folder the researcher just wrote).
Exits with 1 when a target is missed.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flowgen.uow.catalog import load_catalog  # noqa: E402
from flowgen.uow.check import check_uow, instance_config  # noqa: E402
from hpc_agent.functions.catalog import to_catalog  # noqa: E402
from hpc_agent.functions.spec import load_library  # noqa: E402

FLOWGEN = Path(sys.executable).with_name("flowgen")
FILES = 20_000
PER_DIR = 200
RUNS = 5
TARGET = 1.0
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

SCRIPT = "#!/bin/bash\n#SBATCH --time=01:00:00\n#SBATCH --mem=4G\n\necho hi > data/out.txt\n"
FUNCTION_TOML = """\
name = "sum"
version = "1.0.0"
description = "Sums the data files"

[params.inputs]
type = "path"
glob = true
match = "*.dat"

[params.threads]
type = "int"
default = 4
min = 1
max = 64

[resources]
time = "1:00:00"
cpus = "{threads}"
"""


def build_tree(uow: Path, *, function: bool) -> None:
    """``FILES`` small files in ``data/``, ``PER_DIR`` to a folder, and what to run."""
    data = uow / "data"
    for index in range(FILES):
        folder = data / f"d{index // PER_DIR:03d}"
        if index % PER_DIR == 0:
            folder.mkdir(parents=True)
        (folder / f"f{index:05d}.dat").write_bytes(b"0123456789\n")
    if function:
        (uow / "job.toml").write_text('function = "sum"\n\n[params]\ninputs = "**/*.dat"\n')
    else:
        (uow / "scripts").mkdir()
        (uow / "scripts" / "submission_script.sh").write_text(SCRIPT)


def median_time(action: Callable[[], object]) -> tuple[float, float]:
    action()
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times)


def walk_only(uow: Path) -> None:
    for _ in os.walk(uow):
        pass


def walk_and_lstat(uow: Path) -> None:
    for top, dirs, files in os.walk(uow):
        for name in dirs + files:
            os.lstat(os.path.join(top, name))  # noqa: PTH118 - the cheapest baseline


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )


def file_system(path: Path) -> str:
    try:
        out = subprocess.run(
            ["df", "-T", str(path)], capture_output=True, text=True, check=True, timeout=10
        ).stdout.splitlines()
        return out[-1].split()[1]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def catalogue(root: Path) -> Path:
    folder = root / "Functions" / "sum"
    folder.mkdir(parents=True)
    (folder / "function.toml").write_text(FUNCTION_TOML)
    (folder / "template.sh").write_text('#!/bin/bash\necho "$inputs"\n')
    path = root / "sum.functions.json"
    path.write_text(json.dumps(to_catalog(load_library(root / "Functions"), instance="bench")))
    return path


def measure(name: str, uow: Path, catalog: Path | None) -> list[str]:
    """Print one scenario's figures; the targets it missed."""
    library = load_catalog(catalog) if catalog is not None else None
    with instance_config(None) as cfg:
        result = check_uow(uow, cfg, library=library)
        assert result.admitted, result.problems
        check, check_worst = median_time(lambda: check_uow(uow, cfg, library=library))
    argv = [str(FLOWGEN), "uow", "check", str(uow)]
    if catalog is not None:
        argv += ["--catalog", str(catalog)]
    command, command_worst = median_time(
        lambda: subprocess.run(argv, env=ENV, check=True, stdout=subprocess.DEVNULL)
    )
    walk, _ = median_time(lambda: walk_only(uow))
    walk_lstat, _ = median_time(lambda: walk_and_lstat(uow))
    print(f"-- {name}")
    print(f"  check, in-process     {check:7.3f}s (worst {check_worst:.3f}s)")
    print(
        f"  flowgen uow check     {command:7.3f}s (worst {command_worst:.3f}s, start-up included)"
    )
    print(f"  baseline os.walk      {walk:7.3f}s   check / os.walk = {check / walk:5.1f}x")
    print(
        f"  baseline walk+lstat   {walk_lstat:7.3f}s   "
        f"check / (walk+lstat) = {check / walk_lstat:5.1f}x"
    )
    missed = []
    if check > TARGET:
        missed.append(f"{name}: in-process check {check:.3f}s > {TARGET}s")
    if command > TARGET:
        missed.append(f"{name}: flowgen uow check {command:.3f}s > {TARGET}s")
    return missed


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-uow-check-") as scratch:
        root = Path(scratch)
        print(f"machine: {machine()}")
        print(f"tree: {FILES} files of 11 bytes, {PER_DIR} a folder, on {file_system(root)}")
        print(f"target: <= {TARGET}s; medians of {RUNS} runs after one untimed run")
        script_uow = root / "script-uow"
        build_tree(script_uow, function=False)
        call_uow = root / "call-uow"
        build_tree(call_uow, function=True)
        missed = measure("a UoW with its own script", script_uow, None)
        missed += measure("a function call, glob over data/", call_uow, catalogue(root))
    for line in missed:
        print(f"TARGET MISSED: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
