"""The agent's operating commands: tick, run, status, retry, cancel, finalize.

``hpc_agent.cli`` builds the parser and calls :func:`add_commands`; each
command here is thin (parse, call one library function, print) and returns
its exit code.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from hpc_agent import protocol
from hpc_agent.config import ConfigError, InstanceConfig, load_instance
from hpc_agent.executors.base import Executor
from hpc_agent.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE

Handler = Callable[[argparse.Namespace], int]


def add_commands(subparsers: Any) -> None:
    """Add tick, run, status, retry, cancel and finalize to ``subparsers``."""
    p = subparsers.add_parser(
        "tick",
        help="Run one pass over an instance.",
        description="Admit, submit, check, finalize and clean up once, then exit. "
        "Cron runs this. Example: hpc-agent tick myproject",
    )
    _instance(p)
    p.set_defaults(func=cmd_tick)

    p = subparsers.add_parser(
        "run",
        help="Tick every N seconds in the foreground.",
        description="Tick every SECONDS until interrupted (Ctrl-C or SIGTERM), for sites "
        "with neither cron nor scrontab. Example: hpc-agent run myproject --every 60",
    )
    _instance(p)
    p.add_argument("--every", type=float, required=True, metavar="SECONDS")
    p.add_argument("--max-ticks", type=int, default=0, help="stop after N ticks (0: never)")
    p.set_defaults(func=cmd_run)

    p = subparsers.add_parser(
        "status",
        help="Show UoWs by state, with job ids, Slurm states and ages.",
        description="Show every UoW of an instance by state. "
        "Example: hpc-agent status myproject --format json",
    )
    _instance(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_status)

    for name, func, text in (
        ("retry", cmd_retry, "Send a failed UoW back for resubmission."),
        ("cancel", cmd_cancel, "Cancel a UoW's job and hand it back as cancelled."),
        ("finalize", cmd_finalize, "Hand a UoW back now if its job has ended."),
    ):
        p = subparsers.add_parser(
            name,
            help=text,
            description=f"{text} Example: hpc-agent {name} myproject sample_<run id>",
        )
        _instance(p)
        p.add_argument("uow", help="the UoW's folder name")
        p.set_defaults(func=func)


def _instance(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("instance", help="the instance's base directory or registered name")


def _load(args: argparse.Namespace) -> InstanceConfig:
    return load_instance(args.instance)


def _executor(cfg: InstanceConfig) -> Executor:
    from hpc_agent.executors import make_executor

    return make_executor(cfg)


def _guard(func: Handler) -> Handler:
    """Turn the library's expected errors into a message and an exit code."""

    def run(args: argparse.Namespace) -> int:
        from hpc_agent.uow.operations import OperationError

        try:
            return func(args)
        except ConfigError as exc:
            print(f"hpc-agent: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except OperationError as exc:
            print(f"hpc-agent {args.command}: {exc}", file=sys.stderr)
            return EXIT_FAILED

    run.__doc__ = func.__doc__
    return run


@_guard
def cmd_tick(args: argparse.Namespace) -> int:
    """One tick; exit 0 (also when another agent is busy), non-zero when the scheduler is down."""
    from hpc_agent.loop.tick import tick

    result = tick(_load(args))
    if result.message:
        print(result.message, file=sys.stderr if result.exit_code else sys.stdout)
    return result.exit_code


@_guard
def cmd_run(args: argparse.Namespace) -> int:
    """Tick every ``--every`` seconds until SIGINT/SIGTERM (or ``--max-ticks``)."""
    from hpc_agent.loop.tick import tick

    if args.every < 1:
        print("hpc-agent run: --every must be at least 1 second", file=sys.stderr)
        return EXIT_USAGE
    cfg = _load(args)
    executor = _executor(cfg)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    last_crashed = False
    try:
        count = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                result = tick(cfg, executor)
            except Exception as exc:  # one bad tick (say an NFS hiccup) must not end the loop
                last_crashed = True
                _report_crashed_tick(cfg, exc)
            else:
                last_crashed = False
                if result.exit_code:
                    print(f"tick: {result.message}", file=sys.stderr)
            count += 1
            if args.max_ticks and count >= args.max_ticks:
                break
            stop.wait(max(0.0, args.every - (time.monotonic() - started)))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_FAILED if last_crashed else EXIT_OK


def _report_crashed_tick(cfg: InstanceConfig, exc: Exception) -> None:
    """Log a tick that raised as one error event and say so briefly on stderr."""
    from hpc_agent import protocol
    from hpc_agent.loop.eventlog import EventLog

    text = f"{type(exc).__name__}: {exc}"
    try:
        EventLog(cfg.path(protocol.LOGS), cfg.name).write(
            "tick-crashed",
            f"this tick stopped early ({text}); the next tick will try again",
            level="error",
            error=text,
        )
    except OSError as log_exc:  # the log may sit on the same failing file system
        print(f"hpc-agent run: could not log the failed tick ({log_exc})", file=sys.stderr)
    print(f"hpc-agent run: tick failed ({text}); trying again next tick", file=sys.stderr)


@_guard
def cmd_status(args: argparse.Namespace) -> int:
    """Print the instance's UoWs by state."""
    from hpc_agent.site.status import collect_status, format_status

    cfg = _load(args)
    try:
        executor: Executor | None = _executor(cfg)
    except Exception as exc:  # status must work even when the executor cannot start
        print(f"hpc-agent status: scheduler not queried ({exc})", file=sys.stderr)
        executor = None
    status = collect_status(cfg, executor)
    if args.format == "json":
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        sys.stdout.write(format_status(status))
    return EXIT_OK


@_guard
def cmd_retry(args: argparse.Namespace) -> int:
    """Move a failed UoW back to UploadedFiles/ for resubmission by the next tick."""
    from hpc_agent.uow.operations import retry

    target = retry(_load(args), args.uow)
    print(f"{args.uow} will be submitted again by the next tick (now in {target.parent}/)")
    return EXIT_OK


@_guard
def cmd_cancel(args: argparse.Namespace) -> int:
    """scancel a UoW's job and finalize it into FailedJobs/ as cancelled."""
    from hpc_agent.uow.operations import cancel

    cfg = _load(args)
    destination = cancel(cfg, args.uow, _executor(cfg))
    if destination is None:
        print(f"{args.uow}: cancelled, but it could not be moved yet; see the log", file=sys.stderr)
        return EXIT_FAILED
    if destination.startswith(protocol.ANALYSED):
        # The job had already succeeded: it is handed back as it ended, not as cancelled.
        print(f"{args.uow}: its job had already finished successfully; now in {destination}")
    else:
        print(f"{args.uow}: handed back, now in {destination} (see its report for the outcome)")
    return EXIT_OK


@_guard
def cmd_finalize(args: argparse.Namespace) -> int:
    """Finalize a UoW whose job has ended (run by the finalize-by-dependency job)."""
    from hpc_agent.uow.operations import finalize_uow

    cfg = _load(args)
    destination = finalize_uow(cfg, args.uow, _executor(cfg))
    print(f"{args.uow}: " + (f"now in {destination}" if destination else "nothing to do"))
    return EXIT_OK
