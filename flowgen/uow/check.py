"""``flowgen uow check``: the agent's admission of a Unit of Work, run before the upload.

The verdict is :func:`hpc_agent.uow.admission.admit`'s, imported and never
copied, called with ``upload_complete=True``: the folder on the
researcher's machine has no ``sentinels/`` (the flow makes it after the
upload), so nothing about the upload's state is reported. A call of a
function is checked against the instance's catalogue, which carries each
function's parameters as declared, so the agent's own parameter checks run.

The instance's settings change the verdict (``account_qos_policy``,
``risky_script_policy``, ``max_uow_bytes``, ``run_policy``...). They come
from the agent's ``flowcron.toml`` when one is given; the smaller
``flowcron-instance.toml`` that ``hpc-agent setup`` writes gives the name
and base path (and any agent setting it holds); without either, an
instance with the agent's defaults is assumed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any, Final

from flowgen.core.errors import ConfigError, UsageError
from flowgen.core.tomlio import read_toml
from flowgen.uow.catalog import NO_LIBRARY
from hpc_agent import config as agent_config
from hpc_agent import protocol
from hpc_agent.functions.call import read_job_file
from hpc_agent.functions.spec import Library
from hpc_agent.uow.admission import admit

LOCAL_INSTANCE_NAME: Final = "local-check"
"""The instance's name when no instance config is given (it shows in no verdict)."""
INSTANCE_FILE_KEY: Final = "base_path"
"""The key that tells ``flowcron-instance.toml`` (setup's file for the PI) from ``flowcron.toml``."""


@dataclass(frozen=True)
class CheckResult:
    """The agent's verdict on one folder, as ``flowgen uow check`` shows it."""

    uow: Path
    admitted: bool
    kind: str
    """``function`` for a folder with ``job.toml`` (a call of a published function), else ``script``."""
    function: str | None
    """The function ``job.toml`` names, if it names one."""
    script: str | None
    """The job script the agent would submit, relative to the UoW (scripts only)."""
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    instance: str
    run_policy: str
    hints: tuple[str, ...] = ()
    """What flowgen adds about the check itself (never a problem of the folder)."""

    def to_json(self) -> dict[str, Any]:
        """The ``--format json`` document."""
        return {
            "uow": str(self.uow),
            "admitted": self.admitted,
            "kind": self.kind,
            "function": self.function,
            "script": self.script,
            "problems": list(self.problems),
            "notes": list(self.notes),
            "instance": {"name": self.instance, "run_policy": self.run_policy},
            "hints": list(self.hints),
        }


def check_uow(
    uow: Path, cfg: agent_config.InstanceConfig, *, library: Library | None
) -> CheckResult:
    """Run the agent's admission on ``uow`` as if its upload were complete."""
    if not os.path.lexists(uow):
        raise UsageError(f"{uow}: no such folder")
    kind, function = called_function(uow)
    if function and library is None:
        raise UsageError(
            f"{uow} calls the function {function!r} ({protocol.JOB_FILE}): give the instance's "
            "functions catalogue with --catalog FILE (the output of `hpc-agent function "
            "catalog`, e.g. flows/<instance>.functions.json) so its parameters can be checked"
        )
    verdict = admit(
        uow, cfg, library=NO_LIBRARY if library is None else library, upload_complete=True
    )
    script = None
    if verdict.script is not None:
        try:
            script = verdict.script.relative_to(uow).as_posix()
        except ValueError:
            script = str(verdict.script)
    hints: tuple[str, ...] = ()
    if library is None and cfg.run_policy == "functions":
        hints = (
            "No --catalog was given, so the instance's functions are not known here; give "
            "--catalog to see the functions a job.toml can call.",
        )
    return CheckResult(
        uow=uow,
        admitted=verdict.ok,
        kind=kind,
        function=function,
        script=script,
        problems=tuple(verdict.problems),
        notes=tuple(verdict.notes),
        instance=cfg.name,
        run_policy=cfg.run_policy,
        hints=hints,
    )


def called_function(uow: Path) -> tuple[str, str | None]:
    """(``function`` or ``script``, the function ``job.toml`` names, if it can be read)."""
    if not os.path.lexists(uow / protocol.JOB_FILE):
        return "script", None
    name, _, _ = read_job_file(uow)
    return "function", name


# -- the instance's settings ----------------------------------------------------------


@contextmanager
def instance_config(path: Path | None) -> Iterator[agent_config.InstanceConfig]:
    """The agent's settings for the check, from ``path`` or the agent's defaults.

    ``path`` is the agent's ``flowcron.toml`` (its base directory is the
    folder it is in, as on the HPC) or setup's ``flowcron-instance.toml``
    (``name`` and ``base_path``; its other keys that are agent settings are
    used too). A temporary, empty base directory stands in when there is no
    file, or when the base path is not an absolute path on this machine.
    """
    with tempfile.TemporaryDirectory(prefix="flowcron-check-") as scratch:
        stand_in = Path(scratch).resolve()
        if path is None:
            yield agent_config.InstanceConfig(name=LOCAL_INSTANCE_NAME, base_dir=stand_in)
            return
        data = read_toml(path)
        if INSTANCE_FILE_KEY in data:
            yield _from_instance_file(data, path, stand_in)
        else:
            yield _from_agent_file(data, path)


def _from_agent_file(data: dict[str, Any], path: Path) -> agent_config.InstanceConfig:
    base = path.resolve().parent
    try:
        return agent_config.from_mapping(data, base_dir=base, source=str(path))
    except agent_config.ConfigError as exc:
        raise ConfigError(str(exc)) from None


def _from_instance_file(
    data: dict[str, Any], path: Path, stand_in: Path
) -> agent_config.InstanceConfig:
    base_path = data.get(INSTANCE_FILE_KEY)
    if not isinstance(base_path, str) or not PurePosixPath(base_path).is_absolute():
        raise ConfigError(
            f"{path}: field '{INSTANCE_FILE_KEY}': must be the instance's absolute base path "
            "(is this the file hpc-agent setup wrote?)"
        )
    base = Path(base_path) if Path(base_path).is_absolute() else stand_in
    settings = {f.name for f in fields(agent_config.InstanceConfig)} - {"base_dir"}
    values = {key: value for key, value in data.items() if key in settings}
    try:
        return agent_config.from_mapping(values, base_dir=base, source=str(path))
    except agent_config.ConfigError as exc:
        raise ConfigError(str(exc)) from None
