"""The hpc-agent error hierarchy: one root, mapped to exit codes in one place.

Every error the agent raises on purpose derives from :class:`AgentError`;
its ``exit_code`` says how ``hpc-agent`` ends when it escapes a command, and
:func:`hpc_agent.cli.classify` is the one place that reads it. The classes
live next to the code that raises them (:class:`~hpc_agent.config.ConfigError`,
:class:`~hpc_agent.executors.base.ExecutorError`...); only the root is here.
The one exception is :class:`~hpc_agent.fs.treewalk.TreeChanged`, an
``OSError`` (callers catch it as one), which the CLI maps as a file system error.
"""

from __future__ import annotations

from typing import ClassVar

from hpc_agent.exitcodes import ExitCode


class AgentError(Exception):
    """Root of every error hpc-agent raises on purpose; the message says what to do.

    ``exit_code`` is the process exit code when this escapes a command.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.FAILED


__all__ = ["AgentError"]
