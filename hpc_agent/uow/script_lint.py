"""Warnings about job-script lines that work on a laptop but not in a FlowCron job.

The job runs under the account that set FlowCron up, in a batch shell that
reads no start-up files, with the Unit of Work (UoW) as its working
directory. Scripts researchers write on their own machines often assume
otherwise, and the job then "succeeds" while its error output says
``conda: command not found``. Each check here names the line, says why it
will not work and what to write instead.

These are warnings: the report shows them and the job still runs, unless the
instance's ``risky_script_policy`` is ``reject`` (see :mod:`hpc_agent.uow.admission`).
``$HOME``/``$USER`` are refused by admission itself, as the original FlowCron
did. Pure functions over the script text (and, for ``cd``, whether a folder
exists on this machine).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SHELLS_LIKE_BASH: Final = frozenset({"bash"})
"""Interpreters the agent's checks (and most cluster documentation) assume."""

_WORD_START = r"(?:^|(?<=[\s;&|(`=\"']))"
# "~/x", "~alice/x", or a bare "~" given to cd: a "~" inside text ("a ~ b") is not a path.
_TILDE: Final = re.compile(
    _WORD_START + r"~[A-Za-z0-9_.-]*/|(?:^|[\s;&|(])(?:cd|pushd)\s+~(?=$|[\s;&|)])"
)
_PROFILE: Final = re.compile(
    _WORD_START
    # Personal start-up files only: a site's /etc/profile is how jobs get `module`.
    + r"(?:source|\.)\s+[\"']?(\S*?(?:\.bashrc|\.bash_profile|\.bash_login|\.profile|\.zshrc"
    r"|\.zprofile|\.cshrc|\.tcshrc))[\"']?(?=$|[\s;&|)])"
)
_ACTIVATE: Final = re.compile(
    _WORD_START + r"(?:(conda|mamba|micromamba)\s+activate|source\s+activate|\.\s+activate)\b"
)
_CONDA_SETUP: Final = re.compile(
    # conda.sh / mamba.sh by an absolute path or a variable ($CONDA_ROOT/etc/...)
    r"(?:source|\.)\s+[\"']?[/$]\S*/(?:conda|mamba)\.sh"
    # eval "$(/abs/conda shell.bash hook)", "$(micromamba shell hook -s bash)"
    r"|\$\(\s*[\"']?\S*(?:conda|mamba|micromamba)[\"']?\s+shell[\s.]"
    r"|(?:source|\.)\s+[\"']?[/$]\S*/bin/activate"
    # a site module (Lmod's `ml` too) that provides conda
    r"|\b(?:module\s+(?:load|add)|ml)\s+.*(?:conda|anaconda|miniconda|miniforge|mamba|mambaforge)",
    re.IGNORECASE,
)
_CD: Final = re.compile(_WORD_START + r"(?:cd|pushd)\s+(\"[^\"]*\"|'[^']*'|[^\s;&|)]+)")
_WINDOWS_PATH: Final = re.compile(r"^[A-Za-z]:[\\/]")
_LAPTOP_PREFIXES: Final = ("/Users/", "/Volumes/", "/mnt/c/", "/c/")


@dataclass(frozen=True)
class ScriptWarning:
    """One warning: a stable ``code`` (for logs and tests) and the sentence for the report."""

    code: str
    message: str


def shebang(first_line: str) -> list[str] | None:
    """The interpreter argv a ``#!`` line asks for, as the kernel reads it (Linux).

    The kernel splits off the interpreter and passes the rest of the line as
    *one* argument, so ``#!/usr/bin/env python3 -u`` gives
    ``['/usr/bin/env', 'python3 -u']``. None when the line is not a shebang.

    >>> shebang("#!/bin/bash")
    ['/bin/bash']
    >>> shebang("#! /usr/bin/env python3")
    ['/usr/bin/env', 'python3']
    >>> shebang("echo hi") is None
    True
    """
    if not first_line.startswith("#!"):
        return None
    rest = first_line[2:].strip()
    if not rest:
        return None
    interpreter, _, argument = rest.partition(" ")
    if "\t" in interpreter:
        interpreter, _, tail = interpreter.partition("\t")
        argument = (tail + " " + argument).strip()
    argument = argument.strip()
    return [interpreter, argument] if argument else [interpreter]


def interpreter_name(argv: list[str]) -> str:
    """The program a shebang runs: ``bash`` for ``/bin/bash`` and ``/usr/bin/env bash``.

    >>> interpreter_name(["/usr/bin/env", "-S python3 -u"])
    'python3'
    >>> interpreter_name(["/bin/sh"])
    'sh'
    """
    name = Path(argv[0]).name
    if name == "env" and len(argv) > 1:
        words = [w for w in argv[1].split() if not w.startswith("-") and "=" not in w]
        if words:
            return Path(words[0]).name
    return name


def lint_script(text: str, relative: str, *, instance_dir: Path) -> list[ScriptWarning]:
    """Every warning for the job script ``text`` (shown as ``relative`` in messages)."""
    lines = text.split("\n")
    warnings: list[ScriptWarning] = []
    warnings.extend(_shebang_warnings(lines[0], relative))
    code = list(_code_lines(lines))
    warnings.extend(_tilde_warnings(code, relative))
    warnings.extend(_profile_warnings(code, relative))
    warnings.extend(_conda_warnings(code, relative))
    warnings.extend(_cd_warnings(code, relative, instance_dir))
    return warnings


# -- the checks ----------------------------------------------------------------


def _shebang_warnings(first: str, relative: str) -> Iterator[ScriptWarning]:
    argv = shebang(first.rstrip())
    if argv is None:
        return  # admission refuses a script without one
    name = interpreter_name(argv)
    if name in SHELLS_LIKE_BASH:
        return
    if name in ("sh", "dash"):
        yield ScriptWarning(
            "non-bash-shebang",
            f"'{relative}' starts with '{first.strip()}', so the job runs under sh, which on "
            "many clusters is not bash: bash features such as [[ ]], arrays or 'source' "
            "fail there. If the script was written for bash, make its first line "
            "'#!/bin/bash'.",
        )
        return
    advice = (
        "It is named like a shell script (.sh): if it is one, make its first line '#!/bin/bash'."
        if relative.endswith(".sh")
        else "If it is a shell script, make its first line '#!/bin/bash'."
    )
    yield ScriptWarning(
        "non-bash-shebang",
        f"'{relative}' starts with '{first.strip()}', so Slurm runs it with {name}, not "
        f"bash. That is right for a {name} script (its '#SBATCH' lines still apply and it "
        "gets the Unit of Work's path as its first argument), but shell commands such as "
        f"'module load' do not work in it. {advice}",
    )


def _tilde_warnings(code: list[tuple[int, str]], relative: str) -> Iterator[ScriptWarning]:
    found = [number for number, line in code if _TILDE.search(line)]
    if found:
        yield ScriptWarning(
            "home-tilde",
            f"'{relative}' uses '~' (line {_numbers(found)}). In the job '~' is the home "
            "folder of the account that runs FlowCron, not yours, so those files are not "
            "there. Use paths relative to the Unit of Work (e.g. data/input.txt) or "
            "absolute project paths.",
        )


def _profile_warnings(code: list[tuple[int, str]], relative: str) -> Iterator[ScriptWarning]:
    for number, line in code:
        match = _PROFILE.search(line)
        if match:
            yield ScriptWarning(
                "sources-profile",
                f"Line {number} of '{relative}' reads '{match.group(1)}'. The job runs as "
                "the account that set FlowCron up, so your own shell start-up files are "
                "not read (or are someone else's). Put what you need from them ('module "
                "load ...', 'export ...', the conda set-up) in the script itself.",
            )


def _conda_warnings(code: list[tuple[int, str]], relative: str) -> Iterator[ScriptWarning]:
    set_up = False
    for number, line in code:
        if _CONDA_SETUP.search(line):
            set_up = True
        match = _ACTIVATE.search(line)
        if match and not set_up:
            command = (match.group(1) or "source") + " activate"
            yield ScriptWarning(
                "conda-not-set-up",
                f"Line {number} of '{relative}' runs '{command}', but nothing before it "
                "sets conda up in the job's shell: batch jobs do not read ~/.bashrc, where "
                "'conda init' put it, so the job fails with 'conda: command not found'. "
                "Before that line add 'source /path/to/miniconda3/etc/profile.d/conda.sh' "
                "(the absolute path on the HPC) or 'module load' your site's conda module.",
            )
            return  # one warning says it; the fix is the same for every line


def _cd_warnings(
    code: list[tuple[int, str]], relative: str, instance_dir: Path
) -> Iterator[ScriptWarning]:
    inside = [str(instance_dir), os.path.realpath(instance_dir)]
    for number, line in code:
        for match in _CD.finditer(line):
            target = _unquote(match.group(1))
            if _WINDOWS_PATH.match(target):
                where = "a Windows path"
            elif (
                not target.startswith("/")
                or "$" in target  # /lscratch/$SLURM_JOB_ID: node-local, decided in the job
                or any(_is_within(target, base) for base in inside)
            ):
                continue
            # Judged by the path alone: statting a path from a user's script could hang
            # the tick on a dead network mount.
            elif target.startswith(_LAPTOP_PREFIXES):
                where = "a path on a laptop, which does not exist on the HPC"
            else:
                where = "a folder outside this FlowCron instance, whose files are not handed back"
            yield ScriptWarning(
                "cd-outside",
                f"Line {number} of '{relative}' changes to '{target}', {where}. The job "
                "starts in the Unit of Work's folder: use paths relative to it "
                "(e.g. 'cd data').",
            )


# -- helpers -------------------------------------------------------------------


def _code_lines(lines: list[str]) -> Iterator[tuple[int, str]]:
    """(line number, code) for every line that is not a whole-line comment, comments cut off."""
    for number, line in enumerate(lines, start=1):
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        yield number, _strip_comment(line)


def _strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` starting a word, outside quotes)."""
    quote = ""
    previous = " "
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and previous.isspace():
            return line[:index]
        previous = char
    return line


def _unquote(word: str) -> str:
    try:
        parts = shlex.split(word)
    except ValueError:
        return word.strip("'\"")
    return parts[0] if parts else word


def _is_within(path: str, base: str) -> bool:
    path = os.path.normpath(path)
    return path == base or path.startswith(base.rstrip("/") + "/")


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)
