"""Finalize a Unit of Work: report, tidy, and hand it back with one atomic rename.

The steps, in order, each idempotent so that a crash anywhere is repaired by
running them all again (the decided outcome is in the UoW's job record first):

1. give the UoW's own directory ``u+rwx`` back (a job can take it away);
2. walk the UoW through directory descriptors, never through a symlink:
   ``u+rwx`` on every directory the agent owns, group read/write on
   everything (directories also setgid) except files with more than one hard
   link, and delete symlinks that point outside the UoW (keep those inside);
3. move whatever a job wrote into ``sentinels/`` to ``sentinels-content/``;
4. write ``flowcron-report.json`` and ``FLOWCRON_REPORT.txt`` into the UoW;
5. remove ``sentinels/``;
6. rename the UoW into ``AnalysedFiles/`` or ``FailedJobs/`` (a name already
   taken there gets a suffix, nothing is overwritten);
7. record the time in the ledger (retention counts from it) and forget the
   job record.

Nothing outside the UoW is changed: the instance directories are checked not
to be symlinks first (:mod:`hpc_agent.site.layout`), and modes are changed on the
inode that was checked (:func:`hpc_agent.fs.treewalk.add_bits_at`). A hand-back
that keeps failing is reported as stuck (:mod:`hpc_agent.uow.stuck`).

The flow treats a UoW in a finished directory as complete only once
``sentinels/`` is gone, and the rename is the last step, so it never sees a
half-finished UoW.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

from hpc_agent import __version__, protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.faults import crash_point
from hpc_agent.fs.names import free_name
from hpc_agent.fs.treewalk import O_DIR, TreeWalk, add_bits_at, link_escapes
from hpc_agent.loop import health
from hpc_agent.loop.eventlog import EventLog
from hpc_agent.loop.state import (
    FAILED,
    SUCCEEDED,
    JobRecord,
    Ledger,
    StateStore,
    ledger_key,
)
from hpc_agent.site.layout import layout_findings
from hpc_agent.uow.marker import remove_marker
from hpc_agent.uow.record import decide
from hpc_agent.uow.report import remove_report_temporaries, stderr_summary, write_report
from hpc_agent.uow.starter import remove_marker as remove_starter
from hpc_agent.uow.stuck import StuckList
from hpc_agent.usage.entry import usage_fields

GROUP_FILE_BITS: Final = stat.S_IRGRP | stat.S_IWGRP
MAX_QUOTED_CANDIDATES: Final = 200
"""At most this many array tasks' error files are looked at for the one to quote."""
GROUP_DIR_BITS: Final = stat.S_IRGRP | stat.S_IWGRP | stat.S_IXGRP | stat.S_ISGID
SENTINELS_CONTENT: Final = "sentinels-content"
"""Where what a job wrote into ``sentinels/`` is kept (that folder must go for the hand-back)."""
HARD_LINKS_SHOWN: Final = 10
"""At most this many hard-linked files are named in the report."""


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
        # Events about a UoW name who started it (JobRecord.user; eventlog.EventLog.user).
        user_of = lambda uow: getattr(store.load(uow), "user", None)  # noqa: E731
        log = EventLog(cfg.path(protocol.LOGS), cfg.name, user_of=user_of)
        return cls(cfg, store, ledger, log, time.time() if now is None else now)


def iso(ts: float | None) -> str | None:
    """A UTC ISO 8601 time (seconds), or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


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
        err = protocol.SLURM_STDERR.replace("%j", _output_id(record) or "<job id>")
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
    if record.lost_jobs and record.lost_jobs[-1].get("job_id") == record.job_id:
        return (
            "Nothing was wrong with your folder: Slurm lost the job (its controller "
            "restarted without it). Start the flow again, or ask the HPC support team "
            "whether the cluster is healthy first."
        )
    state = str(job.get("state") or "")
    output_id = _output_id(record) or record.job_id
    out = protocol.SLURM_STDERR.replace("%j", output_id)
    if state == "TIMEOUT":
        return f"The job ran out of time: ask for more with '#SBATCH --time', see {out}."
    if state == "OUT_OF_MEMORY":
        return f"The job ran out of memory: ask for more with '#SBATCH --mem', see {out}."
    if state == "CANCELLED":
        return "The job was cancelled. Start the flow again to run it anew."
    return (
        f"Read {out} and {protocol.SLURM_STDOUT.replace('%j', output_id)} in this "
        "folder for the error, fix the script or data, and start the flow again."
    )


def _tasks(record: JobRecord) -> list[dict[str, Any]]:
    tasks = (record.job or {}).get("tasks") or []
    return [task for task in tasks if isinstance(task, dict)]


def _task_ok(task: dict[str, Any]) -> bool:
    return task.get("state") == "COMPLETED" and task.get("exit_code") == "0:0"


def _output_id(record: JobRecord) -> str | None:
    """The ``%j`` of the output files to read first: the first task that did not succeed.

    An array task writes ``slurm-<its own job id>.err``, not the array's id.
    """
    for task in _tasks(record):
        if not _task_ok(task) and task.get("raw_id"):
            return str(task["raw_id"])
    return record.job_id


def task_report(record: JobRecord) -> dict[str, Any] | None:
    """The array tasks or heterogeneous components of the job, summed up; None for a plain job.

    ``{"kind": "array"|"heterogeneous", "total": n, "counts": {state: n},
    "not_succeeded": [{"task", "state", "exit_code", "reason", "stderr"}...]}``.
    """
    tasks = _tasks(record)
    if not tasks:
        return None
    counts: dict[str, int] = {}
    for task in tasks:
        count = task.get("count")
        number = count if isinstance(count, int) else 1
        state = str(task.get("state") or "UNKNOWN")
        counts[state] = counts.get(state, 0) + number
    failed = [
        {
            "task": task.get("job_id"),
            "state": task.get("state"),
            "exit_code": task.get("exit_code"),
            "reason": task.get("reason") if task.get("reason") != "None" else None,
            "stderr": (
                protocol.SLURM_STDERR.replace("%j", str(task["raw_id"]))
                if task.get("raw_id")
                else None
            ),
        }
        for task in tasks
        if not _task_ok(task)
    ]
    heterogeneous = any("+" in str(task.get("job_id")) for task in tasks)
    return {
        "kind": "heterogeneous" if heterogeneous else "array",
        "total": sum(counts.values()),
        "counts": dict(sorted(counts.items())),
        "not_succeeded": failed,
    }


def _stderr(record: JobRecord, uow_dir: Path) -> dict[str, Any] | None:
    """The error output to quote: the first task that did not succeed, else any that wrote some."""
    tasks = _tasks(record)
    ids = [str(t["raw_id"]) for t in tasks if not _task_ok(t) and t.get("raw_id")]
    ids += [str(t["raw_id"]) for t in tasks if _task_ok(t) and t.get("raw_id")]
    ids.append(record.job_id or "")
    for job_id in list(dict.fromkeys(i for i in ids if i))[:MAX_QUOTED_CANDIDATES]:
        summary = stderr_summary(uow_dir, job_id)
        if summary is not None:
            return summary
    return None


def build_report(
    cfg: InstanceConfig,
    record: JobRecord,
    *,
    destination: str,
    removed_symlinks: list[str],
    now: float,
    uow_dir: Path | None = None,
) -> dict[str, Any]:
    """The report of one finished UoW (see :mod:`hpc_agent.uow.report` for the files).

    With ``uow_dir``, the end of the job's error output is quoted (``stderr``).
    """
    job = record.job or {}
    stderr = _stderr(record, uow_dir) if uow_dir is not None else None
    return {
        "agent_version": __version__,
        "instance": cfg.name,
        "uow": record.uow,
        "run_id": protocol.run_id_of(record.uow),
        "user": record.user,
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
        "function": dict(record.function) if record.function is not None else None,
        "reason": record.reason,
        "tasks": task_report(record),
        "lost_jobs": [dict(lost) for lost in record.lost_jobs],
        "resubmissions": record.resubmissions,
        "waited_for_limit_seconds": record.waited_for_limit_seconds,
        "problems": list(record.problems),
        "notes": list(record.notes),
        "removed_symlinks": removed_symlinks,
        "stderr": stderr,
        "next_step": next_step(record, wrote_errors=stderr is not None),
        "admitted_at": iso(record.admitted_at),
        "finalized_at": iso(now),
    }


def tidy_tree(
    uow: Path, warnings: list[str] | None = None, sizes: list[int] | None = None
) -> list[str]:
    """Restore the owner's access, delete symlinks pointing outside ``uow``, open it to the group.

    Returns the removed links (relative paths). The walk goes through directory
    descriptors, so it has no depth limit, and never through a symlink, so no
    link can make the agent change anything outside the UoW:

    - every directory the agent owns gets ``u+rwx`` back before the walk goes
      into it (a job's ``chmod 555 "$1"`` or ``chmod 000 sentinels`` must not
      stop the hand-back), and every entry group read/write (directories
      also group search and setgid);
    - a file with more than one hard link keeps its mode: its other name may
      be outside the UoW (a job's ``ln $SECRET data/ref``);
    - a folder the agent cannot read or an entry it may not change (say a
      colleague's private subfolder) is left as it is.

    Each of those is a sentence appended to ``warnings``: handing the UoW back
    matters more than its permissions. A link that cannot be deleted raises
    ``OSError`` (the UoW must not go back with it). With ``sizes``, the size of
    every regular file seen is appended to it (the bytes handed back).
    """
    removed: list[str] = []
    hard_linked: list[str] = []
    notes = warnings if warnings is not None else []
    restore_owner_access(uow, notes)
    try:
        walk = TreeWalk(uow)
    except OSError as exc:
        notes.append(_unreadable_note(".", exc))
        return removed
    with walk:
        try:
            for entry in walk:
                if entry.error is not None:
                    notes.append(_unreadable_note(entry.rel, entry.error))
                elif entry.is_link:
                    if link_escapes(entry.dir_fd, entry.name, walk.root_ident):
                        try:
                            os.unlink(entry.name, dir_fd=entry.dir_fd)
                        except OSError as exc:
                            raise OSError(exc.errno, exc.strerror, str(uow / entry.rel)) from None
                        removed.append(entry.rel)
                elif not _add_bits_or_note(
                    entry.dir_fd, entry.name, entry.rel, entry.is_dir, notes, entry.info
                ):
                    hard_linked.append(entry.rel)
                # The marker file is the agent's, removed before the rename.
                if sizes is not None and _handed_back_file(entry.rel, entry.info):
                    sizes.append(entry.info.st_size)
        except OSError as exc:
            notes.append(
                f"The agent could not go through the whole folder ({exc.strerror or exc}), so "
                "some group permissions and symlinks may be as the job left them."
            )
    if hard_linked:
        notes.append(_hard_link_note(hard_linked))
    return sorted(removed)


def _handed_back_file(rel: str, info: os.stat_result) -> bool:
    return stat.S_ISREG(info.st_mode) and rel != protocol.UOW_MARKER


def restore_owner_access(uow: Path, warnings: list[str]) -> None:
    """Give the UoW's own directory ``u+rwx`` (when the agent owns it) and the group bits.

    Changed through its parent's descriptor, never through a link. Without
    write and search permission on it the agent can neither write the report
    nor move the UoW (a job may well have run ``chmod 555 "$1"``). A failure
    is a sentence in ``warnings``; the step that needs the permission then
    fails and says so.
    """
    try:
        parent = os.open(uow.parent, O_DIR)
    except OSError as exc:
        warnings.append(_mode_note(".", exc))
        return
    try:
        _add_bits_or_note(parent, uow.name, ".", True, warnings)
    finally:
        os.close(parent)


def _add_bits_or_note(
    dir_fd: int,
    name: str,
    rel: str,
    directory: bool,
    notes: list[str],
    seen: os.stat_result | None = None,
) -> bool:
    """Group bits (a directory the agent owns: also ``u+rwx``); False for a hard-linked file."""
    try:
        if directory:
            return add_bits_at(dir_fd, name, GROUP_DIR_BITS, owner_bits=stat.S_IRWXU, seen=seen)
        return add_bits_at(dir_fd, name, GROUP_FILE_BITS, seen=seen)
    except FileNotFoundError:
        return True
    except OSError as exc:
        notes.append(_mode_note(rel, exc))
        return True


def _mode_note(rel: str, exc: OSError) -> str:
    return (
        f"'{rel}' could not be given group read/write ({exc.strerror}); ask its owner to "
        "fix its permissions."
    )


def _unreadable_note(rel: str, exc: OSError) -> str:
    return (
        f"The folder '{rel}' could not be read by the agent ({exc.strerror}), so its group "
        "permissions and symlinks were left as they were."
    )


def _hard_link_note(paths: list[str]) -> str:
    shown = ", ".join(f"'{p}'" for p in sorted(paths)[:HARD_LINKS_SHOWN])
    more = len(paths) - HARD_LINKS_SHOWN
    if more > 0:
        shown += f" and {more} more"
    return (
        f"{len(paths)} file(s) have more than one hard link ({shown}): another name of the "
        "same file may be outside this folder, so the agent left their permissions as they were."
    )


def _open_to_group(uow: Path, names: tuple[str, ...]) -> None:
    """Group read/write on the agent's own files in the UoW (the reports), never through a link."""
    fd = os.open(uow, O_DIR)
    try:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                add_bits_at(fd, name, GROUP_FILE_BITS)
    finally:
        os.close(fd)


def remove_sentinels(uow: Path) -> str | None:
    """Remove ``sentinels/`` (the last step before the rename); return a kept name, if any.

    Nothing in it is ever deleted: an empty directory is removed, one that is
    not empty (finalize moved what the job wrote aside before the report, so
    this is something written since) is kept as ``sentinels-content``. A
    *file* called ``sentinels`` (a rejected upload) is user data: it is
    renamed aside, so the flow's finished test still holds.
    """
    path = uow / protocol.SENTINELS_DIR
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(mode):
        try:
            path.rmdir()
            return None
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        aside = free_name(uow, SENTINELS_CONTENT)
    else:
        aside = free_name(uow, protocol.SENTINELS_DIR + ".file")
    path.rename(aside)
    return aside.name


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


def finalize(agent: Agent, record: JobRecord) -> str | None:
    """Run the finalize steps for ``record`` (phase FINALIZING, outcome decided).

    Returns where the UoW went (``"AnalysedFiles/<name>"``), or None when it
    could not be finished this time (logged; the next tick tries again; no
    file is lost because every step before the rename is repeatable). A UoW
    that still cannot be handed back after ``stuck_report_seconds`` is logged
    once as ``uow-stuck`` with the path and the reason (:mod:`hpc_agent.uow.stuck`).
    """
    cfg, store = agent.cfg, agent.store
    uow_dir = cfg.path(protocol.RUNNING) / record.uow
    target_dir = protocol.ANALYSED if record.outcome == SUCCEEDED else protocol.FAILED
    # Every step below works in these directories; through a symlink it would
    # work outside the instance (the tick checks them all before it starts).
    refused = layout_findings(cfg, (protocol.RUNNING, target_dir))
    if refused:
        where, problem = refused[0]
        error = OSError(errno.ENOTDIR, problem, str(cfg.base_dir / where))
        _hand_back_failed(agent, record, target_dir, "checking the instance layout", error)
        return None
    if not os.path.lexists(uow_dir):
        return _after_rename(agent, record)
    step = "restoring the owner's access to it"
    try:
        warnings: list[str] = []
        # First: a job may have taken the owner's write permission away.
        restore_owner_access(uow_dir, warnings)
        step = "moving files at the report names aside"
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
        step = "setting permissions and removing outside symlinks"
        removed, handed_back = _tidy_and_count(uow_dir, warnings)
        warnings = list(dict.fromkeys(warnings))
        for warning in warnings:
            agent.log.write(
                "finalize-warning", warning, level="warning", uow=record.uow, job_id=record.job_id
            )
        crash_point("after-permissions")
        step = f"keeping what the job wrote into {protocol.SENTINELS_DIR}/"
        _keep_sentinels_content(agent, record, uow_dir)
        step = "writing the report"
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
        remove_report_temporaries(uow_dir)
        _open_to_group(uow_dir, (protocol.REPORT_JSON, protocol.REPORT_TEXT))
        crash_point("after-report")
        step = f"removing {protocol.SENTINELS_DIR}/"
        _remove_markers(uow_dir)  # before sentinels/: the flow may copy the folder after that
        remove_sentinels(uow_dir)
        crash_point("after-sentinels-removed")
        step = f"moving it into {target_dir}/"
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
        _hand_back_failed(agent, record, target_dir, step, exc)
        return None
    crash_point("after-finalize-rename")
    return _after_rename(agent, record, handed_back=handed_back)


def _tidy_and_count(uow_dir: Path, warnings: list[str]) -> tuple[list[str], int]:
    """:func:`tidy_tree`, and the bytes of the regular files it saw (the ledger's ``bytes``)."""
    sizes: list[int] = []
    removed = tidy_tree(uow_dir, warnings, sizes)
    return removed, sum(sizes)


def _remove_markers(uow_dir: Path) -> None:
    """The agent's marker file, and the starter marker (gone since admission unless a crash)."""
    remove_marker(uow_dir)
    remove_starter(uow_dir)


def _keep_sentinels_content(agent: Agent, record: JobRecord, uow_dir: Path) -> None:
    """Move what the job wrote into ``sentinels/`` aside, noting it in the record first.

    The note is saved before the rename and is the same sentence when the
    step runs again after a crash (the free name is the same until the rename
    happens), so it is never lost nor repeated.
    """
    path = uow_dir / protocol.SENTINELS_DIR
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return
    except FileNotFoundError:
        return
    aside = free_name(uow_dir, SENTINELS_CONTENT).name
    note = (
        f"Your job wrote into '{protocol.SENTINELS_DIR}/', the folder FlowCron removes to hand "
        f"the Unit of Work back; what it wrote was kept in '{aside}/'."
    )
    try:
        with os.scandir(path) as entries:
            if next(entries, None) is None:
                return
    except OSError:
        pass  # cannot be listed: keep it whole, as if it had content
    if note not in record.notes:
        record.notes.append(note)
        agent.store.save(record)
    path.rename(uow_dir / aside)


def _hand_back_failed(
    agent: Agent, record: JobRecord, target_dir: str, step: str, exc: OSError
) -> None:
    """Log a failed hand-back; once it has failed for ``stuck_report_seconds``, say it is stuck."""
    path = str(exc.filename) if exc.filename else str(agent.cfg.path(protocol.RUNNING) / record.uow)
    reason = f"{step}: {exc.strerror or exc}"
    agent.log.write(
        "finalize-failed",
        f"could not finish {record.uow} into {target_dir}/ ({step}): {exc}; nothing was lost, "
        "the next tick tries again",
        level="error",
        uow=record.uow,
        job_id=record.job_id,
        error=str(exc),
        path=path,
    )
    note_stuck(agent, record.uow, record.uow, path, reason, "handed back", job_id=record.job_id)


def note_stuck(
    agent: Agent,
    key: str,
    uow: str,
    path: str,
    reason: str,
    what: str,
    *,
    job_id: str | None = None,
) -> None:
    """Remember a UoW that could not be moved; once ``stuck_report_seconds`` passed, say so.

    ``key`` names the entry in the stuck list (the UoW's name in
    ``CodeToRun/slurm/``, ``UploadedFiles/<name>`` for an upload the agent
    could not admit); ``what`` is "handed back" or "admitted". The
    ``uow-stuck`` line and the message to the PI are written once.
    """
    stuck = StuckList(agent.store.root).load()
    entry = stuck.failed(key, now=agent.now, path=path, reason=reason)
    limit = agent.cfg.stuck_report_seconds
    if not entry.reported and entry.seconds(agent.now) >= limit:
        agent.log.write(
            "uow-stuck",
            f"{uow} cannot be {what}: {reason}, at {path}, for "
            f"{entry.seconds(agent.now) / 60:.0f} min (stuck_report_seconds = {limit}). Give the "
            "agent's user write permission there (the next tick then hands it back); "
            f"`hpc-agent status` and `hpc-agent doctor` list it until it is {what}",
            level="error",
            uow=uow,
            job_id=job_id,
            path=path,
            reason=reason,
        )
        stuck.mark_reported(key)
        tell_the_pi(
            agent,
            f"FlowCron {agent.cfg.name}: {uow} cannot be {what}",
            f"The Unit of Work {uow} of instance '{agent.cfg.name}' ({agent.cfg.base_dir}) "
            f"cannot be {what}: {reason}, at {path}. Give the agent's user write "
            "permission there; the next tick then hands it back.\n",
        )
    try:
        stuck.save()
    except OSError as save_exc:
        agent.log.write(
            "stuck-list-failed",
            f"could not record that {uow} is not {what} yet ({save_exc})",
            level="warning",
            uow=uow,
        )


def clear_stuck(agent: Agent, key: str) -> None:
    """Forget a stuck-list entry once its UoW moved (a failure to write it is harmless)."""
    stuck = StuckList(agent.store.root)
    if stuck.path.exists():
        stuck.load().clear(key)
        with contextlib.suppress(OSError):
            stuck.save()


def tell_the_pi(agent: Agent, subject: str, body: str) -> None:
    """Run the instance's ``notify_command`` (when set) and log whether it worked."""
    if not agent.cfg.notify_command:
        return
    error = health.notify(agent.cfg.notify_command, subject, body)
    agent.log.write(
        "notify-failed" if error else "notified",
        f"could not tell the PI: {error}" if error else f"told the PI: {subject}",
        level="error" if error else "warning",
    )


def _after_rename(agent: Agent, record: JobRecord, handed_back: int | None = None) -> str | None:
    """Ledger and clean-up once the UoW is in its finished directory (or lost)."""
    # A stale entry is harmless (status and doctor show only UoWs still in
    # CodeToRun/slurm), so failing to drop it must not undo a hand-back.
    clear_stuck(agent, record.uow)
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
    agent.ledger.put(
        destination,
        agent.now,
        uow=record.uow,
        job_id=record.job_id,
        **usage_fields(
            record,
            uow_dir=agent.cfg.base_dir / destination,
            finished=agent.now,
            handed_back=handed_back,
        ),
    )
    # Logged while the record still exists: a kill after this line repeats the
    # step (and the line) next tick, where a kill after the delete would have
    # lost the line for good. At least once, never never.
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
    agent.store.delete(record.uow)
    crash_point("after-ledger")
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
    "restore_owner_access",
    "tidy_tree",
]
