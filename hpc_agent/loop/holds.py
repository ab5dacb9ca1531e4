"""The uploads an admission limit holds back, remembered between ticks (``.state/held.json``).

The tick decides afresh every time (:mod:`hpc_agent.loop.fairness`); this
small memory only keeps, per held upload, the limit and the reason (which
``hpc-agent status`` shows), when it was first held (so the report can say
how long it waited), its size once measured, and so that ``held-by-limit``
is logged once per upload and limit, not every tick. Nothing is written into
the upload itself. A damaged file is read as empty (the worst that happens is
one more log line per held upload).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.fs.atomicio import write_text_atomic

HELD_FILE: Final = "held.json"
"""The memory of held uploads, in ``CodeToRun/.state/``."""


@dataclass(frozen=True)
class Held:
    """One upload held back: which limit, why (in words), whose, since when, and its size."""

    limit: str
    reason: str
    user: str
    since: float
    bytes: int | None = None


class HeldList:
    """The held uploads of one instance, by upload name."""

    def __init__(self, state_root: Path) -> None:
        self.path = state_root / HELD_FILE
        self.entries: dict[str, Held] = {}
        self._saved: dict[str, Held] = {}

    def load(self) -> HeldList:
        """Read the file (missing or damaged: nothing held)."""
        self.entries = {}
        try:
            data: Any = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            data = {}
        if isinstance(data, dict):
            for name, item in data.items():
                with contextlib.suppress(TypeError, ValueError):
                    self.entries[str(name)] = Held(
                        limit=str(item["limit"]),
                        reason=str(item["reason"]),
                        user=str(item["user"]),
                        since=float(item["since"]),
                        bytes=None if item.get("bytes") is None else int(item["bytes"]),
                    )
        self._saved = dict(self.entries)
        return self

    def save(self) -> None:
        """Write the file when it changed (temporary file, then rename); remove it when empty."""
        if self.entries == self._saved:
            return
        if self.entries:
            text = json.dumps(
                {name: asdict(held) for name, held in sorted(self.entries.items())},
                indent=1,
                sort_keys=True,
                ensure_ascii=True,
            )
            write_text_atomic(self.path, text + "\n")
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self._saved = dict(self.entries)


def ready_at(upload: Path) -> float:
    """When the upload became ready: when the flow made its ``sentinels/`` (its mtime).

    Globus keeps the mtimes of the files it transfers, but ``sentinels/`` is
    made by the flow after the transfer, so its time is the upload's end.
    """
    try:
        return os.lstat(upload / protocol.SENTINELS_DIR).st_mtime
    except OSError:
        try:
            return os.lstat(upload).st_mtime
        except OSError:
            return 0.0


def tree_bytes(top: Path) -> int:
    """The bytes of the regular files under ``top``, never following a symlink.

    Unreadable folders count as empty: admission refuses such an upload anyway.
    """
    total = 0
    pending = [os.fspath(top)]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(info.st_mode):
                        pending.append(entry.path)
                    elif stat.S_ISREG(info.st_mode):
                        total += info.st_size
        except OSError:
            continue
    return total


__all__ = ["HELD_FILE", "Held", "HeldList", "ready_at", "tree_bytes"]
