"""The tick: one level-triggered pass of the reconcile loop over an instance.

Every tick looks at every Unit of Work where it lies and advances it as far as
it can, remembering nothing between ticks except the durable job records of
:mod:`hpc_agent.state`:

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
4. finalize: see :mod:`hpc_agent.finalize`;
5. retention: see :mod:`hpc_agent.retention`.

Before step 1 the tick pings the scheduler (one cheap call, every tick): when
it cannot be reached the tick logs it and exits with
:data:`~hpc_agent.exitcodes.EXIT_SCHEDULER_DOWN` without moving anything.

The scheduler is called a constant number of times per tick (the ping, one
query, at most two name look-ups after an interrupted tick, plus one sbatch
per new UoW), whatever the number of UoWs. A second tick that finds the instance busy exits at once
(exit code 0).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shlex
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

from hpc_agent import protocol
from hpc_agent.admission import admit, upload_state
from hpc_agent.config import InstanceConfig
from hpc_agent.executor import (
    Executor,
    ExecutorError,
    JobInfo,
    JobSpec,
    SchedulerUnavailable,
    SubmitRejected,
)
from hpc_agent.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_SCHEDULER_DOWN
from hpc_agent.faults import crash_point
from hpc_agent.finalize import Agent, decide, finalize
from hpc_agent.lock import InstanceLock
from hpc_agent.rerun import archive_earlier_outputs
from hpc_agent.retention import RetentionResult, apply_retention
from hpc_agent.state import (
    ADMITTED,
    FAILED,
    FINALIZING,
    SUBMITTED,
    SUBMITTING,
    SUCCEEDED,
    JobRecord,
)

VANISHED_REASON: Final = "job vanished from Slurm"
RECOVERY_CLOCK_SLACK: Final = 5.0
"""Seconds of leeway when an interrupted submission is looked up by name.

Slurm prints submit times to the second, and its clock may differ a little
from this host's; a job of the same name submitted longer ago than this
before the intent was recorded belongs to an earlier run of the UoW (retried
or uploaded again under the same name, which takes at least two ticks)."""
FINALIZE_JOB_RESOURCES: Final = ("--ntasks=1", "--cpus-per-task=1", "--mem=100M", "--time=00:05:00")
"""The finalize-by-dependency job is tiny, so it fits on any node at once."""

_UNSAFE_JOB_NAME = re.compile(r"[^A-Za-z0-9_.-]")


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
    agent = Agent.open(cfg, now=now)
    lock = InstanceLock(cfg.base_dir, cfg.lease_timeout_seconds)
    if not lock.acquire(now=agent.now):
        holder = lock.holder.describe(agent.now) if lock.holder else "another agent"
        agent.log.write(
            "tick-skipped", f"another agent is working on this instance ({holder}); nothing to do"
        )
        return TickResult(ran=False, message=f"busy: {holder}")
    try:
        if lock.took_over is not None and lock.took_over.host != lock.host:
            agent.log.write(
                "lease-taken-over",
                f"took over a stale lease ({lock.took_over.describe(agent.now)})",
                level="warning",
            )
        if executor is None:
            from hpc_agent.executors import make_executor

            executor = make_executor(
                cfg.executor,
                agent.store.root / "executor",
                timeout_seconds=cfg.slurm_timeout_seconds,
            )
        result = Reconciler(agent, executor, lock).run()
    finally:
        lock.release()
    result.seconds = time.monotonic() - started
    return result


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

    def run(self) -> TickResult:
        """All steps; a scheduler outage stops the tick where it happens."""
        self.running_dir.mkdir(parents=True, exist_ok=True)
        try:
            # Before anything moves: an outage found later (at sbatch) would leave a
            # new upload renamed into CodeToRun/slurm with no job behind it.
            self.executor.ping()
            self.result.scheduler_queries += 1
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
        self.result.retention = apply_retention(self.agent)
        self.agent.ledger.save()
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

    # -- loading -------------------------------------------------------------

    def load(self) -> None:
        """Match records with the UoWs in ``CodeToRun/slurm`` and repair mismatches."""
        records = self.store.all_records()
        present = set(_dir_names(self.running_dir))
        for name, record in sorted(records.items()):
            if name in present:
                continue
            if record.phase == FINALIZING and record.destination is not None:
                # A crash after the final rename: only the bookkeeping is left.
                self.finish(record)
            elif record.job_id is None:
                # A crash between writing the record and the admission rename:
                # the upload is still where it was and is admitted again.
                self.store.delete(name)
            else:
                self.finish(record)  # logs that the UoW went missing
            del records[name]
        for name in sorted(present - set(records)):
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
            self.apply_info(record, infos.get(record.job_id))

    def apply_info(self, record: JobRecord, info: JobInfo | None) -> None:
        """Advance one submitted record with what the scheduler said (None: unknown)."""
        if info is None:
            if record.unknown_since is None:
                record.unknown_since = self.now
                self.store.save(record)
                self.log.write(
                    "job-unknown",
                    f"the scheduler does not know job {record.job_id} of {record.uow}; it is "
                    f"failed if still unknown in {self.cfg.unknown_job_grace_seconds} s",
                    level="warning",
                    uow=record.uow,
                    job_id=record.job_id,
                )
            elif self.now - record.unknown_since >= self.cfg.unknown_job_grace_seconds:
                decide(record, outcome=FAILED, reason=VANISHED_REASON)
                self.store.save(record)
                crash_point("after-outcome-record")
                self.log.write(
                    "job-vanished",
                    f"job {record.job_id} of {record.uow} vanished from Slurm",
                    level="error",
                    uow=record.uow,
                    job_id=record.job_id,
                )
            return
        if not info.finished:
            if record.unknown_since is not None:
                record.unknown_since = None
                self.store.save(record)
            return
        job = dataclasses.asdict(info)
        if info.succeeded:
            decide(record, outcome=SUCCEEDED, reason=None, job=job)
        else:
            reason = f"Slurm state {info.state}, exit code {info.exit_code or 'unknown'}"
            if info.reason and info.reason != "None":
                reason += f" ({info.reason})"
            decide(record, outcome=FAILED, reason=reason, job=job)
        self.store.save(record)
        crash_point("after-outcome-record")
        self.log.write(
            "job-ended",
            f"job {info.job_id} of {record.uow} ended: {info.state} {info.exit_code or ''}".rstrip(),
            uow=record.uow,
            job_id=info.job_id,
            state=info.state,
            exit_code=info.exit_code,
        )

    # -- step 2: admission ---------------------------------------------------

    def admit_uploads(self) -> None:
        """Admit every ready upload and move it into ``CodeToRun/slurm/``."""
        uploaded = self.cfg.path(protocol.UPLOADED)
        timeout = self.cfg.upload_timeout_days * 86400
        for name in sorted(_dir_names(uploaded)):
            path = uploaded / name
            if upload_state(path) == "uploading":
                # Cheap test first: admission walks the whole tree, which is
                # only worth it once the upload may have timed out.
                try:
                    age = self.now - os.lstat(path).st_mtime
                except FileNotFoundError:
                    continue
                if not timeout or age <= timeout:
                    continue
            self.admit_one(path)

    def admit_one(self, path: Path) -> None:
        """Admit (or reject) one upload, record it, then rename it into place."""
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
        record = JobRecord(
            uow=final,
            source=path.name,
            admitted_at=self.now,
            problems=list(verdict.problems),
            notes=list(verdict.notes),
            script_sha256=verdict.script_sha256,
            job_name=job_name(self.cfg.name, final),
        )
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
            crash_point("after-admit-record")
            path.rename(target)
        except OSError as exc:
            self.store.delete(final)
            self.log.write(
                "admit-move-failed",
                f"could not move {path.name} into {protocol.RUNNING}/: {exc}; it stays in "
                f"{protocol.UPLOADED}/ and the next tick tries again",
                level="error",
                uow=path.name,
                error=str(exc),
            )
            return
        crash_point("after-admit-rename")
        self.records[final] = record
        if verdict.ok:
            self.result.admitted.append(final)
            self.log.write(
                "admitted",
                f"{path.name} admitted as {protocol.RUNNING}/{final}"
                + (f" ({len(verdict.notes)} note(s))" if verdict.notes else ""),
                uow=final,
                notes=list(verdict.notes),
                script_sha256=verdict.script_sha256,
            )
        else:
            self.result.rejected.append(final)
            self.log.write(
                "rejected",
                f"{path.name} rejected: " + " ".join(verdict.problems),
                level="warning",
                uow=final,
                problems=list(verdict.problems),
            )

    def write_script(self, uow: str, text: str) -> None:
        """Write the prepared copy of the job script (never the user's file)."""
        path = self.store.script_path(uow)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)

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
            self.submit_one(record)

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
        record.job_id = job_id
        record.phase = SUBMITTED
        record.submitted_at = self.now
        self.store.save(record)
        crash_point("after-record")
        self.result.submitted[record.uow] = job_id
        self.log.write(
            "submitted", f"{record.uow} submitted as job {job_id}", uow=record.uow, job_id=job_id
        )
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
        script = self.store.scripts_dir / f"{record.uow}.finalize.sh"
        package_root = str(Path(__file__).resolve().parent.parent)
        text = (
            "#!/bin/bash\n"
            "# FlowCron: hand the Unit of Work back as soon as its job has ended.\n"
            f"export PYTHONPATH={shlex.quote(package_root)}${{PYTHONPATH:+:$PYTHONPATH}}\n"
            f'exec {shlex.quote(sys.executable)} -m hpc_agent finalize "$1" "$2"\n'
        )
        fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
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
                self.finish(record)
                del self.records[name]

    def finish(self, record: JobRecord) -> None:
        destination = finalize(self.agent, record)
        if destination is not None:
            self.result.finished[record.uow] = destination


def _dir_names(directory: Path) -> Iterable[str]:
    """Names of the sub-directories of ``directory`` (one scandir; no symlinks)."""
    try:
        with os.scandir(directory) as entries:
            return [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
