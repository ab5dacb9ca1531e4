"""``flowgen uow new``: a fresh Unit of Work folder, ready to fill in.

Two kinds, as the agent admits them (:mod:`hpc_agent.protocol`):

- a call of a published function: ``data/`` and ``job.toml`` with
  ``function = "NAME"`` and a ``[params]`` table holding every parameter,
  each under a comment with its help and its rules (``Param.describe()``).
  A parameter with a default is written with it; a required one is written
  commented out with an example value, so the file parses and ``flowgen uow
  check`` reports the value as missing until it is given;
- a folder with its own job script: ``data/`` and
  ``scripts/submission_script.sh``, a commented template (``#SBATCH``
  examples, paths relative to the UoW).

An existing folder that is not empty is never written into.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from flowgen.core.errors import UsageError
from hpc_agent import protocol
from hpc_agent.config import toml_value
from hpc_agent.fs.atomicio import write_text_atomic
from hpc_agent.functions.params import Param, Value, suggest
from hpc_agent.functions.spec import Function, Library

_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")

SCRIPT_TEMPLATE: Final = """\
#!/bin/bash
# The job script of this Unit of Work. FlowCron submits it with sbatch on the
# HPC, and the job starts in the Unit of Work's folder: use paths relative to
# it (data/input.csv), never paths on your own machine (/Users/..., C:\\...)
# or your home directory: the job runs under the account that set FlowCron up.
#
# Resources: one #SBATCH line each, before the first command. To use an
# example, remove its leading "# ".
#SBATCH --time=01:00:00
#SBATCH --cpus-per-task=1
#SBATCH --mem=4G
# #SBATCH --gpus=1
# #SBATCH --partition=gpu
#
# FlowCron sets the job's output files itself (slurm-<job id>.out and .err in
# the Unit of Work) and may set the Slurm account and QoS of its instance.

set -euo pipefail

# Load the software the analysis needs (your HPC's documentation names the modules):
# module load python/3.11

mkdir -p data/results
echo "started on $(hostname) at $(date)" > data/results/started.txt

# Your analysis: read from data/, write the results into data/ (they come back).
# python3 data/analyse.py data/input.csv > data/results/output.csv
"""


@dataclass(frozen=True)
class NewUow:
    """What ``flowgen uow new`` wrote."""

    path: Path
    function: Function | None
    files: tuple[str, ...]
    """Relative to ``path``, in the order written (folders end with ``/``)."""

    @property
    def required(self) -> list[str]:
        """The parameters the researcher must give (they have no default)."""
        if self.function is None:
            return []
        return [p.name for p in self.function.params if p.default is None]

    def to_json(self) -> dict[str, Any]:
        """What the command prints with ``--format json``."""
        return {
            "uow": str(self.path),
            "kind": "script" if self.function is None else "function",
            "function": None
            if self.function is None
            else {"name": self.function.name, "version": self.function.version},
            "files": list(self.files),
            "required": self.required,
        }


def create_uow(directory: Path, *, function: str | None, library: Library | None) -> NewUow:
    """Write a new UoW into ``directory`` (created; it may exist only when empty).

    Whole or not at all: each file is written through a temporary file and a
    rename, and when anything fails (a full disk, Ctrl-C) what this call made
    is removed again, so the folder is as it was (absent, or empty) and the
    same command can simply be run again.
    """
    chosen = None if function is None else find_function(function, library)
    _refuse_existing(directory)
    made: list[Path] = []
    try:
        if not directory.is_dir():
            directory.mkdir(parents=True)
            made.append(directory)
        _mkdir(directory / protocol.DATA_DIR, made)
        files = [f"{protocol.DATA_DIR}/"]
        if chosen is not None:
            _write(directory / protocol.JOB_FILE, job_toml(chosen), made)
            files.append(protocol.JOB_FILE)
        else:
            scripts = directory / protocol.SCRIPTS_DIR
            _mkdir(scripts, made)
            # Executable from the start: a script is never seen without its x bits.
            _write(scripts / protocol.SUBMISSION_SCRIPT, SCRIPT_TEMPLATE, made, mode=0o755)
            files += [
                f"{protocol.SCRIPTS_DIR}/",
                f"{protocol.SCRIPTS_DIR}/{protocol.SUBMISSION_SCRIPT}",
            ]
    except BaseException:
        _undo(made)
        raise
    return NewUow(directory, chosen, tuple(files))


def _mkdir(path: Path, made: list[Path]) -> None:
    path.mkdir()
    made.append(path)


def _write(path: Path, text: str, made: list[Path], *, mode: int | None = None) -> None:
    write_text_atomic(path, text, mode=mode)
    made.append(path)


def _undo(made: list[Path]) -> None:
    """Remove what :func:`create_uow` made, newest first; never anything else.

    Folders go with ``rmdir``, which removes only an empty one: a file
    someone else put there meanwhile stays, with its folder.
    """
    for path in reversed(made):
        try:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
        except OSError:
            pass


def find_function(name: str, library: Library | None) -> Function:
    """The catalogue's function ``name``, or an error listing the catalogue's functions."""
    if library is None:
        raise UsageError(
            f"--function {name} needs the instance's functions catalogue: add --catalog FILE "
            "(the output of `hpc-agent function catalog`, e.g. flows/<instance>.functions.json)"
        )
    found = library.functions.get(name)
    if found is not None:
        return found
    if name in library.broken:
        raise UsageError(
            f"the function {name!r} is broken on the instance (the catalogue lists it as "
            "broken), so a call of it cannot run; ask the instance's owner to fix it"
        )
    known = sorted(library.functions)
    listing = ", ".join(known) if known else "none"
    raise UsageError(
        f"the catalogue has no function {name!r}{suggest(name, known)}; its functions are: "
        f"{listing}"
    )


def _refuse_existing(directory: Path) -> None:
    if not os.path.lexists(directory):
        return
    if directory.is_symlink() or not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder; choose another name")
    if any(directory.iterdir()):
        raise UsageError(
            f"{directory} exists and is not empty; flowgen uow new never writes into a folder "
            "that holds files: choose a new folder name"
        )


# -- job.toml ----------------------------------------------------------------------


def job_toml(function: Function) -> str:
    """The ``job.toml`` text of a call of ``function``: every parameter, with its rules."""
    lines = [
        f"# A call of the FlowCron function {function.name} {function.version}: "
        f"{_one_line(function.description)}",
    ]
    lines += _comment(function.help)
    lines += [
        "#",
        f"# Put the input files into {protocol.DATA_DIR}/ (paths below are relative to it), "
        "fill in the",
        "# values, and check the folder before you start the flow:",
        "#   flowgen uow check FOLDER --catalog CATALOGUE",
        f"function = {toml_value(function.name)}",
        "",
        "[params]",
    ]
    if not function.params:
        lines.append("# This function takes no parameters.")
    for index, param in enumerate(function.params):
        if index:
            lines.append("")
        lines += _param_lines(param)
    return "\n".join(lines) + "\n"


def _param_lines(param: Param) -> list[str]:
    lines = _comment(param.help)
    if param.default is None:
        lines.append(f"# {param.type}, required: {param.describe()}.")
        lines.append(
            f"# {_key(param.name)} = {toml_value(example_value(param))}"
            "  # remove the '#' at the start and give your value"
        )
    else:
        lines.append(f"# {param.type}: {param.describe()} (default {toml_value(param.default)}).")
        lines.append(f"{_key(param.name)} = {toml_value(param.default)}")
    return lines


def example_value(param: Param) -> Value:
    """A value of the right form for a required parameter's placeholder (not necessarily valid)."""
    if param.type == "enum" and param.choices:
        return param.choices[0]
    if param.type == "bool":
        return False
    if param.type in ("int", "float"):
        number = param.minimum if param.minimum is not None else 0
        return int(number) if param.type == "int" else float(number)
    if param.type == "duration":
        return "1:00:00"
    if param.type == "path":
        suffix = _suffix(param.match)
        if param.glob:
            return param.match or "*"
        return f"{param.name}{suffix}"
    return "..."


def _suffix(match: str | None) -> str:
    if not match:
        return ""
    suffix = PurePosixPath(match).suffix
    return suffix if suffix and not any(c in suffix for c in "*?[") else ""


def _key(name: str) -> str:
    """A parameter name as a TOML key (the agent's names are always bare keys)."""
    return name if _BARE_KEY.match(name) else toml_value(name)


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def _comment(text: str) -> list[str]:
    """``text`` as TOML comment lines (control characters, which a comment cannot hold, blanked)."""
    if not text.strip():
        return []
    return [f"# {_one_line(line)}".rstrip() for line in text.strip().splitlines()]
