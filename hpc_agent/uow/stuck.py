"""UoWs whose hand-back keeps failing: since when, which path and why.

Finalize is retried every tick, and most failures pass (a full disk is
freed). One that lasts longer than ``stuck_report_seconds`` needs a person:
a folder owned by someone else that the agent may not change, a file system
gone read-only. The first failure's time and the latest path and reason are
kept in ``CodeToRun/.state/stuck.json`` (written atomically, only when they
change), so the tick can log ``uow-stuck`` once, and ``hpc-agent status`` and
``doctor`` can show it. A UoW leaves the list when it is handed back.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.fs.atomicio import write_text_atomic
from hpc_agent.loop.state import StateStore

STUCK_FILE: Final = "stuck.json"


@dataclass(frozen=True)
class Stuck:
    """One UoW that could not be handed back: since when, where it failed and why."""

    uow: str
    since: float
    path: str
    reason: str
    reported: bool = False

    def seconds(self, now: float) -> float:
        """How long the hand-back has been failing."""
        return max(0.0, now - self.since)


class StuckList:
    """The ``stuck.json`` of one instance (``state_root`` is ``CodeToRun/.state``)."""

    def __init__(self, state_root: Path) -> None:
        self.path = state_root / STUCK_FILE
        self.entries: dict[str, Stuck] = {}
        self._dirty = False

    def load(self) -> StuckList:
        """Read the list (missing or damaged: empty; it is rebuilt by the next failures)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self.entries = {}
        if isinstance(data, dict):
            for uow, item in data.items():
                entry = _parse(uow, item)
                if entry is not None:
                    self.entries[uow] = entry
        return self

    def failed(self, uow: str, *, now: float, path: str, reason: str) -> Stuck:
        """Record a failed hand-back of ``uow`` (keeps the time of the first one)."""
        old = self.entries.get(uow)
        entry = Stuck(
            uow,
            old.since if old else now,
            path,
            reason,
            old.reported if old else False,
        )
        if entry != old:
            self.entries[uow] = entry
            self._dirty = True
        return entry

    def mark_reported(self, uow: str) -> None:
        """Remember that the ``uow-stuck`` line was written, so it is written once."""
        entry = self.entries.get(uow)
        if entry is not None and not entry.reported:
            self.entries[uow] = Stuck(entry.uow, entry.since, entry.path, entry.reason, True)
            self._dirty = True

    def clear(self, uow: str) -> None:
        """Forget ``uow`` (it was handed back, or is gone)."""
        if self.entries.pop(uow, None) is not None:
            self._dirty = True

    def over(self, limit: float, now: float) -> list[Stuck]:
        """Entries failing for at least ``limit`` seconds, by name."""
        return [e for _, e in sorted(self.entries.items()) if e.seconds(now) >= limit]

    def save(self) -> None:
        """Write the list when it changed (removed when empty)."""
        if not self._dirty:
            return
        if self.entries:
            data = {
                uow: {"since": e.since, "path": e.path, "reason": e.reason, "reported": e.reported}
                for uow, e in sorted(self.entries.items())
            }
            write_text_atomic(self.path, json.dumps(data, sort_keys=True, indent=1) + "\n")
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self._dirty = False


def stuck_uows(cfg: InstanceConfig, now: float) -> list[Stuck]:
    """UoWs still in ``CodeToRun/slurm/`` whose hand-back failed for ``stuck_report_seconds``.

    Read-only, for ``status`` and ``doctor``.
    """
    running = cfg.path(protocol.RUNNING)
    entries = StuckList(StateStore(cfg.base_dir).root).load()
    return [
        e for e in entries.over(cfg.stuck_report_seconds, now) if os.path.lexists(running / e.uow)
    ]


def _parse(uow: str, item: Any) -> Stuck | None:
    if not isinstance(item, dict) or not isinstance(item.get("since"), (int, float)):
        return None
    return Stuck(
        uow,
        float(item["since"]),
        str(item.get("path") or ""),
        str(item.get("reason") or ""),
        bool(item.get("reported")),
    )


__all__ = ["STUCK_FILE", "Stuck", "StuckList", "stuck_uows"]
