"""The ``hpc-agent`` command line: set up, schedule, check and operate FlowCron instances.

Building the parser imports only the command modules' parser halves: each
command imports what it needs when it runs, so ``hpc-agent --help`` and
``hpc-agent status`` start fast (tests/test_import_graph.py keeps them so).
The help text users read is :data:`DESCRIPTION` and each command's
description and example, plain prose (tests/agent/test_cli_conventions.py).

:func:`main` is the one place an error becomes an exit code and one line
(or, under ``-F json``, one JSON document on stdout); a closed stdout and
Ctrl-C end as :mod:`hpc_agent.terminal` says (141 and 130).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from hpc_agent import __version__
from hpc_agent.cli import completion, function, inspect, ops, run, setup, usage
from hpc_agent.cli.common import FORMATTER, example, prepare_format, wants_json
from hpc_agent.cli.inspect import parse_since
from hpc_agent.errors import AgentError
from hpc_agent.exitcodes import ExitCode

Handler = Callable[[argparse.Namespace], int]

HANDLED: tuple[type[BaseException], ...] = (AgentError, OSError, KeyboardInterrupt)
"""What :func:`main` turns into one line on stderr and an exit code; anything else is a bug."""

_BARE_CONFIG_PREFIX = frozenset({"tick", "run", "status", "retry", "cancel", "finalize"})
"""The operating commands show a configuration error as ``hpc-agent: ...``, without their name."""

DESCRIPTION = """\
Set up, schedule, check and operate FlowCron instances on an HPC login node.

INSTANCE is an instance's base directory or its registered name. Results go
to stdout and messages to stderr; every command takes -F json (one JSON
document on stdout) and --jmespath EXPR. Exit codes: 0 success, 1 a failed
check or operation, 2 a usage or configuration error, 3 a tick that found
Slurm unreachable, 130 interrupted (Ctrl-C), 141 the reader of the output
went away (| head).
Shell completion: hpc-agent completion --help."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every hpc-agent command."""
    parser = argparse.ArgumentParser(
        prog="hpc-agent",
        description=DESCRIPTION,
        epilog=example("hpc-agent doctor p42"),
        formatter_class=FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"hpc-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # In this order in --help: setting up and looking first, then operating.
    setup.add_setup(sub)
    setup.add_schedule(sub)
    inspect.add_doctor(sub)
    inspect.add_logs(sub)
    function.add_function(sub)
    setup.add_uninstall(sub)
    run.add_tick(sub)
    run.add_run(sub)
    inspect.add_status(sub)
    usage.add_usage(sub)
    usage.add_report(sub)
    ops.add_retry(sub)
    ops.add_cancel(sub)
    ops.add_finalize(sub)
    completion.add_completion(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run hpc-agent; returns the process exit code.

    A closed stdout (``hpc-agent logs p42 | head -1``) ends quietly with 141
    and Ctrl-C with 130, never with a traceback (:func:`hpc_agent.terminal.run_guarded`).
    """
    from hpc_agent.terminal import run_guarded

    return run_guarded(lambda: _main(argv), on_interrupt=_interrupted)


def _interrupted() -> None:
    # Ctrl-C outside a command (while the parser runs): the command never started.
    print("hpc-agent: interrupted", file=sys.stderr)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Handler = args.func
    try:
        prepare_format(args)
        return int(func(args))
    except BrokenPipeError:
        raise  # the reader went away: run_guarded ends quietly, with no message to print
    except HANDLED as exc:
        code = classify(exc)
        message = error_message(exc, args.command)
        if wants_json(args):
            # A script reading -F json gets one document either way, and the same exit code;
            # the line below still tells a person (or a CI log) why, as flowgen does.
            import json

            from hpc_agent.terminal import error_document

            print(json.dumps(error_document(code.name, int(code), message), ensure_ascii=False))
        # Ctrl-C at a prompt leaves the cursor after the question: start a new line.
        fresh = isinstance(exc, KeyboardInterrupt) and sys.stderr.isatty()
        print(("\n" if fresh else "") + message, file=sys.stderr)
        return int(code)


def classify(exc: BaseException) -> ExitCode:
    """The exit code for an exception in :data:`HANDLED` that escaped a command.

    An :class:`~hpc_agent.errors.AgentError` carries its own; an OSError (a
    full disk, a read-only file system, Logs/ that is not a folder, a path the
    user may not write) is FAILED: every step writes before it moves, so
    nothing has moved. TypeError for anything else, which is a bug.
    """
    if isinstance(exc, AgentError):
        return exc.exit_code
    if isinstance(exc, OSError):
        return ExitCode.FAILED
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    raise TypeError(f"not an error hpc-agent reports: {type(exc).__name__}") from exc


def error_message(exc: BaseException, command: str) -> str:
    """The one line ``command`` prints on stderr for ``exc``: never a traceback."""
    if isinstance(exc, KeyboardInterrupt):
        return f"hpc-agent {command}: interrupted"
    from hpc_agent.config import ConfigError  # loaded already whenever one was raised

    text = os_error_message(exc) if isinstance(exc, OSError) else str(exc)
    if isinstance(exc, ConfigError) and command in _BARE_CONFIG_PREFIX:
        return f"hpc-agent: {text}"
    return f"hpc-agent {command}: {text}"


def os_error_message(exc: OSError) -> str:
    """``<path>: <reason>`` for an OSError, with what to do for the common ones."""
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    hints = {
        28: "free some space on that file system (the agent moved nothing)",  # ENOSPC
        30: "the file system is mounted read-only (the agent moved nothing)",  # EROFS
        13: "give your user write permission there, or run as the instance's owner",  # EACCES
        122: "the disk quota is exhausted (the agent moved nothing)",  # EDQUOT
    }
    hint = hints.get(exc.errno or 0)
    text = f"{where}: {reason}" if where else reason
    return f"{text}; {hint}" if hint else text


__all__ = ["HANDLED", "classify", "error_message", "main", "os_error_message", "parse_since"]
