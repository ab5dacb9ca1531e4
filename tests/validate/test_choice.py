"""Stage 2, Choice rules."""

from __future__ import annotations

from typing import Any

import pytest

from flowgen.validate.choice import COMBINATORS, OPERATORS
from flowgen.validate.schema_file import flow_definition_schema

from .helpers import check, flow, located, message, pass_state


def choice_flow(*rules: dict[str, Any], default: str | None = "Done") -> dict[str, Any]:
    """A flow whose Choice 'Pick' has ``rules``; each rule without Next goes to Done."""
    state: dict[str, Any] = {"Type": "Choice", "Choices": [{"Next": "Done", **r} for r in rules]}
    if default:
        state["Default"] = default
    return flow(("Pick", state), ("Done", pass_state()))


def test_the_operator_set_is_complete() -> None:
    families = ["String", "Numeric", "Timestamp"]
    relations = ["Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals"]
    expected = {f + r for f in families for r in relations}
    expected |= {op + "Path" for op in expected}
    expected |= {"StringMatches", "BooleanEquals", "BooleanEqualsPath"}
    expected |= {"IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"}
    assert set(OPERATORS) == expected
    top = flow_definition_schema()["definitions"]["choiceRule"]["properties"]
    assert set(top) == {*OPERATORS, *COMBINATORS, "Variable", "Next"}


@pytest.mark.parametrize(
    "rule",
    [
        {"Variable": "$.s", "StringEquals": "a"},
        {"Variable": "$.s", "StringMatches": "*.txt"},
        {"Variable": "$.n", "NumericGreaterThanEquals": 2.5},
        {"Variable": "$.n", "NumericLessThanPath": "$.limit"},
        {"Variable": "$.b", "BooleanEquals": False},
        {"Variable": "$.t", "TimestampLessThan": "2026-01-01T00:00:00Z"},
        {"Variable": "$.t", "IsTimestamp": True},
        {
            "And": [
                {"Variable": "$.c", "IsPresent": True},
                {"Variable": "$.c", "StringEquals": "NotFound"},
            ]
        },
        {"Or": [{"Not": {"Variable": "$.x", "IsNull": True}}]},
    ],
)
def test_valid_rules(rule: dict[str, Any]) -> None:
    assert check(choice_flow(rule)) == []


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ({"Variable": "$.x"}, "has no test"),
        ({"StringEquals": "a"}, "names no Variable"),
        ({"Variable": "$.x", "StringEquals": "a", "IsPresent": True}, "several operators"),
        (
            {"And": [{"Variable": "$.x", "IsPresent": True}], "Variable": "$.x"},
            "mixes And, Variable",
        ),
        (
            {
                "And": [{"Variable": "$.x", "IsPresent": True}],
                "Not": {"Variable": "$.x", "IsNull": True},
            },
            "mixes",
        ),
        ({}, "has no test"),
    ],
)
def test_malformed_rules(rule: dict[str, Any], fragment: str) -> None:
    findings = check(choice_flow(rule))
    assert ("FG406", "$.States.Pick.Choices[0]") in located(findings)
    assert fragment in message(findings, "FG406")


def test_nested_rules_are_checked_and_located() -> None:
    rule = {"Or": [{"Variable": "$.a", "IsPresent": True}, {"Not": {"Variable": "$.b"}}]}
    assert ("FG406", "$.States.Pick.Choices[0].Or[1].Not") in located(check(choice_flow(rule)))


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"Variable": 3, "IsPresent": True}, "$.States.Pick.Choices[0].Variable"),
        ({"Variable": "$.s", "StringEquals": 3}, "$.States.Pick.Choices[0].StringEquals"),
        ({"Variable": "$.n", "NumericEquals": "3"}, "$.States.Pick.Choices[0].NumericEquals"),
        ({"Variable": "$.n", "NumericEquals": True}, "$.States.Pick.Choices[0].NumericEquals"),
        ({"Variable": "$.b", "BooleanEquals": "true"}, "$.States.Pick.Choices[0].BooleanEquals"),
        ({"Variable": "$.b", "IsPresent": 1}, "$.States.Pick.Choices[0].IsPresent"),
    ],
)
def test_operand_types(rule: dict[str, Any], path: str) -> None:
    assert ("FG101", path) in located(check(choice_flow(rule)))


def test_variable_and_path_operands_are_jsonpaths() -> None:
    findings = check(choice_flow({"Variable": "status", "StringEqualsPath": "$.a[*]"}))
    assert {
        ("FG301", "$.States.Pick.Choices[0].Variable"),
        ("FG301", "$.States.Pick.Choices[0].StringEqualsPath"),
    } <= located(findings)


def test_timestamp_operands_are_rfc3339() -> None:
    findings = check(choice_flow({"Variable": "$.t", "TimestampGreaterThan": "yesterday"}))
    assert located(findings) == {("FG404", "$.States.Pick.Choices[0].TimestampGreaterThan")}


def test_and_or_must_not_be_empty_and_not_must_be_a_rule() -> None:
    findings = check(choice_flow({"And": []}, {"Not": [1]}))
    assert {
        ("FG105", "$.States.Pick.Choices[0].And"),
        ("FG101", "$.States.Pick.Choices[1].Not"),
    } <= located(findings)


def test_top_level_rules_need_next_and_nested_rules_may_not_have_it() -> None:
    state = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.x", "IsPresent": True}],
        "Default": "Done",
    }
    findings = check(flow(("Pick", state), ("Done", pass_state())))
    assert ("FG102", "$.States.Pick.Choices[0]") in located(findings)
    nested = {"And": [{"Variable": "$.x", "IsPresent": True, "Next": "Done"}]}
    findings = check(choice_flow(nested))
    assert ("FG103", "$.States.Pick.Choices[0].And[0].Next") in located(findings)
    assert "only top-level" in message(findings, "FG103")


def test_choices_must_not_be_empty_and_default_must_exist() -> None:
    state = {"Type": "Choice", "Choices": [], "Default": "Nowhere"}
    findings = check(flow(("Pick", state), ("Done", pass_state())))
    assert {("FG105", "$.States.Pick.Choices"), ("FG202", "$.States.Pick.Default")} <= located(
        findings
    )


def test_choice_without_default_is_allowed() -> None:
    assert check(choice_flow({"Variable": "$.x", "IsPresent": True}, default=None)) == []
