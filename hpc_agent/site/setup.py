"""``hpc-agent setup``: create or update an agent instance.

Asks what the original ``setup.sh`` asked (name, Slurm account and QoS, how
often to run, soft- and hard-delete days, timestamps), what to do with risky
script lines, and what the instance runs (``run_policy``), and every question is
also a flag, so ``--yes`` with flags is fully non-interactive. The admission
limits (``--max-running-per-user``, ``--max-active-per-user``, ``--max-active``,
``--max-uow-bytes-per-user``; 0 is no limit) are flags only, never asked, and
shown in the summary. Answers are
validated (the account and QoS against Slurm itself) and asked again with the
reason. Re-running setup updates an instance in place; it never touches data.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO, TypeVar

from hpc_agent import protocol
from hpc_agent.config import (
    CONFIG_FILE,
    EXECUTORS,
    LIMIT_SETTINGS,
    RISKY_SCRIPT_POLICIES,
    RUN_POLICY_MEANINGS,
    SCHEDULES,
    SLURM_NAME_RE,
    ConfigError,
    InstanceConfig,
    limits_summary,
    load_base,
    registered_base,
    registry_path,
    save_instance,
    toml_string,
    write_registry_entry,
)
from hpc_agent.errors import AgentError
from hpc_agent.executors import slurm
from hpc_agent.executors.base import ExecutorError
from hpc_agent.exitcodes import ExitCode
from hpc_agent.fs.atomicio import write_text_atomic
from hpc_agent.site import schedule

INSTANCE_FILE = "flowcron-instance.toml"
"""What ``flowgen init --from FILE`` reads; see :func:`write_instance_file`."""

T = TypeVar("T")

_FLAG_OF = {
    "every_minutes": "--every",
    "soft_delete_days": "--soft-delete-days",
    "hard_delete_days": "--hard-delete-days",
    "risky_script_policy": "--risky-scripts",
    "run_policy": "--run-policy",
}
"""Config keys whose flag is spelled differently, for error messages."""


class SetupError(AgentError):
    """Setup cannot go on; the message says what to pass or fix (exit code 2)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class SetupOptions:
    """The flags of ``hpc-agent setup``; None means "not given"."""

    base_dir: Path | None = None
    name: str | None = None
    account: str | None = None
    qos: str | None = None
    every: str | None = None
    soft_delete_days: str | None = None
    hard_delete_days: str | None = None
    timestamp: bool | None = None
    executor: str | None = None
    schedule: str | None = None
    risky_scripts: str | None = None
    run_policy: str | None = None
    max_running_per_user: str | None = None
    max_active_per_user: str | None = None
    max_active: str | None = None
    max_uow_bytes_per_user: str | None = None
    yes: bool = False
    force: bool = False


# -- parsing one answer --------------------------------------------------------


def parse_name(text: str) -> str:
    """An instance name, or ValueError saying what a name may contain."""
    text = text.strip()
    # The protocol's rule, shared with flowgen init, so the PI's flow accepts the name too.
    if problem := protocol.instance_name_problem(text):
        raise ValueError(problem)
    return text


def parse_slurm_name(text: str) -> str | None:
    """An account or QoS name; ``none`` or empty means "Slurm's default" (None)."""
    text = text.strip()
    if text.lower() in ("", "none"):
        return None
    if not SLURM_NAME_RE.match(text):
        raise ValueError("use letters, digits, '.', '_' or '-' (no spaces), or 'none'")
    return text


def int_parser(low: int, high: int) -> Callable[[str], int]:
    """A parser for a whole number in ``low..high``."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError(f"expected a whole number, got {text.strip()!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def parse_every(text: str) -> int:
    """Minutes between runs: a whole number cron can schedule evenly."""
    value = int_parser(1, 1440)(text)
    try:
        schedule.cron_spec(value)
    except schedule.ScheduleError as exc:
        raise ValueError(str(exc)) from None
    return value


_UNLIMITED = ("", "0", "none", "unlimited")
_BYTE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def parse_limit(text: str) -> int:
    """A count limit: a whole number, 0 (or ``none``, ``unlimited``) for no limit."""
    if text.strip().lower() in _UNLIMITED:
        return 0
    return int_parser(1, 1_000_000)(text)


def parse_byte_limit(text: str) -> int:
    """A size limit in bytes, with an optional unit (``500G``, ``2TiB``); 0 for no limit.

    >>> parse_byte_limit("2T"), parse_byte_limit("1.5 GiB"), parse_byte_limit("none")
    (2199023255552, 1610612736, 0)
    """
    answer = text.strip().lower().replace(" ", "")
    if answer in _UNLIMITED:
        return 0
    digits = answer.rstrip("kmgtpib")
    unit = answer[len(digits) :].removesuffix("b").removesuffix("i")
    if unit not in _BYTE_UNITS:
        raise ValueError("expected a size such as 500G or 2T (K, M, G, T, P), or 0 for no limit")
    try:
        value = float(digits)
    except ValueError:
        raise ValueError(f"expected a size such as 500G or 2T, got {text.strip()!r}") from None
    count = int(value * _BYTE_UNITS[unit])
    if not 0 < count <= 2**62:
        raise ValueError("must be more than 0 bytes and at most 4 EiB, or 0 for no limit")
    return count


def parse_yes_no(text: str) -> bool:
    """yes/no, y/n, true/false."""
    answer = text.strip().lower()
    if answer in ("y", "yes", "true"):
        return True
    if answer in ("n", "no", "false"):
        return False
    raise ValueError("answer yes or no")


def choice_parser(choices: tuple[str, ...]) -> Callable[[str], str]:
    """A parser that accepts one of ``choices``."""

    def parse(text: str) -> str:
        if text.strip() not in choices:
            raise ValueError(f"choose one of {', '.join(choices)}")
        return text.strip()

    return parse


# -- asking --------------------------------------------------------------------


class Prompter:
    """Asks questions on ``out`` and reads answers from ``read_line`` until one is valid."""

    def __init__(self, read_line: Callable[[], str], out: TextIO) -> None:
        self.read_line = read_line
        self.out = out

    def ask(self, question: str, parse: Callable[[str], T], default: str | None) -> T:
        """Ask until ``parse`` accepts the answer; an empty answer takes ``default``."""
        while True:
            hint = f" [{default}]" if default not in (None, "") else ""
            self.out.write(f"{question}{hint}: ")
            self.out.flush()
            line = self.read_line()
            if line == "":
                raise SetupError(f"no answer to {question!r} (input ended); pass it as a flag")
            answer = line.rstrip("\n")
            if not answer.strip() and default is not None:
                answer = default
            try:
                return parse(answer)
            except ValueError as exc:
                self.out.write(f"  {exc}; please try again.\n")

    def confirm(self, question: str) -> bool:
        """A yes/no question; the default is no."""
        return self.ask(question + " (yes/no)", parse_yes_no, "no")


def stdin_prompter(out: TextIO = sys.stdout) -> Prompter:
    """A prompter reading ``sys.stdin``."""
    return Prompter(sys.stdin.readline, out)


# -- the whole setup -----------------------------------------------------------


def check_account_qos(account: str | None, qos: str | None) -> list[str]:
    """Problems with the account/QoS as Slurm sees them (via :mod:`hpc_agent.executors.slurm`)."""
    try:
        return [str(problem) for problem in slurm.check_account_qos(account, qos)]
    except ExecutorError as exc:
        raise SetupError(
            f"could not ask Slurm whether account {account or 'none'!r} and QoS "
            f"{qos or 'none'!r} may be used: {exc}. Check that Slurm's commands work on "
            "this node (e.g. `sacct`), or pass --account none --qos none to leave both to "
            "Slurm's defaults"
        ) from None


def _write_instance(cfg: InstanceConfig, existing: InstanceConfig | None) -> tuple[Path, Path]:
    """Create the directories, the config, the registry entry and the instance file.

    Returns the registry entry's and the instance file's paths. A renamed
    instance's old registry entry is removed (only if it pointed here).
    """
    for sub in protocol.INSTANCE_DIRS:
        cfg.path(sub).mkdir(parents=True, exist_ok=True)
    # The admin's published functions (not an instance directory: nothing moves there).
    cfg.path(protocol.FUNCTIONS).mkdir(exist_ok=True)
    save_instance(cfg)
    if (
        existing is not None
        and existing.name != cfg.name
        and registered_base(existing.name) == cfg.base_dir
    ):
        registry_path(existing.name).unlink(missing_ok=True)
    return write_registry_entry(cfg), write_instance_file(cfg)


def _warn_about_choices(cfg: InstanceConfig, err: TextIO) -> None:
    """Warnings about choices that work but that the PI may regret."""
    base = cfg.base_dir
    home = Path(os.environ.get("HOME") or Path.home()).resolve()
    if base == home or home in base.parents:
        err.write(
            f"warning: {base} is under your home directory. Home quotas are small and "
            "others in your project cannot read it; a project directory is better.\n"
        )
    if cfg.timestamp:
        err.write(
            "note: timestamps are added only to uploads whose name carries no run id; the "
            "FlowCron flow's uploads always keep their names.\n"
        )


def setup(
    options: SetupOptions,
    *,
    prompter: Prompter | None,
    out: TextIO,
    err: TextIO,
    check: Callable[[str | None, str | None], list[str]] = check_account_qos,
) -> tuple[InstanceConfig, int]:
    """Create or update an instance; returns it and the exit code (0, or 1: no schedule).

    ``prompter`` None means non-interactive (``--yes``): every value must come
    from a flag, the existing config or a default, else SetupError.
    """
    base = (options.base_dir or Path.cwd()).expanduser()
    base = base.resolve()
    if base.exists() and not base.is_dir():
        raise SetupError(f"--base-dir {base} is a file; give a directory")
    existing = load_base(base) if (base / CONFIG_FILE).is_file() else None
    old: dict[str, Any] = {} if existing is None else existing.__dict__

    def value(
        flag: str | None, key: str, question: str, parse: Callable[[str], T], default: T
    ) -> T:
        current = old.get(key, default)
        if flag is not None:
            try:
                return parse(flag)
            except ValueError as exc:
                raise SetupError(f"{_FLAG_OF.get(key, '--' + key)} {flag!r}: {exc}") from None
        if prompter is None:
            if current in (None, "") and key == "name":
                raise SetupError("--name is missing: pass --name NAME (e.g. --name proj42)")
            return current  # type: ignore[no-any-return]
        shown = None if current is None else _show_default(current)
        return prompter.ask(question, parse, shown)

    name = value(
        options.name, "name", "What should this FlowCron instance be called?", parse_name, ""
    )
    executor = value(
        options.executor, "executor", "Executor (slurm or local)", choice_parser(EXECUTORS), "slurm"
    )
    if options.schedule is None and prompter is None and existing is None:
        sched = "cron"
    else:
        sched = value(
            options.schedule,
            "schedule",
            "Schedule (cron, scrontab or none)",
            choice_parser(SCHEDULES),
            "cron",
        )
    account, qos = _ask_account_qos(options, old, executor, prompter, check, err)
    every = value(
        options.every,
        "every_minutes",
        "How often should the agent run, in minutes?",
        parse_every,
        5,
    )
    soft = value(
        options.soft_delete_days,
        "soft_delete_days",
        "Days before finished Units of Work are soft-deleted (0: never)",
        int_parser(0, 36500),
        30,
    )
    hard = value(
        options.hard_delete_days,
        "hard_delete_days",
        "Days after soft-deletion before they are deleted for good (0: never)",
        int_parser(0, 36500),
        30,
    )
    if options.timestamp is not None:
        stamp = options.timestamp
    elif prompter is None:
        stamp = bool(old.get("timestamp", False))
    else:
        stamp = prompter.ask(
            "Add a timestamp to uploaded folders? (no is recommended)",
            parse_yes_no,
            "yes" if old.get("timestamp") else "no",
        )

    risky = value(
        options.risky_scripts,
        "risky_script_policy",
        "A job script may have lines that will not work in a job ('~/', 'source ~/.bashrc', "
        "'conda activate' without conda set up, 'cd' to a path on a laptop). Warn in the "
        "report and run the job, or refuse the Unit of Work? (warn or reject)",
        choice_parser(RISKY_SCRIPT_POLICIES),
        "warn",
    )
    run_policy = value(
        options.run_policy,
        "run_policy",
        "What should this instance run: job scripts that users bring, calls of the "
        f"functions you publish in {protocol.FUNCTIONS}/, or both? (both, scripts or functions)",
        choice_parser(protocol.RUN_POLICIES),
        "both",
    )

    _check_names(base, name, existing, force=options.force)
    try:
        fresh = InstanceConfig(name=name, base_dir=base)
        cfg = replace(
            _with_limits(existing or fresh, options),
            name=name,
            base_dir=base,
            account=account,
            qos=qos,
            every_minutes=every,
            soft_delete_days=soft,
            hard_delete_days=hard,
            timestamp=stamp,
            executor=executor,
            schedule=sched,
            risky_script_policy=risky,
            run_policy=run_policy,
        )
    except ConfigError as exc:
        raise SetupError(str(exc)) from None

    entry, info = _write_instance(cfg, existing)
    _warn_about_choices(cfg, err)

    status = _install_schedule(cfg, options, prompter, out, err)
    out.write(
        f"\nFlowCron instance '{cfg.name}' is ready.\n"
        f"  config:   {cfg.config_path}\n"
        f"  registry: {entry}\n"
        f"  runs:     {RUN_POLICY_MEANINGS[cfg.run_policy]} (run_policy = {cfg.run_policy}); "
        f"publish functions in {cfg.path(protocol.FUNCTIONS)}/\n"
        f"  limits:   {limits_summary(cfg)}\n"
        "For `flowgen init` on your own machine you need:\n"
        f"  instance name: {cfg.name}\n"
        f"  base path:     {cfg.base_dir}\n"
        f"(also in {info}; copy it over and run `flowgen init --from {INSTANCE_FILE}`)\n"
    )
    return cfg, status


def _with_limits(cfg: InstanceConfig, options: SetupOptions) -> InstanceConfig:
    """``cfg`` with the admission limits given as flags (the others keep their values).

    They are only flags, never asked: most instances need none, and 0 is no limit.
    """
    chosen: dict[str, int] = {key: getattr(cfg, key) for key in LIMIT_SETTINGS}
    for key in LIMIT_SETTINGS:
        flag = getattr(options, key)
        if flag is None:
            continue
        parse = parse_byte_limit if key == "max_uow_bytes_per_user" else parse_limit
        try:
            chosen[key] = parse(flag)
        except ValueError as exc:
            raise SetupError(f"--{key.replace('_', '-')} {flag!r}: {exc}") from None
    return replace(
        cfg,
        max_running_per_user=chosen["max_running_per_user"],
        max_active_per_user=chosen["max_active_per_user"],
        max_active=chosen["max_active"],
        max_uow_bytes_per_user=chosen["max_uow_bytes_per_user"],
    )


def _show_default(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _ask_account_qos(
    options: SetupOptions,
    old: dict[str, Any],
    executor: str,
    prompter: Prompter | None,
    check: Callable[[str | None, str | None], list[str]],
    err: TextIO,
) -> tuple[str | None, str | None]:
    """Account and QoS, checked against Slurm (asked again while Slurm refuses them)."""
    flags = {"account": options.account, "qos": options.qos}
    chosen: dict[str, str | None] = {}
    while True:
        for key, label in (("account", "Slurm account"), ("qos", "Slurm QoS")):
            flag = flags[key]
            if flag is not None:
                try:
                    chosen[key] = parse_slurm_name(flag)
                except ValueError as exc:
                    raise SetupError(f"--{key} {flag!r}: {exc}") from None
            elif prompter is None or executor != "slurm":
                # Without Slurm an account means nothing, so it is not asked for.
                if key not in old and executor == "slurm":
                    raise SetupError(
                        f"--{key} is missing: pass --{key} NAME, or --{key} none to use "
                        "Slurm's default"
                    )
                chosen[key] = old.get(key)
            else:
                current = old.get(key)
                chosen[key] = prompter.ask(
                    f"What {label} should jobs run as? ('none': Slurm's default)",
                    parse_slurm_name,
                    current if current is not None else ("none" if key in old else None),
                )
        if executor != "slurm":
            return chosen["account"], chosen["qos"]
        problems = check(chosen["account"], chosen["qos"])
        if not problems:
            return chosen["account"], chosen["qos"]
        text = "; ".join(problems)
        if prompter is None or all(flags[k] is not None for k in flags):
            raise SetupError(f"Slurm does not accept the account/QoS: {text}")
        err.write(f"Slurm does not accept these: {text}. Please answer again.\n")
        old = {**old, **{k: None for k in flags}}


def _check_names(base: Path, name: str, existing: InstanceConfig | None, *, force: bool) -> None:
    registered = registered_base(name)
    if registered is not None and registered != base and not force:
        raise SetupError(
            f"an instance named {name!r} already exists at {registered}; choose another "
            "--name, or pass --force to point the name at this directory instead"
        )
    if existing is not None and existing.name != name and not force:
        raise SetupError(
            f"{base} already holds the instance {existing.name!r}; re-run setup with "
            f"--name {existing.name}, or pass --force to rename it to {name!r}"
        )


def write_instance_file(cfg: InstanceConfig) -> Path:
    """Write ``<base>/flowcron-instance.toml``: what the PI needs for ``flowgen init``.

    Format (TOML, two keys, both strings)::

        name = "proj42"                     # the instance name
        base_path = "/project/proj42/fc"    # absolute, symlink-free base directory

    ``flowgen init --from FILE`` reads it; the base path is what the flow must
    use on the HPC collection.
    """
    path = cfg.base_dir / INSTANCE_FILE
    text = (
        "# What `flowgen init --from FILE` needs to know about this FlowCron instance.\n"
        f"name = {toml_string(cfg.name)}\n"
        f"base_path = {toml_string(str(cfg.base_dir))}\n"
    )
    write_text_atomic(path, text)
    return path


def _install_schedule(
    cfg: InstanceConfig, options: SetupOptions, prompter: Prompter | None, out: TextIO, err: TextIO
) -> int:
    if cfg.schedule == "none":
        out.write(
            "No schedule installed: run the agent yourself with "
            f"`hpc-agent run --every 300 {cfg.base_dir}` (e.g. inside tmux or screen).\n"
        )
        return 0
    try:
        change = schedule.plan_install(cfg)
        if not change.changed:
            out.write(f"The {change.tool} entry is already up to date.\n")
            return 0
        out.write(describe_change(change))
        if (
            prompter is not None
            and not options.yes
            and not prompter.confirm(f"Install this {change.tool} entry?")
        ):
            out.write(f"Not installed; later: `hpc-agent schedule install {cfg.name}`.\n")
            return 0
        backup = schedule.apply(change)
        out.write(f"Installed the {change.tool} entry (previous table saved to {backup}).\n")
        return 0
    except schedule.ScheduleError as exc:
        err.write(
            f"error: the schedule was not installed: {exc}. Everything else is set up; "
            f"fix that and run `hpc-agent schedule install {cfg.name}`.\n"
        )
        return 1


def describe_change(change: schedule.Change) -> str:
    """A unified diff of a planned table change, for people to approve."""
    diff = difflib.unified_diff(
        change.before.splitlines(keepends=True),
        change.after.splitlines(keepends=True),
        fromfile=f"{change.tool} (now)",
        tofile=f"{change.tool} (after)",
    )
    return "".join(diff) or "(no change)\n"
