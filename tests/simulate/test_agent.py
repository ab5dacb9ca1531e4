"""The agent driver: when it ticks, how it holds flow time, how it stops.

A scripted tick runner stands in for the agent here, with a fake wall clock,
so the time model is tested exactly; the real agent with real jobs is in
tests/e2e.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from flowgen.core.errors import UsageError
from flowgen.simulate import SimulatorOptions, simulate
from flowgen.simulate.agent import (
    AgentDriver,
    AgentEvent,
    AgentHoldTimeout,
    create_instance,
    load_agent_instance,
)
from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop.tick import TickResult

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
DAY_WAIT = {
    "StartAt": "Day",
    "States": {"Day": {"Type": "Wait", "Seconds": 86400, "End": True}},
}


@pytest.fixture
def cfg(tmp_path: Path) -> InstanceConfig:
    return create_instance(tmp_path / "instance", "unit")


class FakeWall:
    """A wall clock that moves only when the driver sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


class ScriptedAgent:
    """Admits an upload on its first tick and hands it back after ``job_ticks`` ticks."""

    def __init__(self, job_ticks: int, exit_codes: tuple[int, ...] = ()) -> None:
        self.job_ticks = job_ticks
        self.exit_codes = list(exit_codes)
        self.calls = 0

    def __call__(self, cfg: InstanceConfig) -> TickResult:
        self.calls += 1
        for uow in cfg.path(protocol.UPLOADED).iterdir():
            uow.rename(cfg.path(protocol.RUNNING) / uow.name)
        if self.calls > self.job_ticks:
            for uow in cfg.path(protocol.RUNNING).iterdir():
                (uow / protocol.SENTINELS_DIR).rmdir()  # the last step before the hand-back
                uow.rename(cfg.path(protocol.ANALYSED) / uow.name)
        return TickResult(exit_code=self.exit_codes.pop(0) if self.exit_codes else 0)


def upload(cfg: InstanceConfig, name: str = "sample_run") -> None:
    (cfg.path(protocol.UPLOADED) / name / protocol.SENTINELS_DIR).mkdir(parents=True)


def test_an_idle_instance_costs_nothing_over_24_hours(cfg: InstanceConfig) -> None:
    calls: list[InstanceConfig] = []

    def runner(c: InstanceConfig) -> TickResult:
        calls.append(c)
        return TickResult()

    driver = AgentDriver(cfg, runner=runner)
    started = time.perf_counter()
    result = simulate(DAY_WAIT, {}, collections={}, hooks=[driver.hook()])
    wall = time.perf_counter() - started
    assert result.succeeded
    assert result.stats.elapsed_seconds == 86400
    assert calls == [] and driver.ticks == 0
    assert driver.idle_skips == 1440
    assert wall < 0.5, f"24 idle hours took {wall:.2f} s"


def test_flow_time_is_held_until_the_job_is_handed_back(cfg: InstanceConfig) -> None:
    upload(cfg)
    wall, agent = FakeWall(), ScriptedAgent(job_ticks=3)
    driver = AgentDriver(
        cfg, runner=agent, sleep=wall.sleep, monotonic=wall.monotonic, hold_poll=2.0
    )
    driver(START)
    assert agent.calls == 4, "ticked until the UoW left CodeToRun/slurm"
    assert wall.sleeps == [2.0, 2.0, 2.0]
    assert driver.held_seconds == 6.0
    assert [e.kind for e in driver.events] == ["admitted", "finished"]
    assert all(e.time == START for e in driver.events), "flow time stood still"
    assert "AnalysedFiles/" in driver.events[-1].message


def test_without_holding_each_due_time_ticks_once(cfg: InstanceConfig) -> None:
    upload(cfg)
    wall, agent = FakeWall(), ScriptedAgent(job_ticks=3)
    driver = AgentDriver(cfg, runner=agent, hold=False, sleep=wall.sleep, monotonic=wall.monotonic)
    driver(START)
    assert agent.calls == 1 and wall.sleeps == []
    assert cfg.path(protocol.RUNNING).joinpath("sample_run").is_dir()


def test_holding_stops_at_the_limit_with_a_clear_error(cfg: InstanceConfig) -> None:
    upload(cfg)
    wall = FakeWall()
    driver = AgentDriver(
        cfg,
        runner=ScriptedAgent(job_ticks=10**6),
        sleep=wall.sleep,
        monotonic=wall.monotonic,
        hold_poll=1.0,
        hold_limit=5.0,
    )
    with pytest.raises(AgentHoldTimeout) as caught:
        driver(START)
    assert wall.now == 5.0
    message = caught.value.message
    assert "within 5 s of real time" in message
    assert "sample_run" in message and "hpc-agent status" in message
    assert caught.value.exit_code == 1


def test_a_failed_tick_is_reported_and_the_next_tick_carries_on(cfg: InstanceConfig) -> None:
    upload(cfg)
    wall = FakeWall()
    driver = AgentDriver(
        cfg,
        runner=ScriptedAgent(job_ticks=1, exit_codes=(-9,)),
        sleep=wall.sleep,
        monotonic=wall.monotonic,
    )
    driver(START)
    kinds = [e.kind for e in driver.events]
    assert kinds[0] == "tick-failed" and "exit code -9" in driver.events[0].message
    assert kinds[-1] == "finished"


def test_ticks_come_every_tick_every_seconds_of_flow_time(cfg: InstanceConfig) -> None:
    def runner(c: InstanceConfig) -> TickResult:
        return TickResult()

    upload(cfg)  # stays in UploadedFiles: every due time ticks
    driver = AgentDriver(cfg, runner=runner, tick_every=600, hold=False)
    hook = driver.hook()
    simulate(
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}},
        {},
        collections={},
        hooks=[hook],
        options=SimulatorOptions(start_time=START),
    )
    assert driver.ticks == 6 and hook.every == 600


def test_bad_settings_and_instances_are_usage_errors(cfg: InstanceConfig, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--tick-every must be positive"):
        AgentDriver(cfg, tick_every=0)
    with pytest.raises(UsageError, match=r"no flowcron.toml.*hpc-agent setup"):
        load_agent_instance(tmp_path)
    assert load_agent_instance(cfg.base_dir) == cfg


def test_the_cli_defaults_match_the_library() -> None:
    from flowgen.cli import simulate as cli
    from flowgen.simulate import agent

    assert cli.DEFAULT_TICK_EVERY == agent.DEFAULT_TICK_EVERY
    assert cli.DEFAULT_HOLD_LIMIT == agent.DEFAULT_HOLD_LIMIT


def test_a_hand_back_right_after_the_ticks_report_is_reported_in_the_same_call(
    cfg: InstanceConfig,
) -> None:
    # With the fast hand-back the job's own finalize moves the UoW while the
    # driver is between its report and its next look; the flow may copy the
    # UoW away before the driver is called again, so the hand-back must be
    # reported before this call returns.
    def hand_back_now(event: AgentEvent) -> None:
        if event.kind == "admitted":
            uow = cfg.path(protocol.RUNNING) / event.uow
            (uow / protocol.SENTINELS_DIR).rmdir()
            uow.rename(cfg.path(protocol.ANALYSED) / uow.name)

    upload(cfg)
    wall = FakeWall()
    driver = AgentDriver(
        cfg,
        runner=ScriptedAgent(job_ticks=10**6),
        on_event=hand_back_now,
        sleep=wall.sleep,
        monotonic=wall.monotonic,
    )
    driver(START)
    assert [e.kind for e in driver.events] == ["admitted", "finished"]
    assert "AnalysedFiles/" in driver.events[-1].message


def test_without_holding_a_hand_back_between_calls_is_reported_by_the_next_call(
    cfg: InstanceConfig,
) -> None:
    upload(cfg)
    driver = AgentDriver(cfg, runner=ScriptedAgent(job_ticks=10**6), hold=False)
    driver(START)
    uow = cfg.path(protocol.RUNNING) / "sample_run"
    (uow / protocol.SENTINELS_DIR).rmdir()
    uow.rename(cfg.path(protocol.ANALYSED) / uow.name)
    driver(START)
    assert [e.kind for e in driver.events] == ["admitted", "finished"]
    assert driver.idle_skips == 1, "nothing left to tick for, only the hand-back to report"
