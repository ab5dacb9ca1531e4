"""Who started the run that uploaded a UoW: the flow's ``flowcron-starter/<username>/`` marker.

See :data:`hpc_agent.protocol.STARTER_DIR` for the layout and its limits.
Reading never raises and never follows a link; :func:`remove_marker` only
ever removes the two empty folders the flow made, so nothing of the user's
is lost even when someone made the marker by hand.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from hpc_agent import protocol


@dataclass(frozen=True)
class Starter:
    """The starter of a UoW's run, and a note for the report when the marker was odd."""

    user: str
    note: str | None = None

    @property
    def known(self) -> bool:
        """Whether the flow named the starter (not ``unknown``)."""
        return self.user != protocol.UNKNOWN_STARTER


def read_starter(uow: Path) -> Starter:
    """The starter named by ``uow``'s marker; ``unknown`` (with a note if odd) otherwise."""
    marker = uow / protocol.STARTER_DIR
    if not _is_dir(marker):
        if os.path.lexists(marker):
            return _unknown(f"'{protocol.STARTER_DIR}' is not a folder")
        return Starter(protocol.UNKNOWN_STARTER)
    try:
        with os.scandir(marker) as scan:
            names = sorted(entry.name for entry in scan)
    except OSError as exc:
        return _unknown(f"'{protocol.STARTER_DIR}/' cannot be read ({exc.strerror})")
    if len(names) != 1:
        return _unknown(f"'{protocol.STARTER_DIR}/' holds {len(names)} entries, not one")
    name = names[0]
    if not protocol.STARTER_NAME_RE.match(name) or not _is_dir(marker / name):
        return _unknown(f"'{protocol.STARTER_DIR}/' holds something that is not a starter's name")
    return Starter(name)


def remove_marker(uow: Path) -> None:
    """Remove the marker's two folders when they are empty (never anything else)."""
    marker = uow / protocol.STARTER_DIR
    if not _is_dir(marker):
        return
    try:
        with os.scandir(marker) as scan:
            children = [Path(entry.path) for entry in scan]
    except OSError:
        return
    for child in children:
        try:
            child.rmdir()  # fails, harmlessly, unless it is an empty folder
        except OSError:
            return
    with contextlib.suppress(OSError):
        marker.rmdir()


def _unknown(why: str) -> Starter:
    return Starter(
        protocol.UNKNOWN_STARTER,
        f"The run's starter could not be read ({why}); the Unit of Work is attributed to "
        f"'{protocol.UNKNOWN_STARTER}'.",
    )


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
