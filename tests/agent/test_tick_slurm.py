"""The tick against the real Slurm test bed: the behaviours issue 3 requires.

Each test gets its own instance directory and a unique instance name, so the
jobs of one test are never confused with another's on the shared cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.exitcodes import EXIT_SCHEDULER_DOWN
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.tick import tick
from hpc_agent.uow.record import RECOVERY_CLOCK_SLACK, job_name
from tests.agent.helpers import make_uow
from tests.agent.slurm_helpers import (
    FAST_SCRIPT,
    REPO,
    agent_cmd,
    finished_path,
    instance,
    jobs_named,
    tick_until_done,
)

pytestmark = pytest.mark.slurm
pytest.importorskip(
    "hpc_agent.executors", reason="the executors (hpc_agent/executors/__init__.py) are missing"
)


def _bed(request: pytest.FixtureRequest, name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test bed fixture ``name`` with its environment set, or a skip saying it is missing."""
    try:
        bed = request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pytest.skip(f"the {name} fixture (tests/conftest.py) is not available in this checkout")
    for key, value in bed.env.items():
        monkeypatch.setenv(key, value)
    return bed


@pytest.fixture(params=["slurm_cluster", "slurm_cluster_noacct"])
def cluster(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Each test runs with accounting (sacct) and without it (squeue + scontrol)."""
    return _bed(request, request.param, monkeypatch)


@pytest.fixture
def acct_cluster(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The cluster with accounting (sacct, associations that refuse a bad account)."""
    return _bed(request, "slurm_cluster", monkeypatch)


def read_report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / protocol.REPORT_JSON).read_text())
    return data


def test_uow_runs_with_relative_paths_and_comes_back_with_a_report(
    cluster: Any, tmp_path: Path
) -> None:
    cfg = instance(cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "sample", script=FAST_SCRIPT)
    tick_until_done(cfg, ["sample"])
    done = finished_path(cfg, "sample")
    assert done is not None and done.parent.name == protocol.ANALYSED
    out = (done / "data" / "out.txt").read_text().splitlines()
    # $1 is the UoW's absolute path while it ran; data/out.txt resolved inside the UoW.
    assert out == [f"uow={cfg.path(protocol.RUNNING) / 'sample'}", "1 2 3"]
    report = read_report(done)
    assert report["state"] == "COMPLETED" and report["exit_code"] == "0:0"
    assert (done / f"slurm-{report['job_id']}.out").exists()
    assert report["node"]


def test_failing_script_lands_in_failed_jobs_with_state_and_exit_code(
    cluster: Any, tmp_path: Path
) -> None:
    cfg = instance(cluster, tmp_path / "inst")
    make_uow(
        cfg.path(protocol.UPLOADED),
        "bad",
        script="#!/bin/bash\n#SBATCH --time=00:01:00\necho oops >&2\nexit 3\n",
    )
    tick_until_done(cfg, ["bad"])
    done = finished_path(cfg, "bad")
    assert done is not None and done.parent.name == protocol.FAILED
    report = read_report(done)
    assert report["state"] == "FAILED" and report["exit_code"] == "3:0"
    assert "oops" in (done / f"slurm-{report['job_id']}.err").read_text()


def test_sbatch_refusals_land_in_failed_jobs_with_sbatchs_message(
    acct_cluster: Any, tmp_path: Path
) -> None:
    bad_account = instance(acct_cluster, tmp_path / "a", account="no-such-account")
    make_uow(bad_account.path(protocol.UPLOADED), "acct", script=FAST_SCRIPT)
    tick(bad_account)
    report = read_report(bad_account.path(protocol.FAILED) / "acct")
    assert "account" in report["reason"].lower() and "sbatch" in report["reason"]

    bad_partition = instance(acct_cluster, tmp_path / "p")
    script = FAST_SCRIPT.replace("#SBATCH --ntasks=1", "#SBATCH --partition=nowhere")
    make_uow(bad_partition.path(protocol.UPLOADED), "part", script=script)
    tick(bad_partition)
    report = read_report(bad_partition.path(protocol.FAILED) / "part")
    assert "partition" in report["reason"].lower()


def test_controller_down_stops_the_tick_and_the_next_one_carries_on(
    acct_cluster: Any, tmp_path: Path
) -> None:
    cfg = instance(acct_cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "first", script=FAST_SCRIPT)
    tick(cfg)
    make_uow(cfg.path(protocol.UPLOADED), "second", script=FAST_SCRIPT)
    # An instance with no job recorded yet: nothing but the ping would reach Slurm
    # before sbatch, so this is where a tick could move an upload and then fail.
    fresh = instance(acct_cluster, tmp_path / "fresh")
    make_uow(fresh.path(protocol.UPLOADED), "new", script=FAST_SCRIPT)
    acct_cluster.stop_controller()
    try:
        down = agent_cmd("tick", str(cfg.base_dir))
        fresh_down = agent_cmd("tick", str(fresh.base_dir))
    finally:
        acct_cluster.start_controller()
    for result in (down, fresh_down):
        assert result.returncode == EXIT_SCHEDULER_DOWN, result.stderr
        assert "scheduler unavailable" in result.stderr
    assert (cfg.path(protocol.UPLOADED) / "second" / "sentinels").is_dir()
    assert (cfg.path(protocol.RUNNING) / "first").is_dir()
    assert list(cfg.path(protocol.FAILED).iterdir()) == []
    assert (fresh.path(protocol.UPLOADED) / "new" / "sentinels").is_dir()
    assert list(fresh.path(protocol.RUNNING).iterdir()) == []
    events = [e["event"] for e in read_events(fresh.path(protocol.LOGS))]
    assert events == ["scheduler-unavailable"]
    tick_until_done(cfg, ["first", "second"])
    assert finished_path(cfg, "second") == cfg.path(protocol.ANALYSED) / "second"
    tick_until_done(fresh, ["new"])
    assert finished_path(fresh, "new") == fresh.path(protocol.ANALYSED) / "new"


SUBMIT_POINTS = [
    "after-admit-record",
    "after-admit-rename",
    "after-submit-intent",
    "after-submit-before-record",
    "after-record",
]
FINALIZE_POINTS = [
    "after-outcome-record",
    "after-permissions",
    "after-report",
    "after-sentinels-removed",
    "after-finalize-rename",
    "after-ledger",
]


@pytest.mark.parametrize("point", SUBMIT_POINTS + FINALIZE_POINTS)
def test_kill_9_at_every_step_loses_nothing_and_never_submits_twice(
    acct_cluster: Any, tmp_path: Path, point: str
) -> None:
    # The tick's own finalize steps: without the fast hand-back, which would finalize first.
    cfg = instance(acct_cluster, tmp_path / "inst", fast_handback=point not in FINALIZE_POINTS)
    make_uow(cfg.path(protocol.UPLOADED), "uow", script=FAST_SCRIPT)
    if point in FINALIZE_POINTS:
        job = tick(cfg).submitted["uow"]
        acct_cluster.wait_for_state(job, {"COMPLETED"})
    crashed = agent_cmd("tick", str(cfg.base_dir), env={"FLOWCRON_CRASH_AT": point})
    assert crashed.returncode == -9, f"{point}: {crashed.returncode} {crashed.stderr}"
    tick_until_done(cfg, ["uow"])
    done = finished_path(cfg, "uow")
    assert done is not None and done.parent.name == protocol.ANALYSED, point
    assert (done / "data" / "input.txt").read_text() == "1 2 3\n"
    assert (done / "data" / "out.txt").read_text().endswith("1 2 3\n")
    assert (done / "scripts" / "submission_script.sh").read_text() == FAST_SCRIPT
    assert len(jobs_named(acct_cluster, job_name(cfg.name, "uow"))) == 1, point
    assert sorted(p.name for p in cfg.path(protocol.ANALYSED).iterdir()) == ["uow"]
    assert list(cfg.path(protocol.RUNNING).iterdir()) == []
    # The event log has every step at least once, wherever the kill came.
    events = {e["event"] for e in read_events(cfg.path(protocol.LOGS)) if e["uow"] == "uow"}
    assert {"admitted", "job-ended", "finalized"} <= events, (point, events)
    # Killed right after sbatch, the submission is found by name and logged so.
    assert events & {"submitted", "submit-recovered"}, (point, events)


@pytest.mark.parametrize("point", ["after-submit-intent", "after-submit-before-record"])
def test_kill_9_around_sbatch_without_accounting_submits_once(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, point: str
) -> None:
    # Without sacct the look-up by name has only the controller (squeue) to ask.
    noacct = _bed(request, "slurm_cluster_noacct", monkeypatch)
    cfg = instance(noacct, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "uow", script=FAST_SCRIPT)
    crashed = agent_cmd("tick", str(cfg.base_dir), env={"FLOWCRON_CRASH_AT": point})
    assert crashed.returncode == -9, crashed.stderr
    tick_until_done(cfg, ["uow"])
    done = finished_path(cfg, "uow")
    assert done == cfg.path(protocol.ANALYSED) / "uow"
    assert len(jobs_named(noacct, job_name(cfg.name, "uow"))) == 1


def test_a_retried_uow_interrupted_before_sbatch_is_not_mistaken_for_its_old_job(
    acct_cluster: Any, tmp_path: Path
) -> None:
    # Fails on its first run, succeeds once retried: the old job has the same name.
    script = (
        "#!/bin/bash\n#SBATCH --time=00:01:00\n#SBATCH --mem=50M\n"
        "if [ -e data/tried ]; then echo ok > data/out.txt; else touch data/tried; exit 3; fi\n"
    )
    cfg = instance(acct_cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "uow", script=script)
    tick_until_done(cfg, ["uow"])
    assert finished_path(cfg, "uow") == cfg.path(protocol.FAILED) / "uow"
    # A person retries minutes later, not within the clock leeway of the look-up.
    time.sleep(RECOVERY_CLOCK_SLACK + 1)
    assert agent_cmd("retry", str(cfg.base_dir), "uow").returncode == 0
    crashed = agent_cmd("tick", str(cfg.base_dir), env={"FLOWCRON_CRASH_AT": "after-submit-intent"})
    assert crashed.returncode == -9, crashed.stderr
    tick_until_done(cfg, ["uow"])
    done = finished_path(cfg, "uow")
    assert done == cfg.path(protocol.ANALYSED) / "uow", "the old job's outcome was reused"
    assert (done / "data" / "out.txt").read_text() == "ok\n"
    assert len(jobs_named(acct_cluster, job_name(cfg.name, "uow"))) == 2


def test_eight_ticks_at_once_never_submit_a_uow_twice(acct_cluster: Any, tmp_path: Path) -> None:
    cfg = instance(acct_cluster, tmp_path / "inst")
    names = [f"u{i}" for i in range(12)]
    for name in names:
        make_uow(cfg.path(protocol.UPLOADED), name, script=FAST_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hpc_agent", "tick", str(cfg.base_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(8)
    ]
    for proc in procs:
        proc.communicate(timeout=120)  # reads and closes the pipes: no ResourceWarning
    codes = [proc.returncode for proc in procs]
    assert codes == [0] * 8
    tick_until_done(cfg, names)
    for name in names:
        assert len(jobs_named(acct_cluster, job_name(cfg.name, name))) == 1, name
    skipped = (cfg.path(protocol.LOGS)).glob("*.jsonl")
    events = [json.loads(line)["event"] for f in skipped for line in f.read_text().splitlines()]
    assert events.count("submitted") == len(names)
    assert "tick-skipped" in events


def _malformed(parent: Path) -> dict[str, str]:
    """~25 broken UoWs; returns name -> a phrase its report must contain."""
    expect: dict[str, str] = {}

    def uow(name: str, phrase: str, **kw: Any) -> Path:
        expect[name] = phrase
        return make_uow(parent, name, **kw)

    shutil_rm = __import__("shutil").rmtree
    shutil_rm(uow("no-scripts", "'scripts/' is missing") / "scripts")
    shutil_rm(uow("no-data", "'data/' is missing") / "data")
    (uow("empty-scripts", "No job script found", script=None)).exists()
    two = uow("two-scripts", "Several possible job scripts", script=None)
    for n in ("a.sh", "b.sh"):
        (two / "scripts" / n).write_text("#!/bin/bash\n#SBATCH -t 1\ntrue\n")
    uow("no-shebang-any", "No job script found", script="echo hi\n", script_name="run.sh")
    uow("no-sbatch-line", "No job script found", script="#!/bin/bash\ntrue\n", script_name="r.sh")
    uow("no-shebang", "does not start with a '#!' line", script="#SBATCH -t 1\ntrue\n")
    uow("home", "$HOME or $USER", script="#!/bin/bash\n#SBATCH -t 1\ncd $HOME\n")
    uow("home-braces", "$HOME or $USER", script="#!/bin/bash\n#SBATCH -t 1\ncd ${HOME}/x\n")
    uow("user", "$HOME or $USER", script="#!/bin/bash\n#SBATCH -t 1\necho $USER\n")
    uow("user-braces", "$HOME or $USER", script="#!/bin/bash\n#SBATCH -t 1\necho ${USER}\n")
    (uow("link-out", "outside the Unit of Work") / "data" / "pw").symlink_to("/etc/passwd")
    (uow("link-dir-out", "outside the Unit of Work") / "data" / "d").symlink_to("/tmp")
    (uow("link-up", "outside the Unit of Work") / "data" / "up").symlink_to("../../..")
    uow("-dash", "starts with '-'")
    uow("new\nline", "contains a newline")
    uow("ctrl\x01char", "control character")
    (uow("bad-file-name", "contains a newline") / "data" / "a\nb").write_text("x")
    sentinel_file = uow("sentinels-file", "'sentinels' is a file", sentinels=False)
    (sentinel_file / "sentinels").write_text("not a folder")
    big = uow("too-big", "over the size limit")
    (big / "data" / "big.bin").write_bytes(b"\0" * (3 * 1024 * 1024))
    uow("binary", "binary file", script=b"#!/bin/bash\n#SBATCH -t 1\n\0\0\0")
    uow("latin1", "not valid UTF-8", script=b"#!/bin/bash\n#SBATCH -t 1\necho caf\xe9\n")
    link_script = uow("script-link", "No job script found", script=None)
    (link_script / "data" / "real.sh").write_text("#!/bin/bash\n#SBATCH -t 1\ntrue\n")
    (link_script / "scripts" / "submission_script.sh").symlink_to("../data/real.sh")
    stale = uow("stale-upload", "never completed", sentinels=False)
    for entry in [stale, *stale.rglob("*")]:
        os.utime(entry, (0, 0), follow_symlinks=False)
    huge_script = uow("huge-script", "Slurm accepts job scripts up to", script=None)
    (huge_script / "scripts" / "submission_script.sh").write_text(
        "#!/bin/bash\n#SBATCH -t 1\n" + "# padding\n" * 500_000
    )
    shutil_rm(uow("data-file", "'data/' is missing") / "data")
    (parent / "data-file" / "data").write_text("a file, not a folder")
    return expect


def test_malformed_uows_fail_with_named_problems_while_valid_ones_run(
    acct_cluster: Any, tmp_path: Path
) -> None:
    cfg = instance(acct_cluster, tmp_path / "inst", max_uow_bytes=2 * 1024 * 1024)
    expect = _malformed(cfg.path(protocol.UPLOADED))
    assert len(expect) >= 25
    good = ["good-1", "good-2"]
    for name in good:
        make_uow(cfg.path(protocol.UPLOADED), name, script=FAST_SCRIPT)
    first = tick(cfg)
    assert sorted(first.submitted) == good
    for name, phrase in expect.items():
        path = cfg.path(protocol.FAILED) / name
        assert path.is_dir(), f"{name!r} is not in FailedJobs"
        report = read_report(path)
        assert report["outcome"] == "rejected", name
        assert any(phrase in p for p in report["problems"]), (name, report["problems"])
        assert not (path / protocol.SENTINELS_DIR).is_dir()
    tick_until_done(cfg, good)
    for name in good:
        assert finished_path(cfg, name) == cfg.path(protocol.ANALYSED) / name


def test_finalize_by_dependency_hands_back_without_another_tick(
    acct_cluster: Any, tmp_path: Path
) -> None:
    cfg = instance(
        acct_cluster, tmp_path / "inst", finalize_by_dependency=True, fast_handback=False
    )
    make_uow(cfg.path(protocol.UPLOADED), "dep", script=FAST_SCRIPT)
    result = tick(cfg)
    assert "dep" in result.submitted
    deadline = time.monotonic() + 90
    while finished_path(cfg, "dep") is None:
        assert time.monotonic() < deadline, "the finalize job did not hand the UoW back"
        time.sleep(0.5)
    done = finished_path(cfg, "dep")
    assert done == cfg.path(protocol.ANALYSED) / "dep"
    assert read_report(done)["state"] == "COMPLETED"


@pytest.mark.parametrize("point", ["after-archive-earlier", "after-admit-record"])
def test_kill_9_while_archiving_a_rerun_loses_nothing_and_submits_once(
    acct_cluster: Any, tmp_path: Path, point: str
) -> None:
    cfg = instance(acct_cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "first", script=FAST_SCRIPT)
    tick_until_done(cfg, ["first"])
    # The folder came back and is uploaded again under a new name.
    again = cfg.path(protocol.UPLOADED) / "again"
    (cfg.path(protocol.ANALYSED) / "first").rename(again)
    (again / protocol.SENTINELS_DIR).mkdir()
    old_outputs = sorted(p.name for p in again.glob("slurm-*"))
    crashed = agent_cmd("tick", str(cfg.base_dir), env={"FLOWCRON_CRASH_AT": point})
    assert crashed.returncode == -9, f"{point}: {crashed.returncode} {crashed.stderr}"
    tick_until_done(cfg, ["again"])
    done = finished_path(cfg, "again")
    assert done is not None and done.parent.name == protocol.ANALYSED, point
    archive = done / protocol.EARLIER_RUNS_DIR / "first"
    assert sorted(p.name for p in archive.glob("slurm-*")) == old_outputs
    assert json.loads((archive / protocol.REPORT_JSON).read_text())["uow"] == "first"
    assert json.loads((done / protocol.REPORT_JSON).read_text())["outcome"] == "succeeded"
    assert len(jobs_named(acct_cluster, job_name(cfg.name, "again"))) == 1, point
    assert not list(done.glob("*.user*"))


def test_percent_in_a_uow_name_keeps_its_output_in_its_own_folder(
    acct_cluster: Any, tmp_path: Path
) -> None:
    # Slurm expands %u in --output/--error: pct%u's output used to land in "pctroot".
    cfg = instance(acct_cluster, tmp_path / "inst")
    user = os.environ.get("USER") or __import__("getpass").getuser()
    make_uow(cfg.path(protocol.UPLOADED), "pct%u", script=FAST_SCRIPT)
    make_uow(cfg.path(protocol.UPLOADED), f"pct{user}", script=FAST_SCRIPT)
    tick_until_done(cfg, ["pct%u", f"pct{user}"])
    for name in ("pct%u", f"pct{user}"):
        done = finished_path(cfg, name)
        assert done is not None and done.parent.name == protocol.ANALYSED, name
        outputs = sorted(p.name for p in done.glob("slurm-*"))
        assert len(outputs) == 2, (name, outputs)
        job_id = json.loads((done / protocol.REPORT_JSON).read_text())["job_id"]
        assert outputs == [f"slurm-{job_id}.err", f"slurm-{job_id}.out"], name


def test_a_job_that_renames_its_own_folder_is_failed_not_resubmitted(
    acct_cluster: Any, tmp_path: Path
) -> None:
    # This job used to be resubmitted forever (28 jobs in 90 s).
    script = (
        "#!/bin/bash\n#SBATCH --time=00:01:00\n#SBATCH --mem=50M\n"
        'mv "$1" "$1-elsewhere"\nsleep 4\necho done > data/out.txt\n'
    )
    cfg = instance(acct_cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "mover", script=script)
    tick_until_done(cfg, ["mover"])
    done = finished_path(cfg, "mover")
    assert done is not None and done.parent.name == protocol.FAILED
    report = json.loads((done / protocol.REPORT_JSON).read_text())
    assert "renamed to 'mover-elsewhere'" in report["reason"]
    assert (done / "data" / "out.txt").read_text() == "done\n"
    assert len(jobs_named(acct_cluster, job_name(cfg.name, "mover"))) == 1
    assert list(cfg.path(protocol.RUNNING).iterdir()) == []


@pytest.mark.parametrize(
    ("point", "settings"),
    [
        ("mid-record-write", {}),
        # A wrapped job carries its script: the copy is written only for an unwrapped one.
        ("mid-script-write", {"fast_handback": False}),
        ("mid-finalize-script-write", {"finalize_by_dependency": True, "fast_handback": False}),
    ],
)
def test_kill_9_in_the_middle_of_a_write_leaves_nothing_half_written(
    acct_cluster: Any, tmp_path: Path, point: str, settings: dict[str, Any]
) -> None:
    cfg = instance(acct_cluster, tmp_path / "inst", **settings)
    make_uow(cfg.path(protocol.UPLOADED), "uow", script=FAST_SCRIPT)
    crashed = agent_cmd("tick", str(cfg.base_dir), env={"FLOWCRON_CRASH_AT": point})
    assert crashed.returncode == -9, f"{point}: {crashed.returncode} {crashed.stderr}"
    state = cfg.path(protocol.CODE_TO_RUN) / ".state"
    assert list(state.rglob("*.tmp")), "the kill must have cut a write short"
    tick_until_done(cfg, ["uow"])
    done = finished_path(cfg, "uow")
    assert done is not None and done.parent.name == protocol.ANALYSED, point
    assert (done / "data" / "out.txt").read_text().startswith("uow=")
    assert len(jobs_named(acct_cluster, job_name(cfg.name, "uow"))) == 1, point
    assert [p for p in cfg.base_dir.rglob("*.tmp") if "executor" not in p.parts] == []


def test_names_that_used_to_stop_the_instance_run_on_real_slurm(
    acct_cluster: Any, tmp_path: Path
) -> None:
    # A 240-character name (its state files overflowed NAME_MAX) and a name that
    # is not UTF-8 (reports and logs raised) used to stop every tick.
    cfg = instance(acct_cluster, tmp_path / "inst")
    long_name, latin1 = "L" * 240, os.fsdecode(b"caf\xe9-run")
    for name in (long_name, latin1, "zz-plain"):
        make_uow(cfg.path(protocol.UPLOADED), name, script=FAST_SCRIPT)
    tick_until_done(cfg, [long_name, latin1, "zz-plain"])
    for name in (long_name, latin1, "zz-plain"):
        done = finished_path(cfg, name)
        assert done is not None, name
    # A name that is not UTF-8 is refused with a report (admission's rule); the others ran.
    assert finished_path(cfg, latin1).parent.name == protocol.FAILED  # type: ignore[union-attr]
    for name in (long_name, "zz-plain"):
        done = finished_path(cfg, name)
        assert done is not None and done.parent.name == protocol.ANALYSED, name
        assert (done / "data" / "out.txt").read_text().startswith("uow=")
    report = json.loads((finished_path(cfg, latin1) / protocol.REPORT_JSON).read_bytes())  # type: ignore[operator]
    assert report["uow"] == latin1


@pytest.mark.parametrize(
    "point", ["after-submit-intent", "after-submit-before-record", "after-record"]
)
def test_kill_9_with_several_submissions_in_flight_submits_each_uow_once(
    acct_cluster: Any, tmp_path: Path, point: str
) -> None:
    # Four sbatch threads (issue 13): the kill comes while the others are mid-submission.
    cfg = instance(acct_cluster, tmp_path / "inst", submit_workers=4)
    names = [f"u{i:02d}" for i in range(12)]
    for name in names:
        make_uow(cfg.path(protocol.UPLOADED), name, script=FAST_SCRIPT)
    crashed = agent_cmd("tick", str(cfg.base_dir), env={"FLOWCRON_CRASH_AT": point})
    assert crashed.returncode == -9, f"{point}: {crashed.returncode} {crashed.stderr}"
    jobs_dir = cfg.base_dir / protocol.CODE_TO_RUN / ".state" / "jobs"
    records = [json.loads(p.read_text()) for p in jobs_dir.glob("*.json")]
    phases = [r["phase"] for r in records]
    # Admission goes on in the pool's threads while the first UoWs are submitted: the
    # rest still wait as uploads. A thread killed between its admission record and the
    # rename leaves both: a record without a job (deleted next tick) and the upload.
    waiting = {p.name for p in cfg.path(protocol.UPLOADED).iterdir()}
    assert {r["uow"] for r in records} | waiting == set(names), (phases, waiting)
    for record in records:
        if record["uow"] in waiting:
            assert record["job_id"] is None, record
    assert set(phases) <= {"admitted", "submitting", "submitted"}, phases
    if point != "after-submit-intent":
        # The thread that was killed had its job; others had recorded their intent too.
        assert phases.count("submitting") + phases.count("submitted") >= 2, phases
    # An sbatch the killed tick had started runs on (its own process) for a few ms;
    # cron's next tick comes minutes later.
    time.sleep(2)
    tick_until_done(cfg, names)
    for name in names:
        assert finished_path(cfg, name) == cfg.path(protocol.ANALYSED) / name, name
        assert len(jobs_named(acct_cluster, job_name(cfg.name, name))) == 1, (point, name)
    events = [e for e in read_events(cfg.path(protocol.LOGS)) if e["event"] == "submit-recovered"]
    if point == "after-submit-before-record":
        assert events, "the killed thread's job was found by its name"
