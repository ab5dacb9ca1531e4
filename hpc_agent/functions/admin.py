"""What ``hpc-agent function ...`` does, without the command line: the admin's side of functions.

An instance's admin (the PI) writes functions in ``<base>/Functions/<name>/``
(:mod:`hpc_agent.functions.spec`), starts one from a skeleton or a built-in
(:mod:`hpc_agent.functions.builtin`), checks them, renders and tests a call,
and writes the catalogue the user side reads
(:mod:`hpc_agent.functions.catalog`). Bad input (an unknown function, a name
that is no function name, an unreadable params file) raises
:class:`FunctionUsageError` (exit code 2); an operation that cannot be done
(an existing folder, a broken function) raises :class:`FunctionOperationError`
(exit code 1). Nothing here changes a function that exists.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.errors import AgentError
from hpc_agent.executors import slurm
from hpc_agent.executors.base import JobSpec, SchedulerUnavailable
from hpc_agent.exitcodes import ExitCode
from hpc_agent.functions import builtin
from hpc_agent.functions.call import MAX_JOB_FILE_BYTES
from hpc_agent.functions.catalog import to_catalog
from hpc_agent.functions.params import (
    Param,
    Value,
    check_value,
    check_values,
    format_duration,
    suggest,
)
from hpc_agent.functions.render import Rendered, render
from hpc_agent.functions.spec import (
    DEFAULT_TEMPLATE,
    FUNCTION_FILE,
    FUNCTION_NAME_RE,
    FUNCTION_NAME_RULE,
    Function,
    Library,
    load_library,
    resolve_resources,
)
from hpc_agent.terminal import paint
from hpc_agent.uow.record import job_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

BASH_TIMEOUT_SECONDS: Final = 30


class FunctionUsageError(AgentError):
    """Bad input to a function command: an unknown name, a bad params file (exit code 2)."""

    exit_code = ExitCode.USAGE


class FunctionOperationError(AgentError):
    """A function command cannot be done: an existing folder, a broken function (exit code 1)."""

    exit_code = ExitCode.FAILED


def functions_dir(cfg: InstanceConfig) -> Path:
    """``<base>/Functions``, where the instance's functions live."""
    return cfg.path(protocol.FUNCTIONS)


def load(cfg: InstanceConfig) -> Library:
    """The instance's functions, working and broken."""
    return load_library(functions_dir(cfg))


def find(cfg: InstanceConfig, name: str, library: Library | None = None) -> Function:
    """The working function ``name``; an unknown or broken one is an error saying what to do."""
    library = load(cfg) if library is None else library
    function = library.functions.get(name)
    if function is not None:
        return function
    if name in library.broken:
        problems = library.broken[name]
        raise FunctionOperationError(
            f"the function {name!r} is broken ({len(problems)} problem(s); first: {problems[0]}); "
            f"see them all with `hpc-agent function check {cfg.name} {name}`"
        )
    raise FunctionUsageError(unknown_message(cfg, name, library))


def unknown_message(cfg: InstanceConfig, name: str, library: Library) -> str:
    """No function ``name``: the closest name, and every function there is."""
    names = library.names()
    listing = ", ".join(names) if names else "none yet"
    return (
        f"there is no function {name!r} in {functions_dir(cfg)}{suggest(name, names)}; "
        f"its functions: {listing} (create one with `hpc-agent function new {cfg.name} NAME`)"
    )


def function_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a function's (and its folder's) name, or None."""
    if FUNCTION_NAME_RE.match(name):
        return None
    return f"{name!r} is not a function name: use {FUNCTION_NAME_RULE} (e.g. relion-class3d)"


def run_policy_note(cfg: InstanceConfig, library: Library) -> str | None:
    """A warning when the instance's ``run_policy`` and its functions do not go together."""
    if cfg.run_policy == "scripts" and library.names():
        return (
            'this instance has run_policy = "scripts" in flowcron.toml: it runs UoWs with their '
            'own job script only and refuses calls of functions; set it to "both" or '
            '"functions" to publish them'
        )
    if cfg.run_policy == "functions" and not library.functions:
        return (
            'this instance has run_policy = "functions" in flowcron.toml but no function that '
            "works: it refuses every UoW until one does"
        )
    return None


# -- list -------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One function folder as ``function list`` shows it."""

    name: str
    version: str | None = None
    description: str | None = None
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The entry for ``--format json``."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "broken": bool(self.problems),
            "problems": list(self.problems),
        }


def list_functions(library: Library) -> list[Entry]:
    """Every function folder, by name: version and description, or its problems."""
    entries = []
    for name in library.names():
        function = library.functions.get(name)
        if function is None:
            entries.append(Entry(name, problems=library.broken[name]))
        else:
            entries.append(Entry(name, function.version, function.description))
    return entries


def format_list(entries: Sequence[Entry], directory: Path) -> str:
    """The text of ``function list``."""
    if not entries:
        return f"no functions in {directory}\n"
    width = max(len(e.name) for e in entries)
    lines = []
    for entry in entries:
        if entry.problems:
            more = len(entry.problems) - 1
            extra = f" (and {more} more)" if more else ""
            lines.append(f"{entry.name:<{width}}  BROKEN: {entry.problems[0]}{extra}")
        else:
            lines.append(f"{entry.name:<{width}}  {entry.version}  {entry.description}")
    return "\n".join(lines) + "\n"


# -- show -------------------------------------------------------------------------


def file_hashes(folder: Path) -> dict[str, str]:
    """The SHA-256 of each regular file of ``folder`` (the files ``files_sha256`` covers)."""
    hashes = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_file(follow_symlinks=False):
            hashes[entry.name] = hashlib.sha256(Path(entry.path).read_bytes()).hexdigest()
    return hashes


def describe(cfg: InstanceConfig, function: Function) -> dict[str, Any]:
    """Everything ``function show`` says about ``function``, as JSON-ready data."""
    folder = functions_dir(cfg) / function.name
    return {
        "name": function.name,
        "version": function.version,
        "description": function.description,
        "help": function.help,
        "folder": str(folder),
        "params": [_describe_param(p) for p in function.params],
        "resources": function.resources.to_json(),
        "site": dict(function.site),
        "sha256": function.sha256,
        "files": file_hashes(folder),
    }


def _describe_param(param: Param) -> dict[str, Any]:
    return {
        "name": param.name,
        "type": param.type,
        "required": param.default is None,
        "default": param.default,
        "rule": param.describe(),
        "help": param.help,
    }


def format_show(info: Mapping[str, Any]) -> str:
    """The text of ``function show`` from :func:`describe`'s data."""
    lines = [
        f"{info['name']} {info['version']}: {info['description']}",
        f"folder: {info['folder']}",
    ]
    if info["help"].strip():
        lines += ["", *(f"  {line}".rstrip() for line in info["help"].strip().splitlines())]
    lines += ["", "parameters:" if info["params"] else "parameters: none"]
    for param in info["params"]:
        given = "required" if param["required"] else f"default {json.dumps(param['default'])}"
        lines.append(f"  {param['name']} ({param['type']}, {given}): {param['rule']}")
        if param["help"]:
            lines.append(f"      {param['help']}")
    for title, table in (("resources", info["resources"]), ("site settings", info["site"])):
        lines.append(f"{title}:" if table else f"{title}: none")
        lines.extend(f"  {key} = {json.dumps(value)}" for key, value in table.items())
    lines.append(f"files (sha256 of them all: {info['sha256']}):")
    width = max((len(name) for name in info["files"]), default=0)
    lines.extend(f"  {name:<{width}}  {digest}" for name, digest in info["files"].items())
    return "\n".join(lines) + "\n"


# -- new --------------------------------------------------------------------------

SKELETON_SPEC: Final = '''\
# A FlowCron function: researchers call it from the job.toml of a Unit of Work
# instead of writing a job script. Check this file with
#   hpc-agent function check INSTANCE {name}
# and see docs/functions-admin.md for every key.

name = "{name}"                 # must be the folder's name
version = "0.1.0"               # raise it whenever you change the function
description = "TODO: what this function does, in one line"
help = """
TODO: what researchers put in data/, what the function writes there,
and how long it takes for a typical input.
"""
# template = "template.sh"      # the body of the job script (this is the default)

# Settings of this site, written by you and never by researchers. The template
# reads each one as "$name", like a parameter.
[site]
# module = "python/3.11"

# One table per parameter; the template reads each as "$name" (always quoted).
# Types: string, int, float, bool, enum, duration, path. Without a default a
# parameter is required. Rules: min/max (int, float, duration), pattern and
# max_length (string), choices (enum), match and glob (path).
[params.input]
type = "path"
match = "*.txt"
help = "The input file, relative to data/"

[params.copies]
type = "int"
default = 1
min = 1
max = 10
help = "How many copies of the input to write"

# What the job asks Slurm for: a literal, or "{{param}}" for a parameter's value.
# Account and QoS are the instance's; output files and the job name are FlowCron's.
[resources]
time = "0:10:00"
cpus = 1
memory = "1G"
# gpus = 0
# partition = "batch"
# extra = ["--constraint=a100"]
'''

SKELETON_TEMPLATE: Final = """\
#!/bin/bash
# The body of the job script of the function {name}. FlowCron writes the
# Slurm options of [resources] and one quoted assignment per site setting and
# parameter above it: read them as "$input", "$copies" (always in double quotes,
# never pasted into a command unquoted). The job runs in the Unit of Work's
# folder: the inputs are under data/, and the results belong there too.
set -euo pipefail

for copy in $(seq 1 "$copies"); do
    cp -- "$input" "data/copy-$copy.txt"
done
"""


def skeleton_files(name: str) -> dict[str, bytes]:
    """The files of a new function ``name``: a commented ``function.toml`` and ``template.sh``."""
    return {
        FUNCTION_FILE: SKELETON_SPEC.format(name=name).encode("utf-8"),
        DEFAULT_TEMPLATE: SKELETON_TEMPLATE.format(name=name).encode("utf-8"),
    }


def new_function(cfg: InstanceConfig, name: str, from_builtin: str | None = None) -> Path:
    """Create ``Functions/<name>/`` from the skeleton or the built-in ``from_builtin``; its path."""
    if problem := function_name_problem(name):
        raise FunctionUsageError(problem)
    if from_builtin is not None:
        known = builtin.builtin_names()
        if from_builtin not in known:
            listing = ", ".join(known) if known else "none (the package ships no built-ins)"
            raise FunctionUsageError(
                f"there is no built-in function {from_builtin!r}{suggest(from_builtin, known)}; "
                f"the built-ins: {listing}"
            )
    directory = functions_dir(cfg)
    directory.mkdir(exist_ok=True)
    target = directory / name
    try:
        if from_builtin is None:
            builtin.create_folder(target, skeleton_files(name))
        else:
            builtin.copy_builtin(from_builtin, target, name)
    except FileExistsError:
        raise FunctionOperationError(
            f"{target} already exists and is never overwritten: pick another name, or move "
            "that folder away first"
        ) from None
    return target


# -- check ------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """One function's check: its problems (line-precise) and notes on what was not checked."""

    name: str
    version: str | None
    problems: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Whether the function can be used."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """The result for ``--format json``."""
        return {
            "name": self.name,
            "version": self.version,
            "ok": self.ok,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def check(cfg: InstanceConfig, name: str | None = None) -> list[CheckResult]:
    """Check the function ``name``, or every function; unknown ``name`` is a usage error."""
    library = load(cfg)
    if name is not None and name not in library.names():
        raise FunctionUsageError(unknown_message(cfg, name, library))
    results = []
    for each in [name] if name is not None else library.names():
        function = library.functions.get(each)
        if function is None:
            results.append(CheckResult(each, None, library.broken[each]))
            continue
        problems, notes = syntax_check(function, functions_dir(cfg) / each)
        results.append(CheckResult(each, function.version, tuple(problems), tuple(notes)))
    return results


def format_check(results: Sequence[CheckResult], *, colour: bool = False) -> str:
    """The text of ``function check``: one line per function, its problems indented.

    With ``colour`` (a terminal) ``ok`` is green and a count of problems red.
    """
    lines = []
    for result in results:
        label = f"{result.name} {result.version}" if result.version else result.name
        count = len(result.problems)
        verdict = (
            paint("ok", "ok", enabled=colour)
            if result.ok
            else paint(f"{count} problem(s)", "error", enabled=colour)
        )
        lines.append(f"{label}: {verdict}")
        lines.extend(f"  {problem}" for problem in result.problems)
        lines.extend(f"  note: {note}" for note in result.notes)
    return "\n".join(lines) + "\n" if lines else ""


def example_values(function: Function) -> tuple[dict[str, Value] | None, str | None]:
    """A value for every parameter (its default or an example), or None and why there is none."""
    values: dict[str, Value] = {}
    for param in function.params:
        raw = param.default if param.default is not None else example_value(param)
        value, _ = check_value(param, raw, None) if raw is not None else (None, None)
        if value is None:
            return None, f"no example value for {param.name!r} ({param.describe()})"
        values[param.name] = value
    return values, None


def example_value(param: Param) -> Value | None:
    """A value ``param`` likely accepts (checked by the caller), or None when there is none."""
    if param.type in ("int", "float", "duration"):
        base = 3600.0 if param.type == "duration" else 1.0
        number = param.minimum if param.minimum is not None else min(base, param.maximum or base)
        if param.type == "duration":
            return format_duration(math.ceil(number))
        return math.ceil(number) if param.type == "int" else float(number)
    if param.type == "path":
        pattern = param.match or "example.txt"
        return pattern if param.glob else pattern.replace("*", "example").replace("?", "x")
    examples: dict[str, Value | None] = {
        "bool": True,
        "enum": param.choices[0] if param.choices else None,
        "string": "example",
    }
    return examples.get(param.type)


def syntax_check(function: Function, folder: Path) -> tuple[list[str], list[str]]:
    """``bash -n`` on a rendering with example values: (problems, notes on what was skipped)."""
    bash = shutil.which("bash")
    if bash is None:
        return [], ["bash is not on PATH: the template's syntax was not checked"]
    values, why = example_values(function)
    if values is None:
        return [], [f"the template's syntax was not checked: {why}"]
    resources, problems = resolve_resources(function, values)
    if problems:
        return [], [f"the template's syntax was not checked: {problems[0]}"]
    script = render(function, values, resources).script
    result = subprocess.run(
        [bash, "-n"],
        input=script,
        capture_output=True,
        text=True,
        timeout=BASH_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode == 0:
        return [], []
    return bash_problems(function, script, result.stderr, template_name(folder)), []


def template_name(folder: Path) -> str:
    """The template's file name as ``function.toml`` gives it (it was checked already)."""
    try:
        data = tomllib.loads((folder / FUNCTION_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return DEFAULT_TEMPLATE
    name = data.get("template", DEFAULT_TEMPLATE)
    return name if isinstance(name, str) else DEFAULT_TEMPLATE


def bash_problems(function: Function, script: str, stderr: str, template: str) -> list[str]:
    """``bash -n``'s complaints about ``script``, with lines of the template, not of the script."""
    marker = f"# -- template of {function.name} --"
    lines = script.splitlines()
    header = lines.index(marker) + 1 if marker in lines else 0
    shift = 1 if function.template.startswith("#!") else 0
    problems: list[str] = []
    previous = ""
    for line in stderr.splitlines():
        match = re.search(r"line (\d+): (.*)$", line)
        if match is None:
            if line.strip():
                problems.append(f"{template}: bash -n: {line.strip()}")
            continue
        number = int(match.group(1)) - header + shift
        where = f"{template}, line {number}" if number >= 1 else "the rendered header"
        text = match.group(2)
        if where == previous and text.startswith("`") and text.endswith("'"):
            problems[-1] += f" (the line: {text})"  # bash quotes the line it choked on
            continue
        problems.append(f"{where}: bash -n: {text}")
        previous = where
    return problems or [f"{template}: bash -n found a syntax error"]


# -- render and test --------------------------------------------------------------


@dataclass(frozen=True)
class ParamsFile:
    """A params file: a ``job.toml`` (``function`` and ``[params]``) or only a ``[params]`` table."""

    path: Path
    function: str | None
    params: dict[str, object]


def read_params_file(path: Path) -> ParamsFile:
    """Read ``path``; anything that makes it no params file is a FunctionUsageError."""
    try:
        if not path.is_file():
            raise FunctionUsageError(f"--params {path}: no such file")
        if path.stat().st_size > MAX_JOB_FILE_BYTES:
            raise FunctionUsageError(
                f"--params {path}: larger than {MAX_JOB_FILE_BYTES} bytes; a job.toml is small"
            )
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FunctionUsageError(f"--params {path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise FunctionUsageError(f"--params {path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise FunctionUsageError(f"--params {path}: cannot be read ({exc.strerror})") from None
    unknown = sorted(set(data) - {"function", "params"})
    if unknown:
        raise FunctionUsageError(
            f"--params {path}: unknown key(s) {', '.join(unknown)}; write a job.toml "
            '(function = "NAME" and a [params] table) or a file with only [params]'
        )
    function = data.get("function")
    if function is not None and not isinstance(function, str):
        raise FunctionUsageError(f'--params {path}: function must be text: function = "NAME"')
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise FunctionUsageError(f"--params {path}: params must be a table ([params])")
    return ParamsFile(path, function, params)


def data_dir_for(params_file: Path, data: Path | None) -> tuple[Path | None, str]:
    """The folder path parameters are checked in, and a sentence saying which (or that none is)."""
    if data is not None:
        if not data.is_dir():
            raise FunctionUsageError(f"--data {data}: no such folder")
        return data, f"path parameters are checked against {data}"
    default = params_file.parent / protocol.DATA_DIR
    if default.is_dir():
        return default, f"path parameters are checked against {default} (next to the params file)"
    return None, (
        f"no --data DIR and no {default}: path parameters are checked for their form only, "
        "not that they exist"
    )


def render_call(
    function: Function, params: ParamsFile, data_dir: Path | None
) -> tuple[Rendered | None, list[str]]:
    """The job script the call would give (as the agent renders it), or every problem."""
    problems: list[str] = []
    if params.function is not None and params.function != function.name:
        problems.append(
            f"{params.path} calls the function {params.function!r}, not {function.name!r}: "
            f'fix function = "..." or give {params.function!r} as NAME'
        )
    checked = check_values(function.params, params.params, data_dir)
    problems.extend(checked.problems)
    resources, resource_problems = resolve_resources(function, checked.values)
    problems.extend(resource_problems)
    if problems:
        return None, problems
    return render(function, checked.values, resources), []


@dataclass(frozen=True)
class SlurmAnswer:
    """Slurm's answer to ``sbatch --test-only``: whether it would take the job, in its words."""

    accepted: bool
    answer: str
    argv: tuple[str, ...]


def sbatch_test_argv(cfg: InstanceConfig, script: Path, workdir: Path, name: str) -> list[str]:
    """The sbatch command line the agent would use for the job, with ``--test-only``."""
    spec = JobSpec(
        name=job_name(cfg.name, f"function-test-{name}"),
        script=script,
        workdir=workdir,
        stdout=protocol.SLURM_STDOUT,
        stderr=protocol.SLURM_STDERR,
        account=cfg.account,
        qos=cfg.qos,
        args=(str(workdir),),
    )
    argv = slurm.sbatch_argv(spec)
    return [argv[0], "--test-only", *argv[1:]]


def sbatch_test_only(
    cfg: InstanceConfig, name: str, rendered: Rendered, workdir: Path | None = None
) -> SlurmAnswer:
    """Ask Slurm whether it would take the rendered job (nothing is queued)."""
    if cfg.executor != "slurm":
        raise FunctionUsageError(
            f"the instance {cfg.name!r} runs jobs with the {cfg.executor!r} executor, not "
            "Slurm: `function test` needs sbatch; use `function render` instead"
        )
    with tempfile.TemporaryDirectory(prefix="flowcron-function-test-") as tmp:
        script = Path(tmp) / "job.sh"
        script.write_text(rendered.script, encoding="utf-8")
        argv = sbatch_test_argv(cfg, script, workdir or Path(tmp), name)
        result = slurm._run(argv, float(cfg.slurm_timeout_seconds))
    answer = "\n".join(
        text.strip() for text in (result.stderr, result.stdout) if text and text.strip()
    )
    if result.returncode != 0 and slurm.is_unreachable(answer):
        raise SchedulerUnavailable(f"sbatch: {answer}")
    return SlurmAnswer(
        result.returncode == 0, answer or f"exit status {result.returncode}", tuple(argv)
    )


# -- catalog ----------------------------------------------------------------------


def catalog_text(cfg: InstanceConfig, library: Library | None = None) -> str:
    """The catalogue of the instance's functions as JSON text (sorted keys, ends with a newline)."""
    library = load(cfg) if library is None else library
    document = to_catalog(library, instance=cfg.name)
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def catalog_path_hint(cfg: InstanceConfig) -> str:
    """Where the PI commits the catalogue: next to the flow config."""
    return f"flows/{cfg.name}.functions.json"
