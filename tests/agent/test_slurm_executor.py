"""SlurmExecutor against real private Slurm clusters, with accounting and without.

Slurm enforces time limits only in whole minutes, on a 30-second timer, so the
time-limit jobs are submitted to both clusters once, when this module starts,
and checked by the last test: the other tests run meanwhile.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hpc_agent.executors import slurm
from hpc_agent.executors.base import JobInfo, JobSpec, SchedulerUnavailable, SubmitRejected
from hpc_agent.executors.slurm import SlurmExecutor, check_account_qos, detect_accounting
from tests.slurmbed import SlurmCluster

pytestmark = pytest.mark.slurm

VARIANTS = ["accounting", "no-accounting"]


def cluster_for(request: pytest.FixtureRequest, variant: str) -> SlurmCluster:
    name = "slurm_cluster" if variant == "accounting" else "slurm_cluster_noacct"
    cluster = request.getfixturevalue(name)
    assert isinstance(cluster, SlurmCluster)
    return cluster


@pytest.fixture(params=VARIANTS)
def bed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> SlurmCluster:
    """Each test runs once per cluster kind, with the client environment pointing at it."""
    cluster = cluster_for(request, request.param)
    for key, value in cluster.env.items():
        monkeypatch.setenv(key, value)
    return cluster


def make_uow(root: Path, body: str, *, header: str = "") -> tuple[Path, Path]:
    """A UoW directory with data/ and a prepared job script kept outside it."""
    uow = root / f"uow {uuid.uuid4().hex[:6]}"
    (uow / "data").mkdir(parents=True)
    (uow / "data" / "in.txt").write_text("input\n")
    script = root / f"{uow.name}.sbatch"
    script.write_text(f"#!/bin/bash\n{header}{body}\n")
    return uow, script


def spec_for(cluster: SlurmCluster, uow: Path, script: Path, **changes: object) -> JobSpec:
    fields: dict[str, object] = {
        "name": f"fctest-{uuid.uuid4().hex[:10]}",
        "script": script,
        "workdir": uow,
        "stdout": "slurm-%j.out",
        "stderr": "slurm-%j.err",
        "account": cluster.account,
        "qos": cluster.qos,
        "args": (str(uow),),
    }
    fields.update(changes)
    return JobSpec(**fields)  # type: ignore[arg-type]


def wait_finished(executor: SlurmExecutor, job_id: str, timeout: float = 60) -> JobInfo:
    deadline = time.monotonic() + timeout
    last: JobInfo | None = None
    while time.monotonic() < deadline:
        last = executor.query([job_id]).get(job_id)
        if last is not None and last.finished:
            return last
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish within {timeout} s; last seen: {last}")


def wait_state(executor: SlurmExecutor, job_id: str, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = executor.query([job_id]).get(job_id)
        if info is not None and info.state == state:
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {state}")


@dataclass
class TimeLimitJob:
    cluster: SlurmCluster
    job_id: str
    uow: Path


@pytest.fixture(scope="module", autouse=True)
def time_limit_jobs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, TimeLimitJob]]:
    """Submit a job with ``#SBATCH --time=0:02`` to each cluster as early as possible."""
    jobs = {}
    for variant in VARIANTS:
        cluster = cluster_for(request, variant)
        with pytest.MonkeyPatch.context() as patch:
            for key, value in cluster.env.items():
                patch.setenv(key, value)
            uow, script = make_uow(
                tmp_path_factory.mktemp("timelimit"),
                "echo started; sleep 600",
                header="#SBATCH --time=0:02\n",
            )
            job_id = SlurmExecutor().submit(spec_for(cluster, uow, script))
        jobs[variant] = TimeLimitJob(cluster, job_id, uow)
    yield jobs


def test_accounting_is_detected(bed: SlurmCluster) -> None:
    assert detect_accounting() is bed.accounting
    assert SlurmExecutor().accounting is bed.accounting


def test_success_runs_in_the_uow_with_relative_paths(
    bed: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uow, script = make_uow(
        tmp_path, 'cp data/in.txt data/out.txt && echo "first=$1" && echo "to stderr" >&2'
    )
    # The agent runs from anywhere (cron starts in $HOME); the job must not care.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    executor = SlurmExecutor()
    job_id = executor.submit(spec_for(bed, uow, script))
    info = wait_finished(executor, job_id)
    assert (info.state, info.exit_code, info.succeeded) == ("COMPLETED", "0:0", True)
    assert (uow / "data" / "out.txt").read_text() == "input\n"
    assert (uow / f"slurm-{job_id}.out").read_text() == f"first={uow}\n"
    assert (uow / f"slurm-{job_id}.err").read_text() == "to stderr\n"
    assert info.node == bed.node_name
    assert info.submit_time and info.start_time and info.end_time and info.elapsed
    assert not list(elsewhere.iterdir())


def test_exit_status_3_is_failed_3_0(bed: SlurmCluster, tmp_path: Path) -> None:
    uow, script = make_uow(tmp_path, "echo oops >&2; exit 3")
    executor = SlurmExecutor()
    job_id = executor.submit(spec_for(bed, uow, script))
    info = wait_finished(executor, job_id)
    assert (info.state, info.exit_code, info.succeeded) == ("FAILED", "3:0", False)
    assert (uow / f"slurm-{job_id}.err").read_text() == "oops\n"


def test_cancel_gives_cancelled_and_cancelling_again_is_harmless(
    bed: SlurmCluster, tmp_path: Path
) -> None:
    uow, script = make_uow(tmp_path, "sleep 600")
    executor = SlurmExecutor()
    job_id = executor.submit(spec_for(bed, uow, script))
    wait_state(executor, job_id, "RUNNING")
    executor.cancel(job_id)
    info = wait_finished(executor, job_id)
    assert info.state == "CANCELLED" and not info.succeeded
    executor.cancel(job_id)  # already ended: not an error
    executor.cancel("999999")  # never existed: not an error either


def test_bad_partition_is_rejected_with_sbatchs_message(bed: SlurmCluster, tmp_path: Path) -> None:
    uow, script = make_uow(tmp_path, "true")
    spec = spec_for(bed, uow, script, extra=("--partition", "no-such-partition"))
    with pytest.raises(SubmitRejected, match="invalid partition specified: no-such-partition"):
        SlurmExecutor().submit(spec)


def test_bad_account_and_qos_are_rejected_with_accounting(
    slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    uow, script = make_uow(tmp_path, "true")
    executor = SlurmExecutor()
    with pytest.raises(SubmitRejected, match="Invalid account"):
        executor.submit(spec_for(slurm_env, uow, script, account="no-such-account"))
    with pytest.raises(SubmitRejected, match="Invalid qos"):
        executor.submit(spec_for(slurm_env, uow, script, qos="no-such-qos"))


def test_account_and_qos_checked_against_associations(slurm_env: SlurmCluster) -> None:
    assert check_account_qos(slurm_env.account, slurm_env.qos) == []
    assert check_account_qos(None, None) == []
    problems = check_account_qos("no-such-account", "no-such-qos")
    assert len(problems) == 2
    assert "'no-such-account' is not available" in problems[0]
    assert "flowcron-test" in problems[0]  # says which accounts the user has
    assert "QoS 'no-such-qos' does not exist" in problems[1]


def test_without_accounting_nothing_can_be_checked(slurm_env_noacct: SlurmCluster) -> None:
    assert check_account_qos("anything", "anything") == []


def test_find_by_name_sees_queued_and_ended_jobs(bed: SlurmCluster, tmp_path: Path) -> None:
    executor = SlurmExecutor()
    uow, script = make_uow(tmp_path, "true")
    quick = spec_for(bed, uow, script)
    quick_id = executor.submit(quick)
    wait_finished(executor, quick_id)
    uow2, script2 = make_uow(tmp_path, "sleep 600")
    slow = spec_for(bed, uow2, script2)
    slow_id = executor.submit(slow)
    try:
        found = executor.find_by_name([quick.name, slow.name, "fctest-never-submitted"])
        assert found == {quick.name: quick_id, slow.name: slow_id}
        assert executor.find_by_name([]) == {}
        # Jobs submitted before a time (an earlier run under the same name) are left out.
        later = time.time() + 5
        assert executor.find_by_name([quick.name, slow.name], submitted_after=later) == {}
        since = time.time() - 60
        assert executor.find_by_name([quick.name], submitted_after=since) == {quick.name: quick_id}
    finally:
        executor.cancel(slow_id)


def test_query_is_one_batched_call_and_omits_unknown_ids(
    bed: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = SlurmExecutor()
    ids = []
    for body in ("true", "exit 4", "true"):
        uow, script = make_uow(tmp_path, body)
        ids.append(executor.submit(spec_for(bed, uow, script)))
    for job_id in ids:
        wait_finished(executor, job_id)
    calls: list[list[str]] = []
    real_run = slurm._run

    def counting_run(argv: list[str], timeout: float) -> object:
        calls.append(list(argv))
        return real_run(argv, timeout)

    monkeypatch.setattr(slurm, "_run", counting_run)
    jobs = executor.query([*ids, "999999"])
    assert sorted(jobs) == sorted(ids)
    assert [jobs[job_id].exit_code for job_id in ids] == ["0:0", "4:0", "0:0"]
    # One job-status call for all ids (plus, without accounting, the exit-code lookup).
    assert [argv[0] for argv in calls] == (["sacct"] if bed.accounting else ["squeue", "scontrol"])
    # Only forgotten ids: an empty answer, not an error.
    assert executor.query(["999998", "999999"]) == {}
    assert executor.query([]) == {}


def test_a_stopped_controller_is_scheduler_unavailable_everywhere(
    bed: SlurmCluster, tmp_path: Path
) -> None:
    executor = SlurmExecutor(timeout_seconds=30)
    uow, script = make_uow(tmp_path, "true")
    done = executor.submit(spec_for(bed, uow, script))
    wait_finished(executor, done)
    bed.stop_controller()
    try:
        with pytest.raises(SchedulerUnavailable, match="slurmctld is down"):
            executor.ping()
        with pytest.raises(SchedulerUnavailable, match="Unable to contact slurm controller"):
            executor.submit(spec_for(bed, uow, script))
        if bed.accounting:
            # slurmdbd still answers sacct; the tick learns of the outage from ping().
            assert executor.query([done])[done].state == "COMPLETED"
        else:
            with pytest.raises(SchedulerUnavailable):
                executor.query([done])
        with pytest.raises(SchedulerUnavailable):
            executor.find_by_name(["anything"])
        with pytest.raises(SchedulerUnavailable):
            executor.cancel(done)
    finally:
        bed.start_controller()
    executor.ping()
    assert executor.query([done])[done].state == "COMPLETED"


def test_a_command_that_does_not_answer_in_time_is_scheduler_unavailable(
    bed: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = tmp_path / "bin"
    slow.mkdir()
    fake = slow / "squeue"
    fake.write_text("#!/bin/sh\nsleep 5\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{slow}:{bed.env['PATH']}")
    with pytest.raises(SchedulerUnavailable, match=r"did not answer within 0\.5 s"):
        SlurmExecutor(timeout_seconds=0.5, accounting=False).query(["1"])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SchedulerUnavailable, match="sbatch is not on PATH"):
        SlurmExecutor(accounting=False).submit(
            JobSpec(name="n", script=fake, workdir=tmp_path, stdout="o", stderr="e")
        )


@pytest.mark.parametrize("variant", VARIANTS)
def test_time_limit_gives_timeout(
    variant: str, time_limit_jobs: dict[str, TimeLimitJob], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = time_limit_jobs[variant]
    for key, value in job.cluster.env.items():
        monkeypatch.setenv(key, value)
    # Slurm rounds 2 s up to a minute and checks limits every 30 s, then KillWait.
    info = wait_finished(SlurmExecutor(), job.job_id, timeout=150)
    assert (info.state, info.succeeded) == ("TIMEOUT", False)
    assert (job.uow / f"slurm-{job.job_id}.out").read_text() == "started\n"
