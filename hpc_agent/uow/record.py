"""A UoW's job record as a small state machine, and the one rule for its outcome.

The phases (:mod:`hpc_agent.loop.state` keeps their names) and the moves
between them::

    ADMITTED --intent--> SUBMITTING --job id--> SUBMITTED --outcome--> FINALIZING
        ^                    |  ^                   |
        |                    +--+ (sbatch again     |
        |                         after a crash)    |
        +------------- Slurm lost the job ----------+

and from every phase an outcome can be decided (:func:`decide`: a rejected
upload, a refused sbatch, a cancel), which moves the record to FINALIZING.
Every change of phase goes through this module, which refuses any other move.

:func:`judge` is THE rule for what a submitted job's outcome is, given the
record and what the executor reports now (with the array tasks the record
remembers from earlier answers): the tick, ``hpc-agent finalize`` (the
finalize-by-dependency job) and ``hpc-agent cancel`` all use it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hpc_agent.errors import AgentError
from hpc_agent.executors.base import (
    Claim,
    JobInfo,
    SeenTasks,
    claim,
    merge_seen_tasks,
    remembered_job,
)
from hpc_agent.loop.state import (
    ADMITTED,
    FAILED,
    FINALIZING,
    SUBMITTED,
    SUBMITTING,
    SUCCEEDED,
    JobRecord,
)

PHASES: Final = (ADMITTED, SUBMITTING, SUBMITTED, FINALIZING)
"""The phases of a UoW in ``CodeToRun/slurm/``, in order."""

TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    ADMITTED: frozenset({SUBMITTING, FINALIZING}),
    SUBMITTING: frozenset({SUBMITTING, SUBMITTED, FINALIZING}),
    SUBMITTED: frozenset({ADMITTED, FINALIZING}),
    FINALIZING: frozenset({FINALIZING}),
}
"""Which phase each phase may move to (:func:`decide` may move any record to FINALIZING)."""

VANISHED_REASON: Final = "job vanished from Slurm"
MAX_RESUBMISSIONS: Final = 1
"""How often a UoW whose job Slurm lost is submitted again before it is failed."""
RECOVERY_CLOCK_SLACK: Final = 5.0
"""Seconds of leeway when an interrupted submission is looked up by name.

Slurm prints submit times to the second, and its clock may differ a little
from this host's; a job of the same name submitted longer ago than this
before the intent was recorded belongs to an earlier run of the UoW (retried
or uploaded again under the same name, which takes at least two ticks)."""

_UNSAFE_JOB_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class PhaseError(AgentError):
    """A move between phases that the state machine does not allow (a bug in the agent)."""


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


# -- the moves ------------------------------------------------------------------


def _move(record: JobRecord, phase: str) -> None:
    if phase not in TRANSITIONS.get(record.phase, frozenset()):
        raise PhaseError(f"{record.uow}: a record cannot go from {record.phase!r} to {phase!r}")
    record.phase = phase


def decide(
    record: JobRecord, *, outcome: str, reason: str | None, job: dict[str, Any] | None = None
) -> None:
    """Fix the outcome of ``record`` (the caller saves it before finalizing)."""
    record.phase = FINALIZING  # from any phase, even one a newer agent wrote
    record.outcome = outcome
    record.reason = reason
    if job is not None:
        record.job = job
    record.unknown_since = None


def intend_to_submit(record: JobRecord, now: float) -> None:
    """About to call sbatch: after a crash the job is looked up by name first."""
    _move(record, SUBMITTING)
    record.submit_intent_at = now


def submitted(record: JobRecord, job_id: str, *, at: float, returned_at: float | None) -> None:
    """sbatch returned ``job_id`` (``returned_at``: None when found by name after a crash)."""
    _move(record, SUBMITTED)
    record.job_id = job_id
    record.submitted_at = at
    if returned_at is not None:
        record.sbatch_returned_at = returned_at


def lost(record: JobRecord, evidence: JobInfo, now: float) -> tuple[str, bool]:
    """Slurm gave this job's id to a later job (``evidence``), so it lost this one.

    The loss is added to ``lost_jobs``; the record goes back to ADMITTED to be
    submitted again, or, once it has been :data:`MAX_RESUBMISSIONS` times, its
    outcome is decided as failed. Returns why, in words, and whether it is
    submitted again.
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
            "detected_at": now,
            "reason": why,
        }
    )
    if record.resubmissions >= MAX_RESUBMISSIONS:
        earlier = ", ".join(str(j.get("job_id")) for j in record.lost_jobs)
        decide(
            record,
            outcome=FAILED,
            reason=f"{why}. It had already been submitted again after Slurm lost it "
            f"before, so FlowCron stopped there (lost jobs: {earlier})",
        )
        return why, False
    _move(record, ADMITTED)
    record.resubmissions += 1
    record.job_id = None
    record.finalize_job_id = None
    record.submit_intent_at = None
    record.submitted_at = None
    record.sbatch_returned_at = None
    record.slurm_submit_epoch = None
    record.unknown_since = None
    record.tasks_seen = {}
    return why, True


def vanished(record: JobRecord) -> None:
    """Decide a job the scheduler no longer knows (after the grace period) as failed."""
    remembered = remembered_job(record.job_id or "", record.tasks_seen)
    facts = remembered.to_dict() if remembered is not None else None
    decide(record, outcome=FAILED, reason=VANISHED_REASON, job=facts)


# -- the outcome rule -----------------------------------------------------------

ENDED: Final = "ended"
"""The job (every task of it) has ended: ``outcome`` and ``reason`` say how."""
LOST: Final = "lost"
"""Slurm gave the job's id to a later job (``lost_to``): it lost this one."""
RUNNING: Final = "running"
"""The job is queued or running."""
UNKNOWN: Final = "unknown"
"""The scheduler shows no record of this submission it is sure of: wait, not for ever."""


@dataclass(frozen=True)
class Verdict:
    """What a submitted record's job is now, and why (see :func:`judge`)."""

    state: str
    job: JobInfo | None
    """The submission's job as far as it was seen (remembered array tasks filled in)."""
    confirmed: bool
    """The scheduler's record of it has the UoW's job name (it is surely ours)."""
    tasks_seen: SeenTasks
    """The record's memory of array tasks, with what was seen now."""
    outcome: str | None = None
    reason: str | None = None
    lost_to: JobInfo | None = None

    def remember(self, record: JobRecord) -> bool:
        """Keep the array tasks seen now in ``record``; whether that changed it."""
        if self.tasks_seen == record.tasks_seen:
            return False
        record.tasks_seen = self.tasks_seen
        return True


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


def judge(record: JobRecord, info: JobInfo | None, *, now: float, grace_seconds: float) -> Verdict:
    """What the job of submitted ``record`` is, given the scheduler's answer ``info`` now.

    Only the scheduler's records of *this* submission count (its job name,
    submitted no earlier than the intent; :func:`claim_for`): after a
    controller lost its state, the same id may belong to another job, which
    proves this one was lost. An array or heterogeneous job has ended when all
    its tasks have, the tasks remembered from earlier answers included (the
    controller forgets an ended task while others run). Success is COMPLETED
    with exit code 0:0, for every task, and nothing else. A record that ended
    but has no name yet, submitted when ours was, is probably ours (slurmdbd
    may never get the name of a job its controller lost after the job ended):
    it is waited for ``grace_seconds``, then taken, never overridden.
    ``record`` is not changed (see :meth:`Verdict.remember`).
    """
    seen = claim_for(record, info)
    job = seen.job
    memory: SeenTasks = dict(record.tasks_seen)
    if job is not None and seen.confirmed:
        job, memory = merge_seen_tasks(job, record.tasks_seen)
    grace_over = record.unknown_since is not None and now - record.unknown_since >= grace_seconds
    ended_unnamed = job is not None and job.finished and not seen.confirmed
    if (
        job is not None
        and job.finished
        and (seen.confirmed or (grace_over and seen.unnamed_in_window))
    ):
        outcome, reason = (SUCCEEDED, None) if job.succeeded else (FAILED, failure_reason(job))
        return Verdict(ENDED, job, seen.confirmed, memory, outcome=outcome, reason=reason)
    if seen.reused_by is not None and not (ended_unnamed and seen.unnamed_in_window):
        return Verdict(LOST, job, seen.confirmed, memory, lost_to=seen.reused_by)
    if job is not None and not job.finished:
        return Verdict(RUNNING, job, seen.confirmed, memory)
    return Verdict(UNKNOWN, job, seen.confirmed, memory)


def task_summary(info: JobInfo) -> str:
    """``4 array tasks: 3 COMPLETED, 1 FAILED`` for an array or heterogeneous job."""
    counts: dict[str, int] = {}
    for task in info.tasks:
        counts[task.state] = counts.get(task.state, 0) + task.count
    kind = "components" if any("+" in t.job_id for t in info.tasks) else "array tasks"
    parts = ", ".join(f"{number} {state}" for state, number in sorted(counts.items()))
    return f"{sum(counts.values())} {kind}: {parts}"


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


__all__ = [
    "ENDED",
    "LOST",
    "MAX_RESUBMISSIONS",
    "PHASES",
    "RECOVERY_CLOCK_SLACK",
    "RUNNING",
    "TRANSITIONS",
    "UNKNOWN",
    "VANISHED_REASON",
    "PhaseError",
    "Verdict",
    "claim_for",
    "decide",
    "failure_reason",
    "intend_to_submit",
    "job_name",
    "judge",
    "lost",
    "submitted",
    "task_summary",
    "vanished",
]
