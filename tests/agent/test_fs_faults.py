"""A full disk, a read-only file system, an unusable Logs/: one line, no traceback, nothing moved.

These mount a small private tmpfs, so they need root (as CI runs); elsewhere
they skip, except under CI=true, where a skip would hide a regression.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig, save_instance
from tests.agent.helpers import make_uow
from tests.agent.slurm_helpers import REPO


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs under CI: {result.stderr}")
        pytest.skip(f"mounting a tmpfs needs root: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _instance(base: Path) -> InstanceConfig:
    cfg = InstanceConfig(name="fsfault", base_dir=base, executor="local", schedule="none")
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    save_instance(cfg)
    return cfg


def _tick(cfg: InstanceConfig) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpc_agent", "tick", str(cfg.base_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
        check=False,
    )


def _assert_one_line_and_nothing_moved(
    result: subprocess.CompletedProcess[str], cfg: InstanceConfig, what: str
) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and what in lines[0], result.stderr
    assert (cfg.path(protocol.UPLOADED) / "u" / "data" / "input.txt").read_text() == "1 2 3\n"
    assert list(cfg.path(protocol.RUNNING).iterdir()) == []


def test_a_full_disk_is_one_line_and_nothing_moves(small_fs: Path) -> None:
    cfg = _instance(small_fs / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "u")
    with contextlib.suppress(OSError), (small_fs / "filler").open("wb") as filler:
        while True:
            filler.write(b"\0" * 65536)
    _assert_one_line_and_nothing_moved(_tick(cfg), cfg, "No space left on device")


def test_a_read_only_file_system_is_one_line_and_nothing_moves(small_fs: Path) -> None:
    cfg = _instance(small_fs / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "u")
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    _assert_one_line_and_nothing_moved(_tick(cfg), cfg, "Read-only file system")


def test_logs_that_is_not_a_folder_is_one_line_and_nothing_moves(tmp_path: Path) -> None:
    cfg = _instance(tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "u")
    cfg.path(protocol.LOGS).rmdir()
    cfg.path(protocol.LOGS).write_text("not a folder\n")
    _assert_one_line_and_nothing_moved(_tick(cfg), cfg, "Logs")
