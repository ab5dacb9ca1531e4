"""The run log and the final run document, shaped like the Flows service's."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flowgen.core.jsonio import dumps
from flowgen.simulate.evaluate import redact_state

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"

LOG_BUDGET_BYTES = 10_000_000
"""How much of the log a bounded run document keeps (:meth:`RunResult.document`).

Each log entry carries the run state, so a 10,000-state run of a flow with an
8 KB state has a log of over 150 MB; 10 MB keeps the document printable and
well under 20 MB with the output and the indentation added.
"""


def timestamp(moment: datetime) -> str:
    """A run/log timestamp as the service writes it (ISO 8601, microseconds, +00:00)."""
    return moment.isoformat(timespec="microseconds")


@dataclass(frozen=True)
class LogEntry:
    """One run log entry: ``{"time", "code", "description", "details"}``."""

    time: datetime
    code: str
    description: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The entry as the service's log API returns it."""
        return {
            "time": timestamp(self.time),
            "code": self.code,
            "description": self.description,
            "details": self.details,
        }


@dataclass
class RunStats:
    """What a run cost: Action calls and polls per ActionUrl, states, time."""

    action_calls: Counter[str] = field(default_factory=Counter)
    polls: Counter[str] = field(default_factory=Counter)
    states_executed: int = 0
    elapsed_seconds: float = 0.0
    wall_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form, ActionUrls sorted."""
        return {
            "action_calls": dict(sorted(self.action_calls.items())),
            "action_calls_total": sum(self.action_calls.values()),
            "polls": dict(sorted(self.polls.items())),
            "states_executed": self.states_executed,
            "elapsed_seconds": round(self.elapsed_seconds, 6),
            "wall_seconds": round(self.wall_seconds, 6),
        }


@dataclass
class RunResult:
    """The outcome of a simulated run.

    ``output`` is the final run state as it is (``_private`` keys included);
    :meth:`document` and :meth:`to_json` show it as the service would, without
    them. For a FAILED run ``error``/``cause``/``failed_state`` say what
    happened.
    """

    run_id: str
    flow_id: str
    status: str
    output: Any
    log: list[LogEntry]
    stats: RunStats
    start_time: datetime
    completion_time: datetime
    label: str | None = None
    error: str | None = None
    cause: str | None = None
    failed_state: str | None = None
    last_state: str | None = None
    """The last state that ran (for a run stopped at ``max_states``, the one before the stop)."""
    records: dict[str, Any] = field(default_factory=dict)
    """What providers recorded, e.g. ``records["acl_rules"]`` from manage_permission."""

    @property
    def succeeded(self) -> bool:
        """Whether the run ended SUCCEEDED."""
        return self.status == SUCCEEDED

    @property
    def codes(self) -> list[str]:
        """The log entry codes in order (handy in tests)."""
        return [entry.code for entry in self.log]

    def details(self) -> dict[str, Any]:
        """The run document's ``details``."""
        if self.succeeded:
            return {
                "code": "FlowSucceeded",
                "description": "The Flow run reached a successful completion state",
                "output": redact_state(self.output),
            }
        return {
            "code": "FlowFailed",
            "description": "The Flow run failed",
            "output": redact_state(self.output),
            "state_name": self.failed_state,
            "error": self.error,
            "cause": self.cause,
        }

    def document(self, *, log_budget: int | None = None) -> dict[str, Any]:
        """The run document with the log and the run's cost.

        With ``log_budget`` (bytes) the log keeps only its newest entries
        that fit, and ``log_truncated`` says how many were left out and how
        to get them all; None keeps every entry.
        """
        entries = [entry.to_dict() for entry in self.log]
        document: dict[str, Any] = {
            "run_id": self.run_id,
            "action_id": self.run_id,
            "flow_id": self.flow_id,
            "label": self.label,
            "status": self.status,
            "display_status": self.status,
            "start_time": timestamp(self.start_time),
            "completion_time": timestamp(self.completion_time),
            "details": self.details(),
            "log": entries,
            "stats": self.stats.to_dict(),
        }
        if log_budget is not None:
            kept = _newest_within(entries, log_budget)
            if len(kept) < len(entries):
                document["log"] = kept
                document["log_truncated"] = _truncation_note(len(entries), len(kept))
        return document

    def to_json(self) -> str:
        """:meth:`document` as deterministic JSON text."""
        return dumps(self.document())


def _newest_within(entries: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The newest entries whose JSON fits in ``budget`` bytes (at least the last one)."""
    used = 0
    for count, entry in enumerate(reversed(entries)):
        used += len(dumps(entry).encode("utf-8"))
        if used > budget and count > 0:
            return entries[len(entries) - count :]
    return entries


def _truncation_note(total: int, kept: int) -> dict[str, Any]:
    return {
        "entries": total,
        "kept": kept,
        "left_out": total - kept,
        "note": (
            f"the first {total - kept} of {total} log entries were left out to keep this "
            f"document small; the log holds the last {kept}. For every entry run "
            "'flowgen simulate ... --format json --verbose' (or use RunResult.log)."
        ),
    }
