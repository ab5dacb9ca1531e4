"""Tick step 4, submit: intent recorded, then sbatch, then the job id recorded.

A UoW whose intent was recorded but whose job id was not (a crash) is first
looked up by its unique job name, so it is never submitted twice (at most two
look-ups per tick, whatever the number of UoWs). Every job carries who
started the run as its comment (``flowcron user=<name>``, :func:`job_comment`;
``sacct -o comment`` shows it where the site stores job comments). With
``finalize_by_dependency`` each submission also queues the tiny job that
finalizes the UoW as soon as its job ends (``hpc-agent finalize``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Final

from hpc_agent import protocol
from hpc_agent.executors.base import JobSpec, SchedulerUnavailable, SubmitRejected
from hpc_agent.faults import crash_point
from hpc_agent.fs.atomicio import write_bytes_atomic, write_text_atomic
from hpc_agent.invocation import agent_command
from hpc_agent.loop import fast_handback
from hpc_agent.loop.admit_phase import Admitted, readmit
from hpc_agent.loop.context import TickContext
from hpc_agent.loop.state import ADMITTED, FAILED, SUBMITTING, JobRecord
from hpc_agent.uow.record import (
    RECOVERY_CLOCK_SLACK,
    decide,
    intend_to_submit,
    job_name,
    submitted,
)


def job_comment(record: JobRecord) -> str:
    """The comment the scheduler keeps with the job (``sacct -o comment``): who started it."""
    return f"flowcron user={record.user}"


FINALIZE_JOB_RESOURCES: Final = ("--ntasks=1", "--cpus-per-task=1", "--mem=100M", "--time=00:05:00")
"""The finalize-by-dependency job is tiny, so it fits on any node at once."""


def submit_all(ctx: TickContext) -> None:
    """Submit every admitted UoW that has no job yet (at most two name look-ups).

    Submissions go in admission order (:func:`submission_order`), up to
    ``submit_workers`` sbatch calls at a time (:class:`Submitter`). The tick
    itself uses :func:`submitting` around admission, so each UoW is submitted
    as soon as it is admitted.
    """
    with submitting(ctx):
        pass


@contextmanager
def submitting(ctx: TickContext) -> Iterator[Submitter]:
    """Submit while the block admits: earlier ticks' UoWs first, then each one offered.

    On leaving, every submission under way or queued has finished (or was
    never started, after scheduler trouble), and the first error that stops
    the tick is raised; an error in the block itself stops the submissions
    not started yet and is raised as it is.
    """
    submitter = Submitter(ctx)
    try:
        todo = submission_order(ctx)
        found = find_interrupted(ctx, [r for r in todo if r.phase == SUBMITTING])
        for record in todo:
            if record.job_name in found:
                ctx.renew()
                recover(ctx, record, found[record.job_name])
            else:
                submitter.offer(record)
        yield submitter
    except BaseException:
        submitter.finish(raise_error=False)
        raise
    submitter.finish()


def submission_order(ctx: TickContext) -> list[JobRecord]:
    """The records to submit: earlier ticks' first (oldest first), then this tick's in the
    order they were admitted (the fairness order of :mod:`hpc_agent.loop.fairness`)."""
    admitted = {name: number for number, name in enumerate(ctx.result.admitted)}
    todo = [
        r for r in ctx.records.values() if r.phase in (ADMITTED, SUBMITTING) and r.outcome is None
    ]
    return sorted(
        todo, key=lambda r: (r.uow in admitted, r.admitted_at, admitted.get(r.uow, 0), r.uow)
    )


def recover(ctx: TickContext, record: JobRecord, job_id: str) -> None:
    """Record the job an interrupted submission created (found by its job name)."""
    submitted(record, job_id, at=record.submit_intent_at or ctx.now, returned_at=None)
    ctx.store.save(record)
    ctx.log.write(
        "submit-recovered",
        f"{record.uow} was already submitted as job {record.job_id} "
        "(found by its job name after an interrupted tick)",
        level="warning",
        uow=record.uow,
        job_id=record.job_id,
    )


class Submitter:
    """:func:`submit_one` for each record offered, up to ``submit_workers`` at a time.

    sbatch is a subprocess that mostly waits for the controller, so a few
    threads make a tick's submissions cost little more than the sbatch calls
    themselves. Each UoW is still submitted by one thread, intent recorded
    before its sbatch and job id right after (:func:`submit_one`), and they
    start in the order offered (the pool's queue is first in, first out).
    Scheduler trouble (or a lost lease) in one thread stops the others from
    starting new submissions (:attr:`stopped`): the ones already under way
    finish theirs (a UoW left with its intent recorded is looked up by name
    next tick), and :meth:`finish` raises the first such error, as one
    thread would have. With ``submit_workers = 1`` each offered record is
    submitted at once, in the caller's thread.
    """

    def __init__(self, ctx: TickContext) -> None:
        self.ctx = ctx
        workers = ctx.cfg.submit_workers
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sbatch")
            if workers > 1
            else None
        )
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._futures: list[Future[None]] = []
        self._records: list[JobRecord] = []
        self._admitted: list[JobRecord] = []  # admitted and submitted by the pool's threads

    @property
    def stopped(self) -> bool:
        """Whether an error stopped the submissions (the caller should offer no more)."""
        return self._stop.is_set()

    @property
    def parallel(self) -> bool:
        """Whether work offered runs in the pool's threads (``submit_workers`` > 1)."""
        return self._pool is not None

    def offer_admission(self, admit: Callable[[], Admitted | None]) -> None:
        """Run ``admit`` in a thread, then submit the record it returns in the same thread.

        Once an error has stopped the submissions, nothing more is admitted:
        the uploads not started wait in UploadedFiles/ for the next tick.
        """
        if self._pool is None:
            admitted = admit()
            if admitted is not None:
                self.offer(admitted.record, admitted)
            return
        self._futures.append(self._pool.submit(self._admit_work, admit))

    def _admit_work(self, admit: Callable[[], Admitted | None]) -> None:
        if self._stop.is_set():
            return
        try:
            self.ctx.renew()  # admitting many large uploads can take long
            admitted = admit()
            if admitted is None or self._stop.is_set():
                return  # admitted, not submitted: submitted next tick, as after a crash
            record = admitted.record
            # Admission may have taken long (a big tree): the lease must still be ours
            # before sbatch, as in the one-thread order (renewed before each submission).
            self.ctx.renew()
            with self.ctx.mutex:
                self._admitted.append(record)
            submit = partial(submit_one, self.ctx, record, admitted=admitted)
            self.ctx.guarded(record.uow, "submission", submit)
        except BaseException as exc:
            with self.ctx.mutex:
                self._errors.append(exc)
            self._stop.set()

    def wait(self) -> None:
        """Wait for everything offered so far; errors are kept for :meth:`finish` to raise."""
        for future in list(self._futures):
            future.exception()

    def offer(self, record: JobRecord, admitted: Admitted | None = None) -> None:
        """Submit ``record`` (now, or as soon as a thread is free); ``admitted`` when this
        tick's admission has just prepared it."""
        self._records.append(record)
        if self._pool is None:
            self.ctx.renew()
            submit = partial(submit_one, self.ctx, record, admitted=admitted)
            self.ctx.guarded(record.uow, "submission", submit)
        else:
            self._futures.append(self._pool.submit(self._work, record))

    def _work(self, record: JobRecord) -> None:
        if self._stop.is_set():
            return  # never started: still ADMITTED (or SUBMITTING, looked up next tick)
        try:
            self.ctx.renew()
            self.ctx.guarded(record.uow, "submission", partial(submit_one, self.ctx, record))
        except BaseException as exc:
            with self.ctx.mutex:
                self._errors.append(exc)
            self._stop.set()

    def finish(self, *, raise_error: bool = True) -> None:
        """Wait for every submission offered; raise the first error that stopped them."""
        if self._pool is not None:
            try:
                for future in self._futures:
                    future.result()
            finally:
                self._stop.set()  # interrupted here (Ctrl-C): start no further submission
                self._pool.shutdown(wait=True)
        # Threads finish in any order; the tick's result lists the jobs in submission order
        # (earlier ticks' UoWs as offered, then this tick's in admission order).
        rank = {name: number for number, name in enumerate(self.ctx.result.admitted)}
        admitted = sorted(self._admitted, key=lambda r: rank.get(r.uow, len(rank)))
        done = self.ctx.result.submitted
        ours = {r.uow: done[r.uow] for r in [*self._records, *admitted] if r.uow in done}
        self.ctx.result.submitted = {**{k: v for k, v in done.items() if k not in ours}, **ours}
        if self._errors and raise_error:
            raise self._errors[0]


def find_interrupted(ctx: TickContext, unsure: list[JobRecord]) -> dict[str, str]:
    """Jobs that interrupted submissions may have created, by job name.

    Only jobs submitted after the intent was recorded count (less
    :data:`~hpc_agent.uow.record.RECOVERY_CLOCK_SLACK`): an older job of the same name is a
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
        found.update(ctx.executor.find_by_name(names, submitted_after=since))
        ctx.result.scheduler_queries += 1
    if untimed:
        found.update(ctx.executor.find_by_name(untimed))
        ctx.result.scheduler_queries += 1
    return found


def submit_one(ctx: TickContext, record: JobRecord, *, admitted: Admitted | None = None) -> None:
    """sbatch one UoW: intent first, job id recorded before anything else.

    ``admitted``: admission, moments ago in this thread, saved the record
    with the intent already and prepared the script
    (:func:`~hpc_agent.loop.admit_phase.admit_one`); otherwise the script is
    the prepared copy, or is prepared again from the folder (:func:`readmit`).
    """
    uow_dir = ctx.running_dir / record.uow
    batch = batch_script(ctx, record, uow_dir, None if admitted is None else admitted.script)
    if batch is None:
        return
    if admitted is None:
        intend_to_submit(record, ctx.now)
        ctx.store.save(record)
    crash_point("after-submit-intent")
    spec = JobSpec(
        name=record.job_name or job_name(ctx.cfg.name, record.uow),
        script=batch,
        workdir=uow_dir,
        stdout=protocol.SLURM_STDOUT,
        stderr=protocol.SLURM_STDERR,
        account=ctx.cfg.account,
        qos=ctx.cfg.qos,
        args=(str(uow_dir),),
        comment=job_comment(record),
    )
    try:
        job_id = ctx.executor.submit(spec)
    except SubmitRejected as exc:
        decide(record, outcome=FAILED, reason=f"sbatch refused the job: {exc}")
        ctx.store.save(record)
        ctx.log.write(
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
    ctx.log.write(
        "submitted", f"{record.uow} submitted as job {job_id}", uow=record.uow, job_id=job_id
    )
    submitted(record, job_id, at=ctx.now, returned_at=time.time())
    # Durable like every record: on Lustre, GPFS or XFS a rename whose data was not
    # synced can leave an empty record after a power loss, losing the intent too.
    ctx.store.save(record)
    crash_point("after-record")
    ctx.result.submitted[record.uow] = job_id
    # A job whose script could not be wrapped hands nothing back itself: the finalize
    # job (when asked for) still does it.
    if ctx.cfg.finalize_by_dependency and batch != fast_handback.wrapper_path(
        ctx.store, record.uow
    ):
        submit_finalize_job(ctx, record, job_id)


def wraps_jobs(ctx: TickContext) -> bool:
    """Whether jobs run inside the fast hand-back wrapper (then no finalize job is queued)."""
    from hpc_agent.executors.slurm import SlurmExecutor

    return ctx.cfg.fast_handback and isinstance(ctx.executor, SlurmExecutor)


def batch_script(
    ctx: TickContext, record: JobRecord, uow_dir: Path, prepared: str | None
) -> Path | None:
    """The file sbatch is given for ``record``: its fast hand-back wrapper, or the prepared copy.

    ``prepared`` is the script admission just prepared; without it the
    prepared copy is read, or the script prepared again from the folder
    (None when that refuses it: the record is decided). The wrapper carries
    the script, so the copy is written (durably: the job reads it) only for a
    job that runs it unwrapped.
    """
    copy = ctx.store.script_path(record.uow)
    if prepared is None:
        with contextlib.suppress(FileNotFoundError):
            return _wrapped(ctx, record.uow, copy.read_bytes()) or copy
        carried = fast_handback.wrapped_script(ctx.store, record.uow)  # a lost job's
        if carried is not None:
            return _with_copy(ctx, record.uow, carried)
        prepared = readmit(ctx, record, uow_dir)
        if prepared is None:
            return None
    return _with_copy(ctx, record.uow, prepared.encode("utf-8"))


def _with_copy(ctx: TickContext, uow: str, data: bytes) -> Path:
    """The wrapper for ``data``, or the prepared copy written for a job that runs it unwrapped."""
    copy = ctx.store.script_path(uow)
    wrapper = _wrapped(ctx, uow, data)
    if wrapper is not None:
        return wrapper
    write_bytes_atomic(copy, data, mode=0o700, crash_name="mid-script-write")
    return copy


def _wrapped(ctx: TickContext, uow: str, script: bytes) -> Path | None:
    """The job wrapper written for ``script``, or None (not wrapped: submit the copy)."""
    if not wraps_jobs(ctx):
        return None
    return fast_handback.job_script(ctx.store, uow, ctx.cfg.base_dir, script)


def submit_finalize_job(ctx: TickContext, record: JobRecord, job_id: str) -> None:
    """Queue the tiny job that finalizes this UoW right after its job ends."""
    script = ctx.store.finalize_script_path(record.uow)
    finalize = agent_command("finalize")
    lines = [
        "#!/bin/bash",
        "# FlowCron: hand the Unit of Work back as soon as its job has ended.",
    ]
    if finalize.pythonpath is not None:
        lines.append(
            f"export PYTHONPATH={shlex.quote(finalize.pythonpath)}${{PYTHONPATH:+:$PYTHONPATH}}"
        )
    lines.append(f'exec {shlex.join(finalize.argv)} "$1" "$2"')
    text = "\n".join(lines) + "\n"
    write_text_atomic(script, text, mode=0o700, crash_name="mid-finalize-script-write")
    spec = JobSpec(
        name=f"{record.job_name}-finalize",
        script=script,
        workdir=ctx.store.root,
        stdout=os.devnull,
        stderr=os.devnull,
        account=ctx.cfg.account,
        qos=ctx.cfg.qos,
        args=(str(ctx.cfg.base_dir), record.uow),
        dependency=f"afterany:{job_id}",
        extra=FINALIZE_JOB_RESOURCES,
        comment=job_comment(record),
    )
    try:
        record.finalize_job_id = ctx.executor.submit(spec)
    except (SubmitRejected, SchedulerUnavailable) as exc:
        ctx.log.write(
            "finalize-job-failed",
            f"could not queue the finalize job of {record.uow} ({exc}); the tick "
            "finalizes it instead",
            level="warning",
            uow=record.uow,
            job_id=job_id,
        )
        return
    ctx.store.save(record)
    ctx.log.write(
        "finalize-job-submitted",
        f"finalize job {record.finalize_job_id} queued after job {job_id}",
        uow=record.uow,
        job_id=job_id,
        finalize_job_id=record.finalize_job_id,
    )
