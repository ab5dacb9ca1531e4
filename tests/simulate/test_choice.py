"""Choice rules, operator by operator, with the ASL edge cases."""

from __future__ import annotations

from typing import Any

import pytest

from flowgen.simulate.choice import choose, evaluate_rule, string_matches
from flowgen.simulate.errors import NO_CHOICE_MATCHED, RUNTIME, StateFailure
from flowgen.simulate.evaluate import Scope

STATE = {
    "s": "beta",
    "n": 5,
    "f": 2.5,
    "b": True,
    "t": "2025-03-01T12:00:00Z",
    "nul": None,
    "other": {"s": "alpha", "n": 5, "b": True, "t": "2025-03-01T13:00:00+01:00"},
}
SCOPE = Scope(STATE, {"run_id": "r-1"})

CASES: list[tuple[str, str, Any, bool]] = [
    ("$.s", "StringEquals", "beta", True),
    ("$.s", "StringEquals", "Beta", False),
    ("$.s", "StringLessThan", "gamma", True),
    ("$.s", "StringGreaterThan", "alpha", True),
    ("$.s", "StringLessThanEquals", "beta", True),
    ("$.s", "StringGreaterThanEquals", "gamma", False),
    ("$.s", "StringMatches", "b*a", True),
    ("$.s", "StringMatches", "a*", False),
    ("$.n", "NumericEquals", 5.0, True),
    ("$.n", "NumericLessThan", 6, True),
    ("$.n", "NumericGreaterThan", 5, False),
    ("$.f", "NumericLessThanEquals", 2.5, True),
    ("$.f", "NumericGreaterThanEquals", 3, False),
    ("$.b", "BooleanEquals", True, True),
    ("$.t", "TimestampEquals", "2025-03-01T13:00:00+01:00", True),
    ("$.t", "TimestampLessThan", "2025-03-01T12:00:01Z", True),
    ("$.t", "TimestampGreaterThan", "2025-03-01T11:59:59Z", True),
    ("$.t", "TimestampLessThanEquals", "2025-03-01T12:00:00Z", True),
    ("$.t", "TimestampGreaterThanEquals", "2025-03-01T12:00:01Z", False),
    ("$.nul", "IsNull", True, True),
    ("$.s", "IsNull", True, False),
    ("$.s", "IsPresent", True, True),
    ("$.nothing", "IsPresent", True, False),
    ("$.nothing", "IsPresent", False, True),
    ("$.n", "IsNumeric", True, True),
    ("$.b", "IsNumeric", True, False),
    ("$.s", "IsString", True, True),
    ("$.b", "IsBoolean", True, True),
    ("$.t", "IsTimestamp", True, True),
    ("$.s", "IsTimestamp", False, True),
    ("$._context.run_id", "StringEquals", "r-1", True),
    # Type mismatches are false, never errors.
    ("$.n", "StringEquals", "5", False),
    ("$.s", "NumericEquals", 5, False),
    ("$.b", "NumericEquals", 1, False),
    ("$.s", "BooleanEquals", True, False),
    ("$.s", "TimestampEquals", "2025-03-01T12:00:00Z", False),
]


@pytest.mark.parametrize(("variable", "op", "operand", "expected"), CASES)
def test_operator(variable: str, op: str, operand: Any, expected: bool) -> None:
    assert evaluate_rule({"Variable": variable, op: operand}, SCOPE) is expected


PATH_CASES = [
    ("$.s", "StringEqualsPath", "$.other.s", False),
    ("$.s", "StringGreaterThanPath", "$.other.s", True),
    ("$.s", "StringLessThanPath", "$.other.s", False),
    ("$.s", "StringLessThanEqualsPath", "$.s", True),
    ("$.s", "StringGreaterThanEqualsPath", "$.other.s", True),
    ("$.n", "NumericEqualsPath", "$.other.n", True),
    ("$.f", "NumericLessThanPath", "$.other.n", True),
    ("$.f", "NumericGreaterThanPath", "$.other.n", False),
    ("$.n", "NumericLessThanEqualsPath", "$.other.n", True),
    ("$.n", "NumericGreaterThanEqualsPath", "$.other.n", True),
    ("$.b", "BooleanEqualsPath", "$.other.b", True),
    ("$.t", "TimestampEqualsPath", "$.other.t", True),
    ("$.t", "TimestampLessThanPath", "$.other.t", False),
    ("$.t", "TimestampGreaterThanPath", "$.other.t", False),
    ("$.t", "TimestampLessThanEqualsPath", "$.other.t", True),
    ("$.t", "TimestampGreaterThanEqualsPath", "$.other.t", True),
    ("$.n", "StringEqualsPath", "$.other.s", False),
]


@pytest.mark.parametrize(("variable", "op", "operand", "expected"), PATH_CASES)
def test_path_operator(variable: str, op: str, operand: str, expected: bool) -> None:
    assert evaluate_rule({"Variable": variable, op: operand}, SCOPE) is expected


def test_and_short_circuits_past_a_missing_variable() -> None:
    rule = {
        "And": [
            {"Variable": "$.missing.code", "IsPresent": True},
            {"Variable": "$.missing.code", "StringEquals": "NotFound"},
        ]
    }
    assert evaluate_rule(rule, SCOPE) is False
    rule_or = {"Or": [{"Variable": "$.n", "NumericEquals": 5}, {"Variable": "$.x", "IsNull": True}]}
    assert evaluate_rule(rule_or, SCOPE) is True
    assert evaluate_rule({"Not": {"Variable": "$.n", "NumericEquals": 5}}, SCOPE) is False


@pytest.mark.parametrize(
    "rule",
    [
        {"Variable": "$.missing", "StringEquals": "x"},
        {"Variable": "$.missing", "IsNull": True},
        {"Variable": "$.s", "StringEqualsPath": "$.missing"},
    ],
)
def test_missing_variable_is_a_runtime_error(rule: dict[str, Any]) -> None:
    with pytest.raises(StateFailure) as info:
        evaluate_rule(rule, SCOPE)
    assert info.value.error == RUNTIME
    assert "could not be found in the state input" in info.value.cause


def test_no_match_without_default_fails_with_no_choice_matched() -> None:
    state = {"Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "A"}]}
    with pytest.raises(StateFailure) as info:
        choose(state, SCOPE)
    assert info.value.error == NO_CHOICE_MATCHED
    assert choose({**state, "Default": "D"}, SCOPE) == "D"
    first = {
        "Choices": [
            {"Variable": "$.n", "NumericEquals": 5, "Next": "A"},
            {"Variable": "$.n", "NumericEquals": 5, "Next": "B"},
        ]
    }
    assert choose(first, SCOPE) == "A"


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("log-2025.txt", "log-*.txt", True),
        ("a*b", "a\\*b", True),
        ("axb", "a\\*b", False),
        ("anything", "*", True),
        ("file.csv", "*.txt", False),
    ],
)
def test_string_matches(value: str, pattern: str, expected: bool) -> None:
    assert string_matches(value, pattern) is expected
