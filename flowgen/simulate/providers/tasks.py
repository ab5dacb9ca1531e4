"""Transfer task documents, shared by the asynchronous ``transfer`` and ``delete`` actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flowgen.simulate.choice import parse_timestamp
from flowgen.simulate.providers.base import ACTIVE, FAILED, SUCCEEDED, ActionUnableToRun


def service_time(moment: datetime) -> str:
    """Transfer's task timestamp style: ``YYYY-MM-DDTHH:MM:SS+00:00``."""
    return moment.isoformat(timespec="seconds")


class Fault(Exception):
    """A fatal Transfer task error (``FILE_NOT_FOUND``, ``IS_A_DIRECTORY``, ...)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


@dataclass
class Counters:
    """The counts a task document reports."""

    files: int = 0
    directories: int = 0
    symlinks: int = 0
    files_transferred: int = 0
    files_skipped: int = 0
    bytes_transferred: int = 0
    bytes_checksummed: int = 0
    files_deleted: int = 0


@dataclass
class Task:
    """One simulated Transfer task and its life (ACTIVE, then SUCCEEDED or FAILED)."""

    task_id: str
    kind: str
    body: dict[str, Any]
    label: str
    request_time: datetime
    deadline: datetime
    owner_id: str
    username: str
    status: str = ACTIVE
    faults: int = 0
    fatal_error: dict[str, str] | None = None
    completion_time: datetime | None = None
    counters: Counters = field(default_factory=Counters)
    nice_status: str | None = "Queued"

    def finish(self, now: datetime, error: Fault | None = None) -> None:
        """End the task, FAILED with ``error`` or SUCCEEDED."""
        self.completion_time = now
        if error is None:
            self.status, self.nice_status = SUCCEEDED, None
        else:
            self.status, self.nice_status = FAILED, error.code
            self.fatal_error = {"code": error.code, "description": error.description}

    def document(self) -> dict[str, Any]:
        """The Transfer task document (the action's ``details``)."""
        c = self.counters
        transfer = self.kind == "TRANSFER"
        body = self.body
        return {
            "DATA_TYPE": "task",
            "task_id": self.task_id,
            "type": self.kind,
            "status": self.status,
            "label": self.label,
            "nice_status": self.nice_status,
            "nice_status_short_description": self.nice_status,
            "is_ok": self.status != FAILED and self.faults == 0,
            "is_paused": False,
            "faults": self.faults,
            "fatal_error": self.fatal_error,
            "files": c.files,
            "directories": c.directories,
            "symlinks": c.symlinks,
            "files_transferred": c.files_transferred,
            "files_skipped": c.files_skipped,
            "bytes_transferred": c.bytes_transferred,
            "bytes_checksummed": c.bytes_checksummed,
            "effective_bytes_per_second": 0,
            "delete_destination_extra": bool(body.get("delete_destination_extra", False)),
            "subtasks_total": c.files + c.directories + c.files_deleted,
            "subtasks_succeeded": c.files_transferred + c.files_skipped + c.files_deleted
            if self.status == SUCCEEDED
            else 0,
            "subtasks_failed": 1 if self.status == FAILED else 0,
            "subtasks_pending": 0 if self.status != ACTIVE else 1,
            "subtasks_retrying": 1 if self.status == ACTIVE and self.faults else 0,
            "subtasks_canceled": 0,
            "subtasks_expired": 0,
            "subtasks_skipped_errors": 0,
            "request_time": service_time(self.request_time),
            "completion_time": service_time(self.completion_time) if self.completion_time else None,
            "deadline": service_time(self.deadline),
            "source_endpoint_id": body.get("source_endpoint") if transfer else body.get("endpoint"),
            "destination_endpoint_id": body.get("destination_endpoint") if transfer else None,
            "source_endpoint_display_name": None,
            "destination_endpoint_display_name": None,
            "sync_level": body.get("sync_level") if transfer else None,
            "verify_checksum": bool(body.get("verify_checksum", False)),
            "preserve_timestamp": bool(body.get("preserve_timestamp", False)),
            "encrypt_data": bool(body.get("encrypt_data", False)),
            "skip_source_errors": bool(body.get("skip_source_errors", False)),
            "fail_on_quota_errors": bool(body.get("fail_on_quota_errors", False)),
            "recursive_symlinks": "ignore",
            "filter_rules": body.get("filter_rules"),
            "owner_id": self.owner_id,
            "username": self.username,
            "command": "API 0.10",
            "history_deleted": False,
            "canceled_by_admin": None,
            "canceled_by_admin_message": None,
            "event_list": [],
        }


def task_label(body: dict[str, Any], action_id: str) -> str:
    """The task label: the body's (checked like Transfer checks it) or the AP's default."""
    label = body.get("label")
    if label is None:
        return f"For Action id {action_id}"
    if not isinstance(label, str) or len(label) > 128 or "\n" in label or label != label.strip():
        raise ActionUnableToRun(
            "Field 'label' must be a string of at most 128 characters without newlines "
            f"or surrounding whitespace, got {label!r}"
        )
    return label


def task_deadline(body: dict[str, Any], now: datetime, default_seconds: float) -> datetime:
    """The task deadline: the body's ISO 8601 ``deadline`` or now plus the default."""
    raw = body.get("deadline")
    if raw is None:
        return now + timedelta(seconds=default_seconds)
    parsed = parse_timestamp(raw)
    if parsed is None:
        raise ActionUnableToRun(f"Field 'deadline' is not an ISO 8601 timestamp: {raw!r}")
    return parsed
