"""Small, safe answers about names in a folder, shared by every step that moves things.

Each never follows a symlink and never raises for a folder that cannot be
read; :func:`free_name` never lets a move overwrite anything.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def free_name(directory: Path, name: str) -> Path:
    """``directory/name``, or ``name.1``, ``name.2``... when taken: never overwrite."""
    candidate = directory / name
    number = 0
    while os.path.lexists(candidate):
        number += 1
        candidate = directory / f"{name}.{number}"
    return candidate


def entry_names(directory: Path) -> list[str]:
    """The names in ``directory``, sorted; empty when it cannot be read."""
    try:
        with os.scandir(directory) as scan:
            return sorted(entry.name for entry in scan)
    except OSError:
        return []


def is_real_dir(path: Path) -> bool:
    """Whether ``path`` is a directory itself, not a symlink to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
