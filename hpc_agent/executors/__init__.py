"""The executors a FlowCron instance can run jobs with, around one small contract.

:mod:`~hpc_agent.executors.base` is the contract (submit, query, cancel);
:mod:`~hpc_agent.executors.slurm` and :mod:`~hpc_agent.executors.local` are
the two implementations; :mod:`~hpc_agent.executors.sbatch` reads the
``#SBATCH`` lines both of them and admission need. :func:`make_executor` is
the one place an executor is built from an instance's configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hpc_agent.protocol import EXECUTORS

if TYPE_CHECKING:
    from hpc_agent.config import InstanceConfig
    from hpc_agent.executors.base import Executor

# The implementations are imported by make_executor, for the one it builds: a
# module importing hpc_agent.executors.base (hpc-agent status) loads neither.

EXECUTOR_KINDS = EXECUTORS
"""Every value the ``executor`` setting accepts (defined by :mod:`hpc_agent.config`)."""


def executor_state_dir(cfg: InstanceConfig) -> Path:
    """Where the ``local`` executor keeps its job records: inside the agent's state directory."""
    from hpc_agent.loop.state import StateStore

    return StateStore(cfg.base_dir).root / "executor"


def make_executor(cfg: InstanceConfig) -> Executor:
    """The executor ``cfg`` names (``executor = "slurm"`` or ``"local"``).

    Slurm commands are bounded by ``slurm_timeout_seconds``; whether the
    cluster keeps accounting is remembered in the agent's state directory
    (:data:`~hpc_agent.executors.slurm.ACCOUNTING_FILE`). Raises ValueError
    naming the accepted kinds for anything else (the configuration loader has
    normally refused it already).
    """
    if cfg.executor == "slurm":
        from hpc_agent.executors.slurm import ACCOUNTING_FILE, SlurmExecutor
        from hpc_agent.loop.state import StateStore

        return SlurmExecutor(
            timeout_seconds=cfg.slurm_timeout_seconds,
            accounting_file=StateStore(cfg.base_dir).root / ACCOUNTING_FILE,
        )
    if cfg.executor == "local":
        from hpc_agent.executors.local import LocalExecutor

        return LocalExecutor(executor_state_dir(cfg))
    raise ValueError(
        f"unknown executor {cfg.executor!r}: use one of {', '.join(EXECUTOR_KINDS)} "
        "(the `executor` setting in flowcron.toml)"
    )
