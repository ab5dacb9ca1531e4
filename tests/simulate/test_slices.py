"""JSONPath slices in a simulated run: read in ``.$`` and InputPath, refused as ResultPath."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flowgen.cli import _register, app

from .support import TRANSFER

_register()

HELLOS = {"input": {"Hellos": ["Hello", "Bonjour", "Hola", "Ciao"]}}


def run_cli(tmp_path: Path, states: dict[str, Any], *extra: str) -> Any:
    """Run ``flowgen simulate`` on ``states`` (starting at the first) with the Hellos input."""
    definition = {"StartAt": next(iter(states)), "States": states}
    (tmp_path / "flow.json").write_text(json.dumps(definition))
    (tmp_path / "in.json").write_text(json.dumps(HELLOS))
    argv = ["simulate", str(tmp_path / "flow.json"), "--input", str(tmp_path / "in.json")]
    return CliRunner().invoke(app, [*argv, *extra])


def test_a_parameter_reads_the_rest_of_a_list_like_globus_hello_world(tmp_path: Path) -> None:
    # Globus's complex-hello-world example passes "$.input.Hellos[1:]" on.
    states = {
        "Split": {
            "Type": "ExpressionEval",
            "Parameters": {
                "first.$": "$.input.Hellos[0]",
                "rest.$": "$.input.Hellos[1:]",
                "last_two.$": "$.input.Hellos[-2:]",
                "count.=": "len(`$.input.Hellos[:-1]`)",
            },
            "ResultPath": "$.split",
            "Next": "Keep",
        },
        "Keep": {
            "Type": "Pass",
            "InputPath": "$.input.Hellos[::2]",
            "ResultPath": "$.every_other",
            "End": True,
        },
    }
    result = run_cli(tmp_path, states, "--format", "json")
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)["details"]["output"]
    assert output["split"] == {
        "first": "Hello",
        "rest": ["Bonjour", "Hola", "Ciao"],
        "last_two": ["Hola", "Ciao"],
        "count": 3,
    }
    assert output["every_other"] == ["Hello", "Hola"]


def test_a_slice_of_something_that_is_not_a_list_is_a_missing_path(tmp_path: Path) -> None:
    states = {
        "Read": {
            "Type": "ExpressionEval",
            "Parameters": {"x.$": "$.input[1:]"},
            "ResultPath": "$.x",
            "End": True,
        }
    }
    result = run_cli(tmp_path, states)
    assert result.exit_code == 1
    assert "States.Runtime: The path '$.input[1:]' specified for the field 'x.$'" in result.output


@pytest.mark.parametrize(
    "state",
    [
        {
            "Type": "Pass",
            "Parameters": {"x": 1},
            "ResultPath": "$.input.Hellos[1:]",
            "End": True,
        },
        {
            "Type": "Action",
            "ActionUrl": TRANSFER + "nowhere",
            "Parameters": {},
            "ResultPath": "$.Result",
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.errors[1:]", "Next": "Write"}
            ],
            "End": True,
        },
    ],
    ids=["state", "catcher"],
)
def test_writing_to_a_slice_fails_the_run_saying_why(tmp_path: Path, state: dict[str, Any]) -> None:
    result = run_cli(tmp_path, {"Write": state})
    assert result.exit_code == 1, result.output
    assert "Failed in state 'Write': States.Runtime" in result.output
    assert "which selects several values and so names no single place to write" in result.output


def test_an_action_input_path_that_selects_a_list_cannot_run(tmp_path: Path) -> None:
    states = {
        "Stat": {
            "Type": "Action",
            "ActionUrl": TRANSFER + "stat",
            "InputPath": "$.input.Hellos[1:]",
            "ResultPath": "$.Stat",
            "End": True,
        }
    }
    result = run_cli(tmp_path, states)
    assert result.exit_code == 1
    assert "ActionUnableToRun" in result.output
    assert "must be a JSON object, but InputPath gave a list" in result.output
