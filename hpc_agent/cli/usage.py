"""The PI's view of an instance: ``usage`` (a table) and ``report --html`` (a page).

Both read the same figures (:mod:`hpc_agent.usage.figures`): the ledger of
finished UoWs plus one batched ``sacct`` call for the period's jobs.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpc_agent.cli.common import CommandLineError, add_format_options, add_parser, emit, example
from hpc_agent.cli.inspect import parse_since
from hpc_agent.exitcodes import ExitCode
from hpc_agent.usage import GROUPINGS

if TYPE_CHECKING:
    from hpc_agent.config import InstanceConfig

_DATES = "a duration (7d, 12h, 2w), a UTC date (2026-01-31) or a UTC time (2026-01-31T12:00)"


def parse_date(text: str, *, now: float | None = None, end: bool = False) -> float:
    """A ``--since``/``--until`` value as epoch seconds (UTC).

    The forms of ``logs --since`` (:func:`~hpc_agent.cli.inspect.parse_since`);
    as ``--until``, a bare date means the end of that day.

    >>> parse_date("2026-01-31", end=True) - parse_date("2026-01-31")
    86400.0
    """
    value = parse_since(text, now=now)
    stripped = text.strip()
    if end and len(stripped) == 10 and stripped[4] == "-" and stripped[7] == "-":
        value += timedelta(days=1).total_seconds()
    return value


def _since(text: str) -> float:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _until(text: str) -> float:
    try:
        return parse_date(text, end=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _instance(ref: str | None) -> InstanceConfig:
    """The instance named, or the one registered instance when none is named."""
    from hpc_agent.config import ConfigError, load_instance, registered_names

    if ref is not None:
        return load_instance(ref)
    names = registered_names()
    if len(names) != 1:
        known = f"registered: {', '.join(names)}" if names else "none is registered"
        raise ConfigError(f"name the instance (INSTANCE): {known}")
    return load_instance(names[0])


def add_usage(sub: Any) -> None:
    """Add ``usage`` to the sub-command parsers ``sub``."""
    p = add_parser(
        sub,
        "usage",
        help="Show UoWs, outcomes, CPU/GPU-hours, memory and queue wait per user, function...",
        description="Sum up the UoWs handed back in a period: counts by outcome, CPU-hours "
        "and GPU-hours (Slurm's allocated TRES times elapsed), peak memory (MaxRSS), queue "
        "wait (median, 90th percentile) and bytes handed back. From the ledger plus one sacct "
        f"call; without accounting from the ledger alone. DATE is {_DATES}.",
        epilog=example("hpc-agent usage p42 --since 30d --by function -F csv"),
    )
    p.add_argument("instance", metavar="INSTANCE", nargs="?", help="default: the only registered")
    p.add_argument("--since", metavar="DATE", type=_since, help="from (default: everything)")
    p.add_argument("--until", metavar="DATE", type=_until, help="until, exclusive (default: now)")
    p.add_argument("--by", choices=GROUPINGS, default="user")
    add_format_options(p, ("text", "json", "csv"))
    p.set_defaults(func=cmd_usage)


def cmd_usage(args: argparse.Namespace) -> int:
    """Print the usage table."""
    from hpc_agent.usage.figures import compute
    from hpc_agent.usage.text import format_csv, format_text

    if args.since is not None and args.until is not None and args.until <= args.since:
        raise CommandLineError("--until must be after --since")
    cfg = _instance(args.instance)
    usage = compute(cfg, since=args.since, until=args.until, by=args.by)
    emit(
        usage.to_dict(),
        args,
        lambda: format_text(usage),
        others={"csv": lambda: format_csv(usage)},
    )
    if usage.missing and args.format != "text":
        columns = ", ".join(usage.missing)
        why = "; ".join(sorted(set(usage.missing.values())))
        print(f"hpc-agent usage: no accounting for {columns} ({why})", file=sys.stderr)
    return ExitCode.OK


def add_report(sub: Any) -> None:
    """Add ``report`` to the sub-command parsers ``sub``."""
    p = add_parser(
        sub,
        "report",
        help="Write a self-contained HTML page: usage per user, timeline, failures, health.",
        description="Write one HTML file (inline CSS and SVG, no script, no network) with "
        "the figures of hpc-agent usage, a timeline of UoWs, failures by reason, the "
        f"queue-wait distribution and the agent's health. DATE is {_DATES}.",
        epilog=example("hpc-agent report p42 --html /tmp/p42.html --since 30d"),
    )
    p.add_argument("instance", metavar="INSTANCE", nargs="?", help="default: the only registered")
    p.add_argument("--html", metavar="FILE", type=Path, required=True)
    p.add_argument("--since", metavar="DATE", type=_since, help="from (default: everything)")
    p.add_argument("--until", metavar="DATE", type=_until, help="until, exclusive (default: now)")
    add_format_options(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report and say where it is."""
    from hpc_agent.usage.html import write_report

    cfg = _instance(args.instance)
    now = time.time()
    usage = write_report(cfg, args.html, since=args.since, until=args.until, now=now)
    stamp = datetime.fromtimestamp(now, tz=timezone.utc).isoformat(timespec="seconds")
    emit(
        {"path": str(args.html), "uows": usage.total.uows, "at": stamp},
        args,
        lambda: f"wrote {args.html} ({usage.total.uows} UoWs, {stamp})\n",
    )
    return ExitCode.OK
