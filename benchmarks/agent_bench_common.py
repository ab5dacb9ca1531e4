"""Shared set-up for the agent benchmarks: a test Slurm cluster and instances on disk."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hpc_agent import protocol  # noqa: E402
from hpc_agent.config import InstanceConfig, save_instance  # noqa: E402

SCRIPT = "#!/bin/bash\n#SBATCH --time=00:01:00\n#SBATCH --ntasks=1\n#SBATCH --mem=10M\ntrue\n"


def start_cluster(root: Path, *, accounting: bool = True):  # type: ignore[no-untyped-def]
    """Start the disposable cluster of tests/slurmbed.py and point this process at it."""
    from tests.slurmbed import SlurmCluster

    cluster = SlurmCluster(root, accounting=accounting)
    cluster.start()
    os.environ.update(cluster.env)
    return cluster


def make_instance(base: Path, name: str, **overrides: object) -> InstanceConfig:
    """A saved instance with every directory created."""
    base.mkdir(parents=True, exist_ok=True)
    cfg = InstanceConfig(name=name, base_dir=base.resolve(), schedule="none", **overrides)  # type: ignore[arg-type]
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    save_instance(cfg)
    return cfg


def make_uow(parent: Path, name: str, script: str = SCRIPT) -> Path:
    """A small complete upload."""
    uow = parent / name
    (uow / "data").mkdir(parents=True)
    (uow / "scripts").mkdir()
    (uow / "data" / "input.txt").write_text("1 2 3\n")
    (uow / "scripts" / "submission_script.sh").write_text(script)
    (uow / "sentinels").mkdir()
    return uow


def scratch() -> Path:
    """A scratch directory, deleted when the benchmark exits (the steady one holds 11,000 UoWs)."""
    path = Path(tempfile.mkdtemp(prefix="flowcron-bench-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
