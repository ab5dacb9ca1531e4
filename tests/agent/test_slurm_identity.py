"""Whose job is it? The identity rules of issue 9, without a cluster.

After a controller lost its state Slurm hands the lost jobs' ids to later
jobs, and ``sacct --duplicates`` lists every job that ever had an id. These
tests pin down which records the agent takes for its own (job name and
submit time), when a later job proves its job was lost, and how arrays and
heterogeneous jobs add up, first on the pure functions, then through a tick
against an in-memory executor.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.executors.base import (
    OUTCOME_UNSEEN,
    JobInfo,
    claim,
    combine,
    merge_seen_tasks,
    task_count,
    task_ids,
)
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.state import JobRecord, StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.uow.finalize import build_report
from hpc_agent.uow.record import RECOVERY_CLOCK_SLACK
from hpc_agent.uow.report import render_text
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow

OURS = "flowcron-proj-sample"
T0 = 1_800_000_000.0


def rec(
    job_id: str,
    state: str = "COMPLETED",
    exit_code: str | None = "0:0",
    *,
    name: str | None = OURS,
    submit: float = T0,
    unnamed: bool = False,
) -> JobInfo:
    """One record as a parser makes it (finished ones carry an exit code)."""
    return JobInfo(
        job_id=job_id,
        state=state,
        exit_code=exit_code,
        name=None if unnamed else name,
        submit_epoch=submit,
        submit_time="2027-01-15T08:00:00",
        raw_id=job_id.replace("_", "") if "_" in job_id else job_id,
        count=task_count(job_id),
        unnamed=unnamed,
    )


def under(job_id: str, *records: JobInfo) -> JobInfo:
    """What the executor returns for ``job_id`` when Slurm holds ``records`` under it."""
    newest = max(records, key=lambda r: r.submit_epoch or 0.0)
    others = tuple(r for r in records if r is not newest)
    return dataclasses.replace(combine(job_id, [newest]), others=others)


# -- claim: whose records are these --------------------------------------------


def test_a_later_job_with_another_name_proves_ours_was_lost() -> None:
    stranger = rec("7", name="someone-else", submit=T0 + 30)
    seen = claim(under("7", stranger), name=OURS, since=T0 - 5, until=T0 + 5)
    assert seen.job is None
    assert seen.reused_by == stranger


def test_our_finished_record_wins_over_a_later_stranger_with_the_same_id() -> None:
    ours = rec("7", "FAILED", "3:0")
    stranger = rec("7", name="someone-else", submit=T0 + 30)
    seen = claim(under("7", ours, stranger), name=OURS, since=T0 - 5, until=T0 + 5)
    assert seen.job is not None and seen.confirmed
    assert (seen.job.state, seen.job.exit_code) == ("FAILED", "3:0")


def test_a_stranger_submitted_about_when_we_were_is_neither_ours_nor_proof() -> None:
    # It may have had the id before ours (another controller incarnation): no proof.
    stranger = rec("7", name="someone-else", submit=T0 + 2)
    seen = claim(under("7", stranger), name=OURS, since=T0 - 5, until=T0 + 5)
    assert seen.job is None and seen.reused_by is None


def test_an_older_job_of_the_same_name_is_an_earlier_run_not_this_one() -> None:
    earlier = rec("7", submit=T0 - 3600)
    assert claim(under("7", earlier), name=OURS, since=T0 - 5, until=T0 + 5).job is None


def test_a_record_without_a_name_yet_is_not_confirmed() -> None:
    # sacct lists "allocation" until slurmdbd has the full record, also for ended jobs.
    nameless = rec("7", unnamed=True, submit=T0 + 30)
    seen = claim(under("7", nameless), name=OURS, since=T0 - 5, until=T0 + 5)
    assert seen.job is not None and seen.job.finished
    assert not seen.confirmed and not seen.unnamed_in_window
    assert claim(
        under("7", rec("7", unnamed=True)), name=OURS, since=T0, until=T0 + 5
    ).unnamed_in_window


def test_a_requeued_job_is_followed_to_its_newest_run() -> None:
    first = rec("7", "REQUEUED", None)
    again = rec("7", "PENDING", None, submit=T0 + 60)
    seen = claim(under("7", first, again), name=OURS, since=T0 - 5, until=T0 + 5)
    assert seen.job is not None and seen.job.state == "PENDING" and seen.reused_by is None


def test_an_executor_that_reports_no_names_or_times_is_trusted() -> None:
    plain = JobInfo(job_id="7", state="COMPLETED", exit_code="0:0")
    seen = claim(plain, name=OURS, since=T0, until=T0 + 5)
    assert seen.job == plain and seen.confirmed


# -- arrays and heterogeneous jobs ---------------------------------------------


def test_an_array_succeeds_only_when_every_task_does() -> None:
    tasks = [rec("9_1"), rec("9_2"), rec("9_3", "FAILED", "3:0"), rec("9_4")]
    job = combine("9", tasks)
    assert job.finished and not job.succeeded
    assert (job.state, job.exit_code, job.count) == ("FAILED", "3:0", 4)
    assert combine("9", [rec("9_1"), rec("9_2")]).succeeded


def test_an_array_with_a_task_queued_or_running_has_not_finished() -> None:
    job = combine("9", [rec("9_1", "FAILED", "3:0"), rec("9_[2-4%2]", "PENDING", None)])
    assert not job.finished and job.state == "PENDING" and job.count == 4
    running = combine("9", [rec("9_1"), rec("9_2", "RUNNING", None)])
    assert not running.finished and running.state == "RUNNING"


def test_a_heterogeneous_job_adds_up_its_components() -> None:
    job = combine("5", [rec("5+1"), rec("5+0")])
    assert job.succeeded and [t.job_id for t in job.tasks] == ["5+0", "5+1"]


@pytest.mark.parametrize(
    ("job_id", "ids"),
    [
        ("7_[1-3,5]", ["7_1", "7_2", "7_3", "7_5"]),
        ("7_[1-5:2%1]", ["7_1", "7_3", "7_5"]),
        ("7_4", ["7_4"]),
        ("7+1", ["7+1"]),
        ("7_[x]", None),
    ],
)
def test_pending_array_ranges_expand_to_task_ids(job_id: str, ids: list[str] | None) -> None:
    assert task_ids(job_id) == ids


def test_tasks_the_controller_forgot_are_filled_in_from_earlier_ticks() -> None:
    # Without accounting a finished task disappears MinJobAge seconds after it ended.
    first = combine("9", [rec("9_1", "FAILED", "3:0"), rec("9_2", "RUNNING", None)])
    _, memory = merge_seen_tasks(first, {})
    later = combine("9", [rec("9_2")])
    merged, _ = merge_seen_tasks(later, memory)
    assert merged.finished and not merged.succeeded
    assert [(t.job_id, t.state) for t in merged.tasks] == [("9_1", "FAILED"), ("9_2", "COMPLETED")]


def test_a_task_seen_queued_and_then_forgotten_counts_as_unseen() -> None:
    _, memory = merge_seen_tasks(combine("9", [rec("9_[1-2]", "PENDING", None)]), {})
    merged, _ = merge_seen_tasks(combine("9", [rec("9_2")]), memory)
    assert merged.finished and not merged.succeeded
    assert {t.job_id: t.state for t in merged.tasks} == {"9_1": OUTCOME_UNSEEN, "9_2": "COMPLETED"}


# -- through a tick ------------------------------------------------------------

NAME = "sample_0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    return cfg


def submitted(cfg: InstanceConfig, fake: FakeExecutor) -> tuple[str, JobRecord]:
    make_uow(cfg.path(protocol.UPLOADED), NAME)
    job_id = tick(cfg, fake).submitted[NAME]
    record = StateStore(cfg.base_dir).load(NAME)
    assert record is not None and record.sbatch_returned_at is not None
    return job_id, record


def report(cfg: InstanceConfig, where: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((cfg.path(where) / NAME / protocol.REPORT_JSON).read_text())
    return data


def events(cfg: InstanceConfig) -> list[str]:
    return [e["event"] for e in read_events(cfg.path(protocol.LOGS))]


def test_a_stranger_that_got_our_id_is_never_our_success(inst: InstanceConfig) -> None:
    fake = FakeExecutor()
    job_id, record = submitted(inst, fake)
    assert record.job_name is not None and record.sbatch_returned_at is not None
    later = record.sbatch_returned_at + RECOVERY_CLOCK_SLACK + 10
    fake.jobs[job_id] = rec(job_id, name="someone-else", submit=later)

    second = tick(inst, fake)

    assert second.finished == {}
    assert list(second.submitted) == [NAME]  # submitted again, once
    new_id = second.submitted[NAME]
    again = StateStore(inst.base_dir).load(NAME)
    assert again is not None and again.resubmissions == 1 and again.job_id == new_id
    assert again.lost_jobs[0]["job_id"] == job_id
    assert "job-lost" in events(inst)
    fake.finish(new_id)
    tick(inst, fake)
    got = report(inst, protocol.ANALYSED)
    assert got["outcome"] == "succeeded" and got["resubmissions"] == 1
    assert got["lost_jobs"][0]["job_id"] == job_id
    text = (inst.path(protocol.ANALYSED) / NAME / protocol.REPORT_TEXT).read_text()
    assert f"Slurm lost job {job_id}" in text and f"again as job {new_id}" in text


def test_a_job_lost_twice_is_failed_with_the_reason(inst: InstanceConfig) -> None:
    fake = FakeExecutor()
    job_id, record = submitted(inst, fake)
    assert record.sbatch_returned_at is not None
    fake.jobs[job_id] = rec(job_id, name="x", submit=record.sbatch_returned_at + 60)
    new_id = tick(inst, fake).submitted[NAME]
    again = StateStore(inst.base_dir).load(NAME)
    assert again is not None and again.sbatch_returned_at is not None
    fake.jobs[new_id] = rec(new_id, name="y", submit=again.sbatch_returned_at + 60)

    third = tick(inst, fake)

    assert third.submitted == {} and fake.calls.count("submit") == 2
    got = report(inst, protocol.FAILED)
    assert got["outcome"] == "failed" and f"Slurm lost job {new_id}" in got["reason"]
    assert [j["job_id"] for j in got["lost_jobs"]] == [job_id, new_id]
    assert "Slurm lost the job" in got["next_step"]


def test_a_finished_record_without_a_name_waits_for_the_name(inst: InstanceConfig) -> None:
    fake = FakeExecutor()
    job_id, _ = submitted(inst, fake)
    fake.jobs[job_id] = rec(job_id, unnamed=True, submit=T0 * 2)
    assert tick(inst, fake).finished == {}
    fake.jobs[job_id] = rec(job_id, "FAILED", "1:0", name="someone-else", submit=T0 * 2)
    result = tick(inst, fake)
    assert result.finished == {} and list(result.submitted) == [NAME]


def test_an_array_is_handed_back_only_when_every_task_ended(inst: InstanceConfig) -> None:
    fake = FakeExecutor()
    job_id, record = submitted(inst, fake)
    name, at = record.job_name, record.sbatch_returned_at or 0.0
    tasks = [rec(f"{job_id}_{n}", name=name, submit=at) for n in (1, 2)]
    tasks.append(rec(f"{job_id}_3", "FAILED", "3:0", name=name, submit=at))
    running = rec(f"{job_id}_4", "RUNNING", None, name=name, submit=at)
    fake.jobs[job_id] = combine(job_id, [*tasks, running])
    assert tick(inst, fake).finished == {}
    # Task 3 ended long ago: a controller without accounting forgets it meanwhile.
    last = rec(f"{job_id}_4", name=name, submit=at)
    fake.jobs[job_id] = combine(job_id, [*tasks[:2], last])

    assert tick(inst, fake).finished == {NAME: f"{protocol.FAILED}/{NAME}"}

    got = report(inst, protocol.FAILED)
    assert (got["state"], got["exit_code"]) == ("FAILED", "3:0")
    assert got["tasks"]["total"] == 4 and got["tasks"]["counts"] == {"COMPLETED": 3, "FAILED": 1}
    assert [(t["task"], t["exit_code"]) for t in got["tasks"]["not_succeeded"]] == [
        (f"{job_id}_3", "3:0")
    ]
    assert f"{job_id}_3" in got["reason"]
    text = (inst.path(protocol.FAILED) / NAME / protocol.REPORT_TEXT).read_text()
    assert "Array tasks: 4 (3 COMPLETED, 1 FAILED)" in text
    assert f"{job_id}_3: FAILED, exit code 3:0; see slurm-{job_id}3.err" in text


def test_report_of_a_heterogeneous_job_lists_components(inst: InstanceConfig) -> None:
    record = JobRecord(uow=NAME, job_id="5", outcome="failed")
    record.job = combine("5", [rec("5+0"), rec("5+1", "FAILED", "1:0")]).to_dict()
    built = build_report(inst, record, destination="FailedJobs", removed_symlinks=[], now=T0)
    assert built["tasks"]["kind"] == "heterogeneous"
    text = render_text(built)
    assert "Components: 2 (1 COMPLETED, 1 FAILED)" in text and "5+1: FAILED" in text


def test_records_of_older_agents_still_load(tmp_path: Path) -> None:
    old = {"uow": "u", "phase": "submitted", "job_id": "3", "submitted_at": 1.0}
    record = JobRecord.from_dict(old)
    assert (record.resubmissions, record.lost_jobs, record.tasks_seen) == (0, [], {})
    assert record.sbatch_returned_at is None and record.slurm_submit_epoch is None


class Crash(BaseException):
    """Stands in for SIGKILL at a crash point (in-process).

    A BaseException, like a real kill nothing in the agent can catch it: the
    per-UoW guard handles Exceptions only.
    """


def test_a_crash_after_the_loss_is_recorded_submits_again_exactly_once(
    inst: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeExecutor()
    job_id, record = submitted(inst, fake)
    assert record.sbatch_returned_at is not None
    fake.jobs[job_id] = rec(job_id, name="someone-else", submit=record.sbatch_returned_at + 60)

    def crash_point(name: str) -> None:
        if name == "after-lost-record":
            raise Crash(name)

    monkeypatch.setattr("hpc_agent.loop.outcome.crash_point", crash_point)
    with pytest.raises(Crash):
        tick(inst, fake)
    monkeypatch.undo()
    lost = StateStore(inst.base_dir).load(NAME)
    assert lost is not None and (lost.phase, lost.job_id, lost.resubmissions) == (
        "admitted",
        None,
        1,
    )

    again = tick(inst, fake)
    assert list(again.submitted) == [NAME] and fake.calls.count("submit") == 2
    assert tick(inst, fake).submitted == {} and fake.calls.count("submit") == 2


def test_an_ended_record_without_a_name_from_our_submission_is_not_overridden(
    inst: InstanceConfig,
) -> None:
    # Our job ended, then the controller lost it: slurmdbd may never get its name.
    # A later job with the id proves the loss, but the job did run: wait, then take it.
    fake = FakeExecutor()
    job_id, record = submitted(inst, fake)
    at = record.sbatch_returned_at or 0.0
    ours = rec(job_id, unnamed=True, submit=at)
    fake.jobs[job_id] = under(job_id, ours, rec(job_id, name="someone-else", submit=at + 60))
    assert tick(inst, fake).submitted == {}
    assert (inst.path(protocol.RUNNING) / NAME).is_dir()
    later = at + inst.unknown_job_grace_seconds + 1
    result = tick(inst, fake, now=later)
    assert result.finished == {NAME: f"{protocol.ANALYSED}/{NAME}"}
    assert fake.calls.count("submit") == 1


def test_an_array_that_vanished_reports_the_tasks_that_were_seen(inst: InstanceConfig) -> None:
    fake = FakeExecutor()
    job_id, record = submitted(inst, fake)
    name, at = record.job_name, record.sbatch_returned_at or 0.0
    tasks = [rec(f"{job_id}_1", "FAILED", "3:0", name=name, submit=at)]
    tasks.append(rec(f"{job_id}_2", "RUNNING", None, name=name, submit=at))
    fake.jobs[job_id] = combine(job_id, tasks)
    tick(inst, fake)
    fake.forget(job_id)
    tick(inst, fake)
    tick(inst, fake, now=at + inst.unknown_job_grace_seconds + 10)
    got = report(inst, protocol.FAILED)
    assert "job vanished from Slurm" in got["reason"]
    assert got["tasks"]["counts"] == {"FAILED": 1, OUTCOME_UNSEEN: 1}
