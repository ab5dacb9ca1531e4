"""Retention: soft-delete finished UoWs into RecyclingBin/, delete them later, prune logs.

Ages count from when the agent put an item where it is, as recorded in the
ledger (:class:`hpc_agent.loop.state.Ledger`), never from file mtimes, which Globus
transfers preserve. An item the ledger does not know (put there by hand, or a
crash just after a rename) starts its clock now. ``0`` days disables a step.

Nothing happens while an instance directory is a symlink
(:mod:`hpc_agent.site.layout`): the items "found" there would be someone else's
files. Files in ``CodeToRun/slurm/`` that are not a UoW (a job wrote
``../leaked.txt``) are first moved into a ``FailedJobs/`` folder with a note
(:func:`quarantine_strays`), so they expire like any other item.
"""

from __future__ import annotations

import math
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
from hpc_agent.fs.atomicio import write_text_atomic
from hpc_agent.fs.treewalk import O_DIR, add_bits_at
from hpc_agent.loop.state import Ledger, ledger_key
from hpc_agent.site.layout import layout_problems
from hpc_agent.uow.finalize import Agent, free_name, iso
from hpc_agent.usage.entry import carried

DAY: Final = 86400
_LOG_NAME = re.compile(r"^flowcron-(\d{4}-\d{2}-\d{2})\.jsonl$")

STRAY_FOLDER: Final = "flowcron-stray"
"""Files found in ``CodeToRun/slurm/`` go to ``FailedJobs/flowcron-stray_<UTC time>/``."""
STRAY_NOTE: Final = "FLOWCRON_STRAY.txt"
"""The note in a stray folder: what was found, when, and which jobs were running."""
STRAY_CANDIDATES_SHOWN: Final = 20
"""At most this many possible writers are named per file."""


@dataclass
class RetentionResult:
    """What one retention pass moved or deleted (ledger keys and log file names)."""

    recycled: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    logs_deleted: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def apply_retention(agent: Agent) -> RetentionResult:
    """Run every retention step for the instance of ``agent`` (the caller saves the ledger).

    Does nothing, and says why in ``refused`` and the log, while an instance
    directory is a symlink or not a directory.
    """
    result = RetentionResult()
    cfg, ledger, now = agent.cfg, agent.ledger, agent.now
    result.refused = layout_problems(cfg)
    if result.refused:
        agent.log.write(
            "retention-refused",
            "retention did nothing: " + "; ".join(result.refused),
            level="error",
        )
        return result
    result.quarantined = quarantine_strays(agent)
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
            usage = carried(ledger.entries.get(key))  # usage reads the ledger until deletion
            ledger.pop(key)
            seen.discard(key)
            bin_key = ledger_key(protocol.RECYCLING_BIN, target.name)
            ledger.put(bin_key, now, came_from=key, **usage)
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


def quarantine_strays(agent: Agent) -> list[str]:
    """Move what is not a UoW out of ``CodeToRun/slurm/`` into a ``FailedJobs/`` folder.

    Only directories are UoWs there (the tick takes each for one). A file, a
    link or anything else is something a job wrote outside its own folder
    (``../leaked.txt``), and nothing would ever remove it. Which job wrote it
    cannot be known for sure (every job runs as the same user; a time only
    says when), and putting it into the wrong researcher's UoW would hand them
    someone else's data, so it goes into ``FailedJobs/flowcron-stray_<UTC
    time>/`` with a note (:data:`STRAY_NOTE`) naming the jobs that were
    running when it was last written, and a ``stray-quarantined`` log line.
    Retention then expires that folder like any other item. NFS's own
    ``.nfs*`` files are left alone. Returns the names moved.
    """
    cfg, now = agent.cfg, agent.now
    running = cfg.path(protocol.RUNNING)
    strays: list[tuple[str, os.stat_result]] = []
    try:
        with os.scandir(running) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) or entry.name.startswith(".nfs"):
                    continue
                try:
                    strays.append((entry.name, entry.stat(follow_symlinks=False)))
                except FileNotFoundError:
                    continue
    except FileNotFoundError:
        return []
    if not strays:
        return []
    strays.sort()
    stamp = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = free_name(cfg.path(protocol.FAILED), f"{STRAY_FOLDER}_{stamp}")
    key = ledger_key(protocol.FAILED, folder.name)
    moved: list[str] = []
    lines: list[str] = []
    writers = _possible_writers(agent)
    try:
        folder.mkdir()
        agent.ledger.put(key, now, stray=True)
        for name, info in strays:
            target = free_name(folder, name)
            (running / name).rename(target)
            moved.append(name)
            lines.append(_stray_line(target.name, info, writers))
        write_text_atomic(folder / STRAY_NOTE, _stray_note(now, lines))
    except OSError as exc:
        agent.log.write(
            "stray-quarantine-failed",
            f"could not move files that are not a Unit of Work out of {protocol.RUNNING}/ "
            f"into {key}/ (moved so far: {', '.join(moved) or 'none'}): {exc}; the next "
            "tick tries again",
            level="error",
            error=str(exc),
        )
    if moved:
        agent.log.write(
            "stray-quarantined",
            f"{len(moved)} file(s) in {protocol.RUNNING}/ that are not a Unit of Work, most "
            f"likely written by a job outside its folder, moved to {key}/ (see its "
            f"{STRAY_NOTE}): " + ", ".join(moved),
            level="warning",
            files=moved,
            destination=key,
        )
    return moved


def _possible_writers(agent: Agent) -> list[tuple[float, float, str]]:
    """(from, until, description) of every job that may have been running lately.

    Jobs in ``CodeToRun/slurm/`` ran from their submission on; jobs already
    handed back ran until then (their start is no longer recorded).
    """
    writers = [
        (r.submitted_at - 5, math.inf, f"{r.uow} (job {r.job_id}, not handed back yet)")
        for r in sorted(agent.store.all_records().values(), key=lambda r: r.uow)
        if r.job_id and r.submitted_at is not None
    ]
    for key, entry in sorted(agent.ledger.entries.items()):
        at = agent.ledger.at(key)
        if at is not None and isinstance(entry, dict) and entry.get("job_id"):
            name = entry.get("uow") or key
            writers.append((-math.inf, at, f"{name} (job {entry['job_id']}, handed back since)"))
    return writers


def _stray_line(name: str, info: os.stat_result, writers: list[tuple[float, float, str]]) -> str:
    """One file of a stray folder, with the jobs that may have written it."""
    written = info.st_mtime
    candidates = [text for start, until, text in writers if start <= written <= until]
    shown = ", ".join(candidates[:STRAY_CANDIDATES_SHOWN]) or "none known"
    if len(candidates) > STRAY_CANDIDATES_SHOWN:
        shown += f" and {len(candidates) - STRAY_CANDIDATES_SHOWN} more"
    return (
        f"- {name}: {info.st_size} bytes, last written {iso(written)}. "
        f"Jobs that may have written it: {shown}."
    )


def _stray_note(now: float, lines: list[str]) -> str:
    return (
        "FlowCron: files found where only Units of Work belong\n"
        "=====================================================\n\n"
        f"On {iso(now)} these were in {protocol.RUNNING}/, where the agent keeps only the\n"
        "Units of Work it runs. A job most likely wrote them outside its own folder (for\n"
        "example to '../name'). Which job cannot be known for sure, so they were not put\n"
        "into any Unit of Work; the jobs named may have written them.\n\n"
        + "\n".join(lines)
        + "\n\nThis folder is removed by retention like any other item in "
        f"{protocol.FAILED}/.\n"
    )


def _rmtree(path: Path) -> None:
    """Delete a tree even where a job left read-only directories (ones the agent owns)."""

    def make_writable(func: Callable[..., Any], failed: str, _exc: object) -> None:
        parent = Path(failed).parent
        # Through the grandparent's descriptor, never through a link: u+rwx only.
        fd = os.open(parent.parent, O_DIR)
        try:
            add_bits_at(fd, parent.name, 0, owner_bits=stat.S_IRWXU)
        finally:
            os.close(fd)
        func(failed)

    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return
    # ``onerror`` (not 3.12's ``onexc``) because the agent supports Python 3.10.
    shutil.rmtree(path, onerror=make_writable)
