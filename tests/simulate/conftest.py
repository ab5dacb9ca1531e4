"""Shared fixtures: two temp-dir collections and a one-call flow runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowgen.simulate import RunResult, SimulatorOptions, simulate

from .support import HPC, LAPTOP, START, Runner


@pytest.fixture
def laptop(tmp_path: Path) -> Path:
    root = tmp_path / "laptop"
    root.mkdir()
    return root


@pytest.fixture
def hpc(tmp_path: Path) -> Path:
    root = tmp_path / "hpc"
    root.mkdir()
    return root


@pytest.fixture
def run(laptop: Path, hpc: Path) -> Runner:
    """Run a definition (or a dict of states starting at the first) with both collections."""

    def runner(definition: dict[str, Any], run_input: Any = None, **kwargs: Any) -> RunResult:
        if "States" not in definition:
            definition = {"StartAt": next(iter(definition)), "States": definition}
        kwargs.setdefault("options", SimulatorOptions(start_time=START))
        return simulate(
            definition,
            {} if run_input is None else run_input,
            collections=kwargs.pop("collections", {LAPTOP: laptop, HPC: hpc}),
            **kwargs,
        )

    return runner
