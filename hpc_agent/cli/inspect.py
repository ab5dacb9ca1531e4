"""Looking at an instance without changing it: ``doctor``, ``logs`` and ``status``."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from hpc_agent.cli.common import (
    add_format_options,
    add_instance_argument,
    add_parser,
    colour,
    emit,
    example,
    to_json,
    wants_json,
)
from hpc_agent.exitcodes import ExitCode

if TYPE_CHECKING:
    from hpc_agent.executors.base import Executor

# Each command imports what it uses when it runs: `hpc-agent --help` loads none
# of it, and `hpc-agent status` not the doctor or the event log.

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# -- doctor ----------------------------------------------------------------------


def add_doctor(sub: Any) -> None:
    """Add ``doctor`` to the sub-command parsers ``sub``."""
    p = add_parser(
        sub,
        "doctor",
        help="Check this login node (and an instance) for what the agent needs.",
        description="Check the Slurm commands, accounting, the instance's directories "
        "(present, writable, on one file system), free space, the schedule, the lock and the "
        "last tick. Each check says OK, WARN or FAIL and what to do; doctor exits 1 when any "
        "check fails.",
        epilog=example("hpc-agent doctor p42"),
    )
    p.add_argument("instance", metavar="INSTANCE", nargs="?")
    add_format_options(p)
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Run the checks and print them."""
    from hpc_agent.config import load_instance
    from hpc_agent.site import doctor

    cfg = load_instance(args.instance) if args.instance else None
    checks = doctor.run_checks(cfg)
    painted = colour()
    emit(
        [check.__dict__ for check in checks],
        args,
        lambda: "".join(check.line(colour=painted) + "\n" for check in checks),
    )
    return doctor.exit_code(checks)


# -- logs ------------------------------------------------------------------------


def add_logs(sub: Any) -> None:
    """Add ``logs`` to the sub-command parsers ``sub``."""
    p = add_parser(
        sub,
        "logs",
        help="Show an instance's event log.",
        description="Print the instance's events, oldest first; with -F json one JSON object "
        "a line. --since takes a duration (90s, 30m, 2h, 7d, 1w) or a UTC date or time "
        "(2026-01-31, 2026-01-31T12:00). --follow keeps printing new events until Ctrl-C "
        "(exit code 130).",
        epilog=example("hpc-agent logs p42 --uow sample_0b7c... --since 2d"),
    )
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("--uow", metavar="NAME", help="only this Unit of Work's events")
    p.add_argument("--since", metavar="DURATION|DATE", type=_since_arg)
    add_format_options(p)
    p.add_argument("--follow", action="store_true", help="keep printing new events (Ctrl-C)")
    p.set_defaults(func=cmd_logs)


def parse_since(text: str, *, now: float | None = None) -> float:
    """A ``--since`` value as epoch seconds; ValueError says which forms are accepted."""
    now = time.time() if now is None else now
    match = _DURATION.match(text.strip())
    if match:
        return now - int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    try:
        stamp = datetime.fromisoformat(text.strip().removesuffix("Z"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (90s, 30m, 2h, 7d, 1w) nor a date "
            "(2026-01-31 or 2026-01-31T12:00, UTC)"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def _since_arg(text: str) -> float:
    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_logs(args: argparse.Namespace) -> int:
    """Print (and optionally follow) the event log; Ctrl-C ends ``--follow`` with 130."""
    from hpc_agent import protocol
    from hpc_agent.config import load_instance
    from hpc_agent.loop.eventlog import follow_events, format_event, read_events

    cfg = load_instance(args.instance)
    logs_dir = cfg.path(protocol.LOGS)
    as_json = wants_json(args)

    def show(record: dict[str, Any]) -> None:
        # One line per event, flushed: `logs --follow | grep` sees each as it comes.
        line = to_json(record, args, lines=True) if as_json else format_event(record) + "\n"
        sys.stdout.write(line)
        sys.stdout.flush()

    events = (
        follow_events(logs_dir, uow=args.uow, since=args.since)
        if args.follow
        else read_events(logs_dir, uow=args.uow, since=args.since)
    )
    for record in events:
        show(record)
    return ExitCode.OK


# -- status ----------------------------------------------------------------------


def add_status(sub: Any) -> None:
    """Add ``status`` to the sub-command parsers ``sub``."""
    p = add_parser(
        sub,
        "status",
        help="Show UoWs by state, with job ids, Slurm states and ages.",
        description="Show the last tick and every Unit of Work of an instance by where it is, "
        "with its job id, Slurm state and age, and why one is stuck or waiting.",
        epilog=example("hpc-agent status p42 -F json --jmespath 'running[].uow'"),
    )
    add_instance_argument(p)
    add_format_options(p)
    p.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    """Print the instance's UoWs by state."""
    from hpc_agent.config import load_instance
    from hpc_agent.executors import make_executor
    from hpc_agent.site.status import collect_status, format_status

    cfg = load_instance(args.instance)
    try:
        executor: Executor | None = make_executor(cfg)
    except Exception as exc:  # status must work even when the executor cannot start
        print(f"hpc-agent status: scheduler not queried ({exc})", file=sys.stderr)
        executor = None
    status = collect_status(cfg, executor)
    emit(status, args, lambda: format_status(status, colour=colour()))
    return ExitCode.OK
