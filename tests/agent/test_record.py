"""The job record's state machine and the one outcome rule (hpc_agent.uow.record)."""

from __future__ import annotations

import pytest

from hpc_agent.executors.base import JobInfo, combine
from hpc_agent.loop.state import ADMITTED, FINALIZING, SUBMITTED, SUBMITTING, JobRecord
from hpc_agent.uow.record import (
    ENDED,
    LOST,
    RUNNING,
    TRANSITIONS,
    UNKNOWN,
    PhaseError,
    decide,
    intend_to_submit,
    judge,
    submitted,
)

NAME = "flowcron-p-s"
T0 = 1_800_000_000.0


def _submitted() -> JobRecord:
    record = JobRecord(uow="s", job_name=NAME)
    intend_to_submit(record, T0)
    submitted(record, "7", at=T0, returned_at=T0 + 1)
    return record


def _task(task: str, state: str, exit_code: str | None = None) -> JobInfo:
    return JobInfo(job_id=f"7_{task}", state=state, exit_code=exit_code, name=NAME)


def test_the_phases_move_only_as_the_table_allows() -> None:
    record = JobRecord(uow="s")
    with pytest.raises(PhaseError, match="'admitted' to 'submitted'"):
        submitted(record, "7", at=T0, returned_at=None)
    assert record.phase == ADMITTED and record.job_id is None
    intend_to_submit(record, T0)
    intend_to_submit(record, T0 + 1)  # sbatch again after a crash
    submitted(record, "7", at=T0, returned_at=None)
    assert record.phase == SUBMITTED and SUBMITTING not in TRANSITIONS[SUBMITTED]
    decide(record, outcome="failed", reason="x")
    assert record.phase == FINALIZING


def test_an_array_is_judged_from_every_task_ever_seen() -> None:
    record = _submitted()
    first = judge(
        record,
        combine("7", [_task("1", "FAILED", "1:0"), _task("2", "RUNNING")]),
        now=T0,
        grace_seconds=60,
    )
    assert first.state == RUNNING and first.remember(record)
    shown = combine("7", [_task("2", "COMPLETED", "0:0")])
    later = judge(record, shown, now=T0, grace_seconds=60)
    assert (later.state, later.outcome) == (ENDED, "failed")
    assert later.reason is not None and "7_1 FAILED 1:0" in later.reason
    assert later.remember(record), "task 2's end is new"
    assert not judge(record, shown, now=T0, grace_seconds=60).remember(record)


def test_an_unnamed_record_is_waited_for_then_taken() -> None:
    record = _submitted()
    unnamed = JobInfo(job_id="7", state="COMPLETED", exit_code="0:0", unnamed=True)
    assert judge(record, unnamed, now=T0, grace_seconds=60).state == UNKNOWN
    record.unknown_since = T0
    taken = judge(record, unnamed, now=T0 + 60, grace_seconds=60)
    assert (taken.state, taken.outcome) == (ENDED, "succeeded")


def test_a_later_job_holding_the_id_means_the_job_was_lost() -> None:
    record = _submitted()
    other = JobInfo(job_id="7", state="RUNNING", name="someone-else", submit_epoch=T0 + 100)
    verdict = judge(record, other, now=T0 + 200, grace_seconds=60)
    assert verdict.state == LOST and verdict.lost_to == other
