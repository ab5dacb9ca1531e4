"""A UoW's call of a published function: its ``job.toml``, checked and rendered.

``job.toml`` at the UoW's root::

    function = "relion-class3d"

    [params]
    particles = "particles.star"
    classes = 4

:func:`prepare_call` reports every problem at once (an unknown function with
the list of published ones, a broken function, each parameter problem), each
saying what to write instead, and otherwise returns the rendered job.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.functions.params import Value, check_values, suggest
from hpc_agent.functions.render import Rendered, render
from hpc_agent.functions.spec import Function, Library, resolve_resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

MAX_JOB_FILE_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class FunctionCall:
    """A checked call: the function, the values (defaults filled in) and the rendered job.

    ``rendered`` is None when the function came from a catalogue (``flowgen
    uow check``), which carries no template.
    """

    function: Function
    values: dict[str, Value]
    resources: dict[str, Any]
    rendered: Rendered | None

    def describe(self) -> dict[str, Any]:
        """What the report says about the call: name, version, files' hash, values, resources."""
        return {
            "name": self.function.name,
            "version": self.function.version,
            "sha256": self.function.sha256,
            "params": dict(self.values),
            "resources": dict(self.resources),
        }


def read_job_file(uow: Path) -> tuple[str | None, dict[str, object], list[str]]:
    """(function name, the ``[params]`` table, problems) of ``uow``'s ``job.toml``."""
    path = uow / protocol.JOB_FILE
    try:
        if path.is_symlink() or not path.is_file():
            return (
                None,
                {},
                [f"'{protocol.JOB_FILE}' must be a regular file, not a link or folder."],
            )
        if path.stat().st_size > MAX_JOB_FILE_BYTES:
            return None, {}, [f"'{protocol.JOB_FILE}' is larger than {MAX_JOB_FILE_BYTES} bytes."]
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        return (
            None,
            {},
            [f"'{protocol.JOB_FILE}' is not UTF-8 text (byte {exc.start}); save it as UTF-8."],
        )
    except tomllib.TOMLDecodeError as exc:
        return None, {}, [f"'{protocol.JOB_FILE}' is not valid TOML: {exc}."]
    except OSError as exc:
        return None, {}, [f"'{protocol.JOB_FILE}' cannot be read ({exc.strerror})."]
    problems: list[str] = []
    for key in data:
        if key not in ("function", "params"):
            problems.append(
                f"'{protocol.JOB_FILE}': unknown key {key!r}{suggest(key, ['function', 'params'])}; "
                'it holds function = "NAME" and a [params] table.'
            )
    name = data.get("function")
    if not isinstance(name, str) or not name:
        problems.append(
            f"'{protocol.JOB_FILE}' must name the function to run: add function = \"NAME\"."
        )
        name = None
    params = data.get("params", {})
    if not isinstance(params, dict):
        problems.append(f"'{protocol.JOB_FILE}': params must be a table ([params]).")
        params = {}
    return name, params, problems


def prepare_call(uow: Path, library: Library) -> tuple[FunctionCall | None, list[str]]:
    """Read, check and render ``uow``'s function call; every problem at once."""
    name, given, problems = read_job_file(uow)
    if name is None:
        return None, problems
    function = library.functions.get(name)
    if function is None:
        problems.append(_unknown_function(name, library))
        return None, problems
    checked = check_values(function.params, given, uow / protocol.DATA_DIR)
    problems.extend(checked.problems)
    resources, resource_problems = resolve_resources(function, checked.values)
    problems.extend(resource_problems)
    if problems:
        return None, problems
    rendered = render(function, checked.values, resources) if function.template else None
    return FunctionCall(function, checked.values, resources, rendered), []


def _unknown_function(name: str, library: Library) -> str:
    if name in library.broken:
        return (
            f"The function {name!r} is broken on this instance, so it cannot run now; the "
            "instance's owner has been told in the agent's log. Try again once it is fixed."
        )
    published = library.names()
    listing = ", ".join(published) if published else "none"
    return (
        f"There is no function {name!r} on this instance{suggest(name, published)}. "
        f"Its functions are: {listing}. Fix function = \"...\" in '{protocol.JOB_FILE}'."
    )
