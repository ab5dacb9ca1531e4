"""The contract between the agent and what runs jobs (Slurm, or a local stand-in).

The reconcile loop only talks to an :class:`Executor`. ``slurm`` is the real
one; ``local`` runs the job script with bash on this machine and gives it the
same life as a Slurm job (ids, states, output files), so the agent's code
paths are identical on a laptop without Slurm.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hpc_agent.errors import AgentError
from hpc_agent.exitcodes import ExitCode

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
        "OUTCOME_UNSEEN",
    }
)
"""Terminal Slurm states that mean the job did not succeed.

``OUTCOME_UNSEEN`` is the agent's own: an array task or component it saw
queued or running that the scheduler then forgot before the agent saw it end
(without accounting, the controller keeps an ended task only ``MinJobAge``
seconds). Its outcome is unknown, so the job cannot count as a success."""
OUTCOME_UNSEEN = "OUTCOME_UNSEEN"

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


class ExecutorError(AgentError):
    """Root of executor errors (exit code 1: the scheduler's answer cannot be used)."""

    exit_code = ExitCode.FAILED


class SubmitRejected(ExecutorError):
    """The scheduler refused the job (bad account, QoS, partition...).

    The UoW is finished as failed with ``message`` (the scheduler's own words)
    in its report. Not retried: the same submission would be refused again.
    """


class SchedulerUnavailable(ExecutorError):
    """The scheduler could not be reached (controller down, command missing, time-out).

    The tick stops without moving anything and exits non-zero (3); the next
    tick carries on.
    """

    exit_code = ExitCode.SCHEDULER_DOWN


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to submit one UoW's job.

    ``script`` is the prepared copy to submit (never the user's file),
    ``workdir`` the UoW directory (the job's working directory), ``args``
    the script's arguments (the UoW's absolute path first). ``comment`` is
    free text the scheduler keeps with the job (``sbatch --comment``; the
    agent writes who started the run there, ``flowcron user=<name>``); an
    executor without comments keeps or ignores it.
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
    comment: str | None = None


@dataclass(frozen=True)
class JobInfo:
    """What the scheduler says about one job. Times are ISO 8601 strings or None.

    A job array or heterogeneous job is one JobInfo for the id sbatch printed
    (``4515``) whose ``tasks`` are its array tasks (``4515_1``...) or components
    (``4515+0``...); its state and exit code sum them up (see :func:`combine`),
    and it has finished only when every task has. ``name`` and
    ``submit_epoch`` are None when the executor does not report them;
    ``unnamed`` means the scheduler holds the record but not its name yet
    (slurmdbd lists a job as ``allocation`` until the controller sends the
    full record), so it may be anyone's. ``raw_id`` is a task's own job id
    (its ``%j`` in output file names); ``count`` how many tasks a pending
    array range stands for. ``others`` holds the other records the scheduler
    keeps under the same id (``sacct --duplicates``: a later job that was
    given the same id, an earlier run of a requeued job); :func:`claim` tells
    which records are the agent's own.
    """

    job_id: str
    state: str
    exit_code: str | None = None
    elapsed: str | None = None
    node: str | None = None
    submit_time: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    reason: str | None = None
    name: str | None = None
    submit_epoch: float | None = None
    raw_id: str | None = None
    count: int = 1
    unnamed: bool = False
    tasks: tuple[JobInfo, ...] = ()
    others: tuple[JobInfo, ...] = ()

    @property
    def finished(self) -> bool:
        """Whether the job (every task of it) has reached a terminal state."""
        ended = self.state == SUCCESS_STATE or self.state in FAILURE_STATES
        return ended and all(task.finished for task in self.tasks)

    @property
    def succeeded(self) -> bool:
        """Success is COMPLETED with exit code 0:0 (for every task), and nothing else."""
        ok = self.state == SUCCESS_STATE and self.exit_code == SUCCESS_EXIT_CODE
        return ok and all(task.succeeded for task in self.tasks)

    def to_dict(self) -> dict[str, Any]:
        """The facts a job record keeps (JSON-ready; ``others`` left out, tasks flat)."""
        data: dict[str, Any] = {
            "job_id": self.job_id,
            "state": self.state,
            "exit_code": self.exit_code,
            "elapsed": self.elapsed,
            "node": self.node,
            "submit_time": self.submit_time,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "reason": self.reason,
            "name": self.name,
            "submit_epoch": self.submit_epoch,
            "raw_id": self.raw_id,
            "count": self.count,
            "tasks": [task.to_dict() for task in self.tasks],
        }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobInfo:
        """Rebuild a JobInfo from :meth:`to_dict` (unknown keys are ignored)."""
        tasks = tuple(cls.from_dict(t) for t in data.get("tasks") or () if isinstance(t, Mapping))
        epoch = data.get("submit_epoch")
        count = data.get("count")
        return cls(
            job_id=str(data.get("job_id") or ""),
            state=str(data.get("state") or "UNKNOWN"),
            exit_code=_opt(data.get("exit_code")),
            elapsed=_opt(data.get("elapsed")),
            node=_opt(data.get("node")),
            submit_time=_opt(data.get("submit_time")),
            start_time=_opt(data.get("start_time")),
            end_time=_opt(data.get("end_time")),
            reason=_opt(data.get("reason")),
            name=_opt(data.get("name")),
            submit_epoch=float(epoch) if isinstance(epoch, (int, float)) else None,
            raw_id=_opt(data.get("raw_id")),
            count=count if isinstance(count, int) and count > 0 else 1,
            tasks=tasks,
        )


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


# -- arrays and heterogeneous jobs --------------------------------------------

_RANGE = re.compile(r"^(\d+)(?:-(\d+)(?::(\d+))?)?$")
MAX_EXPANDED_TASKS = 100_000
"""A pending array range larger than this is not expanded into task ids."""


def base_job_id(job_id: str) -> str:
    """The id sbatch printed for a task or component: ``4515_2``, ``4515_[3-9]``, ``4515+1`` -> ``4515``."""
    return re.split(r"[_+]", job_id, maxsplit=1)[0]


def is_part(job_id: str) -> bool:
    """Whether ``job_id`` names an array task (range) or a heterogeneous job component."""
    return "_" in job_id or "+" in job_id


def task_ids(job_id: str) -> list[str] | None:
    """The array task ids a (pending) range stands for: ``7_[1-3,5]`` -> 7_1, 7_2, 7_3, 7_5.

    A single task or component is itself; None when the range is unreadable
    or larger than :data:`MAX_EXPANDED_TASKS`.
    """
    base, sep, rest = job_id.partition("_")
    if not sep or not (rest.startswith("[") and rest.endswith("]")):
        return [job_id]
    spec = rest[1:-1].split("%", 1)[0]  # "%4" is the throttle, not a task
    found: list[str] = []
    for piece in spec.split(","):
        match = _RANGE.match(piece.strip())
        if match is None:
            return None
        first = int(match.group(1))
        last = int(match.group(2) or first)
        step = int(match.group(3) or 1)
        if last < first or step < 1 or len(found) + (last - first) // step >= MAX_EXPANDED_TASKS:
            return None
        found.extend(f"{base}_{number}" for number in range(first, last + 1, step))
    return found


def task_count(job_id: str) -> int:
    """How many tasks a line stands for (a pending range counts each of its tasks)."""
    ids = task_ids(job_id)
    return len(ids) if ids else 1


def _task_order(job_id: str) -> tuple[int, int, str]:
    digits = re.findall(r"\d+", job_id)
    first = int(digits[1]) if len(digits) > 1 else -1
    return (0 if "+" in job_id else 1, first, job_id)


def combine(job_id: str, parts: Sequence[JobInfo]) -> JobInfo:
    """One JobInfo for job ``job_id`` from the records of its tasks or components.

    A plain job (one record named ``job_id``) is returned as it is. Otherwise
    the job is RUNNING/PENDING while any task is; once all have ended it is
    COMPLETED with exit code 0:0 only if every task is, else it takes the
    state, exit code and reason of its first task that did not succeed.
    Times span the tasks (first start, last end); nodes are listed once each.
    """
    if len(parts) == 1 and parts[0].job_id == job_id and not parts[0].tasks:
        return parts[0]
    tasks = tuple(sorted(parts, key=lambda p: _task_order(p.job_id)))
    if not tasks:
        return JobInfo(job_id=job_id, state="UNKNOWN")
    waiting = [t for t in tasks if not t.finished]
    bad = [t for t in tasks if t.finished and not t.succeeded]
    if waiting:
        running = [t for t in waiting if t.state != "PENDING"]
        lead = (running or waiting)[0]
        state, exit_code, reason = lead.state, None, lead.reason
    elif bad:
        state, exit_code, reason = bad[0].state, bad[0].exit_code, bad[0].reason
    else:
        state, exit_code, reason = SUCCESS_STATE, SUCCESS_EXIT_CODE, None
    starts = sorted(t.start_time for t in tasks if t.start_time)
    ends = sorted(t.end_time for t in tasks if t.end_time)
    submits = [t for t in tasks if t.submit_time]
    first_submit = min(submits, key=lambda t: t.submit_epoch or 0.0) if submits else None
    nodes = sorted({n for t in tasks if t.node for n in t.node.split(",") if n})
    elapsed = max((t.elapsed for t in tasks if t.elapsed), key=_elapsed_seconds, default=None)
    names = {t.name for t in tasks if t.name and not t.unnamed}
    return JobInfo(
        job_id=job_id,
        state=state,
        exit_code=exit_code,
        elapsed=elapsed,
        node=",".join(nodes) or None,
        submit_time=first_submit.submit_time if first_submit else None,
        start_time=starts[0] if starts else None,
        end_time=ends[-1] if ends and not waiting else None,
        reason=reason,
        name=names.pop() if len(names) == 1 else None,
        submit_epoch=first_submit.submit_epoch if first_submit else None,
        raw_id=job_id,
        count=sum(t.count for t in tasks),
        unnamed=any(t.unnamed for t in tasks),
        tasks=tasks,
    )


def _elapsed_seconds(text: str) -> int:
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":") if p.isdigit()]
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds + (int(days) * 86400 if days.isdigit() else 0)


def records_of(info: JobInfo) -> list[JobInfo]:
    """Every single record behind ``info``: its tasks (or itself) and its ``others``."""
    own = list(info.tasks) if info.tasks else [info]
    return own + list(info.others)


def newest_per_task(records: Iterable[JobInfo]) -> list[JobInfo]:
    """One record per task id, the most recently submitted (a requeued run replaces the earlier)."""
    chosen: dict[str, JobInfo] = {}
    for record in records:
        seen = chosen.get(record.job_id)
        if seen is None or (record.submit_epoch or 0.0) >= (seen.submit_epoch or 0.0):
            chosen[record.job_id] = record
    return list(chosen.values())


@dataclass(frozen=True)
class Claim:
    """Which of the scheduler's records under a job id belong to one submission.

    ``job`` combines the submission's own records (None: the scheduler shows
    none). ``confirmed`` is False while one of them has no name yet, so it
    could still turn out to be another job's. ``reused_by`` is a record of a
    *different* job, submitted after this submission, that holds the same id:
    the scheduler can only have given the id again because it lost this job
    (a controller restarted without its saved state).
    """

    job: JobInfo | None
    confirmed: bool
    reused_by: JobInfo | None
    unnamed_in_window: bool = True


def claim(
    info: JobInfo | None,
    *,
    name: str | None,
    since: float | None,
    until: float | None,
) -> Claim:
    """Pick this submission's records out of what the scheduler holds under its id.

    A record is this submission's when its job name is ``name`` (or not known
    yet) and it was submitted at or after ``since`` (seconds since the epoch;
    older records are earlier jobs that had the id, such as a retried UoW's
    first run). A record with another name submitted after ``until`` (the
    latest this submission's own submit time can be) proves the id was handed
    out again. Records whose submit time is unknown are kept: better waited
    for than lost.
    """
    if info is None:
        return Claim(job=None, confirmed=False, reused_by=None)
    own: list[JobInfo] = []
    reused: JobInfo | None = None
    for record in records_of(info):
        epoch = record.submit_epoch
        if since is not None and epoch is not None and epoch < since:
            continue
        if name is None or record.name is None or record.unnamed or record.name == name:
            own.append(record)
        elif (
            until is not None
            and epoch is not None
            and epoch > until
            and (reused is None or epoch < (reused.submit_epoch or 0.0))
        ):
            reused = record
    if not own:
        return Claim(job=None, confirmed=False, reused_by=reused)
    job = combine(info.job_id, newest_per_task(own))
    unnamed = [r for r in own if r.unnamed]
    in_window = all(
        until is None or r.submit_epoch is None or r.submit_epoch <= until for r in unnamed
    )
    return Claim(
        job=job,
        confirmed=name is None or not unnamed,
        reused_by=reused,
        unnamed_in_window=in_window,
    )


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


SeenTasks = dict[str, "dict[str, Any] | None"]
"""What was seen of each task of a job: its facts once it ended, None before."""


def remembered_job(job_id: str, seen: Mapping[str, Mapping[str, Any] | None]) -> JobInfo | None:
    """The job as far as its tasks were seen (for the report of a job that vanished)."""
    if not seen:
        return None
    tasks = [
        JobInfo.from_dict(facts)
        if facts
        else JobInfo(job_id=task_id, state=OUTCOME_UNSEEN, reason=_UNSEEN_REASON)
        for task_id, facts in sorted(seen.items())
    ]
    return combine(job_id, tasks)


_UNSEEN_REASON = "the scheduler forgot this task before its end was seen"


def merge_seen_tasks(
    job: JobInfo, seen: Mapping[str, Mapping[str, Any] | None]
) -> tuple[JobInfo, SeenTasks]:
    """``job`` with the tasks the scheduler no longer shows filled in from ``seen``.

    Without accounting the controller forgets an array task ``MinJobAge``
    seconds after it ended, even while the other tasks run, so a failed task
    could otherwise drop out of the outcome. Returns the job with every task
    ever seen and the updated memory. A task that was seen queued or running
    and is now gone counts as :data:`OUTCOME_UNSEEN` (its end was never seen).
    A plain job is returned unchanged (and the memory with it).
    """
    if not job.tasks:
        return job, {key: dict(value) if value else None for key, value in seen.items()}
    memory: SeenTasks = {key: dict(value) if value else None for key, value in seen.items()}
    current = list(job.tasks)
    covered: set[str] = set()
    singles = [t for t in current if not t.job_id.endswith("]")]
    for line in current:
        if not line.job_id.endswith("]"):
            continue
        ids = task_ids(line.job_id) or []
        covered.update(ids)
        covered.add(line.job_id)
        for task_id in ids:
            memory[task_id] = (
                dict(line.to_dict(), job_id=task_id, count=1) if line.finished else None
            )
    for line in singles:
        covered.add(line.job_id)
        memory[line.job_id] = line.to_dict() if line.finished else None
    added: list[JobInfo] = []
    for task_id, facts in sorted(memory.items()):
        if task_id in covered:
            continue
        if facts is not None:
            added.append(JobInfo.from_dict(facts))
        else:
            added.append(JobInfo(job_id=task_id, state=OUTCOME_UNSEEN, reason=_UNSEEN_REASON))
    if not added:
        return job, memory
    merged = combine(job.job_id, [*current, *added])
    return merged, memory
