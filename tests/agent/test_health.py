"""Every tick leaves a heartbeat; the PI is told once when ticks keep failing."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.exitcodes import EXIT_SCHEDULER_DOWN
from hpc_agent.loop import health
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.tick import tick
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    return cfg


def _mailing(
    inst: InstanceConfig, mailbox: Path, *, after: int
) -> tuple[InstanceConfig, FakeExecutor]:
    """``inst`` telling the PI into ``mailbox`` after ``after`` failures, and a Slurm that is down."""
    notify = (
        f"{sys.executable} -c \"import sys; open({str(mailbox)!r}, 'a').write(sys.stdin.read())\""
    )
    down = FakeExecutor()
    down.down = True
    return dataclasses.replace(inst, notify_command=notify, notify_after_failures=after), down


def test_every_tick_records_what_it_did(inst: InstanceConfig) -> None:
    assert health.read_heartbeat(inst.base_dir) is None
    make_uow(inst.path(protocol.UPLOADED), "u")
    tick(inst, FakeExecutor())
    beat = health.read_heartbeat(inst.base_dir)
    assert beat is not None and beat.ok
    assert beat.ended is not None and beat.ended >= beat.started
    assert beat.counts["submitted"] == 1 and beat.failures_in_a_row == 0
    assert beat.last_success == beat.ended


def test_failing_ticks_are_counted_and_the_pi_told_once(
    inst: InstanceConfig, tmp_path: Path
) -> None:
    mailbox = tmp_path / "mail.txt"
    cfg, down = _mailing(inst, mailbox, after=2)
    for expected in (1, 2, 3):
        assert tick(cfg, down).exit_code == EXIT_SCHEDULER_DOWN
        beat = health.read_heartbeat(cfg.base_dir)
        assert beat is not None and beat.failures_in_a_row == expected
    text = mailbox.read_text()
    assert text.count("has failed 2 ticks in a row") == 1, "told once, not on every tick"
    assert f"hpc-agent status {cfg.name}" in text
    assert [e["event"] for e in read_events(cfg.path(protocol.LOGS))].count("notified") == 1
    assert tick(cfg, FakeExecutor()).exit_code == 0
    beat = health.read_heartbeat(cfg.base_dir)
    assert beat is not None and beat.failures_in_a_row == 0


def test_a_tick_that_never_ended_counts_as_a_failure(inst: InstanceConfig) -> None:
    health.write_heartbeat(inst.base_dir, health.Heartbeat(started=1.0))  # killed mid-tick
    beat = health.begin(inst.base_dir, 2.0)
    assert beat.failures_in_a_row == 1 and beat.ended is None


def test_a_broken_notify_command_is_logged_not_raised(inst: InstanceConfig) -> None:
    cfg = dataclasses.replace(inst, notify_command="/no/such/mailer", notify_after_failures=1)
    down = FakeExecutor()
    down.down = True
    tick(cfg, down)
    [event] = [e for e in read_events(cfg.path(protocol.LOGS)) if e["event"] == "notify-failed"]
    assert "/no/such/mailer" in event["message"]


def test_a_killed_tick_in_the_run_of_failures_still_gets_the_pi_told(
    inst: InstanceConfig, tmp_path: Path
) -> None:
    # 1 failure, then a tick killed mid-way (counted at the next start), then more:
    # the count jumps past the threshold and the PI must still hear, once.
    mailbox = tmp_path / "mail.txt"
    cfg, down = _mailing(inst, mailbox, after=3)
    tick(cfg, down)
    tick(cfg, down)
    health.write_heartbeat(cfg.base_dir, health.Heartbeat(started=1.0, failures_in_a_row=2))
    tick(cfg, down)  # begin counts the killed tick (3), end this one (4)
    tick(cfg, down)
    assert mailbox.read_text().count("ticks in a row") == 1
