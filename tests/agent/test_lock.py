"""The instance lock: one agent at a time, on one host and across hosts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from hpc_agent.loop.lock import InstanceLock, read_lease


def test_second_holder_on_the_same_host_is_refused(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path, 900)
    second = InstanceLock(tmp_path, 900)
    assert first.acquire()
    try:
        assert not second.acquire()
        assert second.holder is not None and second.holder.pid == first._lease.pid  # type: ignore[union-attr]
    finally:
        first.release()
    assert second.acquire()
    second.release()
    assert read_lease(second.lease_path) is None


def test_lock_held_by_another_process_is_refused_and_freed_when_it_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from hpc_agent.loop.lock import InstanceLock;"
            f"lock = InstanceLock(Path({str(tmp_path)!r}), 900); assert lock.acquire();"
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not InstanceLock(tmp_path, 900).acquire()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()  # an open pipe is a ResourceWarning, an error in the tests
    # kill -9: the kernel drops the flock, and a lease from this host is stale.
    lock = InstanceLock(tmp_path, 900)
    assert lock.acquire()
    assert lock.took_over is not None and lock.took_over.pid == holder.pid
    lock.release()


def _foreign_lease(lock: InstanceLock, age: float) -> None:
    lock.lease_path.parent.mkdir(parents=True, exist_ok=True)
    lock.lease_path.write_text(
        json.dumps({"host": "login2", "pid": 4242, "time": time.time() - age, "token": "x"})
    )


def test_fresh_lease_from_another_login_node_means_busy(tmp_path: Path) -> None:
    lock = InstanceLock(tmp_path, 900)
    _foreign_lease(lock, age=10)
    assert not lock.acquire()
    assert lock.holder is not None and lock.holder.host == "login2"
    assert "login2 pid 4242" in lock.holder.describe(time.time())


def test_stale_lease_from_another_login_node_is_taken_over(tmp_path: Path) -> None:
    lock = InstanceLock(tmp_path, 900)
    _foreign_lease(lock, age=901)
    assert lock.acquire()
    assert lock.took_over is not None and lock.took_over.host == "login2"
    current = read_lease(lock.lease_path)
    assert current is not None and current.host == lock.host
    lock.release()


def test_renew_moves_the_lease_time_forward(tmp_path: Path) -> None:
    lock = InstanceLock(tmp_path, 100)
    assert lock.acquire(now=1000.0)
    lock.renew(now=1010.0)  # recently renewed: no write
    assert read_lease(lock.lease_path).time == 1000.0  # type: ignore[union-attr]
    lock.renew(now=1050.0)
    assert read_lease(lock.lease_path).time == 1050.0  # type: ignore[union-attr]
    lock.release()


def test_acquire_can_wait_for_a_short_holder(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path, 900)
    assert first.acquire()
    import threading

    threading.Timer(0.5, first.release).start()
    started = time.monotonic()
    assert InstanceLock(tmp_path, 900).acquire(wait_seconds=5)
    assert time.monotonic() - started < 4
