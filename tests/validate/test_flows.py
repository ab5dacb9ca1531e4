"""Realistic flows validate clean; the public API's promises."""

from __future__ import annotations

import copy
import doctest
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import flowgen.validate
from flowgen.core.findings import Severity
from flowgen.validate import RULES, principals, timestamps, validate_definition, validate_flow

from .helpers import FLOWS, load_flow

FLOW_FILES = sorted(p.name for p in FLOWS.glob("*.json"))


# The reference's worked example (docs' section 12) polls a stat result with
# no deadline: a real flow, and a real warning.
EXPECTED = {"worked_example.json": {("FG208", "$.States.Pause")}}


def test_the_realistic_flows_are_there() -> None:
    assert {
        "simple_transfer.json",
        "move.json",
        "ls_loop.json",
        "worked_example.json",
        "copy_then_end.json",
    } <= set(FLOW_FILES)


@pytest.mark.parametrize("name", FLOW_FILES)
def test_realistic_flows_have_only_their_expected_findings(name: str) -> None:
    findings = validate_definition(load_flow(name), file=name)
    assert {(f.code, f.path) for f in findings} == EXPECTED.get(name, set())
    assert all(f.severity is Severity.WARNING for f in findings)


def test_a_realistic_flow_with_typical_mistakes() -> None:
    definition = load_flow("move.json")
    delete = definition["States"]["DeleteSource"]["Parameters"]
    delete["endpoint_id.$"] = delete.pop("endpoint.$")
    definition["States"]["CopyData"]["Next"] = "DeleteSorce"
    findings = validate_definition(definition, file="move.json")
    assert [(f.file, f.path, f.code) for f in findings] == [
        ("move.json", "$.States.CopyData.Next", "FG202"),
        ("move.json", "$.States.DeleteFailed", "FG203"),
        ("move.json", "$.States.DeleteSource", "FG203"),
        ("move.json", "$.States.DeleteSource.Parameters['endpoint_id.$']", "FG502"),
        ("move.json", "$.States.Moved", "FG203"),
    ]
    assert "did you mean 'DeleteSource'" in findings[0].message
    assert "takes 'endpoint', not 'endpoint_id'" in findings[3].message


def test_findings_are_sorted_and_unique() -> None:
    definition = {
        "StartAt": "B",
        "States": {
            "B": {"Type": "Pass", "Parameters": {"a": "$.x", "b": "$.y"}, "Next": "A"},
            "A": {"Type": "Pass", "Parameters": {"c": "$.z"}, "End": True, "Next": "B"},
        },
    }
    findings = validate_definition(definition)
    assert findings == sorted(findings)
    assert len(findings) == len(set(findings))
    assert [f.path for f in findings][:1] == ["$.States.A"]


def test_validate_flow_checks_both_documents() -> None:
    schema = {
        "type": "object",
        "properties": {"s": {"type": "object", "format": "globus-collection"}},
    }
    findings = validate_flow(
        {"StartAt": "X", "States": {}}, schema, definition_file="d.json", schema_file="s.json"
    )
    assert [(f.file, f.code) for f in findings] == [
        ("d.json", "FG201"),
        ("d.json", "FG105"),
        ("s.json", "FG702"),
    ]
    assert validate_flow(load_flow("simple_transfer.json")) == []


def test_rules_table() -> None:
    assert all(re.fullmatch(r"FG\d{3}", code) for code in RULES)
    assert list(RULES) == sorted(RULES)
    assert all(rule.code == code and rule.summary for code, rule in RULES.items())
    assert {RULES[c].severity for c in ("FG203", "FG303", "FG304", "FG307", "FG308")} == {
        Severity.WARNING
    }


def test_every_rule_is_exercised_by_a_test() -> None:
    tests = "".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    source = "".join(
        p.read_text(encoding="utf-8") for p in Path(flowgen.validate.__file__).parent.glob("*.py")
    )
    for code in RULES:
        assert f'"{code}"' in tests, f"{code} has no test"
        assert f'"{code}"' in source.replace("Rule(", ""), f"{code} is never reported"


@pytest.mark.parametrize("module", [flowgen.validate, principals, timestamps])
def test_docstring_examples(module: Any) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def _big_flow(n: int = 40) -> dict[str, Any]:
    template = load_flow("move.json")["States"]["CopyData"]
    states: dict[str, Any] = {}
    for i in range(n):
        state = copy.deepcopy(template)
        state["Next"] = f"S{i + 1}" if i < n - 1 else "End"
        state["Catch"][0]["Next"] = "Failed"
        states[f"S{i}"] = state
    states["End"] = {"Type": "Pass", "End": True}
    states["Failed"] = {"Type": "Fail", "Error": "E", "Cause": "c"}
    return {"StartAt": "S0", "States": states}


def test_a_forty_state_flow_validates_quickly() -> None:
    definition = _big_flow()
    assert validate_definition(definition) == []
    start = time.perf_counter()
    for _ in range(5):
        validate_definition(definition)
    per_run = (time.perf_counter() - start) / 5
    assert per_run < 0.25, f"{per_run:.3f} s per validation"


def test_importing_the_validator_stays_light() -> None:
    code = (
        "import sys, flowgen.validate; "
        "heavy = [m for m in ('globus_sdk', 'deepdiff', 'typer', 'requests') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
