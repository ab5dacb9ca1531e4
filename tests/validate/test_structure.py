"""Stage 1: the JSON Schema, turned into findings with locations."""

from __future__ import annotations

import pytest

from .helpers import DROP, action, check, codes, flow, located, message, pass_state, single


@pytest.mark.parametrize(
    ("value", "kind"),
    [([], "a list"), ("flow", "a string"), (None, "null"), (3, "a number"), (True, "a boolean")],
)
def test_a_definition_that_is_not_an_object_is_one_finding(value: object, kind: str) -> None:
    findings = check(value)
    assert [(f.code, f.path) for f in findings] == [("FG101", "$")]
    assert kind in findings[0].message and "StartAt and States" in findings[0].message


def test_missing_top_level_fields_are_named() -> None:
    findings = check({})
    assert located(findings) == {("FG102", "$")}
    text = " ".join(f.message for f in findings)
    assert "'StartAt'" in text and "'States'" in text


def test_unknown_top_level_key_is_rejected_and_a_valid_one_is_not() -> None:
    bad = single(pass_state()) | {"Title": "x"}
    assert ("FG103", "$.Title") in located(check(bad))
    assert check(single(pass_state()) | {"Comment": "fine"}) == []


@pytest.mark.parametrize("state", ["a string", ["a", "list"], 7, None])
def test_a_state_that_is_not_an_object_is_a_finding(state: object) -> None:
    findings = check({"StartAt": "A", "States": {"A": state}})
    assert ("FG101", "$.States.A") in located(findings)
    assert "state 'A' must be a JSON object" in message(findings, "FG101")


def test_unknown_state_type_is_named_with_advice() -> None:
    findings = check(single({"Type": "Succeed", "End": True}))
    assert ("FG104", "$.States.Only.Type") in located(findings)
    assert "Pass" in message(findings, "FG104")
    assert check(single({"Type": "Pass", "End": True})) == []


def test_type_of_wrong_json_type_is_one_finding_not_two() -> None:
    findings = check(single({"Type": 5, "End": True}))
    assert [(f.code, f.path) for f in findings if f.path == "$.States.Only.Type"] == [
        ("FG101", "$.States.Only.Type")
    ]


def test_missing_type_is_required() -> None:
    findings = check(single({"End": True}))
    assert ("FG102", "$.States.Only") in located(findings)
    assert "'Type'" in message(findings, "FG102")


@pytest.mark.parametrize(
    ("key", "advice"),
    [
        ("OutputPath", "ResultPath"),
        ("Retry", "Catch"),
        ("ResultSelector", "ExpressionEval"),
        ("TimeoutSeconds", "WaitTime"),
        ("Resource", "ActionUrl"),
    ],
)
def test_asl_keys_are_rejected_with_what_to_use(key: str, advice: str) -> None:
    findings = check(single(action(**{key: "x"})))
    assert ("FG103", f"$.States.Only.{key}") in located(findings)
    text = message(findings, "FG103")
    assert "an Action state" in text and advice in text


def test_a_misspelt_key_gets_a_suggestion() -> None:
    findings = check(single(action(ResultPth="$.x")))
    assert "did you mean 'ResultPath'" in message(findings, "FG103")


def test_catch_on_a_pass_state_is_not_allowed() -> None:
    bad = single(pass_state(Catch=[{"ErrorEquals": ["x"], "Next": "Only"}]))
    findings = check(bad)
    assert ("FG103", "$.States.Only.Catch") in located(findings)
    assert "only Action" in message(findings, "FG103")


def test_next_on_choice_and_fail_says_why() -> None:
    choice = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "Stop"}],
        "Next": "Stop",
    }
    findings = check(flow(("Pick", choice), ("Stop", {"Type": "Fail", "End": True})))
    assert {("FG103", "$.States.Pick.Next"), ("FG103", "$.States.Stop.End")} <= located(findings)
    texts = " ".join(f.message for f in findings)
    assert "Choices[].Next and Default" in texts and "always ends the run" in texts


def test_expression_eval_requires_parameters_and_result_path() -> None:
    bad = single({"Type": "ExpressionEval", "End": True})
    findings = check(bad)
    assert ("FG102", "$.States.Only") in located(findings)
    assert {"'Parameters'", "'ResultPath'"} <= {
        word for f in findings for word in f.message.split() if word.startswith("'")
    }
    good = single(
        {"Type": "ExpressionEval", "Parameters": {"a": 1}, "ResultPath": "$.r", "End": True}
    )
    assert check(good) == []


def test_expression_eval_does_not_take_input_path() -> None:
    bad = single(
        {
            "Type": "ExpressionEval",
            "Parameters": {},
            "ResultPath": "$.r",
            "InputPath": "$",
            "End": True,
        }
    )
    assert ("FG103", "$.States.Only.InputPath") in located(check(bad))


@pytest.mark.parametrize(
    ("field", "value", "path", "code"),
    [
        ("WaitTime", "300", "$.States.Only.WaitTime", "FG101"),
        ("WaitTime", 0, "$.States.Only.WaitTime", "FG105"),
        ("WaitTime", 2.5, "$.States.Only.WaitTime", "FG101"),
        ("ExceptionOnActionFailure", "yes", "$.States.Only.ExceptionOnActionFailure", "FG101"),
        ("ActionUrl", "http://example.org/act", "$.States.Only.ActionUrl", "FG105"),
        ("ResultPath", 3, "$.States.Only.ResultPath", "FG101"),
        ("Parameters", [1], "$.States.Only.Parameters", "FG101"),
        ("Catch", {"ErrorEquals": []}, "$.States.Only.Catch", "FG101"),
        ("End", "yes", "$.States.Only.End", "FG101"),
    ],
)
def test_wrong_values_in_an_action(field: str, value: object, path: str, code: str) -> None:
    findings = check(single(action(**{field: value})))
    assert (code, path) in located(findings)


def test_wrong_values_say_what_is_expected() -> None:
    findings = check(single(action(WaitTime="300")))
    assert message(findings, "FG101") == "WaitTime must be an integer, got a string"
    findings = check(single(action(ActionUrl="http://x.org/a")))
    assert "https:// URL" in message(findings, "FG105")


def test_catcher_shape() -> None:
    bad = single(action(Catch=[{"ErrorEquals": [], "ResultPath": "$.e"}]))
    assert {
        ("FG105", "$.States.Only.Catch[0].ErrorEquals"),
        ("FG102", "$.States.Only.Catch[0]"),
    } <= located(check(bad))
    good = single(
        action(Catch=[{"ErrorEquals": ["ActionTimeout"], "ResultPath": "$.e", "Next": "Only"}])
    )
    assert check(good) == []


def test_handler_forms() -> None:
    urn = "urn:globus:flows:handle:globus:transfer.ls"
    assert check(single(action(ActionUrl=DROP, Handler=urn))) == []
    provider = {"Type": "ActionProvider", "Url": "https://example.org/ap", "Scope": "s"}
    assert check(single(action(ActionUrl=DROP, Handler=provider))) == []
    assert ("FG105", "$.States.Only.Handler") in located(
        check(single(action(ActionUrl=DROP, Handler="x")))
    )
    registered = {"Type": "RegisteredAPI"}
    assert ("FG102", "$.States.Only.Handler") in located(
        check(single(action(ActionUrl=DROP, Handler=registered)))
    )


def test_empty_states_and_start_at() -> None:
    findings = check({"StartAt": "", "States": {}})
    assert {("FG105", "$.States"), ("FG105", "$.StartAt")} <= located(findings)


def test_pass_result_must_be_an_object() -> None:
    assert ("FG101", "$.States.Only.Result") in located(check(single(pass_state(Result=[1]))))
    assert check(single(pass_state(Result={"x": 1}, ResultPath="$.x"))) == []


def test_web_input_states_are_accepted() -> None:
    create = {
        "Type": "CreateWebInput",
        "Parameters": {
            "InputType": "Selection",
            "Options": [{"Value": "go", "Label": "Go"}],
            "RespondentUrns": ["urn:globus:groups:id:6f1e4d7c-1a2b-4c3d-8e9f-0a1b2c3d4e5f"],
        },
        "ResultPath": "$.Question",
        "Next": "Answer",
    }
    answer = {
        "Type": "AwaitWebInput",
        "Parameters": {"web_input_id.$": "$.Question.details.web_input_id"},
        "ResultPath": "$.Answer",
        "Catch": [
            {"ErrorEquals": ["Flows.WebInputExpired"], "ResultPath": "$.E", "Next": "Answer"}
        ],
        "End": True,
    }
    assert check(flow(("Ask", create), ("Answer", answer))) == []


def test_every_problem_in_a_broken_definition_is_reported_at_once() -> None:
    broken = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Action", "OutputPath": "$", "WaitTime": "x", "Next": "B"},
            "B": "oops",
            "C": {"Type": "Map"},
        },
    }
    assert {"FG101", "FG103", "FG104", "FG401", "FG402"} <= codes(check(broken))
