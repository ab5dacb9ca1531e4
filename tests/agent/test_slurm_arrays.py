"""Issue 9: job arrays and heterogeneous jobs on the real test bed, with and without accounting.

``sbatch --parsable`` prints one id; Slurm lists ``<id>_<task>`` or
``<id>+<component>``. The UoW is handed back once every task or component has
ended, never before, and its report covers each of them. Arrays run on the
session's shared clusters; heterogeneous jobs need two nodes (the backfill
scheduler, the only one that starts them, never puts two components on one
node), so they get a private two-node cluster per variant.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.executors.slurm import SlurmExecutor
from hpc_agent.loop.tick import tick
from tests.agent.helpers import make_uow
from tests.agent.slurm_helpers import finished_path, instance
from tests.slurmbed import SlurmCluster, require_slurm

pytestmark = pytest.mark.slurm

ARRAY_SCRIPT = (
    "#!/bin/bash\n"
    "#SBATCH --array=1-4\n"
    "#SBATCH --time=00:01:00\n"
    "#SBATCH --mem=50M\n"
    'echo "task $SLURM_ARRAY_TASK_ID" > "data/out_$SLURM_ARRAY_TASK_ID.txt"\n'
    'if [ "$SLURM_ARRAY_TASK_ID" = 3 ]; then echo "task 3 fails" >&2; exit 3; fi\n'
    'if [ "$SLURM_ARRAY_TASK_ID" = 4 ]; then sleep 4; echo late > data/late.txt; fi\n'
)

HET_SCRIPT = (
    "#!/bin/bash\n"
    "#SBATCH --time=00:01:00\n"
    "#SBATCH --mem=50M\n"
    "#SBATCH hetjob\n"
    "#SBATCH --time=00:01:00\n"
    "#SBATCH --mem=50M\n"
    'echo "het $SLURM_JOB_ID" > data/out.txt\n'
)


def _bed(request: pytest.FixtureRequest, name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    bed = request.getfixturevalue(name)
    for key, value in bed.env.items():
        monkeypatch.setenv(key, value)
    return bed


@pytest.fixture(params=["slurm_cluster", "slurm_cluster_noacct"])
def cluster(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The shared clusters: with accounting (sacct) and without (squeue + scontrol)."""
    return _bed(request, request.param, monkeypatch)


@pytest.fixture(scope="module", params=[True, False], ids=["accounting", "no-accounting"])
def two_nodes(request: pytest.FixtureRequest) -> Iterator[SlurmCluster]:
    """A private two-node cluster (one CPU each) that starts heterogeneous jobs within seconds."""
    accounting: bool = request.param
    require_slurm(accounting=accounting)
    root = Path(tempfile.mkdtemp(prefix="fc-slurm-het-"))
    bed = SlurmCluster(
        root, accounting=accounting, nodes=2, cpus=1, scheduler_parameters="bf_interval=1"
    )
    try:
        bed.start()
        yield bed
    finally:
        bed.stop()
        shutil.rmtree(root, ignore_errors=True)


def read_report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / protocol.REPORT_JSON).read_text())
    return data


def tick_watching_tasks(cfg: InstanceConfig, name: str, timeout: float = 120) -> Path:
    """Tick until ``name`` is handed back; fail if that happens while a task is queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        result = tick(cfg)
        done = finished_path(cfg, name)
        if done is not None:
            job_id = read_report(done)["job_id"]
            # Asked of the scheduler itself, the same way whatever the variant.
            info = SlurmExecutor().query([job_id]).get(job_id)
            assert info is not None and info.finished, f"handed back while {info} had not ended"
            return done
        assert result.exit_code == 0, result.message
        assert time.monotonic() < deadline, f"{name} not handed back within {timeout} s"
        time.sleep(0.5)


def test_an_array_with_a_failing_task_fails_with_every_task_reported(
    cluster: Any, tmp_path: Path
) -> None:
    cfg = instance(cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "arr", script=ARRAY_SCRIPT)

    done = tick_watching_tasks(cfg, "arr")

    assert done.parent.name == protocol.FAILED
    # Every task ran to its end before the hand-back, the slow one included.
    for task in range(1, 5):
        assert (done / "data" / f"out_{task}.txt").read_text() == f"task {task}\n"
    assert (done / "data" / "late.txt").read_text() == "late\n"
    report = read_report(done)
    job_id = report["job_id"]
    assert (report["state"], report["exit_code"]) == ("FAILED", "3:0")
    tasks = report["tasks"]
    assert tasks["kind"] == "array" and tasks["total"] == 4
    assert tasks["counts"] == {"COMPLETED": 3, "FAILED": 1}
    assert [(t["task"], t["state"], t["exit_code"]) for t in tasks["not_succeeded"]] == [
        (f"{job_id}_3", "FAILED", "3:0")
    ]
    # Each task writes its own slurm-<its job id>.err; the failed task's is quoted.
    stderr_file = tasks["not_succeeded"][0]["stderr"]
    assert (done / stderr_file).read_text() == "task 3 fails\n"
    assert report["stderr"]["file"] == stderr_file
    text = (done / protocol.REPORT_TEXT).read_text()
    assert "Array tasks: 4 (3 COMPLETED, 1 FAILED)" in text
    failed_line = next(line for line in text.splitlines() if f"{job_id}_3:" in line)
    assert "FAILED, exit code 3:0" in failed_line and failed_line.endswith(f"see {stderr_file}")
    assert f"{job_id}_3" in report["reason"]


def test_an_array_whose_tasks_all_succeed_is_a_success(cluster: Any, tmp_path: Path) -> None:
    cfg = instance(cluster, tmp_path / "inst")
    script = ARRAY_SCRIPT.replace("exit 3", "true").replace("--array=1-4", "--array=1-3")
    make_uow(cfg.path(protocol.UPLOADED), "arr", script=script)
    done = tick_watching_tasks(cfg, "arr")
    report = read_report(done)
    assert done.parent.name == protocol.ANALYSED, (report["reason"], report.get("tasks"))
    assert report["tasks"]["counts"] == {"COMPLETED": 3} and report["tasks"]["not_succeeded"] == []


def test_a_two_component_heterogeneous_job_runs_and_reports_both(
    two_nodes: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in two_nodes.env.items():
        monkeypatch.setenv(key, value)
    cfg = instance(two_nodes, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "het", script=HET_SCRIPT)
    failing = HET_SCRIPT + "exit 2\n"
    make_uow(cfg.path(protocol.UPLOADED), "het-bad", script=failing)

    done = tick_watching_tasks(cfg, "het")
    bad = tick_watching_tasks(cfg, "het-bad")

    assert done.parent.name == protocol.ANALYSED
    report = read_report(done)
    job_id = report["job_id"]
    assert (done / "data" / "out.txt").read_text() == f"het {job_id}\n"
    assert report["tasks"]["kind"] == "heterogeneous"
    assert report["tasks"]["counts"] == {"COMPLETED": 2}
    assert report["node"] == ",".join(two_nodes.node_names)
    assert "Components: 2 (2 COMPLETED)" in (done / protocol.REPORT_TEXT).read_text()

    assert bad.parent.name == protocol.FAILED
    bad_report = read_report(bad)
    failed = [(t["task"], t["exit_code"]) for t in bad_report["tasks"]["not_succeeded"]]
    assert failed[0] == (f"{bad_report['job_id']}+0", "2:0")
    assert bad_report["tasks"]["total"] == 2
