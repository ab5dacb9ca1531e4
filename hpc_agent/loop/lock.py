"""One agent at a time per instance: a local flock plus a cross-host lease.

Cron can start a tick while the previous one still runs, and a site may run
the agent from cron on several login nodes that share the instance's file
system. Two layers keep them apart:

* a non-blocking ``flock`` on ``CodeToRun/.agent.lock``: reliable between
  processes of one host, released by the kernel when the holder dies. On a
  file system that refuses ``flock`` (ENOLCK, ENOSYS...), the lease alone is
  used;
* the lease, which alone keeps hosts apart, because ``flock`` is not shared
  reliably between hosts on network file systems (NFS mounted ``nolock`` or
  ``local_lock``, some parallel file systems).

The lease is a chain of immutable files ``CodeToRun/.agent.lease.<n>``, each
holding host, pid, time and token (or a "released" marker). The highest ``n``
present is the current lease. Every change (taking a free or stale lease,
renewing it, releasing it) creates generation ``n + 1`` exclusively: the
content is written to a private temporary file, which is then hard-linked to
the new name. ``link`` fails with EEXIST when the name exists, and the NFS
server decides that atomically on every NFS version; after any error the
temporary file's link count says whether the link was made (a retried NFS
request can report EEXIST for its own success), as open(2) advises for
O_EXCL on old NFS. So of two agents that both read generation ``n``, exactly
one creates ``n + 1``: the other learns that it lost, and nothing is ever
overwritten. Renewal being such a creation too, a host can never renew over
a lease that another host has taken, and a host that lost its lease finds
out at its next renewal (:class:`LeaseLost`).

After each creation the creator lists the directory again: a higher
generation means its view was out of date (it paused while older
generations were cleaned up, so the name it created was free again), and it
gives way. The creator of the newest generation deletes all but the last
two.

A lease is fresh while its time is less than ``lease_timeout_seconds`` from
now, in the past or in the future. An older one is stale (its agent died,
or paused too long); one dated further ahead is not trusted (a host's clock
is wrong), so no lease blocks others for more than twice the timeout after
it was written. A lease from this host is stale as soon as we hold the flock:
its writer would still hold the flock if it were alive. Clocks of the hosts
must agree within a small part of the timeout (NTP does), and a step of the
tick must take less than three quarters of it: the holder renews at most
every quarter of the timeout, and others take over only after a whole one.

A plain ``CodeToRun/.agent.lease`` file, as agents before the chain wrote,
counts as generation 0 until the first generation is created.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import math
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.errors import AgentError
from hpc_agent.exitcodes import ExitCode

LOCK_FILE: Final = ".agent.lock"
LEASE_FILE: Final = ".agent.lease"
"""The lease's name; generation ``n`` is ``.agent.lease.<n>`` next to it."""

KEEP_GENERATIONS: Final = 2
"""Lease files kept: the newest and the one before it (the others are deleted)."""
RENEW_FRACTION: Final = 0.25
"""A lease is renewed once this fraction of the timeout has passed since the last renewal."""

_GENERATION = re.compile(re.escape(LEASE_FILE) + r"\.([0-9]{1,18})")
_TEMP_SUFFIX = ".tmp"
_VIEW_ATTEMPTS = 5
_FLOCK_UNSUPPORTED = frozenset(
    {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL}
)
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})


@dataclass(frozen=True)
class Lease:
    """Who holds (or held) an instance: host, process id, last renewal time.

    ``generation`` is the lease file's number; an empty ``token`` marks a lease
    file that could not be read (its ``time`` is then the file's mtime).
    """

    host: str
    pid: int
    time: float
    token: str
    generation: int = 0

    def describe(self, now: float) -> str:
        """A short human description, e.g. ``login1 pid 4242, renewed 12 s ago``."""
        age = now - self.time
        if not self.token:
            return f"an unreadable lease file, written {max(0.0, age):.0f} s ago"
        if age < -1:
            return f"{self.host} pid {self.pid}, dated {-age:.0f} s in the future"
        return f"{self.host} pid {self.pid}, renewed {max(0.0, age):.0f} s ago"


class LeaseLost(AgentError):
    """Another agent holds the lease now, or it could not be renewed: stop at once.

    Raised by :meth:`InstanceLock.renew`, so that an agent that lost the lease
    makes no further change. ``holder`` is the lease that replaced ours, when
    known. A tick that loses its lease exits 1.
    """

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, holder: Lease | None = None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class _View:
    """The current lease as found on disk."""

    generation: int
    """The highest generation present (0: none, or only a plain legacy file)."""
    lease: Lease | None
    """Its lease; None when there is none or it was released (the instance is free)."""


def read_lease(path: Path) -> Lease | None:
    """The current lease of the lease at ``path``, or None when free or unreadable.

    ``path`` is ``CodeToRun/.agent.lease`` (:attr:`InstanceLock.lease_path`);
    the current lease is its highest generation.
    """
    lease = _read_view(path).lease
    return lease if lease is not None and lease.token else None


def _read_view(lease_path: Path) -> _View:
    area = lease_path.parent
    generation = 0
    for _ in range(_VIEW_ATTEMPTS):
        generations = _generations(area)
        generation = generations[-1] if generations else 0
        path = _generation_path(lease_path, generation) if generation else lease_path
        try:
            return _View(generation, _load(path, generation))
        except FileNotFoundError:
            if not generations:
                return _View(0, None)
            # Deleted while we looked, by the clean-up after a newer generation.
    # The chain moved on under us every time: someone is busy with it.
    return _View(generation, Lease("unknown", 0, time.time(), "", generation))


def _generations(area: Path) -> list[int]:
    try:
        with os.scandir(area) as entries:
            return sorted(int(m.group(1)) for e in entries if (m := _GENERATION.fullmatch(e.name)))
    except FileNotFoundError:
        return []


def _generation_path(lease_path: Path, generation: int) -> Path:
    return lease_path.with_name(f"{LEASE_FILE}.{generation}")


def _load(path: Path, generation: int) -> Lease | None:
    """The lease in one file (None for a released marker); FileNotFoundError when gone."""
    try:
        data: Any = json.loads(path.read_bytes())
        if data.get("released") is True:
            return None
        lease = Lease(
            str(data["host"]), int(data["pid"]), float(data["time"]), str(data["token"]), generation
        )
        if math.isfinite(lease.time) and lease.token:
            return lease
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    # Damaged, unreadable, or half written (only where hard links are missing):
    # held since its mtime, so it blocks others for one lease timeout at most.
    return Lease("unknown", 0, path.lstat().st_mtime, "", generation)


class InstanceLock:
    """The lock of one instance; use :meth:`acquire` / :meth:`release` or ``with``.

    After a failed :meth:`acquire`, :attr:`holder` describes who holds it (when
    known). After a successful one, :attr:`took_over` is the stale lease that
    was replaced, if any, so the caller can log it. During a long piece of
    work, call :meth:`renew` before each change it makes.
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
        self._flocked = False
        self._lease: Lease | None = None
        self._renewed_at = 0.0
        # Once lost, lost for good: every later renew() raises again, so no thread
        # of the tick goes on after another thread learned of the loss.
        self._loss: LeaseLost | None = None

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
        self.took_over = None
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o660)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._flocked = True
        except BlockingIOError:
            os.close(fd)
            self.holder = read_lease(self.lease_path)
            return False
        except OSError as exc:
            if exc.errno not in _FLOCK_UNSUPPORTED:
                os.close(fd)
                raise
            self._flocked = False  # no flock on this file system: the lease alone
        try:
            lease = self._take(now)
        except BaseException:
            _unlock(fd)
            raise
        if lease is None:
            _unlock(fd)
            return False
        self._fd = fd
        self._lease = lease
        self._renewed_at = time.monotonic()
        self.holder = None
        return True

    def _take(self, now: float) -> Lease | None:
        """Create the next generation if the current lease is free or stale."""
        token = uuid.uuid4().hex
        for _ in range(_VIEW_ATTEMPTS):
            view = _read_view(self.lease_path)
            current = view.lease
            if current is not None and not self._stale(current, now):
                self.holder = current
                return None
            lease = Lease(self.host, os.getpid(), now, token, view.generation + 1)
            if self._publish(lease.generation, _body(lease)):
                newer = self._settle(lease.generation)
                if newer is not None:
                    self.holder = newer.lease
                    return None
                self.took_over = current
                return lease
            # Another agent created that generation first: look again.
        self.holder = _read_view(self.lease_path).lease
        return None

    def _stale(self, lease: Lease, now: float) -> bool:
        if lease.host == self.host and lease.token:
            if self._flocked:
                return True  # its writer would still hold the flock if it were alive
            if not _alive(lease.pid):
                return True
        age = now - lease.time
        return age >= self.lease_timeout or age <= -self.lease_timeout

    def renew(self, now: float | None = None) -> None:
        """Refresh the lease during a long tick; raise :class:`LeaseLost` if it was lost.

        Cheap when renewed less than a quarter of the lease timeout ago (by the
        wall clock and by the monotonic one). Otherwise it checks that the
        current lease is still ours, then creates the next generation, which
        fails if another agent took the lease in between: it never writes over
        another agent's lease. An I/O error while renewing also raises
        :class:`LeaseLost`: without a renewed lease, going on is not safe.
        """
        if self._loss is not None:
            raise self._loss
        ours = self._lease
        if ours is None:
            return
        now = time.time() if now is None else now
        step = self.lease_timeout * RENEW_FRACTION
        if now - ours.time < step and time.monotonic() - self._renewed_at < step:
            return
        lease = dataclasses.replace(ours, time=now, generation=ours.generation + 1)
        try:
            view = _read_view(self.lease_path)
            if view.generation != ours.generation or view.lease != ours:
                raise self._lost(view, now)
            if not self._publish(lease.generation, _body(lease)):
                raise self._lost(_read_view(self.lease_path), now)
            self._lease = lease
            newer = self._settle(lease.generation)
            if newer is not None:
                raise self._lost(newer, now)
        except OSError as exc:
            self._loss = LeaseLost(
                f"could not renew the lease ({exc}); stopping, as another agent may take "
                "the instance over"
            )
            raise self._loss from exc
        self._renewed_at = time.monotonic()

    def _lost(self, view: _View, now: float) -> LeaseLost:
        self._lease = None  # not ours any more: release must not touch it
        holder = view.lease
        if holder is not None:
            who = holder.describe(now)
        elif view.generation:
            who = "another agent, which has released it since"
        else:
            who = "nobody: the lease files were removed"
        self._loss = LeaseLost(f"the lease of this instance was taken over by {who}", holder)
        return self._loss

    def release(self) -> None:
        """Give the lock back: mark our lease released (only if still ours), unlock the flock.

        Best effort: when the file system fails here, the lease expires by
        itself after the lease timeout (at once for this host's next agent).
        """
        ours, self._lease = self._lease, None
        if ours is not None:
            with contextlib.suppress(OSError):
                view = _read_view(self.lease_path)
                if view.generation == ours.generation and view.lease == ours:
                    marker = {**_body(ours), "time": time.time(), "released": True}
                    if self._publish(ours.generation + 1, marker):
                        self._settle(ours.generation + 1)
        if self._fd is not None:
            _unlock(self._fd)
            self._fd = None

    def _publish(self, generation: int, body: dict[str, Any]) -> bool:
        """Create lease generation ``generation`` with ``body``; False when it exists."""
        target = _generation_path(self.lease_path, generation)
        data = (json.dumps(body, sort_keys=True) + "\n").encode("utf-8")
        tmp = self.lease_path.with_name(f"{LEASE_FILE}.{uuid.uuid4().hex}{_TEMP_SUFFIX}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, target)
            except OSError as exc:
                if tmp.stat().st_nlink == 2:
                    return True  # the link was made; only its reply was lost (NFS retry)
                if exc.errno == errno.EEXIST:
                    return False
                if exc.errno in _NO_HARD_LINKS:
                    return _create_exclusive(target, data)
                raise
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def _settle(self, generation: int) -> _View | None:
        """After creating ``generation``: None when it is the newest, else the newer lease.

        The newest one's creator deletes older generations (all but
        :data:`KEEP_GENERATIONS`), a plain legacy lease file, and temporary
        files a crash left; a generation that turns out not to be the newest
        is deleted by its creator.
        """
        generations = _generations(self.lease_path.parent)
        if generations and generations[-1] > generation:
            _generation_path(self.lease_path, generation).unlink(missing_ok=True)
            return _read_view(self.lease_path)
        for old in generations:
            if old <= generation - KEEP_GENERATIONS:
                _generation_path(self.lease_path, old).unlink(missing_ok=True)
        self.lease_path.unlink(missing_ok=True)
        self._remove_stale_temporaries()
        return None

    def _remove_stale_temporaries(self) -> None:
        # Only those older than a lease timeout: a younger one may be another
        # agent's, between its write and its link.
        prefix = LEASE_FILE + "."
        cutoff = time.time() - self.lease_timeout
        with os.scandir(self.lease_path.parent) as entries:
            stray = [
                Path(e.path)
                for e in entries
                if e.name.startswith(prefix) and e.name.endswith(_TEMP_SUFFIX)
            ]
        for path in stray:
            with contextlib.suppress(FileNotFoundError):
                if path.lstat().st_mtime < cutoff:
                    path.unlink()

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _body(lease: Lease) -> dict[str, Any]:
    return {"host": lease.host, "pid": lease.pid, "time": lease.time, "token": lease.token}


def _create_exclusive(target: Path, data: bytes) -> bool:
    """O_EXCL creation, where the file system has no hard links (atomic on NFSv3 and later)."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, under another account
    return True


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
