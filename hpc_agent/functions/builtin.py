"""The built-in library: ready-made functions an admin copies with ``hpc-agent function new --from``.

Each built-in is a folder ``library/<name>/`` shipped inside the package
(``function.toml``, ``template.sh`` and whatever else the function needs).
They are never run from here: an admin copies one into ``<base>/Functions/``,
reads it, fills in its ``[site]`` settings and checks it. The library is read
as package resources (:mod:`importlib.resources`), never through file system
paths, so it is found the same from a checkout, a wheel and inside the
one-file ``hpc-agent.pyz``. :data:`BUILTIN_DIR` is read at every call, so
tests can point it elsewhere (any directory :class:`~pathlib.Path` will do).
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Final

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # importlib.abc's is deprecated from 3.12 on
    from importlib.abc import Traversable

from hpc_agent.functions.spec import FUNCTION_FILE, FUNCTION_NAME_RE

BUILTIN_DIR: Traversable = resources.files("hpc_agent.functions").joinpath("library")
"""Where the built-in functions live, one folder each (a package resource, maybe inside a zip)."""

MAX_BUILTIN_FILES: Final = 100

EXAMPLE_FILE: Final = "example.toml"
"""A built-in's example call (a ``job.toml``); its ``function = "..."`` is renamed too."""

_TABLE_LINE: Final = re.compile(r"^\s*\[")


def builtin_names() -> list[str]:
    """The built-in functions' names, sorted: folders of :data:`BUILTIN_DIR` with a ``function.toml``."""
    try:
        entries = list(BUILTIN_DIR.iterdir())
    except OSError:
        return []
    return sorted(
        entry.name
        for entry in entries
        if FUNCTION_NAME_RE.match(entry.name)
        and not _is_link(entry)
        and entry.is_dir()
        and entry.joinpath(FUNCTION_FILE).is_file()
    )


def builtin_files(builtin: str) -> dict[str, bytes]:
    """The regular files of the built-in ``builtin`` (name -> contents); links and folders skipped."""
    folder = BUILTIN_DIR.joinpath(builtin)
    files: dict[str, bytes] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(".") or _is_link(entry) or not entry.is_file():
            continue
        if len(files) >= MAX_BUILTIN_FILES:
            break
        files[entry.name] = entry.read_bytes()
    return files


def _is_link(entry: Traversable) -> bool:
    # Only a real directory has links; a zip archive's members never are.
    return isinstance(entry, Path) and entry.is_symlink()


def renamed_spec(text: str, name: str, key: str = "name") -> str:
    """TOML text with its top-level ``key = "..."`` (``name`` by default) set to ``name``.

    Comments and layout stay as they are; a file without that key at the
    top level gets it as its first line.

    >>> renamed_spec('# x\\nname = "relion"  # folder\\n[params.a]\\nname = "b"\\n', "mine")
    '# x\\nname = "mine"  # folder\\n[params.a]\\nname = "b"\\n'
    """
    pattern = re.compile(rf'^(\s*{re.escape(key)}\s*=\s*)(["\']).*?\2(.*)$')
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if _TABLE_LINE.match(line):
            break
        match = pattern.match(line.rstrip("\r\n"))
        if match:
            ending = line[len(line.rstrip("\r\n")) :]
            lines[index] = f'{match.group(1)}"{name}"{match.group(3)}{ending}'
            return "".join(lines)
    return f'{key} = "{name}"\n' + text


def copy_builtin(builtin: str, target: Path, name: str) -> list[str]:
    """Copy the built-in ``builtin`` to the new folder ``target``, named ``name``; its file names.

    ``function.toml``'s name (and the function an ``example.toml`` calls) is
    rewritten to ``name``. ``target`` must not exist (FileExistsError): an
    admin's folder is never overwritten.
    """
    files = builtin_files(builtin)
    for file_name, key in ((FUNCTION_FILE, "name"), (EXAMPLE_FILE, "function")):
        if file_name in files:
            text = files[file_name].decode("utf-8")
            files[file_name] = renamed_spec(text, name, key).encode("utf-8")
    create_folder(target, files)
    return sorted(files)


def create_folder(target: Path, files: Mapping[str, bytes]) -> None:
    """Create ``target`` (which must not exist) holding ``files``; nothing is left on failure.

    The folder is created first, exclusively, so two admins (or an admin and
    an existing folder) can never write into the same one.
    """
    target.mkdir()
    try:
        for file_name, data in files.items():
            with open(target / file_name, "xb") as handle:
                handle.write(data)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
