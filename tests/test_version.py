"""One version for the distribution: pyproject.toml reads it from hpc_agent, flowgen reuses it."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import flowgen
import hpc_agent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_the_installed_metadata_flowgen_and_the_agent_share_one_version() -> None:
    # A mismatch with the metadata means the checkout changed the version after
    # `make install`: install again (pip reads it from hpc_agent/__init__.py).
    assert importlib.metadata.version("flowcron") == hpc_agent.__version__
    assert flowgen.__version__ == hpc_agent.__version__


def test_pyproject_does_not_state_a_version_of_its_own() -> None:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        pyproject = tomllib.load(handle)
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    dynamic = pyproject["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "hpc_agent.__version__"}
