"""A published function: ``Functions/<name>/function.toml`` and its job template, read and checked.

The folder is the admin's (the PI's): ``function.toml`` declares the name,
version, a one-line description, help, the parameters (see
:mod:`hpc_agent.functions.params`), the resources and the site settings;
``template.sh`` (or the file ``template`` names) is the body of the job
script. Reading a function reports every problem with its line, so
``hpc-agent function check`` can say exactly what to fix; a broken function
is never used, and never stops the other functions or UoWs.

``function.toml``::

    name = "relion-class3d"          # the folder's name
    version = "1.0.0"
    description = "3D classification of particles with RELION"
    help = "..."                     # optional, several lines
    template = "template.sh"         # optional

    [site]                           # filled once by the admin, not by users
    relion_module = "relion/4.0"

    [params.particles]
    type = "path"
    match = "*.star"
    help = "The particles STAR file, relative to data/"

    [params.classes]
    type = "int"
    default = 4
    min = 1
    max = 50

    [resources]                      # a literal or "{param}" (the value of a parameter)
    time = "{time}"
    cpus = 8
    memory = "32G"
    gpus = "{gpus}"
    partition = "gpu"
    extra = ["--constraint=a100"]    # more #SBATCH options, admin-written
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from hpc_agent.errors import AgentError
from hpc_agent.executors.sbatch import script_options
from hpc_agent.functions.params import (
    NAME_RE,
    NAME_RULE,
    RESERVED_NAMES,
    TYPES,
    Param,
    Value,
    check_value,
    path_form_problem,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

FUNCTION_FILE: Final = "function.toml"
DEFAULT_TEMPLATE: Final = "template.sh"
FUNCTION_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
FUNCTION_NAME_RULE: Final = "1 to 40 lower-case letters, digits or '-', starting with a letter"
VERSION_RE: Final = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$")
MAX_FILE_BYTES: Final = 256 * 1024
RESOURCE_KEYS: Final = ("time", "cpus", "memory", "gpus", "partition", "extra")
_MEMORY_RE: Final = re.compile(r"^[1-9][0-9]{0,8}[KMGT]?$")
_PARTITION_RE: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_REFERENCE_RE: Final = re.compile(r"^\{([a-z][a-z0-9_]{0,39})\}$")
_TOP_KEYS: Final = ("name", "version", "description", "help", "template", "site", "params")
_PARAM_KEYS: Final = (
    "type",
    "help",
    "default",
    "min",
    "max",
    "pattern",
    "max_length",
    "choices",
    "match",
    "glob",
)


class FunctionError(AgentError):
    """A function folder that cannot be used; ``problems`` are line-precise."""

    def __init__(self, name: str, problems: list[str]) -> None:
        super().__init__(f"function {name!r} is broken: " + "; ".join(problems))
        self.name = name
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Resources:
    """What a job asks Slurm for: literals, or references to parameters (``"{gpus}"``)."""

    time: str | None = None
    cpus: int | str | None = None
    memory: str | None = None
    gpus: int | str | None = None
    partition: str | None = None
    extra: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The declared resources (references kept as written)."""
        out: dict[str, Any] = {}
        for key in RESOURCE_KEYS[:-1]:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.extra:
            out["extra"] = list(self.extra)
        return out


@dataclass(frozen=True)
class Function:
    """A function that passed every check: ready to render."""

    name: str
    version: str
    description: str
    help: str
    params: tuple[Param, ...]
    resources: Resources
    site: dict[str, str] = field(default_factory=dict)
    template: str = ""
    """The template's text (the body of the job script)."""
    sha256: str = ""
    """The hash of the function's files (``function.toml`` and the template)."""

    def param(self, name: str) -> Param | None:
        """The parameter called ``name``, if any."""
        return next((p for p in self.params if p.name == name), None)


# -- reading a function folder ---------------------------------------------------


def load_function(folder: Path) -> Function:
    """Read and check ``folder`` (``Functions/<name>/``); FunctionError lists every problem."""
    name = folder.name
    spec_path = folder / FUNCTION_FILE
    text, problem = _read_text(spec_path)
    if problem is not None:
        raise FunctionError(name, [problem])
    assert text is not None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FunctionError(name, [f"{FUNCTION_FILE}: not valid TOML ({exc})"]) from None
    lines = _Lines(text)
    problems: list[str] = []
    function = _parse(folder, data, lines, problems)
    if problems or function is None:
        raise FunctionError(name, problems or [f"{FUNCTION_FILE}: cannot be read"])
    return function


def _read_text(path: Path) -> tuple[str | None, str | None]:
    """(text, None) or (None, what is wrong): a regular file, small, UTF-8."""
    shown = f"{path.parent.name}/{path.name}"
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, f"{shown} is missing"
    except OSError as exc:
        return None, f"{shown} cannot be read ({exc.strerror})"
    if path.is_symlink() or not path.is_file():
        return None, f"{shown} is not a regular file"
    if info.st_size > MAX_FILE_BYTES:
        return None, f"{shown} is {info.st_size} bytes; at most {MAX_FILE_BYTES} are allowed"
    try:
        return path.read_bytes().decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"{shown} is not UTF-8 text (byte {exc.start})"
    except OSError as exc:
        return None, f"{shown} cannot be read ({exc.strerror})"


class _Lines:
    """Finds the line of a key in ``function.toml`` so messages can name it."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def of(self, table: str, key: str | None = None) -> int:
        header = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]") if table else None
        in_table = header is None
        for number, line in enumerate(self.lines, start=1):
            stripped = line.strip()
            if header is not None and header.match(line):
                if key is None:
                    return number
                in_table = True
                continue
            if stripped.startswith("[") and not stripped.startswith("[["):
                if in_table and header is not None:
                    in_table = bool(header.match(line))
                elif header is None:
                    in_table = False
                continue
            if in_table and key is not None and re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
                return number
        return 0

    def at(self, table: str, key: str | None = None) -> str:
        number = self.of(table, key)
        return f"{FUNCTION_FILE}, line {number}" if number else FUNCTION_FILE


def _parse(
    folder: Path, data: Mapping[str, Any], lines: _Lines, problems: list[str]
) -> Function | None:
    for key in data:
        if key not in (*_TOP_KEYS, "resources"):
            problems.append(
                f"{lines.at('', key)}: unknown key {key!r}; known keys: "
                + ", ".join((*_TOP_KEYS, "resources"))
            )
    name = _top_text(data, "name", lines, problems)
    if name is not None and name != folder.name:
        problems.append(
            f"{lines.at('', 'name')}: name {name!r} is not the folder's name "
            f"{folder.name!r}; they must be the same"
        )
    if not FUNCTION_NAME_RE.match(folder.name):
        problems.append(
            f"the folder name {folder.name!r} is not a function name: use {FUNCTION_NAME_RULE}"
        )
    version = _top_text(data, "version", lines, problems)
    if version is not None and not VERSION_RE.match(version):
        problems.append(f"{lines.at('', 'version')}: version {version!r}: use e.g. 1.0.0")
    description = _top_text(data, "description", lines, problems)
    if description is not None and ("\n" in description or len(description) > 200):
        problems.append(f"{lines.at('', 'description')}: one line of at most 200 characters")
    help_text = data.get("help", "")
    if not isinstance(help_text, str):
        problems.append(f"{lines.at('', 'help')}: help must be text")
        help_text = ""
    site = _site(data.get("site", {}), lines, problems)
    params = _params(data.get("params", {}), lines, problems)
    names = [p.name for p in params]
    for clash in sorted(set(names) & set(site)):
        problems.append(
            f"{lines.at('site', clash)}: {clash!r} is both a site setting and a parameter"
        )
    resources = _resources(data.get("resources", {}), {p.name: p for p in params}, lines, problems)
    template = _template(folder, data.get("template", DEFAULT_TEMPLATE), lines, problems)
    if problems or name is None or version is None or description is None or template is None:
        return None
    return Function(
        name=name,
        version=version,
        description=description,
        help=help_text,
        params=tuple(params),
        resources=resources,
        site=site,
        template=template,
        sha256=files_sha256(folder),
    )


def _top_text(data: Mapping[str, Any], key: str, lines: _Lines, problems: list[str]) -> str | None:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(
            f"{lines.at('', key) if key in data else FUNCTION_FILE}: "
            f'{key} = "..." is required (text)'
        )
        return None
    return value


def _site(raw: object, lines: _Lines, problems: list[str]) -> dict[str, str]:
    if not isinstance(raw, dict):
        problems.append(f"{lines.at('', 'site')}: [site] must be a table")
        return {}
    site: dict[str, str] = {}
    for key, value in raw.items():
        where = lines.at("site", key)
        if not NAME_RE.match(key) or key in RESERVED_NAMES:
            problems.append(f"{where}: site setting {key!r}: use {NAME_RULE}")
        elif not isinstance(value, str) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            problems.append(f"{where}: site setting {key!r} must be one line of text")
        else:
            site[key] = value
    return site


def _params(raw: object, lines: _Lines, problems: list[str]) -> list[Param]:
    if not isinstance(raw, dict):
        problems.append(f"{lines.at('', 'params')}: [params] must hold one table per parameter")
        return []
    params: list[Param] = []
    for name, spec in raw.items():
        table = f"params.{name}"
        where = lines.at(table)
        if not NAME_RE.match(name) or name in RESERVED_NAMES:
            problems.append(f"{where}: parameter name {name!r}: use {NAME_RULE}")
            continue
        if not isinstance(spec, dict):
            problems.append(f"{where}: [params.{name}] must be a table with a type")
            continue
        param = _param(name, spec, table, lines, problems)
        if param is not None:
            params.append(param)
    return params


def _param(
    name: str, spec: Mapping[str, Any], table: str, lines: _Lines, problems: list[str]
) -> Param | None:
    before = len(problems)
    for key in spec:
        if key not in _PARAM_KEYS:
            problems.append(
                f"{lines.at(table, key)}: unknown key {key!r} in [{table}]; known: "
                + ", ".join(_PARAM_KEYS)
            )
    kind = spec.get("type")
    if kind not in TYPES:
        problems.append(f"{lines.at(table, 'type')}: type {kind!r}: use one of {', '.join(TYPES)}")
        return None
    choices = spec.get("choices", [])
    if kind == "enum" and (
        not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices)
    ):
        problems.append(f'{lines.at(table, "choices")}: an enum needs choices = ["a", "b"]')
        choices = []
    bounds = {key: spec.get(key) for key in ("min", "max")}
    problems.extend(_bound_problems(kind, bounds, table, lines))
    pattern = spec.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            problems.append(f"{lines.at(table, 'pattern')}: not a regular expression ({exc})")
    help_text = spec.get("help", "")
    if not isinstance(help_text, str):
        problems.append(f"{lines.at(table, 'help')}: help must be text")
        help_text = ""
    max_length = spec.get("max_length", 256)
    if (
        isinstance(max_length, bool)
        or not isinstance(max_length, int)
        or not 1 <= max_length <= 4096
    ):
        problems.append(f"{lines.at(table, 'max_length')}: max_length must be 1 to 4096")
        max_length = 256
    if len(problems) > before:
        return None
    param = Param(
        name=name,
        type=kind,
        help=help_text,
        required="default" not in spec,
        minimum=_bound(kind, bounds["min"]),
        maximum=_bound(kind, bounds["max"]),
        pattern=pattern,
        max_length=max_length,
        choices=tuple(choices),
        match=spec.get("match") if isinstance(spec.get("match"), str) else None,
        glob=spec.get("glob") is True,
    )
    if "default" in spec:
        _, problem = check_value(param, spec["default"], None)
        if problem is not None:
            problems.append(f"{lines.at(table, 'default')}: the default: {problem}")
            return None
        param = replace(param, default=spec["default"])
    return param


def _bound_problems(
    kind: str, bounds: Mapping[str, object], table: str, lines: _Lines
) -> list[str]:
    problems = []
    for key, bound in bounds.items():
        if bound is None or (kind == "duration" and isinstance(bound, str)):
            continue
        if (
            kind not in ("int", "float")
            or isinstance(bound, bool)
            or not isinstance(bound, int | float)
        ):
            problems.append(
                f"{lines.at(table, key)}: {key} must be a number for an int or float "
                "(a Slurm time for a duration)"
            )
    return problems


def _bound(kind: str, bound: object) -> float | None:
    if bound is None:
        return None
    if kind == "duration" and isinstance(bound, str):
        from hpc_agent.executors.sbatch import parse_time_limit

        try:
            seconds = parse_time_limit(bound)
        except ValueError:
            return None
        return None if seconds is None else float(seconds)
    return float(bound) if isinstance(bound, int | float) else None


def _resources(
    raw: object, params: Mapping[str, Param], lines: _Lines, problems: list[str]
) -> Resources:
    if not isinstance(raw, dict):
        problems.append(f"{lines.at('', 'resources')}: [resources] must be a table")
        return Resources()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        where = lines.at("resources", key)
        if key not in RESOURCE_KEYS:
            problems.append(f"{where}: unknown resource {key!r}; known: {', '.join(RESOURCE_KEYS)}")
            continue
        if key == "extra":
            values[key] = tuple(_extra(value, where, problems))
            continue
        reference = _REFERENCE_RE.match(value) if isinstance(value, str) else None
        if reference is not None:
            if reference.group(1) not in params:
                problems.append(f"{where}: {value!r} names no parameter of this function")
            values[key] = value
            continue
        if problem := resource_problem(key, value):
            problems.append(f"{where}: {problem}")
        values[key] = value
    return Resources(**values)


def _extra(value: object, where: str, problems: list[str]) -> Iterator[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(
            f'{where}: extra must be a list of #SBATCH options, e.g. ["--constraint=a100"]'
        )
        return
    for option in value:
        parsed = script_options(f"#SBATCH {option}\n")
        if (
            not option.startswith("-")
            or any(ord(c) < 0x20 for c in option)
            or len(parsed) != 1
            or parsed[0].option.lstrip("-") in _OVERRIDDEN_OPTIONS
        ):
            problems.append(
                f"{where}: {option!r} is not one #SBATCH option FlowCron lets a function set "
                "(one option such as --constraint=a100; not output, error, chdir or job-name)"
            )
            continue
        yield option


_OVERRIDDEN_OPTIONS: Final = frozenset(
    {"o", "output", "e", "error", "D", "chdir", "J", "job-name", "A", "account", "q", "qos"}
)


def resource_problem(key: str, value: object) -> str | None:
    """Why ``value`` cannot be the resource ``key`` (after parameters are filled in), or None."""
    if key == "time":
        if isinstance(value, str):
            from hpc_agent.executors.sbatch import parse_time_limit

            try:
                if parse_time_limit(value) is not None:
                    return None
            except ValueError:
                pass
        return f'time {value!r}: use a Slurm time such as "4:00:00"'
    if key in ("cpus", "gpus"):
        low = 1 if key == "cpus" else 0
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 100_000:
            return f"{key} {value!r}: use a whole number of at least {low}"
        return None
    if key == "memory":
        if isinstance(value, str) and _MEMORY_RE.match(value):
            return None
        return f'memory {value!r}: use a size such as "32G" (K, M, G or T)'
    if key == "partition":
        if isinstance(value, str) and _PARTITION_RE.match(value):
            return None
        return f"partition {value!r}: use a Slurm partition name"
    return f"unknown resource {key!r}"


def _template(folder: Path, raw: object, lines: _Lines, problems: list[str]) -> str | None:
    if not isinstance(raw, str) or path_form_problem(raw) or "/" in raw:
        problems.append(f"{lines.at('', 'template')}: template must name a file in the folder")
        return None
    text, problem = _read_text(folder / raw)
    if problem is not None:
        problems.append(problem)
        return None
    assert text is not None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(("#SBATCH", "#SLURM")):
            problems.append(
                f"{raw}, line {number}: #SBATCH lines do not belong in the template; "
                "declare resources in [resources] of function.toml"
            )
    first = text.splitlines()[0] if text else ""
    if first.startswith("#!") and not re.match(r"^#!\s*(/usr)?/bin/(env\s+)?(ba)?sh\b", first):
        problems.append(f"{raw}, line 1: the template must be a bash script (#!/bin/bash)")
    return text


def files_sha256(folder: Path) -> str:
    """One SHA-256 over the function's regular files (names and contents, in name order)."""
    digest = hashlib.sha256()
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_file(follow_symlinks=False):
            digest.update(entry.name.encode("utf-8", "surrogateescape") + b"\0")
            digest.update(Path(entry.path).read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


# -- an instance's published functions --------------------------------------------


@dataclass(frozen=True)
class Library:
    """The functions of one instance: those that work, and those that are broken (with why)."""

    functions: dict[str, Function]
    broken: dict[str, tuple[str, ...]]

    def names(self) -> list[str]:
        """Every published name, working or not, sorted."""
        return sorted({*self.functions, *self.broken})


def load_library(functions_dir: Path) -> Library:
    """Every function folder in ``functions_dir`` (``<base>/Functions``); never raises."""
    functions: dict[str, Function] = {}
    broken: dict[str, tuple[str, ...]] = {}
    try:
        entries = sorted(os.scandir(functions_dir), key=lambda e: e.name)
    except OSError:
        return Library({}, {})
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            functions[entry.name] = load_function(Path(entry.path))
        except FunctionError as exc:
            broken[entry.name] = exc.problems
        except OSError as exc:
            broken[entry.name] = (f"cannot be read ({exc.strerror})",)
    return Library(functions, broken)


def resolve_resources(
    function: Function, values: Mapping[str, Value]
) -> tuple[dict[str, Any], list[str]]:
    """The resources with parameter references filled in, and why a filled-in value cannot be.

    A value that passed its parameter's checks may still be no resource
    (``cpus = 0``): that is the user's to fix, so it comes back as a problem
    naming the parameter.
    """
    out: dict[str, Any] = {}
    problems: list[str] = []
    for key in RESOURCE_KEYS[:-1]:
        value = getattr(function.resources, key)
        if value is None:
            continue
        reference = _REFERENCE_RE.match(value) if isinstance(value, str) else None
        if reference is not None:
            value = values.get(reference.group(1))
            if value is None:
                continue  # the parameter itself is already reported
        if problem := resource_problem(key, value):
            name = reference.group(1) if reference is not None else key
            problems.append(f"[params] {name}: cannot be the job's {problem}")
            continue
        out[key] = value
    if function.resources.extra:
        out["extra"] = list(function.resources.extra)
    return out, problems
