"""Walk a directory tree through file descriptors: any depth, never through a symlink.

A path string stops working past PATH_MAX (4096 bytes on Linux): ``os.lstat``
fails with ENAMETOOLONG, and ``os.path.realpath`` then resolves the rest as
plain text. A job can build a tree that deep in a second. Everything here works
relative to an open directory instead:

* :class:`TreeWalk` keeps one directory open at a time (it climbs back up
  through ``..``, checked against the directory it came from) and opens
  nothing through a symlink, so there is no depth limit and no way out;
* :func:`link_escapes` resolves a symlink one component at a time, as the
  kernel does, so ``..`` after another link and very long paths are judged
  right;
* :func:`add_bits_at` changes a mode without following a link, and refuses a
  file with more than one hard link (its other name may be outside the tree).

Standard library only.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

O_DIR: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
"""``os.open`` flags for reading a directory that is not a symlink."""
_O_PATH: Final = getattr(os, "O_PATH", 0)
"""Linux: a descriptor for looking up and stat-ing only, whatever the file's permissions."""
_O_LOOKUP: Final = (_O_PATH or os.O_RDONLY) | os.O_CLOEXEC
_MAX_LINKS: Final = 40
"""The kernel's own limit on symlinks in one path look-up (beyond it: ELOOP)."""
_EFFECTIVE_IDS: Final = os.access in os.supports_effective_ids

Ident = tuple[int, int]
"""(st_dev, st_ino): which directory a descriptor is, whatever its name."""


def ident(info: os.stat_result) -> Ident:
    """The identity of a stat result: its device and inode numbers."""
    return (info.st_dev, info.st_ino)


class TreeChanged(OSError):
    """A directory was moved while the walk was inside it; the walk cannot go on safely."""


@dataclass
class Entry:
    """One entry below the root, as :class:`TreeWalk` found it.

    ``dir_fd`` is its parent directory, open until the walk moves on; ``rel``
    its path from the root (``a/b/c``); ``info`` its ``lstat``. A directory
    is visited before the walk goes into it, so a caller can fix its mode
    first, or set ``descend`` to False to skip it. When the walk cannot go
    into a directory, it yields the directory once more with ``error`` set
    (and ``dir_fd`` -1).
    """

    dir_fd: int
    name: str
    rel: str
    info: os.stat_result
    error: OSError | None = None
    descend: bool = True

    @property
    def is_dir(self) -> bool:
        """A real directory (never a symlink to one)."""
        return stat.S_ISDIR(self.info.st_mode)

    @property
    def is_link(self) -> bool:
        """A symlink."""
        return stat.S_ISLNK(self.info.st_mode)


@dataclass
class _Level:
    names: list[str]
    rel: str
    ident: Ident
    info: os.stat_result
    next: int = field(default=0)


class TreeWalk:
    """The entries below ``root``, depth first, each with its parent directory open.

    Opening the walk raises ``OSError`` when ``root`` is a symlink or cannot be
    read. Use it as a context manager (or call :meth:`close`) so the open
    directory is closed when a caller stops early::

        with TreeWalk(path) as walk:
            for entry in walk:
                ...

    Iterating raises :class:`TreeChanged` when a directory the walk is in was
    moved meanwhile, and ``OSError`` when it cannot climb back up.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._fd = os.open(root, O_DIR)
        try:
            self.root_info = os.fstat(self._fd)
            if not _may_search(".", self._fd):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(root))
            names = _names(self._fd)
        except BaseException:
            os.close(self._fd)
            raise
        self.root_ident: Ident = ident(self.root_info)
        self._entries = self._walk(_Level(names, "", self.root_ident, self.root_info))

    def __enter__(self) -> TreeWalk:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Entry]:
        return self._entries

    def close(self) -> None:
        """Stop the walk and close its directory (idempotent)."""
        self._entries.close()
        if self._fd != -1:
            os.close(self._fd)
            self._fd = -1

    def _walk(self, top: _Level) -> Generator[Entry, None, None]:
        levels = [top]
        while levels:
            level = levels[-1]
            if level.next == len(level.names):
                levels.pop()
                if levels:
                    self._climb(levels[-1])
                continue
            name = level.names[level.next]
            level.next += 1
            rel = f"{level.rel}/{name}" if level.rel else name
            try:
                info = os.stat(name, dir_fd=self._fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since the listing
            except OSError as exc:
                # The directory itself cannot be searched any more: give up on it.
                level.next = len(level.names)
                here = level.rel or "."
                yield Entry(-1, here.rsplit("/", 1)[-1], here, level.info, exc)
                continue
            entry = Entry(self._fd, name, rel, info)
            yield entry
            if entry.is_dir and entry.descend:
                child = self._enter(entry)
                if isinstance(child, OSError):
                    yield Entry(-1, name, rel, info, child)
                else:
                    levels.append(child)

    def _enter(self, entry: Entry) -> _Level | OSError:
        """Open ``entry`` (a directory) and make it the current one, or say why not."""
        if not _may_search(entry.name, self._fd):
            return PermissionError(errno.EACCES, os.strerror(errno.EACCES), entry.rel)
        try:
            child = os.open(entry.name, O_DIR, dir_fd=self._fd)
        except OSError as exc:
            return exc
        try:
            info = os.fstat(child)
            if ident(info) != ident(entry.info):
                raise TreeChanged(errno.ESTALE, "replaced while it was being walked", entry.rel)
            names = _names(child)
        except OSError as exc:
            os.close(child)
            return exc
        os.close(self._fd)
        self._fd = child
        return _Level(names, entry.rel, ident(info), info)

    def _climb(self, parent: _Level) -> None:
        """Go back up to ``parent`` through ``..``, checking it is the same directory."""
        up = os.open("..", O_DIR, dir_fd=self._fd)
        os.close(self._fd)
        self._fd = up
        if ident(os.fstat(up)) != parent.ident:
            raise TreeChanged(errno.ESTALE, "moved while it was being walked", parent.rel or ".")


def _names(fd: int) -> list[str]:
    with os.scandir(fd) as entries:
        return sorted(e.name for e in entries)


def _may_search(name: str, dir_fd: int) -> bool:
    """Whether this process may list and enter directory ``name`` (so it can come back out)."""
    if not _EFFECTIVE_IDS:  # pragma: no cover - every POSIX system the agent runs on has it
        return True
    return os.access(
        name, os.R_OK | os.X_OK, dir_fd=dir_fd, effective_ids=True, follow_symlinks=False
    )


def link_escapes(dir_fd: int, name: str, root: Ident) -> bool:
    """Whether the symlink ``name`` in directory ``dir_fd`` leads outside the tree ``root``.

    ``root`` is the identity of the tree's top directory (:attr:`TreeWalk.root_ident`).
    The target is resolved one component at a time from the link's own
    directory, as the kernel would, so links inside the target and paths past
    PATH_MAX are judged right. The part of a dangling target that does not
    exist is taken as text, as ``os.path.realpath`` does. A chain of more
    links than the kernel follows leads nowhere (False). A target the agent
    cannot examine counts as outside: in doubt, the link is not trusted.
    Only looks: nothing is opened for reading or changed.
    """
    try:
        target = os.readlink(name, dir_fd=dir_fd)
        start = os.open(".", _O_LOOKUP | os.O_DIRECTORY, dir_fd=dir_fd)
    except OSError:
        return True
    try:
        inside, last = _resolve(start, target, root)
    except OSError:
        return True
    os.close(last)
    return not inside


# One loop over the path, as the kernel walks it, is easier to check for escapes
# than the same steps spread over helpers.
def _resolve(cur: int, target: str, root: Ident) -> tuple[bool, int]:  # noqa: PLR0912
    """Follow ``target`` from directory ``cur``: (ends inside ``root``, the last directory).

    ``cur`` is consumed: it is closed on an error, else the caller closes the
    descriptor returned.
    """
    holder = [cur]

    def move(name: str) -> Ident:
        new = os.open(name, _O_LOOKUP | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=holder[0])
        os.close(holder[0])
        holder[0] = new
        return ident(os.fstat(new))

    inside = True
    parts = deque(target.split("/"))
    links = 0
    missing = 0  # components below the current directory that do not exist
    try:
        if target.startswith("/"):
            inside = move("/") == root
        while parts:
            part = parts.popleft()
            if part in ("", "."):
                continue
            if missing:
                missing += -1 if part == ".." else 1
                continue
            if part == "..":
                if ident(os.fstat(holder[0])) == root:
                    inside = False
                inside = move("..") == root or inside
                continue
            try:
                info = os.stat(part, dir_fd=holder[0], follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                missing = 1
                continue
            if stat.S_ISLNK(info.st_mode):
                links += 1
                if links > _MAX_LINKS:
                    return True, holder[0]  # the kernel refuses such a path: it reaches nothing
                more = os.readlink(part, dir_fd=holder[0])
                parts.extendleft(reversed(more.split("/")))
                if more.startswith("/"):
                    inside = move("/") == root
            elif stat.S_ISDIR(info.st_mode):
                inside = move(part) == root or inside
            else:
                missing = 1  # a file in the middle of a path: nothing is below it
    except BaseException:
        os.close(holder[0])
        holder[0] = -1
        raise
    return inside, holder[0]


def add_bits_at(
    dir_fd: int,
    name: str,
    bits: int,
    *,
    owner_bits: int = 0,
    seen: os.stat_result | None = None,
) -> bool:
    """Add ``bits`` (and ``owner_bits`` when this process owns it) to ``name``'s mode.

    ``name`` is looked up in directory ``dir_fd`` without following a symlink,
    and the mode is changed on exactly the inode that was checked. Returns
    False, changing nothing, for a symlink or for a non-directory with more
    than one hard link (its other name may be anywhere on the file system,
    e.g. a job's ``ln $SECRET data/ref``). Raises ``OSError`` when the mode
    cannot be changed. ``seen`` is the entry's ``lstat`` from a walk: when it
    shows nothing to do, no system call is made.
    """
    if seen is not None:
        mode = _wanted_mode(seen, bits, owner_bits)
        if mode is None:
            return False
        if mode == stat.S_IMODE(seen.st_mode):
            return True
    if _O_PATH:
        fd = os.open(name, _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            info = os.fstat(fd)
            mode = _wanted_mode(info, bits, owner_bits)
            if mode is None:
                return False
            if mode != stat.S_IMODE(info.st_mode):
                try:
                    # The inode behind the descriptor, not whatever the name is now.
                    Path(f"/proc/self/fd/{fd}").chmod(mode)
                    return True
                except FileNotFoundError:
                    pass  # no /proc here: change it by name (below)
            else:
                return True
        finally:
            os.close(fd)
    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    mode = _wanted_mode(info, bits, owner_bits)
    if mode is None:
        return False
    if mode != stat.S_IMODE(info.st_mode):
        try:
            os.chmod(name, mode, dir_fd=dir_fd, follow_symlinks=False)
        except NotImplementedError:
            raise OSError(
                errno.ENOTSUP, "cannot change a mode here without following symlinks", name
            ) from None
    return True


def _wanted_mode(info: os.stat_result, bits: int, owner_bits: int) -> int | None:
    if stat.S_ISLNK(info.st_mode):
        return None
    if not stat.S_ISDIR(info.st_mode) and info.st_nlink > 1:
        return None
    extra = bits | (owner_bits if info.st_uid == os.geteuid() else 0)
    return stat.S_IMODE(info.st_mode) | extra


__all__ = [
    "O_DIR",
    "Entry",
    "Ident",
    "TreeChanged",
    "TreeWalk",
    "add_bits_at",
    "ident",
    "link_escapes",
]
