"""``hpc-agent doctor``: is this login node and this instance fit to run the agent?

Each check answers OK, WARN or FAIL with what to do; any FAIL makes the
command exit 1. Checks are read-only (apart from a probe file created and
removed to test that a directory is writable).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from hpc_agent import protocol
from hpc_agent.config import RUN_POLICY_MEANINGS, InstanceConfig, limits_summary
from hpc_agent.executors import slurm
from hpc_agent.exitcodes import ExitCode
from hpc_agent.functions.spec import load_library
from hpc_agent.loop.health import read_heartbeat
from hpc_agent.loop.holds import HeldList
from hpc_agent.loop.lock import LEASE_FILE, InstanceLock, read_lease
from hpc_agent.loop.state import StateStore
from hpc_agent.site import schedule
from hpc_agent.site.layout import LAYOUT_FIX, layout_findings, layout_problems
from hpc_agent.terminal import paint
from hpc_agent.uow.stuck import stuck_uows

OK = "OK"
WARN = "WARN"
FAIL = "FAIL"

_STYLES: Final = {OK: "ok", WARN: "warning", FAIL: "error"}
"""The :func:`hpc_agent.terminal.paint` style of each status, on a terminal."""

LOW_SPACE_WARN = 10 * 1024**3
LOW_SPACE_FAIL = 1 * 1024**3


@dataclass(frozen=True)
class Check:
    """One check's outcome: status, a short name, what was found and what to do."""

    status: str
    name: str
    message: str
    fix: str = ""

    def line(self, *, colour: bool = False) -> str:
        """The check as one line of text; with ``colour`` its status painted by severity.

        >>> Check(FAIL, "sbatch", "not on PATH", "load Slurm").line()
        'FAIL  sbatch: not on PATH -> load Slurm'
        >>> Check(OK, "sbatch", "/usr/bin/sbatch").line(colour=True)
        '\\x1b[32mOK\\x1b[0m    sbatch: /usr/bin/sbatch'
        """
        # Padded before painting: the escape codes must not count towards the column width.
        status = paint(self.status, _STYLES.get(self.status, "bold"), enabled=colour)
        text = f"{status}{' ' * (4 - len(self.status))}  {self.name}: {self.message}"
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
    checks: list[Check] = [_layout_check(cfg)]
    # Never probe through a symlinked directory: the probe file would be written
    # (and removed) outside the instance.
    linked = {where for where, _ in layout_findings(cfg)}
    base_dev = cfg.base_dir.stat().st_dev if cfg.base_dir.is_dir() else None
    missing, unwritable, other_fs = [], [], []
    for sub in protocol.INSTANCE_DIRS:
        path = cfg.path(sub)
        if not path.is_dir():
            missing.append(sub)
            continue
        through_link = any(sub == bad or sub.startswith(bad + "/") for bad in linked)
        if not through_link and not _writable(path):
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
    checks.append(_stuck_check(cfg, now))
    checks.append(_policy_check(cfg))
    checks.append(limits_check(cfg))
    checks.append(functions_check(cfg))
    return checks


def _layout_check(cfg: InstanceConfig) -> Check:
    """Each protocol directory must be a real directory in the base (:mod:`hpc_agent.site.layout`)."""
    problems = layout_problems(cfg)
    if problems:
        return Check(
            FAIL,
            "layout",
            "; ".join(problems) + "; the tick and retention do nothing until this is fixed",
            LAYOUT_FIX,
        )
    return Check(OK, "layout", "no instance directory is a symlink")


def _stuck_check(cfg: InstanceConfig, now: float) -> Check:
    """UoWs whose hand-back has failed for ``stuck_report_seconds`` or longer."""
    stuck = stuck_uows(cfg, now)
    if not stuck:
        return Check(OK, "hand-back", "no Unit of Work is stuck in CodeToRun/slurm")
    listed = "; ".join(
        f"{s.uow} for {s.seconds(now) / 3600:.1f} h ({s.reason}, at {s.path})" for s in stuck
    )
    return Check(
        WARN,
        "hand-back",
        f"{len(stuck)} Unit(s) of Work cannot be handed back: {listed}",
        "give the agent's user write permission on the path named; the next tick then "
        "hands it back (moving it by hand would leave the flow waiting for ever)",
    )


def _policy_check(cfg: InstanceConfig) -> Check:
    """What the instance runs, and what it does with scripts that choose their own
    account/QoS or will not work."""
    risky = {"warn": "warned about", "reject": "refused"}[cfg.risky_script_policy]
    account = {"force": "overridden", "reject": "refused"}[cfg.account_qos_policy]
    return Check(
        OK,
        "policy",
        f"runs {RUN_POLICY_MEANINGS[cfg.run_policy]} (run_policy = {cfg.run_policy}); "
        f"#SBATCH --account/--qos lines are {account} (account_qos_policy); script lines "
        f"that will not work in a job are {risky} (risky_script_policy)",
    )


def limits_check(cfg: InstanceConfig) -> Check:
    """The admission limits (:mod:`hpc_agent.loop.fairness`), and how many uploads they hold."""
    held = HeldList(StateStore(cfg.base_dir).root).load().entries
    waiting = f"; {len(held)} upload(s) wait for a limit (`hpc-agent status`)" if held else ""
    return Check(OK, "limits", limits_summary(cfg) + waiting)


def functions_check(cfg: InstanceConfig) -> Check:
    """The published functions in ``Functions/``: how many work, and each broken one with why."""
    folder = cfg.path(protocol.FUNCTIONS)
    library = load_library(folder)
    unused = " (run_policy = scripts: they are not run)" if cfg.run_policy == "scripts" else ""
    if library.broken:
        listed = "; ".join(
            f"{name}: {'; '.join(problems)}" for name, problems in sorted(library.broken.items())
        )
        return Check(
            WARN,
            "functions",
            f"{len(library.broken)} broken in {folder}/ (Units of Work that call them are "
            f"refused){unused}: {listed}",
            "fix each as its problems say (`hpc-agent function check`), or move it out of "
            f"{protocol.FUNCTIONS}/",
        )
    if not library.functions:
        needed = cfg.run_policy == "functions"
        return Check(
            WARN if needed else OK,
            "functions",
            f"none published in {folder}/"
            + (": with run_policy = functions this instance runs nothing" if needed else ""),
            f"publish a function in {folder}/<name>/ (function.toml and template.sh)",
        )
    names = ", ".join(sorted(library.functions))
    return Check(OK, "functions", f"{len(library.functions)} published: {names}{unused}")


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
    lease = read_lease(cfg.path(protocol.CODE_TO_RUN) / LEASE_FILE)
    if lease is None:
        return Check(OK, "lock", "free")
    age = now - float(lease.time)
    if age <= -cfg.lease_timeout_seconds:
        return Check(
            WARN,
            "lock",
            f"lease dated in the future: {lease.describe(now)}",
            "a host's clock is wrong (check NTP on the login nodes); the next tick takes "
            "the lease over",
        )
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


def _slurm_checks(cfg: InstanceConfig) -> list[Check]:
    """Checks that read the controller's configuration (one ``scontrol show config``)."""
    asked = time.time()
    try:
        config = slurm.show_config()
    except Exception as exc:  # the scheduler's failure is a finding, not a crash
        return [
            Check(
                FAIL,
                "job age",
                f"`scontrol show config` failed ({exc})",
                "check that slurmctld is up (`scontrol ping`)",
            )
        ]
    answered = time.time()
    return [
        job_age_check(cfg, config),
        proctrack_check(config, cfg),
        clock_check(config, (asked + answered) / 2, slack=(answered - asked) / 2),
        *([scron_check(config)] if cfg.schedule == "scrontab" else []),
    ]


def proctrack_check(config: dict[str, str], cfg: InstanceConfig | None = None) -> Check:
    """``proctrack/linuxproc`` lets a job's ``setsid`` children outlive it (and the hand-back).

    Under any other kind (``proctrack/cgroup``, most sites) every process of
    a job ends with it, the fast hand-back's wait for Slurm's verdict
    included: a success then comes back at the next tick, a failure still in
    seconds. Said here, so the PI knows what "seconds" means on this cluster.
    """
    kind = config.get("ProctrackType", "")
    if kind == "proctrack/linuxproc":
        return Check(
            WARN,
            "proctrack",
            "ProctrackType = proctrack/linuxproc: a process a job starts in its own session "
            "(setsid, nohup &) escapes the job, and can go on writing into a Unit of Work "
            "after it was handed back",
            "ask the site for proctrack/cgroup; until then, tell users not to leave "
            "background processes running when their script ends",
        )
    if cfg is not None and cfg.fast_handback and cfg.executor == "slurm" and kind:
        return Check(
            OK,
            "proctrack",
            f"{kind}: a failed job comes back in seconds, a successful one at the next tick "
            f"(every {cfg.every_minutes} min), once Slurm has called it COMPLETED",
        )
    return Check(OK, "proctrack", kind or "unknown")


CLOCK_SKEW_LIMIT: Final = 2.0
"""Seconds of difference from slurmctld's clock that doctor tolerates (times are whole seconds)."""


def clock_check(config: dict[str, str], local: float, *, slack: float = 0.0) -> Check:
    """This host's clock against slurmctld's (``Configuration data as of ...``).

    The look-up of an interrupted submission compares Slurm's submit times
    with this host's clock: a clock several seconds off can miss the job and
    submit it again.
    """
    controller = slurm.slurm_time_epoch(config.get(slurm.CONFIG_TIME_KEY))
    if controller is None:
        return Check(OK, "clock", "slurmctld's time not shown; not compared")
    skew = local - controller
    # Slurm prints whole seconds: allow one second, plus the call's own duration.
    if abs(skew) > CLOCK_SKEW_LIMIT + 1.0 + slack:
        direction = "ahead of" if skew > 0 else "behind"
        return Check(
            WARN,
            "clock",
            f"this host's clock is {abs(skew):.0f} s {direction} slurmctld's",
            "ask the admins to run NTP (chrony) on the login nodes and the controller",
        )
    return Check(OK, "clock", f"within {CLOCK_SKEW_LIMIT:.0f} s of slurmctld's")


def scron_check(config: dict[str, str]) -> Check:
    """scrontab works only where the site enabled it (``ScronParameters=enable``)."""
    if "enable" in config.get("ScronParameters", "").split(","):
        return Check(OK, "scrontab", "enabled on this cluster (ScronParameters=enable)")
    return Check(
        FAIL,
        "scrontab",
        "scrontab is not enabled on this cluster (ScronParameters lacks 'enable'), so the "
        "instance's ticks never run",
        f"ask the admins to enable it, or use cron (`hpc-agent setup --schedule cron`); "
        f"{NO_CRON_FIX}",
    )


NO_CRON_FIX: Final = (
    "where neither cron nor scrontab is allowed, run `hpc-agent run --every 300 INSTANCE` "
    "inside tmux or screen on a login node"
)


def cron_daemon_check(*, proc: Path = Path("/proc")) -> Check:
    """Is a cron daemon running on this host? An entry in a crontab alone does nothing."""
    names = {"cron", "crond", "cronie", "fcron", "busybox-crond"}
    if not (proc / "1" / "comm").is_file():
        # /proc mounted with hidepid (common on shared login nodes) hides the
        # daemon, which runs as root: no answer is better than a false FAIL.
        return Check(WARN, "cron daemon", f"{proc} hides other users' processes; not checked")
    try:
        for entry in proc.iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if (entry / "comm").read_text().strip() in names:
                        return Check(OK, "cron daemon", "running on this host")
    except OSError:
        return Check(WARN, "cron daemon", f"cannot look at {proc}; not checked")
    return Check(
        FAIL,
        "cron daemon",
        f"no cron daemon runs on {socket.gethostname()}, so the cron entry never fires",
        "start cron (`systemctl start cron`), use scrontab (`hpc-agent setup --schedule "
        f"scrontab`, where the site enables it), or {NO_CRON_FIX}",
    )


def heartbeat_check(cfg: InstanceConfig, now: float) -> Check:
    """Did a tick run recently? Fails when none ran within two schedule intervals."""
    limit = 2 * cfg.every_minutes * 60 + 60
    beat = read_heartbeat(cfg.base_dir)
    fix = (
        f"check the schedule (`hpc-agent schedule show {cfg.name}`) and that its daemon "
        f"runs; or run `hpc-agent tick {cfg.name}` by hand to see what happens"
    )
    if beat is None:
        try:
            since_setup = now - cfg.config_path.stat().st_mtime
        except OSError:
            since_setup = float(limit + 1)
        if since_setup <= limit:
            return Check(WARN, "last tick", "none yet (the instance was set up just now)")
        return Check(FAIL, "last tick", "no tick has ever run on this instance", fix)
    last = beat.ended if beat.ended is not None else beat.started
    age = now - last
    if beat.ended is None:
        # A long tick (a big admission, a large deletion) renews its lease: alive.
        lease = read_lease(InstanceLock(cfg.base_dir, cfg.lease_timeout_seconds).lease_path)
        if lease is not None and now - lease.time < cfg.lease_timeout_seconds:
            return Check(OK, "last tick", f"running on {lease.host} for {age:.0f} s")
    if age > limit:
        return Check(
            FAIL,
            "last tick",
            f"the last tick ran {age / 60:.0f} min ago (on {beat.host}), but ticks should "
            f"run every {cfg.every_minutes} min",
            fix,
        )
    if beat.ended is None:
        return Check(OK, "last tick", f"running on {beat.host} since {age:.0f} s")
    if beat.failures_in_a_row:
        return Check(
            WARN,
            "last tick",
            f"{beat.failures_in_a_row} tick(s) in a row failed; the last, {age:.0f} s ago, "
            f"exited {beat.exit_code}: {beat.message or 'see the log'}",
            f"`hpc-agent logs {cfg.name} --since 1h`",
        )
    return Check(OK, "last tick", f"{age:.0f} s ago on {beat.host}, exit code 0")


def timeout_check(cfg: InstanceConfig) -> Check:
    """The lease must outlive the longest single step (a Slurm command), or hosts overlap."""
    if cfg.lease_timeout_seconds < 4 * cfg.slurm_timeout_seconds:
        return Check(
            WARN,
            "timeouts",
            f"lease_timeout_seconds = {cfg.lease_timeout_seconds} is less than 4 x "
            f"slurm_timeout_seconds = {cfg.slurm_timeout_seconds}: a hung Slurm command can "
            "outlast the lease, and another login node's agent would take over mid-step",
            "raise lease_timeout_seconds (or lower slurm_timeout_seconds) in flowcron.toml",
        )
    return Check(OK, "timeouts", "the lease outlives any single Slurm command")


SYSTEM_PREFIXES: Final = ("/usr/", "/bin/")
"""Where an interpreter comes with the operating system, on every node of a cluster as a rule."""


def job_python_check(cfg: InstanceConfig, python: str | None = None) -> Check:
    """Will the compute nodes find the Python the fast hand-back's wrapper starts with?

    The wrapper's interpreter line names the agent's own Python: a job whose
    node lacks it fails to start. Doctor cannot see the nodes; it says when
    that Python is neither on the instance's file system (which every job
    sees, as it runs in its Unit of Work) nor the operating system's.
    """
    from hpc_agent.invocation import agent_command

    if not (cfg.fast_handback and cfg.executor == "slurm"):
        return Check(OK, "job python", "fast_handback is off: jobs run without the wrapper")
    python = python or agent_command("finalize").argv[0]
    real = Path(python).resolve()
    try:
        shared = real.stat().st_dev == cfg.base_dir.stat().st_dev
    except OSError:
        shared = False
    if shared or str(real).startswith(SYSTEM_PREFIXES):
        where = "on the instance's file system" if shared else "the system's"
        return Check(OK, "job python", f"jobs start in {python} ({where})")
    return Check(
        WARN,
        "job python",
        f"jobs start in {python} (the fast hand-back's wrapper), which is neither on the "
        "instance's file system nor under /usr: on a node that lacks it every job fails "
        "to start",
        f"check from a compute node (`srun {python} -c pass`), or set fast_handback = false "
        f"in {cfg.config_path}",
    )


def run_checks(cfg: InstanceConfig | None, *, now: float | None = None) -> list[Check]:
    """Every check: the login node's, then the instance's when one is given."""
    checks = system_checks(cfg.executor if cfg else "slurm")
    if cfg is not None:
        now = time.time() if now is None else now
        if cfg.executor == "slurm":
            checks.extend(_slurm_checks(cfg))
            checks.append(job_python_check(cfg))
        if cfg.schedule == "cron":
            checks.append(cron_daemon_check())
        checks.extend(instance_checks(cfg, now=now))
        checks.append(heartbeat_check(cfg, now))
        checks.append(timeout_check(cfg))
    return checks


def exit_code(checks: list[Check]) -> ExitCode:
    """FAILED (1) when any check failed, else OK (0)."""
    return ExitCode.FAILED if any(c.status == FAIL for c in checks) else ExitCode.OK
