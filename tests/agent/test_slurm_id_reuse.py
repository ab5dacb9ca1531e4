"""Issue 9: a job id Slurm hands out again is never taken for the UoW's job.

When slurmctld dies right after accepting jobs (SIGKILL: it had not saved them
yet), or comes back without its state directory, it loses those jobs and gives
their ids to later jobs; slurmdbd keeps every job that ever had an id. The
agent used to take the later job's record for its own and hand the UoW back as
succeeded, with no output.

Each run here submits one UoW from its own instance, kills the controller at
once (every other run also wipes its state, so ids start again at 1) and
submits an unrelated job that takes a reused id. Jobs that ran the UoW's own
script are the only ones allowed to make it a success: the check is Slurm's
own accounting of completed jobs under the UoW's job name, and the output the
script wrote. The runs share one private cluster (wiping its state would
disturb the session's shared clusters) and follow each other without waiting
for the UoWs, so the whole test stays well under three minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.state import StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.uow.record import RECOVERY_CLOCK_SLACK, job_name
from tests.agent.helpers import make_uow
from tests.agent.slurm_helpers import finished_path, instance
from tests.slurmbed import SlurmCluster, require_slurm

pytestmark = pytest.mark.slurm

RUNS = 20
"""Crash-and-reuse runs; issue 9 saw a false success in 4 of 5."""

SCRIPT = (
    "#!/bin/bash\n"
    "#SBATCH --time=00:01:00\n"
    "#SBATCH --mem=50M\n"
    'echo "job=$SLURM_JOB_ID" > data/out.txt\n'
)


@pytest.fixture(scope="module")
def crash_bed() -> Iterator[SlurmCluster]:
    """A private cluster with accounting whose controller these tests kill and wipe."""
    require_slurm(accounting=True)
    root = Path(tempfile.mkdtemp(prefix="fc-slurm-reuse-"))
    cluster = SlurmCluster(root, accounting=True)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def bed(crash_bed: SlurmCluster, monkeypatch: pytest.MonkeyPatch) -> SlurmCluster:
    for key, value in crash_bed.env.items():
        monkeypatch.setenv(key, value)
    return crash_bed


def stranger(cluster: SlurmCluster, name: str, workdir: Path) -> str:
    """An unrelated job that succeeds at once (and takes whatever id comes next)."""
    argv = ["sbatch", "--parsable", "--job-name", name, "--mem=50M", "--chdir", str(workdir)]
    result = cluster.run([*argv, "--output", os.devnull, "--wrap", "true"])
    return result.stdout.strip().split(";")[0]


def completed_runs(cluster: SlurmCluster, name: str) -> set[tuple[str, str]]:
    """(job id, submit time) of every job named ``name`` that Slurm accounts as COMPLETED 0:0."""
    fields = "--format=JobID,State,ExitCode,Submit"
    out = cluster.run(
        ["sacct", "-D", "-n", "-P", "-X", "-S", "now-1days", f"--name={name}", fields]
    )
    return {
        (job_id, submit)
        for job_id, state, exit_code, submit in (
            line.split("|") for line in out.stdout.splitlines()
        )
        if state == "COMPLETED" and exit_code == "0:0"
    }


def jobs_recorded(cfg: InstanceConfig) -> list[str]:
    """The job ids the agent recorded for the instance's UoWs."""
    return [r.job_id for r in StateStore(cfg.base_dir).all_records().values() if r.job_id]


def tick_all_until_done(cfgs: list[InstanceConfig], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = [cfg for cfg in cfgs if finished_path(cfg, "uow") is None]
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not handed back within {timeout} s: {[c.name for c in left]}")
        for cfg in left:
            tick(cfg)
        time.sleep(0.5)


def report_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / protocol.REPORT_JSON).read_text())
    return data


def test_a_reused_job_id_never_makes_a_lost_uow_succeed(bed: SlurmCluster, tmp_path: Path) -> None:
    started = time.monotonic()
    work = tmp_path / "strangers"
    work.mkdir()
    cfgs: list[InstanceConfig] = []
    for run in range(RUNS):
        cfg = instance(bed, tmp_path / f"run{run:02d}", unknown_job_grace_seconds=60)
        make_uow(cfg.path(protocol.UPLOADED), "uow", script=SCRIPT)
        assert list(tick(cfg).submitted) == ["uow"], f"run {run}: sbatch did not take the job"
        # At once, as a crash would: the controller has not saved the job yet.
        bed.restart_controller(kill=True, wipe_state=run % 2 == 0, wait_for_nodes=False)
        stranger(bed, f"stranger-{run}", work)
        cfgs.append(cfg)
    # A job that only got a UoW's id within seconds of it is no proof either way
    # (it could have had the id first); the UoW would wait out the grace period.
    # So, later, one more restart without state, and jobs that take ids 1, 2...
    # again and succeed: Slurm submitted them too long after sbatch returned the
    # UoWs' jobs to be older than those, which proves those were lost.
    time.sleep(RECOVERY_CLOCK_SLACK + 1)
    bed.restart_controller(kill=True, wipe_state=True, wait_for_nodes=False)
    highest = max(int(job) for cfg in cfgs for job in jobs_recorded(cfg))
    for number in range(highest):
        stranger(bed, f"late-stranger-{number}", work)
    crashed = time.monotonic() - started

    tick_all_until_done(cfgs, timeout=120)

    false_successes, resubmitted, succeeded = [], 0, 0
    for cfg in cfgs:
        done = finished_path(cfg, "uow")
        assert done is not None
        report = report_of(done)
        resubmitted += report["resubmissions"]
        if report["outcome"] != "succeeded":
            assert "lost" in report["reason"] or "vanished" in report["reason"], report
            continue
        succeeded += 1
        own_runs = completed_runs(bed, job_name(cfg.name, "uow"))
        out = done / "data" / "out.txt"
        if (report["job_id"], report["submit_time"]) not in own_runs or not out.is_file():
            false_successes.append((cfg.name, report["job_id"], report["submit_time"], own_runs))
            continue
        assert out.read_text() == f"job={report['job_id']}\n"
        if report["resubmissions"]:
            events = [e["event"] for e in read_events(cfg.path(protocol.LOGS))]
            assert "job-lost" in events and events.count("submitted") == 2
    elapsed = time.monotonic() - started
    print(
        f"\nid reuse: {RUNS} runs, {len(false_successes)} false successes, {succeeded} "
        f"succeeded ({resubmitted} resubmitted after Slurm lost the job); "
        f"crashes took {crashed:.0f} s, the whole test {elapsed:.0f} s"
    )
    assert false_successes == []
    # Every run lost the UoW's job (or Slurm kept it and it ran): each UoW ends
    # up run by its own job, resubmitted at most once.
    assert succeeded == RUNS
    assert resubmitted >= RUNS // 2
    assert elapsed < 150
