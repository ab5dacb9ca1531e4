"""Constants for the command-line tests (imported by module path)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent.parent / "data" / "flows"
"""The sample flow documents under tests/data/flows."""
