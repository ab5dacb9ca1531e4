"""The tick: one level-triggered pass of the reconcile loop over an instance.

Every tick looks at every Unit of Work where it lies and advances it as far as
it can, remembering nothing between ticks except the durable job records of
:mod:`hpc_agent.loop.state`:

1. outcome: ONE batched scheduler query for every recorded job; a finished job
   gets its outcome recorded (success only for COMPLETED with exit code 0:0; a
   job the scheduler no longer knows after ``unknown_job_grace_seconds`` is a
   failure);
2. admit: each ready upload is admitted, its prepared script copy and record
   written, then it is moved with one atomic rename into ``CodeToRun/slurm/``
   (a rejected one too, to be finalized into ``FailedJobs/``);
3. submit: intent recorded, then sbatch, then the job id recorded before
   anything else; a UoW whose intent was recorded but whose job id was not
   (a crash) is first looked up by its unique job name, so it is never
   submitted twice;
4. finalize: see :mod:`hpc_agent.uow.finalize`;
5. retention: see :mod:`hpc_agent.uow.retention`.

Before step 1 the tick pings the scheduler (one cheap call, every tick): when
it cannot be reached the tick logs it and exits with
:data:`~hpc_agent.exitcodes.EXIT_SCHEDULER_DOWN` without moving anything.

The scheduler is called a constant number of times per tick (the ping, one
query, at most two name look-ups after an interrupted tick, plus one sbatch
per new UoW), whatever the number of UoWs. A second tick that finds the instance busy exits at once
(exit code 0).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Final

import hpc_agent
from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.executors.base import (
    Claim,
    Executor,
    ExecutorError,
    JobInfo,
    JobSpec,
    SchedulerUnavailable,
    SubmitRejected,
    claim,
    merge_seen_tasks,
    remembered_job,
)
from hpc_agent.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_SCHEDULER_DOWN
from hpc_agent.faults import crash_point
from hpc_agent.fs.atomicio import TEMP_SUFFIX, write_text_atomic
from hpc_agent.loop import health
from hpc_agent.loop.eventlog import EventLog
from hpc_agent.loop.lock import InstanceLock, LeaseLost
from hpc_agent.loop.state import (
    ADMITTED,
    FAILED,
    FINALIZING,
    SUBMITTED,
    SUBMITTING,
    SUCCEEDED,
    JobRecord,
)
from hpc_agent.site.layout import layout_problems, log_refusal
from hpc_agent.text import printable
from hpc_agent.uow.admission import Admission, admit, upload_state
from hpc_agent.uow.finalize import (
    Agent,
    clear_stuck,
    decide,
    finalize,
    note_stuck,
    tell_the_pi,
)
from hpc_agent.uow.marker import new_token, read_token, write_marker
from hpc_agent.uow.rerun import archive_earlier_outputs, find_earlier_outputs
from hpc_agent.uow.retention import RetentionResult, apply_retention

VANISHED_REASON: Final = "job vanished from Slurm"
MAX_RESUBMISSIONS: Final = 1
"""How often a UoW whose job Slurm lost is submitted again before it is failed."""
RECOVERY_CLOCK_SLACK: Final = 5.0
"""Seconds of leeway when an interrupted submission is looked up by name.

Slurm prints submit times to the second, and its clock may differ a little
from this host's; a job of the same name submitted longer ago than this
before the intent was recorded belongs to an earlier run of the UoW (retried
or uploaded again under the same name, which takes at least two ticks)."""
FINALIZE_JOB_RESOURCES: Final = ("--ntasks=1", "--cpus-per-task=1", "--mem=100M", "--time=00:05:00")
"""The finalize-by-dependency job is tiny, so it fits on any node at once."""

_UNSAFE_JOB_NAME = re.compile(r"[^A-Za-z0-9_.-]")

STOPS_THE_TICK: Final = (ExecutorError, LeaseLost)
"""Errors no Unit of Work causes alone: they end the tick (see :meth:`Reconciler.run`)."""


@dataclass
class TickResult:
    """What one tick did; ``exit_code`` is the process exit code for ``hpc-agent tick``."""

    ran: bool = True
    exit_code: int = EXIT_OK
    message: str = ""
    admitted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    submitted: dict[str, str] = field(default_factory=dict)
    finished: dict[str, str] = field(default_factory=dict)
    retention: RetentionResult = field(default_factory=RetentionResult)
    scheduler_queries: int = 0
    seconds: float = 0.0
    errors: int = 0
    """Units of Work whose step failed this tick (each logged); the others went on."""


def job_name(instance: str, uow: str) -> str:
    """The unique Slurm job name of a UoW: ``flowcron-<instance>-<uow>``, sanitised.

    Characters Slurm or a shell could trip over become ``_``; when that
    changed the name, a short hash of the real name keeps it unique.
    """
    raw = f"flowcron-{instance}-{uow}"
    safe = _UNSAFE_JOB_NAME.sub("_", raw)
    if safe != raw or len(safe) > 180:
        digest = hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        safe = f"{safe[:170]}-{digest}"
    return safe


def timestamped(name: str, now: float) -> str:
    """``name`` with a UTC timestamp, for the ``timestamp`` option.

    A name that already ends in a run id is never changed: the flow finds the
    UoW again by that name.
    """
    if protocol.run_id_of(name) is not None:
        return name
    return f"{name}_{datetime.fromtimestamp(now, tz=timezone.utc):%Y%m%d-%H%M%S}"


def tick(
    cfg: InstanceConfig, executor: Executor | None = None, *, now: float | None = None
) -> TickResult:
    """Run one pass of the reconcile loop over instance ``cfg``.

    ``executor`` defaults to the instance's configured one; ``now`` (seconds
    since the epoch) is for tests. Never raises for a scheduler outage: the
    result's exit code says so.
    """
    started = time.monotonic()
    problems = layout_problems(cfg)
    if problems:
        # Before the lock, the state directory or the heartbeat are touched: with
        # CodeToRun/ a symlink, even those writes would land outside the instance.
        log = EventLog(cfg.path(protocol.LOGS), cfg.name)
        return TickResult(
            exit_code=EXIT_FAILED, message=log_refusal(cfg, log, problems, "the tick")
        )
    agent = Agent.open(cfg, now=now)
    lock = InstanceLock(cfg.base_dir, cfg.lease_timeout_seconds)
    if not lock.acquire(now=agent.now):
        holder = lock.holder.describe(agent.now) if lock.holder else "another agent"
        agent.log.write(
            "tick-skipped", f"another agent is working on this instance ({holder}); nothing to do"
        )
        return TickResult(ran=False, message=f"busy: {holder}")
    try:
        # Read again now that we hold the lock: another agent may have written it since.
        agent.ledger.load()
        if lock.took_over is not None and lock.took_over.host != lock.host:
            agent.log.write(
                "lease-taken-over",
                f"took over a stale lease ({lock.took_over.describe(agent.now)})",
                level="warning",
            )
        beat = health.begin(cfg.base_dir, time.time())
        if executor is None:
            from hpc_agent.executors import make_executor

            executor = make_executor(cfg)
        reconciler = Reconciler(agent, executor, lock)
        try:
            result = reconciler.run()
        except LeaseLost as exc:
            # Another host has the instance now (this tick paused or ran past the
            # lease timeout): stop before any further change, the ledger included.
            agent.log.write(
                "lease-lost",
                f"{exc}; this tick stopped before its next change, the holder carries on",
                level="error",
                holder=exc.holder.host if exc.holder is not None else None,
                holder_pid=exc.holder.pid if exc.holder is not None else None,
            )
            result = reconciler.result
            result.exit_code = EXIT_FAILED
            result.message = f"lease lost: {exc}"
        else:
            # Not after a lost lease: the heartbeat is the new holder's to write.
            record_health(agent, beat, result)
    finally:
        lock.release()
    result.seconds = time.monotonic() - started
    return result


def record_health(agent: Agent, beat: health.Heartbeat, result: TickResult) -> None:
    """End the tick's heartbeat; tell the PI once when ticks have failed too often in a row."""
    counts = {
        "admitted": len(result.admitted),
        "rejected": len(result.rejected),
        "submitted": len(result.submitted),
        "finished": len(result.finished),
        "errors": result.errors,
    }
    beat = health.end(
        agent.cfg.base_dir,
        beat,
        now=time.time(),
        exit_code=result.exit_code,
        message=result.message,
        counts=counts,
    )
    cfg = agent.cfg
    # Once per run of failures (a killed tick counts too, in health.begin),
    # not on every tick; a success starts the count again.
    if (
        cfg.notify_command
        and not beat.notified
        and beat.failures_in_a_row >= cfg.notify_after_failures
    ):
        subject = f"FlowCron {cfg.name}: {beat.failures_in_a_row} ticks in a row failed"
        body = (
            f"The FlowCron agent of instance '{cfg.name}' ({cfg.base_dir}) on {beat.host} "
            f"has failed {beat.failures_in_a_row} ticks in a row. Last: exit code "
            f"{beat.exit_code}, {beat.message or 'no message'}.\n"
            f"See `hpc-agent status {cfg.name}`, `hpc-agent doctor {cfg.name}` and "
            f"`hpc-agent logs {cfg.name} --since 1d`.\n"
        )
        tell_the_pi(agent, subject, body)
        beat.notified = True
        health.write_heartbeat(agent.cfg.base_dir, beat)


class Reconciler:
    """One tick's work, step by step (see the module docstring)."""

    def __init__(self, agent: Agent, executor: Executor, lock: InstanceLock) -> None:
        self.agent = agent
        self.cfg = agent.cfg
        self.store = agent.store
        self.log = agent.log
        self.now = agent.now
        self.executor = executor
        self.lock = lock
        self.running_dir = self.cfg.path(protocol.RUNNING)
        self.result = TickResult()
        self.records: dict[str, JobRecord] = {}
        self.claimed: set[Path] = set()
        """Folders found to belong to a running UoW (by their marker): never new uploads."""

    def run(self) -> TickResult:
        """All steps; a scheduler outage stops the tick where it happens."""
        problems = layout_problems(self.cfg)
        if problems:
            # Before anything moves: through a symlinked instance directory every
            # rename, chmod and delete would happen outside the instance.
            self.result.exit_code = EXIT_FAILED
            self.result.message = log_refusal(self.cfg, self.log, problems, "the tick")
            return self.result
        self.running_dir.mkdir(parents=True, exist_ok=True)
        try:
            # Before anything moves: an outage found later (at sbatch) would leave a
            # new upload renamed into CodeToRun/slurm with no job behind it.
            self.executor.ping()
            self.result.scheduler_queries += 1
            self.lock.renew()  # the ping may have hung: still ours before load() changes things
            self.load()
            self.query_outcomes()
            self.lock.renew()
            self.admit_uploads()
            self.lock.renew()
            self.submit_all()
        except SchedulerUnavailable as exc:
            return self._stop(
                exc,
                "scheduler-unavailable",
                f"the scheduler cannot be reached ({exc}); the tick stopped without moving "
                "anything further, the next tick carries on",
                EXIT_SCHEDULER_DOWN,
                f"scheduler unavailable: {exc}",
            )
        except ExecutorError as exc:
            # An answer the agent cannot use (unexpected output, an odd error):
            # stop the same way; a UoW caught mid-submission is looked up by
            # name next time, so nothing is lost or submitted twice.
            return self._stop(
                exc,
                "scheduler-error",
                f"the scheduler gave an answer the agent cannot use ({exc}); the tick "
                "stopped without moving anything further, the next tick tries again",
                EXIT_FAILED,
                f"scheduler error: {exc}",
            )
        self.lock.renew()
        self.finalize_all()
        self.lock.renew()
        self.result.retention = apply_retention(self.agent)
        self.agent.ledger.save()
        if self.result.errors:
            self.result.exit_code = EXIT_FAILED
            self.result.message = (
                f"{self.result.errors} Unit(s) of Work had an error (see the log); "
                "the others went on"
            )
        return self.result

    def _stop(
        self, exc: Exception, event: str, message: str, exit_code: int, summary: str
    ) -> TickResult:
        """End the tick early on a scheduler problem: log it, keep the ledger, say why."""
        self.log.write(event, message, level="error", error=str(exc))
        self.agent.ledger.save()
        self.result.exit_code = exit_code
        self.result.message = summary
        return self.result

    # -- one UoW's trouble stays its own ------------------------------------

    def guarded(
        self, uow: str, step: str, action: Callable[[], None], *, refuse: Path | None = None
    ) -> None:
        """Run one UoW's step; an unexpected error is logged and the tick goes on.

        Scheduler trouble still stops the whole tick (every UoW would meet it).
        Anything else, whatever the name, bytes or permissions involved, is
        this UoW's alone: it is logged with the UoW's name, counted in the
        tick's exit code, and the step is tried again next tick. With
        ``refuse``, an upload whose admission failed is refused with a report
        at once instead (see :meth:`refuse_unadmittable`).
        """
        try:
            action()
        except STOPS_THE_TICK:
            raise
        except Exception as exc:
            self.result.errors += 1
            self.log.write(
                "uow-error",
                f"{step} of {printable(uow)} failed ({type(exc).__name__}: {exc}); the other "
                "Units of Work went on"
                + ("" if refuse is not None else ", and the next tick tries this one again"),
                level="error",
                uow=uow,
                step=step,
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(limit=8),
            )
            if refuse is not None:
                self.refuse_unadmittable(refuse, exc)

    def refuse_unadmittable(self, path: Path, exc: Exception) -> None:
        """Refuse an upload whose admission raised: a report now, not a 7-day silence."""
        problem = (
            f"FlowCron could not check this Unit of Work ({type(exc).__name__}: {exc}). "
            "This is a problem on the HPC side, not in your files as far as FlowCron can "
            "tell: start the flow again, and if it happens again, send this report to the "
            "instance's administrator."
        )
        earlier = None
        with contextlib.suppress(Exception):  # best effort: this path is for the unexpected
            earlier = find_earlier_outputs(path)
        verdict = Admission(ok=False, problems=(problem,), earlier=earlier)
        try:
            self.admit_one(path, verdict=verdict)
        except STOPS_THE_TICK:
            raise
        except Exception as second:
            self.log.write(
                "uow-error",
                f"could not refuse {printable(path.name)} either ({type(second).__name__}: "
                f"{second}); it stays in {protocol.UPLOADED}/ and the next tick tries again",
                level="error",
                uow=path.name,
                step="refusal",
                error=f"{type(second).__name__}: {second}",
            )

    # -- loading -------------------------------------------------------------

    def load(self) -> None:
        """Match records with the UoWs in ``CodeToRun/slurm`` and repair mismatches."""
        self.remove_stray_temporaries()
        if self.agent.ledger.damaged is not None:
            self.result.errors += 1
            self.log.write(
                "ledger-corrupt",
                f"the ledger could not be read and was moved to {self.agent.ledger.damaged}; "
                "retention counts finished Units of Work from now",
                level="error",
            )
        records = self.store.all_records(on_corrupt=self.record_corrupt)
        present = set(_dir_names(self.running_dir))
        moved = [
            record
            for name, record in sorted(records.items())
            if name not in present
            and record.token
            and record.job_id is not None
            and not (record.phase == FINALIZING and record.destination is not None)
        ]
        found: set[str] = set()
        if moved:
            found = self.put_back_moved(moved, present - set(records))
            present = set(_dir_names(self.running_dir))
        for name, record in sorted(records.items()):
            if name in present:
                continue
            if name in found:
                # Its folder was found elsewhere but could not be put back (logged):
                # keep the record, so the folder is never taken for a new upload.
                continue
            if record.phase == FINALIZING and record.destination is not None:
                # A crash after the final rename: only the bookkeeping is left.
                self.guarded(name, "finalize", partial(self.finish, record))
            elif record.job_id is None:
                # A crash between writing the record and the admission rename:
                # the upload is still where it was and is admitted again.
                self.store.delete(name)
            else:  # logs that the UoW went missing
                self.guarded(name, "finalize", partial(self.finish, record))
            del records[name]
        for name in sorted(present - set(records)):
            if self.running_dir / name in self.claimed:
                continue  # another UoW's folder that could not be put back (logged)
            # A UoW here without a record (record lost, or put here by hand).
            # Treat it as possibly submitted: look it up by name before sbatch.
            record = JobRecord(
                uow=name,
                phase=SUBMITTING,
                source=name,
                admitted_at=self.now,
                job_name=job_name(self.cfg.name, name),
            )
            self.store.save(record)
            self.log.write(
                "record-rebuilt",
                f"{name} was in {protocol.RUNNING}/ without a job record; rebuilt it",
                level="warning",
                uow=name,
            )
            records[name] = record
        self.records = records

    def put_back_moved(self, missing: list[JobRecord], unrecorded: set[str]) -> set[str]:
        """Find submitted UoWs whose folder someone moved, by their marker, and put them back.

        A folder renamed inside ``CodeToRun/slurm/`` (``unrecorded`` names) or
        moved back into ``UploadedFiles/`` would otherwise be forgotten and
        taken for a new upload: a second job for the same UoW. Its marker
        (:mod:`hpc_agent.uow.marker`) says which record it belongs to.
        Returns the UoWs whose folder was found, put back or not.
        """
        wanted = {record.token: record for record in missing if record.token}
        uploaded = self.cfg.path(protocol.UPLOADED)
        candidates = [(self.running_dir / name, protocol.RUNNING) for name in sorted(unrecorded)]
        candidates += [
            (uploaded / name, protocol.UPLOADED) for name in sorted(_dir_names(uploaded))
        ]
        found: set[str] = set()
        for path, where in candidates:
            if not wanted:
                break
            token = read_token(path, self.cfg.name)
            record = wanted.pop(token, None) if token is not None else None
            if record is not None:
                found.add(record.uow)
                self.claimed.add(path)
                self.guarded(record.uow, "put back", partial(self.put_back, record, path, where))
        return found

    def put_back(self, record: JobRecord, path: Path, where: str) -> None:
        """Rename a moved UoW folder back to where its record says it is."""
        path.rename(self.running_dir / record.uow)
        if where == protocol.RUNNING:
            what = f"renamed to '{printable(path.name)}' inside {protocol.RUNNING}/"
        else:
            what = f"moved back to {protocol.UPLOADED}/ as '{printable(path.name)}'"
        record.moved = f"this folder was {what} while its job ran"
        record.notes.append(
            f"While its job ran, this folder was {what}. FlowCron put it back and did not "
            "run it a second time; the job is reported as failed because files it wrote "
            "through the folder's path may be missing. Start the flow again to run it anew."
        )
        self.store.save(record)
        self.log.write(
            "uow-put-back",
            f"{printable(record.uow)} was {what} while job {record.job_id} ran; put it back "
            f"(it is not submitted again)",
            level="warning",
            uow=record.uow,
            job_id=record.job_id,
            found=str(path),
        )

    def record_corrupt(self, aside: Path) -> None:
        """Log a job record that could not be read (moved aside; rebuilt from disk below)."""
        self.result.errors += 1
        self.log.write(
            "record-corrupt",
            f"a job record could not be read and was moved to {aside}; the agent rebuilds "
            "it from the UoW folder and the scheduler (a job already submitted is found "
            "by its name, never submitted again)",
            level="error",
            path=str(aside),
        )

    def remove_stray_temporaries(self) -> None:
        """Delete temporary files of state writes cut short by a crash.

        Only the lock holder writes under ``.state/``, and we hold the lock, so
        any temporary file there belongs to a writer that is gone.
        """
        for directory in (self.store.jobs_dir, self.store.scripts_dir, self.store.root):
            try:
                with os.scandir(directory) as entries:
                    stray = [e.path for e in entries if _is_temporary(e.name) and e.is_file()]
            except FileNotFoundError:
                continue
            for path in stray:
                with contextlib.suppress(FileNotFoundError):
                    Path(path).unlink()

    # -- step 1: outcomes ----------------------------------------------------

    def query_outcomes(self) -> None:
        """One batched query for every recorded job; record the outcome of finished ones."""
        waiting = [r for r in self.records.values() if r.phase == SUBMITTED and r.job_id]
        if not waiting:
            return
        infos = self.executor.query([r.job_id for r in waiting if r.job_id])
        self.result.scheduler_queries += 1
        for record in waiting:
            assert record.job_id is not None
            self.guarded(
                record.uow, "outcome", partial(self.apply_info, record, infos.get(record.job_id))
            )

    def apply_info(self, record: JobRecord, info: JobInfo | None) -> None:
        """Advance one submitted record with what the scheduler said (None: unknown).

        Only the scheduler's records of *this* submission count (its job name,
        submitted no earlier than the intent; :func:`~hpc_agent.executors.base.claim`):
        after a controller lost its state, the same id may belong to another
        job. Such a later job proves this one was lost: the UoW is submitted
        again (once) or failed saying so, never finished with the other job's
        outcome. An array or heterogeneous job has ended when all its tasks have.
        """
        seen = claim_for(record, info)
        job = seen.job
        if job is not None and seen.confirmed:
            job = self.remember_tasks(record, job)
        grace_over = (
            record.unknown_since is not None
            and self.now - record.unknown_since >= self.cfg.unknown_job_grace_seconds
        )
        # A record that ended but has no name yet, submitted when ours was, is
        # probably ours: slurmdbd may never get the name of a job its controller
        # lost after the job ended. It is waited for, then taken, never overridden.
        ended_unnamed = job is not None and job.finished and not seen.confirmed
        if (
            job is not None
            and job.finished
            and (seen.confirmed or (grace_over and seen.unnamed_in_window))
        ):
            self.job_ended(record, job)
        elif seen.reused_by is not None and not (ended_unnamed and seen.unnamed_in_window):
            self.job_lost(record, seen.reused_by)
        elif job is not None and not job.finished:
            changed = record.unknown_since is not None
            record.unknown_since = None
            if seen.confirmed and record.slurm_submit_epoch is None and job.submit_epoch:
                record.slurm_submit_epoch = job.submit_epoch
                changed = True
            if changed:
                self.store.save(record)
        else:
            # Unknown, or ended in a record that names no job yet (slurmdbd has
            # not had the full record): wait, but not for ever.
            self.job_unknown(record, job)

    def remember_tasks(self, record: JobRecord, job: JobInfo) -> JobInfo:
        """Fill in array tasks the scheduler forgot from earlier ticks; keep what is new."""
        merged, memory = merge_seen_tasks(job, record.tasks_seen)
        if memory != record.tasks_seen:
            record.tasks_seen = memory
            self.store.save(record)
        return merged

    def job_ended(self, record: JobRecord, info: JobInfo) -> None:
        """Record the outcome of a job that ended (every task of it)."""
        if info.succeeded:
            decide(record, outcome=SUCCEEDED, reason=None, job=info.to_dict())
        else:
            decide(record, outcome=FAILED, reason=failure_reason(info), job=info.to_dict())
        # The line before the record: a kill in between repeats both next tick.
        self.log.write(
            "job-ended",
            f"job {info.job_id} of {record.uow} ended: {info.state} {info.exit_code or ''}".rstrip()
            + (f" ({task_summary(info)})" if info.tasks else ""),
            uow=record.uow,
            job_id=info.job_id,
            state=info.state,
            exit_code=info.exit_code,
        )
        self.store.save(record)
        crash_point("after-outcome-record")

    def job_unknown(self, record: JobRecord, job: JobInfo | None) -> None:
        """The scheduler shows no record of this submission: fail it after the grace period."""
        if record.unknown_since is None:
            record.unknown_since = self.now
            self.store.save(record)
            self.log.write(
                "job-unknown",
                f"the scheduler does not know job {record.job_id} of {record.uow}"
                + (" by its name yet" if job is not None else "")
                + f"; it is failed if still unknown in {self.cfg.unknown_job_grace_seconds} s",
                level="warning",
                uow=record.uow,
                job_id=record.job_id,
            )
            return
        if self.now - record.unknown_since < self.cfg.unknown_job_grace_seconds:
            return
        remembered = remembered_job(record.job_id or "", record.tasks_seen)
        facts = remembered.to_dict() if remembered is not None else None
        decide(record, outcome=FAILED, reason=VANISHED_REASON, job=facts)
        self.log.write(
            "job-vanished",
            f"job {record.job_id} of {record.uow} vanished from Slurm",
            level="error",
            uow=record.uow,
            job_id=record.job_id,
        )
        self.store.save(record)
        crash_point("after-outcome-record")

    def job_lost(self, record: JobRecord, evidence: JobInfo) -> None:
        """Slurm gave this job's id to a later job, so it lost this one: resubmit once, or fail.

        The resubmission goes through :meth:`submit_one` later in this tick,
        which records its intent before sbatch, so a crash never submits twice.
        """
        other = f"job {evidence.job_id}"
        if evidence.name:
            other += f" named {evidence.name!r}"
        if evidence.submit_time:
            other += f", submitted {evidence.submit_time}"
        why = (
            f"Slurm lost job {record.job_id}: it gave that id to another job ({other}), "
            "which only happens when its controller restarted without the job in its saved state"
        )
        record.lost_jobs.append(
            {
                "job_id": record.job_id,
                "submitted_at": record.submitted_at,
                "detected_at": self.now,
                "reason": why,
            }
        )
        lost_id = record.job_id
        if record.resubmissions >= MAX_RESUBMISSIONS:
            earlier = ", ".join(str(j.get("job_id")) for j in record.lost_jobs)
            decide(
                record,
                outcome=FAILED,
                reason=f"{why}. It had already been submitted again after Slurm lost it "
                f"before, so FlowCron stopped there (lost jobs: {earlier})",
            )
            self.store.save(record)
            crash_point("after-outcome-record")
            self.log.write(
                "job-lost",
                why + "; the UoW is failed",
                level="error",
                uow=record.uow,
                job_id=lost_id,
            )
            return
        record.resubmissions += 1
        record.phase = ADMITTED
        record.job_id = None
        record.finalize_job_id = None
        record.submit_intent_at = None
        record.submitted_at = None
        record.sbatch_returned_at = None
        record.slurm_submit_epoch = None
        record.unknown_since = None
        record.tasks_seen = {}
        self.store.save(record)
        crash_point("after-lost-record")
        self.log.write(
            "job-lost",
            why + "; the UoW is submitted again (once)",
            level="warning",
            uow=record.uow,
            job_id=lost_id,
        )

    # -- step 2: admission ---------------------------------------------------

    def admit_uploads(self) -> None:
        """Admit every ready upload and move it into ``CodeToRun/slurm/``."""
        uploaded = self.cfg.path(protocol.UPLOADED)
        timeout = self.cfg.upload_timeout_days * 86400
        for name in sorted(_dir_names(uploaded)):
            path = uploaded / name
            if path in self.claimed:
                continue  # a running UoW moved here, not put back yet: never run it twice
            if upload_state(path) == "uploading":
                # Cheap test first: admission walks the whole tree, which is
                # only worth it once the upload may have timed out.
                try:
                    age = self.now - os.lstat(path).st_mtime
                except FileNotFoundError:
                    continue
                if not timeout or age <= timeout:
                    continue
            self.lock.renew()  # admitting many large uploads can take long
            self.guarded(name, "admission", partial(self.admit_one, path), refuse=path)

    def admit_one(self, path: Path, *, verdict: Admission | None = None) -> None:
        """Admit (or reject) one upload, record it, then rename it into place.

        ``verdict`` skips admission (a refusal decided by the caller).
        """
        if verdict is None:
            verdict = admit(path, self.cfg, now=self.now)
        if verdict.pending:
            return
        final = timestamped(path.name, self.now) if self.cfg.timestamp else path.name
        target = self.running_dir / final
        if os.path.lexists(target) or final in self.records:
            self.log.write(
                "name-in-use",
                f"{path.name} waits in {protocol.UPLOADED}/: a UoW named {final} is still "
                f"in {protocol.RUNNING}/; it is admitted once that one is finished",
                level="warning",
                uow=path.name,
            )
            return
        token = new_token()
        record = JobRecord(
            uow=final,
            source=path.name,
            admitted_at=self.now,
            problems=list(verdict.problems),
            notes=list(verdict.notes),
            script_sha256=verdict.script_sha256,
            job_name=job_name(self.cfg.name, final),
        )
        # Best effort: a UoW the agent cannot write into is still admitted (or
        # refused) as before, only without the move detection the marker gives.
        with contextlib.suppress(OSError):
            write_marker(path, instance=self.cfg.name, uow=final, token=token)
            record.token = token
        try:
            if verdict.earlier is not None:
                # Before the record: a crash after this move is repaired by
                # admitting again, which then finds nothing left to archive.
                archive = archive_earlier_outputs(path, verdict.earlier)
                record.notes.insert(0, verdict.earlier.note(archive))
                crash_point("after-archive-earlier")
            if verdict.ok and verdict.script_text is not None:
                self.write_script(final, verdict.script_text)
            else:
                decide(record, outcome=FAILED, reason="the Unit of Work was not accepted")
            self.store.save(record)
            self.log_admission(path, final, verdict)
            crash_point("after-admit-record")
            path.rename(target)
        except OSError as exc:
            self.store.delete(final)
            note_stuck(
                self.agent,
                f"{protocol.UPLOADED}/{path.name}",
                path.name,
                str(exc.filename or path),
                f"moving it into {protocol.RUNNING}/: {exc.strerror or exc}",
                "admitted",
            )
            self.log.write(
                "admit-move-failed",
                f"could not move {path.name} into {protocol.RUNNING}/: {exc}; so it was not "
                f"admitted after all: it stays in {protocol.UPLOADED}/ and the next tick "
                "tries again",
                level="error",
                uow=path.name,
                error=str(exc),
            )
            return
        crash_point("after-admit-rename")
        clear_stuck(self.agent, f"{protocol.UPLOADED}/{path.name}")
        self.records[final] = record
        (self.result.admitted if verdict.ok else self.result.rejected).append(final)

    def log_admission(self, path: Path, final: str, verdict: Admission) -> None:
        """The ``admitted``/``rejected`` line, written before the rename it announces.

        A kill after the rename would otherwise lose the line for good; a kill
        before it makes the next tick admit again and write it again: the log
        has every step at least once.
        """
        if verdict.ok:
            self.log.write(
                "admitted",
                f"{path.name} admitted as {protocol.RUNNING}/{final}"
                + (f" ({len(verdict.notes)} note(s))" if verdict.notes else ""),
                uow=final,
                notes=list(verdict.notes),
                script_sha256=verdict.script_sha256,
            )
        else:
            self.log.write(
                "rejected",
                f"{path.name} rejected: " + " ".join(verdict.problems),
                level="warning",
                uow=final,
                problems=list(verdict.problems),
            )

    def write_script(self, uow: str, text: str) -> None:
        """Write the prepared copy of the job script (never the user's file).

        Temporary file then rename: a tick killed mid-write leaves no partial
        script for the next tick to submit.
        """
        write_text_atomic(
            self.store.script_path(uow), text, mode=0o700, crash_name="mid-script-write"
        )

    # -- step 3: submission --------------------------------------------------

    def submit_all(self) -> None:
        """Submit every admitted UoW that has no job yet (at most one name look-up)."""
        todo = [
            r
            for _, r in sorted(self.records.items())
            if r.phase in (ADMITTED, SUBMITTING) and r.outcome is None
        ]
        if not todo:
            return
        found = self.find_interrupted([r for r in todo if r.phase == SUBMITTING])
        for record in todo:
            self.lock.renew()
            if record.job_name in found:
                record.job_id = found[record.job_name]
                record.phase = SUBMITTED
                record.submitted_at = record.submit_intent_at or self.now
                self.store.save(record)
                self.log.write(
                    "submit-recovered",
                    f"{record.uow} was already submitted as job {record.job_id} "
                    "(found by its job name after an interrupted tick)",
                    level="warning",
                    uow=record.uow,
                    job_id=record.job_id,
                )
                continue
            self.guarded(record.uow, "submission", partial(self.submit_one, record))

    def find_interrupted(self, unsure: list[JobRecord]) -> dict[str, str]:
        """Jobs that interrupted submissions may have created, by job name.

        Only jobs submitted after the intent was recorded count (less
        :data:`RECOVERY_CLOCK_SLACK`): an older job of the same name is a
        previous run of a retried or re-uploaded UoW, not this one. A record
        rebuilt without an intent time is matched by name alone. At most two
        look-ups, whatever the number of UoWs.
        """
        timed = [r for r in unsure if r.job_name and r.submit_intent_at is not None]
        untimed = [r.job_name for r in unsure if r.job_name and r.submit_intent_at is None]
        found: dict[str, str] = {}
        if timed:
            since = min(r.submit_intent_at or 0.0 for r in timed) - RECOVERY_CLOCK_SLACK
            names = [r.job_name for r in timed if r.job_name]
            found.update(self.executor.find_by_name(names, submitted_after=since))
            self.result.scheduler_queries += 1
        if untimed:
            found.update(self.executor.find_by_name(untimed))
            self.result.scheduler_queries += 1
        return found

    def submit_one(self, record: JobRecord) -> None:
        """sbatch one UoW: intent first, job id recorded before anything else."""
        uow_dir = self.running_dir / record.uow
        script = self.store.script_path(record.uow)
        if not script.exists() and not self.readmit(record, uow_dir):
            return
        record.phase = SUBMITTING
        record.submit_intent_at = self.now
        self.store.save(record)
        crash_point("after-submit-intent")
        spec = JobSpec(
            name=record.job_name or job_name(self.cfg.name, record.uow),
            script=script,
            workdir=uow_dir,
            stdout=protocol.SLURM_STDOUT,
            stderr=protocol.SLURM_STDERR,
            account=self.cfg.account,
            qos=self.cfg.qos,
            args=(str(uow_dir),),
        )
        try:
            job_id = self.executor.submit(spec)
        except SubmitRejected as exc:
            decide(record, outcome=FAILED, reason=f"sbatch refused the job: {exc}")
            self.store.save(record)
            self.log.write(
                "submit-rejected",
                f"the scheduler refused {record.uow}: {exc}",
                level="error",
                uow=record.uow,
                error=str(exc),
            )
            return
        crash_point("after-submit-before-record")
        # Logged before the job id is recorded: a kill in between is repaired by
        # the look-up by name ("submit-recovered"), and the line is not lost.
        self.log.write(
            "submitted", f"{record.uow} submitted as job {job_id}", uow=record.uow, job_id=job_id
        )
        record.job_id = job_id
        record.phase = SUBMITTED
        record.submitted_at = self.now
        record.sbatch_returned_at = time.time()
        self.store.save(record)
        crash_point("after-record")
        self.result.submitted[record.uow] = job_id
        if self.cfg.finalize_by_dependency:
            self.submit_finalize_job(record, job_id)

    def readmit(self, record: JobRecord, uow_dir: Path) -> bool:
        """Prepare the script again for a UoW whose copy is missing (after a crash)."""
        verdict = admit(uow_dir, self.cfg, now=self.now)
        if not verdict.ok or verdict.script_text is None:
            record.problems = list(verdict.problems) or ["the Unit of Work has no job script"]
            decide(record, outcome=FAILED, reason="the Unit of Work was not accepted")
            self.store.save(record)
            return False
        record.notes = list(verdict.notes)
        record.script_sha256 = verdict.script_sha256
        self.write_script(record.uow, verdict.script_text)
        return True

    def submit_finalize_job(self, record: JobRecord, job_id: str) -> None:
        """Queue the tiny job that finalizes this UoW right after its job ends."""
        script = self.store.finalize_script_path(record.uow)
        package_root = hpc_agent.package_parent()
        text = (
            "#!/bin/bash\n"
            "# FlowCron: hand the Unit of Work back as soon as its job has ended.\n"
            f"export PYTHONPATH={shlex.quote(package_root)}${{PYTHONPATH:+:$PYTHONPATH}}\n"
            f'exec {shlex.quote(sys.executable)} -m hpc_agent finalize "$1" "$2"\n'
        )
        write_text_atomic(script, text, mode=0o700, crash_name="mid-finalize-script-write")
        spec = JobSpec(
            name=f"{record.job_name}-finalize",
            script=script,
            workdir=self.store.root,
            stdout=os.devnull,
            stderr=os.devnull,
            account=self.cfg.account,
            qos=self.cfg.qos,
            args=(str(self.cfg.base_dir), record.uow),
            dependency=f"afterany:{job_id}",
            extra=FINALIZE_JOB_RESOURCES,
        )
        try:
            record.finalize_job_id = self.executor.submit(spec)
        except (SubmitRejected, SchedulerUnavailable) as exc:
            self.log.write(
                "finalize-job-failed",
                f"could not queue the finalize job of {record.uow} ({exc}); the tick "
                "finalizes it instead",
                level="warning",
                uow=record.uow,
                job_id=job_id,
            )
            return
        self.store.save(record)
        self.log.write(
            "finalize-job-submitted",
            f"finalize job {record.finalize_job_id} queued after job {job_id}",
            uow=record.uow,
            job_id=job_id,
            finalize_job_id=record.finalize_job_id,
        )

    # -- step 4: finalize ----------------------------------------------------

    def finalize_all(self) -> None:
        """Finalize every UoW whose outcome is decided."""
        for name, record in sorted(self.records.items()):
            if record.phase == FINALIZING:
                self.lock.renew()
                if record.moved and record.outcome == SUCCEEDED and record.destination is None:
                    # Its folder was moved while it ran: the results cannot be trusted.
                    record.outcome = FAILED
                    record.reason = f"the job ended, but {record.moved}"
                    self.store.save(record)
                self.guarded(name, "finalize", partial(self.finish, record))
                del self.records[name]

    def finish(self, record: JobRecord) -> None:
        destination = finalize(self.agent, record)
        if destination is not None:
            self.result.finished[record.uow] = destination


def _is_temporary(name: str) -> bool:
    """Whether ``name`` is one of :mod:`hpc_agent.fs.atomicio`'s temporary files."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def task_summary(info: JobInfo) -> str:
    """``4 array tasks: 3 COMPLETED, 1 FAILED`` for an array or heterogeneous job."""
    counts: dict[str, int] = {}
    for task in info.tasks:
        counts[task.state] = counts.get(task.state, 0) + task.count
    kind = "components" if any("+" in t.job_id for t in info.tasks) else "array tasks"
    parts = ", ".join(f"{number} {state}" for state, number in sorted(counts.items()))
    return f"{sum(counts.values())} {kind}: {parts}"


def claim_for(record: JobRecord, info: JobInfo | None) -> Claim:
    """The scheduler's records under ``record``'s job id that are really its job's.

    Its job name, submitted no earlier than the intent (less the clock slack);
    a record of another name submitted after sbatch returned proves the id was
    given out again. The one rule for the tick, cancel and finalize.
    """
    since = record.submit_intent_at - RECOVERY_CLOCK_SLACK if record.submit_intent_at else None
    until = record.slurm_submit_epoch
    if until is None and record.sbatch_returned_at is not None:
        until = record.sbatch_returned_at + RECOVERY_CLOCK_SLACK
    return claim(info, name=record.job_name, since=since, until=until)


def failure_reason(info: JobInfo) -> str:
    """Why a job that ended did not succeed, in words (every task that did not, for arrays)."""
    reason = f"Slurm state {info.state}, exit code {info.exit_code or 'unknown'}"
    if info.reason and info.reason != "None":
        reason += f" ({info.reason})"
    bad = [t for t in info.tasks if not t.succeeded]
    if bad:
        shown = ", ".join(f"{t.job_id} {t.state} {t.exit_code or '?'}" for t in bad[:10])
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        reason += f"; {task_summary(info)}; not succeeded: {shown}{more}"
    return reason


def _dir_names(directory: Path) -> Iterable[str]:
    """Names of the sub-directories of ``directory`` (one scandir; no symlinks)."""
    try:
        with os.scandir(directory) as entries:
            return [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
