"""What an instance is doing: UoWs by state, with job ids, Slurm states and ages.

A UoW in ``CodeToRun/slurm/`` whose hand-back has failed for
``stuck_report_seconds`` or longer carries ``stuck`` (how long, the path and
the reason; :mod:`hpc_agent.uow.stuck`), shown as ``STUCK`` in the text. A
ready upload an admission limit holds back carries ``waiting`` (the limit, the
reason and how long; :mod:`hpc_agent.loop.holds`), shown as ``waiting: alice
has 4 of 4 running (max_running_per_user)``.

Read-only and lock-free: it may run while a tick works, and at worst shows a
UoW in the state it was in a moment ago.
"""

from __future__ import annotations

import os
import time
from typing import Any

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.executors.base import Executor, ExecutorError
from hpc_agent.loop.health import Heartbeat, read_heartbeat
from hpc_agent.loop.holds import Held, HeldList
from hpc_agent.loop.lock import InstanceLock, read_lease
from hpc_agent.loop.state import Ledger, StateStore, ledger_key
from hpc_agent.terminal import paint
from hpc_agent.text import printable
from hpc_agent.uow.stuck import StuckList
from hpc_agent.uow.upload import upload_state

SECTIONS = ("uploaded", "running", "analysed", "failed", "recycled")


def collect_status(
    cfg: InstanceConfig, executor: Executor | None = None, *, now: float | None = None
) -> dict[str, Any]:
    """The instance's state as a JSON-ready dict.

    With an ``executor``, one batched query adds the scheduler's view of every
    recorded job (``slurm_state``); when the scheduler is down the dict says so
    in ``scheduler_error`` instead of failing.
    """
    now = time.time() if now is None else now
    store = StateStore(cfg.base_dir)
    ledger = Ledger(store.root).load()
    status: dict[str, Any] = {
        "instance": cfg.name,
        "base_dir": str(cfg.base_dir),
        "scheduler_error": None,
    }

    beat = read_heartbeat(cfg.base_dir)
    status["last_tick"] = None if beat is None else _tick_summary(beat, now)

    stuck_list = StuckList(store.root).load()
    held = HeldList(store.root).load().entries
    uploaded: list[dict[str, Any]] = []
    for entry in _entries(cfg.path(protocol.UPLOADED)):
        state = upload_state(cfg.path(protocol.UPLOADED) / entry.name)
        failing = stuck_list.entries.get(f"{protocol.UPLOADED}/{entry.name}")
        uploaded.append(
            {
                "uow": entry.name,
                "state": state,
                "age_seconds": _age(now, entry.stat().st_mtime),
                # Ready but the agent cannot move it (say, uploaded as another user).
                "problem": None
                if failing is None
                else {"seconds": _age(now, failing.since), "reason": failing.reason},
                # Held back by an admission limit at the last tick (loop/fairness.py).
                "waiting": _waiting(held.get(entry.name), state, now),
            }
        )
    status["uploaded"] = uploaded

    records = store.all_records()
    infos: dict[str, Any] = {}
    ids = [r.job_id for r in records.values() if r.job_id]
    if executor is not None and ids:
        try:
            infos = dict(executor.query(ids))
        except ExecutorError as exc:
            status["scheduler_error"] = str(exc)
    running: list[dict[str, Any]] = []
    stuck = {s.uow: s for s in StuckList(store.root).load().over(cfg.stuck_report_seconds, now)}
    for entry in _entries(cfg.path(protocol.RUNNING)):
        record = records.get(entry.name)
        info = infos.get(record.job_id) if record and record.job_id else None
        jam = stuck.get(entry.name)
        running.append(
            {
                "uow": entry.name,
                "phase": record.phase if record else "unrecorded",
                "job_id": record.job_id if record else None,
                "slurm_state": info.state if info else None,
                "outcome": record.outcome if record else None,
                "age_seconds": _age(now, record.admitted_at if record else entry.stat().st_mtime),
                # Set once the hand-back has failed for stuck_report_seconds: a person must act.
                "stuck": None
                if jam is None
                else {"seconds": _age(now, jam.since), "path": jam.path, "reason": jam.reason},
            }
        )
    status["running"] = running

    for section, directory in (
        ("analysed", protocol.ANALYSED),
        ("failed", protocol.FAILED),
        ("recycled", protocol.RECYCLING_BIN),
    ):
        items: list[dict[str, Any]] = []
        for entry in _entries(cfg.path(directory)):
            key = ledger_key(directory, entry.name)
            since = ledger.at(key)
            job = ledger.entries.get(key, {}).get("job_id") if since is not None else None
            items.append(
                {
                    "uow": entry.name,
                    "job_id": job,
                    "age_seconds": _age(now, since if since is not None else entry.stat().st_mtime),
                }
            )
        status[section] = items

    lease = read_lease(InstanceLock(cfg.base_dir, cfg.lease_timeout_seconds).lease_path)
    status["lease"] = (
        None
        if lease is None
        else {"host": lease.host, "pid": lease.pid, "age_seconds": _age(now, lease.time)}
    )
    return status


def _waiting(held: Held | None, state: str, now: float) -> dict[str, Any] | None:
    """Why a ready upload waits (the limit, the reason, since when), as the last tick saw it."""
    if held is None or state != "ready":
        return None
    return {
        "limit": held.limit,
        "reason": held.reason,
        "user": held.user,
        "seconds": _age(now, held.since),
    }


def _tick_summary(beat: Heartbeat, now: float) -> dict[str, Any]:
    return {
        "host": beat.host,
        "started_seconds_ago": _age(now, beat.started),
        "ended_seconds_ago": None if beat.ended is None else _age(now, beat.ended),
        "exit_code": beat.exit_code,
        "message": beat.message,
        "counts": beat.counts,
        "failures_in_a_row": beat.failures_in_a_row,
    }


def _tick_line(tick: dict[str, Any] | None) -> str:
    if tick is None:
        return "  last tick: none has run yet (see `hpc-agent doctor`)"
    if tick["ended_seconds_ago"] is None:
        return (
            f"  last tick: started {human_age(tick['started_seconds_ago'])} ago on "
            f"{tick['host']} and has not ended (running, or killed)"
        )
    counts = ", ".join(f"{n} {what}" for what, n in tick["counts"].items() if n)
    line = (
        f"  last tick: {human_age(tick['ended_seconds_ago'])} ago on {tick['host']}, "
        f"exit code {tick['exit_code']}" + (f" ({counts})" if counts else "")
    )
    if tick["failures_in_a_row"]:
        line += f"; {tick['failures_in_a_row']} failed in a row: {tick['message']}"
    return line


def format_status(status: dict[str, Any], *, colour: bool = False) -> str:
    """The status as short human text, one line per UoW under a heading per state.

    With ``colour`` (a terminal), what needs a person stands out: STUCK and
    NOT MOVING in red, waiting in yellow.
    """
    lines = [f"Instance {status['instance']} at {status['base_dir']}"]
    if "last_tick" in status:
        lines.append(_tick_line(status["last_tick"]))
    if status.get("scheduler_error"):
        lines.append(f"  (scheduler unavailable: {status['scheduler_error']})")
    if status.get("lease"):
        lease = status["lease"]
        lines.append(
            f"  an agent is working: {lease['host']} pid {lease['pid']}, "
            f"renewed {human_age(lease['age_seconds'])} ago"
        )
    titles = {
        "uploaded": protocol.UPLOADED,
        "running": protocol.RUNNING,
        "analysed": protocol.ANALYSED,
        "failed": protocol.FAILED,
        "recycled": protocol.RECYCLING_BIN,
    }
    for section in SECTIONS:
        items = status.get(section, [])
        lines.append(f"{titles[section]}/ ({len(items)})")
        for item in items:
            parts = [f"  {item['uow']}"]
            if section == "uploaded":
                parts.append(item["state"])
            if section == "running":
                parts.append(item["phase"])
            if item.get("job_id"):
                parts.append(f"job {item['job_id']}")
            if item.get("slurm_state"):
                parts.append(item["slurm_state"])
            parts.append(f"age {human_age(item['age_seconds'])}")
            if item.get("stuck"):
                jam = item["stuck"]
                parts.append(
                    f"STUCK for {human_age(jam['seconds'])}: {jam['reason']} (at {jam['path']})"
                )
            if item.get("waiting"):
                parts.append(f"waiting: {item['waiting']['reason']}")
            if item.get("problem"):
                problem = item["problem"]
                parts.append(f"NOT MOVING for {human_age(problem['seconds'])}: {problem['reason']}")
            # Painted after printable(): the escape codes are ours, a UoW's name never is.
            lines.append("  ".join(_paint_part(printable(part), colour) for part in parts))
    return "\n".join(lines) + "\n"


def _paint_part(part: str, colour: bool) -> str:
    if part.startswith(("STUCK", "NOT MOVING")):
        return paint(part, "error", enabled=colour)
    if part.startswith("waiting:"):
        return paint(part, "warning", enabled=colour)
    return part


def human_age(seconds: float) -> str:
    """``42s``, ``7m``, ``3h``, ``12d``."""
    value = int(seconds)
    if value < 120:
        return f"{value}s"
    if value < 7200:
        return f"{value // 60}m"
    if value < 172800:
        return f"{value // 3600}h"
    return f"{value // 86400}d"


def _age(now: float, since: float) -> float:
    return round(max(0.0, now - since), 1)


def _entries(directory: os.PathLike[str]) -> list[os.DirEntry[str]]:
    # Dot-named entries are listed too: they are UoWs like any other (the tick
    # runs them), and the agent keeps no hidden files of its own here.
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda e: e.name)
    except FileNotFoundError:
        return []
