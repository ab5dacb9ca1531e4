"""The lease alone keeps agents on different hosts apart, with no help from flock (issue 9).

Two "hosts" are two processes (or two lock objects) whose host names differ,
with ``flock`` turned into a no-op in :mod:`hpc_agent.loop.lock` only, as on a
file system whose flock is not shared between login nodes.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
import types
import uuid
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.executors.base import JobSpec
from hpc_agent.exitcodes import EXIT_FAILED
from hpc_agent.loop import lock as lockmod
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.lock import InstanceLock, LeaseLost, read_lease
from hpc_agent.loop.tick import Reconciler, tick
from hpc_agent.site import doctor
from hpc_agent.uow.record import job_name
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow

T = 100.0  # lease timeout of the lock-level tests
ROUNDS = 200
BARRIER_TIMEOUT = 120.0

NO_FLOCK = types.SimpleNamespace(
    flock=lambda fd, op: None,
    LOCK_EX=fcntl.LOCK_EX,
    LOCK_NB=fcntl.LOCK_NB,
    LOCK_UN=fcntl.LOCK_UN,
)
"""Stands in for :mod:`fcntl` in :mod:`hpc_agent.loop.lock`: every flock "succeeds"."""


@pytest.fixture
def no_flock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lockmod, "fcntl", NO_FLOCK)


def on_host(base: Path, host: str, timeout: float = T) -> InstanceLock:
    lock = InstanceLock(base, timeout)
    lock.host = host
    return lock


def generations(base: Path) -> list[str]:
    area = base / protocol.CODE_TO_RUN
    return sorted(p.name for p in area.iterdir() if p.name.startswith(lockmod.LEASE_FILE))


@pytest.fixture
def after_first_lease_read(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], None]], None]:
    """Run an action (another host's move) just after the next read of a lease file returns.

    This is the race window between checking a lease and acting on it.
    """

    def arm(action: Callable[[], None]) -> None:
        state = {"armed": True}
        read_text, read_bytes = Path.read_text, Path.read_bytes

        def fire(path: Path) -> None:
            if state["armed"] and path.name.startswith(lockmod.LEASE_FILE):
                state["armed"] = False
                action()

        def text(self: Path, *args: Any, **kwargs: Any) -> str:
            data = read_text(self, *args, **kwargs)
            fire(self)
            return data

        def raw(self: Path) -> bytes:
            data = read_bytes(self)
            fire(self)
            return data

        monkeypatch.setattr(Path, "read_text", text)
        monkeypatch.setattr(Path, "read_bytes", raw)

    return arm


# -- (1) two hosts, 200 simultaneous rounds ------------------------------------------


def _become(host: str) -> None:
    """In a child process: this process is ``host`` and its instance lock has no flock."""
    socket.gethostname = lambda: host
    lockmod.fcntl = NO_FLOCK  # type: ignore[attr-defined,assignment]


def _lease_rounds(base: str, host: str, barrier: Barrier, results: Any) -> None:
    _become(host)
    held: list[bool] = []
    start = time.time()
    for number in range(ROUNDS):
        # Each round is 3 timeouts after the last, so a lease left over is stale.
        now = start + number * 3 * T
        lock = InstanceLock(Path(base), T)
        barrier.wait(BARRIER_TIMEOUT)
        got = lock.acquire(now=now)
        held.append(got)
        barrier.wait(BARRIER_TIMEOUT)  # both have tried; the parent looks at the lease
        barrier.wait(BARRIER_TIMEOUT)
        if got and number % 2 == 0:
            lock.release()
        # In odd rounds the holder "dies" holding the lease: the next round's
        # two hosts race to take over a stale lease instead of a free one.
        barrier.wait(BARRIER_TIMEOUT)
    results.put((host, held))


def test_two_hosts_without_flock_never_both_hold_the_lease(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(3)
    results = ctx.Queue()
    hosts = ("login1", "login2")
    procs = [
        ctx.Process(target=_lease_rounds, args=(str(tmp_path), host, barrier, results))
        for host in hosts
    ]
    for proc in procs:
        proc.start()
    seen: list[str | None] = []
    try:
        for _ in range(ROUNDS):
            barrier.wait(BARRIER_TIMEOUT)
            barrier.wait(BARRIER_TIMEOUT)
            current = read_lease(tmp_path / protocol.CODE_TO_RUN / lockmod.LEASE_FILE)
            seen.append(current.host if current else None)
            barrier.wait(BARRIER_TIMEOUT)
            barrier.wait(BARRIER_TIMEOUT)
        held = dict(results.get(timeout=60) for _ in hosts)
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    both = sum(a and b for a, b in zip(held["login1"], held["login2"], strict=True))
    neither = sum(not a and not b for a, b in zip(held["login1"], held["login2"], strict=True))
    winners = ["login1" if a else "login2" for a in held["login1"]]
    print(
        f"\n{ROUNDS} rounds: login1 won {held['login1'].count(True)}, login2 won "
        f"{held['login2'].count(True)}, both held {both}, neither {neither}"
    )
    assert both == 0
    assert neither == 0
    assert seen == winners  # the lease on disk names the one that thinks it holds it
    assert len(generations(tmp_path)) <= lockmod.KEEP_GENERATIONS


def _tick_rounds(
    cfg: InstanceConfig, host: str, rounds: int, barrier: Barrier, results: Any
) -> None:
    _become(host)
    runs: list[tuple[float, float]] = []
    original = Reconciler.run

    def timed(self: Reconciler) -> Any:
        # Reconciler.run is the whole time the lease is held and work is done.
        started = time.monotonic()
        try:
            return original(self)
        finally:
            runs.append((started, time.monotonic()))

    Reconciler.run = timed  # type: ignore[method-assign]
    codes: list[int] = []
    for _ in range(rounds):
        barrier.wait(BARRIER_TIMEOUT)
        try:
            codes.append(tick(cfg).exit_code)
        except Exception:  # a crashed tick counts (-1); the rounds go on
            codes.append(-1)
        barrier.wait(BARRIER_TIMEOUT)
    results.put((host, runs, codes))


def _spec_names(cfg: InstanceConfig) -> list[str]:
    jobs = cfg.base_dir / protocol.CODE_TO_RUN / ".state" / "executor" / "jobs"
    return [json.loads(p.read_text())["name"] for p in jobs.glob("*.spec.json")]


@pytest.mark.slow
def test_two_hosts_ticking_together_never_submit_twice_or_fail_a_uow(
    cfg: InstanceConfig,
) -> None:
    inst = replace(cfg, executor="local")
    for directory in protocol.INSTANCE_DIRS:
        inst.path(directory).mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(3)
    results = ctx.Queue()
    hosts = ("login1", "login2")
    procs = [
        ctx.Process(target=_tick_rounds, args=(inst, host, ROUNDS, barrier, results))
        for host in hosts
    ]
    for proc in procs:
        proc.start()
    names = [f"r{number:03d}_{uuid.uuid4()}" for number in range(ROUNDS)]
    try:
        for name in names:
            # A UoW waits in UploadedFiles/ each round, while earlier ones run or end.
            make_uow(inst.path(protocol.UPLOADED), name)
            barrier.wait(BARRIER_TIMEOUT)
            barrier.wait(BARRIER_TIMEOUT)
        got = {
            host: (runs, codes) for host, runs, codes in (results.get(timeout=60) for _ in hosts)
        }
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    # Let the last jobs end, then finish them from this (ordinary) host.
    deadline = time.monotonic() + 120
    analysed = inst.path(protocol.ANALYSED)
    while len(list(analysed.iterdir())) < ROUNDS and time.monotonic() < deadline:
        tick(inst)
        time.sleep(0.2)

    spans = sorted((start, end) for runs, _ in got.values() for start, end in runs)
    overlaps, busy_until = 0, 0.0
    for start, end in spans:
        overlaps += start < busy_until
        busy_until = max(busy_until, end)
    submitted = _spec_names(inst)
    duplicates = len(submitted) - len(set(submitted))
    failed = sorted(p.name for p in inst.path(protocol.FAILED).iterdir())
    events = list(read_events(inst.path(protocol.LOGS)))
    print(
        f"\n{ROUNDS} rounds of two ticks: login1 ran {len(got['login1'][0])}, login2 ran "
        f"{len(got['login2'][0])}, overlapping runs {overlaps}, jobs {len(submitted)}, "
        f"duplicate submissions {duplicates}, FailedJobs {len(failed)}, crashed ticks "
        f"{sum(code == -1 for _, codes in got.values() for code in codes)}"
    )
    assert overlaps == 0
    assert duplicates == 0
    assert failed == []
    assert sorted(submitted) == sorted(job_name(inst.name, name) for name in names)
    assert sorted(p.name for p in analysed.iterdir()) == sorted(names)
    assert all(code == 0 for _, codes in got.values() for code in codes)
    assert not [e for e in events if e["level"] == "error"]


# -- (2) the long tick: paused past the timeout, another host took over ---------------


class Clock:
    """A wall clock and a monotonic clock that a test moves forward (a pause)."""

    def __init__(self) -> None:
        self.now = time.time()
        self.mono = 0.0

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds

    def module(self) -> types.SimpleNamespace:
        return types.SimpleNamespace(
            time=lambda: self.now, monotonic=lambda: self.mono, sleep=time.sleep
        )


class PausingExecutor(FakeExecutor):
    """Pauses the tick (moves the clock past the lease timeout) at one call, once."""

    def __init__(self, at: str, pause: Callable[[], None]) -> None:
        super().__init__()
        self.at = at
        self.pause = pause

    def _maybe_pause(self, call: str) -> None:
        if call == self.at:
            self.at = ""
            self.pause()

    def ping(self) -> None:
        super().ping()
        self._maybe_pause("ping")

    def submit(self, spec: JobSpec) -> str:
        job_id = super().submit(spec)
        self._maybe_pause("submit")
        return job_id


@pytest.mark.parametrize("at", ["ping", "submit"])
def test_a_tick_that_lost_the_lease_stops_before_its_next_side_effect(
    cfg: InstanceConfig, monkeypatch: pytest.MonkeyPatch, no_flock: None, at: str
) -> None:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    first, second = "a_" + str(uuid.uuid4()), "b_" + str(uuid.uuid4())
    for name in (first, second):
        make_uow(cfg.path(protocol.UPLOADED), name)
    clock = Clock()
    monkeypatch.setattr(lockmod, "time", clock.module())
    other = on_host(cfg.base_dir, "login2", cfg.lease_timeout_seconds)

    def pause() -> None:
        # This tick hangs for longer than the lease timeout; meanwhile login2's
        # tick finds the lease stale and takes the instance over.
        clock.advance(cfg.lease_timeout_seconds + 5)
        assert other.acquire(now=clock.now)

    fake = PausingExecutor(at, pause)
    # One submission at a time: with submit_workers > 1 the ones already under way
    # when the lease is lost finish too (docs/agent.md, "Crash safety").
    result = tick(dataclasses.replace(cfg, submit_workers=1), fake, now=clock.now)

    assert result.exit_code == EXIT_FAILED and "lease lost" in result.message
    lost = [e for e in read_events(cfg.path(protocol.LOGS)) if e["event"] == "lease-lost"]
    assert len(lost) == 1 and lost[0]["level"] == "error" and lost[0]["holder"] == "login2"
    assert "login2" in lost[0]["message"]
    if at == "ping":
        # Nothing moved: both uploads still wait, no record, no job.
        assert fake.specs == []
        assert sorted(p.name for p in cfg.path(protocol.UPLOADED).iterdir()) == [first, second]
        assert not list((cfg.base_dir / protocol.CODE_TO_RUN / ".state" / "jobs").glob("*"))
    else:
        # The submission under way ends; the next one is never made.
        assert [spec.name for spec in fake.specs] == [job_name(cfg.name, first)]
    # The loser's release left the winner's lease alone.
    current = read_lease(other.lease_path)
    assert current is not None and current.host == "login2"
    other.renew(now=clock.now + cfg.lease_timeout_seconds / 2)
    other.release()


# -- (3) renew never overwrites another host's lease -----------------------------------


def test_renew_after_a_takeover_raises_and_keeps_the_new_lease(
    tmp_path: Path, no_flock: None
) -> None:
    mine = on_host(tmp_path, "login1")
    theirs = on_host(tmp_path, "login2")
    assert mine.acquire(now=1000.0)
    assert theirs.acquire(now=1000.0 + T + 1)  # ours went stale: taken over
    before = read_lease(mine.lease_path)
    with pytest.raises(LeaseLost, match="login2") as caught:
        mine.renew(now=1000.0 + T + 2)
    assert caught.value.holder is not None and caught.value.holder.host == "login2"
    assert read_lease(mine.lease_path) == before
    # Lost for good: another thread of the same tick renewing a moment later must not
    # be told all is well (it would go on admitting and submitting).
    with pytest.raises(LeaseLost, match="login2"):
        mine.renew(now=1000.0 + T + 3)
    mine.release()
    assert read_lease(mine.lease_path) == before
    theirs.release()


def test_renew_racing_a_takeover_never_overwrites_it(
    tmp_path: Path,
    no_flock: None,
    after_first_lease_read: Callable[[Callable[[], None]], None],
) -> None:
    mine = on_host(tmp_path, "login1")
    theirs = on_host(tmp_path, "login2")
    assert mine.acquire(now=1000.0)
    # login2 takes the (stale) lease over right after our renew has read it.
    after_first_lease_read(lambda: setattr(theirs, "won", theirs.acquire(now=1000.0 + T + 1)))
    with pytest.raises(LeaseLost, match="login2"):
        mine.renew(now=1000.0 + T + 1)
    assert theirs.won  # type: ignore[attr-defined]
    current = read_lease(mine.lease_path)
    assert current is not None and current.host == "login2"
    theirs.release()


def test_renew_within_the_timeout_keeps_the_lease_and_is_cheap(
    tmp_path: Path, no_flock: None
) -> None:
    mine = on_host(tmp_path, "login1")
    assert mine.acquire(now=1000.0)
    assert not on_host(tmp_path, "login2").acquire(now=1000.0 + T - 1)
    mine.renew(now=1000.0 + T - 1)  # a renewal just in time: nobody may take it now
    assert not on_host(tmp_path, "login2").acquire(now=1000.0 + 2 * T - 2)
    names = generations(tmp_path)
    mine.renew(now=1000.0 + T)  # renewed a moment ago: no file is written
    assert generations(tmp_path) == names
    mine.release()


# -- (4) a lease dated in the future blocks for a bounded time -------------------------


def test_a_lease_dated_far_in_the_future_does_not_block(tmp_path: Path, no_flock: None) -> None:
    now = time.time()
    skewed = on_host(tmp_path, "login2")
    assert skewed.acquire(now=now + 10 * T)  # a host whose clock is far ahead
    mine = on_host(tmp_path, "login1")
    assert mine.acquire(now=now)
    assert mine.took_over is not None and mine.took_over.host == "login2"
    assert "in the future" in mine.took_over.describe(now)
    mine.release()


def test_a_lease_dated_a_little_ahead_blocks_less_than_two_timeouts(
    tmp_path: Path, no_flock: None
) -> None:
    now = 1_000_000.0
    ahead = on_host(tmp_path, "login2")
    assert ahead.acquire(now=now + T - 1)  # within the bound: trusted
    assert not on_host(tmp_path, "login1").acquire(now=now)
    assert not on_host(tmp_path, "login1").acquire(now=now + 2 * T - 2)
    late = on_host(tmp_path, "login1")
    assert late.acquire(now=now + 2 * T - 1)  # stale one timeout after its date
    late.release()


def test_doctor_warns_about_a_lease_dated_in_the_future(cfg: InstanceConfig) -> None:
    area = cfg.path(protocol.CODE_TO_RUN)
    area.mkdir(parents=True)
    lease = {"host": "login2", "pid": 4242, "time": time.time() + 7200, "token": "t"}
    (area / lockmod.LEASE_FILE).write_text(json.dumps(lease))
    check = doctor._lease_check(cfg, time.time())
    assert check.status == doctor.WARN and "future" in check.message and "NTP" in check.fix


# -- (5) release removes only our own lease ---------------------------------------------


def test_release_after_a_takeover_leaves_the_new_lease(tmp_path: Path, no_flock: None) -> None:
    mine = on_host(tmp_path, "login1")
    theirs = on_host(tmp_path, "login2")
    assert mine.acquire(now=1000.0)
    assert theirs.acquire(now=1000.0 + T + 1)
    mine.release()
    current = read_lease(mine.lease_path)
    assert current is not None and current.host == "login2"
    theirs.renew(now=1000.0 + T + 50)  # still theirs
    theirs.release()
    assert read_lease(mine.lease_path) is None


def test_release_racing_a_takeover_leaves_the_new_lease(
    tmp_path: Path,
    no_flock: None,
    after_first_lease_read: Callable[[Callable[[], None]], None],
) -> None:
    mine = on_host(tmp_path, "login1")
    theirs = on_host(tmp_path, "login2")
    assert mine.acquire(now=1000.0)
    # login2 takes the lease over between our release's check and its removal.
    after_first_lease_read(lambda: setattr(theirs, "won", theirs.acquire(now=1000.0 + T + 1)))
    mine.release()
    assert theirs.won  # type: ignore[attr-defined]
    current = read_lease(mine.lease_path)
    assert current is not None and current.host == "login2"
    theirs.release()


# -- the primitive itself ------------------------------------------------------------------


def test_a_link_reported_failed_but_made_counts_as_made(
    tmp_path: Path, no_flock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_link = os.link

    def lost_reply(src: Any, dst: Any) -> None:
        # NFS: the LINK worked, its reply was lost, the retry says EEXIST.
        real_link(src, dst)
        raise FileExistsError(errno.EEXIST, "File exists", str(dst))

    monkeypatch.setattr(os, "link", lost_reply)
    mine = on_host(tmp_path, "login1")
    assert mine.acquire()
    current = read_lease(mine.lease_path)
    assert current is not None and current.host == "login1"
    monkeypatch.undo()
    assert not on_host(tmp_path, "login2").acquire()
    mine.release()


def test_without_hard_links_an_exclusive_create_is_used(
    tmp_path: Path, no_flock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(src: Any, dst: Any) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", refused)
    mine = on_host(tmp_path, "login1")
    assert mine.acquire()
    assert not on_host(tmp_path, "login2").acquire()
    mine.renew(now=time.time() + T / 2)
    mine.release()
    assert on_host(tmp_path, "login2").acquire()


def test_simultaneous_takers_of_one_generation_one_wins(tmp_path: Path, no_flock: None) -> None:
    # Both read the same (free) state, then both create the next generation.
    first, second = on_host(tmp_path, "login1"), on_host(tmp_path, "login2")
    first.lease_path.parent.mkdir()
    assert first._publish(1, {"host": "login1", "pid": 1, "time": 1.0, "token": "a"})
    assert not second._publish(1, {"host": "login2", "pid": 2, "time": 1.0, "token": "b"})
    current = read_lease(first.lease_path)
    assert current is not None and current.token == "a"


def test_a_stale_name_reused_after_clean_up_gives_way(tmp_path: Path, no_flock: None) -> None:
    mine = on_host(tmp_path, "login1")
    assert mine.acquire(now=1000.0)
    # While we "paused", login2 took over and moved on many generations; the
    # generation after ours was cleaned up, so creating it succeeds.
    theirs = on_host(tmp_path, "login2")
    assert theirs.acquire(now=1000.0 + T + 1)
    for step in range(1, 6):
        theirs.renew(now=1000.0 + T + 1 + step * T / 2)
    with pytest.raises(LeaseLost, match="login2"):
        mine.renew(now=1000.0 + 4 * T)
    current = read_lease(mine.lease_path)
    assert current is not None and current.host == "login2"
    assert len(generations(tmp_path)) <= lockmod.KEEP_GENERATIONS
    theirs.release()


def test_flock_refused_by_the_file_system_falls_back_to_the_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(
        lockmod, "fcntl", types.SimpleNamespace(**{**vars(NO_FLOCK), "flock": unsupported})
    )
    first = InstanceLock(tmp_path, T)
    assert first.acquire()
    assert not InstanceLock(tmp_path, T).acquire()  # same host, live pid, fresh lease
    first.release()
    # A lease of this host whose process is gone is stale at once.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    area = tmp_path / protocol.CODE_TO_RUN
    for name in generations(tmp_path):
        (area / name).unlink()
    body = {
        "host": socket.gethostname(),
        "pid": int(dead.stdout),
        "time": time.time(),
        "token": "x",
    }
    (area / lockmod.LEASE_FILE).write_text(json.dumps(body))
    again = InstanceLock(tmp_path, T)
    assert again.acquire()
    assert again.took_over is not None and again.took_over.pid == int(dead.stdout)
    again.release()


def test_an_unreadable_lease_blocks_for_one_timeout_at_most(tmp_path: Path, no_flock: None) -> None:
    area = tmp_path / protocol.CODE_TO_RUN
    area.mkdir()
    (area / f"{lockmod.LEASE_FILE}.7").write_text("{half a lea")
    now = time.time()
    assert not on_host(tmp_path, "login1").acquire(now=now)
    assert read_lease(area / lockmod.LEASE_FILE) is None  # doctor and status: nothing to show
    late = on_host(tmp_path, "login1")
    assert late.acquire(now=now + T + 1)
    current = read_lease(late.lease_path)
    assert current is not None and current.generation == 8
    late.release()


def test_old_generations_and_temporaries_are_cleaned_up(tmp_path: Path, no_flock: None) -> None:
    area = tmp_path / protocol.CODE_TO_RUN
    area.mkdir()
    stray = area / f"{lockmod.LEASE_FILE}.{uuid.uuid4().hex}.tmp"
    stray.write_text("left by a crash")
    os.utime(stray, (time.time() - 2 * T, time.time() - 2 * T))
    for number in range(20):
        lock = on_host(tmp_path, f"login{number % 3}")
        assert lock.acquire()
        lock.renew(now=time.time() + T)
        lock.release()
    assert len(generations(tmp_path)) == lockmod.KEEP_GENERATIONS
    assert not stray.exists()
    assert read_lease(area / lockmod.LEASE_FILE) is None
