"""One agent at a time per instance: a local flock plus a cross-host lease.

Cron can start a tick while the previous one still runs, and a site may run
the agent from cron on several login nodes that share the instance's file
system. Two layers keep them apart:

* a non-blocking ``flock`` on ``CodeToRun/.agent.lock``: reliable between
  processes of one host, released by the kernel when the holder dies;
* a lease file ``CodeToRun/.agent.lease`` (host, pid, time, token), because
  ``flock`` is not reliably shared between hosts on network file systems. A
  lease from another host that was renewed within ``lease_timeout_seconds``
  means "busy"; an older one is stale (that agent died) and is taken over.
  A lease from this host is stale as soon as we hold the flock: its writer
  would still hold the flock if it were alive.

The lease is written to a temporary file and renamed, then read back: of two
hosts racing for a stale lease, the one whose token is not read back gives way.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.atomicio import write_text_atomic

LOCK_FILE: Final = ".agent.lock"
LEASE_FILE: Final = ".agent.lease"


@dataclass(frozen=True)
class Lease:
    """Who holds (or held) an instance: host, process id, last renewal time."""

    host: str
    pid: int
    time: float
    token: str

    def describe(self, now: float) -> str:
        """A short human description, e.g. ``login1 pid 4242, renewed 12 s ago``."""
        return f"{self.host} pid {self.pid}, renewed {max(0.0, now - self.time):.0f} s ago"


def read_lease(path: Path) -> Lease | None:
    """The lease in ``path``, or None when there is none or it is unreadable."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        return Lease(str(data["host"]), int(data["pid"]), float(data["time"]), str(data["token"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


class InstanceLock:
    """The lock of one instance; use :meth:`acquire` / :meth:`release` or ``with``.

    After a failed :meth:`acquire`, :attr:`holder` describes who holds it (when
    known). After a successful one, :attr:`took_over` is the stale lease that
    was replaced, if any, so the caller can log it.
    """

    def __init__(self, base_dir: Path, lease_timeout_seconds: float) -> None:
        area = base_dir / protocol.CODE_TO_RUN
        self.lock_path = area / LOCK_FILE
        self.lease_path = area / LEASE_FILE
        self.lease_timeout = lease_timeout_seconds
        self.host = socket.gethostname()
        self.holder: Lease | None = None
        self.took_over: Lease | None = None
        self._fd: int | None = None
        self._lease: Lease | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self, *, wait_seconds: float = 0.0, now: float | None = None) -> bool:
        """Try to take the lock; True on success, False when another agent has it.

        ``wait_seconds`` > 0 retries for that long (used by commands a person
        runs, and by the finalize job); the tick never waits.
        """
        deadline = time.monotonic() + wait_seconds
        while True:
            if self._try_acquire(time.time() if now is None else now):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def _try_acquire(self, now: float) -> bool:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o660)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self.holder = read_lease(self.lease_path)
            return False
        current = read_lease(self.lease_path)
        if (
            current is not None
            and current.host != self.host
            and now - current.time < self.lease_timeout
        ):
            self.holder = current
            _unlock(fd)
            return False
        lease = Lease(self.host, os.getpid(), now, uuid.uuid4().hex)
        self._write(lease)
        back = read_lease(self.lease_path)
        if back is None or back.token != lease.token:
            # Another host wrote its lease between our read and our write.
            self.holder = back
            _unlock(fd)
            return False
        self._fd = fd
        self._lease = lease
        self.took_over = current
        self.holder = None
        return True

    def renew(self, now: float | None = None) -> None:
        """Refresh the lease time during a long tick (cheap when recently renewed)."""
        if self._lease is None:
            return
        now = time.time() if now is None else now
        if now - self._lease.time < self.lease_timeout / 4:
            return
        lease = Lease(self._lease.host, self._lease.pid, now, self._lease.token)
        self._write(lease)
        self._lease = lease

    def release(self) -> None:
        """Give the lock back (removes our lease, unlocks the flock)."""
        if self._lease is not None:
            current = read_lease(self.lease_path)
            if current is not None and current.token == self._lease.token:
                with contextlib.suppress(FileNotFoundError):
                    self.lease_path.unlink()
            self._lease = None
        if self._fd is not None:
            _unlock(self._fd)
            self._fd = None

    def _write(self, lease: Lease) -> None:
        body = {"host": lease.host, "pid": lease.pid, "time": lease.time, "token": lease.token}
        write_text_atomic(self.lease_path, json.dumps(body, sort_keys=True) + "\n")

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
