"""The contract between the agent and what runs jobs (Slurm, or a local stand-in).

The reconcile loop only talks to an :class:`Executor`. ``slurm`` is the real
one; ``local`` runs the job script with bash on this machine and gives it the
same life as a Slurm job (ids, states, output files), so the agent's code
paths are identical on a laptop without Slurm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

SUCCESS_STATE = "COMPLETED"
SUCCESS_EXIT_CODE = "0:0"

FAILURE_STATES = frozenset(
    {
        "FAILED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "CANCELLED",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "REVOKED",
    }
)
"""Terminal Slurm states that mean the job did not succeed."""

PENDING_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SUSPENDED",
        "STOPPED",
        "SIGNALING",
        "STAGE_OUT",
        "RESV_DEL_HOLD",
        "SPECIAL_EXIT",
    }
)
"""Slurm states of a job that has not ended yet."""


class ExecutorError(Exception):
    """Root of executor errors."""


class SubmitRejected(ExecutorError):
    """The scheduler refused the job (bad account, QoS, partition...).

    The UoW is finished as failed with ``message`` (the scheduler's own words)
    in its report. Not retried: the same submission would be refused again.
    """


class SchedulerUnavailable(ExecutorError):
    """The scheduler could not be reached (controller down, command missing, time-out).

    The tick stops without moving anything and exits non-zero; the next tick
    carries on.
    """


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to submit one UoW's job.

    ``script`` is the prepared copy to submit (never the user's file),
    ``workdir`` the UoW directory (the job's working directory), ``args``
    the script's arguments (the UoW's absolute path first).
    """

    name: str
    script: Path
    workdir: Path
    stdout: str
    stderr: str
    account: str | None = None
    qos: str | None = None
    args: tuple[str, ...] = ()
    dependency: str | None = None
    extra: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class JobInfo:
    """What the scheduler says about one job. Times are ISO 8601 strings or None."""

    job_id: str
    state: str
    exit_code: str | None = None
    elapsed: str | None = None
    node: str | None = None
    submit_time: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    reason: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the job has reached a terminal state."""
        return self.state == SUCCESS_STATE or self.state in FAILURE_STATES

    @property
    def succeeded(self) -> bool:
        """Success is COMPLETED with exit code 0:0, and nothing else."""
        return self.state == SUCCESS_STATE and self.exit_code == SUCCESS_EXIT_CODE


class Executor(Protocol):
    """Submits jobs and reports on them, in batches."""

    name: str

    def ping(self) -> None:
        """One cheap call proving the scheduler can take work now.

        Raises SchedulerUnavailable when it cannot. The tick calls this first,
        every time, so an outage stops it before anything is moved.
        """
        ...

    def submit(self, spec: JobSpec) -> str:
        """Submit one job; return its id. Raises SubmitRejected or SchedulerUnavailable."""
        ...

    def query(self, job_ids: Sequence[str]) -> Mapping[str, JobInfo]:
        """One batched status query; ids the scheduler does not know are absent."""
        ...

    def find_by_name(
        self, names: Sequence[str], *, submitted_after: float | None = None
    ) -> Mapping[str, str]:
        """Map job names to the id of the newest job with that name (crash recovery).

        With ``submitted_after`` (seconds since the epoch) only jobs submitted
        at or after that time count, so the earlier job of a UoW that is run
        again under the same name is never taken for the new one.
        """
        ...

    def cancel(self, job_id: str) -> None:
        """Cancel a job; a job that already ended is not an error."""
        ...
