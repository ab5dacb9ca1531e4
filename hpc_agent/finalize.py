"""Finalize a Unit of Work: report, tidy, and hand it back with one atomic rename.

The steps, in order, each idempotent so that a crash anywhere is repaired by
running them all again (the decided outcome is in the UoW's job record first):

1. delete symlinks that point outside the UoW (keep those inside it) and give
   the group read/write on everything (directories also setgid);
2. write ``flowcron-report.json`` and ``FLOWCRON_REPORT.txt`` into the UoW;
3. remove ``sentinels/``;
4. rename the UoW into ``AnalysedFiles/`` or ``FailedJobs/`` (a name already
   taken there gets a suffix, nothing is overwritten);
5. record the time in the ledger (retention counts from it) and forget the
   job record.

The flow treats a UoW in a finished directory as complete only once
``sentinels/`` is gone, and the rename is the last step, so it never sees a
half-finished UoW.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

from hpc_agent import __version__, protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.eventlog import EventLog
from hpc_agent.faults import crash_point
from hpc_agent.report import stderr_summary, write_report
from hpc_agent.state import FAILED, FINALIZING, SUCCEEDED, JobRecord, Ledger, StateStore, ledger_key

GROUP_FILE_BITS: Final = stat.S_IRGRP | stat.S_IWGRP
GROUP_DIR_BITS: Final = stat.S_IRGRP | stat.S_IWGRP | stat.S_IXGRP | stat.S_ISGID


@dataclass
class Agent:
    """What every step of the agent needs: the instance, its state, its log, the time."""

    cfg: InstanceConfig
    store: StateStore
    ledger: Ledger
    log: EventLog
    now: float

    @classmethod
    def open(cls, cfg: InstanceConfig, *, now: float | None = None) -> Agent:
        """The agent of ``cfg`` with its state directories created and ledger loaded."""
        store = StateStore(cfg.base_dir)
        store.ensure()
        cfg.path(protocol.LOGS).mkdir(parents=True, exist_ok=True)
        ledger = Ledger(store.root).load()
        log = EventLog(cfg.path(protocol.LOGS), cfg.name)
        return cls(cfg, store, ledger, log, time.time() if now is None else now)


def iso(ts: float | None) -> str | None:
    """A UTC ISO 8601 time (seconds), or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def decide(
    record: JobRecord, *, outcome: str, reason: str | None, job: dict[str, Any] | None = None
) -> None:
    """Fix the outcome of ``record`` (the caller saves it before finalizing)."""
    record.phase = FINALIZING
    record.outcome = outcome
    record.reason = reason
    if job is not None:
        record.job = job
    record.unknown_since = None


def report_outcome(record: JobRecord) -> str | None:
    """The report's outcome: succeeded, failed, rejected (never ran) or cancelled."""
    if record.outcome == SUCCEEDED:
        return SUCCEEDED
    if record.problems:
        return "rejected"
    if record.job and record.job.get("state") == "CANCELLED":
        return "cancelled"
    return record.outcome


def next_step(record: JobRecord, *, wrote_errors: bool = False) -> str:
    """What the researcher should do next, in one or two sentences."""
    if record.outcome == SUCCEEDED and wrote_errors:
        err = protocol.SLURM_STDERR.replace("%j", record.job_id or "<job id>")
        return (
            f"Check the errors above ({err}): the job ended with exit code 0, but a "
            "command in it may have failed, so the results may be incomplete."
        )
    if record.outcome == SUCCEEDED:
        return "Nothing: your results are in this folder."
    if record.problems:
        return (
            "Fix the problem(s) listed above in your folder, then start the flow again. "
            "The job was not run."
        )
    job = record.job or {}
    if record.job_id is None:
        return (
            "The scheduler refused the job, so it never ran. Check the message above "
            "(account, QoS, partition or resources requested with #SBATCH), fix the "
            "script and start the flow again."
        )
    state = str(job.get("state") or "")
    out = protocol.SLURM_STDERR.replace("%j", record.job_id)
    if state == "TIMEOUT":
        return f"The job ran out of time: ask for more with '#SBATCH --time', see {out}."
    if state == "OUT_OF_MEMORY":
        return f"The job ran out of memory: ask for more with '#SBATCH --mem', see {out}."
    if state == "CANCELLED":
        return "The job was cancelled. Start the flow again to run it anew."
    return (
        f"Read {out} and {protocol.SLURM_STDOUT.replace('%j', record.job_id)} in this "
        "folder for the error, fix the script or data, and start the flow again."
    )


def build_report(
    cfg: InstanceConfig,
    record: JobRecord,
    *,
    destination: str,
    removed_symlinks: list[str],
    now: float,
    uow_dir: Path | None = None,
) -> dict[str, Any]:
    """The report of one finished UoW (see :mod:`hpc_agent.report` for the files).

    With ``uow_dir``, the end of the job's error output is quoted (``stderr``).
    """
    job = record.job or {}
    stderr = stderr_summary(uow_dir, record.job_id) if uow_dir is not None else None
    return {
        "agent_version": __version__,
        "instance": cfg.name,
        "uow": record.uow,
        "run_id": protocol.run_id_of(record.uow),
        "outcome": report_outcome(record),
        "destination": destination,
        "job_id": record.job_id,
        "job_name": record.job_name,
        "state": job.get("state"),
        "exit_code": job.get("exit_code"),
        "elapsed": job.get("elapsed"),
        "node": job.get("node"),
        "submit_time": job.get("submit_time") or iso(record.submitted_at),
        "start_time": job.get("start_time"),
        "end_time": job.get("end_time"),
        "script_sha256": record.script_sha256,
        "reason": record.reason,
        "problems": list(record.problems),
        "notes": list(record.notes),
        "removed_symlinks": removed_symlinks,
        "stderr": stderr,
        "next_step": next_step(record, wrote_errors=stderr is not None),
        "admitted_at": iso(record.admitted_at),
        "finalized_at": iso(now),
    }


def tidy_tree(uow: Path, warnings: list[str] | None = None) -> list[str]:
    """Delete symlinks pointing outside ``uow`` and give the group read/write.

    Returns the removed links (relative paths). Never follows a symlink, so a
    link cannot make the agent change permissions outside the UoW. A folder
    the agent cannot read or an entry it may not chmod (say a colleague's
    private subfolder) is skipped, and a sentence saying so is appended to
    ``warnings``: handing the UoW back matters more than its permissions.
    """
    root = os.path.realpath(uow)
    removed: list[str] = []
    notes = warnings if warnings is not None else []
    stack = [str(uow)]
    _add_bits_or_note(str(uow), GROUP_DIR_BITS, uow, notes)
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as scan:
                entries = list(scan)
        except OSError as exc:
            notes.append(
                f"The folder '{os.path.relpath(current, uow)}' could not be read by the agent "
                f"({exc.strerror}), so its group permissions and symlinks were left as they were."
            )
            continue
        for entry in entries:
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if target != root and not target.startswith(root + os.sep):
                    Path(entry.path).unlink()
                    removed.append(os.path.relpath(entry.path, uow))
            elif entry.is_dir(follow_symlinks=False):
                _add_bits_or_note(entry.path, GROUP_DIR_BITS, uow, notes)
                stack.append(entry.path)
            else:
                _add_bits_or_note(entry.path, GROUP_FILE_BITS, uow, notes)
    return sorted(removed)


def _add_bits_or_note(path: str, bits: int, uow: Path, notes: list[str]) -> None:
    try:
        _add_bits(path, bits)
    except OSError as exc:
        notes.append(
            f"'{os.path.relpath(path, uow)}' could not be given group read/write "
            f"({exc.strerror}); ask its owner to fix its permissions."
        )


def _add_bits(path: str, bits: int) -> None:
    mode = os.lstat(path).st_mode
    if mode & bits != bits:
        Path(path).chmod(stat.S_IMODE(mode) | bits)


def remove_sentinels(uow: Path) -> None:
    """Remove ``sentinels/`` (the last step before the rename).

    A *file* called ``sentinels`` (a rejected upload) is user data: it is
    renamed aside, not deleted, so the flow's finished test still holds.
    """
    path = uow / protocol.SENTINELS_DIR
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        path.rename(free_name(uow, protocol.SENTINELS_DIR + ".file"))


def move_aside_report_names(uow: Path, *, files_too: bool) -> list[tuple[str, str]]:
    """Rename the user's entries at the report names to ``<name>.user`` (never delete).

    A folder, link or other non-file there is always the user's; a plain file
    only when ``files_too`` (no report was written yet). Returns the
    (old, new) names moved.
    """
    moved: list[tuple[str, str]] = []
    for name in (protocol.REPORT_JSON, protocol.REPORT_TEXT):
        path = uow / name
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISREG(mode) and not files_too:
            continue
        aside = free_name(uow, name + ".user")
        path.rename(aside)
        moved.append((name, aside.name))
    return moved


def free_name(directory: Path, name: str) -> Path:
    """``directory/name``, or ``name.1``, ``name.2``... when taken: never overwrite."""
    candidate = directory / name
    number = 0
    while os.path.lexists(candidate):
        number += 1
        candidate = directory / f"{name}.{number}"
    return candidate


def finalize(agent: Agent, record: JobRecord) -> str | None:
    """Run the finalize steps for ``record`` (phase FINALIZING, outcome decided).

    Returns where the UoW went (``"AnalysedFiles/<name>"``), or None when it
    could not be finished this time (logged; the next tick tries again; no
    file is lost because every step before the rename is repeatable).
    """
    cfg, store = agent.cfg, agent.store
    uow_dir = cfg.path(protocol.RUNNING) / record.uow
    if not os.path.lexists(uow_dir):
        return _after_rename(agent, record)
    target_dir = protocol.ANALYSED if record.outcome == SUCCEEDED else protocol.FAILED
    try:
        # Before the first report is written, anything at the report names is the
        # user's; later only a non-file can be (the agent writes plain files there).
        moved = move_aside_report_names(uow_dir, files_too=record.destination is None)
        record.notes.extend(
            f"Your '{old}' was in the way of FlowCron's report, so it was renamed to '{new}'."
            for old, new in moved
        )
        if moved and record.destination is not None:
            store.save(record)
        if record.destination is None:
            record.destination = ledger_key(
                target_dir, free_name(cfg.path(target_dir), record.uow).name
            )
            store.save(record)
        warnings: list[str] = []
        removed = tidy_tree(uow_dir, warnings)
        for warning in warnings:
            agent.log.write(
                "finalize-warning", warning, level="warning", uow=record.uow, job_id=record.job_id
            )
        crash_point("after-permissions")
        report = build_report(
            cfg,
            record,
            destination=target_dir,
            removed_symlinks=removed,
            now=agent.now,
            uow_dir=uow_dir,
        )
        report["notes"].extend(warnings)
        write_report(uow_dir, report)
        for name in (protocol.REPORT_JSON, protocol.REPORT_TEXT):
            with contextlib.suppress(FileNotFoundError):
                _add_bits(str(uow_dir / name), GROUP_FILE_BITS)
        crash_point("after-report")
        remove_sentinels(uow_dir)
        crash_point("after-sentinels-removed")
        destination = cfg.base_dir / record.destination
        if os.path.lexists(destination):
            # Taken since we chose it (by hand?): choose again, never overwrite.
            record.destination = ledger_key(
                target_dir, free_name(cfg.path(target_dir), record.uow).name
            )
            store.save(record)
            destination = cfg.base_dir / record.destination
        uow_dir.rename(destination)
    except OSError as exc:
        agent.log.write(
            "finalize-failed",
            f"could not finish {record.uow} into {target_dir}/: {exc}; nothing was lost, "
            "the next tick tries again",
            level="error",
            uow=record.uow,
            job_id=record.job_id,
            error=str(exc),
        )
        return None
    crash_point("after-finalize-rename")
    return _after_rename(agent, record)


def _after_rename(agent: Agent, record: JobRecord) -> str | None:
    """Ledger and clean-up once the UoW is in its finished directory (or lost)."""
    destination = record.destination
    if destination is None or not os.path.lexists(agent.cfg.base_dir / destination):
        agent.log.write(
            "uow-missing",
            f"{record.uow} is no longer in {protocol.RUNNING}/ and was not handed back; "
            "someone moved or deleted it, so the agent forgets it",
            level="error",
            uow=record.uow,
            job_id=record.job_id,
        )
        agent.store.delete(record.uow)
        return None
    agent.ledger.put(destination, agent.now, uow=record.uow, job_id=record.job_id)
    agent.store.delete(record.uow)
    crash_point("after-ledger")
    agent.log.write(
        "finalized",
        f"{record.uow} {record.outcome}: moved to {destination}"
        + (f" ({record.reason})" if record.reason else ""),
        level="info" if record.outcome == SUCCEEDED else "warning",
        uow=record.uow,
        job_id=record.job_id,
        outcome=record.outcome,
        destination=destination,
    )
    return destination


__all__ = [
    "FAILED",
    "SUCCEEDED",
    "Agent",
    "build_report",
    "decide",
    "finalize",
    "free_name",
    "move_aside_report_names",
    "remove_sentinels",
    "tidy_tree",
]
