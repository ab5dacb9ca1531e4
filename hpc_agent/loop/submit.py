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

import os
import shlex
import sys
import time
from functools import partial
from typing import Final

import hpc_agent
from hpc_agent import protocol
from hpc_agent.executors.base import JobSpec, SchedulerUnavailable, SubmitRejected
from hpc_agent.faults import crash_point
from hpc_agent.fs.atomicio import write_text_atomic
from hpc_agent.loop.admit_phase import readmit
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
    """Submit every admitted UoW that has no job yet (at most one name look-up)."""
    todo = [
        r
        for _, r in sorted(ctx.records.items())
        if r.phase in (ADMITTED, SUBMITTING) and r.outcome is None
    ]
    if not todo:
        return
    found = find_interrupted(ctx, [r for r in todo if r.phase == SUBMITTING])
    for record in todo:
        ctx.lock.renew()
        if record.job_name in found:
            submitted(
                record,
                found[record.job_name],
                at=record.submit_intent_at or ctx.now,
                returned_at=None,
            )
            ctx.store.save(record)
            ctx.log.write(
                "submit-recovered",
                f"{record.uow} was already submitted as job {record.job_id} "
                "(found by its job name after an interrupted tick)",
                level="warning",
                uow=record.uow,
                job_id=record.job_id,
            )
            continue
        ctx.guarded(record.uow, "submission", partial(submit_one, ctx, record))


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


def submit_one(ctx: TickContext, record: JobRecord) -> None:
    """sbatch one UoW: intent first, job id recorded before anything else."""
    uow_dir = ctx.running_dir / record.uow
    script = ctx.store.script_path(record.uow)
    if not script.exists() and not readmit(ctx, record, uow_dir):
        return
    intend_to_submit(record, ctx.now)
    ctx.store.save(record)
    crash_point("after-submit-intent")
    spec = JobSpec(
        name=record.job_name or job_name(ctx.cfg.name, record.uow),
        script=script,
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
    ctx.store.save(record)
    crash_point("after-record")
    ctx.result.submitted[record.uow] = job_id
    if ctx.cfg.finalize_by_dependency:
        submit_finalize_job(ctx, record, job_id)


def submit_finalize_job(ctx: TickContext, record: JobRecord, job_id: str) -> None:
    """Queue the tiny job that finalizes this UoW right after its job ends."""
    script = ctx.store.finalize_script_path(record.uow)
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
