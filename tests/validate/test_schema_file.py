"""The flow-definition schema: one source, valid draft-07, found when installed."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from jsonschema import Draft7Validator

from flowgen.validate.schema_file import (
    SCHEMA_RESOURCE,
    definition_validator,
    flow_definition_schema,
)
from flowgen.validate.structure import STATE_TYPES

from .helpers import load_flow

ROOT = Path(__file__).resolve().parents[2]


def test_the_schema_is_valid_draft_07() -> None:
    Draft7Validator.check_schema(flow_definition_schema())
    assert flow_definition_schema()["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_schemas_dir_and_package_hold_the_same_file() -> None:
    canonical = ROOT / "schemas" / "flow_definition.schema.json"
    packaged = resources.files("flowgen").joinpath(SCHEMA_RESOURCE)
    assert canonical.read_bytes() == packaged.read_bytes()
    assert json.loads(canonical.read_text(encoding="utf-8")) == flow_definition_schema()


def test_the_schema_is_declared_as_package_data() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"data/*.json"' in pyproject
    assert SCHEMA_RESOURCE.startswith("data/") and SCHEMA_RESOURCE.endswith(".json")


def test_the_validator_is_compiled_once() -> None:
    assert definition_validator() is definition_validator()


def test_state_types_and_their_keys() -> None:
    assert STATE_TYPES == (
        "Action",
        "ExpressionEval",
        "Pass",
        "Wait",
        "Choice",
        "Fail",
        "CreateWebInput",
        "AwaitWebInput",
    )
    definitions = flow_definition_schema()["definitions"]
    allowed = {
        "actionState": {
            "Type",
            "Comment",
            "ActionUrl",
            "Handler",
            "Parameters",
            "InputPath",
            "ResultPath",
            "WaitTime",
            "ExceptionOnActionFailure",
            "RunAs",
            "ActionScope",
            "Catch",
            "Next",
            "End",
        },
        "expressionEvalState": {"Type", "Comment", "Parameters", "ResultPath", "Next", "End"},
        "passState": {
            "Type",
            "Comment",
            "InputPath",
            "Parameters",
            "Result",
            "ResultPath",
            "Next",
            "End",
        },
        "waitState": {
            "Type",
            "Comment",
            "Seconds",
            "Timestamp",
            "SecondsPath",
            "TimestampPath",
            "Next",
            "End",
        },
        "choiceState": {"Type", "Comment", "Choices", "Default"},
        "failState": {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath"},
    }
    for name, keys in allowed.items():
        assert set(definitions[name]["properties"]) == keys, name
        assert definitions[name]["additionalProperties"] is False


def test_inlining_refs_keeps_the_schema_s_meaning() -> None:
    raw = Draft7Validator(flow_definition_schema())
    samples = [
        load_flow("move.json"),
        {"StartAt": 1, "States": {"A": {"Type": "Action", "OutputPath": "$", "WaitTime": 0}}},
        {
            "StartAt": "A",
            "States": {"A": {"Type": "Choice", "Choices": [{"And": [{"Not": {"Next": 1}}]}]}},
        },
        {"StartAt": "A", "States": {"A": "x", "B": {"Type": "Task"}}},
    ]
    for sample in samples:

        def verdicts(validator: Draft7Validator, sample: object = sample) -> set[tuple[str, str]]:
            return {(e.json_path, e.message) for e in validator.iter_errors(sample)}

        assert verdicts(definition_validator()) == verdicts(raw)
    compiled = definition_validator().schema
    assert isinstance(compiled, dict)
    assert "$ref" not in compiled["properties"]["States"]["additionalProperties"]
