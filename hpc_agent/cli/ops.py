"""Acting on one Unit of Work: ``retry``, ``cancel`` and ``finalize``.

Each command is thin (parse, call one function of :mod:`hpc_agent.uow.operations`,
print) and returns its exit code; what they raise is mapped by
:func:`hpc_agent.cli.classify`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hpc_agent.cli.common import add_instance_argument
from hpc_agent.exitcodes import ExitCode

if TYPE_CHECKING:
    from hpc_agent.config import InstanceConfig
    from hpc_agent.executors.base import Executor


def _add_uow_command(
    sub: Any, name: str, func: Callable[[argparse.Namespace], int], text: str
) -> None:
    p = sub.add_parser(
        name,
        help=text,
        description=f"{text} Example: hpc-agent {name} myproject sample_<run id>",
    )
    add_instance_argument(p)
    p.add_argument("uow", help="the UoW's folder name")
    p.set_defaults(func=func)


def add_retry(sub: Any) -> None:
    """Add ``retry`` to the sub-command parsers ``sub``."""
    _add_uow_command(sub, "retry", cmd_retry, "Send a failed UoW back for resubmission.")


def add_cancel(sub: Any) -> None:
    """Add ``cancel`` to the sub-command parsers ``sub``."""
    _add_uow_command(sub, "cancel", cmd_cancel, "Cancel a UoW's job and hand it back as cancelled.")


def add_finalize(sub: Any) -> None:
    """Add ``finalize`` to the sub-command parsers ``sub``."""
    _add_uow_command(sub, "finalize", cmd_finalize, "Hand a UoW back now if its job has ended.")


def _executor(cfg: InstanceConfig) -> Executor:
    """The executor the operations use (tests replace this one function)."""
    from hpc_agent.executors import make_executor

    return make_executor(cfg)


def cmd_retry(args: argparse.Namespace) -> int:
    """Move a failed UoW back to UploadedFiles/ for resubmission by the next tick."""
    from hpc_agent.config import load_instance
    from hpc_agent.uow.operations import retry

    target = retry(load_instance(args.instance), args.uow)
    print(f"{args.uow} will be submitted again by the next tick (now in {target.parent}/)")
    return ExitCode.OK


def cmd_cancel(args: argparse.Namespace) -> int:
    """scancel a UoW's job and finalize it into FailedJobs/ as cancelled."""
    from hpc_agent import protocol
    from hpc_agent.config import load_instance
    from hpc_agent.uow.operations import cancel

    cfg = load_instance(args.instance)
    destination = cancel(cfg, args.uow, _executor(cfg))
    if destination is None:
        print(f"{args.uow}: cancelled, but it could not be moved yet; see the log", file=sys.stderr)
        return ExitCode.FAILED
    if destination.startswith(protocol.ANALYSED):
        # The job had already succeeded: it is handed back as it ended, not as cancelled.
        print(f"{args.uow}: its job had already finished successfully; now in {destination}")
    else:
        print(f"{args.uow}: handed back, now in {destination} (see its report for the outcome)")
    return ExitCode.OK


def cmd_finalize(args: argparse.Namespace) -> int:
    """Finalize a UoW whose job has ended (run by the finalize-by-dependency job)."""
    from hpc_agent.config import load_instance
    from hpc_agent.uow.operations import finalize_uow

    cfg = load_instance(args.instance)
    destination = finalize_uow(cfg, args.uow, _executor(cfg))
    print(f"{args.uow}: " + (f"now in {destination}" if destination else "nothing to do"))
    return ExitCode.OK
