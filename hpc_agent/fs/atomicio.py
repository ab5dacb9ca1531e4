"""Write files so readers see the old content or the new, never half of either."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from hpc_agent.faults import crash_point

TEMP_SUFFIX = ".tmp"
"""Temporary files are ``.<target name>.<random>.tmp`` next to the target."""


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it.

    Setting and restoring it (the portable way) would, for that moment, give
    umask 0 to whatever another thread creates or starts meanwhile (the tick
    runs sbatch from several threads, and sbatch hands its umask to the job).
    """
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # pragma: no cover - kernels before 4.7, other systems
        umask = os.umask(0o077)
        os.umask(umask)
        return umask


def write_text_atomic(
    path: Path,
    text: str,
    *,
    mode: int | None = None,
    crash_name: str | None = None,
    durable: bool = True,
) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename.

    The rename is atomic only within one file system, hence the temporary file
    sits next to the target. ``mode`` sets the permission bits (default: the
    umask's choice for a new file, or the existing file's bits). ``durable``
    (the default) fsyncs the data before the rename, so a machine crash leaves
    the old content or the new; ``durable=False`` only for a file whose loss
    in a crash is repaired anyway (each caller says how), because the fsync
    is most of a small write's cost.
    """
    write_bytes_atomic(
        path, text.encode("utf-8"), mode=mode, crash_name=crash_name, durable=durable
    )


def write_bytes_atomic(
    path: Path,
    data: bytes,
    *,
    mode: int | None = None,
    crash_name: str | None = None,
    durable: bool = True,
) -> None:
    """Byte version of :func:`write_text_atomic`.

    ``crash_name`` names a crash point (:mod:`hpc_agent.faults`) between the
    written temporary file and the rename, where a kill leaves the temporary
    file behind: the tests prove the next tick cleans it up and never reads it.
    """
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~current_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        # Name the file the caller asked for, not the temporary one it never saw.
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        Path(tmp).chmod(mode)
        if crash_name is not None:
            crash_point(crash_name)
        Path(tmp).replace(path)
    except BaseException:
        # Never leave a half-written temporary file behind.
        Path(tmp).unlink(missing_ok=True)
        raise
