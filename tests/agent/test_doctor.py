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

from hpc_agent import doctor, protocol, schedule
from hpc_agent.cli import main
from hpc_agent.config import InstanceConfig, save_instance


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
