"""The ``local`` executor gives a UoW script the same life as a Slurm job, without Slurm."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpc_agent.config import ConfigError, InstanceConfig
from hpc_agent.executors import local as local_module
from hpc_agent.executors import make_executor
from hpc_agent.executors.base import JobInfo, JobSpec, SubmitRejected
from hpc_agent.executors.local import LocalExecutor, format_elapsed
from hpc_agent.executors.sbatch import job_time_limit, parse_time_limit, sbatch_directives
from hpc_agent.executors.slurm import SlurmExecutor
from hpc_agent.loop.state import StateStore

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def executor(tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(tmp_path / "state")


def make_uow(root: Path, body: str, *, header: str = "", name: str = "uow") -> tuple[Path, Path]:
    uow = root / name
    (uow / "data").mkdir(parents=True)
    (uow / "data" / "in.txt").write_text("input\n")
    script = root / f"{name}.sbatch"
    script.write_text(f"#!/bin/bash\n{header}{body}\n")
    return uow, script


def spec(uow: Path, script: Path, name: str = "job", **changes: object) -> JobSpec:
    fields: dict[str, object] = {
        "name": name,
        "script": script,
        "workdir": uow,
        "stdout": "slurm-%j.out",
        "stderr": "slurm-%j.err",
        "args": (str(uow),),
    }
    fields.update(changes)
    return JobSpec(**fields)  # type: ignore[arg-type]


def wait_finished(executor: LocalExecutor, job_id: str, timeout: float = 20) -> JobInfo:
    deadline = time.monotonic() + timeout
    info = None
    while time.monotonic() < deadline:
        info = executor.query([job_id]).get(job_id)
        if info is not None and info.finished:
            return info
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish; last seen {info}")


def wait_running(executor: LocalExecutor, job_id: str) -> JobInfo:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        info = executor.query([job_id])[job_id]
        if info.state == "RUNNING":
            return info
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never started")


def test_success_runs_in_the_uow_with_relative_paths(
    executor: LocalExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uow, script = make_uow(
        tmp_path, 'cp data/in.txt data/out.txt && echo "first=$1 id=$SLURM_JOB_ID" && echo e >&2'
    )
    monkeypatch.chdir(tmp_path)  # the agent's own directory must not matter
    job_id = executor.submit(spec(uow, script))
    info = wait_finished(executor, job_id)
    assert (info.state, info.exit_code, info.succeeded) == ("COMPLETED", "0:0", True)
    assert (uow / "data" / "out.txt").read_text() == "input\n"
    assert (uow / f"slurm-{job_id}.out").read_text() == f"first={uow} id={job_id}\n"
    assert (uow / f"slurm-{job_id}.err").read_text() == "e\n"
    assert info.node and info.submit_time and info.start_time and info.end_time
    assert info.elapsed == "00:00:00"


@pytest.mark.parametrize("agent_pythonpath", [None, "/users/own/lib"])
def test_the_runner_finds_the_agent_and_the_job_gets_the_users_pythonpath(
    executor: LocalExecutor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    agent_pythonpath: str | None,
) -> None:
    # Nothing need be installed: the runner's PYTHONPATH leads to the checkout (or
    # the pyz). The job must not see that: its Python would import the agent's
    # packages ahead of the user's own, as no Slurm job does.
    if agent_pythonpath is None:
        monkeypatch.delenv("PYTHONPATH", raising=False)
    else:
        monkeypatch.setenv("PYTHONPATH", agent_pythonpath)
    uow, script = make_uow(tmp_path, 'echo "${PYTHONPATH-unset}" > pythonpath.txt; env > env.txt')
    info = wait_finished(executor, executor.submit(spec(uow, script)))
    assert info.state == "COMPLETED", "the runner found the agent"
    assert (uow / "pythonpath.txt").read_text().strip() == (agent_pythonpath or "unset")
    assert "FLOWCRON_JOB_PYTHONPATH" not in (uow / "env.txt").read_text()


def test_exit_status_3_is_failed_3_0(executor: LocalExecutor, tmp_path: Path) -> None:
    uow, script = make_uow(tmp_path, "exit 3")
    info = wait_finished(executor, executor.submit(spec(uow, script)))
    assert (info.state, info.exit_code, info.succeeded) == ("FAILED", "3:0", False)


def test_death_by_signal_is_failed_with_the_signal(executor: LocalExecutor, tmp_path: Path) -> None:
    uow, script = make_uow(tmp_path, "kill -9 $$")
    info = wait_finished(executor, executor.submit(spec(uow, script)))
    assert (info.state, info.exit_code) == ("FAILED", "0:9")


@pytest.mark.parametrize("header", ["#SBATCH --time=0:01\n", "#SBATCH -t 0:01\n"])
def test_time_limit_from_the_script_gives_timeout(
    executor: LocalExecutor, tmp_path: Path, header: str
) -> None:
    uow, script = make_uow(tmp_path, "echo started; sleep 60; echo never", header=header)
    started = time.monotonic()
    job_id = executor.submit(spec(uow, script))
    info = wait_finished(executor, job_id)
    assert (info.state, info.reason, info.succeeded) == ("TIMEOUT", "TimeLimit", False)
    assert time.monotonic() - started < 10
    assert info.elapsed == "00:00:01"
    assert (uow / f"slurm-{job_id}.out").read_text() == "started\n"


def test_a_job_that_ignores_sigterm_is_still_stopped(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    uow, script = make_uow(
        tmp_path, "trap '' TERM; for i in $(seq 100); do sleep 0.1; done", header="#SBATCH -t0:01\n"
    )
    info = wait_finished(executor, executor.submit(spec(uow, script)))
    assert info.state == "TIMEOUT"


def test_cancel_gives_cancelled_and_stops_the_whole_job(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "still-running"
    uow, script = make_uow(tmp_path, f"(sleep 2; touch '{marker}') & sleep 60")
    job_id = executor.submit(spec(uow, script))
    wait_running(executor, job_id)
    executor.cancel(job_id)
    info = executor.query([job_id])[job_id]
    assert (info.state, info.succeeded) == ("CANCELLED", False)
    time.sleep(2.5)
    assert not marker.exists(), "a process the job started survived the cancel"
    executor.cancel(job_id)  # already ended: not an error
    executor.cancel("4242")  # never existed: not an error either


def test_dependency_waits_for_the_other_job_to_end(executor: LocalExecutor, tmp_path: Path) -> None:
    first_uow, first_script = make_uow(tmp_path, "sleep 1; exit 5", name="first")
    first = executor.submit(spec(first_uow, first_script, name="first"))
    then_uow, then_script = make_uow(tmp_path, "true", name="then")
    then = executor.submit(spec(then_uow, then_script, name="then", dependency=f"afterany:{first}"))
    waiting = executor.query([then])[then]
    assert (waiting.state, waiting.reason) == ("PENDING", "Dependency")
    after = wait_finished(executor, then)
    before = executor.query([first])[first]
    assert before.state == "FAILED"  # afterany: runs whatever the outcome
    assert after.state == "COMPLETED"
    assert after.start_time is not None and before.end_time is not None
    assert after.start_time >= before.end_time


def test_cancelling_a_job_waiting_on_a_dependency(executor: LocalExecutor, tmp_path: Path) -> None:
    first_uow, first_script = make_uow(tmp_path, "sleep 60", name="first")
    first = executor.submit(spec(first_uow, first_script))
    then_uow, then_script = make_uow(tmp_path, "touch ran", name="then")
    then = executor.submit(spec(then_uow, then_script, dependency=f"afterany:{first}"))
    executor.cancel(then)
    executor.cancel(first)
    assert executor.query([then])[then].state == "CANCELLED"
    assert not (then_uow / "ran").exists()


@pytest.mark.parametrize(
    ("dependency", "message"),
    [("afterok:1", "afterany"), ("afterany:77", "unknown job 77"), ("singleton", "afterany")],
)
def test_unsupported_or_unknown_dependencies_are_rejected(
    executor: LocalExecutor, tmp_path: Path, dependency: str, message: str
) -> None:
    uow, script = make_uow(tmp_path, "true")
    executor.submit(spec(uow, script))  # job 1 exists
    with pytest.raises(SubmitRejected, match=message):
        executor.submit(spec(uow, script, dependency=dependency))


def test_bad_time_limit_and_missing_script_are_rejected(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    uow, script = make_uow(tmp_path, "true", header="#SBATCH --time=soon\n")
    with pytest.raises(SubmitRejected, match="Invalid --time specification"):
        executor.submit(spec(uow, script))
    with pytest.raises(SubmitRejected, match="Unable to open file"):
        executor.submit(spec(uow, tmp_path / "missing.sh"))


def test_the_job_outlives_the_process_that_submitted_it(tmp_path: Path) -> None:
    uow, script = make_uow(tmp_path, "sleep 1; echo done")
    state = tmp_path / "state"
    # Like a cron tick: a short-lived process submits and exits at once.
    code = (
        "import sys; from pathlib import Path; from hpc_agent.executors.base import JobSpec;"
        "from hpc_agent.executors.local import LocalExecutor;"
        "print(LocalExecutor(Path(sys.argv[1])).submit(JobSpec(name='j', script=Path(sys.argv[2]),"
        "workdir=Path(sys.argv[3]), stdout='o-%j', stderr='e-%j')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(state), str(script), str(uow)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=30,
    )
    job_id = result.stdout.strip()
    info = wait_finished(LocalExecutor(state), job_id)
    assert info.state == "COMPLETED"
    assert (uow / f"o-{job_id}").read_text() == "done\n"


def test_a_runner_that_died_without_a_record_is_a_failed_job(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    uow, script = make_uow(tmp_path, "sleep 60")
    job_id = executor.submit(spec(uow, script))
    wait_running(executor, job_id)
    status = json.loads((executor.state_dir / "jobs" / f"{job_id}.json").read_text())
    os.kill(status["runner_pid"], signal.SIGKILL)
    os.killpg(status["job_pgid"], signal.SIGKILL)  # what a reboot would also have ended
    info = wait_finished(executor, job_id)
    assert info.state == "FAILED"
    assert info.reason is not None and info.reason.startswith("NodeFail")


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
@pytest.mark.parametrize(
    ("module", "alive"),
    [
        ("hpc_agent.executors.local_runner", True),
        # A runner started by an agent from before the sub-package move.
        ("hpc_agent.local_executor", True),
        ("some.other.program", False),
    ],
)
def test_runners_are_recognised_under_the_old_and_new_module_names(
    tmp_path: Path, module: str, alive: bool
) -> None:
    # A process whose command line looks like `python -m MODULE STATE 7`.
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", module, str(tmp_path), "7"]
    )
    try:
        deadline = time.monotonic() + 10
        while b"time.sleep" not in Path(f"/proc/{sleeper.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert local_module._runner_alive(sleeper.pid, "7") is alive
        assert local_module._runner_alive(sleeper.pid, "8") is False
    finally:
        sleeper.kill()
        sleeper.wait()


def test_ids_increase_and_are_never_shared_by_concurrent_submitters(tmp_path: Path) -> None:
    uow, script = make_uow(tmp_path, "true")
    state = tmp_path / "state"
    code = (
        "import sys; from pathlib import Path; from hpc_agent.executors.base import JobSpec;"
        "from hpc_agent.executors.local import LocalExecutor;"
        "e = LocalExecutor(Path(sys.argv[1]));"
        "[print(e.submit(JobSpec(name='j', script=Path(sys.argv[2]), workdir=Path(sys.argv[3]),"
        "stdout='o-%j', stderr='e-%j'))) for _ in range(3)]"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(state), str(script), str(uow)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(4)
    ]
    ids = [int(line) for proc in procs for line in proc.communicate(timeout=60)[0].split()]
    assert sorted(ids) == list(range(1, 13))
    executor = LocalExecutor(state)
    assert int(executor.submit(spec(uow, script))) == 13


def test_find_by_name_and_query_of_unknown_ids(executor: LocalExecutor, tmp_path: Path) -> None:
    uow, script = make_uow(tmp_path, "true")
    first = executor.submit(spec(uow, script, name="alpha"))
    second = executor.submit(spec(uow, script, name="alpha"))
    beta = executor.submit(spec(uow, script, name="beta"))
    assert executor.find_by_name(["alpha", "beta", "gamma"]) == {"alpha": second, "beta": beta}
    assert int(first) < int(second)
    assert set(executor.query([first, "999"])) == {first}
    assert LocalExecutor(tmp_path / "empty").find_by_name(["alpha"]) == {}
    # An earlier job of the same name is not the one submitted after a time.
    later = time.time() + 1
    assert executor.find_by_name(["alpha"], submitted_after=later) == {}
    third = executor.submit(spec(uow, script, name="alpha"))
    assert executor.find_by_name(["alpha"], submitted_after=later - 1) == {"alpha": third}


def test_arguments_are_never_run_through_a_shell(executor: LocalExecutor, tmp_path: Path) -> None:
    uow, script = make_uow(tmp_path, 'printf "%s\\n" "$@"')
    args = ("$(touch pwned)", "a b; touch pwned2", "--time=0:01")
    job_id = executor.submit(spec(uow, script, args=args))
    assert wait_finished(executor, job_id).succeeded
    assert (uow / f"slurm-{job_id}.out").read_text().splitlines() == list(args)
    assert not list(uow.glob("pwned*")) and not list(tmp_path.glob("pwned*"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5", 300),
        ("0:02", 2),
        ("1:30", 90),
        ("1:02:03", 3723),
        ("2-3", 2 * 86400 + 3 * 3600),
        ("2-3:04", 2 * 86400 + 3 * 3600 + 240),
        ("2-3:04:05", 2 * 86400 + 3 * 3600 + 245),
        ("UNLIMITED", None),
        ("infinite", None),
    ],
)
def test_every_slurm_time_format(text: str, seconds: int | None) -> None:
    assert parse_time_limit(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1:2:3:4", "x-1", "1-", "-5", "1:x"])
def test_bad_time_formats(text: str) -> None:
    with pytest.raises(ValueError, match="time limit"):
        parse_time_limit(text)


def test_directives_stop_at_the_first_command_and_extra_wins() -> None:
    script = (
        "#!/bin/bash\n\n#SBATCH --job-name=x  # a comment\n#SBATCH --time=10\n"
        "# plain comment\necho hi\n#SBATCH --time=1\n"
    )
    assert sbatch_directives(script) == ["--job-name=x", "--time=10"]
    assert job_time_limit(script) == 600
    assert job_time_limit(script, ("--time", "0:30")) == 30
    assert job_time_limit("#!/bin/bash\necho\n") is None


def test_elapsed_format() -> None:
    assert format_elapsed(0) == "00:00:00"
    assert format_elapsed(3723.9) == "01:02:03"
    assert format_elapsed(90061) == "1-01:01:01"


def test_make_executor(tmp_path: Path) -> None:
    cfg = InstanceConfig(base_dir=tmp_path, name="lab", executor="local")
    local = make_executor(cfg)
    assert isinstance(local, LocalExecutor) and local.name == "local"
    assert local.state_dir == StateStore(tmp_path).root / "executor"
    slurm = make_executor(dataclasses.replace(cfg, executor="slurm", slurm_timeout_seconds=7))
    assert isinstance(slurm, SlurmExecutor) and slurm.name == "slurm" and slurm.timeout == 7
    with pytest.raises(ConfigError, match="executor: 'pbs' is not one of slurm, local"):
        dataclasses.replace(cfg, executor="pbs")


def test_the_scripts_shebang_picks_the_interpreter_as_sbatch_does(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    # A python job script: run by bash it fails with a syntax error.
    uow, _ = make_uow(tmp_path, "")
    script = tmp_path / "job.sbatch"
    script.write_text(
        f"#!{sys.executable} -I\n#SBATCH --time=00:01:00\n"
        "import sys\nprint('python got', sys.argv[1:], sys.flags.isolated)\n"
    )
    job_id = executor.submit(spec(uow, script))
    info = wait_finished(executor, job_id)
    assert info.state == "COMPLETED", (uow / f"slurm-{job_id}.err").read_text()
    assert (uow / f"slurm-{job_id}.out").read_text() == f"python got ['{uow}'] 1\n"
