"""Small builders for definitions in validator tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from flowgen.core.findings import Finding
from flowgen.validate import validate_definition

FLOWS = Path(__file__).parent / "flows"
DROP = object()
"""Pass as a field value to remove that field from a builder's default."""


def load_flow(name: str) -> Any:
    """A realistic flow from tests/validate/flows/."""
    return json.loads((FLOWS / name).read_text(encoding="utf-8"))


def _merge(base: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in fields.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def action(**fields: Any) -> dict[str, Any]:
    """A valid terminal stat Action, with ``fields`` replaced or dropped."""
    base = {
        "Type": "Action",
        "ActionUrl": "https://transfer.actions.globus.org/stat",
        "Parameters": {"endpoint_id.$": "$.source.id", "path.$": "$.source.path"},
        "ResultPath": "$.Stat",
        "End": True,
    }
    return _merge(base, fields)


def pass_state(**fields: Any) -> dict[str, Any]:
    """A valid terminal Pass state, with ``fields`` replaced or dropped."""
    return _merge({"Type": "Pass", "End": True}, fields)


def flow(*named: tuple[str, dict[str, Any]], start: str | None = None) -> dict[str, Any]:
    """A definition from ``(name, state)`` pairs; StartAt is the first unless given."""
    return {"StartAt": start or named[0][0], "States": dict(named)}


def single(state: dict[str, Any]) -> dict[str, Any]:
    """A definition whose only state, 'Only', is ``state``."""
    return flow(("Only", state))


def located(findings: list[Finding]) -> set[tuple[str, str]]:
    """The findings as ``(code, path)`` pairs."""
    return {(f.code, f.path) for f in findings}


def codes(findings: list[Finding]) -> set[str]:
    """The codes among ``findings``."""
    return {f.code for f in findings}


def check(definition: object) -> list[Finding]:
    """Validate a definition (a shorthand for tests)."""
    return validate_definition(definition)


def message(findings: list[Finding], code: str) -> str:
    """The message of the one finding with ``code``."""
    found = [f.message for f in findings if f.code == code]
    assert len(found) == 1, findings
    return found[0]
