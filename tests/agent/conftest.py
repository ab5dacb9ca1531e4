"""Shared helpers for the agent's tests: instance configs and Units of Work on disk."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hpc_agent.config import InstanceConfig

SCRIPT = "#!/bin/bash\n#SBATCH --time=00:01:00\n#SBATCH --ntasks=1\n\necho hello > data/out.txt\n"


@pytest.fixture
def cfg(tmp_path: Path) -> InstanceConfig:
    """A valid instance config whose base directory is a fresh temporary directory."""
    base = tmp_path / "instance"
    base.mkdir()
    return InstanceConfig(name="proj", base_dir=base.resolve(), account="acct", qos="normal")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private HOME (and no XDG_CONFIG_HOME) so registry writes stay in the test."""
    home_dir = tmp_path / "home"
    home_dir.mkdir()
    monkeypatch.setenv("HOME", str(home_dir))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    yield home_dir


def make_uow(
    parent: Path,
    name: str = "sample",
    *,
    script: str | bytes | None = SCRIPT,
    script_name: str = "submission_script.sh",
    sentinels: bool = True,
) -> Path:
    """A well-formed, fully uploaded UoW under ``parent``; callers then break it."""
    uow = parent / name
    (uow / "data").mkdir(parents=True)
    (uow / "scripts").mkdir()
    (uow / "data" / "input.txt").write_text("1 2 3\n")
    if script is not None:
        target = uow / "scripts" / script_name
        if isinstance(script, bytes):
            target.write_bytes(script)
        else:
            target.write_text(script)
    if sentinels:
        (uow / "sentinels").mkdir()
    return uow


MakeUow = Callable[..., Path]


@pytest.fixture(name="make_uow")
def make_uow_fixture() -> MakeUow:
    """The :func:`make_uow` builder, as a fixture so test modules need no imports."""
    return make_uow


FAKE_CRONTAB = """#!/bin/sh
# Test double for the system `crontab`: keeps the table in $FLOWCRON_TEST_CRONTAB.
table="$FLOWCRON_TEST_CRONTAB"
if [ "$1" = "-l" ]; then
    if [ -f "$table" ]; then cat "$table"; exit 0; fi
    echo "no crontab for tester" >&2
    exit 1
fi
cp "$1" "$table"
"""


@pytest.fixture
def fake_crontab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the machine's ``crontab`` command, first on PATH.

    It stores the table in a temporary file (returned), so tests never touch
    the real user's crontab.
    """
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    tool = bindir / "crontab"
    tool.write_text(FAKE_CRONTAB)
    tool.chmod(0o755)
    table = tmp_path / "crontab.txt"
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    monkeypatch.setenv("FLOWCRON_TEST_CRONTAB", str(table))
    return table
