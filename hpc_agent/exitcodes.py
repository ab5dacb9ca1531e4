"""Every exit code ``hpc-agent`` uses, documented in one place.

Commands never pick numbers themselves; they return one of these.
``docs/exit-codes.md`` lists them (a test keeps the two in step). Cron mails
a non-zero tick's output, so the codes tell a person at a glance whether to
act (1, 2) or wait for Slurm to come back (3).
"""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
"""Success; also a tick that found another agent working on the instance."""
EXIT_FAILED: Final = 1
"""An operation could not be done (retry, cancel, schedule), ``doctor`` found a failing check,
a tick got an answer from the scheduler it cannot use (it stopped; nothing was lost), a
tick refused an instance directory that is a symlink or not a directory (it did nothing), a
tick had an error in one or more Units of Work (logged; the others went on), a tick lost its
lease to another host (it stopped), or a command met a file system error (full, read-only,
not writable: one line naming the path; nothing was moved)."""
EXIT_USAGE: Final = 2
"""Bad command line, unknown instance, invalid config or set-up answer."""
EXIT_SCHEDULER_DOWN: Final = 3
"""The tick stopped because the scheduler could not be reached; nothing was moved."""

EXIT_CODES: Final = {
    "OK": EXIT_OK,
    "FAILED": EXIT_FAILED,
    "USAGE": EXIT_USAGE,
    "SCHEDULER_DOWN": EXIT_SCHEDULER_DOWN,
}
"""Name -> code, for the documentation check."""
