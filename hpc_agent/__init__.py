"""FlowCron's HPC-side agent.

Runs from cron on an HPC login node: admits Units of Work uploaded by the
FlowCron Globus flow, submits them to Slurm, detects their outcome and hands
them back. Standard library only (plus ``tomli`` on Python 3.10), because HPC
login nodes often have nothing but the system Python.
"""

import functools

__version__ = "0.1.0"
"""The version of the ``flowcron`` distribution (pyproject.toml reads it from here)."""


@functools.cache  # where the running code lives does not change; a tick asks once per UoW
def package_parent() -> str:
    """The directory holding the ``hpc_agent`` package, for a child process's PYTHONPATH.

    Jobs and cron lines run the agent from a plain checkout too, where
    nothing is installed; they find the package through this (the rule is
    :func:`hpc_agent.invocation.agent_command`). Inside ``hpc-agent.pyz``
    it is the archive's path.
    """
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent)
