"""An in-memory Executor test double for the reconcile tests (no Slurm needed)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from hpc_agent.executors.base import JobInfo, JobSpec, SchedulerUnavailable, SubmitRejected


class FakeExecutor:
    """Records every call; jobs stay PENDING until a test ends them with :meth:`finish`."""

    name = "fake"

    def __init__(self) -> None:
        self.jobs: dict[str, JobInfo] = {}
        self.by_name: dict[str, str] = {}
        self.specs: list[JobSpec] = []
        self.calls: list[str] = []
        self.name_lookups: list[float | None] = []
        self.down = False
        self.reject_message: str | None = None
        self._next = 1000
        self._submit_lock = threading.Lock()
        """The tick runs sbatch from several threads (``submit_workers``)."""

    def ping(self) -> None:
        self.calls.append("ping")
        if self.down:
            raise SchedulerUnavailable("Unable to contact slurm controller (connect failure)")

    def submit(self, spec: JobSpec) -> str:
        with self._submit_lock:
            return self._submit(spec)

    def _submit(self, spec: JobSpec) -> str:
        self.calls.append("submit")
        if self.down:
            raise SchedulerUnavailable("slurm_load_jobs error: Unable to contact slurm controller")
        if self.reject_message is not None:
            raise SubmitRejected(self.reject_message)
        self._next += 1
        job_id = str(self._next)
        self.jobs[job_id] = JobInfo(job_id=job_id, state="PENDING")
        self.by_name[spec.name] = job_id
        self.specs.append(spec)
        return job_id

    def query(self, job_ids: Sequence[str]) -> Mapping[str, JobInfo]:
        self.calls.append("query")
        if self.down:
            raise SchedulerUnavailable("Unable to contact slurm controller")
        return {i: self.jobs[i] for i in job_ids if i in self.jobs}

    def find_by_name(
        self, names: Sequence[str], *, submitted_after: float | None = None
    ) -> Mapping[str, str]:
        self.calls.append("find_by_name")
        self.name_lookups.append(submitted_after)
        if self.down:
            raise SchedulerUnavailable("Unable to contact slurm controller")
        return {n: self.by_name[n] for n in names if n in self.by_name}

    def cancel(self, job_id: str) -> None:
        self.calls.append("cancel")
        if job_id in self.jobs and not self.jobs[job_id].finished:
            self.finish(job_id, "CANCELLED", "0:15")

    def finish(self, job_id: str, state: str = "COMPLETED", exit_code: str = "0:0") -> None:
        """End a job as the scheduler would report it."""
        self.jobs[job_id] = JobInfo(
            job_id=job_id,
            state=state,
            exit_code=exit_code,
            elapsed="00:00:01",
            node="node1",
            submit_time="2026-01-01T00:00:00",
            start_time="2026-01-01T00:00:01",
            end_time="2026-01-01T00:00:02",
        )

    def forget(self, job_id: str) -> None:
        """The scheduler no longer knows the job."""
        self.jobs.pop(job_id, None)
