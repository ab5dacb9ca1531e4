"""The marker file that lets the agent recognise a UoW whose folder someone moved.

At admission the agent writes :data:`protocol.UOW_MARKER` into the UoW with
the instance name, the UoW's name and a random token that its job record
also keeps. A folder renamed inside ``CodeToRun/slurm/`` (by a person, or by
the job itself) or moved back into ``UploadedFiles/`` while its job runs still
holds the marker, so the tick finds it, puts it back where its record says,
and never takes it for a new upload that needs a second job. Finalize removes
the marker before the hand-back, so researchers never see it in their folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import uuid
from pathlib import Path

from hpc_agent import protocol
from hpc_agent.fs.atomicio import write_bytes_atomic
from hpc_agent.text import json_bytes

MAX_MARKER_BYTES = 4096
"""A bigger file at the marker's name is not ours."""


def new_token() -> str:
    """A fresh random token for a UoW's record and marker."""
    return uuid.uuid4().hex


def write_marker(uow_dir: Path, *, instance: str, uow: str, token: str) -> None:
    """Put the marker into ``uow_dir`` (atomically; replaces a stale one)."""
    body = {"instance": instance, "uow": uow, "token": token}
    # Not fsynced: a marker a power loss takes (or leaves empty) reads as no marker,
    # which costs only the move detection of that one UoW, never a job or a file.
    write_bytes_atomic(
        uow_dir / protocol.UOW_MARKER, json_bytes(body) + b"\n", mode=0o640, durable=False
    )


def read_token(uow_dir: Path, instance: str) -> str | None:
    """The token in ``uow_dir``'s marker when it is this instance's, else None.

    Never follows a symlink; anything that is not a small regular file with
    the expected content counts as no marker.
    """
    try:
        fd = os.open(uow_dir / protocol.UOW_MARKER, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = json.loads(os.read(fd, MAX_MARKER_BYTES))
    except (OSError, ValueError, RecursionError):  # RecursionError: "[[[[..." as a marker
        return None
    finally:
        os.close(fd)
    if not isinstance(data, dict) or data.get("instance") != instance:
        return None
    token = data.get("token")
    return token if isinstance(token, str) and token else None


def remove_marker(uow_dir: Path) -> None:
    """Remove the marker (idempotent; a directory of that name is the user's and stays)."""
    path = uow_dir / protocol.UOW_MARKER
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            path.unlink()
