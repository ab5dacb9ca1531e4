"""Retention: soft-delete finished UoWs into RecyclingBin/, delete them later, prune logs.

Ages count from when the agent put an item where it is, as recorded in the
ledger (:class:`hpc_agent.state.Ledger`), never from file mtimes, which Globus
transfers preserve. An item the ledger does not know (put there by hand, or a
crash just after a rename) starts its clock now. ``0`` days disables a step.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.finalize import Agent, free_name
from hpc_agent.state import Ledger, ledger_key

DAY: Final = 86400
_LOG_NAME = re.compile(r"^flowcron-(\d{4}-\d{2}-\d{2})\.jsonl$")


@dataclass
class RetentionResult:
    """What one retention pass moved or deleted (ledger keys and log file names)."""

    recycled: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    logs_deleted: list[str] = field(default_factory=list)


def apply_retention(agent: Agent) -> RetentionResult:
    """Run every retention step for the instance of ``agent`` (the caller saves the ledger)."""
    result = RetentionResult()
    cfg, ledger, now = agent.cfg, agent.ledger, agent.now
    soft = cfg.soft_delete_days * DAY
    hard = cfg.hard_delete_days * DAY
    bin_dir = cfg.path(protocol.RECYCLING_BIN)
    seen: set[str] = set()

    for directory in protocol.FINISHED_DIRS:
        for name in _names(cfg.path(directory)):
            key = ledger_key(directory, name)
            if not _due(ledger, key, now, soft, seen):
                continue
            target = free_name(bin_dir, name)
            try:
                bin_dir.mkdir(exist_ok=True)
                (cfg.path(directory) / name).rename(target)
            except OSError as exc:
                agent.log.write(
                    "recycle-failed",
                    f"could not move {key} to {protocol.RECYCLING_BIN}/: {exc}; "
                    "the next tick tries again",
                    level="error",
                    uow=name,
                    error=str(exc),
                )
                continue
            ledger.pop(key)
            seen.discard(key)
            bin_key = ledger_key(protocol.RECYCLING_BIN, target.name)
            ledger.put(bin_key, now, came_from=key)
            seen.add(bin_key)
            result.recycled.append(key)
            agent.log.write(
                "recycled",
                f"{key} is older than {cfg.soft_delete_days} day(s): moved to {bin_key}",
                uow=name,
            )

    for name in _names(bin_dir):
        key = ledger_key(protocol.RECYCLING_BIN, name)
        if not _due(ledger, key, now, hard, seen):
            continue
        try:
            _rmtree(bin_dir / name)
        except OSError as exc:
            agent.log.write(
                "delete-failed",
                f"could not delete {key}: {exc}; the next tick tries again",
                level="error",
                uow=name,
                error=str(exc),
            )
            continue
        ledger.pop(key)
        seen.discard(key)
        result.deleted.append(key)
        agent.log.write(
            "deleted",
            f"{key} was in the recycling bin for {cfg.hard_delete_days} day(s): deleted",
            uow=name,
        )

    # Items that left by other means (fetched and removed by a person).
    for key in [k for k in ledger.entries if k not in seen]:
        ledger.pop(key)

    if cfg.log_retention_days:
        result.logs_deleted = prune_logs(cfg.path(protocol.LOGS), cfg.log_retention_days, now)
    return result


def _due(ledger: Ledger, key: str, now: float, limit: float, seen: set[str]) -> bool:
    """Whether ``key`` has been where it is for ``limit`` seconds (0 disables the step).

    Marks it seen; an item the ledger does not know yet (put there by hand)
    starts its clock now rather than being judged by its mtime.
    """
    seen.add(key)
    since = ledger.at(key)
    if since is None:
        ledger.put(key, now, found=True)
        return False
    return bool(limit) and now - since >= limit


def prune_logs(logs_dir: Path, keep_days: int, now: float) -> list[str]:
    """Delete daily event logs whose date is more than ``keep_days`` days before ``now``."""
    cutoff = (datetime.fromtimestamp(now, tz=timezone.utc) - timedelta(days=keep_days)).date()
    deleted: list[str] = []
    for name in _names(logs_dir, dirs=False):
        match = _LOG_NAME.match(name)
        if not match:
            continue
        try:
            day = datetime.strptime(match.group(1), "%Y-%m-%d").date()
        except ValueError:
            continue
        if day < cutoff:
            try:
                (logs_dir / name).unlink()
            except FileNotFoundError:
                continue
            deleted.append(name)
    return sorted(deleted)


def _names(directory: Path, *, dirs: bool | None = None) -> list[str]:
    """Entry names in ``directory`` (all, or only non-directories when ``dirs`` is False).

    Names starting with a dot are included: a UoW may be called ``.sample``,
    and the agent keeps none of its own hidden files in these directories.
    """
    try:
        with os.scandir(directory) as entries:
            if dirs is False:
                return [e.name for e in entries if not e.is_dir(follow_symlinks=False)]
            return [e.name for e in entries]
    except FileNotFoundError:
        return []


def _rmtree(path: Path) -> None:
    """Delete a tree even where a job left read-only directories."""

    def make_writable(func: Callable[..., Any], failed: str, _exc: object) -> None:
        parent = Path(failed).parent
        parent.chmod(stat.S_IMODE(parent.lstat().st_mode) | stat.S_IRWXU)
        func(failed)

    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return
    # ``onerror`` (not 3.12's ``onexc``) because the agent supports Python 3.10.
    shutil.rmtree(path, onerror=make_writable)
