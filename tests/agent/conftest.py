"""Shared helpers for the agent's tests: instance configs and Units of Work on disk."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpc_agent.config import InstanceConfig
from tests.agent.helpers import MakeUow, make_uow


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
