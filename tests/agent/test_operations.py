"""retry, cancel, finalize (the finalize-by-dependency job's command) and status."""

from __future__ import annotations

import json

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.executors.base import JobInfo, combine
from hpc_agent.loop.state import StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.site.status import collect_status, format_status
from hpc_agent.uow.operations import OperationError, cancel, finalize_uow, retry
from hpc_agent.uow.record import RECOVERY_CLOCK_SLACK
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    return cfg


def test_retry_sends_a_failed_uow_back_and_keeps_its_old_report(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "s")
    fake = FakeExecutor()
    fake.finish(tick(inst, fake).submitted["s"], "FAILED", "1:0")
    tick(inst, fake)
    target = retry(inst, "s")
    assert target == inst.path(protocol.UPLOADED) / "s"
    assert (target / protocol.SENTINELS_DIR).is_dir()
    assert not (target / protocol.REPORT_JSON).exists()
    archive = target / protocol.EARLIER_RUNS_DIR / "s"
    old = json.loads((archive / protocol.REPORT_JSON).read_text())
    assert old["outcome"] == "failed"
    assert (archive / protocol.REPORT_TEXT).is_file()
    # The next tick submits it again.
    assert list(tick(inst, fake).submitted) == ["s"]


def test_retry_of_an_unknown_uow_says_which_ones_exist(inst: InstanceConfig) -> None:
    (inst.path(protocol.FAILED) / "other").mkdir()
    with pytest.raises(OperationError, match="Failed UoWs: other"):
        retry(inst, "nope")


@pytest.mark.parametrize("bad", ["s/data", "s/..", "..", ".", ""])
def test_uow_names_that_are_paths_are_refused_and_nothing_moves(
    inst: InstanceConfig, bad: str
) -> None:
    # "retry p42 s/data" used to move a sub-folder of a failed UoW into an
    # upload of the same name still arriving in UploadedFiles/.
    failed = make_uow(inst.path(protocol.FAILED), "s")
    uploading = inst.path(protocol.UPLOADED) / "s"
    (uploading / "scripts").mkdir(parents=True)
    fake = FakeExecutor()
    for operation in (
        lambda: retry(inst, bad),
        lambda: cancel(inst, bad, fake),
        lambda: finalize_uow(inst, bad, fake, wait_seconds=0),
    ):
        with pytest.raises(OperationError, match="not a UoW name"):
            operation()
    assert (failed / "data" / "input.txt").is_file()
    assert not (uploading / "data").exists()
    assert fake.calls == []


def test_cancel_scancels_and_finalizes_as_cancelled(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "s")
    fake = FakeExecutor()
    job = tick(inst, fake).submitted["s"]
    assert cancel(inst, "s", fake) == f"{protocol.FAILED}/s"
    assert fake.jobs[job].state == "CANCELLED"
    report = json.loads((inst.path(protocol.FAILED) / "s" / protocol.REPORT_JSON).read_text())
    assert report["outcome"] == "cancelled"
    with pytest.raises(OperationError, match="no queued or running UoW"):
        cancel(inst, "s", fake)


def test_cancel_of_a_uow_still_submitting_finds_its_job_by_name(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "s")
    fake = FakeExecutor()
    job = tick(inst, fake).submitted["s"]
    store = StateStore(inst.base_dir)
    record = store.load("s")
    assert record is not None
    # As if the agent died after sbatch created the job but before it recorded the id.
    record.job_id, record.phase = None, "submitting"
    store.save(record)

    assert cancel(inst, "s", fake) == f"{protocol.FAILED}/s"

    assert fake.jobs[job].state == "CANCELLED"  # not left running
    assert record.submit_intent_at is not None
    assert fake.name_lookups == [record.submit_intent_at - RECOVERY_CLOCK_SLACK]
    report = json.loads((inst.path(protocol.FAILED) / "s" / protocol.REPORT_JSON).read_text())
    assert (report["outcome"], report["job_id"]) == ("cancelled", job)


def test_cancel_after_the_job_completed_keeps_the_real_outcome(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "s")
    fake = FakeExecutor()
    job = tick(inst, fake).submitted["s"]
    fake.finish(job)  # it ended before the cancel arrived (the tick has not seen it yet)

    assert cancel(inst, "s", fake) == f"{protocol.ANALYSED}/s"

    report = json.loads((inst.path(protocol.ANALYSED) / "s" / protocol.REPORT_JSON).read_text())
    assert (report["outcome"], report["state"]) == ("succeeded", "COMPLETED")


def test_finalize_command_finishes_an_ended_job_and_is_idempotent(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "s")
    fake = FakeExecutor()
    job = tick(inst, fake).submitted["s"]
    assert finalize_uow(inst, "s", fake, wait_seconds=0) is None  # still pending
    assert (inst.path(protocol.RUNNING) / "s").is_dir()
    fake.finish(job)
    assert finalize_uow(inst, "s", fake, wait_seconds=0) == f"{protocol.ANALYSED}/s"
    assert finalize_uow(inst, "s", fake, wait_seconds=0) is None
    assert tick(inst, fake).finished == {}


def test_status_lists_uows_by_state_with_job_ids(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "done")
    make_uow(inst.path(protocol.UPLOADED), "busy")
    fake = FakeExecutor()
    jobs = tick(inst, fake).submitted
    fake.finish(jobs["done"])
    tick(inst, fake)
    make_uow(inst.path(protocol.UPLOADED), "coming", sentinels=False)
    status = collect_status(inst, fake)
    assert [u["uow"] for u in status["uploaded"]] == ["coming"]
    assert status["uploaded"][0]["state"] == "uploading"
    assert status["running"] == [
        {
            "uow": "busy",
            "phase": "submitted",
            "job_id": jobs["busy"],
            "slurm_state": "PENDING",
            "outcome": None,
            "age_seconds": status["running"][0]["age_seconds"],
            "stuck": None,
        }
    ]
    assert [(u["uow"], u["job_id"]) for u in status["analysed"]] == [("done", jobs["done"])]
    text = format_status(status)
    assert f"busy  submitted  job {jobs['busy']}  PENDING" in text
    assert "AnalysedFiles/ (1)" in text


def test_status_survives_a_scheduler_outage(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "busy")
    fake = FakeExecutor()
    tick(inst, fake)
    fake.down = True
    status = collect_status(inst, fake)
    assert "Unable to contact" in status["scheduler_error"]
    assert status["running"][0]["slurm_state"] is None


def test_status_lists_dot_named_uows(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), ".done")
    make_uow(inst.path(protocol.UPLOADED), ".queued")
    fake = FakeExecutor()
    fake.finish(tick(inst, fake).submitted[".done"])
    tick(inst, fake)  # .done finishes; .queued keeps running
    make_uow(inst.path(protocol.UPLOADED), ".waiting", sentinels=False)

    status = collect_status(inst, fake)

    assert [item["uow"] for item in status["analysed"]] == [".done"]
    assert [item["uow"] for item in status["running"]] == [".queued"]
    assert [item["uow"] for item in status["uploaded"]] == [".waiting"]


def test_cancel_never_scancels_a_job_that_took_over_the_id(inst: InstanceConfig) -> None:
    # After a controller lost its state, the UoW's job id belongs to a stranger's job.
    import time as clock

    from hpc_agent.executors.base import JobInfo

    make_uow(inst.path(protocol.UPLOADED), "s")
    fake = FakeExecutor()
    job_id = tick(inst, fake).submitted["s"]
    fake.jobs[job_id] = JobInfo(
        job_id=job_id, state="RUNNING", name="someone-elses-job", submit_epoch=clock.time() + 60
    )
    destination = cancel(inst, "s", fake)
    assert "cancel" not in fake.calls, "the stranger's job must not be cancelled"
    assert destination == f"{protocol.FAILED}/s"
    report = json.loads((inst.path(protocol.FAILED) / "s" / protocol.REPORT_JSON).read_text())
    assert "Slurm lost job" in report["reason"]


def _array(job_id: str, *tasks: tuple[str, str, str | None]) -> JobInfo:
    """An array job as the scheduler shows it now: its tasks (id suffix, state, exit code)."""
    return combine(
        job_id,
        [
            JobInfo(job_id=f"{job_id}_{task}", state=state, exit_code=exit_code)
            for task, state, exit_code in tasks
        ],
    )


def test_finalize_judges_an_array_from_every_task_seen_as_the_tick_does(
    inst: InstanceConfig,
) -> None:
    # Without accounting the controller forgets an ended array task while the
    # others still run: the failed task 1, seen by a tick, is gone by the time
    # the finalize-by-dependency job asks. It must still count.
    make_uow(inst.path(protocol.UPLOADED), "s")
    fake = FakeExecutor()
    job = tick(inst, fake).submitted["s"]
    fake.jobs[job] = _array(job, ("1", "FAILED", "1:0"), ("2", "RUNNING", None))
    assert tick(inst, fake).finished == {}
    fake.jobs[job] = _array(job, ("2", "COMPLETED", "0:0"))
    assert finalize_uow(inst, "s", fake, wait_seconds=0) == f"{protocol.FAILED}/s"
    report = json.loads((inst.path(protocol.FAILED) / "s" / protocol.REPORT_JSON).read_text())
    assert report["outcome"] == "failed"
    assert f"{job}_1 FAILED 1:0" in report["reason"]


def test_cancel_after_the_end_judges_an_array_from_every_task_seen(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "s")
    fake = FakeExecutor()
    job = tick(inst, fake).submitted["s"]
    fake.jobs[job] = _array(job, ("1", "FAILED", "1:0"), ("2", "RUNNING", None))
    tick(inst, fake)
    fake.jobs[job] = _array(job, ("2", "COMPLETED", "0:0"))
    assert cancel(inst, "s", fake) == f"{protocol.FAILED}/s"
    report = json.loads((inst.path(protocol.FAILED) / "s" / protocol.REPORT_JSON).read_text())
    assert report["outcome"] == "failed"
    assert f"{job}_1 FAILED 1:0" in report["reason"]
