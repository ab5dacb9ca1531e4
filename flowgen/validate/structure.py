"""Stage 1: the definition against the project's JSON Schema, as findings.

The schema owns shape: which keys each state type allows, which are
required, and their JSON types. Each jsonschema error becomes one finding
with a JSONPath location and a message that says what to change; any JSON
value is accepted as input (a list, a string, null...) and yields findings,
never an exception.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from jsonschema.exceptions import ValidationError

from flowgen.core.jsonpath import Token, format_path
from flowgen.validate.rules import Reporter
from flowgen.validate.schema_file import definition_validator, flow_definition_schema
from flowgen.validate.shape import snippet, type_name

STATE_TYPES: tuple[str, ...] = tuple(
    flow_definition_schema()["definitions"]["state"]["properties"]["Type"]["enum"]
)
"""The state types the service accepts, as listed in the schema."""

_EXPECTED = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a list",
    "null": "null",
}

# Keys people bring from the Amazon States Language or from older Globus
# flows, with what to do instead.
_KEY_HINTS = {
    "OutputPath": "Globus flows have no OutputPath; use ResultPath to place the result",
    "Retry": "Globus flows have no Retry; catch the error with Catch and loop through a Wait",
    "ResultSelector": "not supported; reshape the result in an ExpressionEval state",
    "Resource": "a Globus Action state names its provider with ActionUrl",
    "TimeoutSeconds": "use WaitTime on an Action state",
    "HeartbeatSeconds": "not supported by Globus flows",
    "Catch": "only Action and web-input states take Catch",
}

_UNKNOWN_TYPE_HINTS = {
    "Succeed": 'use a Pass state with "End": true',
    "Task": "use an Action state with an ActionUrl",
    "Parallel": "Globus flows run one state at a time; chain the branches",
    "Map": "Globus flows have no Map; loop with ExpressionEval, Choice and a counter",
}

_REQUIRED_HINTS = {
    "StartAt": "the name of the first state to run",
    "States": "an object mapping each state name to its state",
    "Type": "one of " + ", ".join(STATE_TYPES),
    "Choices": "a non-empty list of rules, each with a Next",
    "ErrorEquals": 'a list of error names such as "ActionFailedException"',
    "Next": "the name of the state to go to",
    "Parameters": "the values to compute",
    "ResultPath": 'where to store the result, e.g. "$.Result"',
}


def check_structure(definition: object, report: Reporter) -> None:
    """Report every way ``definition`` departs from the flow-definition schema."""
    errors = list(definition_validator().iter_errors(definition))
    # A value of the wrong type also fails every other keyword at its
    # location (a numeric Type is also not in the enum): report the type only.
    wrong_type = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    for error in errors:
        steps: tuple[Token, ...] = tuple(error.absolute_path)
        if error.validator != "type" and steps in wrong_type:
            continue
        _report(error, steps, report)


def _report(error: ValidationError, steps: tuple[Token, ...], report: Reporter) -> None:
    keyword = error.validator
    instance = error.instance
    value = error.validator_value
    label = _label(steps)
    if keyword == "type":
        expected = " or ".join(_EXPECTED.get(t, t) for t in _as_list(value))
        if not steps:
            message = (
                "a flow definition must be a JSON object with StartAt and States, "
                f"got {type_name(instance)}"
            )
        else:
            message = f"{label} must be {expected}, got {type_name(instance)}"
        report.add("FG101", steps, message)
    elif keyword == "required" and isinstance(instance, dict):
        for name in _as_list(value):
            if name not in instance:
                hint = _REQUIRED_HINTS.get(name)
                message = f"{label} is missing required field {name!r}"
                report.add("FG102", steps, f"{message} ({hint})" if hint else message)
    elif keyword == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = list(schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                report.add("FG103", (*steps, key), _unexpected_key(key, steps, instance, allowed))
    elif keyword == "enum" and _is_state(steps) and steps[-1] == "Type":
        hint = _UNKNOWN_TYPE_HINTS.get(str(instance)) or _did_you_mean(str(instance), STATE_TYPES)
        message = f"{snippet(instance)} is not a state type Globus flows accept (use one of {', '.join(STATE_TYPES)})"
        report.add("FG104", steps, f"{message}; {hint}" if hint else message)
    else:
        report.add("FG105", steps, _bad_value(keyword, label, instance, value, error))


def _bad_value(
    keyword: object, label: str, instance: Any, value: Any, error: ValidationError
) -> str:
    if keyword == "pattern":
        if value.startswith("^https"):
            return f"{label} must be an https:// URL, got {snippet(instance)}"
        return (
            f"{label} must be a handler URN such as "
            f"'urn:globus:flows:handle:globus:transfer.ls', got {snippet(instance)}"
        )
    if keyword == "minimum":
        return f"{label} must be at least {value}, got {snippet(instance)}"
    if keyword == "minItems":
        return f"{label} must not be an empty list"
    if keyword == "minProperties":
        return f"{label} must contain at least one entry"
    if keyword == "minLength":
        return f"{label} must not be an empty string"
    if keyword == "enum":
        return f"{label} must be one of {', '.join(map(str, value))}, got {snippet(instance)}"
    return f"{label}: {error.message}"


def _unexpected_key(
    key: str, steps: Sequence[Token], instance: dict[str, Any], allowed: list[str]
) -> str:
    where = _label(steps)
    state_type = instance.get("Type") if _is_state(steps, exact=True) else None
    if state_type is not None:
        article = "an" if str(state_type)[:1] in "AEIOU" else "a"
        where = f"{article} {state_type} state"
    text = f"{key!r} is not allowed in {where}"
    if key in ("Next", "End") and state_type == "Choice":
        return f"{text}: a Choice state branches through Choices[].Next and Default"
    if key in ("Next", "End") and state_type == "Fail":
        return f"{text}: a Fail state always ends the run; remove {key!r}"
    if key == "Next" and _in_nested_rule(steps):
        return (
            f"{text}: only top-level Choices rules take Next; nested rules inside And/Or/Not do not"
        )
    hint = _KEY_HINTS.get(key) or _did_you_mean(key, allowed)
    if hint:
        return f"{text}: {hint}"
    return f"{text} (allowed: {', '.join(allowed)})"


def _did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else None


def _is_state(steps: Sequence[Token], *, exact: bool = False) -> bool:
    """Whether ``steps`` is (``exact``) or is inside (``Type``) a state object."""
    if len(steps) < 2 or steps[0] != "States":
        return False
    return len(steps) == 2 if exact else len(steps) == 3


def _in_nested_rule(steps: Sequence[Token]) -> bool:
    return "Choices" in steps and any(step in ("And", "Or", "Not") for step in steps)


def _label(steps: Sequence[Token]) -> str:
    """How a message names the value at ``steps``: ``state 'X'``, ``WaitTime``, ..."""
    if not steps:
        return "the flow definition"
    if len(steps) == 2 and steps[0] == "States":
        return f"state {steps[1]!r}"
    # The last key plus any list indexes after it: "ErrorEquals[0]", "Catch[1]".
    indexes = ""
    for step in reversed(steps):
        if isinstance(step, int):
            indexes = f"[{step}]{indexes}"
        else:
            return f"{step}{indexes}"
    return f"the value at {format_path(steps)}"


def _as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]
