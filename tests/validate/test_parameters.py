"""Stage 2, Parameters: .$ paths, .= expressions, __Private_Parameters."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import action, check, codes, located, message, single


def eval_state(parameters: dict[str, Any]) -> dict[str, Any]:
    """A definition whose only state evaluates ``parameters``."""
    return single(
        {"Type": "ExpressionEval", "Parameters": parameters, "ResultPath": "$.r", "End": True}
    )


@pytest.mark.parametrize(
    ("parameters", "path"),
    [
        ({"a.$": "input.x"}, "$.States.Only.Parameters['a.$']"),
        ({"outer": {"inner": {"a.$": "$.x[*]"}}}, "$.States.Only.Parameters.outer.inner['a.$']"),
        ({"DATA": [{"ok.$": "$.y"}, {"p.$": "$.a..b"}]}, "$.States.Only.Parameters.DATA[1]['p.$']"),
        ({"list": [[{"deep.$": "$."}]]}, "$.States.Only.Parameters.list[0][0]['deep.$']"),
        ({"a.$": 5}, "$.States.Only.Parameters['a.$']"),
    ],
)
def test_dollar_keys_need_valid_jsonpaths_at_any_depth(
    parameters: dict[str, Any], path: str
) -> None:
    assert ("FG301", path) in located(check(eval_state(parameters)))


def test_valid_dollar_keys_at_depth_pass() -> None:
    parameters = {
        "a.$": "$",
        "b.$": "$._context.run_id",
        "DATA": [{"source_path.$": "$.input.source.path", "n.$": "$.items[0]['odd key']"}],
    }
    assert check(eval_state(parameters)) == []


def test_expression_that_does_not_parse() -> None:
    findings = check(eval_state({"x.=": "len(items"}))
    assert located(findings) == {("FG302", "$.States.Only.Parameters['x.=']")}
    assert "does not parse" in message(findings, "FG302")
    assert check(eval_state({"x.=": "len(items)"})) == []


def test_expression_must_be_a_string() -> None:
    assert ("FG302", "$.States.Only.Parameters['x.=']") in located(check(eval_state({"x.=": 3})))


def test_unknown_function_is_a_warning_and_known_ones_are_not() -> None:
    findings = check(eval_state({"x.=": "max(1, len(a))"}))
    assert located(findings) == {("FG303", "$.States.Only.Parameters['x.=']")}
    assert findings[0].severity.value == "warning"
    assert "max" in findings[0].message
    fine = "str(int(float(len(pathsplit(p)[1])))) if is_present('a.b') else getattr('c', 1)"
    assert check(eval_state({"x.=": fine})) == []


def test_method_calls_are_not_function_calls() -> None:
    assert check(eval_state({"x.=": "path.rstrip('/').split('/')[-1]"})) == []


def test_backtick_paths_must_be_valid() -> None:
    findings = check(eval_state({"x.=": "str(len(`$.files[*]`))"}))
    assert ("FG301", "$.States.Only.Parameters['x.=']") in located(findings)
    assert "backtick" in message(findings, "FG301")
    assert check(eval_state({"x.=": "`$._context.email` or `$._context.username`"})) == []


def test_expressions_nested_in_lists_are_checked() -> None:
    findings = check(eval_state({"DATA": [{"p.=": "a +"}]}))
    assert ("FG302", "$.States.Only.Parameters.DATA[0]['p.=']") in located(findings)


def test_jsonpath_looking_literal_is_a_warning() -> None:
    findings = check(eval_state({"path": "$.input.path"}))
    assert located(findings) == {("FG304", "$.States.Only.Parameters.path")}
    assert "'path.$'" in message(findings, "FG304")
    assert check(eval_state({"path.$": "$.input.path"})) == []
    assert check(eval_state({"price": "$5"})) == []


def test_private_parameters_name_siblings() -> None:
    good = {
        "password.$": "$._private.pw",
        "user": "me",
        "__Private_Parameters": ["password", "user"],
    }
    assert check(eval_state(good)) == []
    bad = good | {"__Private_Parameters": ["password", "token"]}
    findings = check(eval_state(bad))
    assert located(findings) == {("FG305", "$.States.Only.Parameters.__Private_Parameters[1]")}
    assert "'token'" in message(findings, "FG305")


def test_private_parameters_must_be_a_list_of_strings() -> None:
    findings = check(eval_state({"a": 1, "__Private_Parameters": "a"}))
    assert ("FG305", "$.States.Only.Parameters.__Private_Parameters") in located(findings)


def test_private_parameters_work_at_depth() -> None:
    nested = {"auth": {"token.$": "$._private.t", "__Private_Parameters": ["token.$"]}}
    assert check(eval_state(nested)) == []
    wrong_level = {"token.$": "$._private.t", "auth": {"__Private_Parameters": ["token"]}}
    assert "FG305" in codes(check(eval_state(wrong_level)))


def test_two_keys_for_one_output_name() -> None:
    findings = check(eval_state({"path": "/x", "path.$": "$.p"}))
    assert located(findings) == {("FG309", "$.States.Only.Parameters['path.$']")}
    assert check(eval_state({"path": "/x", "paths.$": "$.p"})) == []


def test_action_parameters_are_checked_too() -> None:
    findings = check(single(action(Parameters={"endpoint_id.$": "x", "path": "/p"})))
    assert ("FG301", "$.States.Only.Parameters['endpoint_id.$']") in located(findings)


def test_pass_result_is_literal_and_not_walked() -> None:
    state = {"Type": "Pass", "Result": {"a.$": "not a path"}, "ResultPath": "$.r", "End": True}
    assert check(single(state)) == []
