"""The agent's audit trail: one JSON-lines file per UTC day in the instance's ``Logs/``.

Each line is one event (time, level, instance, UoW, run id, job id, event,
message, extra fields), so a UoW's whole life can be rebuilt from the log.
Lines are appended with a single ``write`` on an ``O_APPEND`` descriptor, so
concurrent writers (a tick, a finalize job) never interleave within a line.
Values under secret-looking keys are never written.

An event about a UoW also carries ``user``, who started its run (the flow's
starter marker, :mod:`hpc_agent.uow.starter`; ``unknown`` without one): the
log asks ``user_of`` (the agent passes its job records) or remembers what
:meth:`EventLog.attribute` was told at admission, so no caller has to pass it.
It is an extra field: readers of older lines just find none.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from hpc_agent import protocol
from hpc_agent.loop.events import check_event
from hpc_agent.text import json_bytes

LOG_PREFIX = "flowcron-"
LOG_SUFFIX = ".jsonl"
LEVELS = ("debug", "info", "warning", "error")
REDACTED = "[redacted]"

_SECRET_KEY = re.compile(r"token|secret|password|passwd|credential|authori[sz]ation|cookie", re.I)
_FILE_NAME = re.compile(r"^flowcron-(\d{4}-\d{2}-\d{2})\.jsonl$")
_RESERVED = ("time", "level", "instance", "event", "message", "uow", "run_id", "job_id")


def log_path(logs_dir: Path, when: float) -> Path:
    """The log file for the UTC day of ``when`` (seconds since the epoch)."""
    day = datetime.fromtimestamp(when, tz=timezone.utc).date()
    return logs_dir / f"{LOG_PREFIX}{day.isoformat()}{LOG_SUFFIX}"


def log_file_date(path: Path) -> date | None:
    """The UTC day a log file covers, or None when the name is not one of ours."""
    match = _FILE_NAME.match(path.name)
    return date.fromisoformat(match.group(1)) if match else None


def iso_utc(when: float) -> str:
    """``when`` as an ISO 8601 UTC time with milliseconds, e.g. 2026-01-02T03:04:05.678Z."""
    stamp = datetime.fromtimestamp(when, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


class EventLog:
    """Appends events for one instance to its ``Logs/`` directory."""

    def __init__(
        self,
        logs_dir: Path,
        instance: str,
        *,
        clock: Callable[[], float] = time.time,
        user_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self.logs_dir = logs_dir
        self.instance = instance
        self._clock = clock
        self._user_of = user_of
        self._users: dict[str, str] = {}
        self._append_lock = threading.Lock()
        """One line at a time from this process's threads (the tick's submission threads),
        even should a write come back short; other processes rely on O_APPEND."""

    def attribute(self, uow: str, user: str) -> None:
        """Remember who started ``uow``: every later event about it carries ``user``."""
        self._users[uow] = user

    def user(self, uow: str) -> str | None:
        """Who started ``uow``, as far as this log knows (None when it does not)."""
        known = self._users.get(uow)
        if known is None and self._user_of is not None:
            try:
                known = self._user_of(uow)
            except (OSError, ValueError):  # a log line is never lost to a look-up
                return None
            if known is not None:
                self._users[uow] = known  # who started a run never changes
        return known

    def write(
        self,
        event: str,
        message: str,
        *,
        level: str = "info",
        uow: str | None = None,
        job_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Append one event and return the record written.

        ``event`` is a short machine name (``submitted``) listed in
        :mod:`hpc_agent.loop.events` (ValueError otherwise: a new name is a
        programming error the tests catch), ``message`` the sentence for
        people. Extra ``fields`` are kept, except that values under keys that
        look like secrets are replaced by ``[redacted]``. An event with a
        ``uow`` gets its ``user`` (see :meth:`user`) unless one is given.
        """
        check_event(event)
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
        now = self._clock()
        record: dict[str, Any] = {
            "time": iso_utc(now),
            "level": level,
            "instance": self.instance,
            "event": event,
            "message": message,
            "uow": uow,
            "run_id": protocol.run_id_of(uow) if uow else None,
            "job_id": job_id,
        }
        for key, value in fields.items():
            if key in _RESERVED:
                key = f"field_{key}"  # never let extra fields overwrite the core ones
            record[key] = REDACTED if _SECRET_KEY.search(key) else value
        if uow and "user" not in record:
            user = self.user(uow)
            if user is not None:
                record["user"] = user
        line = json_bytes(record, default=str, separators=(",", ":"))
        self._append(log_path(self.logs_dir, now), line + b"\n")
        return record

    def _append(self, path: Path, data: bytes) -> None:
        with self._append_lock:
            self._append_locked(path, data)

    def _append_locked(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o664)
        try:
            # One write call per line: O_APPEND makes it land whole at the end.
            written = os.write(fd, data)
            while written < len(data):  # pragma: no cover - only on a full disk or signal
                written += os.write(fd, data[written:])
        finally:
            os.close(fd)


def log_files(logs_dir: Path) -> list[Path]:
    """The instance's daily log files, oldest first."""
    try:
        return sorted(p for p in logs_dir.iterdir() if log_file_date(p) is not None)
    except FileNotFoundError:
        return []


def read_events(
    logs_dir: Path, *, uow: str | None = None, since: float | None = None
) -> Iterator[dict[str, Any]]:
    """Events in time order, optionally only one UoW's and only from ``since`` (epoch seconds).

    A line that is not valid JSON (a write cut short by a full disk) is skipped.
    """
    since_day = datetime.fromtimestamp(since, tz=timezone.utc).date() if since is not None else None
    since_text = iso_utc(since) if since is not None else None
    for path in log_files(logs_dir):
        day = log_file_date(path)
        if since_day is not None and day is not None and day < since_day:
            continue
        yield from _events_in(path, uow=uow, since_text=since_text)


def _events_in(path: Path, *, uow: str | None, since_text: str | None) -> Iterator[dict[str, Any]]:
    try:
        with path.open("rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    return  # a line still being written; read it next time
                record = parse_line(raw)
                if record is None:
                    continue
                if uow is not None and record.get("uow") != uow:
                    continue
                # ISO 8601 UTC times with a fixed layout compare correctly as text.
                if since_text is not None and str(record.get("time", "")) < since_text:
                    continue
                yield record
    except FileNotFoundError:
        return


def parse_line(raw: bytes) -> dict[str, Any] | None:
    """One log line as a dict, or None when it is not a valid event."""
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def follow_events(
    logs_dir: Path,
    *,
    uow: str | None = None,
    since: float | None = None,
    poll_seconds: float = 1.0,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Like :func:`read_events`, then keep yielding new events as they are appended.

    Picks up new daily files as they appear; stops when ``should_stop()`` is
    true (checked after each poll), otherwise runs until interrupted.
    """
    since_text = iso_utc(since) if since is not None else None
    offsets: dict[Path, int] = {}
    while True:
        for path in log_files(logs_dir):
            start = offsets.get(path, 0)
            if start == 0 and since is not None:
                day = log_file_date(path)
                since_day = datetime.fromtimestamp(since, tz=timezone.utc).date()
                if day is not None and day < since_day:
                    offsets[path] = path.stat().st_size
                    continue
            consumed = start
            try:
                with path.open("rb") as handle:
                    handle.seek(start)
                    for raw in handle:
                        if not raw.endswith(b"\n"):
                            break
                        consumed += len(raw)
                        record = parse_line(raw)
                        if record is None or (uow is not None and record.get("uow") != uow):
                            continue
                        if since_text is not None and str(record.get("time", "")) < since_text:
                            continue
                        yield record
            except FileNotFoundError:
                pass
            offsets[path] = consumed
        if should_stop():
            return
        sleep(poll_seconds)


def format_event(record: dict[str, Any]) -> str:
    """One event as a line of text for people: time, level, UoW, job, event, message."""
    parts = [str(record.get("time", "?")), f"{str(record.get('level', 'info')).upper():7}"]
    if record.get("uow"):
        parts.append(str(record["uow"]))
    if record.get("job_id"):
        parts.append(f"job {record['job_id']}")
    parts.append(f"{record.get('event', '?')}: {record.get('message', '')}")
    return " ".join(parts)
