"""``hpc-agent doctor``: each problem a FAIL or WARN with what to do; exit 1 on any FAIL."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.cli import main
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.loop.state import StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.site import doctor, schedule
from hpc_agent.uow.stuck import StuckList
from tests.agent.fakes import FakeExecutor


@pytest.fixture
def instance(cfg: InstanceConfig) -> InstanceConfig:
    """A complete local instance with no schedule: every check passes."""
    cfg = replace(cfg, executor="local", schedule="none")
    for sub in protocol.INSTANCE_DIRS:
        cfg.path(sub).mkdir(parents=True, exist_ok=True)
    save_instance(cfg)
    return cfg


def _by_name(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {c.name: c for c in checks}


def test_healthy_instance_passes(instance: InstanceConfig) -> None:
    tick(instance, FakeExecutor())
    checks = doctor.run_checks(instance)
    assert [c.status for c in checks if c.status != doctor.OK] == [], [c.line() for c in checks]
    assert doctor.exit_code(checks) == 0


def test_doctor_shows_the_script_policies(instance: InstanceConfig) -> None:
    shown = _by_name(doctor.run_checks(instance))["policy"].line()
    assert "warned about (risky_script_policy)" in shown
    strict = replace(instance, risky_script_policy="reject", account_qos_policy="reject")
    shown = _by_name(doctor.run_checks(strict))["policy"].line()
    assert "are refused (account_qos_policy)" in shown
    assert "refused (risky_script_policy)" in shown


def test_doctor_shows_the_run_policy_and_lists_broken_functions(
    instance: InstanceConfig,
) -> None:
    from tests.agent.function_helpers import publish, publish_broken

    checks = _by_name(doctor.run_checks(instance))
    assert "(run_policy = both)" in checks["policy"].line()
    assert checks["functions"].status == doctor.OK, "no Functions/ is fine under both"
    only = replace(instance, run_policy="functions")
    assert _by_name(doctor.run_checks(only))["functions"].status == doctor.WARN
    publish(instance.path(protocol.FUNCTIONS))
    good = _by_name(doctor.run_checks(instance))["functions"]
    assert (good.status, good.message) == (doctor.OK, "1 published: count-lines")
    publish_broken(instance.path(protocol.FUNCTIONS))
    checks = _by_name(doctor.run_checks(instance))
    broken = checks["functions"]
    assert broken.status == doctor.WARN
    assert "1 broken" in broken.message and "broken-fn: function.toml, line" in broken.message
    assert doctor.exit_code(list(checks.values())) == 0, "a broken function is a warning"


def test_missing_directory_fails_with_the_fix(instance: InstanceConfig) -> None:
    instance.path(protocol.RECYCLING_BIN).rmdir()
    check = _by_name(doctor.run_checks(instance))["directories"]
    assert check.status == doctor.FAIL
    assert "RecyclingBin" in check.message and "hpc-agent setup --base-dir" in check.fix


@pytest.mark.skipif(
    Path("/tmp").stat().st_dev == Path("/dev/shm").stat().st_dev, reason="needs two file systems"
)
def test_directory_on_another_file_system_fails(instance: InstanceConfig) -> None:
    elsewhere = Path("/dev/shm") / f"flowcron-doctor-{os.getpid()}"
    elsewhere.mkdir()
    try:
        instance.path(protocol.FAILED).rmdir()
        instance.path(protocol.FAILED).symlink_to(elsewhere)
        check = _by_name(doctor.run_checks(instance))["one file system"]
        assert check.status == doctor.FAIL and "FailedJobs" in check.message
    finally:
        elsewhere.rmdir()


@contextlib.contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """Make ``directory`` unwritable for this process: permissions, or for root the
    immutable attribute (root ignores permissions)."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: cannot make a directory unwritable")
    made = subprocess.run([chattr, "+i", str(directory)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


def test_unwritable_directory_fails(instance: InstanceConfig) -> None:
    with unwritable(instance.path(protocol.LOGS)):
        check = _by_name(doctor.run_checks(instance))["writable"]
    assert check.status == doctor.FAIL and "Logs" in check.message


def test_stale_lease_is_a_warning(instance: InstanceConfig) -> None:
    lease = {"host": "login2", "pid": 4242, "time": time.time() - 3600, "token": "t"}
    (instance.path(protocol.CODE_TO_RUN) / ".agent.lease").write_text(json.dumps(lease))
    check = _by_name(doctor.run_checks(instance))["lock"]
    assert check.status == doctor.WARN and "login2 pid 4242" in check.message


def test_missing_schedule_and_vanished_interpreter_fail(
    instance: InstanceConfig, fake_crontab: Path, home: Path
) -> None:
    cron = replace(instance, schedule="cron")
    check = _by_name(doctor.run_checks(cron))["schedule"]
    assert check.status == doctor.FAIL and "schedule install proj" in check.fix
    schedule.apply(schedule.plan_install(cron, interpreter="/opt/gone/python3"))
    check = _by_name(doctor.run_checks(cron))["schedule"]
    assert check.status == doctor.FAIL and "/opt/gone/python3" in check.message
    schedule.apply(schedule.plan_install(cron))
    assert _by_name(doctor.run_checks(cron))["schedule"].status == doctor.OK


def test_doctor_command_exits_1_on_failure(
    instance: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", str(instance.base_dir)]) == 0
    instance.path(protocol.LOGS).rmdir()
    assert main(["doctor", str(instance.base_dir)]) == 1
    assert "FAIL  directories: missing" in capsys.readouterr().out
    assert main(["doctor", str(instance.base_dir), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert {"status": "FAIL"}.items() <= next(c for c in data if c["name"] == "directories").items()


def test_system_checks_find_slurm_tools_or_say_how(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    checks = _by_name(doctor.system_checks("slurm"))
    assert checks["sbatch"].status == doctor.FAIL
    assert "add Slurm's bin directory to PATH" in checks["sbatch"].fix


def test_tick_interval_longer_than_min_job_age_without_accounting_warns(
    instance: InstanceConfig,
) -> None:
    slurm_cfg = replace(instance, executor="slurm", every_minutes=5)
    noacct = {"AccountingStorageType": "accounting_storage/none", "MinJobAge": "300 sec"}
    assert doctor.job_age_check(slurm_cfg, noacct).status == doctor.OK
    short = {**noacct, "MinJobAge": "60 sec"}
    check = doctor.job_age_check(slurm_cfg, short)
    assert check.status == doctor.WARN
    assert "MinJobAge = 60 s" in check.message and "every 5 min" in check.message
    assert "tick at least every 1 min" in check.fix
    acct = {**short, "AccountingStorageType": "accounting_storage/slurmdbd"}
    assert doctor.job_age_check(slurm_cfg, acct).status == doctor.OK
    assert doctor.job_age_check(slurm_cfg, {**noacct, "MinJobAge": "0 sec"}).status == doctor.OK


@pytest.mark.slurm
def test_doctor_reads_min_job_age_from_the_real_slurm(
    instance: InstanceConfig, slurm_env_noacct: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The test bed sets MinJobAge = 60 s and keeps no accounting.
    every_five = replace(instance, executor="slurm", every_minutes=5)
    save_instance(every_five)
    assert main(["doctor", str(instance.base_dir)]) == 0  # a warning, not a failure
    assert "WARN  job age: accounting off: Slurm forgets a finished job after MinJobAge = 60 s" in (
        capsys.readouterr().out
    )
    save_instance(replace(every_five, every_minutes=1))
    assert main(["doctor", str(instance.base_dir)]) == 0
    assert "OK    job age: accounting off; ticks every 1 min" in capsys.readouterr().out


def test_a_symlinked_instance_directory_fails_with_the_fix_and_is_not_probed(
    instance: InstanceConfig, tmp_path: Path
) -> None:
    outside = tmp_path / "shared"
    outside.mkdir()
    instance.path(protocol.RECYCLING_BIN).rmdir()
    instance.path(protocol.RECYCLING_BIN).symlink_to(outside)
    seen = outside.stat().st_mtime_ns
    checks = doctor.run_checks(instance)
    check = _by_name(checks)["layout"]
    assert check.status == doctor.FAIL
    assert f"RecyclingBin/ is a symlink (to {outside})" in check.message
    assert "real directory" in check.fix and "mkdir" in check.fix
    assert doctor.exit_code(checks) == 1
    # The writable probe would have created and removed a file over there.
    assert outside.stat().st_mtime_ns == seen


def test_a_stuck_uow_is_a_warning_with_path_and_reason(instance: InstanceConfig) -> None:
    stuck_dir = instance.path(protocol.RUNNING) / "sample"
    stuck_dir.mkdir()
    store = StateStore(instance.base_dir)
    store.ensure()
    stuck = StuckList(store.root)
    stuck.failed("sample", now=1000.0, path=str(stuck_dir), reason="moving it: Permission denied")
    stuck.failed("gone", now=1000.0, path="/x", reason="no longer there")
    stuck.save()
    early = _by_name(doctor.instance_checks(instance, now=1000.0 + 3599))["hand-back"]
    assert early.status == doctor.OK
    check = _by_name(doctor.instance_checks(instance, now=1000.0 + 7200))["hand-back"]
    assert check.status == doctor.WARN
    assert "sample for 2.0 h (moving it: Permission denied, at " in check.message
    assert "gone" not in check.message and "write permission" in check.fix


def test_no_tick_within_two_intervals_fails(instance: InstanceConfig) -> None:
    cfg = replace(instance, every_minutes=5)
    save_instance(cfg)
    now = time.time()
    fresh = _by_name(doctor.run_checks(cfg, now=now))["last tick"]
    assert fresh.status == doctor.WARN and "set up just now" in fresh.message
    never = _by_name(doctor.run_checks(cfg, now=now + 3600))["last tick"]
    assert never.status == doctor.FAIL and "no tick has ever run" in never.message
    tick(cfg, FakeExecutor())
    assert _by_name(doctor.run_checks(cfg, now=time.time()))["last tick"].status == doctor.OK
    stale = _by_name(doctor.run_checks(cfg, now=time.time() + 11 * 60 + 61))["last tick"]
    assert stale.status == doctor.FAIL and "should run every 5 min" in stale.message


def test_failing_ticks_are_a_warning_naming_the_last_message(instance: InstanceConfig) -> None:
    down = FakeExecutor()
    down.down = True
    tick(instance, down)
    check = _by_name(doctor.run_checks(instance))["last tick"]
    assert check.status == doctor.WARN and "1 tick(s) in a row failed" in check.message


def test_cron_without_a_cron_daemon_fails_and_says_what_else_works(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    (proc / "1" / "comm").write_text("bash\n")
    check = doctor.cron_daemon_check(proc=proc)
    assert check.status == doctor.FAIL
    assert "scrontab" in check.fix and "hpc-agent run --every 300" in check.fix
    (proc / "2").mkdir()
    (proc / "2" / "comm").write_text("cron\n")
    assert doctor.cron_daemon_check(proc=proc).status == doctor.OK


def test_slurm_settings_that_hurt_are_warned_about() -> None:
    assert doctor.proctrack_check({"ProctrackType": "proctrack/linuxproc"}).status == doctor.WARN
    assert doctor.proctrack_check({"ProctrackType": "proctrack/cgroup"}).status == doctor.OK


def test_doctor_says_when_a_success_comes_back_on_a_cgroup_cluster(tmp_path: Path) -> None:
    # Under proctrack/cgroup the fast hand-back's wait for COMPLETED dies with the job.
    cfg = InstanceConfig(name="p42", base_dir=tmp_path, executor="slurm", every_minutes=5)
    check = doctor.proctrack_check({"ProctrackType": "proctrack/cgroup"}, cfg)
    assert check.status == doctor.OK
    assert "successful one at the next tick (every 5 min)" in check.message
    slow = replace(cfg, fast_handback=False)
    assert doctor.proctrack_check({"ProctrackType": "proctrack/cgroup"}, slow).message == (
        "proctrack/cgroup"
    )
    stamp = "2026-01-31T12:00:00"
    epoch = time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
    skewed = doctor.clock_check({"ConfigurationDataAsOf": stamp}, epoch + 5)
    assert skewed.status == doctor.WARN and "5 s ahead of slurmctld's" in skewed.message
    assert doctor.clock_check({"ConfigurationDataAsOf": stamp}, epoch + 1).status == doctor.OK
    assert doctor.scron_check({"ScronParameters": "(null)"}).status == doctor.FAIL
    assert doctor.scron_check({"ScronParameters": "enable"}).status == doctor.OK


def test_a_lease_shorter_than_slurm_commands_is_warned_about(instance: InstanceConfig) -> None:
    cfg = replace(instance, lease_timeout_seconds=60, slurm_timeout_seconds=30)
    assert _by_name(doctor.run_checks(cfg))["timeouts"].status == doctor.WARN


@pytest.mark.slurm
def test_doctor_reads_proctrack_and_the_clock_from_the_real_slurm(
    slurm_env: Any, cfg: InstanceConfig
) -> None:
    cfg = replace(cfg, executor="slurm", schedule="none", account=None, qos=None)
    checks = _by_name(doctor.run_checks(cfg))
    # The test bed runs proctrack/linuxproc, as many small sites do.
    assert checks["proctrack"].status == doctor.WARN
    assert checks["clock"].status == doctor.OK, checks["clock"].message


def test_doctor_warns_when_jobs_may_not_find_the_agents_python(tmp_path: Path) -> None:
    # The fast hand-back's wrapper starts in the agent's Python on the compute node.
    base = tmp_path / "inst"
    base.mkdir()
    cfg = InstanceConfig(name="p42", base_dir=base, executor="slurm")
    venv = base / "venv" / "bin" / "python3"  # on the instance's file system
    venv.parent.mkdir(parents=True)
    venv.write_text("")
    assert doctor.job_python_check(cfg, str(venv)).status == doctor.OK
    assert doctor.job_python_check(cfg, "/usr/bin/python3").status == doctor.OK
    elsewhere = doctor.job_python_check(cfg, "/login-only/python3")
    assert elsewhere.status == doctor.WARN
    assert "srun /login-only/python3 -c pass" in elsewhere.fix
    assert "fast_handback = false" in elsewhere.fix
    off = replace(cfg, fast_handback=False)
    assert doctor.job_python_check(off, "/login-only/python3").status == doctor.OK
