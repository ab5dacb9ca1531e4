"""Tick step 2, outcomes: ONE batched scheduler query for every submitted job.

Each answer is judged by the one outcome rule, :func:`hpc_agent.uow.record.judge`
(whose job the records are, array tasks remembered from earlier answers,
success only for COMPLETED 0:0), and this step acts on the verdict: a job that
ended gets its outcome recorded, a job Slurm lost is submitted again (once) or
failed, a running one is left alone, and one the scheduler no longer knows is
failed after ``unknown_job_grace_seconds``. Each record is saved, and its log
line written, in the order that makes a kill anywhere safe to repeat.
"""

from __future__ import annotations

from functools import partial

from hpc_agent.executors.base import JobInfo
from hpc_agent.faults import crash_point
from hpc_agent.loop.context import TickContext
from hpc_agent.loop.state import SUBMITTED, JobRecord
from hpc_agent.uow.record import (
    ENDED,
    LOST,
    RUNNING,
    Verdict,
    decide,
    judge,
    lost,
    task_summary,
    vanished,
)


def query_outcomes(ctx: TickContext) -> None:
    """One batched query for every recorded job; record the outcome of finished ones."""
    waiting = [r for r in ctx.records.values() if r.phase == SUBMITTED and r.job_id]
    if not waiting:
        return
    infos = ctx.executor.query([r.job_id for r in waiting if r.job_id])
    ctx.result.scheduler_queries += 1
    for record in waiting:
        assert record.job_id is not None
        ctx.guarded(
            record.uow, "outcome", partial(apply_info, ctx, record, infos.get(record.job_id))
        )


def apply_info(ctx: TickContext, record: JobRecord, info: JobInfo | None) -> None:
    """Advance one submitted record with what the scheduler said (None: unknown).

    The verdict is :func:`~hpc_agent.uow.record.judge`'s: never finished with
    another job's outcome, an array or heterogeneous job ended only when all
    its tasks have (those the scheduler forgot included).
    """
    verdict = judge(record, info, now=ctx.now, grace_seconds=ctx.cfg.unknown_job_grace_seconds)
    if verdict.remember(record):
        ctx.store.save(record)
    if verdict.state == ENDED:
        job_ended(ctx, record, verdict)
    elif verdict.state == LOST:
        assert verdict.lost_to is not None
        job_lost(ctx, record, verdict.lost_to)
    elif verdict.state == RUNNING:
        assert verdict.job is not None
        ctx.job_states[record.uow] = verdict.job.state  # for the admission limits
        changed = record.unknown_since is not None
        record.unknown_since = None
        if verdict.confirmed and record.slurm_submit_epoch is None and verdict.job.submit_epoch:
            record.slurm_submit_epoch = verdict.job.submit_epoch
            changed = True
        if changed:
            ctx.store.save(record)
    else:
        # Unknown, or ended in a record that names no job yet (slurmdbd has
        # not had the full record): wait, but not for ever.
        job_unknown(ctx, record, verdict.job)


def job_ended(ctx: TickContext, record: JobRecord, verdict: Verdict) -> None:
    """Record the outcome of a job that ended (every task of it)."""
    info = verdict.job
    assert info is not None and verdict.outcome is not None
    decide(record, outcome=verdict.outcome, reason=verdict.reason, job=info.to_dict())
    # The line before the record: a kill in between repeats both next tick.
    ctx.log.write(
        "job-ended",
        f"job {info.job_id} of {record.uow} ended: {info.state} {info.exit_code or ''}".rstrip()
        + (f" ({task_summary(info)})" if info.tasks else ""),
        uow=record.uow,
        job_id=info.job_id,
        state=info.state,
        exit_code=info.exit_code,
    )
    ctx.store.save(record)
    crash_point("after-outcome-record")


def job_unknown(ctx: TickContext, record: JobRecord, job: JobInfo | None) -> None:
    """The scheduler shows no record of this submission: fail it after the grace period."""
    if record.unknown_since is None:
        record.unknown_since = ctx.now
        ctx.store.save(record)
        ctx.log.write(
            "job-unknown",
            f"the scheduler does not know job {record.job_id} of {record.uow}"
            + (" by its name yet" if job is not None else "")
            + f"; it is failed if still unknown in {ctx.cfg.unknown_job_grace_seconds} s",
            level="warning",
            uow=record.uow,
            job_id=record.job_id,
        )
        return
    if ctx.now - record.unknown_since < ctx.cfg.unknown_job_grace_seconds:
        return
    vanished(record)
    ctx.log.write(
        "job-vanished",
        f"job {record.job_id} of {record.uow} vanished from Slurm",
        level="error",
        uow=record.uow,
        job_id=record.job_id,
    )
    ctx.store.save(record)
    crash_point("after-outcome-record")


def job_lost(ctx: TickContext, record: JobRecord, evidence: JobInfo) -> None:
    """Slurm gave this job's id to a later job, so it lost this one: resubmit once, or fail.

    The resubmission goes through :func:`hpc_agent.loop.submit.submit_one`
    later in this tick, which records its intent before sbatch, so a crash
    never submits twice.
    """
    lost_id = record.job_id
    why, again = lost(record, evidence, ctx.now)
    ctx.store.save(record)
    crash_point("after-lost-record" if again else "after-outcome-record")
    ctx.log.write(
        "job-lost",
        why + ("; the UoW is submitted again (once)" if again else "; the UoW is failed"),
        level="warning" if again else "error",
        uow=record.uow,
        job_id=lost_id,
    )
