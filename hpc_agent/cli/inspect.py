"""Looking at an instance without changing it: ``doctor``, ``logs`` and ``status``."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from hpc_agent.cli.common import add_instance_argument
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
    p = sub.add_parser(
        "doctor",
        help="Check this login node (and an instance) for what the agent needs.",
        description="Check Slurm commands, accounting, the instance's directories (present, "
        "writable, on one file system), free space, the schedule and the lock. Exits 1 when "
        "any check fails. Example: hpc-agent doctor p42",
    )
    p.add_argument("instance", metavar="INSTANCE", nargs="?")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Run the checks and print them."""
    from hpc_agent.config import load_instance
    from hpc_agent.site import doctor

    cfg = load_instance(args.instance) if args.instance else None
    checks = doctor.run_checks(cfg)
    if args.format == "json":
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for check in checks:
            print(check.line())
    return doctor.exit_code(checks)


# -- logs ------------------------------------------------------------------------


def add_logs(sub: Any) -> None:
    """Add ``logs`` to the sub-command parsers ``sub``."""
    p = sub.add_parser(
        "logs",
        help="Show an instance's event log.",
        description="Print the instance's events, oldest first. --since takes a duration "
        "(90s, 30m, 2h, 7d, 1w) or a UTC date or time (2026-01-31, 2026-01-31T12:00). "
        "Example: hpc-agent logs p42 --uow sample_0b7c... --since 2d",
    )
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("--uow", metavar="NAME", help="only this Unit of Work's events")
    p.add_argument("--since", metavar="DURATION|DATE", type=_since_arg)
    p.add_argument("--format", choices=("text", "json"), default="text")
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
    """Print (and optionally follow) the event log."""
    from hpc_agent import protocol
    from hpc_agent.config import load_instance
    from hpc_agent.loop.eventlog import follow_events, format_event, read_events

    cfg = load_instance(args.instance)
    logs_dir = cfg.path(protocol.LOGS)

    def show(record: dict[str, Any]) -> None:
        if args.format == "json":
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        else:
            line = format_event(record)
        print(line, flush=True)

    if args.follow:
        try:
            for record in follow_events(logs_dir, uow=args.uow, since=args.since):
                show(record)
        except KeyboardInterrupt:
            return ExitCode.OK
        return ExitCode.OK  # pragma: no cover - follow only ends by interruption
    for record in read_events(logs_dir, uow=args.uow, since=args.since):
        show(record)
    return ExitCode.OK


# -- status ----------------------------------------------------------------------


def add_status(sub: Any) -> None:
    """Add ``status`` to the sub-command parsers ``sub``."""
    p = sub.add_parser(
        "status",
        help="Show UoWs by state, with job ids, Slurm states and ages.",
        description="Show every UoW of an instance by state. "
        "Example: hpc-agent status myproject --format json",
    )
    add_instance_argument(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
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
    if args.format == "json":
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        sys.stdout.write(format_status(status))
    return ExitCode.OK
