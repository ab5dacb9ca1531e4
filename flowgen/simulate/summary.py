"""A run in a few lines: what ``flowgen simulate`` prints when nobody asked for more.

A long run's log and final state can run to megabytes; the summary keeps
to what a person reads first (status, states, action calls, flow time, the
last state, and the output or the error) and says where the rest is.
"""

from __future__ import annotations

import json

from flowgen.simulate.rundoc import RunResult

OUTPUT_LINES = 40
"""Lines of the final output a summary shows before it cuts the rest."""


def elapsed(seconds: float) -> str:
    """Flow time as ``[Nd ]HH:MM:SS``."""
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{secs:02d}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def summary(result: RunResult) -> str:
    """The run's summary text (no trailing newline)."""
    stats = result.stats
    lines = [
        f"{result.status} after {_count(stats.states_executed, 'state')}, "
        f"{elapsed(stats.elapsed_seconds)} of flow time "
        f"({_count(sum(stats.action_calls.values()), 'action call')}, "
        f"{stats.wall_seconds:.2f}s wall)",
        f"Last state: {result.last_state}",
    ]
    if result.succeeded:
        lines.append("Output:")
        lines.append(_shortened(json.dumps(result.details()["output"], indent=2)))
    else:
        lines.append(f"Failed in state {result.failed_state!r}: {result.error}: {result.cause}")
        lines.append("The final run state is in the run document (--format json).")
    return "\n".join(lines)


def _shortened(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= OUTPUT_LINES:
        return text
    rest = len(lines) - OUTPUT_LINES
    return "\n".join(
        [*lines[:OUTPUT_LINES], f"... {_count(rest, 'more line')} (--format json prints it all)"]
    )
