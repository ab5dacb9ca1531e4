"""An agent instance's configuration: one TOML file in the base directory, plus a registry.

Each instance lives in its own base directory (normally a project directory)
and keeps its settings in ``<base>/flowcron.toml``. The registry
(``~/.config/flowcron/<name>.toml``, honouring ``XDG_CONFIG_HOME``) maps an
instance name to its base directory, so commands accept either. The base
directory's file is the single source of truth; a registry entry only points
at it.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from hpc_agent.errors import AgentError
from hpc_agent.exitcodes import ExitCode
from hpc_agent.fs.atomicio import write_text_atomic
from hpc_agent.protocol import EXECUTORS as _EXECUTORS
from hpc_agent.protocol import RUN_POLICIES, instance_name_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

CONFIG_FILE = "flowcron.toml"
"""The instance's configuration file, in its base directory."""

REGISTRY_SUFFIX = ".toml"
TIB = 1024**4

SLURM_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
"""Account and QoS names as Slurm accepts them (no spaces, no shell characters)."""

EXECUTORS = _EXECUTORS
"""The ``executor`` setting's values (in :mod:`hpc_agent.protocol`, so the CLI needs no config)."""
SCHEDULES = ("cron", "scrontab", "none")
ACCOUNT_QOS_POLICIES = ("force", "reject")
RISKY_SCRIPT_POLICIES = ("warn", "reject")
"""What admission does with a script line that will not work in a job (``~/``, ``conda activate``
without conda set up...): note it in the report and run the job, or refuse the UoW."""
RUN_POLICY_MEANINGS = {
    "both": "job scripts that users bring and calls of the published functions",
    "scripts": "only job scripts that users bring (scripts/)",
    "functions": "only calls of the published functions (job.toml)",
}
"""What each run policy (:data:`hpc_agent.protocol.RUN_POLICIES`) lets an instance run."""


LIMIT_SETTINGS = (
    "max_running_per_user",
    "max_active_per_user",
    "max_active",
    "max_uow_bytes_per_user",
)
"""The admission limits (issue 12): 0, the default and what a file without them means, is
no limit. They are applied by :mod:`hpc_agent.loop.fairness`."""


class ConfigError(AgentError):
    """A configuration is missing or invalid; the message says what to fix (exit code 2)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class InstanceConfig:
    """The resolved, validated settings of one agent instance.

    ``base_dir`` is absolute and free of symlinks (the path the Globus flow
    must use). Durations are in whole days, minutes or seconds as named; 0
    disables soft/hard deletion and the upload time-out.
    """

    name: str
    base_dir: Path
    account: str | None = None
    qos: str | None = None
    every_minutes: int = 5
    soft_delete_days: int = 30
    hard_delete_days: int = 30
    timestamp: bool = False
    executor: str = "slurm"
    schedule: str = "cron"
    max_uow_bytes: int = 2 * TIB
    upload_timeout_days: int = 7
    account_qos_policy: str = "force"
    risky_script_policy: str = "warn"
    log_retention_days: int = 7
    finalize_by_dependency: bool = False
    fast_handback: bool = True
    """Submit each job inside a small wrapper that hands the UoW back as soon as its script
    ends (:mod:`hpc_agent.loop.fast_handback`); preferred to ``finalize_by_dependency``."""
    unknown_job_grace_seconds: int = 600
    lease_timeout_seconds: int = 900
    slurm_timeout_seconds: int = 30
    submit_workers: int = 4
    """How many sbatch calls a tick runs at once (1: one after the other; see
    :class:`hpc_agent.loop.submit.Submitter`)."""
    notify_command: str | None = None
    notify_after_failures: int = 3
    stuck_report_seconds: int = 3600
    html_report: bool = False
    """Refresh ``Logs/report.html`` (``hpc-agent report --html``) from the tick, at most
    once an hour, so the PI can open it in the Globus web app's file browser."""
    run_policy: str = "both"
    """What the instance runs (:data:`hpc_agent.protocol.RUN_POLICIES`): ``both``, ``scripts``
    (UoWs with their own job script only) or ``functions`` (calls of ``Functions/`` only)."""
    max_running_per_user: int = 0
    """Admit a user's upload only while fewer of their jobs run (0: no limit; see
    :mod:`hpc_agent.loop.fairness` for what counts as running)."""
    max_active_per_user: int = 0
    """Admit a user's upload only while fewer of their UoWs are queued or running (0: no limit)."""
    max_active: int = 0
    """Admit an upload only while fewer UoWs of the whole instance are queued or running
    (0: no limit)."""
    max_uow_bytes_per_user: int = 0
    """Admit a user's upload only while their UoWs in ``CodeToRun/`` and it hold at most this
    many bytes (0: no limit); a bigger one is admitted when the user holds nothing there."""

    def __post_init__(self) -> None:
        problems = validate(self)
        if problems:
            raise ConfigError("; ".join(problems))

    def path(self, protocol_dir: str) -> Path:
        """The absolute path of one of the instance's directories (a ``protocol`` name)."""
        return self.base_dir / protocol_dir

    @property
    def config_path(self) -> Path:
        """Where this instance's configuration file lives."""
        return self.base_dir / CONFIG_FILE


_INT_LIMITS: dict[str, tuple[int, int]] = {
    "every_minutes": (1, 1440),
    "soft_delete_days": (0, 36500),
    "hard_delete_days": (0, 36500),
    "max_uow_bytes": (1, 2**62),
    "upload_timeout_days": (0, 36500),
    "log_retention_days": (0, 36500),
    "unknown_job_grace_seconds": (0, 86400 * 30),
    "lease_timeout_seconds": (10, 86400),
    "slurm_timeout_seconds": (1, 3600),
    "submit_workers": (1, 64),
    "notify_after_failures": (1, 1000),
    "stuck_report_seconds": (0, 86400 * 30),
    "max_running_per_user": (0, 1_000_000),
    "max_active_per_user": (0, 1_000_000),
    "max_active": (0, 1_000_000),
    "max_uow_bytes_per_user": (0, 2**62),
}
_BOOL_FIELDS = ("timestamp", "finalize_by_dependency", "fast_handback", "html_report")
_CHOICES: dict[str, tuple[str, ...]] = {
    "executor": EXECUTORS,
    "schedule": SCHEDULES,
    "account_qos_policy": ACCOUNT_QOS_POLICIES,
    "risky_script_policy": RISKY_SCRIPT_POLICIES,
    "run_policy": RUN_POLICIES,
}


def validate(cfg: InstanceConfig) -> list[str]:
    """Every problem with ``cfg``, each naming the field and what is allowed."""
    return _named_problems(cfg) + _typed_problems(cfg)


def _named_problems(cfg: InstanceConfig) -> list[str]:
    """Problems with the fields that name things: the instance, paths, commands, Slurm names."""
    problems: list[str] = []
    # The fields come straight from a user's TOML file (from_mapping), so until
    # they are checked here they may hold any type, whatever the annotations say.
    name: object = cfg.name
    notify_command: object = cfg.notify_command
    # The rule is the protocol's, so flowgen accepts every name setup accepts.
    if not isinstance(name, str):
        problems.append(f"name: expected a string, got {name!r}")
    elif name_problem := instance_name_problem(name):
        problems.append(f"name: {name!r} {name_problem}")
    if not isinstance(cfg.base_dir, Path) or not cfg.base_dir.is_absolute():
        problems.append(f"base_dir: {cfg.base_dir!r} must be an absolute path")
    if notify_command is not None and not isinstance(notify_command, str):
        problems.append(f"notify_command: expected a command line (text), got {notify_command!r}")
    for key in ("account", "qos"):
        value = getattr(cfg, key)
        if value is not None and (not isinstance(value, str) or not SLURM_NAME_RE.match(value)):
            problems.append(
                f"{key}: {value!r} is not a valid Slurm {key} name (letters, digits, "
                "'.', '_' or '-'; no spaces)"
            )
    return problems


def _typed_problems(cfg: InstanceConfig) -> list[str]:
    """Problems with the numbers, switches and choices."""
    problems: list[str] = []
    for key, (low, high) in _INT_LIMITS.items():
        value = getattr(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{key}: expected a whole number, got {value!r}")
        elif not low <= value <= high:
            problems.append(f"{key}: {value} is out of range ({low}..{high})")
    for key in _BOOL_FIELDS:
        if not isinstance(getattr(cfg, key), bool):
            problems.append(f"{key}: expected true or false, got {getattr(cfg, key)!r}")
    for key, choices in _CHOICES.items():
        if getattr(cfg, key) not in choices:
            problems.append(f"{key}: {getattr(cfg, key)!r} is not one of {', '.join(choices)}")
    return problems


def human_bytes(count: int) -> str:
    """``512 B``, ``1.5 GiB``, ``2 TiB``: a byte count for people.

    >>> human_bytes(3 * 1024**3 // 2)
    '1.5 GiB'
    """
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def limits_summary(cfg: InstanceConfig) -> str:
    """The admission limits in one line, for ``setup`` and ``doctor``.

    >>> limits_summary(InstanceConfig(name="p", base_dir=Path("/b"), max_active_per_user=4))
    'max_active_per_user = 4; unlimited: max_running_per_user, max_active, max_uow_bytes_per_user'
    """
    shown: list[str] = []
    unlimited: list[str] = []
    for key in LIMIT_SETTINGS:
        value = getattr(cfg, key)
        if not value:
            unlimited.append(key)
        elif key == "max_uow_bytes_per_user":
            shown.append(f"{key} = {value} ({human_bytes(value)})")
        else:
            shown.append(f"{key} = {value}")
    if not shown:
        return "none: every ready upload is admitted at once (" + ", ".join(unlimited) + " = 0)"
    return "; ".join(shown) + ("; unlimited: " + ", ".join(unlimited) if unlimited else "")


def from_mapping(data: dict[str, Any], *, base_dir: Path, source: str) -> InstanceConfig:
    """Build a config from parsed TOML; errors name ``source`` and the field."""
    known = {f.name for f in fields(InstanceConfig)} - {"base_dir"}
    unknown = sorted(set(data) - known - {"base_dir"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown setting(s) {', '.join(unknown)}; "
            f"known settings are {', '.join(sorted(known))}"
        )
    if "name" not in data:
        raise ConfigError(f"{source}: the setting 'name' is missing")
    values = {key: data[key] for key in known if key in data}
    try:
        return InstanceConfig(base_dir=base_dir, **values)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def to_toml(cfg: InstanceConfig) -> str:
    """The TOML text of ``cfg`` (the base directory is implied by where the file is)."""
    lines = [
        "# FlowCron agent instance settings, written by `hpc-agent setup`.",
        "# Re-run setup to change them, or edit this file and run `hpc-agent doctor`.",
    ]
    for key, value in asdict(cfg).items():
        if key == "base_dir" or value is None:
            continue
        lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def toml_value(value: object) -> str:
    """One TOML value: strings, booleans, integers, floats and paths (the types we write)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write non-finite number {value!r} as TOML")
        return repr(value)
    if isinstance(value, (str, Path)):
        return toml_string(str(value))
    raise TypeError(f"cannot write {type(value).__name__} as a TOML value")


def toml_string(text: str) -> str:
    """A TOML basic string, escaping what TOML requires."""
    out = ['"']
    for char in text:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def registry_dir() -> Path:
    """``$XDG_CONFIG_HOME/flowcron`` (default ``$HOME/.config/flowcron``)."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "flowcron"
    return Path(os.environ.get("HOME") or Path.home()) / ".config" / "flowcron"


def registry_path(name: str) -> Path:
    """The registry entry for instance ``name``."""
    return registry_dir() / f"{name}{REGISTRY_SUFFIX}"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error names the file and where."""
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
            return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def load_base(base_dir: Path) -> InstanceConfig:
    """Load the instance whose base directory is ``base_dir``."""
    base = base_dir.expanduser().resolve()
    path = base / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"{base} is not a FlowCron instance (no {CONFIG_FILE}); "
            "run `hpc-agent setup --base-dir DIR` there first"
        )
    return from_mapping(read_toml(path), base_dir=base, source=str(path))


def registered_base(name: str) -> Path | None:
    """The base directory the registry records for ``name``, or None when not registered."""
    entry = registry_path(name)
    if not entry.is_file():
        return None
    data = read_toml(entry)
    base = data.get("base_dir")
    if not isinstance(base, str) or not Path(base).is_absolute():
        raise ConfigError(f"{entry}: 'base_dir' must be an absolute path string")
    return Path(base)


def registered_names() -> list[str]:
    """Names of every registered instance, sorted."""
    directory = registry_dir()
    if not directory.is_dir():
        return []
    return sorted(
        p.name[: -len(REGISTRY_SUFFIX)]
        for p in directory.iterdir()
        if p.name.endswith(REGISTRY_SUFFIX)
        and instance_name_problem(p.name[: -len(REGISTRY_SUFFIX)]) is None
    )


def load_instance(ref: str | Path) -> InstanceConfig:
    """Load an instance from its base directory or its registered name.

    A ``Path``, or a string that contains a ``/`` or names an existing
    directory, is a base directory; anything else is looked up in the registry.
    """
    text = str(ref)
    if isinstance(ref, Path) or "/" in text or text in (".", "..") or Path(text).is_dir():
        return load_base(Path(text))
    if name_problem := instance_name_problem(text):
        raise ConfigError(
            f"{text!r} is neither a directory nor a valid instance name (it {name_problem})"
        )
    base = registered_base(text)
    if base is None:
        known = registered_names()
        hint = f" Registered instances: {', '.join(known)}." if known else ""
        raise ConfigError(
            f"no instance named {text!r} in {registry_dir()} and no directory of that name."
            f"{hint} Pass the instance's base directory, or run `hpc-agent setup`."
        )
    cfg = load_base(base)
    if cfg.name != text:
        raise ConfigError(
            f"{registry_path(text)} points at {base}, but the instance there is named "
            f"{cfg.name!r}; re-run `hpc-agent setup --base-dir {base}` to repair the registry"
        )
    return cfg


def save_instance(cfg: InstanceConfig) -> Path:
    """Write ``cfg`` to its base directory atomically; returns the file's path."""
    path = cfg.config_path
    write_text_atomic(path, to_toml(cfg))
    return path


def write_registry_entry(cfg: InstanceConfig) -> Path:
    """Record ``cfg.name -> cfg.base_dir`` in the registry; returns the entry's path."""
    entry = registry_path(cfg.name)
    entry.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "# FlowCron instance registry entry, written by `hpc-agent setup`.\n"
        f"name = {toml_string(cfg.name)}\n"
        f"base_dir = {toml_string(str(cfg.base_dir))}\n"
    )
    write_text_atomic(entry, text)
    return entry
