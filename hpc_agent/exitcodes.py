"""Every exit code ``hpc-agent`` uses, documented in one place.

Commands never pick numbers themselves: they return one of these, or raise
an :class:`~hpc_agent.errors.AgentError` whose ``exit_code`` is one, and
:func:`hpc_agent.cli.classify` maps what they raised. ``docs/exit-codes.md``
lists them (a test keeps the two in step). Cron mails a non-zero tick's
output, so the codes tell a person at a glance whether to act (1, 2) or wait
for Slurm to come back (3).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from hpc_agent.terminal import CLOSED_PIPE_EXIT, INTERRUPTED_EXIT


class ExitCode(IntEnum):
    """Process exit codes of the ``hpc-agent`` command."""

    OK = 0
    """Success; also a tick that found another agent working on the instance."""
    FAILED = 1
    """An operation could not be done (retry, cancel, schedule), ``doctor`` found a failing check,
    a tick got an answer from the scheduler it cannot use (it stopped; nothing was lost), a
    tick refused an instance directory that is a symlink or not a directory (it did nothing), a
    tick had an error in one or more Units of Work (logged; the others went on), a tick lost its
    lease to another host (it stopped), or a command met a file system error (full, read-only,
    not writable: one line naming the path; nothing was moved)."""
    USAGE = 2
    """Bad command line, unknown instance, invalid config or set-up answer."""
    SCHEDULER_DOWN = 3
    """The tick stopped because the scheduler could not be reached; nothing was moved."""
    INTERRUPTED = INTERRUPTED_EXIT
    """Interrupted (Ctrl-C) before the command finished, as a shell reports SIGINT (128 + 2)."""
    CLOSED_PIPE = CLOSED_PIPE_EXIT
    """The reader of stdout went away (``hpc-agent logs p42 | head -1``), as a shell reports
    SIGPIPE (128 + 13): the command stopped quietly where it was."""


# The names used before ExitCode existed; they are its members.
EXIT_OK: Final = ExitCode.OK
EXIT_FAILED: Final = ExitCode.FAILED
EXIT_USAGE: Final = ExitCode.USAGE
EXIT_SCHEDULER_DOWN: Final = ExitCode.SCHEDULER_DOWN

EXIT_CODES: Final = {code.name: int(code) for code in ExitCode}
"""Name -> code, for the documentation check."""
