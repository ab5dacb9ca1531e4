"""Who started the run: the flow's ``flowcron-starter/<username>/`` marker through the tick.

Admission reads it, the job record keeps it, the marker is removed once the
record is saved and the folder moved, the job carries it as its comment, the
report names it, and every event about the UoW carries ``user``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.state import StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.uow.admission import admit
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow
from tests.agent.slurm_helpers import agent_cmd

RUN_ID = "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"
NAME = f"sample_{RUN_ID}"
ANN = "ann.o'brien@uni.example.org"


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    return cfg


def upload(cfg: InstanceConfig, *starters: str, sentinels: bool = True) -> Path:
    """An upload as the flow leaves it: ``flowcron-starter/<each>/`` then ``sentinels/``."""
    uow = make_uow(cfg.path(protocol.UPLOADED), NAME, sentinels=False)
    for user in starters:
        (uow / protocol.STARTER_DIR / user).mkdir(parents=True)
    if sentinels:
        (uow / protocol.SENTINELS_DIR).mkdir()
    return uow


def events(cfg: InstanceConfig) -> list[dict[str, object]]:
    return [e for e in read_events(cfg.path(protocol.LOGS)) if e.get("uow") == NAME]


def report(cfg: InstanceConfig, where: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (cfg.path(where) / NAME / protocol.REPORT_JSON).read_text()
    )
    return data


def test_the_record_the_job_the_report_and_every_event_name_the_starter(
    inst: InstanceConfig,
) -> None:
    upload(inst, ANN)
    fake = FakeExecutor()
    first = tick(inst, fake)
    running = inst.path(protocol.RUNNING) / NAME
    record = StateStore(inst.base_dir).load(NAME)
    assert record is not None and record.user == ANN
    assert not (running / protocol.STARTER_DIR).exists()  # read, recorded, removed
    assert fake.specs[0].comment == f"flowcron user={ANN}"
    fake.finish(first.submitted[NAME])
    tick(inst, fake)
    done = inst.path(protocol.ANALYSED) / NAME
    assert report(inst, protocol.ANALYSED)["user"] == ANN
    assert f"Started by:    {ANN}" in (done / protocol.REPORT_TEXT).read_text()
    assert not (done / protocol.STARTER_DIR).exists()
    logged = events(inst)
    assert [e["event"] for e in logged] == ["admitted", "submitted", "job-ended", "finalized"]
    assert {e.get("user") for e in logged} == {ANN}


def test_without_a_marker_the_uow_still_runs_as_unknown(inst: InstanceConfig) -> None:
    upload(inst)
    fake = FakeExecutor()
    first = tick(inst, fake)
    assert fake.specs[0].comment == "flowcron user=unknown"
    fake.finish(first.submitted[NAME])
    tick(inst, fake)
    got = report(inst, protocol.ANALYSED)
    assert got["outcome"] == "succeeded" and got["user"] == protocol.UNKNOWN_STARTER
    assert not any("starter" in str(note) for note in got["notes"])  # type: ignore[attr-defined]
    assert {e.get("user") for e in events(inst)} == {protocol.UNKNOWN_STARTER}


def test_an_odd_marker_is_unknown_with_a_note_and_the_uow_runs(inst: InstanceConfig) -> None:
    upload(inst, "ann", "bob")
    fake = FakeExecutor()
    first = tick(inst, fake)
    assert first.submitted and fake.specs[0].comment == "flowcron user=unknown"
    fake.finish(first.submitted[NAME])
    tick(inst, fake)
    got = report(inst, protocol.ANALYSED)
    assert got["user"] == protocol.UNKNOWN_STARTER
    assert any("holds 2 entries" in str(n) for n in got["notes"])  # type: ignore[attr-defined]


def test_a_marker_without_sentinels_is_never_believed(inst: InstanceConfig) -> None:
    # The flow stops at its mkdir of flowcron-starter/ when the upload brought
    # one, and never makes sentinels/: the upload times out and is refused,
    # attributed to nobody.
    uow = upload(inst, "mallory", sentinels=False)
    old = time.time() - 8 * 86400
    for path in [uow, *uow.rglob("*")]:
        os.utime(path, (old, old), follow_symlinks=False)
    fake = FakeExecutor()
    tick(inst, fake)
    tick(inst, fake)
    assert fake.specs == []
    got = report(inst, protocol.FAILED)
    assert got["outcome"] == "rejected" and got["user"] == protocol.UNKNOWN_STARTER
    assert {e.get("user") for e in events(inst)} == {protocol.UNKNOWN_STARTER}


@pytest.mark.parametrize("point", ["after-admit-record", "after-admit-rename"])
def test_a_crash_at_admission_never_loses_the_starter(inst: InstanceConfig, point: str) -> None:
    cfg = dataclasses.replace(inst, executor="local", schedule="none")
    save_instance(cfg)
    upload(cfg, ANN)
    crashed = agent_cmd("tick", str(cfg.base_dir), env={"FLOWCRON_CRASH_AT": point})
    assert crashed.returncode == -9, crashed.stderr
    marker = cfg.path(protocol.RUNNING) / NAME / protocol.STARTER_DIR / ANN
    assert marker.is_dir() == (point == "after-admit-rename")
    # Before the rename the upload is admitted again and its marker read again;
    # after it, the record has the starter and the marker is removed at finalize.
    deadline = time.monotonic() + 60
    while not (cfg.path(protocol.ANALYSED) / NAME).is_dir():
        assert time.monotonic() < deadline, "not handed back"
        record = StateStore(cfg.base_dir).load(NAME)
        assert record is None or record.user == ANN
        assert agent_cmd("tick", str(cfg.base_dir)).returncode == 0
        time.sleep(0.2)
    assert report(cfg, protocol.ANALYSED)["user"] == ANN
    assert not (cfg.path(protocol.ANALYSED) / NAME / protocol.STARTER_DIR).exists()
    assert {e.get("user") for e in events(cfg)} == {ANN}


def test_uow_check_refuses_a_folder_that_brings_its_own_marker(inst: InstanceConfig) -> None:
    # `flowgen uow check` admits with upload_complete=True, before any upload:
    # the flow would stop at its mkdir of flowcron-starter/, so say so now.
    folder = make_uow(inst.base_dir / "laptop", "mine", sentinels=False)
    assert admit(folder, inst, upload_complete=True).ok
    (folder / protocol.STARTER_DIR / "someone").mkdir(parents=True)
    verdict = admit(folder, inst, upload_complete=True)
    assert not verdict.ok and verdict.user == protocol.UNKNOWN_STARTER
    assert f"Remove '{protocol.STARTER_DIR}' from your folder" in verdict.problems[-1]
