"""Who started the run, end to end: the flow's starter marker read by the real agent.

The FlowCron flow runs in the simulator (its Transfer mkdir fails on an
existing path, as the service's does) with the agent's ``local`` executor.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.loop.eventlog import read_events

from .loop import Loop, kinds, make_uow, report

ANN = "ann@uni.example.org"
MARKER_STATES = ("MarkStarter", "MarkStarterFailed", "NameStarter", "NameStarterFailed")


@pytest.fixture
def loop(tmp_path: Path) -> Loop:
    return Loop.create(tmp_path, executor="local")


def uow_events(loop: Loop, job: str) -> list[dict[str, Any]]:
    return list(read_events(loop.agent.path(protocol.LOGS), uow=job))


def original_handover(definition: dict[str, Any]) -> dict[str, Any]:
    """The flow as the original FlowCron hands over: upload, then ``sentinels/``, no marker."""
    original = copy.deepcopy(definition)
    states = original["States"]
    for name in MARKER_STATES:
        states.pop(name, None)
    states.pop("MarkStarterFailedFail", None)
    states.pop("NameStarterFailedFail", None)
    states["Upload"]["Next"] = "MarkUploadComplete"
    return original


def test_the_report_and_every_event_name_who_started_the_run(loop: Loop) -> None:
    uow = make_uow(loop.laptop)
    result, agent = loop.run(context={"username": ANN})
    assert result.status == "SUCCEEDED", result.cause
    assert kinds(agent.events) == ["admitted", "submitted", "finished"]
    assert report(uow)["user"] == ANN
    assert f"Started by:    {ANN}" in (uow / protocol.REPORT_TEXT).read_text()
    # The marker never comes back, on the laptop or in the HPC copy.
    job = loop.job_dir(result)
    assert not (uow / protocol.STARTER_DIR).exists()
    assert not (loop.agent.path(protocol.ANALYSED) / job / protocol.STARTER_DIR).exists()
    events = uow_events(loop, job)
    assert {e["event"] for e in events} >= {"admitted", "submitted", "finalized"}
    assert {e.get("user") for e in events} == {ANN}
    # Run again (the folder that came back): a new run, the same starter, no refusal.
    again, _ = loop.run(context={"username": ANN})
    assert again.status == "SUCCEEDED", again.cause
    assert report(uow)["user"] == ANN


def test_an_upload_that_brings_its_own_marker_is_never_handed_over(loop: Loop) -> None:
    uow = make_uow(loop.laptop)
    (uow / protocol.STARTER_DIR / "mallory@uni.example.org").mkdir(parents=True)
    result, agent = loop.run(context={"username": ANN})
    assert result.status == "FAILED"
    assert result.error == "StarterFolderInUpload"
    cause = str(result.cause)
    assert "nothing was run" in cause
    assert "remove it from your folder" in cause and f"{protocol.STARTER_DIR}/" in cause
    # Nothing handed over: the upload is there, without sentinels/; nothing admitted.
    job = loop.job_dir(result)
    uploaded = loop.agent.path(protocol.UPLOADED) / job
    assert uploaded.is_dir() and not (uploaded / protocol.SENTINELS_DIR).exists()
    assert agent.events == []
    assert uow_events(loop, job) == []
    for directory in (protocol.RUNNING, protocol.ANALYSED, protocol.FAILED):
        assert not (loop.agent.path(directory) / job).exists()


def test_the_original_flowcron_handover_runs_as_unknown(loop: Loop) -> None:
    uow = make_uow(loop.laptop)
    original = original_handover(loop.built.definition)
    assert not any(name.startswith(("MarkStarter", "NameStarter")) for name in original["States"])
    result, agent = loop.run(context={"username": ANN}, definition=original)
    assert result.status == "SUCCEEDED", result.cause
    assert kinds(agent.events) == ["admitted", "submitted", "finished"]
    assert report(uow)["user"] == protocol.UNKNOWN_STARTER
    assert {e.get("user") for e in uow_events(loop, loop.job_dir(result))} == {
        protocol.UNKNOWN_STARTER
    }


@pytest.mark.slurm
def test_on_slurm_sacct_shows_the_starter_as_the_job_comment(
    tmp_path: Path, slurm_env: Any
) -> None:
    loop = Loop.create(tmp_path, executor="slurm", account=slurm_env.account, qos=slurm_env.qos)
    uow = make_uow(loop.laptop)
    result, _ = loop.run(context={"username": ANN})
    assert result.status == "SUCCEEDED", result.cause
    job_id = str(report(uow)["job_id"])
    argv = ["sacct", "-j", job_id, "-n", "-X", "-P", "-o", "Comment"]
    deadline = time.monotonic() + 30
    while (out := slurm_env.run(argv).stdout.strip()) != f"flowcron user={ANN}":
        assert time.monotonic() < deadline, f"sacct -o comment: {out!r}"
        time.sleep(1)
