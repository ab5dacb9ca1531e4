"""The descriptor-based tree walk: any depth, links judged as the kernel follows them."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpc_agent.fs.treewalk import TreeWalk, add_bits_at, link_escapes

PATH_MAX = os.pathconf("/", "PC_PATH_MAX")


@contextlib.contextmanager
def deep_tree(top: Path, depth: int, name_len: int = 30) -> Iterator[int]:
    """Make ``depth`` nested folders under ``top`` (beyond PATH_MAX); yield the deepest, open."""
    top.mkdir(parents=True, exist_ok=True)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(depth):
            name = f"{level:04d}".ljust(name_len, "d")
            os.mkdir(name, dir_fd=fd)
            deeper = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = deeper
        yield fd
    finally:
        os.close(fd)


def write_at(dir_fd: int, name: str, data: bytes = b"x") -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dir_fd)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_the_walk_reaches_the_bottom_of_a_tree_deeper_than_path_max(tmp_path: Path) -> None:
    uow = tmp_path / "uow"
    with deep_tree(uow, 250) as bottom:
        write_at(bottom, "result.txt")
        os.symlink("/etc/hostname", "outside", dir_fd=bottom)
        os.symlink("result.txt", "inside", dir_fd=bottom)
    found: dict[str, bool] = {}
    deepest = ""
    with TreeWalk(uow) as walk:
        for entry in walk:
            assert entry.error is None, entry
            deepest = max(deepest, entry.rel, key=len)
            if entry.is_link:
                found[entry.name] = link_escapes(entry.dir_fd, entry.name, walk.root_ident)
            elif entry.name == "result.txt":
                found[entry.name] = entry.info.st_size == 1
    assert found == {"outside": True, "inside": False, "result.txt": True}
    assert deepest.count("/") == 250 and len(deepest) > PATH_MAX
    # What the old path-based walk ran into down there:
    with pytest.raises(OSError) as caught:
        os.lstat(uow / deepest)
    assert caught.value.errno == errno.ENAMETOOLONG


def test_the_walk_keeps_one_directory_open_whatever_the_depth(tmp_path: Path) -> None:
    uow = tmp_path / "uow"
    with deep_tree(uow, 300, name_len=4):
        pass
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc to count open descriptors")
    before = sum(1 for _ in fds.iterdir())
    most = 0
    with TreeWalk(uow) as walk:
        for _ in walk:
            most = max(most, sum(1 for _ in fds.iterdir()) - before)
    assert most <= 2  # the walk's one directory (+ the listing's own, while it counts)


def test_links_are_resolved_as_the_kernel_follows_them(tmp_path: Path) -> None:
    uow = tmp_path / "uow"
    (uow / "data").mkdir(parents=True)
    (uow / "data" / "input.txt").write_text("1 2 3\n")
    (uow / "a" / "b").mkdir(parents=True)
    links = {
        "data/same": "input.txt",
        "data/up-and-back": "../data/input.txt",
        "data/top": "..",
        "data/abs-inside": str(uow / "data" / "input.txt"),
        "data/not-yet": "later/out.txt",
        "data/through-a-file": "input.txt/../..",
        "data/loop": "loop",
        "here": ".",
        "a/b/x": "../..",  # the UoW itself
        "data/escape": "../..",
        "data/abs-outside": "/etc/hostname",
        "data/dangling-outside": "../../nowhere/x",
        # Text says a/b + x/../.. = a (inside); the kernel goes uow -> its parent.
        "a/b/y": "x/../..",
    }
    for rel, target in links.items():
        (uow / rel).symlink_to(target)
    verdicts = {}
    with TreeWalk(uow) as walk:
        for entry in walk:
            if entry.is_link:
                verdicts[entry.rel] = link_escapes(entry.dir_fd, entry.name, walk.root_ident)
    outside = {"data/escape", "data/abs-outside", "data/dangling-outside", "a/b/y"}
    assert verdicts == {rel: rel in outside for rel in links}


def test_the_walk_never_enters_a_symlinked_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "deep").mkdir(parents=True)
    uow = tmp_path / "uow"
    uow.mkdir()
    (uow / "link").symlink_to(elsewhere)
    with TreeWalk(uow) as walk:
        seen = [entry.rel for entry in walk]
    assert seen == ["link"]
    with pytest.raises(OSError):
        TreeWalk(uow / "link")


def test_a_mode_is_never_changed_through_a_hard_link_or_a_symlink(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    secret.chmod(0o600)
    data = tmp_path / "uow" / "data"
    data.mkdir(parents=True)
    os.link(secret, data / "ref")
    (data / "link").symlink_to(secret)
    (data / "own.txt").write_text("mine")
    (data / "own.txt").chmod(0o600)
    fd = os.open(data, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert add_bits_at(fd, "ref", 0o060) is False
        assert add_bits_at(fd, "link", 0o060) is False
        assert add_bits_at(fd, "own.txt", 0o060) is True
    finally:
        os.close(fd)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "own.txt").stat().st_mode) == 0o660


def test_owner_bits_are_added_only_to_what_the_agent_owns(tmp_path: Path) -> None:
    box = tmp_path / "box"
    box.mkdir()
    (box / "locked").mkdir(mode=0o500)
    fd = os.open(box, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert add_bits_at(fd, "locked", 0o070, owner_bits=stat.S_IRWXU)
    finally:
        os.close(fd)
    assert stat.S_IMODE((box / "locked").stat().st_mode) == 0o770
