"""Clocks: virtual time jumps, real time sleeps (scaled), hooks fire in time order."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flowgen.simulate import PeriodicHook, RealClock, VirtualClock

START = datetime(2025, 1, 1, tzinfo=timezone.utc)


def test_virtual_clock_interleaves_periodic_hooks_in_time_order() -> None:
    clock = VirtualClock(START)
    calls: list[tuple[str, float]] = []
    clock.add_hook(PeriodicHook(30, lambda now: calls.append(("a", (now - START).seconds))))
    clock.add_hook(PeriodicHook(45, lambda now: calls.append(("b", (now - START).seconds))))
    clock.add_hook(lambda now: calls.append(("plain", (now - START).seconds)))
    clock.advance(90)
    assert calls == [("a", 30), ("b", 45), ("a", 60), ("a", 90), ("b", 90), ("plain", 90)]
    assert clock.elapsed() == 90


def test_real_clock_sleeps_scaled_time_and_ticks() -> None:
    wall = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        wall[0] += seconds

    clock = RealClock(60, START, sleep=sleep, monotonic=lambda: wall[0])
    ticks: list[float] = []
    clock.add_hook(PeriodicHook(600, lambda now: ticks.append(clock.elapsed())))
    clock.advance(1800)  # 30 minutes of flow time at 60x: 30 s of wall time
    assert sum(slept) == pytest.approx(30)
    assert ticks == pytest.approx([600, 1200, 1800])
    assert (clock.now() - START).total_seconds() == pytest.approx(1800)


def test_bad_periods_and_speeds_are_refused() -> None:
    with pytest.raises(ValueError, match="positive period"):
        PeriodicHook(0, lambda now: None)
    with pytest.raises(ValueError, match="positive"):
        RealClock(0)
