"""The ``local`` executor: a UoW's job script run on this machine, with a Slurm-like life.

For laptops, demos and CI without Slurm. Each job gets an increasing integer
id, runs detached from the agent (every cron tick is a new process, so the job
must outlive the one that submitted it) in its own session with the UoW as
working directory, writes its output where sbatch would, and ends in one of
Slurm's states with a Slurm exit code (``N:S``: exit status, signal):

- COMPLETED / FAILED from the script's exit status;
- TIMEOUT when ``#SBATCH --time`` (or ``-t``, read by
  :mod:`hpc_agent.executors.sbatch` as sbatch reads it) runs out; unlike Slurm, which
  rounds a limit up to whole minutes, the limit is kept to the second;
- CANCELLED after :meth:`LocalExecutor.cancel`;
- FAILED with reason ``NodeFail`` when the runner process died without
  recording an outcome (the machine restarted, or it was killed).

A job with ``--dependency=afterany:ID`` waits until job ID has ended.
Account, QoS and other sbatch options do not apply on one machine and are
ignored. State lives under ``state_dir``: ``jobs/<id>.spec.json`` (written at
submission) and ``jobs/<id>.json`` (written only by the job's runner process,
temp-then-rename). Nothing runs through a shell string: the script is started
with the interpreter its ``#!`` line names, as sbatch would
(``INTERPRETER [ARG] SCRIPT ARGS...``; bash when it has none).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpc_agent.executors.base import (
    ExecutorError,
    JobInfo,
    JobSpec,
    SchedulerUnavailable,
    SubmitRejected,
)
from hpc_agent.executors.sbatch import job_time_limit
from hpc_agent.fs.atomicio import write_text_atomic
from hpc_agent.invocation import module_command
from hpc_agent.uow.script_lint import shebang

KILL_WAIT = 2.0
"""Seconds between SIGTERM and SIGKILL when a job is cancelled or over its time limit."""

START_GRACE = 60.0
"""Seconds a submitted job may go without its runner reporting before it counts as failed."""

CANCEL_WAIT = 5.0
"""Seconds :meth:`LocalExecutor.cancel` waits for the job to record that it ended."""

POLL = 0.2
"""Seconds between checks while a job waits for its dependency."""

_FINAL_STATES = frozenset({"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED"})
_DEPENDENCY = re.compile(r"afterany((?::\d+)+)")


def script_command(script: Path) -> list[str]:
    """How the job script is started: through its ``#!`` line, as sbatch does.

    sbatch executes the script, so the kernel runs the interpreter its first
    line names (``python3`` for ``#!/usr/bin/env python3``); this does the
    same without needing the execute bit. Without a ``#!`` line (admission
    refuses those for Slurm) it falls back to bash.
    """
    try:
        with script.open("rb") as handle:
            first = handle.readline(4096).decode("utf-8", "replace")
    except OSError:
        first = ""
    interpreter = shebang(first.removeprefix("\ufeff").rstrip("\r\n"))
    return [*(interpreter or ["bash"]), str(script)]


def format_elapsed(seconds: float) -> str:
    """Seconds as Slurm's elapsed time, ``[D-]HH:MM:SS``."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def _stamp(epoch: float) -> str:
    """Local time as Slurm prints it (ISO 8601 without zone)."""
    return dt.datetime.fromtimestamp(epoch).strftime("%Y-%m-%dT%H:%M:%S")


def _name(spec: Mapping[str, Any]) -> str | None:
    """The job name a spec was submitted under (None for a spec without one)."""
    name = spec.get("name")
    return str(name) if name else None


def _output_path(pattern: str, workdir: Path, job_id: str, name: str) -> Path:
    """Slurm's filename pattern: ``%j`` job id, ``%x`` job name, ``%%`` a percent sign."""
    replacements = {"%%": "%", "%j": job_id, "%x": name}
    text = re.sub(r"%%|%j|%x", lambda match: replacements[match.group(0)], pattern)
    return workdir / text


# -- state files --------------------------------------------------------------


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Readers see the old record or the new one, never half of either."""
    write_text_atomic(path, json.dumps(data, sort_keys=True))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


RUNNER_MODULE = "hpc_agent.executors.local_runner"

JOB_PYTHONPATH_ENV = "FLOWCRON_JOB_PYTHONPATH"
"""The ``PYTHONPATH`` the job is to get, JSON (null: none), while the runner's own leads to the agent.

Without it a job's Python would import the agent (and the packages bundled
in ``hpc-agent.pyz``) ahead of the user's own, as no Slurm job does.
"""


def job_environment(runner_env: Mapping[str, str]) -> dict[str, str]:
    """The job's environment: the runner's, with the ``PYTHONPATH`` the agent had.

    >>> job_environment({"PYTHONPATH": "/a.pyz", JOB_PYTHONPATH_ENV: "null", "HOME": "/h"})
    {'HOME': '/h'}
    >>> job_environment({"PYTHONPATH": "/a.pyz:/u", JOB_PYTHONPATH_ENV: '"/u"'})["PYTHONPATH"]
    '/u'
    """
    env = dict(runner_env)
    saved = env.pop(JOB_PYTHONPATH_ENV, None)
    if saved is None:
        return env
    try:
        original = json.loads(saved)
    except ValueError:
        return env
    if isinstance(original, str):
        env["PYTHONPATH"] = original
    else:
        env.pop("PYTHONPATH", None)
    return env


"""The module a local job's runner process is started as (``python -m``)."""

# A runner is recognised by its module name in /proc/<pid>/cmdline. Runners
# started before the agent moved into sub-packages run as
# ``hpc_agent.local_executor``; an upgrade must not take them for dead.
_RUNNER_NAMES = (RUNNER_MODULE.encode(), b"hpc_agent.local_executor")


def _runner_alive(pid: int, job_id: str) -> bool:
    """Whether ``pid`` is still this job's runner (not a zombie, not a recycled pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True  # no /proc (macOS): trust the pid
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    # A zombie has an empty command line; a recycled pid runs something else.
    return job_id.encode() in args and any(name in args for name in _RUNNER_NAMES)


class _Jobs:
    """Paths of one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir
        self.dir = state_dir / "jobs"

    def spec(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.spec.json"

    def status(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.json"

    def cancel_mark(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.cancel"

    def runner_log(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.log"


# -- the executor ---------------------------------------------------------------


class LocalExecutor:
    """Runs UoW jobs on this machine; see the module docstring for the job life."""

    name = "local"

    def __init__(self, state_dir: Path) -> None:
        # Absolute: the runner starts in another working directory.
        self.state_dir = state_dir.absolute()
        self._jobs = _Jobs(self.state_dir)

    def ping(self) -> None:
        """This machine is the scheduler: it can take work when its state directory is usable."""
        try:
            self._jobs.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SchedulerUnavailable(
                f"the local executor cannot use {self._jobs.dir}: {exc.strerror}"
            ) from exc

    def submit(self, spec: JobSpec) -> str:
        """Start the job detached; return its id. Refuses what sbatch would refuse."""
        try:
            script_text = spec.script.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise SubmitRejected(f"Unable to open file {spec.script}: {exc.strerror}") from exc
        try:
            limit = job_time_limit(script_text, spec.extra)
        except ValueError as exc:
            raise SubmitRejected(f"Invalid --time specification: {exc}") from exc
        depends = self._dependencies(spec.dependency)
        self._jobs.dir.mkdir(parents=True, exist_ok=True)
        job_id = self._next_id()
        now = time.time()
        _write_json(
            self._jobs.spec(job_id),
            {
                "job_id": job_id,
                "name": spec.name,
                "script": str(spec.script),
                "workdir": str(spec.workdir),
                "stdout": str(_output_path(spec.stdout, spec.workdir, job_id, spec.name)),
                "stderr": str(_output_path(spec.stderr, spec.workdir, job_id, spec.name)),
                "args": list(spec.args),
                "comment": spec.comment,  # kept, like Slurm's, for people; never read
                "time_limit": limit,
                "dependency": depends,
                "submit_epoch": now,
            },
        )
        self._launch(job_id)
        return job_id

    def _dependencies(self, dependency: str | None) -> list[str]:
        if not dependency:
            return []
        match = _DEPENDENCY.fullmatch(dependency.strip())
        if match is None:
            raise SubmitRejected(
                f"Job dependency problem: the local executor understands only "
                f"afterany:ID[:ID...], not {dependency!r}"
            )
        ids = [part for part in match.group(1).split(":") if part]
        unknown = [job for job in ids if not self._jobs.spec(job).exists()]
        if unknown:
            raise SubmitRejected(f"Job dependency problem: unknown job {', '.join(unknown)}")
        return ids

    def _next_id(self) -> str:
        """The next job id, allocated under a lock so concurrent ticks never share one."""
        counter = self.state_dir / "next_job_id"
        with (self.state_dir / "jobs.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                text = counter.read_text().strip() if counter.exists() else ""
                job_id = int(text) if text.isdigit() else 1
                # Never reuse an id whose files exist, even if the counter was lost.
                while self._jobs.spec(str(job_id)).exists():
                    job_id += 1
                write_text_atomic(counter, f"{job_id + 1}\n")
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return str(job_id)

    def _launch(self, job_id: str) -> None:
        runner = module_command(RUNNER_MODULE, str(self.state_dir), job_id)
        # The runner forks once more and this first process exits at once, so the
        # job is re-parented away from the agent and never lingers as its zombie.
        # The runner's own errors (never the job's output) go to jobs/<id>.log.
        with self._jobs.runner_log(job_id).open("ab") as log:
            starter = subprocess.Popen(
                runner.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=str(self.state_dir),
                env={
                    **runner.env(),
                    JOB_PYTHONPATH_ENV: json.dumps(os.environ.get("PYTHONPATH")),
                },
                start_new_session=True,
            )
        if starter.wait(timeout=60) != 0:
            raise ExecutorError(f"could not start the local runner for job {job_id}")

    def query(self, job_ids: Sequence[str]) -> Mapping[str, JobInfo]:
        """Read each job's record; ids never submitted here are absent."""
        found: dict[str, JobInfo] = {}
        for job_id in dict.fromkeys(str(job) for job in job_ids):
            info = self._info(job_id)
            if info is not None:
                found[job_id] = info
        return found

    def _info(self, job_id: str) -> JobInfo | None:
        spec = _read_json(self._jobs.spec(job_id))
        if spec is None:
            return None
        status = _read_json(self._jobs.status(job_id))
        if status is None or status.get("state") not in _FINAL_STATES:
            pid = status.get("runner_pid") if status else None
            dead = (isinstance(pid, int) and not _runner_alive(pid, job_id)) or (
                status is None and time.time() - float(spec["submit_epoch"]) > START_GRACE
            )
            if dead:
                # The runner may have finished between the two reads; look again.
                status = _read_json(self._jobs.status(job_id))
                if status is None or status.get("state") not in _FINAL_STATES:
                    return self._lost(job_id, spec, status)
        status = status or {"state": "PENDING", "reason": "None"}
        return JobInfo(
            job_id=job_id,
            state=str(status["state"]),
            exit_code=status.get("exit_code"),
            elapsed=status.get("elapsed"),
            node=status.get("node"),
            submit_time=_stamp(float(spec["submit_epoch"])),
            start_time=status.get("start_time"),
            end_time=status.get("end_time"),
            reason=status.get("reason"),
            name=_name(spec),
            submit_epoch=float(spec["submit_epoch"]),
        )

    def _lost(
        self, job_id: str, spec: Mapping[str, Any], status: Mapping[str, Any] | None
    ) -> JobInfo:
        if self._jobs.cancel_mark(job_id).exists():
            # Cancelled before its runner could record anything.
            return JobInfo(
                job_id=job_id,
                state="CANCELLED",
                exit_code="0:15",
                submit_time=_stamp(float(spec["submit_epoch"])),
                reason="None",
                name=_name(spec),
                submit_epoch=float(spec["submit_epoch"]),
            )
        return JobInfo(
            job_id=job_id,
            state="FAILED",
            exit_code="0:0",
            node=(status or {}).get("node"),
            submit_time=_stamp(float(spec["submit_epoch"])),
            start_time=(status or {}).get("start_time"),
            reason=(
                "NodeFail: the local job runner ended without recording the job's outcome "
                "(the machine restarted or the process was killed)"
            ),
            name=_name(spec),
            submit_epoch=float(spec["submit_epoch"]),
        )

    def find_by_name(
        self, names: Sequence[str], *, submitted_after: float | None = None
    ) -> Mapping[str, str]:
        """Map each name to the newest job submitted here under it (at or after ``submitted_after``)."""
        wanted = set(names)
        found: dict[str, str] = {}
        if not self._jobs.dir.is_dir():
            return found
        for path in self._jobs.dir.glob("*.spec.json"):
            spec = _read_json(path)
            if spec is None or spec.get("name") not in wanted:
                continue
            if submitted_after is not None and float(spec["submit_epoch"]) < submitted_after:
                continue
            name, job_id = str(spec["name"]), str(spec["job_id"])
            if name not in found or int(job_id) > int(found[name]):
                found[name] = job_id
        return found

    def cancel(self, job_id: str) -> None:
        """Stop the job (CANCELLED); a job that already ended, or is unknown, is left alone.

        Waits up to :data:`CANCEL_WAIT` seconds for the job to record its end.
        """
        if not self._jobs.spec(job_id).exists():
            return
        status = _read_json(self._jobs.status(job_id))
        if status is not None and status.get("state") in _FINAL_STATES:
            return
        # The mark covers a runner that has not yet written its pid: it checks
        # the mark before starting the script.
        self._jobs.cancel_mark(job_id).touch()
        pid = status.get("runner_pid") if status else None
        if isinstance(pid, int) and _runner_alive(pid, job_id):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + CANCEL_WAIT
        while time.monotonic() < deadline:
            info = self._info(job_id)
            if info is None or info.finished:
                return
            time.sleep(0.05)


# -- the runner: one detached process per job ------------------------------------


class _Runner:
    """Runs one job to its end and records it; lives in its own session."""

    def __init__(self, state_dir: Path, job_id: str) -> None:
        self.jobs = _Jobs(state_dir)
        self.job_id = job_id
        spec = _read_json(self.jobs.spec(job_id))
        if spec is None:
            raise SystemExit(f"no job {job_id} in {state_dir}")
        self.spec = spec
        self.node = socket.gethostname().split(".")[0]
        self.proc: subprocess.Popen[bytes] | None = None
        self.cancelled = False
        self.start_epoch: float | None = None

    def record(self, state: str, **fields: Any) -> None:
        status: dict[str, Any] = {"state": state, "runner_pid": os.getpid(), "node": None}
        if self.start_epoch is not None:
            status["start_time"] = _stamp(self.start_epoch)
            status["node"] = self.node
        status.update(fields)
        _write_json(self.jobs.status(self.job_id), status)

    def finish(self, state: str, exit_code: str, reason: str) -> None:
        end = time.time()
        fields: dict[str, Any] = {"exit_code": exit_code, "reason": reason}
        fields["end_time"] = _stamp(end)
        fields["elapsed"] = format_elapsed(end - self.start_epoch if self.start_epoch else 0)
        self.record(state, **fields)

    def on_sigterm(self, _signum: int, _frame: object) -> None:
        # Only a flag: the wait loop stops the job, escalating to SIGKILL.
        self.cancelled = True

    def stop_job(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def wants_cancel(self) -> bool:
        return self.cancelled or self.jobs.cancel_mark(self.job_id).exists()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.on_sigterm)
        depends = [str(job) for job in self.spec.get("dependency") or []]
        self.record("PENDING", reason="Dependency" if depends else "None")
        while depends and not self.wants_cancel():
            ended = [
                (_read_json(self.jobs.status(job)) or {}).get("state") in _FINAL_STATES
                for job in depends
            ]
            if all(ended):
                break
            time.sleep(POLL)
        if self.wants_cancel():
            self.finish("CANCELLED", "0:0", "None")
            return
        self.start_epoch = time.time()
        try:
            self.proc = self.start()
        except OSError as exc:
            self.finish("FAILED", "1:0", f"could not start the job: {exc}")
            return
        # The job's process group, for whoever must clean up after a lost runner.
        self.record("RUNNING", reason="None", job_pgid=self.proc.pid)
        self.wait()

    def start(self) -> subprocess.Popen[bytes]:
        spec = self.spec
        workdir = Path(spec["workdir"])
        env = job_environment(os.environ)
        env.update(
            SLURM_JOB_ID=self.job_id,
            SLURM_JOBID=self.job_id,
            SLURM_JOB_NAME=str(spec["name"]),
            SLURM_SUBMIT_DIR=str(workdir),
            SLURM_JOB_NODELIST=self.node,
        )
        stdout_path, stderr_path = Path(spec["stdout"]), Path(spec["stderr"])
        with stdout_path.open("wb") as out:
            err = out if stderr_path == stdout_path else stderr_path.open("wb")
            try:
                return subprocess.Popen(
                    [*script_command(Path(spec["script"])), *[str(arg) for arg in spec["args"]]],
                    cwd=str(workdir),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=env,
                    start_new_session=True,
                )
            finally:
                if err is not out:
                    err.close()

    def wait(self) -> None:
        assert self.proc is not None and self.start_epoch is not None
        limit = self.spec.get("time_limit")
        deadline = None if limit is None else self.start_epoch + float(limit)
        ending: str | None = None  # why we stopped the job: "TIMEOUT" or "CANCELLED"
        kill_at = 0.0
        while True:
            now = time.time()
            if ending is None and self.wants_cancel():
                ending = "CANCELLED"
            elif ending is None and deadline is not None and now >= deadline:
                ending = "TIMEOUT"
            if ending is not None and not kill_at:
                self.stop_job(signal.SIGTERM)
                kill_at = now + KILL_WAIT
            elif kill_at and now >= kill_at:
                self.stop_job(signal.SIGKILL)
            step = POLL if deadline is None else min(POLL, max(0.01, deadline - now))
            try:
                returncode = self.proc.wait(timeout=step)
                break
            except subprocess.TimeoutExpired:
                continue
        if ending == "CANCELLED":
            # Nothing the job started in its session may survive a cancel.
            self.stop_job(signal.SIGKILL)
            self.finish("CANCELLED", "0:15", "None")
        elif ending == "TIMEOUT":
            self.finish("TIMEOUT", "0:15", "TimeLimit")
        elif returncode < 0:
            self.finish("FAILED", f"0:{-returncode}", "NonZeroExitCode")
        elif returncode == 0:
            self.finish("COMPLETED", "0:0", "None")
        else:
            self.finish("FAILED", f"{returncode}:0", "NonZeroExitCode")


def runner_main(argv: Sequence[str]) -> int:
    """``python -m hpc_agent.executors.local_runner STATE_DIR JOB_ID``: detach, then run the job."""
    state_dir, job_id = Path(argv[0]), argv[1]
    if os.fork() != 0:
        return 0  # the submitting agent waits only for this first process
    runner = _Runner(state_dir, job_id)
    try:
        runner.run()
    except BaseException as exc:
        # Whatever went wrong, the job must not stay RUNNING for ever.
        with contextlib.suppress(Exception):
            runner.finish("FAILED", "1:0", f"local runner error: {exc!r}")
        raise
    return 0
