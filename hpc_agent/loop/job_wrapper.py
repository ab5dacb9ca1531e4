# ruff: noqa: PTH104, PTH108, PTH116, PTH118, PTH119
# (bytes paths throughout: a UoW's name need not be valid UTF-8, and pathlib has no bytes paths)
"""The fast hand-back job wrapper: the code of the batch script the agent submits.

With ``fast_handback`` (the default) the agent does not submit the prepared
copy of the user's job script itself but a small Python script
(:mod:`hpc_agent.loop.fast_handback` writes it: interpreter line, the
script's ``#SBATCH`` header, this module's source, its settings, the script
itself). It must run with nothing but the standard library and without
``hpc_agent`` importable, so it imports nothing from the package. In the job it:

1. puts the user's script where Slurm put the batch script
   (``<SlurmdSpoolDir>/job<id>/slurm_script``: ``$0`` is the same as without
   the wrapper) and runs it with the same arguments, environment (the
   wrapper's own, as the kernel gave it: ``/proc/self/environ``, so nothing
   Python adds, such as a coerced ``LC_CTYPE``, reaches the script), file
   descriptors and working directory, in its own process group as slurmstepd
   would;
2. forwards every catchable termination signal (SIGTERM at a time limit or
   scancel, ``--signal=B:...``) to that process group and keeps waiting;
3. records how the script ended, durably (temporary file, fsync, rename):
   ``CodeToRun/.state/scripts/<uow>.ended.json``;
4. runs ``hpc-agent finalize BASE UOW``: at once and bounded
   (:data:`SYNC_SECONDS`) when the script failed (the record decides the
   failure), detached (new session, output to ``<uow>.ended.log``) when it
   succeeded, because only Slurm can confirm a success and it does so only
   once this wrapper has exited (see docs/agent.md "Fast hand-back");
5. ends exactly as the script did: the same exit code, or the same signal
   (sacct shows the script's own ``ExitCode``).

Crash points (``FLOWCRON_CRASH_AT``, see :mod:`hpc_agent.faults`; a job
inherits the submitting tick's environment) are checked here with the same
rule, by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from typing import Any

SYNC_SECONDS = 20.0
"""How long a failed job waits for its own hand-back before it ends anyway (the tick then)."""

FORWARDED = (
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGUSR1",
    "SIGUSR2",
    "SIGTERM",
    "SIGALRM",
    "SIGXCPU",
    "SIGCONT",
)
"""Signals passed on to the script's process group (SIGKILL and SIGSTOP cannot be caught)."""


def crash_point(name: str) -> None:
    """:func:`hpc_agent.faults.crash_point`, copied: the wrapper cannot import the package."""
    wanted = os.environ.get("FLOWCRON_CRASH_AT")
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)


def original_environ() -> dict[bytes, bytes] | None:
    """The environment this process was started with, as the kernel keeps it."""
    try:
        with open("/proc/self/environ", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    env: dict[bytes, bytes] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key and key not in env:
            env[key] = value
    return env


def place_script(script: bytes, fallback: bytes) -> bytes | None:
    """Write the user's script where Slurm put the batch script, so its ``$0`` is unchanged.

    Only inside a Slurm batch step (``slurm_script`` in slurmd's spool); this
    file was compiled whole before it ran, so replacing it (rename) is safe.
    Anywhere else, or if that fails, the script is written to a file of this
    job's own beside the agent's state (``<fallback><job id>.sh``: never a
    file the agent reads) and run from there; None when neither works.
    """
    me = os.fsencode(sys.argv[0])
    if os.path.basename(me) == b"slurm_script" and "SLURM_JOB_ID" in os.environ:
        try:
            mode = os.stat(me).st_mode & 0o7777
        except OSError:
            mode = 0o700
        directory, name = os.path.split(me)
        tmp = os.path.join(directory, b"." + name + b".flowcron.%d.part" % os.getpid())
        try:
            write_file(tmp, script, mode)
            os.rename(tmp, me)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            print(f"flowcron: cannot replace {me!r}: {exc}", file=sys.stderr, flush=True)
        else:
            return me
    own = fallback + os.fsencode(os.environ.get("SLURM_JOB_ID") or f"pid{os.getpid()}") + b".sh"
    try:
        write_file(own, script, 0o700)  # this job's alone: nobody else writes or reads it
    except OSError as exc:
        print(
            f"flowcron: cannot write the job script to {own!r}: {exc}", file=sys.stderr, flush=True
        )
        return None
    return own


def write_file(path: bytes, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode`` (created, or emptied first; never through a link)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o700)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        os.fchmod(out.fileno(), mode)


class Forwarder:
    """Signal handlers that pass each signal on to the script's process group."""

    def __init__(self) -> None:
        self.pgid: int | None = None
        self.pending: list[int] = []
        for name in FORWARDED:
            number = getattr(signal, name, None)
            # A signal the job was started with ignored stays ignored, for the script too.
            if number is not None and signal.getsignal(number) != signal.SIG_IGN:
                signal.signal(number, self.handle)

    def handle(self, number: int, _frame: object) -> None:
        if self.pgid is None:
            self.pending.append(number)
            return
        with contextlib.suppress(OSError):  # the group is gone already
            os.killpg(self.pgid, number)

    def started(self, pid: int) -> None:
        self.pgid = pid
        for number in self.pending:
            self.handle(number, None)
        self.pending.clear()


def run_script(target: bytes | None, env: dict[bytes, bytes] | None) -> int:
    """Run the script with this wrapper's arguments; its status (``-N``: killed by signal N)."""
    if target is None:
        return 126  # as a shell reports a script it cannot run; why is on stderr
    forwarder = Forwarder()
    argv = [target, *(os.fsencode(a) for a in sys.argv[1:])]
    try:
        child = subprocess.Popen(argv, env=env, close_fds=False, preexec_fn=os.setpgrp)  # noqa: PLW1509
    except OSError as exc:
        print(f"flowcron: cannot run the job script: {exc}", file=sys.stderr, flush=True)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    forwarder.started(child.pid)
    return child.wait()  # interrupted by a forwarded signal, the wait goes on (PEP 475)


def record_end(path: bytes, uow: str, status: int) -> None:
    """Write how the script ended, durably; a failure here only costs the fast path."""
    data: dict[str, Any] = {
        "uow": uow,
        "job_id": os.environ.get("SLURM_JOB_ID"),
        "exit_code": status if status >= 0 else None,
        "signal": -status if status < 0 else None,
        "ended_at": time.time(),
        "host": os.uname().nodename,
    }
    directory, name = os.path.split(path)
    # ".part", not ".tmp": a tick sweeps its own temporary files from this directory
    # at once, and this one is written from the job, without the instance lock.
    tmp = os.path.join(directory, b"." + name + b".%d.part" % os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write((json.dumps(data, sort_keys=True) + "\n").encode())
            out.flush()
            os.fsync(out.fileno())
        crash_point("mid-ended-record-write")
        os.rename(tmp, path)
        dir_fd = os.open(directory or b".", os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        print(f"flowcron: could not record the job's end: {exc}", file=sys.stderr, flush=True)


def hand_back(config: dict[str, Any], env: dict[bytes, bytes] | None, *, wait: bool) -> None:
    """Run ``hpc-agent finalize`` for this UoW: bounded here, or detached to outlive the job."""
    child_env = dict(env if env is not None else os.environb)
    if config["pythonpath"] is not None:  # None: the interpreter finds the agent unaided
        old = child_env.get(b"PYTHONPATH")
        child_env[b"PYTHONPATH"] = config["pythonpath"] + (b":" + old if old else b"")
    argv = list(config["finalize"])
    try:
        log = os.open(config["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        log = os.open(os.devnull, os.O_WRONLY)
    try:
        if wait:
            # Past the bound the tick hands it back; every finalize step is repeatable.
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env=child_env,
                    timeout=SYNC_SECONDS,
                    check=False,
                )
            return
        detach(argv, child_env, log)
    finally:
        os.close(log)


def detach(argv: list[bytes], env: dict[bytes, bytes], log: int) -> None:
    """Start ``argv`` in a new session, its parent gone at once (double fork)."""
    try:
        pid = os.fork()
    except OSError:
        return
    if pid:
        os.waitpid(pid, 0)
        return
    try:  # the child: fork again and leave, so the finalize has no parent in the job
        os.setsid()
        if os.fork() == 0:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            for number in range(1, signal.NSIG):
                with contextlib.suppress(OSError, ValueError):
                    signal.signal(number, signal.SIG_DFL)
            os.execve(argv[0], argv, env)
    finally:
        os._exit(0)


def end_like(status: int) -> None:
    """Exit with the script's status: its exit code, or death by its signal."""
    sys.stdout.flush()
    sys.stderr.flush()
    if status >= 0:
        os._exit(status)
    number = -status
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the script's core is the one that counts
    with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
        signal.signal(number, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [number])
    os.kill(os.getpid(), number)
    time.sleep(1)
    os._exit(128 + number)


def main(config: dict[str, Any]) -> None:
    """The whole job: run the script, record its end, start the hand-back, end as it did."""
    env = original_environ()
    target = place_script(config["script"], config["fallback"])
    status = run_script(target, env)
    if target is not None and target.startswith(config["fallback"]):
        with contextlib.suppress(OSError):
            os.unlink(target)
    crash_point("job-wrapper-before-record")
    # An array or heterogeneous job ends with its last task or component: the tick's to judge.
    several = any(
        k in os.environ for k in ("SLURM_ARRAY_JOB_ID", "SLURM_HET_SIZE", "SLURM_PACK_SIZE")
    )
    if not several:
        record_end(config["ended"], config["uow"], status)
        crash_point("job-wrapper-after-record")
        hand_back(config, env, wait=status != 0)
        crash_point("job-wrapper-after-handback")
    end_like(status)
