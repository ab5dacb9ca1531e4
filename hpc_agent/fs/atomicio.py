# ruff: noqa: PTH105, PTH108, PTH116, PTH118
# (os calls on str paths: every record, script and marker is written here, several per
# UoW in a tick, and building Path objects for the temporary file costs more than the calls)
"""Write files so readers see the old content or the new, never half of either."""

from __future__ import annotations

import contextlib
import errno
import os
import random
from pathlib import Path

from hpc_agent.faults import crash_point

TEMP_SUFFIX = ".tmp"
"""Temporary files are ``.<target name>.<random>.tmp`` next to the target."""


_NAMES = random.Random()  # unique names, not secrets: O_EXCL settles a clash
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _create_temporary(path: Path, mode: int) -> tuple[int, str]:
    """Create ``.<name>.<8 random characters>.tmp`` beside ``path``, as :func:`tempfile.mkstemp`
    does, but with ``mode`` at once (less the umask): no ``chmod`` for a new file's usual bits.
    """
    for _ in range(100):
        random_part = "".join(_NAMES.choices(_NAME_CHARS, k=8))
        tmp = os.path.join(path.parent, f".{path.name}.{random_part}{TEMP_SUFFIX}")
        try:
            return os.open(tmp, _CREATE, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


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
    chmod = mode
    if chmod is None:
        # An existing file keeps its bits; a new one gets the umask's choice, as open() gives it.
        with contextlib.suppress(FileNotFoundError):
            chmod = os.stat(path).st_mode & 0o7777
    try:
        fd, tmp = _create_temporary(path, 0o666 if chmod is None else chmod & 0o777)
    except OSError as exc:
        # Name the file the caller asked for, not the temporary one it never saw.
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked (a signal, a full pipe)
                view = view[os.write(fd, view) :]
            if chmod is not None:
                os.fchmod(fd, chmod)  # bits the umask took away, and setuid/sticky bits
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if crash_name is not None:
            crash_point(crash_name)
        os.replace(tmp, path)
    except BaseException:
        # Never leave a half-written temporary file behind.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
