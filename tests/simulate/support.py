"""Constants and small builders shared by the simulator tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from flowgen.simulate import RunResult

LAPTOP = "6c54cade-bde5-45c1-bdea-f4bd71dba2cc"
HPC = "9d6d994a-6d04-11e5-ba46-22000b92c6ec"
TRANSFER = "https://transfer.actions.globus.org/"
START = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)

Runner = Callable[..., RunResult]
"""The ``run`` fixture's type: run a definition with both collections."""


def action(op: str, parameters: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An Action state calling a Transfer action, ending unless Next is given."""
    state = {"Type": "Action", "ActionUrl": TRANSFER + op, "Parameters": parameters}
    state.update(fields)
    if "Next" not in state:
        state["End"] = True
    return state
