"""A function's typed parameters: their declaration and the checking of a user's values.

A parameter is declared in ``function.toml`` as ``[params.NAME]`` with a
``type`` and its rules; a researcher's ``job.toml`` gives values. Checking
returns every problem at once, each saying what to write instead, and the
values in the form the renderer quotes into the job script.

Types (what a user writes in ``job.toml``):

- ``string``: text of one line, no control characters; ``pattern`` (a
  regular expression the whole value must match) and ``max_length``
  (default 256).
- ``int`` and ``float``: ``min`` and ``max``; a float is finite.
- ``bool``: ``true`` or ``false``.
- ``enum``: one of ``choices``.
- ``duration``: a Slurm time (``30``, ``1:30:00``, ``2-00``); ``min`` and
  ``max`` in the same form. Rendered as ``H:MM:SS`` (or ``D-HH:MM:SS``).
- ``path``: a path relative to the UoW's ``data/`` folder that must exist
  when the UoW is admitted and stay inside ``data/`` (symlinks included);
  ``match`` is a glob its file name must match (``*.star``). With
  ``glob = true`` the value is itself a glob that must match at least one
  path. Rendered relative to the UoW (``data/...``), where the job runs.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.executors.sbatch import parse_time_limit

TYPES: Final = ("string", "int", "float", "bool", "enum", "duration", "path")
NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
"""Parameter and site-setting names: they become shell variables of the job script."""
NAME_RULE: Final = "1 to 40 lower-case letters, digits or '_', starting with a letter"
RESERVED_NAMES: Final = frozenset({"flowcron", "data", "slurm"})
"""Names kept for FlowCron's own variables."""
DEFAULT_MAX_LENGTH: Final = 256
MAX_VALUE_BYTES: Final = 4096
"""No string, path or enum value is longer, whatever ``max_length`` says."""

Value = str | int | float | bool


@dataclass(frozen=True)
class Param:
    """One declared parameter (see the module docstring for each type's rules)."""

    name: str
    type: str
    help: str = ""
    required: bool = True
    default: Value | None = None
    """As written in ``function.toml``; checked like a given value when used."""
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    max_length: int = DEFAULT_MAX_LENGTH
    choices: tuple[str, ...] = ()
    match: str | None = None
    glob: bool = False

    def describe(self) -> str:
        """What a value must be, in a few words (for messages and ``job.toml`` comments)."""
        if self.type == "enum":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.type == "path":
            what = "a glob pattern" if self.glob else "a path"
            extra = f" whose file name matches {self.match!r}" if self.match else ""
            return f"{what} inside data/{extra}"
        if self.type in ("int", "float", "duration"):
            kind = {"int": "a whole number", "float": "a number", "duration": "a Slurm time"}
            low = _shown_bound(self, self.minimum)
            high = _shown_bound(self, self.maximum)
            bounds = (
                f" from {low} to {high}"
                if low and high
                else f" of at least {low}"
                if low
                else f" of at most {high}"
                if high
                else ""
            )
            return kind[self.type] + bounds
        if self.type == "bool":
            return "true or false"
        rule = f" matching {self.pattern!r}" if self.pattern else ""
        return f"one line of text of at most {self.max_length} characters{rule}"

    def to_json(self) -> dict[str, Any]:
        """The declaration as JSON (the catalogue carries it so ``flowgen uow check`` can check)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "help": self.help}
        out["required"] = self.required
        if self.default is not None:
            out["default"] = self.default
        for key, value in (
            ("min", self.minimum),
            ("max", self.maximum),
            ("pattern", self.pattern),
            ("match", self.match),
        ):
            if value is not None:
                out[key] = value
        if self.type in ("string",):
            out["max_length"] = self.max_length
        if self.choices:
            out["choices"] = list(self.choices)
        if self.glob:
            out["glob"] = True
        return out


def _shown_bound(param: Param, bound: float | None) -> str:
    if bound is None:
        return ""
    if param.type == "duration":
        return format_duration(int(bound))
    if param.type == "int":
        return str(int(bound))
    return repr(bound)


def format_duration(seconds: int) -> str:
    """``seconds`` as Slurm writes a time limit: ``H:MM:SS``, or ``D-HH:MM:SS`` from a day on.

    >>> format_duration(5400)
    '1:30:00'
    >>> format_duration(90061)
    '1-01:01:01'
    """
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours}:{minutes:02d}:{secs:02d}"


def suggest(name: str, known: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` when a known name is close to ``name``, else ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- checking a user's values ----------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """The outcome of checking a ``[params]`` table against a function's parameters."""

    values: dict[str, Value]
    """Every parameter's value (defaults filled in), in declaration order, ready to render."""
    problems: tuple[str, ...]


def check_values(
    params: Sequence[Param], given: Mapping[str, object], data_dir: Path | None
) -> Checked:
    """Check ``given`` (the ``[params]`` table) against ``params``; every problem at once.

    ``data_dir`` is the UoW's ``data/`` folder that path parameters must
    exist in; None checks only their form (``flowgen uow check`` without the
    data at hand never passes None: it has the folder).
    """
    problems: list[str] = []
    declared = [p.name for p in params]
    for name in given:
        if name not in declared:
            known = ", ".join(declared) if declared else "none"
            problems.append(
                f"[params] {name!r} is not a parameter of this function{suggest(name, declared)}; "
                f"its parameters are: {known}."
            )
    values: dict[str, Value] = {}
    for param in params:
        if param.name not in given and param.default is None:
            problems.append(
                f"[params] {param.name!r} is required: add `{param.name} = ...` "
                f"({param.describe()})." + (f" {param.help}" if param.help else "")
            )
            continue
        # A default is checked like a given value: a path default must exist too.
        raw = given.get(param.name, param.default)
        value, problem = check_value(param, raw, data_dir)
        if problem is not None:
            what = "" if param.name in given else " (the default)"
            problems.append(f"[params] {param.name}{what}: {problem}")
        else:
            assert value is not None
            values[param.name] = value
    return Checked(values, tuple(problems))


def check_value(
    param: Param, raw: object, data_dir: Path | None
) -> tuple[Value | None, str | None]:
    """(the value to render, None) or (None, what is wrong and what to write instead)."""
    checker = _CHECKERS[param.type]
    return checker(param, raw, data_dir)


def _check_string(param: Param, raw: object, _: Path | None) -> tuple[Value | None, str | None]:
    if not isinstance(raw, str):
        return None, f"expected text in quotes, got {_shown(raw)}."
    if problem := _text_problem(raw, param.max_length):
        return None, problem
    if param.pattern is not None and not re.fullmatch(param.pattern, raw):
        return None, f"{_shown(raw)} does not match the pattern {param.pattern!r}."
    return raw, None


def _text_problem(raw: str, max_length: int) -> str | None:
    if len(raw) > max_length or len(raw.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        return f"is {len(raw)} characters long; at most {max_length} are allowed."
    bad = next((c for c in raw if ord(c) < 0x20 or ord(c) == 0x7F or _is_surrogate(c)), None)
    if bad is not None:
        return (
            f"contains the control character {bad!r}; write one line of plain text "
            "(no tabs, line breaks or other control characters)."
        )
    return None


def _is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def _check_int(param: Param, raw: object, _: Path | None) -> tuple[Value | None, str | None]:
    if isinstance(raw, bool) or not isinstance(raw, int):
        return None, f"expected a whole number (no quotes), got {_shown(raw)}."
    return _in_bounds(param, raw, str(raw))


def _check_float(param: Param, raw: object, _: Path | None) -> tuple[Value | None, str | None]:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None, f"expected a number (no quotes), got {_shown(raw)}."
    if not math.isfinite(raw):
        return None, f"expected a finite number, got {raw!r}."
    return _in_bounds(param, float(raw), repr(float(raw)))


def _in_bounds(param: Param, number: float, shown: str) -> tuple[Value | None, str | None]:
    if param.minimum is not None and number < param.minimum:
        return None, f"{shown} is too small: use {param.describe()}."
    if param.maximum is not None and number > param.maximum:
        return None, f"{shown} is too large: use {param.describe()}."
    return (int(number) if param.type == "int" else number), None


def _check_bool(_param: Param, raw: object, _: Path | None) -> tuple[Value | None, str | None]:
    if not isinstance(raw, bool):
        return None, f"expected true or false (no quotes), got {_shown(raw)}."
    return raw, None


def _check_enum(param: Param, raw: object, _: Path | None) -> tuple[Value | None, str | None]:
    if not isinstance(raw, str) or raw not in param.choices:
        hint = suggest(raw, param.choices) if isinstance(raw, str) else ""
        return None, f"{_shown(raw)} is not allowed{hint}: use {param.describe()}."
    return raw, None


def _check_duration(
    param: Param, raw: object, _data: Path | None
) -> tuple[Value | None, str | None]:
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(text, str) or _text_problem(text, 32):
        return None, f'expected a Slurm time such as "1:30:00" or "2-00", got {_shown(raw)}.'
    try:
        seconds = parse_time_limit(text)
    except ValueError:
        seconds = -1
    if seconds is None or seconds < 0:
        return None, f'expected a Slurm time such as "1:30:00" or "2-00", got {_shown(raw)}.'
    _, problem = _in_bounds(param, seconds, text)
    return (None, problem) if problem else (format_duration(seconds), None)


def _check_path(
    param: Param, raw: object, data_dir: Path | None
) -> tuple[Value | None, str | None]:
    if not isinstance(raw, str):
        return None, f"expected a path in quotes (relative to data/), got {_shown(raw)}."
    if problem := _text_problem(raw, 1024):
        return None, problem
    if problem := path_form_problem(raw):
        return None, problem
    relative = PurePosixPath(raw).as_posix()
    name_matches = not param.match or fnmatch.fnmatchcase(PurePosixPath(raw).name, param.match)
    if not param.glob and not name_matches:
        return None, f"{raw!r} does not match {param.match!r}: give {param.describe()}."
    if data_dir is not None:
        if param.glob and not _glob_in(data_dir, relative, param.match):
            return None, f"the pattern {raw!r} matches nothing in data/: {param.describe()}."
        if not param.glob and (problem := _existing_inside(data_dir, relative)):
            return None, problem
    return f"{protocol.DATA_DIR}/{relative}", None


def path_form_problem(raw: str) -> str | None:
    """Why ``raw`` cannot be a path relative to ``data/`` (absolute, ``..``, empty), or None."""
    if not raw or raw.strip() != raw:
        return f'{raw!r} is not a path: give a path relative to data/, e.g. "input/file.star".'
    if raw.startswith(("/", "~")):
        return f'{raw!r} is absolute: give the path relative to data/ (e.g. "input/file.star").'
    parts = PurePosixPath(raw).parts
    if ".." in parts:
        return f"{raw!r} goes outside data/ ('..'): give a path inside data/."
    if raw.startswith(f"{protocol.DATA_DIR}/"):
        return (
            f"{raw!r} starts with 'data/'; paths are relative to data/ already: "
            f"write {raw[len(protocol.DATA_DIR) + 1 :]!r}."
        )
    return None


def _existing_inside(data_dir: Path, relative: str) -> str | None:
    target = data_dir / relative
    if not os.path.lexists(target):
        return f"data/{relative} does not exist in the Unit of Work; check the name (case matters)."
    real_data = os.path.realpath(data_dir)
    real = os.path.realpath(target)
    if real != real_data and not real.startswith(real_data + os.sep):
        return f"data/{relative} is a link to somewhere outside data/; copy the file in instead."
    if not target.exists():
        return f"data/{relative} is a broken link."
    return None


def _glob_in(data_dir: Path, pattern: str, match: str | None) -> bool:
    """Whether ``pattern`` matches at least one path inside ``data_dir`` (links included).

    Stops at the first match: the job expands the pattern itself, and
    resolving every one of 20,000 matches would cost seconds.
    """
    real_data = os.path.realpath(data_dir)
    for path in data_dir.glob(pattern):
        if match and not fnmatch.fnmatchcase(path.name, match):
            continue
        real = os.path.realpath(path)
        if real == real_data or real.startswith(real_data + os.sep):
            return True
    return False


def _shown(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


_CHECKERS = {
    "string": _check_string,
    "int": _check_int,
    "float": _check_float,
    "bool": _check_bool,
    "enum": _check_enum,
    "duration": _check_duration,
    "path": _check_path,
}
