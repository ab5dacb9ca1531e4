"""Acting on one Unit of Work: ``retry``, ``cancel`` and ``finalize``.

Each command is thin (parse, call one function of :mod:`hpc_agent.uow.operations`,
print through :func:`~hpc_agent.cli.common.emit`) and returns its exit code; what
they raise is mapped by
:func:`hpc_agent.cli.classify`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hpc_agent.cli.common import (
    add_format_options,
    add_instance_argument,
    add_parser,
    emit,
    example,
)
from hpc_agent.errors import AgentError
from hpc_agent.exitcodes import ExitCode

if TYPE_CHECKING:
    from hpc_agent.config import InstanceConfig
    from hpc_agent.executors.base import Executor


class NotMovedYet(AgentError):
    """``cancel`` cancelled the job but could not hand the UoW back yet (exit code 1)."""


def _add_uow_command(
    sub: Any, name: str, func: Callable[[argparse.Namespace], int], text: str, more: str
) -> None:
    p = add_parser(
        sub,
        name,
        help=text,
        description=f"{text} {more}",
        epilog=example(f"hpc-agent {name} p42 sample_<run id>"),
    )
    add_instance_argument(p)
    p.add_argument("uow", metavar="UOW", help="the UoW's folder name")
    add_format_options(p)
    p.set_defaults(func=func)


def add_retry(sub: Any) -> None:
    """Add ``retry`` to the sub-command parsers ``sub``."""
    _add_uow_command(
        sub,
        "retry",
        cmd_retry,
        "Send a failed UoW back for resubmission.",
        "It moves from FailedJobs/ to UploadedFiles/ and the next tick submits it again; "
        "the earlier reports are kept in flowcron-earlier-runs/.",
    )


def add_cancel(sub: Any) -> None:
    """Add ``cancel`` to the sub-command parsers ``sub``."""
    _add_uow_command(
        sub,
        "cancel",
        cmd_cancel,
        "Cancel a UoW's job and hand it back as cancelled.",
        "The job is cancelled with scancel and the UoW handed back to FailedJobs/ with its "
        "report; a job that had already succeeded is handed back as it ended.",
    )


def add_finalize(sub: Any) -> None:
    """Add ``finalize`` to the sub-command parsers ``sub``."""
    _add_uow_command(
        sub,
        "finalize",
        cmd_finalize,
        "Hand a UoW back now if its job has ended.",
        "The finalize-by-dependency job runs this as soon as a job ends, so the researcher "
        "need not wait for the next tick; it does nothing while the job runs.",
    )


def _executor(cfg: InstanceConfig) -> Executor:
    """The executor the operations use (tests replace this one function)."""
    from hpc_agent.executors import make_executor

    return make_executor(cfg)


def cmd_retry(args: argparse.Namespace) -> int:
    """Move a failed UoW back to UploadedFiles/ for resubmission by the next tick."""
    from hpc_agent.config import load_instance
    from hpc_agent.uow.operations import retry

    target = retry(load_instance(args.instance), args.uow)
    emit(
        {"uow": args.uow, "now_in": str(target.parent)},
        args,
        lambda: f"{args.uow} will be submitted again by the next tick (now in {target.parent}/)\n",
    )
    return ExitCode.OK


def cmd_cancel(args: argparse.Namespace) -> int:
    """scancel a UoW's job and finalize it into FailedJobs/ as cancelled."""
    from hpc_agent import protocol
    from hpc_agent.config import load_instance
    from hpc_agent.uow.operations import cancel

    cfg = load_instance(args.instance)
    destination = cancel(cfg, args.uow, _executor(cfg))
    if destination is None:
        raise NotMovedYet(f"{args.uow}: cancelled, but it could not be moved yet; see the log")
    if destination.startswith(protocol.ANALYSED):
        # The job had already succeeded: it is handed back as it ended, not as cancelled.
        text = f"{args.uow}: its job had already finished successfully; now in {destination}"
    else:
        text = f"{args.uow}: handed back, now in {destination} (see its report for the outcome)"
    emit({"uow": args.uow, "now_in": destination}, args, lambda: text + "\n")
    return ExitCode.OK


def cmd_finalize(args: argparse.Namespace) -> int:
    """Finalize a UoW whose job has ended (run by the finalize-by-dependency job)."""
    from hpc_agent.config import load_instance
    from hpc_agent.uow.operations import finalize_uow

    cfg = load_instance(args.instance)
    destination = finalize_uow(cfg, args.uow, _executor(cfg))
    text = f"{args.uow}: " + (f"now in {destination}" if destination else "nothing to do")
    emit({"uow": args.uow, "now_in": destination}, args, lambda: text + "\n")
    return ExitCode.OK
