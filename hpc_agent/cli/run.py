"""Running the agent: ``tick`` (one pass, what cron runs) and ``run`` (a foreground loop)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from types import FrameType
from typing import TYPE_CHECKING, Any

from hpc_agent.cli.common import (
    CommandLineError,
    add_format_options,
    add_instance_argument,
    add_parser,
    example,
    to_json,
    wants_json,
)
from hpc_agent.exitcodes import ExitCode

if TYPE_CHECKING:
    from hpc_agent.config import InstanceConfig
    from hpc_agent.loop.context import TickResult

# The loop, the executors and the configuration are imported by the commands
# that use them (hpc-agent --help needs none of them). tick_loop.tick is looked
# up per call: tests replace it.

# -- tick ------------------------------------------------------------------------


def add_tick(sub: Any) -> None:
    """Add ``tick`` to the sub-command parsers ``sub``."""
    p = add_parser(
        sub,
        "tick",
        help="Run one pass over an instance.",
        description="Admit, submit, check, hand back and clean up once, then exit; this is "
        "what cron runs. On a terminal it prints one line saying what it did. Without a "
        "terminal (cron) it prints nothing unless something went wrong, so cron mail and "
        "Logs/cron.out carry only problems; every move is in the event log (hpc-agent logs).",
        epilog=example("hpc-agent tick p42"),
    )
    add_instance_argument(p)
    add_format_options(p)
    p.set_defaults(func=cmd_tick)


def cmd_tick(args: argparse.Namespace) -> int:
    """One tick; exit 0 (also when another agent is busy), non-zero when the scheduler is down."""
    from hpc_agent.config import load_instance
    from hpc_agent.loop import tick as tick_loop

    result = tick_loop.tick(load_instance(args.instance))
    if wants_json(args):
        # What it did, whatever happened: exit_code and message say whether it went wrong.
        sys.stdout.write(to_json(tick_summary(result), args))
    elif result.exit_code:
        print(result.message, file=sys.stderr)
    elif sys.stdout.isatty():
        # A person watching gets what happened; cron, which mails any output, gets silence.
        print(tick_line(result))
    return result.exit_code


def tick_summary(result: TickResult) -> dict[str, Any]:
    """What a tick did, as ``tick -F json`` prints it."""
    return {
        "ran": result.ran,
        "exit_code": result.exit_code,
        "message": result.message,
        "admitted": sorted(result.admitted),
        "rejected": sorted(result.rejected),
        "submitted": dict(sorted(result.submitted.items())),
        "handed_back": dict(sorted(result.finished.items())),
        "recycled": len(result.retention.recycled),
        "deleted": len(result.retention.deleted),
        "errors": result.errors,
        "seconds": round(result.seconds, 3),
    }


def tick_line(result: TickResult) -> str:
    """What a tick did in a few words: counts of what moved, or idle, or why it stopped.

    >>> from hpc_agent.loop.context import TickResult
    >>> tick_line(TickResult(admitted=["a", "b"], submitted={"a": "7", "b": "8"}))
    '2 admitted, 2 submitted (0.0 s)'
    >>> tick_line(TickResult())
    'idle: nothing to do (0.0 s)'
    """
    if not result.ran:
        return f"skipped: {result.message}"
    counts = (
        (len(result.admitted), "admitted"),
        (len(result.rejected), "rejected"),
        (len(result.submitted), "submitted"),
        (len(result.finished), "handed back"),
        (len(result.retention.recycled), "recycled"),
        (len(result.retention.deleted), "deleted"),
        (result.errors, "with an error"),
    )
    moved = ", ".join(f"{n} {what}" for n, what in counts if n)
    text = moved or "idle: nothing to do"
    if result.exit_code:
        text += f"; exit code {result.exit_code}: {result.message}"
    return f"{text} ({result.seconds:.1f} s)"


# -- run -------------------------------------------------------------------------


def add_run(sub: Any) -> None:
    """Add ``run`` to the sub-command parsers ``sub``."""
    p = add_parser(
        sub,
        "run",
        help="Tick every N seconds in the foreground.",
        description="Tick every SECONDS, for sites with neither cron nor scrontab (run it in "
        "tmux or screen). Each tick prints one line: the time and what it did (admitted, "
        "submitted, handed back, or idle). Ctrl-C lets the tick in progress finish, then "
        "stops with exit code 130 (a second Ctrl-C stops at once); SIGTERM stops the same "
        "way with exit code 0. With -F json each tick is one line of JSON (what tick -F json "
        "prints, with the tick's number and time).",
        epilog=example("hpc-agent run p42 --every 60"),
    )
    add_instance_argument(p)
    p.add_argument("--every", type=float, required=True, metavar="SECONDS")
    p.add_argument(
        "--max-ticks", type=int, default=0, metavar="N", help="stop after N ticks (0: never)"
    )
    add_format_options(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    """Tick every ``--every`` seconds until SIGINT/SIGTERM (or ``--max-ticks``)."""
    if args.every < 1:
        raise CommandLineError("--every must be at least 1 second")
    from hpc_agent.config import load_instance
    from hpc_agent.executors import make_executor
    from hpc_agent.loop import tick as tick_loop

    cfg = load_instance(args.instance)
    executor = make_executor(cfg)
    stop = threading.Event()
    stopped_by: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the user will not wait for the tick
        stopped_by.append(signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    last_crashed = False
    count = 0
    try:
        while not stop.is_set():
            started = time.monotonic()
            count += 1
            try:
                result = tick_loop.tick(cfg, executor)
            except Exception as exc:  # one bad tick (say an NFS hiccup) must not end the loop
                last_crashed = True
                _report_crashed_tick(cfg, exc)
                if wants_json(args):
                    crashed = {
                        "tick": count,
                        "time": _now(),
                        "crashed": f"{type(exc).__name__}: {exc}",
                    }
                    print(to_json(crashed, args, lines=True), end="", flush=True)
            else:
                last_crashed = False
                _progress(count, result, args)
                if result.exit_code:
                    print(f"tick: {result.message}", file=sys.stderr)
            if args.max_ticks and count >= args.max_ticks:
                break
            stop.wait(max(0.0, args.every - (time.monotonic() - started)))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopped_by:
        how = "interrupted" if stopped_by[0] == signal.SIGINT else "stopped by SIGTERM"
        print(f"hpc-agent run: {how} after {count} tick(s); no tick was cut short", file=sys.stderr)
        if stopped_by[0] == signal.SIGINT:
            return ExitCode.INTERRUPTED
    return ExitCode.FAILED if last_crashed else ExitCode.OK


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _progress(count: int, result: TickResult, args: argparse.Namespace) -> None:
    """One line per tick on stdout, flushed: tmux, a log file and a person see it at once.

    Under ``-F json`` the line is JSON: the tick's number and time, and :func:`tick_summary`.
    """
    if wants_json(args):
        line = {"tick": count, "time": _now(), "crashed": None, **tick_summary(result)}
        print(to_json(line, args, lines=True), end="", flush=True)
        return
    print(f"{_now()} tick {count}: {tick_line(result)}", flush=True)


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
