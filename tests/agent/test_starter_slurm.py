"""Who started the run, on the real Slurm test bed: the job's comment as sacct and squeue show it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from tests.agent.helpers import make_uow
from tests.agent.slurm_helpers import FAST_SCRIPT, finished_path, instance, tick_until_done

pytestmark = pytest.mark.slurm

ANN = "ann.o'brien@uni.example.org"


@pytest.fixture
def acct_cluster(slurm_env: Any) -> Any:
    """The cluster with accounting, its environment set for this test."""
    return slurm_env


def test_sacct_shows_who_started_the_run_as_the_job_comment(
    acct_cluster: Any, tmp_path: Path
) -> None:
    cfg = instance(acct_cluster, tmp_path / "inst")
    uow = make_uow(cfg.path(protocol.UPLOADED), "sample", script=FAST_SCRIPT, sentinels=False)
    (uow / protocol.STARTER_DIR / ANN).mkdir(parents=True)
    (uow / protocol.SENTINELS_DIR).mkdir()
    tick_until_done(cfg, ["sample"])
    done = finished_path(cfg, "sample")
    assert done is not None and done.parent.name == protocol.ANALYSED
    assert not (done / protocol.STARTER_DIR).exists()
    job_id = json.loads((done / protocol.REPORT_JSON).read_text())["job_id"]
    argv = ["sacct", "-j", job_id, "-n", "-X", "-P", "-o", "JobID,Comment"]
    deadline = time.monotonic() + 30
    while True:  # slurmdbd may learn the comment a moment after the job ends
        out = acct_cluster.run(argv).stdout.strip()
        if out.endswith(f"flowcron user={ANN}") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert out == f"{job_id}|flowcron user={ANN}"
