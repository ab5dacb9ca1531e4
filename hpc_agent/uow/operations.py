"""What a person (or the finalize job) does to one UoW: finalize, retry, cancel.

Each takes the instance lock, waiting a little (a tick holds it for seconds
at most), so it never races a tick; each logs what it did.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Final

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.errors import AgentError
from hpc_agent.executors.base import Executor, ExecutorError
from hpc_agent.exitcodes import ExitCode
from hpc_agent.faults import crash_point
from hpc_agent.loop.fast_handback import Ended, read_ended
from hpc_agent.loop.lock import InstanceLock
from hpc_agent.loop.state import (
    FAILED,
    FINALIZING,
    SUBMITTED,
    SUBMITTING,
    SUCCEEDED,
    JobRecord,
    StateStore,
    ledger_key,
)
from hpc_agent.uow.finalize import Agent, finalize, free_name, report_outcome
from hpc_agent.uow.record import (
    ENDED,
    RECOVERY_CLOCK_SLACK,
    RUNNING,
    UNKNOWN,
    Verdict,
    claim_for,
    decide,
    judge,
)
from hpc_agent.uow.rerun import archive_earlier_outputs, find_earlier_outputs

LOCK_WAIT_SECONDS: Final = 60.0
OUTCOME_WAIT_SECONDS: Final = 30.0
"""How long the finalize job waits for the scheduler to report the ended job."""
HANDBACK_POLL_SECONDS: Final = 0.25
"""How often the scheduler is asked while a job the wrapper saw end is still running."""


class OperationError(AgentError):
    """An operation cannot be done; the message says why and what to do (exit code 1)."""

    exit_code = ExitCode.FAILED


def _check_uow_name(uow: str) -> None:
    """Refuse a name that is not one folder: it could reach outside the instance's dirs."""
    if uow in ("", ".", "..") or "/" in uow or "\0" in uow:
        raise OperationError(
            f"{uow!r} is not a UoW name: give the folder's name only, as "
            "`hpc-agent status` lists it (e.g. sample_<run id>)"
        )


def _open_locked(cfg: InstanceConfig, uow: str) -> tuple[Agent, InstanceLock]:
    """The agent of ``cfg``, holding the instance's lock, for one operation on ``uow``."""
    _check_uow_name(uow)
    agent = Agent.open(cfg)
    lock = InstanceLock(cfg.base_dir, cfg.lease_timeout_seconds)
    if not lock.acquire(wait_seconds=LOCK_WAIT_SECONDS):
        holder = lock.holder.describe(time.time()) if lock.holder else "another agent"
        raise OperationError(f"the instance is busy ({holder}); try again in a minute")
    agent.ledger.load()  # under the lock: a tick may have written it meanwhile
    return agent, lock


def finalize_uow(
    cfg: InstanceConfig,
    uow: str,
    executor: Executor,
    *,
    wait_seconds: float = OUTCOME_WAIT_SECONDS,
) -> str | None:
    """Finalize ``uow`` now if its job has ended (the job wrapper's or the finalize job's call).

    Returns where the UoW went, or None when there was nothing to do yet
    (already finalized, or the job has not ended: the tick takes over).
    When the fast hand-back wrapper recorded how the script ended
    (:func:`~hpc_agent.loop.fast_handback.read_ended`), a failure is decided
    from that record at once; an exit 0 still needs Slurm's word
    (COMPLETED 0:0, :func:`~hpc_agent.uow.record.judge`), which comes only once
    the wrapper has exited: it is waited for, for ``wait_seconds`` at most,
    *before* the lock is taken, so the wait never blocks a tick.
    """
    _check_uow_name(uow)
    deadline = time.monotonic() + wait_seconds
    _await_slurm_end(cfg, uow, executor, deadline)
    agent, lock = _open_locked(cfg, uow)
    try:
        record = agent.store.load(uow)
        if record is None or not os.path.lexists(cfg.path(protocol.RUNNING) / uow):
            agent.log.write("finalize-skipped", f"{uow} is already finalized", uow=uow)
            return None
        if not _await_outcome(agent, record, executor, cfg, deadline):
            return None
        if record.moved and record.outcome == SUCCEEDED and record.destination is None:
            # As the tick does (loop/handback.py): a folder moved while its job ran.
            record.outcome = FAILED
            record.reason = f"the job ended, but {record.moved}"
            agent.store.save(record)
        destination = finalize(agent, record)
        agent.ledger.save()
        return destination
    finally:
        lock.release()


def _await_slurm_end(cfg: InstanceConfig, uow: str, executor: Executor, deadline: float) -> None:
    """Without the lock, read only: wait while Slurm still runs a job whose script exited 0."""
    store = StateStore(cfg.base_dir)
    record = store.load(uow)
    if record is None or record.phase != SUBMITTED or not record.job_id:
        return
    ended = read_ended(store, uow, record.job_id)
    if ended is None or not ended.succeeded:
        return
    while time.monotonic() < deadline:
        verdict = judge(
            record,
            executor.query([record.job_id]).get(record.job_id),
            now=time.time(),
            grace_seconds=cfg.unknown_job_grace_seconds,
        )
        if verdict.state != RUNNING:
            return  # ended (or lost, or unknown): decided under the lock
        time.sleep(HANDBACK_POLL_SECONDS)


def _await_outcome(
    agent: Agent, record: JobRecord, executor: Executor, cfg: InstanceConfig, deadline: float
) -> bool:
    """Under the lock: decide ``record``'s outcome if its job has ended; whether it is decided."""
    ended = read_ended(agent.store, record.uow, record.job_id)
    while record.phase == SUBMITTED and record.job_id:
        # The job's end can reach the scheduler's records a moment after
        # this process starts: ask again briefly, with a deadline.
        verdict = judge(
            record,
            executor.query([record.job_id]).get(record.job_id),
            now=time.time(),
            grace_seconds=cfg.unknown_job_grace_seconds,
        )
        if verdict.remember(record):
            agent.store.save(record)
        if verdict.state == ENDED and verdict.job is not None and verdict.outcome:
            decide(
                record, outcome=verdict.outcome, reason=verdict.reason, job=verdict.job.to_dict()
            )
            _log_job_ended(agent, record, "")
            agent.store.save(record)
            break
        if (
            ended is not None
            and not ended.succeeded
            and verdict.state in (RUNNING, UNKNOWN)
            and not (verdict.job is not None and verdict.job.tasks)  # arrays, het jobs: Slurm's
        ):
            # The script failed: a failure whatever Slurm says once the job is over.
            decide(record, outcome=FAILED, reason=ended.reason(), job=_ended_job(ended, verdict))
            _log_job_ended(agent, record, " (as its job wrapper recorded it)")
            agent.store.save(record)
            crash_point("after-handback-outcome")
            break
        if time.monotonic() >= deadline:
            agent.log.write(
                "finalize-deferred",
                f"job {record.job_id} of {record.uow} has not ended yet; the tick finalizes it",
                uow=record.uow,
                job_id=record.job_id,
            )
            return False
        time.sleep(0.5 if ended is None else HANDBACK_POLL_SECONDS)
    return record.phase == FINALIZING


def _log_job_ended(agent: Agent, record: JobRecord, note: str) -> None:
    """The tick's ``job-ended`` line, for an outcome decided here (before the record is saved)."""
    job = record.job or {}
    state, code = job.get("state"), job.get("exit_code")
    agent.log.write(
        "job-ended",
        f"job {record.job_id} of {record.uow} ended: {state} {code or ''}".rstrip() + note,
        uow=record.uow,
        job_id=record.job_id,
        state=state,
        exit_code=code,
    )


def _ended_job(ended: Ended, verdict: Verdict) -> dict[str, object]:
    """The job's facts for the report: Slurm's so far, the end as the wrapper saw it."""
    job: dict[str, object] = verdict.job.to_dict() if verdict.job is not None else {}
    job["job_id"] = ended.job_id
    job["state"] = "FAILED"
    job["exit_code"] = ended.slurm_exit_code
    if ended.ended_at is not None:
        job["end_time"] = datetime.fromtimestamp(ended.ended_at).isoformat(timespec="seconds")
    return job


def retry(cfg: InstanceConfig, uow: str) -> Path:
    """Send a failed UoW back for resubmission; returns its new path in UploadedFiles/.

    Its reports and Slurm output are archived as for any folder run again
    (``flowcron-earlier-runs/<uow>/``, see :mod:`hpc_agent.uow.rerun`), and a
    fresh ``sentinels/`` marks it as a complete upload.
    """
    agent, lock = _open_locked(cfg, uow)
    try:
        source = cfg.path(protocol.FAILED) / uow
        if not source.is_dir() or source.is_symlink():
            failed = sorted(p.name for p in cfg.path(protocol.FAILED).iterdir() if p.is_dir())
            hint = f" Failed UoWs: {', '.join(failed)}." if failed else " There are none."
            raise OperationError(f"no UoW named {uow!r} in {protocol.FAILED}/.{hint}")
        target = cfg.path(protocol.UPLOADED) / uow
        for busy in (target, cfg.path(protocol.RUNNING) / uow):
            if os.path.lexists(busy):
                raise OperationError(
                    f"{busy} exists already; wait until it is finished, or rename one of them"
                )
        earlier = find_earlier_outputs(source)
        if earlier is not None:
            archive_earlier_outputs(source, earlier)
        (source / protocol.SENTINELS_DIR).mkdir(exist_ok=True)
        source.rename(target)
        agent.ledger.pop(ledger_key(protocol.FAILED, uow))
        agent.ledger.save()
        agent.log.write(
            "retry",
            f"{uow} sent back from {protocol.FAILED}/ to {protocol.UPLOADED}/ for resubmission",
            uow=uow,
        )
        return target
    finally:
        lock.release()


def cancel(cfg: InstanceConfig, uow: str, executor: Executor) -> str | None:
    """Cancel the job of ``uow`` and finalize it as cancelled into FailedJobs/."""
    agent, lock = _open_locked(cfg, uow)
    try:
        record = agent.store.load(uow)
        if record is None or not os.path.lexists(cfg.path(protocol.RUNNING) / uow):
            raise OperationError(
                f"no queued or running UoW named {uow!r} in {protocol.RUNNING}/ "
                "(see `hpc-agent status`)"
            )
        if record.phase != FINALIZING:
            try:
                _cancel_and_decide(record, executor, grace_seconds=cfg.unknown_job_grace_seconds)
            except ExecutorError as exc:
                raise OperationError(f"could not cancel job {record.job_id}: {exc}") from exc
            agent.store.save(record)
            if report_outcome(record) == "cancelled":
                agent.log.write(
                    "cancelled", f"{uow} cancelled by request", uow=uow, job_id=record.job_id
                )
            else:
                agent.log.write(
                    "cancel-too-late",
                    f"{uow}: job {record.job_id} had already ended ({record.outcome}) when "
                    "the cancel came; it is handed back with its real outcome",
                    level="warning",
                    uow=uow,
                    job_id=record.job_id,
                )
        destination = finalize(agent, record)
        agent.ledger.save()
        return destination
    finally:
        lock.release()


def _cancel_and_decide(record: JobRecord, executor: Executor, *, grace_seconds: float) -> None:
    """scancel the UoW's jobs and decide its outcome (the real one if the job had ended).

    A UoW still "submitting" may have a job sbatch created before the agent
    recorded its id: it is looked up by name, as the tick does, so it is
    cancelled too and not left running.
    """
    if record.phase == SUBMITTING and not record.job_id and record.job_name:
        since = None
        if record.submit_intent_at is not None:
            since = record.submit_intent_at - RECOVERY_CLOCK_SLACK
        found = executor.find_by_name([record.job_name], submitted_after=since)
        record.job_id = found.get(record.job_name) or None
    if record.job_id:
        # The id may belong to another job by now (a controller that lost its
        # state hands ids out again): never scancel a job that is not ours.
        seen = claim_for(record, executor.query([record.job_id]).get(record.job_id))
        if seen.reused_by is not None:
            decide(
                record,
                outcome=FAILED,
                reason=f"Slurm lost job {record.job_id} (its id now belongs to another job); "
                "nothing was cancelled",
            )
            return
    for job_id in (record.job_id, record.finalize_job_id):
        if job_id:
            executor.cancel(job_id)  # a job that already ended is not an error
    info = None
    if record.job_id:
        verdict = judge(
            record,
            executor.query([record.job_id]).get(record.job_id),
            now=time.time(),
            grace_seconds=grace_seconds,
        )
        verdict.remember(record)
        info = verdict.job
        if verdict.state == ENDED and info is not None and info.state != "CANCELLED":
            # It ended on its own before the cancel reached it: keep what really happened.
            assert verdict.outcome is not None
            decide(record, outcome=verdict.outcome, reason=verdict.reason, job=info.to_dict())
            return
    job: dict[str, object] = asdict(info) if info is not None else {"job_id": record.job_id}
    job["state"] = "CANCELLED"
    decide(record, outcome=FAILED, reason="cancelled with `hpc-agent cancel`", job=job)


__all__ = ["OperationError", "cancel", "finalize_uow", "free_name", "retry"]
