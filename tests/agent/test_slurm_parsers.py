"""The Slurm executor's pure parts, on text recorded from a real Slurm 22.05.

The files in tests/agent/data/ come from tests/agent/record_slurm_outputs.py,
which ran one job per outcome (ok, exit 3, time limit, cancelled while running,
cancelled while pending, waiting on a dependency), a job array whose task 3
fails, a two-component heterogeneous job, and (with accounting) a job that was
given an old job's id after the controller restarted without its state, on
both test clusters (two nodes each).
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hpc_agent.executors.base import JobSpec, claim
from hpc_agent.executors.slurm import (
    COMMENT_MAX_CHARS,
    CONFIG_TIME_KEY,
    UNACCOUNTED_STATE,
    accounting_disabled,
    assemble,
    config_accounting,
    config_seconds,
    ended_part_jobs,
    hold_unaccounted_tasks,
    is_unreachable,
    name_from_controller,
    normalize_elapsed,
    normalize_state,
    parse_config,
    parse_names,
    parse_sacct,
    parse_sacct_records,
    parse_sbatch_parsable,
    parse_scontrol_fields,
    parse_scontrol_jobs,
    parse_squeue,
    parse_squeue_records,
    sbatch_argv,
    slurm_time_epoch,
)

DATA = Path(__file__).parent / "data"
UPDATE_ENV = "FLOWCRON_UPDATE_GOLDEN"


def recorded(name: str) -> str:
    return (DATA / name).read_text()


# -- sbatch -------------------------------------------------------------------


def full_spec() -> JobSpec:
    return JobSpec(
        name="lab1__sample_0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11",
        script=Path("/proj/lab/CodeToRun/.state/sample.sbatch"),
        workdir=Path("/proj/lab/CodeToRun/slurm/sample dir"),
        stdout="slurm-%j.out",
        stderr="slurm-%j.err",
        account="flowcron-test",
        qos="normal",
        args=("/proj/lab/CodeToRun/slurm/sample dir", "--not-an-sbatch-option", "$HOME"),
        dependency="afterany:41",
        extra=("--time=00:05:00",),
        comment="flowcron user=ann o'brien@example.org",
    )


def test_sbatch_argv_matches_the_stored_expected_command() -> None:
    expected_file = DATA / "sbatch_argv.expected.json"
    argv = sbatch_argv(full_spec())
    if os.environ.get(UPDATE_ENV) == "1":
        expected_file.write_text(json.dumps(argv, indent=2) + "\n")
    expected = json.loads(expected_file.read_text())
    assert argv == expected, (
        f"sbatch_argv() no longer matches {expected_file}; if the change is intended, "
        f"regenerate with {UPDATE_ENV}=1 .venv/bin/python -m pytest "
        "tests/agent/test_slurm_parsers.py and review the diff"
    )


def test_sbatch_argv_keeps_every_value_one_argument_and_script_args_last() -> None:
    argv = sbatch_argv(full_spec())
    # A path with a space and shell syntax stay single, unexpanded arguments.
    assert argv.count("/proj/lab/CodeToRun/slurm/sample dir") == 2
    assert argv[-3:] == ["/proj/lab/CodeToRun/slurm/sample dir", "--not-an-sbatch-option", "$HOME"]
    assert argv[argv.index("--output") + 1] == "/proj/lab/CodeToRun/slurm/sample dir/slurm-%j.out"
    # Options sbatch must see come before the script path.
    assert argv.index("--time=00:05:00") < argv.index("/proj/lab/CodeToRun/.state/sample.sbatch")


def test_the_comment_is_one_argument_of_printable_ascii_without_bars() -> None:
    argv = sbatch_argv(full_spec())
    assert argv[argv.index("--comment") + 1] == "flowcron user=ann o'brien@example.org"
    spec = dataclasses.replace(full_spec(), comment="flowcron user=a|b\tc\u00e9\n" + "x" * 400)
    comment = sbatch_argv(spec)[sbatch_argv(spec).index("--comment") + 1]
    assert comment.startswith("flowcron user=a_b_c__x")
    assert len(comment) == COMMENT_MAX_CHARS
    assert sbatch_argv(dataclasses.replace(full_spec(), comment=None)).count("--comment") == 0


def test_sbatch_argv_leaves_out_unset_options() -> None:
    spec = JobSpec(name="n", script=Path("/w/s.sh"), workdir=Path("/w"), stdout="o", stderr="e")
    assert sbatch_argv(spec) == [
        "sbatch", "--parsable", "--job-name", "n", "--chdir", "/w",
        "--output", "/w/o", "--error", "/w/e", "/w/s.sh",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("stdout", "job_id"),
    [("1\n", "1"), ("4242;cluster1\n", "4242"), ("\n17\n", "17"), ("99_3\n", "99_3")],
)
def test_sbatch_parsable_output(stdout: str, job_id: str) -> None:
    assert parse_sbatch_parsable(stdout) == job_id


def test_sbatch_recorded_output_is_a_job_id() -> None:
    assert parse_sbatch_parsable(recorded("acct_sbatch_parsable.txt")) == "1"


@pytest.mark.parametrize("stdout", ["", "Submitted batch job 12\n", "error\n"])
def test_sbatch_output_without_a_job_id_is_an_error(stdout: str) -> None:
    with pytest.raises(ValueError, match="job id"):
        parse_sbatch_parsable(stdout)


# -- sacct --------------------------------------------------------------------


def test_sacct_recorded_states_exit_codes_and_times() -> None:
    jobs = parse_sacct(recorded("acct_sacct.txt"))
    assert sorted(jobs, key=int) == ["1", "2", "3", "4", "5", "6"]
    ok, failed, timeout, cancelled = jobs["1"], jobs["2"], jobs["3"], jobs["4"]
    assert (ok.state, ok.exit_code, ok.succeeded) == ("COMPLETED", "0:0", True)
    assert (ok.node, ok.elapsed) == ("vm-1", "00:00:01")
    assert ok.start_time == "2026-12-01T20:41:48"
    assert ok.end_time == "2026-12-01T20:41:49"
    assert (ok.name, ok.raw_id, ok.tasks, ok.others) == ("rec-ok", "1", (), ())
    assert ok.submit_epoch == datetime(2026, 12, 1, 20, 41, 48).timestamp()
    assert (failed.state, failed.exit_code, failed.succeeded) == ("FAILED", "3:0", False)
    assert (timeout.state, timeout.elapsed, timeout.finished) == ("TIMEOUT", "00:01:29", True)
    # "CANCELLED by 0" is Slurm's state CANCELLED.
    assert cancelled.state == "CANCELLED"
    assert cancelled.finished and not cancelled.succeeded
    # Cancelled before it ever started: no node, no start time.
    never_ran = jobs["6"]
    assert (never_ran.state, never_ran.node, never_ran.start_time) == ("CANCELLED", None, None)
    assert ok.reason is None  # sacct's "None"


def test_sacct_running_and_pending_lines() -> None:
    text = (
        "7|job|RUNNING|0:0|00:00:05|vm|2026-11-26T15:00:00|2026-11-26T15:00:01|Unknown|None|7\n"
        "8|job|PENDING|0:0|00:00:00|None assigned|2026-11-26T15:00:00|Unknown|Unknown|Resources|8\n"
    )
    jobs = parse_sacct(text)
    assert jobs["7"].state == "RUNNING" and not jobs["7"].finished
    assert (jobs["7"].end_time, jobs["7"].exit_code) == (None, None)
    assert (jobs["8"].node, jobs["8"].start_time, jobs["8"].reason) == (None, None, "Resources")


def test_sacct_job_name_with_the_delimiter_and_step_lines() -> None:
    text = (
        "9|odd|name|COMPLETED|0:0|00:00:01|vm|2026-11-26T15:00:00|"
        "2026-11-26T15:00:01|2026-11-26T15:00:02|None|9\n"
        "9.batch|batch|COMPLETED|0:0|00:00:01|vm|2026-11-26T15:00:00|"
        "2026-11-26T15:00:01|2026-11-26T15:00:02|None|9.batch\n"
        "garbage line\n"
    )
    jobs = parse_sacct(text)
    assert list(jobs) == ["9"]
    assert (jobs["9"].exit_code, jobs["9"].name) == ("0:0", "odd|name")


def test_sacct_recorded_array_and_heterogeneous_job() -> None:
    jobs = parse_sacct(recorded("acct_sacct_parts.txt"))
    array, het = jobs["8"], jobs["9"]
    assert [t.job_id for t in array.tasks] == ["8_1", "8_2", "8_3", "8_4"]
    assert [t.raw_id for t in array.tasks] == ["11", "12", "13", "8"]
    assert array.finished and not array.succeeded
    assert (array.state, array.exit_code, array.name) == ("FAILED", "3:0", "rec-array")
    assert [t.job_id for t in het.tasks if t.succeeded] == ["9+0", "9+1"]
    assert het.succeeded and het.node == "vm-1,vm-2"
    assert (het.start_time, het.end_time) == ("2026-12-01T20:43:27", "2026-12-01T20:43:29")


def test_sacct_duplicates_after_a_state_wipe_keep_both_jobs() -> None:
    # The controller lost its state; the new job 1 reuses the id of the old job 1.
    early = parse_sacct(recorded("acct_sacct_reused_early.txt"))["1"]
    assert early.unnamed and early.name is None and early.state == "COMPLETED"
    assert [o.submit_time for o in early.others] == ["2026-12-01T20:41:48"]
    later = parse_sacct(recorded("acct_sacct_reused.txt"))["1"]
    assert later.name == "rec-ok" and not later.unnamed
    assert later.submit_time == "2026-12-01T20:43:38"  # the newest record leads
    new_submit = datetime(2026, 12, 1, 20, 43, 38).timestamp()
    seen = claim(later, name="rec-ok", since=new_submit - 5, until=new_submit + 5)
    assert seen.job is not None and seen.job.submit_time == "2026-12-01T20:43:38"
    # Had a job of another name been given id 1 before the wipe, the new rec-ok
    # job, submitted after it under the same id, would prove that job lost.
    old_submit = datetime(2026, 12, 1, 20, 41, 48).timestamp()
    lost = claim(later, name="someone-else", since=old_submit - 5, until=old_submit + 5)
    assert lost.job is None and lost.reused_by is not None
    assert lost.reused_by.submit_time == "2026-12-01T20:43:38"


def test_sacct_disabled_message_is_recognised() -> None:
    assert accounting_disabled(recorded("noacct_sacct.txt"))
    assert not accounting_disabled(recorded("acct_sacct.txt"))


# -- squeue / scontrol (no accounting) ----------------------------------------


def test_squeue_recorded_while_jobs_run() -> None:
    jobs = parse_squeue(recorded("noacct_squeue_running.txt"))
    running = [info for info in jobs.values() if info.state == "RUNNING"]
    pending = [info for info in jobs.values() if info.state == "PENDING"]
    assert running and pending
    # squeue's expected end of a running job and expected start of a pending one
    # are not facts: they are dropped.
    assert all(info.end_time is None for info in running)
    assert all(info.start_time is None for info in pending)
    assert pending[0].reason == "Dependency"
    # squeue has no exit codes.
    assert all(info.exit_code is None for info in jobs.values())


def test_records_slurmdbd_has_not_named_yet_are_named_from_the_controller() -> None:
    records = parse_sacct_records(recorded("acct_sacct_reused_early.txt"))
    assert [r.unnamed for r in records] == [False, True]
    # squeue -o SQUEUE_FORMAT for id 1: the controller holds only the new job 1.
    held = parse_squeue_records(
        "1|rec-ok|COMPLETED|None|vm-1|2026-12-01T20:43:38|2026-12-01T20:43:38|"
        "2026-12-01T20:43:39|0:01|1\n"
    )
    named = name_from_controller(records, held)
    assert [(r.name, r.unnamed) for r in named] == [("rec-ok", False), ("rec-ok", False)]
    # A record submitted at another time is another job with the same id: still unnamed.
    other = [dataclasses.replace(held[0], submit_time="2026-12-01T20:50:00")]
    assert [r.unnamed for r in name_from_controller(records, other)] == [False, True]


def test_squeue_recorded_array_and_heterogeneous_job() -> None:
    queued = parse_squeue(recorded("acct_squeue_parts_pending.txt"))
    assert [t.job_id for t in queued["8"].tasks] == ["8_[1-4]"]
    assert (queued["8"].count, queued["8"].finished) == (4, False)
    assert [t.raw_id for t in queued["9"].tasks] == ["9", "10"]
    ended = parse_squeue(recorded("acct_squeue_parts_ended.txt"))
    states = {t.job_id: t.state for t in ended["8"].tasks}
    assert states == {"8_1": "COMPLETED", "8_2": "COMPLETED", "8_3": "FAILED", "8_4": "COMPLETED"}
    # squeue has no exit codes, so nothing counts as a success until scontrol adds them.
    assert ended["9"].finished and not ended["9"].succeeded


def test_scontrol_recorded_array_tasks_and_components_have_squeues_ids() -> None:
    jobs = parse_scontrol_jobs(recorded("acct_scontrol_parts_ended.txt"))
    assert (jobs["8_3"].state, jobs["8_3"].exit_code, jobs["8_3"].raw_id) == ("FAILED", "3:0", "13")
    assert (jobs["8_4"].raw_id, jobs["9+1"].raw_id, jobs["9+1"].exit_code) == ("8", "10", "0:0")
    assert jobs["9+0"].name == "rec-het"


def test_squeue_elapsed_is_written_like_sacct() -> None:
    jobs = parse_squeue(recorded("noacct_squeue_ended.txt"))
    timeout = next(info for info in jobs.values() if info.state == "TIMEOUT")
    assert timeout.elapsed is not None and timeout.elapsed.startswith("00:01:")
    assert timeout.reason == "TimeLimit"


def test_scontrol_recorded_ended_jobs_have_exit_codes() -> None:
    jobs = parse_scontrol_jobs(recorded("noacct_scontrol_ended.txt"))
    by_state = {info.state: info for info in jobs.values()}
    assert by_state["COMPLETED"].exit_code == "0:0"
    assert by_state["COMPLETED"].succeeded
    assert by_state["FAILED"].exit_code == "3:0"
    assert by_state["TIMEOUT"].reason == "TimeLimit"
    assert by_state["CANCELLED"].finished
    assert by_state["COMPLETED"].node in ("vm-1", "vm-2")
    assert by_state["COMPLETED"].submit_time is not None


def test_scontrol_pending_job_has_no_invented_times() -> None:
    jobs = parse_scontrol_jobs(recorded("noacct_scontrol_running.txt"))
    pending = next(info for info in jobs.values() if info.state == "PENDING")
    assert (pending.start_time, pending.end_time, pending.exit_code) == (None, None, None)


def test_scontrol_fields_keep_values_with_spaces() -> None:
    line = (
        "JobId=5 JobName=my job UserId=root(0) JobState=FAILED ExitCode=2:0 "
        "Command=/w/s.sh a b WorkDir=/w d Power="
    )
    fields = parse_scontrol_fields(line)
    assert fields["JobName"] == "my job"
    assert fields["Command"] == "/w/s.sh a b"
    assert fields["WorkDir"] == "/w d"
    assert fields["Power"] == ""


# -- names, states, messages ----------------------------------------------------


def test_names_newest_job_wins() -> None:
    found = parse_names(recorded("acct_sacct_names.txt") + recorded("acct_squeue_names.txt"))
    assert found == {"rec-ok": "5", "rec-long": "6"}
    assert parse_names("") == {}


def test_names_of_array_tasks_and_components_give_the_id_sbatch_printed() -> None:
    text = "8_[2-4]|arr|2026-01-31T12:00:00\n8_1|arr|2026-01-31T12:00:00\n9+1|het|Unknown\n"
    assert parse_names(text) == {"arr": "8", "het": "9"}


def test_names_prefer_the_latest_submission_over_a_higher_id() -> None:
    # After the controller lost its state ids start again at 1.
    text = "40|uow|2026-01-31T12:00:00\n3|uow|2026-01-31T12:10:00\n5|allocation|Unknown\n"
    assert parse_names(text) == {"uow": "3"}


def test_names_submitted_before_a_time_are_ignored() -> None:
    # squeue -o '%i|%j|%V' / sacct --format=JobID,JobName,Submit: local times.
    text = "7|uow|2026-01-31T12:00:00\n9|uow|2026-01-31T12:10:00\n8|other|Unknown\n"
    noon_five = datetime(2026, 1, 31, 12, 5).timestamp()
    assert parse_names(text) == {"uow": "9", "other": "8"}
    assert parse_names(text, submitted_after=noon_five) == {"uow": "9", "other": "8"}
    later = datetime(2026, 1, 31, 12, 11).timestamp()
    # An unreadable submit time keeps the job: better found than submitted twice.
    assert parse_names(text, submitted_after=later) == {"other": "8"}


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("CANCELLED by 0", "CANCELLED"),
        ("CANCELLED by 1000", "CANCELLED"),
        ("COMPLETED", "COMPLETED"),
        ("RUNNING+", "RUNNING"),
        ("out_of_memory", "OUT_OF_MEMORY"),
        ("", "UNKNOWN"),
    ],
)
def test_state_normalisation(text: str, state: str) -> None:
    assert normalize_state(text) == state


@pytest.mark.parametrize(
    ("text", "elapsed"),
    [
        ("0:00", "00:00:00"),
        ("1:24", "00:01:24"),
        ("12:03:04", "12:03:04"),
        ("2-03:04:05", "2-03:04:05"),
        ("Unknown", None),
        ("INVALID", None),
    ],
)
def test_elapsed_normalisation(text: str, elapsed: str | None) -> None:
    assert normalize_elapsed(text) == elapsed


@pytest.mark.parametrize(
    "message",
    [
        "sbatch: error: Batch job submission failed: Unable to contact slurm controller "
        "(connect failure)",
        "slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
        "sacct: error: slurm_persist_conn_open_without_init: failed to open persistent "
        "connection to host:localhost:6819: Connection refused",
        "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation",
        "sacctmgr: error: Munge encode failed: Failed to access "
        '"/run/munge/munge.socket.2": No such file or directory (Did you start munged?)',
        "sacct: fatal: Could not establish a configuration source",
    ],
)
def test_unreachable_scheduler_messages(message: str) -> None:
    assert is_unreachable(message)


@pytest.mark.parametrize(
    "message",
    [
        "sbatch: error: Batch job submission failed: Invalid account or account/partition "
        "combination specified",
        "sbatch: error: Batch job submission failed: Invalid qos specification",
        "sbatch: error: invalid partition specified: nope",
        "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy",
    ],
)
def test_refusals_are_not_mistaken_for_an_unreachable_scheduler(message: str) -> None:
    assert not is_unreachable(message)


# -- scontrol show config -----------------------------------------------------


@pytest.mark.parametrize(("tag", "accounting"), [("acct", True), ("noacct", False)])
def test_show_config_gives_accounting_and_min_job_age(tag: str, accounting: bool) -> None:
    config = parse_config(recorded(f"{tag}_scontrol_show_config.txt"))
    assert config_accounting(config) is accounting
    assert config_seconds(config["MinJobAge"]) == 60
    assert config["ClusterName"].startswith("fc")
    # Neither the header nor the ping footer is a setting; the header's time is kept.
    assert not any(key.startswith(("Configuration ", "Slurmctld(")) for key in config)
    assert slurm_time_epoch(config[CONFIG_TIME_KEY]) is not None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("300 sec", 300), ("0 sec", 0), ("45", 45), ("5 min", None), ("(null)", None), (None, None)],
)
def test_config_seconds(text: str | None, seconds: int | None) -> None:
    assert config_seconds(text) == seconds


# -- an array task slurmdbd has no record of yet ------------------------------
# Recorded on the accounting test bed under CPU load (test_slurm_arrays, array
# 1-4 whose task 3 exits 3): for several seconds sacct listed tasks 1, 2 and 4
# (the array's own record, raw id 5) all ended and no task 3 at all, while the
# controller already held 5_3 FAILED. Judged on sacct alone, the array was a
# success (when the pending range 5_[3-4] had not been seen) or, with it seen,
# a failure for an OUTCOME_UNSEEN task instead of task 3's own exit code.

LATE_NAME = "flowcron-tab4200d9-arr"


def _late_answers(squeue: str | None, *, squeue_rc: int = 0, squeue_err: str = "") -> Any:
    import subprocess

    calls: list[str] = []

    def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        calls.append(argv[0])
        if argv[0] == "sacct":
            out = recorded("acct_sacct_array_task_late.txt")
            return subprocess.CompletedProcess(argv, 0, out, "")
        assert argv[0] == "squeue"
        return subprocess.CompletedProcess(argv, squeue_rc, squeue or "", squeue_err)

    return run, calls


def test_sacct_alone_shows_an_array_missing_a_task_as_ended() -> None:
    # The hazard itself: nothing in sacct's answer says a task is missing.
    job = parse_sacct(recorded("acct_sacct_array_task_late.txt"))["5"]
    assert [t.job_id for t in job.tasks] == ["5_1", "5_2", "5_4"]
    assert job.finished and job.succeeded


def test_a_task_only_the_controller_holds_keeps_the_array_waiting() -> None:
    records = parse_sacct_records(recorded("acct_sacct_array_task_late.txt"))
    held = parse_squeue_records(recorded("acct_squeue_array_task_late.txt"))
    assert ended_part_jobs(records) == {"5"}
    job = assemble(hold_unaccounted_tasks(records, held, {"5"}))["5"]
    assert [t.job_id for t in job.tasks] == ["5_1", "5_2", "5_3", "5_4"]
    late = job.tasks[2]
    assert (late.state, late.exit_code) == (UNACCOUNTED_STATE, None)
    assert late.reason == "FAILED in the controller, not in the accounting records yet"
    assert not job.finished and not job.succeeded
    # Another job under the same id (another submit time) adds nothing.
    other = [dataclasses.replace(r, submit_time="2026-12-02T01:00:00") for r in held]
    assert hold_unaccounted_tasks(records, other, {"5"}) == records
    # Once slurmdbd has task 3, its own exit code decides.
    arrived = parse_sacct_records(recorded("acct_sacct_array_task_arrived.txt"))
    job = assemble(hold_unaccounted_tasks(arrived, held, {"5"}))["5"]
    assert (job.finished, job.state, job.exit_code) == (True, "FAILED", "3:0")


@pytest.mark.parametrize("remembered", [{}, {"5_3": None, "5_4": None}])
def test_an_array_missing_a_task_in_sacct_is_not_judged_yet(
    remembered: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpc_agent.executors import slurm
    from hpc_agent.loop.state import SUBMITTED, JobRecord
    from hpc_agent.uow.record import RUNNING, judge

    run, calls = _late_answers(recorded("acct_squeue_array_task_late.txt"))
    monkeypatch.setattr(slurm, "_run", run)
    info = slurm.SlurmExecutor(accounting=True).query(["5"])["5"]
    record = JobRecord(
        uow="arr", phase=SUBMITTED, job_name=LATE_NAME, job_id="5", tasks_seen=dict(remembered)
    )
    # Before the fix: ENDED, succeeded ({}: false success) or OUTCOME_UNSEEN.
    verdict = judge(record, info, now=0.0, grace_seconds=600)
    assert verdict.state == RUNNING, (verdict.outcome, verdict.reason)
    assert verdict.tasks_seen["5_3"] is None
    assert calls == ["sacct", "squeue"]  # one more call, only for an array that looks ended


def test_an_ended_array_is_not_judged_without_the_controller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hpc_agent.executors import slurm
    from hpc_agent.executors.base import ExecutorError

    run, _ = _late_answers(None, squeue_rc=1, squeue_err="slurm_load_jobs error: Socket timed out")
    monkeypatch.setattr(slurm, "_run", run)
    with pytest.raises(ExecutorError):
        slurm.SlurmExecutor(accounting=True).query(["5"])
    # A controller that forgot the job entirely is an answer: sacct decides.
    run, _ = _late_answers(
        None, squeue_rc=1, squeue_err="slurm_load_jobs error: Invalid job id specified"
    )
    monkeypatch.setattr(slurm, "_run", run)
    assert slurm.SlurmExecutor(accounting=True).query(["5"])["5"].finished
