"""The ``hpc-agent`` command line: set up, schedule, check and operate FlowCron instances.

INSTANCE is an instance's base directory or its registered name. Exit codes:
0 success, 1 a failed check or operation, 2 a usage or configuration error,
3 a tick that found Slurm unreachable (nothing was moved).
Messages go to stderr; results to stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hpc_agent import __version__, protocol
from hpc_agent.config import (
    EXECUTORS,
    ConfigError,
    InstanceConfig,
    load_instance,
    registered_base,
    registry_path,
    save_instance,
)
from hpc_agent.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from hpc_agent.loop.eventlog import follow_events, format_event, read_events
from hpc_agent.site import doctor, schedule
from hpc_agent.site.setup import SetupError, SetupOptions, describe_change, setup, stdin_prompter

Handler = Callable[[argparse.Namespace], int]

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every hpc-agent command."""
    parser = argparse.ArgumentParser(
        prog="hpc-agent",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hpc-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_setup(sub)
    _add_schedule(sub)
    _add_doctor(sub)
    _add_logs(sub)
    _add_uninstall(sub)
    try:
        cli_ops = importlib.import_module("hpc_agent.cli.ops")
    except ImportError:
        cli_ops = None  # the operating commands are not installed in this copy
    if cli_ops is not None:
        cli_ops.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run hpc-agent; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Handler = args.func
    try:
        return func(args)
    except (ConfigError, SetupError) as exc:
        print(f"hpc-agent {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except schedule.ScheduleError as exc:
        print(f"hpc-agent {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        # A full disk, a read-only file system, Logs/ that is not a folder, a
        # path the user may not write: one line naming the path, never a
        # traceback. Every step writes before it moves, so nothing has moved.
        print(f"hpc-agent {args.command}: {os_error_message(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


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


# -- setup ---------------------------------------------------------------------


def _add_setup(sub: Any) -> None:
    p = sub.add_parser(
        "setup",
        help="Create or update an instance (asks, or takes flags with --yes).",
        description="Create or update a FlowCron instance: its directories, its settings, "
        "its registry entry and its schedule. Every question is also a flag; with --yes "
        "nothing is asked. Example: hpc-agent setup --base-dir /project/p42/flowcron "
        "--name p42 --account p42 --qos normal --yes",
    )
    p.add_argument("--base-dir", type=Path, help="where the instance lives (default: here)")
    p.add_argument("--name", help="the instance name")
    p.add_argument("--account", help="Slurm account for jobs ('none': Slurm's default)")
    p.add_argument("--qos", help="Slurm QoS for jobs ('none': Slurm's default)")
    p.add_argument("--every", metavar="MINUTES", help="minutes between agent runs")
    p.add_argument("--soft-delete-days", metavar="N", help="0 disables soft deletion")
    p.add_argument("--hard-delete-days", metavar="N", help="0 disables hard deletion")
    stamp = p.add_mutually_exclusive_group()
    stamp.add_argument("--timestamp", dest="timestamp", action="store_true", default=None)
    stamp.add_argument("--no-timestamp", dest="timestamp", action="store_false")
    p.add_argument("--executor", choices=EXECUTORS)
    p.add_argument("--schedule", choices=("cron", "scrontab", "none"))
    p.add_argument(
        "--risky-scripts",
        choices=("warn", "reject"),
        help="script lines that will not work in a job (~/, conda activate without "
        "conda set up...): warn in the report (default) or refuse the Unit of Work",
    )
    p.add_argument("--yes", action="store_true", help="ask nothing; fail on a missing value")
    p.add_argument("--force", action="store_true", help="take over a name used elsewhere")
    p.set_defaults(func=cmd_setup)


def cmd_setup(args: argparse.Namespace) -> int:
    """Create or update an instance."""
    options = SetupOptions(
        base_dir=args.base_dir,
        name=args.name,
        account=args.account,
        qos=args.qos,
        every=args.every,
        soft_delete_days=args.soft_delete_days,
        hard_delete_days=args.hard_delete_days,
        timestamp=args.timestamp,
        executor=args.executor,
        schedule=args.schedule,
        risky_scripts=args.risky_scripts,
        yes=args.yes,
        force=args.force,
    )
    prompter = None if args.yes else stdin_prompter(sys.stdout)
    _, status = setup(options, prompter=prompter, out=sys.stdout, err=sys.stderr)
    return status


# -- schedule --------------------------------------------------------------------


def _add_schedule(sub: Any) -> None:
    p = sub.add_parser(
        "schedule",
        help="Install, remove or show the instance's cron (or scrontab) entry.",
        description="Manage the marked block this instance owns in your crontab (or "
        "scrontab). The previous table is saved in ~/.config/flowcron/ before any change. "
        "Example: hpc-agent schedule install p42",
    )
    p.add_argument("action", choices=("install", "remove", "show"))
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("--kind", choices=("cron", "scrontab"), help="override the configured kind")
    p.add_argument("--yes", action="store_true", help="change the table without asking")
    p.set_defaults(func=cmd_schedule)


def cmd_schedule(args: argparse.Namespace) -> int:
    """Install, remove or show the schedule."""
    cfg = load_instance(args.instance)
    if args.kind:
        cfg = replace(cfg, schedule=args.kind)
    if args.action == "show":
        block = schedule.show(cfg)
        if block is None:
            print(f"no {cfg.schedule} entry for {cfg.name}", file=sys.stderr)
            return EXIT_FAILED
        sys.stdout.write(block)
        return EXIT_OK
    change = schedule.plan_install(cfg) if args.action == "install" else schedule.plan_remove(cfg)
    if not change.changed:
        print(f"nothing to change in your {change.tool} table", file=sys.stderr)
        return EXIT_OK
    sys.stdout.write(describe_change(change))
    if not args.yes and not stdin_prompter(sys.stdout).confirm(f"Apply to your {change.tool}?"):
        print("left unchanged", file=sys.stderr)
        return EXIT_OK
    backup = schedule.apply(change)
    print(f"{change.tool} updated; previous table saved to {backup}", file=sys.stderr)
    if args.kind and args.action == "install":
        save_instance(cfg)  # the kind given now is the one doctor and uninstall should use
    return EXIT_OK


# -- doctor ----------------------------------------------------------------------


def _add_doctor(sub: Any) -> None:
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
    cfg = load_instance(args.instance) if args.instance else None
    checks = doctor.run_checks(cfg)
    if args.format == "json":
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for check in checks:
            print(check.line())
    return doctor.exit_code(checks)


# -- logs ------------------------------------------------------------------------


def _add_logs(sub: Any) -> None:
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
    cfg: InstanceConfig = load_instance(args.instance)
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
            return EXIT_OK
        return EXIT_OK  # pragma: no cover - follow only ends by interruption
    for record in read_events(logs_dir, uow=args.uow, since=args.since):
        show(record)
    return EXIT_OK


# -- uninstall ---------------------------------------------------------------------


def _add_uninstall(sub: Any) -> None:
    p = sub.add_parser(
        "uninstall",
        help="Remove an instance's schedule and registry entry (never its data).",
        description="Stop running the agent for an instance: remove its cron/scrontab "
        "block and its registry entry. Uploaded, running and finished Units of Work, logs "
        "and settings stay where they are. Example: hpc-agent uninstall p42 --yes",
    )
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("--yes", action="store_true", help="change the table without asking")
    p.set_defaults(func=cmd_uninstall)


def _remove_registry_entry(cfg: InstanceConfig) -> None:
    """Remove the registry entry of ``cfg``'s name only when it points at ``cfg.base_dir``."""
    entry = registry_path(cfg.name)
    try:
        registered = registered_base(cfg.name)
    except ConfigError as exc:
        print(f"registry entry left in place: {exc}", file=sys.stderr)
        return
    if registered is None:
        return
    if not schedule.same_path(registered, cfg.base_dir):
        print(
            f"registry entry {entry} left in place: it names the instance at {registered}, "
            f"not {cfg.base_dir}",
            file=sys.stderr,
        )
        return
    entry.unlink()
    print(f"removed the registry entry {entry}", file=sys.stderr)


def cmd_uninstall(args: argparse.Namespace) -> int:
    """Remove the schedule and the registry entry; keep every file of the instance."""
    cfg = load_instance(args.instance)
    status = EXIT_OK
    if cfg.schedule != "none":
        try:
            change = schedule.plan_remove(cfg)
            if change.changed:
                sys.stdout.write(describe_change(change))
                if args.yes or stdin_prompter(sys.stdout).confirm(f"Apply to your {change.tool}?"):
                    backup = schedule.apply(change)
                    print(f"removed the {change.tool} entry (backup: {backup})", file=sys.stderr)
                else:
                    # Declined: uninstall as a whole is off, the registry entry included.
                    print(
                        f"nothing was changed: the {change.tool} entry and the registry entry "
                        f"of {cfg.name} are still in place",
                        file=sys.stderr,
                    )
                    return EXIT_FAILED
        except schedule.ScheduleError as exc:
            print(f"could not remove the schedule: {exc}", file=sys.stderr)
            status = EXIT_FAILED
    _remove_registry_entry(cfg)
    print(
        f"No data was deleted: everything is still in {cfg.base_dir} "
        f"(settings in {cfg.config_path}). Remove it yourself when you no longer need it.",
        file=sys.stderr,
    )
    return status
