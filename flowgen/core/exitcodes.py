"""Every exit code flowgen uses, documented in one place.

Commands never pick numbers themselves: they return or raise, and
:mod:`flowgen.cli.errors` maps the outcome to one of these.
"""

from __future__ import annotations

from enum import IntEnum

from hpc_agent import terminal


class ExitCode(IntEnum):
    """Process exit codes of the ``flowgen`` command."""

    OK = 0
    """Success; for ``diff``: identical; for ``simulate``: the run SUCCEEDED."""
    DIFFERENT = 1
    """``diff``/``deploy --dry-run``: differences found; ``simulate``: the run FAILED."""
    USAGE = 2
    """Bad command line, unreadable or malformed input file, bad config."""
    INVALID = 3
    """``validate``/``build``: the flow has error-level findings (or warnings with --strict);
    ``uow check``: the agent would refuse the Unit of Work (it has problems)."""
    AUTH = 4
    """Not logged in, or the credentials were refused (401); ``run status --watch``: the run waits for consent."""
    FORBIDDEN = 5
    """The service refused the caller (403): not an administrator or starter."""
    NOT_FOUND = 6
    """The service has no such flow or run (404)."""
    CONFLICT = 7
    """The service reported a conflict (409)."""
    SERVICE = 8
    """The service rejected the request (422, other 4xx/5xx) or could not be reached."""
    STILL_RUNNING = 9
    """``run status --watch``: stopped watching at --timeout; the run goes on."""
    INTERNAL = 70
    """A bug in flowgen (an unexpected exception); the message asks for a report (sysexits EX_SOFTWARE)."""
    INTERRUPTED = terminal.INTERRUPTED_EXIT
    """Ctrl-C before the command finished (130, as a shell reports SIGINT; the same in hpc-agent)."""
    CLOSED_PIPE = terminal.CLOSED_PIPE_EXIT
    """The reader of stdout went away (``flowgen ... | head``): the command stopped quietly (141)."""


RUN_FAILED = ExitCode.DIFFERENT
"""A run that ended FAILED exits like a diff that found differences: 1."""

UOW_REFUSED = ExitCode.INVALID
"""``uow check`` on a folder the agent would refuse exits like a flow with errors: 3.

The same meaning: the input was read and has problems to fix. It is not
``USAGE`` (2), which says the input could not be read at all."""
