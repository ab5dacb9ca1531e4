"""Shared fixtures for command-line tests: the real ``flowgen`` app, fully registered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def write_json(tmp_path: Path) -> Any:
    """Write a JSON document into the test's directory and return its path."""

    def _write(name: str, data: object) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        return path

    return _write
