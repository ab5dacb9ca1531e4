"""Terminal conventions both command lines follow, so ``flowgen`` and ``hpc-agent`` cannot drift.

One home for: when to colour (a terminal only, never under ``NO_COLOR``),
the shape of an error under ``--format json``, ``--jmespath`` (the
``jmespath`` package, as ``globus ... --jmespath`` uses), and how a command
ends when its reader goes away (``| head``) or the user presses Ctrl-C.

Standard library only, like the rest of ``hpc_agent``: ``jmespath`` is
imported when an expression is given, and its absence is a clear message.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, Final, TextIO

NO_COLOR_ENV: Final = "NO_COLOR"
"""https://no-color.org: any non-empty value turns colour off, whatever the stream."""

INTERRUPTED_EXIT: Final = 130
"""Ctrl-C, as a shell reports SIGINT (128 + 2); the same in both commands."""

CLOSED_PIPE_EXIT: Final = 141
"""The reader of stdout went away (``| head``), as a shell reports SIGPIPE (128 + 13)."""

_SGR: Final = {
    "error": "1;31",
    "warning": "33",
    "ok": "32",
    "note": "36",
    "bold": "1",
    "dim": "2",
}
"""Select Graphic Rendition codes for the styles the commands use."""

STYLES: Final = frozenset(_SGR)


def colour_enabled(stream: TextIO | None = None) -> bool:
    """Whether to colour what goes to ``stream`` (stdout by default).

    Colour only on a terminal, never under ``NO_COLOR`` or ``TERM=dumb``: a
    pipe, a file, cron mail and CI logs get plain text.
    """
    if os.environ.get(NO_COLOR_ENV):
        return False
    return _smart_terminal(sys.stdout if stream is None else stream)


def _smart_terminal(stream: object) -> bool:
    """A tty that understands escape codes (``TERM`` is not ``dumb``)."""
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


def paint(text: str, style: str, *, enabled: bool) -> str:
    """``text`` in ``style`` (one of :data:`STYLES`) when ``enabled``, else unchanged.

    >>> paint("FAIL", "error", enabled=False)
    'FAIL'
    >>> paint("FAIL", "error", enabled=True)
    '\\x1b[1;31mFAIL\\x1b[0m'
    """
    if not enabled or not text:
        return text
    return f"\x1b[{_SGR[style]}m{text}\x1b[0m"


def error_document(name: str, code: int, message: str) -> dict[str, Any]:
    """What a command prints on stdout, under ``--format json``, instead of its result.

    ``code`` is the exit code the process ends with and ``name`` its
    documented name (``docs/exit-codes.md``), so a script can branch on
    either without parsing the message.

    >>> error_document("USAGE", 2, "no such instance: lab")
    {'error': {'code': 'USAGE', 'exit_code': 2, 'message': 'no such instance: lab'}}
    """
    return {"error": {"code": name, "exit_code": code, "message": message}}


class JmespathError(ValueError):
    """A ``--jmespath`` expression that cannot be used; ``str()`` says what to fix."""


def compile_jmespath(expression: str) -> Any:
    """The compiled expression, checked before the command does any work.

    >>> compile_jmespath("runs[0].status").search({"runs": [{"status": "ACTIVE"}]})
    'ACTIVE'
    """
    try:
        import jmespath
        from jmespath.exceptions import JMESPathError
    except ImportError:
        raise JmespathError(
            "--jmespath needs the jmespath package: pip install jmespath "
            "(it comes with 'pip install flowcron' and inside hpc-agent.pyz)"
        ) from None
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        detail = " ".join(str(exc).split())
        raise JmespathError(
            f"--jmespath {expression!r} is not a JMESPath expression: {detail}"
        ) from None


def run_guarded(main: Callable[[], int | None], *, on_interrupt: Callable[[], None]) -> int:
    """Run a command's ``main`` and return its exit code, ending quietly on a closed pipe.

    ``flowgen ... | head`` and ``hpc-agent logs | head`` close stdout early;
    following the Python documentation's note on SIGPIPE, stdout is pointed
    at ``/dev/null`` so the interpreter's final flush cannot raise again, and
    the command ends with :data:`CLOSED_PIPE_EXIT` and no traceback. Ctrl-C
    calls ``on_interrupt`` (which says what was left undone) and gives
    :data:`INTERRUPTED_EXIT`.
    """
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return CLOSED_PIPE_EXIT
    except KeyboardInterrupt:
        on_interrupt()
        return INTERRUPTED_EXIT
    except SystemExit:
        # argparse's --help and --version end with SystemExit, their text still in
        # stdout's buffer: flush it here, where a closed pipe can still end quietly.
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
            return CLOSED_PIPE_EXIT
        raise
    return int(code or 0)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests, embedding)
        pass
    finally:
        os.close(devnull)


def closed_pipe() -> int:
    """Silence stdout after a ``BrokenPipeError`` caught below :func:`run_guarded`; the exit code.

    For a command framework that handles exceptions itself before
    :func:`run_guarded` could see them (typer turns a closed pipe into exit 1):
    the command ends with :data:`CLOSED_PIPE_EXIT`, quietly, as it would there.
    """
    _silence_stdout()
    return CLOSED_PIPE_EXIT


def live_updates(stream: TextIO | None = None) -> bool:
    """Whether a status line on ``stream`` (stderr by default) may be rewritten in place.

    A terminal that understands ``\\r`` and ``ESC [ K`` only: a tty whose
    ``TERM`` is not ``dumb`` (a dumb terminal, Emacs' shell among them, shows
    the escape codes as text). ``NO_COLOR`` does not matter here: it asks for
    no colour (https://no-color.org), and a line rewritten in place is
    progress, not colour; its text is plain either way.
    """
    return _smart_terminal(sys.stderr if stream is None else stream)
