"""Rendering a function call into the job script: deterministic and injection-proof.

No user value is ever pasted into the template. The script is built from
three parts, in this order:

1. ``#!/bin/bash`` and the ``#SBATCH`` lines of the resources. Every value
   there was checked against a strict form (a Slurm time, a whole number, a
   size, a partition name) after the parameters were filled in, so none can
   hold a space, a quote or a line break.
2. One shell assignment per site setting and per parameter,
   ``name='value'``, with the value single-quoted by :func:`shlex.quote`.
   Inside single quotes bash expands nothing (no ``$()``, no backticks, no
   ``$VAR``), and a value cannot close the quotes, because every ``'`` in it
   is written as ``'"'"'``. Values are one line without control characters
   (:mod:`hpc_agent.functions.params` refuses the rest), so no value can add
   a line, a ``#SBATCH`` directive or end a here-document.
3. The template, verbatim. It reads the values as ``"$name"``.

The same function and values always give the same bytes.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpc_agent.functions.params import Value
from hpc_agent.functions.spec import Function

_SBATCH_FLAGS = {
    "time": "--time",
    "cpus": "--cpus-per-task",
    "memory": "--mem",
    "gpus": "--gpus",
    "partition": "--partition",
}


SHELLCHECK_DISABLED = "SC2034,SC2016,SC1003,SC1111,SC1112"
"""The shellcheck findings the rendered assignments cause by design, silenced for the file."""


@dataclass(frozen=True)
class Rendered:
    """A rendered job: the script's text and the resources it asks for."""

    script: str
    resources: dict[str, Any]


def shell_value(value: Value) -> str:
    """``value`` as one shell word that bash reads back unchanged.

    >>> shell_value("it's $(here)")
    '\\'it\\'"\\'"\\'s $(here)\\''
    >>> shell_value(True), shell_value(4), shell_value(0.5)
    ('true', '4', '0.5')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return shlex.quote(value)


def render(
    function: Function, values: Mapping[str, Value], resources: Mapping[str, Any]
) -> Rendered:
    """The job script of ``function`` called with checked ``values`` and resolved ``resources``."""
    # A shellcheck directive right after the shebang covers the whole file: SC2034,
    # not every template uses every value; SC2016, SC1003, SC1111 and SC1112, a
    # single-quoted value holding '$', '`', a trailing backslash or a curly quote is
    # meant literally (that is the quoting's purpose).
    lines = ["#!/bin/bash", f"# shellcheck disable={SHELLCHECK_DISABLED}"]
    for key, flag in _SBATCH_FLAGS.items():
        value = resources.get(key)
        if value is None or (key == "gpus" and value == 0):
            continue
        lines.append(f"#SBATCH {flag}={value}")
    lines.extend(f"#SBATCH {option}" for option in resources.get("extra", ()))
    lines.append(
        f"# FlowCron function {function.name} {function.version} "
        f"(sha256 {function.sha256[:16]}), rendered by the agent."
    )
    lines.append("# The values below were checked and quoted by FlowCron; the template follows.")
    if function.site:
        lines.append("# site settings")
        lines.extend(f"{name}={shell_value(value)}" for name, value in function.site.items())
    if function.params:
        lines.append("# parameters")
        lines.extend(f"{p.name}={shell_value(values[p.name])}" for p in function.params)
    lines.append(f"# -- template of {function.name} --")
    body = function.template
    if body.startswith("#!"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
    script = "\n".join(lines) + "\n" + body
    if not script.endswith("\n"):
        script += "\n"
    return Rendered(script, dict(resources))
