"""Helpers for the agent's tests against the real Slurm test bed (tests/slurmbed.py)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.loop.tick import TickResult, tick

REPO = Path(__file__).resolve().parents[2]

FAST_SCRIPT = (
    "#!/bin/bash\n"
    "#SBATCH --time=00:01:00\n"
    "#SBATCH --ntasks=1\n"
    "#SBATCH --mem=50M\n"
    'echo "uow=$1" > data/out.txt\n'
    "cat data/input.txt >> data/out.txt\n"
)


def instance(cluster: Any, base: Path, **overrides: Any) -> InstanceConfig:
    """A saved instance with its directories, using the cluster's account and QoS."""
    base.mkdir(parents=True, exist_ok=True)
    cfg = InstanceConfig(
        name="t" + uuid.uuid4().hex[:8],
        base_dir=base.resolve(),
        account=cluster.account,
        qos=cluster.qos,
        executor="slurm",
        schedule="none",
    )
    cfg = dataclasses.replace(cfg, **overrides)
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    save_instance(cfg)
    return cfg


def finished_path(cfg: InstanceConfig, name: str) -> Path | None:
    """Where ``name`` was handed back, or None while it is not."""
    for directory in protocol.FINISHED_DIRS:
        path = cfg.path(directory) / name
        if path.is_dir() and not (path / protocol.SENTINELS_DIR).exists():
            return path
    return None


def tick_until_done(
    cfg: InstanceConfig, names: list[str], timeout: float = 120
) -> list[TickResult]:
    """Tick (in process) until every UoW in ``names`` is handed back; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    results = []
    while True:
        results.append(tick(cfg))
        if all(finished_path(cfg, n) for n in names):
            return results
        if time.monotonic() > deadline:
            left = [n for n in names if not finished_path(cfg, n)]
            raise AssertionError(f"not handed back within {timeout} s: {left}")
        time.sleep(0.5)


def agent_cmd(
    *args: str, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``python3 -m hpc_agent ARGS`` in a fresh process, as cron would."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hpc_agent", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
        **kw,
    )


def jobs_named(cluster: Any, name: str) -> list[str]:
    """Ids of every job ever submitted with ``name``: the controller's and, with accounting, sacct's.

    Both are needed: slurmdbd learns a job's name seconds after the job ends
    (until then sacct lists it as ``allocation``), and the controller forgets
    a job ``MinJobAge`` seconds after it ended.
    """
    out = cluster.run(["squeue", "-h", "-t", "all", f"--name={name}", "-o", "%i"]).stdout
    if cluster.accounting:
        out += cluster.run(
            ["sacct", "-n", "-X", "-P", "-S", "now-1days", f"--name={name}", "-o", "JobID"]
        ).stdout
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def accounting_cluster(request: Any, monkeypatch: Any) -> Any:
    """The test bed with accounting, its environment set for this process and its children.

    Skips when the ``slurm_cluster`` fixture (tests/conftest.py) is not available.
    """
    import pytest

    try:
        bed = request.getfixturevalue("slurm_cluster")
    except pytest.FixtureLookupError:
        pytest.skip("the slurm_cluster fixture (tests/conftest.py) is not available")
    for key, value in bed.env.items():
        monkeypatch.setenv(key, value)
    return bed
