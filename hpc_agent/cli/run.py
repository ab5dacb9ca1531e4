"""Running the agent: ``tick`` (one pass, what cron runs) and ``run`` (a foreground loop)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from hpc_agent.cli.common import add_instance_argument
from hpc_agent.exitcodes import ExitCode

if TYPE_CHECKING:
    from hpc_agent.config import InstanceConfig

# The loop, the executors and the configuration are imported by the commands
# that use them (hpc-agent --help needs none of them). tick_loop.tick is looked
# up per call: tests replace it.

# -- tick ------------------------------------------------------------------------


def add_tick(sub: Any) -> None:
    """Add ``tick`` to the sub-command parsers ``sub``."""
    p = sub.add_parser(
        "tick",
        help="Run one pass over an instance.",
        description="Admit, submit, check, finalize and clean up once, then exit. "
        "Cron runs this. Example: hpc-agent tick myproject",
    )
    add_instance_argument(p)
    p.set_defaults(func=cmd_tick)


def cmd_tick(args: argparse.Namespace) -> int:
    """One tick; exit 0 (also when another agent is busy), non-zero when the scheduler is down."""
    from hpc_agent.config import load_instance
    from hpc_agent.loop import tick as tick_loop

    result = tick_loop.tick(load_instance(args.instance))
    if result.message:
        print(result.message, file=sys.stderr if result.exit_code else sys.stdout)
    return result.exit_code


# -- run -------------------------------------------------------------------------


def add_run(sub: Any) -> None:
    """Add ``run`` to the sub-command parsers ``sub``."""
    p = sub.add_parser(
        "run",
        help="Tick every N seconds in the foreground.",
        description="Tick every SECONDS until interrupted (Ctrl-C or SIGTERM), for sites "
        "with neither cron nor scrontab. Example: hpc-agent run myproject --every 60",
    )
    add_instance_argument(p)
    p.add_argument("--every", type=float, required=True, metavar="SECONDS")
    p.add_argument("--max-ticks", type=int, default=0, help="stop after N ticks (0: never)")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    """Tick every ``--every`` seconds until SIGINT/SIGTERM (or ``--max-ticks``)."""
    if args.every < 1:
        print("hpc-agent run: --every must be at least 1 second", file=sys.stderr)
        return ExitCode.USAGE
    from hpc_agent.config import load_instance
    from hpc_agent.executors import make_executor
    from hpc_agent.loop import tick as tick_loop

    cfg = load_instance(args.instance)
    executor = make_executor(cfg)
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
                result = tick_loop.tick(cfg, executor)
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
    return ExitCode.FAILED if last_crashed else ExitCode.OK


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
