"""Where an upload stands, by the sentinel rule (:mod:`hpc_agent.protocol`).

Its own small module so that ``hpc-agent status`` reads upload states without
loading admission (:mod:`hpc_agent.uow.admission` re-exports it).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

from hpc_agent import protocol

UploadState = Literal["uploading", "ready", "bad-sentinels"]


def upload_state(uow: Path) -> UploadState:
    """Where the upload of ``uow`` stands, by the sentinel rule of :mod:`hpc_agent.protocol`.

    ``ready``: ``sentinels/`` is a real directory (the flow made it after the
    transfer succeeded). ``uploading``: no ``sentinels``. ``bad-sentinels``:
    something that is not a directory (a file, a symlink) has that name.
    """
    try:
        mode = os.lstat(uow / protocol.SENTINELS_DIR).st_mode
    except FileNotFoundError:
        return "uploading"
    return "ready" if stat.S_ISDIR(mode) else "bad-sentinels"


__all__ = ["UploadState", "upload_state"]
