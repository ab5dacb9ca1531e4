"""Virtual and real clocks, and the hooks called as simulated time advances.

A flow waits in two places: Wait states and polls of asynchronous actions.
Both call :meth:`Clock.advance`; the clock moves time forward and calls the
hooks, which is how outside actors (the HPC agent, a test that creates a
file at 24 h) take part in a run. Plain hooks are called after every
advance with the new time; periodic hooks are called at every multiple of
their period since the clock started, in time order, while time passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol, Union

HookFunction = Callable[[datetime], None]
"""Called with the current simulated time."""


@dataclass(frozen=True)
class PeriodicHook:
    """A hook called every ``every`` seconds of simulated time (e.g. an agent tick)."""

    every: float
    callback: HookFunction

    def __post_init__(self) -> None:
        if not self.every > 0:
            raise ValueError(f"a periodic hook needs a positive period, got {self.every}")


Hook = Union[HookFunction, PeriodicHook]  # noqa: UP007 - a runtime alias must work on 3.10
"""What ``simulate(hooks=...)`` accepts."""


class Clock(Protocol):
    """What the engine needs from a clock."""

    def now(self) -> datetime:
        """The current simulated time (UTC)."""
        ...

    def elapsed(self) -> float:
        """Simulated seconds since the clock started."""
        ...

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass, calling hooks on the way."""
        ...

    def add_hook(self, hook: Hook) -> None:
        """Register a hook."""
        ...


def utc_now() -> datetime:
    """The real current time, UTC, to the microsecond."""
    return datetime.now(timezone.utc)


class _HookedClock:
    """Hook bookkeeping shared by both clocks."""

    def __init__(self, start: datetime | None) -> None:
        start = start or utc_now()
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self.start = start
        self._plain: list[HookFunction] = []
        self._periodic: list[tuple[PeriodicHook, list[float]]] = []

    def add_hook(self, hook: Hook) -> None:
        """Register a plain or periodic hook."""
        if isinstance(hook, PeriodicHook):
            # The one-element list is the hook's next due time, updated in place.
            self._periodic.append((hook, [hook.every]))
        else:
            self._plain.append(hook)

    def _at(self, elapsed: float) -> datetime:
        return self.start + timedelta(seconds=elapsed)

    def _next_periodic(self, until: float) -> tuple[PeriodicHook, list[float]] | None:
        due = [entry for entry in self._periodic if entry[1][0] <= until]
        return min(due, key=lambda entry: entry[1][0]) if due else None

    def _call_plain(self, now: datetime) -> None:
        for hook in self._plain:
            hook(now)


class VirtualClock(_HookedClock):
    """Simulated time that jumps forward at once: a 24-hour Wait costs nothing."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start)
        self._elapsed = 0.0

    def now(self) -> datetime:
        """The current simulated time."""
        return self._at(self._elapsed)

    def elapsed(self) -> float:
        """Simulated seconds since the start."""
        return self._elapsed

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` forward, stopping at each periodic hook's due time."""
        target = self._elapsed + max(0.0, seconds)
        while (entry := self._next_periodic(target)) is not None:
            hook, due = entry
            self._elapsed = due[0]
            due[0] += hook.every
            hook.callback(self.now())
        self._elapsed = target
        self._call_plain(self.now())


class RealClock(_HookedClock):
    """Simulated time that follows the wall clock, ``speed`` times faster.

    ``speed=1`` runs in real time (for runs against real jobs); ``speed=60``
    makes a 10-minute Wait last 10 seconds. ``sleep`` and ``monotonic`` can
    be replaced in tests.
    """

    def __init__(
        self,
        speed: float = 1.0,
        start: datetime | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"the real-time speed factor must be positive, got {speed}")
        super().__init__(start)
        self.speed = speed
        self._sleep = sleep
        self._monotonic = monotonic
        self._t0 = monotonic()

    def elapsed(self) -> float:
        """Simulated seconds since the start: wall seconds times the speed."""
        return (self._monotonic() - self._t0) * self.speed

    def now(self) -> datetime:
        """The current simulated time."""
        return self._at(self.elapsed())

    def advance(self, seconds: float) -> None:
        """Sleep until ``seconds`` of simulated time have passed, calling hooks when due."""
        target = self.elapsed() + max(0.0, seconds)
        while (entry := self._next_periodic(target)) is not None:
            hook, due = entry
            self._sleep_until(due[0])
            due[0] += hook.every
            hook.callback(self.now())
        self._sleep_until(target)
        self._call_plain(self.now())

    def _sleep_until(self, elapsed: float) -> None:
        remaining = (elapsed - self.elapsed()) / self.speed
        if remaining > 0:
            self._sleep(remaining)
