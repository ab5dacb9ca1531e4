"""Stage 2, path fields and ResultPath."""

from __future__ import annotations

import pytest

from .helpers import DROP, action, check, codes, flow, located, message, pass_state, single


@pytest.mark.parametrize(
    ("state", "field"),
    [
        (action(InputPath="$.a[*]", Parameters=DROP), "InputPath"),
        (pass_state(InputPath="input"), "InputPath"),
        (pass_state(ResultPath="$.a..b"), "ResultPath"),
        ({"Type": "Wait", "SecondsPath": "$.delay[", "End": True}, "SecondsPath"),
        ({"Type": "Wait", "TimestampPath": "$ .at", "End": True}, "TimestampPath"),
        ({"Type": "Fail", "ErrorPath": "$.e[?(@.x)]"}, "ErrorPath"),
        ({"Type": "Fail", "CausePath": "cause"}, "CausePath"),
    ],
)
def test_path_fields_must_be_jsonpaths(state: dict[str, object], field: str) -> None:
    findings = check(single(state))
    assert ("FG301", f"$.States.Only.{field}") in located(findings)
    assert "not a valid JSONPath" in message(findings, "FG301")


@pytest.mark.parametrize(
    "state",
    [
        pass_state(InputPath="$.input", ResultPath="$.out['a b'][0]"),
        {"Type": "Wait", "SecondsPath": "$.delay", "End": True},
        {"Type": "Wait", "TimestampPath": "$.times[0].at", "End": True},
        {"Type": "Fail", "ErrorPath": "$.e.Error", "CausePath": "$.e.Cause"},
    ],
)
def test_valid_path_fields_pass(state: dict[str, object]) -> None:
    assert check(single(state)) == []


def test_result_path_may_not_write_into_context() -> None:
    findings = check(single(pass_state(ResultPath="$._context.run_id")))
    assert located(findings) == {("FG306", "$.States.Only.ResultPath")}
    assert "read-only" in message(findings, "FG306")
    assert check(single(pass_state(ResultPath="$.context.run_id"))) == []


def test_catch_result_path_may_not_write_into_context() -> None:
    catch = [{"ErrorEquals": ["ActionTimeout"], "ResultPath": "$._context", "Next": "Only"}]
    assert ("FG306", "$.States.Only.Catch[0].ResultPath") in located(
        check(single(action(Catch=catch)))
    )


def test_action_without_result_path_is_a_warning() -> None:
    findings = check(single(action(ResultPath=DROP)))
    assert located(findings) == {("FG307", "$.States.Only")}
    assert '"ResultPath": "$.OnlyResult"' in message(findings, "FG307")
    assert check(single(action())) == []


def test_catch_without_result_path_is_a_warning() -> None:
    catch = [{"ErrorEquals": ["ActionTimeout"], "Next": "Stop"}]
    definition = flow(("Only", action(Catch=catch)), ("Stop", {"Type": "Fail"}))
    findings = check(definition)
    assert located(findings) == {("FG308", "$.States.Only.Catch[0]")}
    definition["States"]["Only"]["Catch"][0]["ResultPath"] = "$.Error"
    assert "FG308" not in codes(check(definition))
