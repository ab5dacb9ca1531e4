"""The FlowCron flow run in the simulator against a scripted stand-in for the agent.

These tests exercise the flow's own logic (paths, the sentinel rule, the
branches, the messages); the complete loop with the real agent and Slurm is
in tests/e2e. The stand-in moves the Unit of Work through the protocol's
directories on a timetable, exactly as the agent's renames would.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flowgen.flowcron import build
from flowgen.flowcron.config import config_from_dict
from flowgen.simulate import Collection, PeriodicHook, simulate
from hpc_agent import protocol

LAPTOP = "11111111-2222-4333-8444-555555555555"
HPC = "5e1d7a3c-0b8f-4d2a-9c61-3f0e2b7d4a10"
BASE = "/srv/flowcron/test"


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    cfg = config_from_dict(
        {"name": "test", "hpc_name": "Test HPC", "collection": HPC, "base_path": BASE}
    )
    built = build(cfg)
    laptop, hpc = tmp_path / "laptop", tmp_path / "hpc"
    uow = laptop / "my_uow"
    (uow / "data").mkdir(parents=True)
    (uow / "scripts").mkdir()
    (uow / "data" / "in.txt").write_text("input\n")
    (uow / "scripts" / "submission_script.sh").write_text("#!/bin/bash\n#SBATCH -t 5\necho run\n")
    base = hpc / BASE.lstrip("/")
    for sub in protocol.INSTANCE_DIRS:
        (base / sub).mkdir(parents=True)
    return {"built": built, "laptop": laptop, "hpc": hpc, "base": base, "uow": uow}


@dataclass
class StandInAgent:
    """Moves an uploaded UoW along: admitted after ``admit_after`` s, finished after ``run_for`` s."""

    base: Path
    outcome: str = protocol.ANALYSED
    admit_after: float = 300
    run_for: float = 3600
    keep_sentinels: bool = False
    start: datetime | None = None
    events: list[str] = field(default_factory=list)

    def __call__(self, now: datetime) -> None:
        self.start = self.start or now
        elapsed = (now - self.start).total_seconds()
        for uow in list((self.base / protocol.UPLOADED).iterdir()):
            if (uow / protocol.SENTINELS_DIR).is_dir() and elapsed >= self.admit_after:
                uow.rename(self.base / protocol.RUNNING / uow.name)
                self.events.append(f"admitted {uow.name}")
        if elapsed >= self.admit_after + self.run_for:
            for uow in list((self.base / protocol.RUNNING).iterdir()):
                (uow / "data" / "out.txt").write_text("result\n")
                (uow / "slurm-1.out").write_text("run\n")
                (uow / protocol.REPORT_TEXT).write_text("report\n")
                if not self.keep_sentinels:
                    (uow / protocol.SENTINELS_DIR).rmdir()
                uow.rename(self.base / self.outcome / uow.name)
                self.events.append(f"finished {uow.name}")


def run(world: dict[str, Any], agent: Callable[[datetime], None] | None, **input_extra: Any) -> Any:
    built = world["built"]
    return simulate(
        built.definition,
        {"input": {"source": {"id": LAPTOP, "path": "/my_uow/"}, **input_extra}},
        input_schema=built.input_schema,
        collections={LAPTOP: world["laptop"], HPC: world["hpc"]},
        hooks=[PeriodicHook(60, agent)] if agent else [],
        context={"run_id": "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"},
    )


def test_success_brings_results_back_and_keeps_the_hpc_copy(world: dict[str, Any]) -> None:
    agent = StandInAgent(world["base"])
    result = run(world, agent)
    assert result.status == "SUCCEEDED", result.cause
    assert (world["uow"] / "data" / "out.txt").read_text() == "result\n"
    assert (world["uow"] / "slurm-1.out").exists()
    assert not (world["uow"] / protocol.SENTINELS_DIR).exists()
    job = "my_uow_0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"
    kept = world["base"] / protocol.ANALYSED / job
    assert kept.is_dir()
    message = result.output["FlowResult"]["message"]
    assert "/my_uow/" in message and f"{BASE}/{protocol.ANALYSED}/{job}/" in message
    # The upload went to UploadedFiles/<folder>_<run id>/ with data/ and scripts/.
    assert agent.events[0] == f"admitted {job}"


def test_success_with_delete_removes_the_hpc_copy(world: dict[str, Any]) -> None:
    result = run(world, StandInAgent(world["base"]), delete=True)
    assert result.status == "SUCCEEDED", result.cause
    assert list((world["base"] / protocol.ANALYSED).iterdir()) == []
    assert "was deleted" in result.output["FlowResult"]["message"]


def test_failed_job_returns_output_and_report_and_fails(world: dict[str, Any]) -> None:
    result = run(world, StandInAgent(world["base"], outcome=protocol.FAILED, run_for=120))
    assert result.status == "FAILED"
    assert result.error == "JobFailed"
    assert protocol.REPORT_TEXT in result.cause
    assert (world["uow"] / protocol.REPORT_TEXT).exists()
    assert (world["uow"] / "slurm-1.out").exists()


def test_results_wait_until_sentinels_are_gone(world: dict[str, Any]) -> None:
    agent = StandInAgent(world["base"], keep_sentinels=True, run_for=600)
    built = world["built"]
    stats_before = []

    def finish_later(now: datetime) -> None:
        agent(now)
        finished = list((world["base"] / protocol.ANALYSED).glob("*/sentinels"))
        stats_before.append(bool(finished))
        if len(stats_before) == 100 and finished:
            finished[0].rmdir()

    result = simulate(
        built.definition,
        {"input": {"source": {"id": LAPTOP, "path": "/my_uow/"}}},
        collections={LAPTOP: world["laptop"], HPC: world["hpc"]},
        hooks=[PeriodicHook(60, finish_later)],
    )
    assert result.status == "SUCCEEDED", result.cause
    assert any(stats_before), "the UoW sat in AnalysedFiles with sentinels/ for a while"
    assert (world["uow"] / "data" / "out.txt").exists()


def test_agent_that_never_finishes_ends_at_the_deadline(world: dict[str, Any]) -> None:
    result = run(world, None)
    assert result.status == "FAILED"
    assert result.error == "JobNotFinished"
    assert "7 days" in result.cause and "UploadedFiles/my_uow_" in result.cause
    assert 7 * 86400 <= result.stats.elapsed_seconds < 7 * 86400 + 3600


@pytest.mark.parametrize(
    ("make_source", "error"),
    [
        (shutil.rmtree, "SourceNotFound"),
        (lambda uow: (shutil.rmtree(uow), uow.write_text("a file")), "SourceNotADirectory"),
    ],
)
def test_managed_source_checked_before_upload(
    world: dict[str, Any], make_source: Any, error: str
) -> None:
    make_source(world["uow"])
    built = world["built"]
    managed = Collection(
        root=world["laptop"], entity_type="GCSv5_mapped_collection", subscription_id="sub-1"
    )
    result = simulate(
        built.definition,
        {"input": {"source": {"id": LAPTOP, "path": "/my_uow/"}}},
        collections={LAPTOP: managed, HPC: world["hpc"]},
    )
    assert result.status == "FAILED"
    assert result.error == error
    assert list((world["base"] / protocol.UPLOADED).iterdir()) == []
    assert result.stats.elapsed_seconds < 60


def test_unmanaged_laptop_is_not_stat_checked(world: dict[str, Any]) -> None:
    result = run(world, StandInAgent(world["base"], run_for=60))
    assert result.status == "SUCCEEDED", result.cause
    states_run = {e.details.get("state_name") for e in result.log}
    assert "LookUpSource" in states_run
    assert "StatSource" not in states_run


def test_polling_cost_for_a_one_hour_job(world: dict[str, Any]) -> None:
    result = run(world, StandInAgent(world["base"], admit_after=300, run_for=3300))
    assert result.status == "SUCCEEDED", result.cause
    assert sum(result.stats.action_calls.values()) <= 40
