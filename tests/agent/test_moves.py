"""A UoW folder renamed or moved by a person (or its job) is put back, never run twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.tick import tick
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow

NAME = "sample_0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    return cfg


def _submitted(inst: InstanceConfig, fake: FakeExecutor) -> str:
    make_uow(inst.path(protocol.UPLOADED), NAME)
    return tick(inst, fake).submitted[NAME]


def _report(where: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((where / protocol.REPORT_JSON).read_text())
    return data


@pytest.mark.parametrize(
    "move_to",
    [
        lambda inst: inst.path(protocol.RUNNING) / "renamed-by-someone",
        lambda inst: inst.path(protocol.UPLOADED) / NAME,
        lambda inst: inst.path(protocol.UPLOADED) / "another-name",
    ],
    ids=["renamed-in-codetorun", "moved-back-to-uploaded", "moved-back-renamed"],
)
def test_a_moved_running_uow_is_put_back_and_not_submitted_again(
    inst: InstanceConfig, move_to: object
) -> None:
    fake = FakeExecutor()
    job_id = _submitted(inst, fake)
    running = inst.path(protocol.RUNNING) / NAME
    assert (running / protocol.UOW_MARKER).is_file()
    running.rename(move_to(inst))  # type: ignore[operator]

    second = tick(inst, fake)
    assert second.submitted == {} and second.admitted == []
    assert running.is_dir(), "put back where its record says"
    assert list(inst.path(protocol.UPLOADED).iterdir()) == []
    fake.finish(job_id)
    third = tick(inst, fake)
    assert third.finished == {NAME: f"{protocol.FAILED}/{NAME}"}
    assert fake.calls.count("submit") == 1
    done = inst.path(protocol.FAILED) / NAME
    report = _report(done)
    assert "while its job ran" in str(report["reason"])
    assert any("did not run it a second time" in n for n in report["notes"])  # type: ignore[attr-defined]
    assert not (done / protocol.UOW_MARKER).exists(), "the marker is never handed back"
    events = [e["event"] for e in read_events(inst.path(protocol.LOGS))]
    assert "uow-put-back" in events


def test_the_marker_never_reaches_the_researcher(inst: InstanceConfig) -> None:
    fake = FakeExecutor()
    fake.finish(_submitted(inst, fake))
    tick(inst, fake)
    done = inst.path(protocol.ANALYSED) / NAME
    assert _report(done)["outcome"] == "succeeded"
    assert not (done / protocol.UOW_MARKER).exists()


def test_a_stale_marker_from_another_instance_is_ignored(inst: InstanceConfig) -> None:
    fake = FakeExecutor()
    job_id = _submitted(inst, fake)
    stranger = make_uow(inst.path(protocol.UPLOADED), "stranger")
    (stranger / protocol.UOW_MARKER).write_text(
        json.dumps({"instance": "elsewhere", "uow": NAME, "token": "t"})
    )
    (inst.path(protocol.RUNNING) / NAME).rename(inst.path(protocol.RUNNING) / "gone")
    result = tick(inst, fake)
    assert "stranger" in result.submitted, "an unrelated upload is admitted as usual"
    assert (inst.path(protocol.RUNNING) / NAME).is_dir()
    fake.finish(job_id)


def test_a_folder_that_cannot_be_put_back_is_not_taken_for_a_new_upload(
    inst: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpc_agent.loop import load

    fake = FakeExecutor()
    _submitted(inst, fake)
    (inst.path(protocol.RUNNING) / NAME).rename(inst.path(protocol.UPLOADED) / "s-copy")

    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied", "s-copy")

    monkeypatch.setattr(load, "put_back", refuse)
    for _ in range(2):
        result = tick(inst, fake)
        assert result.submitted == {} and result.admitted == []
    assert fake.calls.count("submit") == 1
    monkeypatch.undo()
    tick(inst, fake)
    assert (inst.path(protocol.RUNNING) / NAME).is_dir(), "put back once it can be"
