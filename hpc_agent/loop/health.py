"""The instance's pulse: a heartbeat every tick, and a message to the PI when it falters.

A stalled instance used to look healthy: cron not running, or forbidden on
the login node, and nothing said so until a researcher's flow timed out a
week later. Every tick now records a heartbeat
(``CodeToRun/.state/heartbeat.json``: when it started and ended, on which
host, its exit code and what it did, and how many ticks in a row failed).
``status`` shows it, ``doctor`` fails when it is older than two schedule
intervals, and an optional ``notify_command`` (e.g. ``mail -s FlowCron
pi@uni.edu``) is run when ticks keep failing or a UoW is stuck.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.fs.atomicio import write_bytes_atomic
from hpc_agent.text import json_bytes

HEARTBEAT_FILE: Final = "heartbeat.json"
RECENT_TICKS: Final = 288
"""How many ticks :attr:`Heartbeat.recent` remembers (a day at the default 5 minutes)."""
NOTIFY_TIMEOUT_SECONDS: Final = 30
"""A notify command that takes longer is stopped (the tick must not hang on mail)."""


@dataclass
class Heartbeat:
    """What the last tick did; ``ended`` is None while it runs (or when it crashed)."""

    started: float
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    ended: float | None = None
    exit_code: int | None = None
    message: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    failures_in_a_row: int = 0
    last_success: float | None = None
    notified: bool = False
    """The PI was told about this run of failures (told once; reset by a success)."""
    recent: list[list[float]] = field(default_factory=list)
    """``[started, seconds, exit code]`` of the last :data:`RECENT_TICKS` ticks that ended
    (the HTML report draws their durations)."""

    @property
    def ok(self) -> bool:
        """Whether the tick ended with exit code 0."""
        return self.ended is not None and self.exit_code == 0


def heartbeat_path(base_dir: Path) -> Path:
    """Where an instance's heartbeat lives."""
    return base_dir / protocol.CODE_TO_RUN / ".state" / HEARTBEAT_FILE


def read_heartbeat(base_dir: Path) -> Heartbeat | None:
    """The last heartbeat, or None when no tick has run (or the file is unreadable)."""
    try:
        data: Any = json.loads(heartbeat_path(base_dir).read_bytes())
        known = set(Heartbeat.__dataclass_fields__)
        return Heartbeat(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def write_heartbeat(base_dir: Path, beat: Heartbeat) -> None:
    """Record ``beat`` (temporary file, then rename)."""
    path = heartbeat_path(base_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, json_bytes(asdict(beat), sort_keys=True) + b"\n")


def begin(base_dir: Path, now: float) -> Heartbeat:
    """The heartbeat of a tick that starts now, carrying the failure count over."""
    previous = read_heartbeat(base_dir)
    beat = Heartbeat(started=now)
    if previous is not None:
        beat.failures_in_a_row = previous.failures_in_a_row
        beat.last_success = previous.last_success
        beat.notified = previous.notified
        recent = previous.recent if isinstance(previous.recent, list) else []
        beat.recent = [row for row in recent if isinstance(row, list)][-RECENT_TICKS:]
        if previous.ended is None:
            beat.failures_in_a_row += 1  # the previous tick never ended: it crashed
    write_heartbeat(base_dir, beat)
    return beat


def end(
    base_dir: Path,
    beat: Heartbeat,
    *,
    now: float,
    exit_code: int,
    message: str,
    counts: dict[str, int],
) -> Heartbeat:
    """Record how the tick ended; returns the heartbeat written."""
    beat.ended = now
    beat.exit_code = exit_code
    beat.message = message
    beat.counts = counts
    beat.recent = [*beat.recent, [beat.started, round(now - beat.started, 3), exit_code]][
        -RECENT_TICKS:
    ]
    if exit_code == 0:
        beat.failures_in_a_row = 0
        beat.last_success = now
        beat.notified = False
    else:
        beat.failures_in_a_row += 1
    write_heartbeat(base_dir, beat)
    return beat


def notify(command: str, subject: str, body: str) -> str | None:
    """Run the instance's ``notify_command`` with ``body`` on stdin; the error, or None.

    The command is split like a shell would (no shell runs it) and gets the
    subject as ``FLOWCRON_SUBJECT`` in its environment.
    """
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return f"notify_command cannot be split into words: {exc}"
    if not argv:
        return None
    try:
        result = subprocess.run(
            argv,
            input=body,
            text=True,
            capture_output=True,
            timeout=NOTIFY_TIMEOUT_SECONDS,
            env={**os.environ, "FLOWCRON_SUBJECT": subject},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{argv[0]}: {exc}"
    if result.returncode != 0:
        return f"{argv[0]} exited {result.returncode}: {result.stderr.strip()[:300]}"
    return None
