"""A job cannot trap its UoW, and what it writes into ``sentinels/`` is kept (issue 9).

The job's tricks are played by the test between two ticks (FakeExecutor);
the tick that must hand the UoW back runs with a plain user's permissions
(:mod:`tests.agent.plain_user`), since root would ignore them. The same
tricks from real Slurm jobs are in test_finalize_slurm.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.state import StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.site import doctor
from hpc_agent.site.status import collect_status, format_status
from hpc_agent.uow.stuck import StuckList
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow
from tests.agent.plain_user import SKIP_REASON, plain_fake_tick, plain_prefix

T0 = 1_767_225_600.0
NOBODY = 65534

needs_plain_user = pytest.mark.skipif(plain_prefix() is None, reason=SKIP_REASON)


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.replace(cfg, executor="local", schedule="none", stuck_report_seconds=60)
    save_instance(cfg)
    return cfg


def submitted(cfg: InstanceConfig, name: str = "sample") -> tuple[Path, str]:
    """Upload ``name`` and submit it; its directory in CodeToRun/slurm and its job id."""
    make_uow(cfg.path(protocol.UPLOADED), name)
    job = tick(cfg, FakeExecutor(), now=T0).submitted[name]
    return cfg.path(protocol.RUNNING) / name, job


def report_of(done: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((done / protocol.REPORT_JSON).read_text())
    return data


def events(cfg: InstanceConfig, name: str) -> list[dict[str, Any]]:
    return [e for e in read_events(cfg.path(protocol.LOGS)) if e["event"] == name]


@needs_plain_user
def test_a_uow_the_job_made_read_only_is_handed_back(inst: InstanceConfig) -> None:
    running, job = submitted(inst)
    (running / "data" / "out.txt").write_text("result")
    running.chmod(0o555)  # the job ran `chmod 555 "$1"`
    done = plain_fake_tick(inst.base_dir, T0 + 10, job)
    assert done.returncode == 0, done.stderr
    back = inst.path(protocol.ANALYSED) / "sample"
    assert (back / "data" / "out.txt").read_text() == "result"
    assert back.stat().st_mode & stat.S_IRWXU == stat.S_IRWXU
    assert events(inst, "finalize-failed") == []


@needs_plain_user
def test_a_locked_sentinels_folder_with_output_in_it_is_handed_back_whole(
    inst: InstanceConfig,
) -> None:
    running, job = submitted(inst)
    (running / "sentinels" / "result.txt").write_text("the job put it here")
    (running / "sentinels").chmod(0o000)  # then ran `chmod 000 sentinels`
    done = plain_fake_tick(inst.base_dir, T0 + 10, job)
    assert done.returncode == 0, done.stderr
    back = inst.path(protocol.ANALYSED) / "sample"
    assert not os.path.lexists(back / "sentinels")
    kept = back / "sentinels-content"
    assert (kept / "result.txt").read_text() == "the job put it here"
    assert kept.stat().st_mode & stat.S_IRWXU == stat.S_IRWXU
    assert any("'sentinels-content/'" in n for n in report_of(back)["notes"])


def test_output_written_into_sentinels_is_kept_and_reported(inst: InstanceConfig) -> None:
    running, job = submitted(inst)
    (running / "sentinels" / "log").mkdir()
    (running / "sentinels" / "log" / "step1.txt").write_text("done")
    (running / "sentinels-content").mkdir()  # a name the user already had
    fake = FakeExecutor()
    fake.finish(job)
    tick(inst, fake, now=T0 + 10)
    back = inst.path(protocol.ANALYSED) / "sample"
    assert (back / "sentinels-content.1" / "log" / "step1.txt").read_text() == "done"
    assert (back / "sentinels-content").is_dir() and not os.path.lexists(back / "sentinels")
    notes = report_of(back)["notes"]
    assert sum("'sentinels-content.1/'" in n for n in notes) == 1
    assert "sentinels-content.1" in (back / protocol.REPORT_TEXT).read_text()


def test_an_empty_sentinels_folder_is_simply_removed(inst: InstanceConfig) -> None:
    _, job = submitted(inst)
    fake = FakeExecutor()
    fake.finish(job)
    tick(inst, fake, now=T0 + 10)
    back = inst.path(protocol.ANALYSED) / "sample"
    assert sorted(p.name for p in back.iterdir() if p.name.startswith("sentinels")) == []
    assert not any("sentinels" in n for n in report_of(back)["notes"])


@needs_plain_user
def test_a_uow_that_still_cannot_move_is_reported_stuck_once_with_path_and_reason(
    inst: InstanceConfig,
) -> None:
    running, job = submitted(inst)
    # Someone else's read-only folder: the agent may not change its mode, so
    # no report can be written into it and it cannot be moved.
    os.chown(running, NOBODY, NOBODY)
    running.chmod(0o555)
    for offset in (10, 40):
        assert plain_fake_tick(inst.base_dir, T0 + offset, job).returncode == 0
    assert len(events(inst, "finalize-failed")) == 2
    assert events(inst, "uow-stuck") == []  # not for stuck_report_seconds (60) yet
    status = collect_status(inst, now=T0 + 40)
    assert status["running"][0]["stuck"] is None

    for offset in (71, 100):
        plain_fake_tick(inst.base_dir, T0 + offset, job)
    stuck = events(inst, "uow-stuck")
    assert len(stuck) == 1  # once, not every tick
    assert stuck[0]["path"] == str(running / protocol.REPORT_JSON)
    assert "writing the report: Permission denied" in stuck[0]["reason"]
    assert str(running) in stuck[0]["message"]

    status = collect_status(inst, now=T0 + 100)
    jam = status["running"][0]["stuck"]
    assert jam["seconds"] == 90 and "Permission denied" in jam["reason"]
    assert "STUCK for 90s: writing the report: Permission denied" in format_status(status)
    check = {c.name: c for c in doctor.instance_checks(inst, now=T0 + 100)}["hand-back"]
    assert check.status == doctor.WARN
    assert "sample" in check.message and str(running) in check.message

    os.chown(running, os.geteuid(), os.getegid())  # the owner fixes it
    assert plain_fake_tick(inst.base_dir, T0 + 130, job).returncode == 0
    assert (inst.path(protocol.ANALYSED) / "sample" / protocol.REPORT_JSON).is_file()
    assert StuckList(StateStore(inst.base_dir).root).load().entries == {}
    check = {c.name: c for c in doctor.instance_checks(inst, now=T0 + 200)}["hand-back"]
    assert check.status == doctor.OK


def test_stuck_reporting_can_be_immediate(inst: InstanceConfig, monkeypatch: Any) -> None:
    at_once = dataclasses.replace(inst, stuck_report_seconds=0)
    _, job = submitted(at_once)
    real_rename = Path.rename

    def read_only_fs(self: Path, target: Any) -> Path:
        if protocol.ANALYSED in str(target):
            raise OSError(30, "Read-only file system", str(self))
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", read_only_fs)
    fake = FakeExecutor()
    fake.finish(job)
    tick(at_once, fake, now=T0 + 10)
    stuck = events(at_once, "uow-stuck")
    assert (
        len(stuck) == 1
        and "moving it into AnalysedFiles/: Read-only file system" in (stuck[0]["reason"])
    )
