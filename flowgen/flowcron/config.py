"""The instance config a FlowCron flow is built from (``flows/<name>.toml``).

Example::

    name = "cryoem"                      # instance name, as given to hpc-agent setup
    hpc_name = "Baskerville"             # shown to users in labels and messages
    collection = "9f1c...-uuid"          # the HPC's Globus collection
    base_path = "/bask/projects/x/flowcron"   # absolute, no trailing slash

    [polling]          # optional; these are the defaults
    initial_wait = 30  # seconds before the first check
    growth = 1.15      # each wait is the previous one times this
    max_wait = 1800    # never wait longer than this between checks (>= initial_wait)
    deadline = 604800  # give up after waiting this long in all (7 days; >= max_wait)

    [transfer]
    wait_time = 172800 # how long one transfer may take (48 hours)

    [deploy]           # optional; what 'flowgen deploy' sets on the flow
    subtitle = "Run analyses on Baskerville"
    description = "Drop a folder with data/ and scripts/, start the flow."
    keywords = ["hpc", "slurm"]
    subscription_id = "DEFAULT"          # a subscription UUID or DEFAULT
    starters = ["group:0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"]
    administrators = []                   # also viewers, run_managers, run_monitors
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from flowgen.core.errors import ConfigError, FlowgenError
from flowgen.core.tomlio import read_toml
from flowgen.dsl.polling import PollPolicy
from hpc_agent import protocol
from hpc_agent.config import toml_value

MAX_DISPLAY = 40
DEFAULT_TRANSFER_WAIT = 48 * 3600


DEPLOY_ROLE_FIELDS = ("starters", "administrators", "viewers", "run_managers", "run_monitors")
"""The role lists of the ``[deploy]`` table, in the order they are written."""


@dataclass(frozen=True)
class DeploySettings:
    """The optional ``[deploy]`` table: flow metadata and roles ``flowgen deploy`` sets.

    Role entries are kept as written (``group:<uuid>``, URNs, ...);
    ``flowgen.deploy.roles`` checks and normalises them before any call.
    """

    subtitle: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()
    subscription_id: str = ""
    starters: tuple[str, ...] = ()
    administrators: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()
    run_managers: tuple[str, ...] = ()
    run_monitors: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlowConfig:
    """A FlowCron instance as the flow sees it. Build one with :func:`load_config`.

    Not to be confused with :class:`hpc_agent.config.InstanceConfig`, the
    agent's settings on the HPC side.
    """

    name: str
    hpc_name: str
    collection: str
    base_path: str
    polling: PollPolicy = field(default_factory=PollPolicy)
    transfer_wait_time: int = DEFAULT_TRANSFER_WAIT
    title: str = ""
    deploy: DeploySettings = field(default_factory=DeploySettings)

    @property
    def flow_title(self) -> str:
        """The flow's title in the Globus web app."""
        return self.title or f"FlowCron-{self.name}"

    @property
    def file_stem(self) -> str:
        """Stem of the built files: ``FlowCron-<name>`` (the original's names)."""
        return f"FlowCron-{self.name}"


def load_config(path: Path) -> FlowConfig:
    """Read and check an instance config; errors name the file and the field."""
    raw = read_toml(path, missing="no such config file (create one with 'flowgen init')")
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: dict[str, Any], *, source: str = "<config>") -> FlowConfig:
    """Check a parsed config; ``source`` names it in messages."""

    def fail(field_name: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: field '{field_name}': {problem}")

    known = {
        "name",
        "hpc_name",
        "collection",
        "base_path",
        "polling",
        "transfer",
        "title",
        "deploy",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise fail(unknown[0], f"unknown field (known fields: {', '.join(sorted(known))})")

    def text(field_name: str, required: bool = True) -> str:
        value = raw.get(field_name)
        if value is None:
            if required:
                raise fail(field_name, "missing")
            return ""
        if not isinstance(value, str):
            raise fail(field_name, f"must be a string, got {value!r}")
        return value

    def checked(field_name: str, check: Callable[[str], str | None]) -> str:
        value = text(field_name)
        if problem := check(value):
            raise fail(field_name, problem)
        return value

    name = checked("name", check_name)
    hpc_name = checked("hpc_name", check_display)
    collection = checked("collection", check_uuid)
    base_path = checked("base_path", check_base_path)
    title = text("title", required=False)
    if title and (len(title) > 128 or "\n" in title):
        raise fail("title", "must be one line of at most 128 characters")

    polling_raw = _table(raw, "polling", fail)
    transfer_raw = _table(raw, "transfer", fail)
    defaults = PollPolicy()
    poll_values: dict[str, Any] = {}
    for key in ("initial_wait", "max_wait", "deadline"):
        poll_values[key] = _positive_int(
            polling_raw.get(key, getattr(defaults, key)), f"polling.{key}", fail
        )
    growth = polling_raw.get("growth", defaults.growth)
    if isinstance(growth, bool) or not isinstance(growth, int | float):
        raise fail("polling.growth", f"must be a number, got {growth!r}")
    unknown_poll = sorted(set(polling_raw) - {"initial_wait", "max_wait", "deadline", "growth"})
    if unknown_poll:
        raise fail(f"polling.{unknown_poll[0]}", "unknown field")
    try:
        policy = PollPolicy(growth=float(growth), **poll_values)
    except FlowgenError as exc:
        raise fail("polling", exc.message) from None
    # The same order 'flowgen init' checks at its questions, so a file passes
    # exactly when init would have written it.
    if problem := check_not_shorter(policy.deadline, policy.max_wait, "polling.max_wait"):
        raise fail("polling.deadline", problem)
    unknown_transfer = sorted(set(transfer_raw) - {"wait_time"})
    if unknown_transfer:
        raise fail(f"transfer.{unknown_transfer[0]}", "unknown field")
    wait_time = _positive_int(
        transfer_raw.get("wait_time", DEFAULT_TRANSFER_WAIT), "transfer.wait_time", fail
    )
    return FlowConfig(
        name=name,
        hpc_name=hpc_name,
        collection=collection.lower(),
        base_path=base_path,
        polling=policy,
        transfer_wait_time=wait_time,
        title=title,
        deploy=_deploy_settings(_table(raw, "deploy", fail), fail),
    )


def _deploy_settings(raw: dict[str, Any], fail: Any) -> DeploySettings:
    known = {"subtitle", "description", "keywords", "subscription_id", *DEPLOY_ROLE_FIELDS}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise fail(
            f"deploy.{unknown[0]}", f"unknown field (known fields: {', '.join(sorted(known))})"
        )
    texts: dict[str, str] = {}
    for key, limit in (("subtitle", 128), ("description", 4096)):
        value = raw.get(key, "")
        if not isinstance(value, str) or len(value) > limit:
            raise fail(f"deploy.{key}", f"must be a string of at most {limit} characters")
        texts[key] = value
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("keywords", *DEPLOY_ROLE_FIELDS):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(f"deploy.{key}", f"must be a list of strings, got {value!r}")
        lists[key] = tuple(value)
    subscription = raw.get("subscription_id", "")
    if not isinstance(subscription, str) or (
        subscription not in ("", "DEFAULT") and check_uuid(subscription.lower()) is not None
    ):
        raise fail(
            "deploy.subscription_id",
            f"must be a subscription UUID or DEFAULT, got {subscription!r}",
        )
    return DeploySettings(
        subtitle=texts["subtitle"],
        description=texts["description"],
        subscription_id=subscription if subscription == "DEFAULT" else subscription.lower(),
        **lists,
    )


def check_name(value: str) -> str | None:
    """Why ``value`` is not a usable instance name, or None.

    The rule is the protocol's (:func:`hpc_agent.protocol.instance_name_problem`),
    so every name ``hpc-agent setup`` accepts is accepted here too.
    """
    problem = protocol.instance_name_problem(value)
    return None if problem is None else f"{value!r} {problem}"


def check_display(value: str) -> str | None:
    """Why ``value`` is not a usable display name, or None."""
    if not value.strip() or value != value.strip():
        return "must not be empty or start/end with spaces"
    if len(value) > MAX_DISPLAY or any(ord(c) < 32 for c in value):
        return f"must be one line of at most {MAX_DISPLAY} characters"
    return None


def check_uuid(value: str) -> str | None:
    """Why ``value`` is not a collection UUID, or None."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return (
            f"must be a collection UUID such as 0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11, got {value!r}"
        )
    if str(parsed) != value.lower():
        return f"write the UUID in its usual 8-4-4-4-12 form, got {value!r}"
    return None


def check_base_path(value: str) -> str | None:
    """Why ``value`` is not a usable FlowCron base path on the HPC, or None."""
    if not value.startswith("/"):
        return f"must be an absolute path (run 'pwd -P' in the instance directory), got {value!r}"
    if value != "/" and value.endswith("/"):
        return f"must not end with '/', got {value!r}"
    if value == "/":
        return "must be the instance directory, not '/'"
    parts = PurePosixPath(value).parts
    if ".." in parts or "." in parts or "//" in value:
        return f"must be a plain absolute path without '.', '..' or '//', got {value!r}"
    if any(ord(c) < 32 for c in value) or "'" in value or "\\" in value:
        return "must not contain control characters, quotes or backslashes"
    return None


def strip_trailing_slashes(value: str) -> str:
    """``value`` without trailing ``/`` (``/bask/x/`` -> ``/bask/x``); ``/`` stays ``/``.

    Paths are often pasted with a trailing slash; the flow adds its own.
    """
    return value.rstrip("/") or value[:1]


def check_not_shorter(value: int, floor: int, floor_name: str) -> str | None:
    """Why ``value`` seconds is shorter than ``floor_name`` (``floor`` seconds), or None."""
    if value < floor:
        return f"must be at least {floor_name} ({floor} seconds), got {value}"
    return None


def _table(raw: dict[str, Any], key: str, fail: Any) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise fail(key, "must be a table ([" + key + "])")
    return value


def _positive_int(value: Any, field_name: str, fail: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fail(field_name, f"must be a whole number of seconds >= 1, got {value!r}")
    return value


def render_config(cfg: FlowConfig) -> str:
    """The config as TOML text (what ``flowgen init`` writes).

    Values are written by the agent's TOML writer
    (:func:`hpc_agent.config.toml_value`), so any string, a multi-line
    description included, reads back unchanged.
    """
    p = cfg.polling
    q = toml_value
    lines = [
        "# FlowCron instance config: build the flow with 'flowgen build' on this file.",
        f"name = {q(cfg.name)}",
        f"hpc_name = {q(cfg.hpc_name)}",
        f"collection = {q(cfg.collection)}",
        f"base_path = {q(cfg.base_path)}",
    ]
    if cfg.title:
        lines.append(f"title = {q(cfg.title)}")
    lines += [
        "",
        "[polling]",
        f"initial_wait = {q(p.initial_wait)}",
        f"growth = {q(p.growth)}",
        f"max_wait = {q(p.max_wait)}",
        f"deadline = {q(p.deadline)}",
        "",
        "[transfer]",
        f"wait_time = {q(cfg.transfer_wait_time)}",
        "",
    ]
    lines += _render_deploy(cfg.deploy)
    return "\n".join(lines)


def _render_deploy(d: DeploySettings) -> list[str]:
    # Written only when set, so configs without deploy settings stay as they were.
    if d == DeploySettings():
        return []
    lines = ["[deploy]"]
    for key in ("subtitle", "description", "subscription_id"):
        if value := getattr(d, key):
            lines.append(f"{key} = {toml_value(value)}")
    for key in ("keywords", *DEPLOY_ROLE_FIELDS):
        if values := getattr(d, key):
            lines.append(f"{key} = [{', '.join(toml_value(v) for v in values)}]")
    return [*lines, ""]


AGENT_INSTANCE_KEYS = ("name", "base_path")


def read_agent_instance_file(path: Path) -> dict[str, str]:
    """Read the small file ``hpc-agent setup`` writes (``name`` and ``base_path``)."""
    raw = read_toml(path)
    found: dict[str, str] = {}
    for key in AGENT_INSTANCE_KEYS:
        value = raw.get(key)
        if value is None:
            raise ConfigError(
                f"{path}: field '{key}': missing (is this the file hpc-agent setup wrote?)"
            )
        if not isinstance(value, str):
            raise ConfigError(f"{path}: field '{key}': must be a string")
        found[key] = value
    return found
