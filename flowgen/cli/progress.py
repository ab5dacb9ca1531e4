"""Live progress on stderr for long work (``simulate`` transfers, ``run status --watch``).

Only on a terminal that can rewrite a line (:func:`hpc_agent.terminal.live_updates`:
a tty, ``TERM`` not ``dumb``): a status line rewritten in place with ``\\r``.
A pipe, a file, CI or a dumb terminal gets no progress lines from here, so
logs hold only what each command prints anyway (its result, or
``run status --watch``'s line per change). ``NO_COLOR`` leaves progress on:
it is about colour, and the line is plain text.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

from hpc_agent import terminal

_CLEAR_LINE = "\r\x1b[K"
"""Back to the start of the line and erase it (ANSI, as every terminal flowgen meets)."""


class LiveLine:
    """One line on ``stream`` (stderr) that is updated in place, on a terminal only.

    ``stream`` and whether it can show the line are read when the line is
    made: make one per command call, not at import.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = terminal.live_updates(self.stream)
        self._open = False

    def show(self, text: str) -> None:
        """Replace the line with ``text`` (no newline, so the next update overwrites it)."""
        if self.enabled:
            self.stream.write(_CLEAR_LINE + text)
            self.stream.flush()
            self._open = True

    def keep(self, text: str) -> None:
        """Replace the line with ``text`` and end it, so it stays on screen."""
        if self.enabled:
            self.stream.write(_CLEAR_LINE + text + "\n")
            self.stream.flush()
            self._open = False

    def close(self) -> None:
        """End a line left open, so what comes next starts on its own line."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


def _size(count: int) -> str:
    amount = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if amount < 1000 or unit == "TB":
            return f"{count} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def _task_result(output: Any, state_name: str) -> dict[str, Any] | None:
    # The Transfer action's result carries the state's name and the task
    # document (files_transferred, bytes_transferred) under "details".
    if isinstance(output, dict):
        details = output.get("details")
        is_task = isinstance(details, dict) and "files_transferred" in details
        if output.get("state_name") == state_name and is_task:
            return details
        for value in output.values():
            found = _task_result(value, state_name)
            if found is not None:
                return found
    elif isinstance(output, list):
        for value in output:
            found = _task_result(value, state_name)
            if found is not None:
                return found
    return None


def transfer_progress(line: LiveLine, definition: dict[str, Any]) -> Callable[[Any], None]:
    """A simulator log listener showing each Transfer task: running, then files and bytes done."""
    states = definition.get("States", {})

    def show(entry: Any) -> None:
        details = entry.details
        name = str(details.get("state_name", ""))
        state = states.get(name) if isinstance(states, dict) else None
        url = str(state.get("ActionUrl", "")) if isinstance(state, dict) else ""
        if not url.rstrip("/").endswith("/transfer"):
            return
        if entry.code == "ActionStarted":
            line.show(f"{name}: transferring ...")
        elif entry.code == "ActionCompleted":
            task = _task_result(details.get("output"), name)
            if task is None:
                line.keep(f"{name}: transfer ended")
                return
            files = int(task.get("files_transferred", 0))
            done = (
                f"{files} file{'s' * (files != 1)}, {_size(int(task.get('bytes_transferred', 0)))}"
            )
            line.keep(f"{name}: transfer {str(task.get('status', '')).lower()}: {done}")

    return show
