"""The tick's optional hourly refresh of Logs/report.html."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop import pi_report
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.tick import tick
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for sub in protocol.INSTANCE_DIRS:
        cfg.path(sub).mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(cfg, html_report=True)


def page(cfg: InstanceConfig) -> Path:
    return cfg.path(protocol.LOGS) / pi_report.REPORT_FILE


def test_off_by_default_no_page_is_written(cfg: InstanceConfig) -> None:
    for sub in protocol.INSTANCE_DIRS:
        cfg.path(sub).mkdir(parents=True, exist_ok=True)
    assert tick(cfg, FakeExecutor()).exit_code == 0
    assert not os.path.lexists(page(cfg))


def test_the_tick_writes_the_page_at_most_once_an_hour(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "sample_1")
    fake = FakeExecutor()
    first = tick(inst, fake)
    assert first.exit_code == 0
    text = page(inst).read_text(encoding="utf-8")
    assert text.lower().startswith("<!doctype html>")
    written = page(inst).stat().st_mtime

    fake.finish(first.submitted["sample_1"])
    tick(inst, fake)  # within the hour: the page is left alone
    assert page(inst).stat().st_mtime == written

    old = time.time() - 2 * pi_report.REFRESH_SECONDS
    os.utime(page(inst), (old, old))
    tick(inst, fake)
    assert page(inst).stat().st_mtime > old
    # The refreshed page counts the UoW handed back in between (its user is 'unknown').
    assert "unknown" in page(inst).read_text(encoding="utf-8")


def test_a_page_that_cannot_be_written_never_fails_the_tick(
    inst: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("hpc_agent.usage.html.write_report", broken)
    make_uow(inst.path(protocol.UPLOADED), "sample_1")
    result = tick(inst, FakeExecutor())
    assert result.exit_code == 0 and list(result.submitted) == ["sample_1"]
    events = [
        e for e in read_events(inst.path(protocol.LOGS)) if e["event"] == "html-report-failed"
    ]
    assert len(events) == 1 and "No space left on device" in events[0]["message"]
