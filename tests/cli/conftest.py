"""Shared fixtures for command-line tests: the real ``flowgen`` app, fully registered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from flowgen.cli import _register, app

DATA = Path(__file__).parent.parent / "data" / "flows"


@pytest.fixture(scope="session")
def flowgen_app() -> typer.Typer:
    """The ``flowgen`` app with every command module registered, as ``main()`` does."""
    _register()
    return app


@pytest.fixture
def runner() -> CliRunner:
    """A CliRunner; stdout and stderr are available separately on the result."""
    return CliRunner()


@pytest.fixture
def write_json(tmp_path: Path) -> Any:
    """Write a JSON document into the test's directory and return its path."""

    def _write(name: str, data: object) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        return path

    return _write
