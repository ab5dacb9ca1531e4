"""A folder run again: what an earlier FlowCron run wrote never blocks it and is never lost."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop.tick import tick
from hpc_agent.uow.rerun import FALLBACK_LABEL, archive_earlier_outputs, find_earlier_outputs
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow

RUN_1 = "11111111-8a5e-4b8e-9f3e-2a6c1d0e4f11"
RUN_2 = "22222222-8a5e-4b8e-9f3e-2a6c1d0e4f11"
RUN_3 = "33333333-8a5e-4b8e-9f3e-2a6c1d0e4f11"
FAILING = "#!/bin/bash\n#SBATCH --time=00:01:00\nexit 3\n"


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    return cfg


def run_once(
    inst: InstanceConfig, folder: Path, run_id: str, *, state: str, exit_code: str
) -> Path:
    """Upload ``folder`` as the flow would, run its job to ``state``, copy the result back.

    The copy back is a sync that never deletes files in the laptop folder,
    like the flow's transfer (``sync_level`` mtime, no delete_destination_extra).
    """
    name = protocol.job_dir_name(folder.name, run_id)
    upload = inst.path(protocol.UPLOADED) / name
    shutil.copytree(folder, upload, symlinks=True)
    (upload / protocol.SENTINELS_DIR).mkdir()
    fake = FakeExecutor()
    submitted = tick(inst, fake)
    assert name in submitted.submitted, submitted
    job_id = submitted.submitted[name]
    running = inst.path(protocol.RUNNING) / name
    (running / f"slurm-{job_id}.out").write_text(f"output of {run_id}\n")
    (running / f"slurm-{job_id}.err").write_text(f"warning from {run_id}\n")
    fake.finish(job_id, state, exit_code)
    finished = tick(inst, fake).finished
    destination = inst.base_dir / finished[name]
    shutil.copytree(destination, folder, symlinks=True, dirs_exist_ok=True)
    return destination


def laptop_uow(tmp_path: Path, script: str = FAILING) -> Path:
    return make_uow(tmp_path / "laptop", "sample", script=script, sentinels=False)


def read_json(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize(
    ("first_state", "first_exit"), [("FAILED", "3:0"), ("COMPLETED", "0:0")], ids=["failed", "ok"]
)
def test_a_returned_folder_runs_again_and_keeps_the_earlier_report(
    inst: InstanceConfig, tmp_path: Path, first_state: str, first_exit: str
) -> None:
    folder = laptop_uow(tmp_path)
    run_once(inst, folder, RUN_1, state=first_state, exit_code=first_exit)
    first_outcome = read_json(folder / protocol.REPORT_JSON)["outcome"]

    (folder / "scripts" / protocol.SUBMISSION_SCRIPT).write_text(
        "#!/bin/bash\n#SBATCH --time=00:01:00\necho fixed > data/out.txt\n"
    )
    second = run_once(inst, folder, RUN_2, state="COMPLETED", exit_code="0:0")

    report = read_json(folder / protocol.REPORT_JSON)
    assert report["outcome"] == "succeeded"
    assert report["run_id"] == RUN_2
    assert report["problems"] == []
    archive = folder / protocol.EARLIER_RUNS_DIR / f"sample_{RUN_1}"
    assert read_json(archive / protocol.REPORT_JSON)["outcome"] == first_outcome
    assert (archive / protocol.REPORT_TEXT).read_text().startswith("FlowCron report")
    assert sorted(p.name for p in archive.glob("slurm-*")) == ["slurm-1001.err", "slurm-1001.out"]
    assert any("run through FlowCron before" in note for note in report["notes"])  # type: ignore[attr-defined]
    assert not list(folder.glob("*.user*"))
    # On the HPC the new report is the only one at the top of the folder.
    assert [p.name for p in second.glob("flowcron-report*")] == [protocol.REPORT_JSON]


def test_three_runs_file_each_earlier_run_once_and_pile_up_nothing(
    inst: InstanceConfig, tmp_path: Path
) -> None:
    folder = laptop_uow(tmp_path)
    run_once(inst, folder, RUN_1, state="FAILED", exit_code="3:0")
    run_once(inst, folder, RUN_2, state="FAILED", exit_code="3:0")
    run_once(inst, folder, RUN_3, state="COMPLETED", exit_code="0:0")

    archive = folder / protocol.EARLIER_RUNS_DIR
    assert sorted(p.name for p in archive.iterdir()) == [f"sample_{RUN_1}", f"sample_{RUN_2}"]
    # Every run's job had id 1001 (the in-memory executor starts again each
    # time, like a test cluster set up anew): each run's output still survives,
    # filed under the run that wrote it.
    assert sorted(p.name for p in (archive / f"sample_{RUN_2}").iterdir()) == [
        protocol.REPORT_TEXT,
        protocol.REPORT_JSON,
        "slurm-1001.err",
        "slurm-1001.out",
    ]
    assert (archive / f"sample_{RUN_2}" / "slurm-1001.out").read_text() == f"output of {RUN_2}\n"
    assert (archive / f"sample_{RUN_1}" / "slurm-1001.out").read_text() == f"output of {RUN_1}\n"
    assert read_json(folder / protocol.REPORT_JSON)["run_id"] == RUN_3
    assert not list(folder.rglob("*.user*"))


def test_a_users_own_file_at_a_report_name_still_blocks_and_is_kept(tmp_path: Path) -> None:
    uow = make_uow(tmp_path, "u")
    (uow / protocol.REPORT_JSON).write_text('{"my": "own notes"}\n')
    (uow / protocol.REPORT_TEXT).write_text("FlowCron report? no, my notes\n")
    assert find_earlier_outputs(uow) is None


def test_a_report_that_is_a_symlink_is_not_taken_for_ours(tmp_path: Path) -> None:
    real = make_uow(tmp_path, "real")
    tick_report = {"agent_version": "1", "outcome": "failed", "finalized_at": "x", "uow": "a"}
    (real / "elsewhere.json").write_text(json.dumps(tick_report))
    (real / protocol.REPORT_JSON).symlink_to(real / "elsewhere.json")
    assert find_earlier_outputs(real) is None


def test_slurm_output_without_a_report_is_archived_under_a_plain_name(tmp_path: Path) -> None:
    # The layout a folder has after the original FlowCron HPC side ran it.
    uow = make_uow(tmp_path, "u")
    (uow / "slurm-77.out").write_text("old\n")
    (uow / "slurm-77_3.err").write_text("old task\n")
    (uow / "slurm-notes.txt").write_text("mine\n")
    earlier = find_earlier_outputs(uow)
    assert earlier is not None
    assert earlier.label == FALLBACK_LABEL
    assert earlier.entries == ("slurm-77.out", "slurm-77_3.err")
    archive = archive_earlier_outputs(uow, earlier)
    assert archive == f"{protocol.EARLIER_RUNS_DIR}/{FALLBACK_LABEL}"
    assert (uow / archive / "slurm-77.out").read_text() == "old\n"
    assert (uow / "slurm-notes.txt").read_text() == "mine\n"


def test_archiving_never_overwrites_and_steps_around_a_users_file(tmp_path: Path) -> None:
    uow = make_uow(tmp_path, "u")
    (uow / protocol.EARLIER_RUNS_DIR).write_text("a user's file of that name\n")
    for content in ("first\n", "second\n"):
        (uow / "slurm-5.out").write_text(content)
        earlier = find_earlier_outputs(uow)
        assert earlier is not None
        archive_earlier_outputs(uow, earlier)
    root = uow / f"{protocol.EARLIER_RUNS_DIR}.1"
    assert (root / FALLBACK_LABEL / "slurm-5.out").read_text() == "first\n"
    assert (root / f"{FALLBACK_LABEL}.1" / "slurm-5.out").read_text() == "second\n"
    assert (uow / protocol.EARLIER_RUNS_DIR).read_text() == "a user's file of that name\n"


def test_an_unsafe_uow_name_in_an_old_report_is_not_used_as_a_folder_name(
    tmp_path: Path,
) -> None:
    uow = make_uow(tmp_path, "u")
    forged = {"agent_version": "1", "outcome": "ok", "finalized_at": "x", "uow": "../../etc"}
    (uow / protocol.REPORT_JSON).write_text(json.dumps(forged))
    earlier = find_earlier_outputs(uow)
    assert earlier is not None and earlier.label == FALLBACK_LABEL
    archive = archive_earlier_outputs(uow, earlier)
    assert (uow / archive / protocol.REPORT_JSON).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u"]


def test_output_already_archived_unchanged_stays_where_it_is(tmp_path: Path) -> None:
    uow = make_uow(tmp_path, "u")
    archived = uow / protocol.EARLIER_RUNS_DIR / "sample_old"
    archived.mkdir(parents=True)
    (archived / "slurm-5.out").write_text("same\n")
    (uow / "slurm-5.out").write_text("same\n")
    assert find_earlier_outputs(uow) is None
    (uow / "slurm-5.out").write_text("changed\n")
    earlier = find_earlier_outputs(uow)
    assert earlier is not None and earlier.entries == ("slurm-5.out",)
