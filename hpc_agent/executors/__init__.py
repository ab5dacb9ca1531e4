"""Choosing the executor an instance is configured with (``executor = "slurm"`` or ``"local"``)."""

from __future__ import annotations

from pathlib import Path

from hpc_agent.executors.base import Executor
from hpc_agent.executors.local import LocalExecutor
from hpc_agent.executors.slurm import DEFAULT_TIMEOUT, SlurmExecutor

EXECUTOR_KINDS = ("slurm", "local")
"""Every value the ``executor`` setting accepts."""


def make_executor(
    kind: str, state_dir: Path, *, timeout_seconds: float = DEFAULT_TIMEOUT
) -> Executor:
    """The executor named ``kind``.

    ``state_dir`` is where the ``local`` executor keeps its job records (the
    instance's agent state directory); ``timeout_seconds`` bounds each Slurm
    command. Raises ValueError naming the accepted kinds for anything else.
    """
    if kind == "slurm":
        return SlurmExecutor(timeout_seconds=timeout_seconds)
    if kind == "local":
        return LocalExecutor(state_dir)
    raise ValueError(
        f"unknown executor {kind!r}: use one of {', '.join(EXECUTOR_KINDS)} "
        "(the `executor` setting in flowcron.toml)"
    )
