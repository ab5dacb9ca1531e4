"""``hpc-agent doctor``: is this login node and this instance fit to run the agent?

Each check answers OK, WARN or FAIL with what to do; any FAIL makes the
command exit 1. Checks are read-only (apart from a probe file created and
removed to test that a directory is writable).
"""

from __future__ import annotations

import importlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from hpc_agent import protocol, schedule
from hpc_agent.config import InstanceConfig
from hpc_agent.exitcodes import EXIT_FAILED, EXIT_OK

OK = "OK"
WARN = "WARN"
FAIL = "FAIL"

LOW_SPACE_WARN = 10 * 1024**3
LOW_SPACE_FAIL = 1 * 1024**3


@dataclass(frozen=True)
class Check:
    """One check's outcome: status, a short name, what was found and what to do."""

    status: str
    name: str
    message: str
    fix: str = ""

    def line(self) -> str:
        """The check as one line of text."""
        text = f"{self.status:<4}  {self.name}: {self.message}"
        return f"{text} -> {self.fix}" if self.fix and self.status != OK else text


def system_checks(executor: str = "slurm") -> list[Check]:
    """Checks of the login node: Slurm commands and accounting."""
    if executor != "slurm":
        return [Check(OK, "executor", f"'{executor}': Slurm is not needed")]
    checks: list[Check] = []
    for tool, needed in (("sbatch", FAIL), ("sacct", WARN), ("squeue", FAIL)):
        found = shutil.which(tool)
        if found:
            checks.append(Check(OK, tool, found))
        else:
            checks.append(
                Check(
                    needed,
                    tool,
                    "not on PATH",
                    "load the site's Slurm module or add Slurm's bin directory to PATH",
                )
            )
    checks.append(_accounting_check())
    return checks


def _accounting_check() -> Check:
    try:
        slurm = importlib.import_module("hpc_agent.slurm")
    except ImportError:
        return Check(WARN, "accounting", "cannot tell: Slurm support is not installed")
    try:
        enabled = bool(slurm.detect_accounting())
    except Exception as exc:  # the scheduler's failure is a finding, not a crash
        return Check(
            FAIL,
            "accounting",
            f"Slurm did not answer ({exc})",
            "check that slurmctld is up (`scontrol ping`)",
        )
    if enabled:
        return Check(OK, "accounting", "on: outcomes come from sacct")
    return Check(
        OK, "accounting", "off: outcomes come from squeue and scontrol (kept for a short time)"
    )


def instance_checks(cfg: InstanceConfig, *, now: float | None = None) -> list[Check]:
    """Checks of one instance: directories, file system, space, schedule, lock."""
    now = time.time() if now is None else now
    checks: list[Check] = []
    base_dev = cfg.base_dir.stat().st_dev if cfg.base_dir.is_dir() else None
    missing, unwritable, other_fs = [], [], []
    for sub in protocol.INSTANCE_DIRS:
        path = cfg.path(sub)
        if not path.is_dir():
            missing.append(sub)
            continue
        if not _writable(path):
            unwritable.append(sub)
        if base_dev is not None and path.stat().st_dev != base_dev:
            other_fs.append(sub)
    if missing:
        checks.append(
            Check(
                FAIL,
                "directories",
                f"missing in {cfg.base_dir}: {', '.join(missing)}",
                f"run `hpc-agent setup --base-dir {cfg.base_dir}` to recreate them",
            )
        )
    else:
        checks.append(Check(OK, "directories", f"all present in {cfg.base_dir}"))
    if unwritable:
        checks.append(
            Check(
                FAIL,
                "writable",
                f"not writable: {', '.join(unwritable)}",
                "give your user (or the project group) write permission",
            )
        )
    elif not missing:
        checks.append(Check(OK, "writable", "every directory is writable"))
    if other_fs:
        checks.append(
            Check(
                FAIL,
                "one file system",
                f"on another file system than the base: {', '.join(other_fs)}",
                "moves must be atomic renames; replace those symlinks or mounts with "
                "plain directories",
            )
        )
    elif base_dev is not None and not missing:
        checks.append(Check(OK, "one file system", "all directories share one file system"))
    if base_dev is not None:
        checks.append(_space_check(cfg.base_dir))
    checks.append(_schedule_check(cfg))
    checks.append(_lease_check(cfg, now))
    checks.append(_policy_check(cfg))
    return checks


def _policy_check(cfg: InstanceConfig) -> Check:
    """What the instance does with scripts that choose their own account/QoS or will not work."""
    risky = {"warn": "warned about", "reject": "refused"}[cfg.risky_script_policy]
    account = {"force": "overridden", "reject": "refused"}[cfg.account_qos_policy]
    return Check(
        OK,
        "policy",
        f"#SBATCH --account/--qos lines are {account} (account_qos_policy); script lines "
        f"that will not work in a job are {risky} (risky_script_policy)",
    )


def _writable(path: Path) -> bool:
    probe = path / f".flowcron-doctor-{os.getpid()}"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError:
        return False
    return True


def _space_check(base: Path) -> Check:
    free = shutil.disk_usage(base).free
    shown = f"{free / 1024**3:.1f} GiB free"
    if free < LOW_SPACE_FAIL:
        return Check(FAIL, "free space", shown, "free space or ask for more quota")
    if free < LOW_SPACE_WARN:
        return Check(WARN, "free space", shown, "uploads and results may not fit")
    return Check(OK, "free space", shown)


def _schedule_check(cfg: InstanceConfig) -> Check:
    if cfg.schedule == "none":
        return Check(
            OK, "schedule", f"none: run `hpc-agent run --every 300 {cfg.base_dir}` yourself"
        )
    try:
        block = schedule.show(cfg)
    except schedule.ScheduleError as exc:
        return Check(FAIL, "schedule", str(exc))
    if block is None:
        return Check(
            FAIL,
            "schedule",
            f"no {cfg.schedule} entry for '{cfg.name}'",
            f"run `hpc-agent schedule install {cfg.name}`",
        )
    interpreter = schedule.block_interpreter(block)
    if interpreter is None or not os.access(interpreter, os.X_OK):
        return Check(
            FAIL,
            "schedule",
            f"the {cfg.schedule} entry runs {interpreter or '?'}, which does not exist",
            f"run `hpc-agent schedule install {cfg.name}` with the Python you want",
        )
    if str(cfg.base_dir) not in block:
        return Check(
            WARN,
            "schedule",
            f"the {cfg.schedule} entry does not name {cfg.base_dir}",
            f"run `hpc-agent schedule install {cfg.name}`",
        )
    return Check(OK, "schedule", f"{cfg.schedule} every {cfg.every_minutes} min with {interpreter}")


def _lease_check(cfg: InstanceConfig, now: float) -> Check:
    try:
        lock = importlib.import_module("hpc_agent.lock")
    except ImportError:
        return Check(OK, "lock", "no lease support installed")
    lease = lock.read_lease(cfg.path(protocol.CODE_TO_RUN) / lock.LEASE_FILE)
    if lease is None:
        return Check(OK, "lock", "free")
    age = now - float(lease.time)
    if age > cfg.lease_timeout_seconds:
        return Check(
            WARN,
            "lock",
            f"stale lease: {lease.describe(now)}",
            "the next tick takes it over; if ticks keep failing, read Logs/cron.out",
        )
    return Check(OK, "lock", f"held by {lease.describe(now)}")


def job_age_check(cfg: InstanceConfig, config: dict[str, str]) -> Check:
    """Will the tick see every job's end? ``config`` is ``scontrol show config``, parsed.

    Without accounting a finished job is visible (to squeue and scontrol) only
    for ``MinJobAge`` seconds; a tick interval longer than that can miss the
    outcome, and the job is then failed as "vanished" after the grace period.
    """
    slurm = importlib.import_module("hpc_agent.slurm")
    interval = cfg.every_minutes * 60
    if slurm.config_accounting(config):
        return Check(OK, "job age", "accounting on: sacct keeps every job's outcome")
    min_age = slurm.config_seconds(config.get("MinJobAge"))
    if min_age is None:
        return Check(
            WARN,
            "job age",
            "accounting off and MinJobAge unreadable in `scontrol show config`",
            "ask the site how long finished jobs stay visible; tick more often than that",
        )
    if min_age == 0:
        return Check(OK, "job age", "accounting off; MinJobAge = 0: Slurm never purges jobs")
    if interval > min_age:
        return Check(
            WARN,
            "job age",
            f"accounting off: Slurm forgets a finished job after MinJobAge = {min_age} s, "
            f"but the agent ticks only every {cfg.every_minutes} min; outcomes can be "
            "missed and the UoW failed as 'job vanished from Slurm'",
            f"tick at least every {max(1, min_age // 60)} min (`hpc-agent setup --base-dir "
            f"{cfg.base_dir} --every N` and reinstall the schedule), or ask the site to raise "
            "MinJobAge or enable accounting (slurmdbd)",
        )
    return Check(
        OK,
        "job age",
        f"accounting off; ticks every {cfg.every_minutes} min, within MinJobAge = {min_age} s",
    )


def _job_age_check(cfg: InstanceConfig) -> Check:
    slurm = importlib.import_module("hpc_agent.slurm")
    try:
        config = slurm.show_config()
    except Exception as exc:  # the scheduler's failure is a finding, not a crash
        return Check(
            FAIL,
            "job age",
            f"`scontrol show config` failed ({exc})",
            "check that slurmctld is up (`scontrol ping`)",
        )
    return job_age_check(cfg, config)


def run_checks(cfg: InstanceConfig | None, *, now: float | None = None) -> list[Check]:
    """Every check: the login node's, then the instance's when one is given."""
    checks = system_checks(cfg.executor if cfg else "slurm")
    if cfg is not None:
        if cfg.executor == "slurm":
            checks.append(_job_age_check(cfg))
        checks.extend(instance_checks(cfg, now=now))
    return checks


def exit_code(checks: list[Check]) -> int:
    """EXIT_FAILED (1) when any check failed, else EXIT_OK (0)."""
    return EXIT_FAILED if any(c.status == FAIL for c in checks) else EXIT_OK
