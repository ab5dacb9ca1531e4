"""Fast hand-back (issue 13) on the real Slurm test bed: the job wrapper hands the UoW back.

No test here runs a tick after the submitting one unless it says so: the
hand-back must come from the job itself, within seconds of the script's end.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.tick import tick
from hpc_agent.uow.record import job_name
from tests.agent.helpers import make_uow
from tests.agent.slurm_helpers import (
    FAST_SCRIPT,
    accounting_cluster,
    agent_cmd,
    finished_path,
    instance,
    jobs_named,
    tick_until_done,
)

pytestmark = pytest.mark.slurm

HEADER = "#!/bin/bash\n#SBATCH --time=00:01:00\n#SBATCH --ntasks=1\n#SBATCH --mem=50M\n"
STAMP = "date +%s.%N > data/ended_at\n"
"""The script's last act: the precise time its work ended (Slurm's End is whole seconds)."""


@pytest.fixture
def cluster(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    return accounting_cluster(request, monkeypatch)


@pytest.fixture(params=["slurm_cluster", "slurm_cluster_noacct"])
def any_cluster(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """With accounting (sacct) and without it (squeue + scontrol)."""
    try:
        bed = request.getfixturevalue(request.param)
    except pytest.FixtureLookupError:
        pytest.skip(f"the {request.param} fixture (tests/conftest.py) is not available")
    for key, value in bed.env.items():
        monkeypatch.setenv(key, value)
    return bed


def wait_handed_back(cfg: InstanceConfig, name: str, timeout: float) -> Path:
    """Wait, without ticking, until ``name`` is handed back."""
    deadline = time.monotonic() + timeout
    while True:
        path = finished_path(cfg, name)
        if path is not None:
            return path
        assert time.monotonic() < deadline, f"{name} not handed back within {timeout} s (no tick)"
        time.sleep(0.05)


def report_of(done: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((done / protocol.REPORT_JSON).read_text())
    return data


def sacct_exit(cluster: Any, job_id: str) -> tuple[str, str]:
    """The job's State and ExitCode as sacct shows them, once slurmdbd has the end."""
    deadline = time.monotonic() + 30
    while True:
        out = cluster.run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State,ExitCode"]).stdout
        state, _, code = out.strip().partition("|")
        if state and state not in ("RUNNING", "PENDING", "COMPLETING"):
            return state.split()[0], code
        assert time.monotonic() < deadline, out
        time.sleep(0.5)


def finalized_count(cfg: InstanceConfig, name: str) -> int:
    events = read_events(cfg.path(protocol.LOGS))
    return sum(1 for e in events if e["event"] == "finalized" and e["uow"] == name)


def test_a_two_second_job_is_handed_back_within_seconds_without_a_tick(
    any_cluster: Any, tmp_path: Path
) -> None:
    cluster = any_cluster
    cfg = instance(cluster, tmp_path / "inst")
    assert cfg.fast_handback, "fast hand-back is the default"
    make_uow(cfg.path(protocol.UPLOADED), "quick", script=HEADER + "sleep 2\n" + STAMP)
    job = tick(cfg).submitted["quick"]
    done = wait_handed_back(cfg, "quick", timeout=60)
    arrived = time.time()
    latency = arrived - float((done / "data" / "ended_at").read_text())
    assert done.parent.name == protocol.ANALYSED
    assert report_of(done)["state"] == "COMPLETED"
    assert report_of(done)["exit_code"] == "0:0"
    assert latency <= 10, f"handed back {latency:.1f} s after the script ended"
    assert jobs_named(cluster, job_name(cfg.name, "quick") + "-finalize") == []
    if cluster.accounting:
        assert sacct_exit(cluster, job) == ("COMPLETED", "0:0")
    assert finalized_count(cfg, "quick") == 1
    assert [p.name for p in cfg.path(protocol.CODE_TO_RUN).glob(".state/scripts/*")] == []


def test_fast_handback_wins_over_finalize_by_dependency(cluster: Any, tmp_path: Path) -> None:
    cfg = instance(cluster, tmp_path / "inst", finalize_by_dependency=True)
    make_uow(cfg.path(protocol.UPLOADED), "both", script=FAST_SCRIPT)
    tick(cfg)
    done = wait_handed_back(cfg, "both", timeout=60)
    assert done.parent.name == protocol.ANALYSED
    assert jobs_named(cluster, job_name(cfg.name, "both") + "-finalize") == []


def test_exit_code_3_is_handed_back_failed_with_3_0_as_sacct_shows(
    any_cluster: Any, tmp_path: Path
) -> None:
    cluster = any_cluster
    cfg = instance(cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "three", script=HEADER + STAMP + "exit 3\n")
    job = tick(cfg).submitted["three"]
    done = wait_handed_back(cfg, "three", timeout=60)
    latency = time.time() - float((done / "data" / "ended_at").read_text())
    assert done.parent.name == protocol.FAILED
    assert report_of(done)["exit_code"] == "3:0"
    assert latency <= 10
    if cluster.accounting:
        assert sacct_exit(cluster, job) == ("FAILED", "3:0")
    assert finalized_count(cfg, "three") == 1


def test_a_script_killed_by_sigkill_is_failed_with_its_signal(cluster: Any, tmp_path: Path) -> None:
    # The test bed has no memory cgroup (TaskPlugin=task/none), so the OOM
    # killer's work is done by hand: SIGKILL, as the kernel would send it.
    cfg = instance(cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "oom", script=HEADER + "kill -9 $$\n")
    job = tick(cfg).submitted["oom"]
    done = wait_handed_back(cfg, "oom", timeout=60)
    assert done.parent.name == protocol.FAILED
    assert report_of(done)["exit_code"] == "0:9"
    assert sacct_exit(cluster, job) == ("FAILED", "0:9")


def test_a_job_slurm_fails_after_the_script_exited_0_is_not_a_success(
    cluster: Any, tmp_path: Path
) -> None:
    # The script succeeds and the wrapper records exit 0, then the job's batch
    # process dies by SIGKILL (as the OOM killer or a dying node would do it):
    # Slurm says FAILED 0:9, and that is what counts.
    cfg = instance(cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "late", script=FAST_SCRIPT)
    crashed = agent_cmd(
        "tick", str(cfg.base_dir), env={"FLOWCRON_CRASH_AT": "job-wrapper-after-handback"}
    )
    assert crashed.returncode == 0, crashed.stderr
    done = wait_handed_back(cfg, "late", timeout=60)
    assert done.parent.name == protocol.FAILED
    report = report_of(done)
    assert (report["state"], report["exit_code"]) == ("FAILED", "0:9")
    ended = read_events(cfg.path(protocol.LOGS))
    assert [e for e in ended if e["event"] == "finalize-deferred"] == []


@pytest.mark.parametrize("how", ["scancel", "batch-signal"])
def test_signals_reach_the_script_and_its_trap_runs(cluster: Any, tmp_path: Path, how: str) -> None:
    cfg = instance(cluster, tmp_path / "inst")
    script = (
        HEADER + "trap 'echo trapped > data/trap.txt; exit 7' TERM\n"
        "echo started > data/started\n"
        "sleep 50 &\nwait\n"
    )
    uow = make_uow(cfg.path(protocol.UPLOADED), "sig", script=script)
    job = tick(cfg).submitted["sig"]
    running = cfg.path(protocol.RUNNING) / uow.name
    deadline = time.monotonic() + 60
    while not (running / "data" / "started").exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
    if how == "scancel":
        cluster.run(["scancel", job])
    else:  # only the batch shell (the wrapper) is signalled: it must forward it
        cluster.run(["scancel", "--batch", "--signal=TERM", job])
    done = wait_handed_back(cfg, "sig", timeout=60)
    assert (done / "data" / "trap.txt").read_text() == "trapped\n"
    assert done.parent.name == protocol.FAILED
    if how == "batch-signal":
        assert sacct_exit(cluster, job) == ("FAILED", "7:0")
        assert report_of(done)["exit_code"] == "7:0"


PROBE = (
    HEADER + 'echo "$0" > data/dollar0\n'
    'printf "%s\\n" "$#" "$@" > data/args\n'
    "env -0 | sort -z | tr '\\0' '\\n' > data/env\n"
    "grep -E '^(SigIgn|SigBlk|SigCgt)' /proc/$$/status > data/signals\n"
    'echo "$(ps -o pgid= $$) $$ $(umask) $(pwd)" > data/process\n'
    "ls -l /proc/$$/fd | awk 'NR>1 {print $9, $10, $11}' > data/fds\n"
)

# Values that differ from one job to another whoever runs the script.
PER_JOB = re.compile(
    r"^(SLURM_(JOB_ID|JOBID|JOB_NAME|TASK_PID|JOB_START_TIME|JOB_END_TIME|SUBMIT_DIR)|"
    r"SLURMD_NODENAME|OLDPWD|PWD|_)="
)


def _probe(cluster: Any, base: Path, *, fast: bool) -> dict[str, str]:
    cfg = instance(cluster, base, fast_handback=fast)
    make_uow(cfg.path(protocol.UPLOADED), "probe", script=PROBE)
    job = tick(cfg).submitted["probe"]
    if fast:
        done = wait_handed_back(cfg, "probe", timeout=60)
    else:
        tick_until_done(cfg, ["probe"])
        found = finished_path(cfg, "probe")
        assert found is not None
        done = found
    assert done.parent.name == protocol.ANALYSED
    data = {p.name: p.read_text() for p in (done / "data").iterdir() if p.name != "input.txt"}
    uow_dir = str(cfg.path(protocol.RUNNING) / "probe")
    for key, text in data.items():
        text = text.replace(uow_dir, "<uow>").replace(f"job{int(job):05d}", "job<id>")
        text = text.replace(f"slurm-{job}.", "slurm-<id>.")
        text = text.replace(str(cfg.base_dir), "<base>").replace(cfg.name, "<instance>")
        if key == "env":
            text = "\n".join(line for line in text.splitlines() if not PER_JOB.match(line))
        if key == "process":  # pids differ; whether the script leads its process group does not
            # ps pads the pgid with spaces to its column width: split on any whitespace.
            pgid, pid, rest = text.split(None, 2)
            text = f"leader={pgid == pid} {rest}"
        data[key] = text
    return data


def test_the_script_sees_the_same_dollar0_args_environment_and_signals(
    cluster: Any, tmp_path: Path
) -> None:
    plain = _probe(cluster, tmp_path / "plain", fast=False)
    wrapped = _probe(cluster, tmp_path / "wrapped", fast=True)
    assert plain["dollar0"].strip().endswith("/job<id>/slurm_script"), plain["dollar0"]
    for key in ("dollar0", "args", "env", "signals", "process", "fds"):
        only = set(wrapped[key].splitlines()) ^ set(plain[key].splitlines())
        assert wrapped[key] == plain[key], (key, sorted(only))
    assert plain["process"].startswith("leader=True"), "slurmstepd starts it as a group leader"


SUCCESS_POINTS = [
    # (crash point, where the UoW must end up)
    ("mid-wrapper-write", protocol.ANALYSED),  # the tick dies writing the wrapper
    ("job-wrapper-before-record", protocol.FAILED),  # the job's batch process dies: FAILED 0:9
    ("mid-ended-record-write", protocol.FAILED),
    ("job-wrapper-after-record", protocol.FAILED),
    ("job-wrapper-after-handback", protocol.FAILED),
    ("after-report", protocol.ANALYSED),  # the wrapper's detached finalize dies
    ("after-sentinels-removed", protocol.ANALYSED),
    ("after-finalize-rename", protocol.ANALYSED),
]


@pytest.mark.parametrize(("point", "where"), SUCCESS_POINTS)
def test_kill_9_at_each_fast_handback_step_hands_back_exactly_once(
    cluster: Any, tmp_path: Path, point: str, where: str
) -> None:
    cfg = instance(cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "uow", script=FAST_SCRIPT)
    ran = agent_cmd("tick", str(cfg.base_dir), env={"FLOWCRON_CRASH_AT": point})
    expected_rc = -9 if point == "mid-wrapper-write" else 0
    assert ran.returncode == expected_rc, f"{point}: {ran.returncode} {ran.stderr}"
    _then_ticks_hand_back_once(cluster, cfg, point, where)


def test_kill_9_after_the_wrapper_decided_a_failure_hands_back_once(
    cluster: Any, tmp_path: Path
) -> None:
    cfg = instance(cluster, tmp_path / "inst")
    script = FAST_SCRIPT + "exit 3\n"
    make_uow(cfg.path(protocol.UPLOADED), "uow", script=script)
    ran = agent_cmd("tick", str(cfg.base_dir), env={"FLOWCRON_CRASH_AT": "after-handback-outcome"})
    assert ran.returncode == 0, ran.stderr
    done = _then_ticks_hand_back_once(cluster, cfg, "after-handback-outcome", protocol.FAILED)
    assert report_of(done)["exit_code"] == "3:0"


def _then_ticks_hand_back_once(cluster: Any, cfg: InstanceConfig, point: str, where: str) -> Path:
    """Let the job and its wrapper run (and die), then tick: one hand-back, nothing lost."""
    name = job_name(cfg.name, "uow")
    deadline = time.monotonic() + 60
    while point != "mid-wrapper-write":  # the job has ended (sacct, or the controller)
        ids = jobs_named(cluster, name)
        states = cluster.run(["squeue", "-h", "-t", "all", "-n", name, "-o", "%T"]).stdout.split()
        if ids and all(s not in ("PENDING", "RUNNING", "COMPLETING") for s in states):
            break
        assert time.monotonic() < deadline, (point, ids, states)
        time.sleep(0.2)
    time.sleep(2)  # whatever the wrapper started has done what it could
    tick_until_done(cfg, ["uow"])
    done = finished_path(cfg, "uow")
    assert done is not None and done.parent.name == where, (point, done)
    assert (done / "data" / "input.txt").read_text() == "1 2 3\n"
    assert (done / "data" / "out.txt").read_text().endswith("1 2 3\n")
    assert (done / "scripts" / "submission_script.sh").read_text().startswith(FAST_SCRIPT)
    assert len(jobs_named(cluster, name)) == 1, point
    finished = [p.name for d in protocol.FINISHED_DIRS for p in cfg.path(d).iterdir()]
    assert finished == ["uow"], (point, finished)
    assert list(cfg.path(protocol.RUNNING).iterdir()) == []
    assert finalized_count(cfg, "uow") == 1, point
    leftovers = [p for p in cfg.base_dir.rglob("*.tmp") if "executor" not in p.parts]
    assert leftovers == [], leftovers
    assert not (cfg.path(protocol.CODE_TO_RUN) / ".state" / "scripts" / "uow.sh").exists()
    return done
