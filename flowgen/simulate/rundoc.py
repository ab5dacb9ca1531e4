"""The run log and the final run document, shaped like the Flows service's."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flowgen.jsonio import dumps
from flowgen.simulate.evaluate import redact_state

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"


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

    def document(self) -> dict[str, Any]:
        """The run document with the log and the run's cost."""
        return {
            "run_id": self.run_id,
            "action_id": self.run_id,
            "flow_id": self.flow_id,
            "label": self.label,
            "status": self.status,
            "display_status": self.status,
            "start_time": timestamp(self.start_time),
            "completion_time": timestamp(self.completion_time),
            "details": self.details(),
            "log": [entry.to_dict() for entry in self.log],
            "stats": self.stats.to_dict(),
        }

    def to_json(self) -> str:
        """:meth:`document` as deterministic JSON text."""
        return dumps(self.document())
