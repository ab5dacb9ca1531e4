"""FlowCron end to end on real Slurm: the flow in the simulator, the real agent, real jobs.

Every test gets its own laptop folder, HPC collection and agent instance (a
unique instance name, so job names never clash) on the session's private
Slurm cluster with accounting (tests/slurmbed.py). Flow time is virtual and
held while jobs run (flowgen.simulate.agent), so each test takes about as
long as its jobs do.
"""

from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from flowgen.simulate import Collection
from flowgen.simulate.agent import AgentEvent, subprocess_tick
from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.faults import CRASH_ENV
from hpc_agent.loop.tick import TickResult, tick
from hpc_agent.uow.record import job_name
from tests.agent.slurm_helpers import agent_cmd, jobs_named

from .loop import (
    FAILING_SCRIPT,
    TEST_POLLING,
    Loop,
    kinds,
    make_uow,
    report,
    sleeping_script,
    slurm_outputs,
)

pytestmark = pytest.mark.slurm


@pytest.fixture
def loop(tmp_path: Path, slurm_env: Any) -> Loop:
    return Loop.create(tmp_path, executor="slurm", account=slurm_env.account, qos=slurm_env.qos)


@pytest.mark.parametrize("delete", [False, True], ids=["keep", "delete"])
def test_results_come_back_and_the_hpc_copy_is_kept_or_deleted(loop: Loop, delete: bool) -> None:
    uow = make_uow(loop.laptop)
    result, agent = loop.run(delete=delete)
    assert result.status == "SUCCEEDED", result.cause
    assert (uow / "results" / "output.txt").read_text() == "HELLO FROM SAMPLE\nSECOND LINE\n"
    [out] = slurm_outputs(uow, "out")
    assert out.read_text() == "analysed 2 line(s)\n"
    assert report(uow)["state"] == "COMPLETED"
    assert not (uow / protocol.SENTINELS_DIR).exists()
    assert kinds(agent.events)[:2] == ["admitted", "submitted"]
    assert kinds(agent.events)[-1] == "finished"
    message = result.output["FlowResult"]["message"]
    if delete:
        assert loop.finished(protocol.ANALYSED) == []
        assert "was deleted" in message
    else:
        assert loop.finished(protocol.ANALYSED) == [loop.job_dir(result)]
        assert f"AnalysedFiles/{loop.job_dir(result)}/" in message


def test_a_failing_job_returns_its_slurm_output_and_report(loop: Loop) -> None:
    uow = make_uow(loop.laptop, script=FAILING_SCRIPT)
    result, _ = loop.run()
    assert result.status == "FAILED"
    assert result.error == "JobFailed"
    assert "Your job failed on Test HPC" in str(result.cause)
    assert protocol.REPORT_TEXT in str(result.cause)
    [err] = slurm_outputs(uow, "err")
    assert "data/missing.csv not found" in err.read_text()
    assert "reading the data" in slurm_outputs(uow, "out")[0].read_text()
    assert report(uow)["state"] == "FAILED"
    assert report(uow)["exit_code"] == "3:0"
    assert "The job failed." in (uow / protocol.REPORT_TEXT).read_text()
    assert loop.finished(protocol.FAILED) == [loop.job_dir(result)]


def test_an_invalid_uow_returns_its_report_and_is_never_submitted(loop: Loop) -> None:
    uow = make_uow(loop.laptop, script=None)
    (uow / "scripts" / "notes.txt").write_text("I forgot the job script\n")
    result, agent = loop.run()
    assert result.status == "FAILED"
    assert result.error == "JobFailed"
    assert report(uow)["outcome"] == "rejected"
    assert report(uow)["problems"]
    assert "The Unit of Work was not run." in (uow / protocol.REPORT_TEXT).read_text()
    assert "submitted" not in kinds(agent.events)
    assert slurm_outputs(uow, "out") == []


@pytest.mark.slow
def test_a_job_over_its_time_limit_says_timeout(loop: Loop) -> None:
    # Slurm counts time limits in whole minutes: one minute is the shortest.
    uow = make_uow(loop.laptop, script=sleeping_script(600, time_limit="1"))
    result, _ = loop.run()
    assert result.status == "FAILED"
    assert report(uow)["state"] == "TIMEOUT"
    text = (uow / protocol.REPORT_TEXT).read_text()
    assert "TIMEOUT" in text and "ran out of time" in text


def _cancel_with_agent(cfg: InstanceConfig, event: AgentEvent, cluster: Any) -> None:
    done = agent_cmd("cancel", str(cfg.base_dir), event.uow)
    assert done.returncode == 0, done.stderr


def _cancel_with_scancel(cfg: InstanceConfig, event: AgentEvent, cluster: Any) -> None:
    assert event.job_id is not None
    cluster.run(["scancel", event.job_id])


@pytest.mark.parametrize(
    "cancel", [_cancel_with_agent, _cancel_with_scancel], ids=["hpc-agent-cancel", "scancel"]
)
def test_a_cancelled_job_comes_back_cancelled(loop: Loop, slurm_env: Any, cancel: Any) -> None:
    uow = make_uow(loop.laptop, script=sleeping_script(300))

    def on_event(event: AgentEvent) -> None:
        if event.kind == "submitted":
            cancel(loop.agent, event, slurm_env)

    result, agent = loop.run(on_event=on_event)
    assert result.status == "FAILED"
    assert result.error == "JobFailed"
    assert str(report(uow)["state"]).startswith("CANCELLED")
    assert report(uow)["outcome"] == "cancelled"
    assert not (uow / "results.txt").exists()
    assert agent.held_seconds < 60


@pytest.mark.parametrize("point", ["after-submit-before-record", "after-sentinels-removed"])
def test_an_agent_killed_mid_way_completes_on_the_next_tick(
    loop: Loop, slurm_env: Any, point: str
) -> None:
    uow = make_uow(loop.laptop)
    killed: list[TickResult] = []

    def runner(cfg: InstanceConfig) -> TickResult:
        # Ticks run as cron runs them, in a fresh process, until one is killed
        # at the crash point; the ticks after it run normally.
        if killed:
            return tick(cfg)
        result = subprocess_tick(cfg, env={CRASH_ENV: point})
        if result.exit_code == -signal.SIGKILL:
            killed.append(result)
        return result

    result, agent = loop.run(runner=runner)
    assert killed, f"no tick reached the crash point {point}"
    assert result.status == "SUCCEEDED", result.cause
    assert (uow / "results" / "output.txt").is_file()
    assert "tick-failed" in kinds(agent.events)
    name = job_name(loop.agent.name, loop.job_dir(result))
    assert len(jobs_named(slurm_env, name)) == 1, "the job was submitted exactly once"


def test_two_runs_of_folders_with_the_same_name_do_not_clash(loop: Loop) -> None:
    alice = make_uow(loop.laptop / "alice")
    bob = make_uow(loop.laptop / "bob")
    (alice / "data" / "input.txt").write_text("alice's data\n")
    (bob / "data" / "input.txt").write_text("bob's data\n")
    first, _ = loop.run("/alice/sample/")
    second, _ = loop.run("/bob/sample/")
    assert first.status == second.status == "SUCCEEDED"
    assert first.run_id != second.run_id
    assert (alice / "results" / "output.txt").read_text() == "ALICE'S DATA\n"
    assert (bob / "results" / "output.txt").read_text() == "BOB'S DATA\n"
    assert loop.finished(protocol.ANALYSED) == sorted([loop.job_dir(first), loop.job_dir(second)])


def _replace_with_a_file(uow: Path) -> None:
    shutil.rmtree(uow)
    uow.write_text("a file")


@pytest.mark.parametrize(
    ("break_source", "error"),
    [
        (shutil.rmtree, "SourceNotFound"),
        (_replace_with_a_file, "SourceNotADirectory"),
    ],
    ids=["missing", "a-file"],
)
def test_a_bad_source_on_a_managed_collection_fails_at_once(
    loop: Loop, break_source: Any, error: str
) -> None:
    break_source(make_uow(loop.laptop))
    managed = Collection(
        root=loop.laptop, entity_type="GCSv5_mapped_collection", subscription_id="sub-1"
    )
    result, agent = loop.run(laptop=managed)
    assert result.status == "FAILED"
    assert result.error == error
    assert "start again" in str(result.cause)
    assert result.stats.elapsed_seconds < 60
    assert agent.ticks == 0
    assert list(loop.agent.path(protocol.UPLOADED).iterdir()) == []


def test_an_agent_that_never_finishes_ends_the_run_at_the_deadline(
    loop: Loop, slurm_env: Any
) -> None:
    make_uow(loop.laptop, script=sleeping_script(900, time_limit="00:20:00"))
    # Flow time runs on past the real job (no holding): the job outlives the
    # flow's 2-day deadline. Hourly ticks keep the real work small.
    result, agent = loop.run(hold=False, tick_every=3600)
    try:
        assert result.status == "FAILED"
        assert result.error == "JobNotFinished"
        assert "stopped waiting after 2 days" in str(result.cause)
        assert f"{protocol.RUNNING}/" in str(result.cause)
        deadline = TEST_POLLING["deadline"]
        assert deadline <= result.stats.elapsed_seconds < deadline + 3600
        assert loop.finished(protocol.ANALYSED) == loop.finished(protocol.FAILED) == []
    finally:
        for event in agent.events:
            if event.kind == "submitted" and event.job_id:
                slurm_env.run(["scancel", event.job_id], check=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))


FIXED_SCRIPT = (
    "#!/bin/bash\n"
    "#SBATCH --time=00:01:00\n"
    "#SBATCH --ntasks=1\n"
    "#SBATCH --mem=50M\n"
    "echo 'fixed' > data/out.txt\n"
)


@pytest.mark.parametrize("delete", [False, True], ids=["keep", "delete"])
def test_a_returned_folder_runs_again_after_a_failure_and_after_a_success(
    loop: Loop, delete: bool
) -> None:
    uow = make_uow(loop.laptop, script=FAILING_SCRIPT)
    first, _ = loop.run(delete=delete)
    assert first.status == "FAILED"
    # The researcher fixes the script in the folder that came back, as the
    # report says, and starts the flow again on the same folder: twice.
    (uow / "scripts" / protocol.SUBMISSION_SCRIPT).write_text(FIXED_SCRIPT)
    second, _ = loop.run(delete=delete)
    assert second.status == "SUCCEEDED", second.cause
    third, _ = loop.run(delete=delete)
    assert third.status == "SUCCEEDED", third.cause

    latest = report(uow)
    assert (latest["outcome"], latest["run_id"]) == ("succeeded", third.run_id)
    assert latest["problems"] == []
    archive = uow / protocol.EARLIER_RUNS_DIR
    assert sorted(p.name for p in archive.iterdir()) == sorted(
        [loop.job_dir(first), loop.job_dir(second)]
    )
    earlier = report(archive / loop.job_dir(first))
    assert (earlier["outcome"], earlier["run_id"]) == ("failed", first.run_id)
    assert "data/missing.csv not found" in "".join(
        p.read_text() for p in (archive / loop.job_dir(first)).glob("slurm-*.err")
    )
    assert report(archive / loop.job_dir(second))["run_id"] == second.run_id
    assert not list(uow.rglob("*.user*")), "nothing FlowCron wrote may be renamed aside"
    assert (uow / "data" / "out.txt").read_text() == "fixed\n"
    assert "The job succeeded." in (uow / protocol.REPORT_TEXT).read_text()


def test_a_folder_that_the_original_flowcron_ran_runs_again(loop: Loop) -> None:
    # What the original HPC side leaves: Slurm output at the top, no report,
    # and #SBATCH --error/--output lines it wrote into the user's script.
    uow = make_uow(
        loop.laptop,
        script=(
            "#!/bin/bash\n"
            '#SBATCH --error="/old/FlowCron/CodeToRun/slurm/sample_x/slurm-%j.err"\n'
            '#SBATCH --output="/old/FlowCron/CodeToRun/slurm/sample_x/slurm-%j.out"\n'
            "#SBATCH --time=00:01:00\n"
            "#SBATCH --mem=50M\n"
            "echo 'again' > data/out.txt\n"
        ),
    )
    (uow / "slurm-77.out").write_text("the original's output\n")
    (uow / "slurm-77.err").write_text("the original's errors\n")
    result, _ = loop.run()
    assert result.status == "SUCCEEDED", result.cause
    archived = uow / protocol.EARLIER_RUNS_DIR / "earlier-run"
    assert (archived / "slurm-77.out").read_text() == "the original's output\n"
    assert (archived / "slurm-77.err").read_text() == "the original's errors\n"
    notes = report(uow)["notes"]
    assert sum("is overridden" in note for note in notes) == 2
    assert (uow / "data" / "out.txt").read_text() == "again\n"


def test_laptop_habits_are_warned_about_and_the_errors_they_cause_are_shown(
    loop: Loop,
) -> None:
    uow = make_uow(
        loop.laptop,
        script=(
            "#!/bin/bash\n"
            "#SBATCH --time=00:01:00\n"
            "#SBATCH --mem=50M\n"
            "source ~/.bashrc; conda activate myenv\n"
            "echo 'ran anyway' > data/out.txt\n"
        ),
    )
    result, _ = loop.run()
    # The job "succeeds" (its last command did), so the report must say what went wrong.
    assert result.status == "SUCCEEDED", result.cause
    got = report(uow)
    warnings = [note for note in got["notes"] if note.startswith("Warning: ")]
    assert any("'conda activate'" in w for w in warnings)
    assert any("'~/.bashrc'" in w for w in warnings)
    assert any("conda: command not found" in line for line in got["stderr"]["tail"])
    text = (uow / protocol.REPORT_TEXT).read_text()
    assert "The job succeeded, but your job wrote errors" in text
    assert "conda: command not found" in text
