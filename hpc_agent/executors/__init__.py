"""The executors a FlowCron instance can run jobs with, around one small contract.

:mod:`~hpc_agent.executors.base` is the contract (submit, query, cancel);
:mod:`~hpc_agent.executors.slurm` and :mod:`~hpc_agent.executors.local` are
the two implementations; :mod:`~hpc_agent.executors.sbatch` reads the
``#SBATCH`` lines both of them and admission need. :func:`make_executor` is
the one place an executor is built from an instance's configuration.
"""

from __future__ import annotations

from pathlib import Path

from hpc_agent.config import EXECUTORS, InstanceConfig
from hpc_agent.executors.base import Executor
from hpc_agent.executors.local import LocalExecutor
from hpc_agent.executors.slurm import SlurmExecutor
from hpc_agent.loop.state import StateStore

EXECUTOR_KINDS = EXECUTORS
"""Every value the ``executor`` setting accepts (defined by :mod:`hpc_agent.config`)."""


def executor_state_dir(cfg: InstanceConfig) -> Path:
    """Where the ``local`` executor keeps its job records: inside the agent's state directory."""
    return StateStore(cfg.base_dir).root / "executor"


def make_executor(cfg: InstanceConfig) -> Executor:
    """The executor ``cfg`` names (``executor = "slurm"`` or ``"local"``).

    Slurm commands are bounded by ``slurm_timeout_seconds``. Raises ValueError
    naming the accepted kinds for anything else (the configuration loader has
    normally refused it already).
    """
    if cfg.executor == "slurm":
        return SlurmExecutor(timeout_seconds=cfg.slurm_timeout_seconds)
    if cfg.executor == "local":
        return LocalExecutor(executor_state_dir(cfg))
    raise ValueError(
        f"unknown executor {cfg.executor!r}: use one of {', '.join(EXECUTOR_KINDS)} "
        "(the `executor` setting in flowcron.toml)"
    )
