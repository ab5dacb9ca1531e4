"""The engine, state type by state type, including error paths and Catch."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from flowgen.simulate import (
    ActionContext,
    ActionStatus,
    ActionUnableToRun,
    DefinitionError,
    FlowInputError,
    PeriodicHook,
    SimulatorOptions,
)

from .support import START, Runner

HELLO = "https://example.org/hello"
PASS_END = {"Type": "Pass", "End": True}


def test_pass_result_parameters_and_bare(run: Runner) -> None:
    result = run(
        {
            "R": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.injected", "Next": "P"},
            "P": {
                "Type": "Pass",
                "Parameters": {"copy.$": "$.injected.x", "sum.=": "injected.x + 1", "lit": "$.x"},
                "ResultPath": "$.built",
                "Next": "B",
            },
            "B": PASS_END,
        },
        {"keep": True},
    )
    assert result.status == "SUCCEEDED"
    assert result.output == {
        "keep": True,
        "injected": {"x": 1},
        "built": {"copy": 1, "sum": 2, "lit": "$.x"},
    }
    assert result.codes == [
        "FlowStarted",
        "PassStarted",
        "PassCompleted",
        "PassStarted",
        "PassCompleted",
        "PassStarted",
        "PassCompleted",
        "FlowSucceeded",
    ]


def test_pass_without_resultpath_replaces_the_state_and_nests_with_dollar(run: Runner) -> None:
    result = run(
        {
            "N": {"Type": "Pass", "ResultPath": "$.Nested", "Next": "R"},
            "R": {"Type": "Pass", "Parameters": {"only.$": "$.a"}, "End": True},
        },
        {"a": 1},
    )
    assert result.output == {"only": 1}


@pytest.mark.parametrize(
    ("semantics", "expected"),
    [
        ("asl", {"DataOrigin": {"v": 1}, "DataDestination": {"v": 1}}),
        ("move", {"DataDestination": {"v": 1}}),
    ],
)
def test_pass_inputpath_resultpath_semantics_option(
    run: Runner, semantics: Any, expected: dict[str, Any]
) -> None:
    state = {
        "Type": "Pass",
        "InputPath": "$.DataOrigin",
        "ResultPath": "$.DataDestination",
        "End": True,
    }
    options = SimulatorOptions(start_time=START, pass_semantics=semantics)
    result = run({"M": state}, {"DataOrigin": {"v": 1}}, options=options)
    assert result.output == expected


def test_expression_eval_sees_the_state_on_entry(run: Runner) -> None:
    result = run(
        {
            "E": {
                "Type": "ExpressionEval",
                "Parameters": {"a.=": "1 + 1", "nested": [{"b.=": "x * 3"}, {"c.$": "$.x"}]},
                "ResultPath": "$.out",
                "Next": "F",
            },
            "F": {
                "Type": "ExpressionEval",
                "Parameters": {"sibling.=": "is_present('out.a')"},
                "ResultPath": "$.check",
                "End": True,
            },
        },
        {"x": 2},
    )
    assert result.output["out"] == {"a": 2, "nested": [{"b": 6}, {"c": 2}]}
    assert result.output["check"] == {"sibling": True}


def test_missing_reference_fails_like_the_service(run: Runner) -> None:
    result = run(
        {
            "E": {
                "Type": "ExpressionEval",
                "Parameters": {"subject.$": "$.destination.path"},
                "ResultPath": "$.o",
                "End": True,
            }
        },
        {"destination": {}},
    )
    assert result.status == "FAILED"
    assert (result.failed_state, result.error) == ("E", "States.Runtime")
    assert result.cause == (
        "The path '$.destination.path' specified for the field 'subject.$' could not be "
        "found in the state input."
    )
    last = result.log[-1].to_dict()
    assert last["code"] == "FlowFailed"
    assert last["details"]["exception"] == "States.Runtime"
    assert last["details"]["state_name"] == "E"


def test_private_parameters_and_private_keys_are_hidden(run: Runner) -> None:
    seen: list[dict[str, Any]] = []

    def capture(body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
        seen.append(body)
        return ActionStatus.succeeded({"ok": True})

    result = run(
        {
            "A": {
                "Type": "Action",
                "ActionUrl": HELLO,
                "ResultPath": "$.r",
                "End": True,
                "Parameters": {
                    "user": "u",
                    "password.$": "$._private.pw",
                    "__Private_Parameters": ["password"],
                },
            }
        },
        {"_private": {"pw": "hunter2"}},
        providers={HELLO: capture},
    )
    assert seen == [{"user": "u", "password": "hunter2"}]
    text = result.to_json()
    assert "hunter2" not in text
    completed = next(e for e in result.log if e.code == "ActionCompleted")
    assert completed.details["parameters"]["password"] == "<private>"
    assert result.output["_private"] == {"pw": "hunter2"}  # the Python API keeps it


@pytest.mark.parametrize(
    ("wait", "run_input", "seconds"),
    [
        ({"Seconds": 86_400}, {}, 86_400),
        ({"SecondsPath": "$.s"}, {"s": 90}, 90),
        ({"Timestamp": "2025-03-01T13:00:00Z"}, {}, 3600),
        ({"TimestampPath": "$.t"}, {"t": "2025-03-01T12:30:00+00:00"}, 1800),
        ({"Timestamp": "2020-01-01T00:00:00Z"}, {}, 0),
    ],
)
def test_wait_forms_advance_virtual_time(
    run: Runner, wait: dict[str, Any], run_input: dict[str, Any], seconds: int
) -> None:
    result = run({"W": {"Type": "Wait", **wait, "End": True}}, run_input)
    assert result.status == "SUCCEEDED"
    assert result.stats.elapsed_seconds == seconds
    assert result.completion_time == START + timedelta(seconds=seconds)
    assert result.stats.wall_seconds < 1


@pytest.mark.parametrize(
    ("wait", "cause"),
    [
        ({"SecondsPath": "$.s"}, "non-negative number"),
        ({"TimestampPath": "$.s"}, "RFC 3339"),
        ({"SecondsPath": "$.missing"}, "could not be found"),
    ],
)
def test_wait_with_bad_values_fails(run: Runner, wait: dict[str, Any], cause: str) -> None:
    result = run({"W": {"Type": "Wait", **wait, "End": True}}, {"s": "soon"})
    assert result.status == "FAILED"
    assert cause in str(result.cause)


def test_fail_state_with_literal_and_path_fields(run: Runner) -> None:
    literal = run({"F": {"Type": "Fail", "Error": "SourceMissing", "Cause": "gone"}})
    assert (literal.status, literal.error, literal.cause) == ("FAILED", "SourceMissing", "gone")
    assert literal.document()["details"]["code"] == "FlowFailed"
    from_paths = run(
        {"F": {"Type": "Fail", "ErrorPath": "$.e.code", "CausePath": "$.e.text"}},
        {"e": {"code": "JobFailed", "text": "exit 3"}},
    )
    assert (from_paths.error, from_paths.cause) == ("JobFailed", "exit 3")


def test_choice_without_match_or_default_fails(run: Runner) -> None:
    result = run(
        {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "E"}],
            },
            "E": PASS_END,
        },
        {"n": 2},
    )
    assert (result.status, result.error) == ("FAILED", "States.NoChoiceMatched")


def test_unknown_action_url_is_action_unable_to_run_and_catchable(run: Runner) -> None:
    flow = {
        "A": {
            "Type": "Action",
            "ActionUrl": "https://nowhere.example/x",
            "Parameters": {},
            "ResultPath": "$.r",
            "Next": "E",
            "Catch": [
                {"ErrorEquals": ["ActionFailedException"], "Next": "Wrong"},
                {"ErrorEquals": ["ActionUnableToRun"], "ResultPath": "$.err", "Next": "Handled"},
            ],
        },
        "E": PASS_END,
        "Wrong": PASS_END,
        "Handled": PASS_END,
    }
    result = run(flow)
    assert result.status == "SUCCEEDED"
    assert result.output["err"]["Error"] == "ActionUnableToRun"
    assert "providers=" in result.output["err"]["Cause"]
    assert result.log[-2].details["state_name"] == "Handled"
    uncaught = run({"A": {**flow["A"], "Catch": []}, "E": PASS_END})
    assert (uncaught.status, uncaught.error) == ("FAILED", "ActionUnableToRun")


def _failing(body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
    return ActionStatus.failed({"code": "Broken", "message": "it broke"})


@pytest.mark.parametrize(
    ("payload", "keys"),
    [
        ("asl_merged", {"Error", "Cause", "status", "details", "action_id"}),
        ("asl", {"Error", "Cause"}),
        ("status", {"status", "details", "action_id"}),
    ],
)
def test_catch_payload_shape_option(run: Runner, payload: Any, keys: set[str]) -> None:
    flow = {
        "A": {
            "Type": "Action",
            "ActionUrl": HELLO,
            "Parameters": {},
            "ResultPath": "$.r",
            "Next": "E",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "E"}],
        },
        "E": PASS_END,
    }
    options = SimulatorOptions(start_time=START, catch_payload=payload)
    result = run(flow, providers={HELLO: _failing}, options=options)
    assert result.status == "SUCCEEDED"
    assert keys <= set(result.output["err"])
    if "Cause" in keys:
        assert "Broken: it broke" in result.output["err"]["Cause"]


def test_catch_without_resultpath_replaces_the_state(run: Runner) -> None:
    flow = {
        "A": {
            "Type": "Action",
            "ActionUrl": HELLO,
            "Parameters": {},
            "Next": "E",
            "Catch": [{"ErrorEquals": ["ActionFailedException"], "Next": "E"}],
        },
        "E": PASS_END,
    }
    result = run(flow, {"kept": False}, providers={HELLO: _failing})
    assert "kept" not in result.output
    assert result.output["Error"] == "ActionFailedException"


def test_exception_on_action_failure_false_continues(run: Runner) -> None:
    flow = {
        "A": {
            "Type": "Action",
            "ActionUrl": HELLO,
            "Parameters": {},
            "ResultPath": "$.r",
            "ExceptionOnActionFailure": False,
            "End": True,
        }
    }
    result = run(flow, providers={HELLO: _failing})
    assert result.status == "SUCCEEDED"
    assert result.output["r"]["status"] == "FAILED"
    default = run(
        {"A": {**flow["A"], "ExceptionOnActionFailure": True}}, providers={HELLO: _failing}
    )
    assert (default.status, default.error) == ("FAILED", "ActionFailedException")


def test_action_resultpath_defaults_to_whole_state(run: Runner) -> None:
    ok = {HELLO: lambda body, ctx: {"status": "SUCCEEDED", "details": {"hi": body["n"]}}}
    result = run(
        {"A": {"Type": "Action", "ActionUrl": HELLO, "InputPath": "$.body", "End": True}},
        {"body": {"n": 1}},
        providers=ok,
    )
    assert set(result.output) >= {"action_id", "status", "details", "state_name"}
    assert result.output["details"] == {"hi": 1}


class NeverDone:
    """An asynchronous provider that stays ACTIVE; records when it was polled."""

    def __init__(self) -> None:
        self.polled: list[datetime] = []

    def run(self, body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
        return ActionStatus.active({"n": 0})

    def poll(self, status: ActionStatus, ctx: ActionContext) -> ActionStatus:
        self.polled.append(ctx.now())
        return status


def test_wait_time_ends_in_action_timeout_after_doubling_polls(run: Runner) -> None:
    provider = NeverDone()
    flow = {
        "A": {
            "Type": "Action",
            "ActionUrl": HELLO,
            "Parameters": {},
            "ResultPath": "$.r",
            "End": True,
        }
    }
    result = run(flow, providers={HELLO: provider})
    assert (result.status, result.error) == ("FAILED", "ActionTimeout")
    offsets = [(t - START).total_seconds() for t in provider.polled]
    assert offsets == [1, 3, 7, 15, 31, 63, 127, 255, 300]
    assert result.stats.elapsed_seconds == 300
    assert result.stats.polls[HELLO] == 9


def test_poll_interval_is_capped_at_ten_minutes(run: Runner) -> None:
    provider = NeverDone()
    flow = {
        "A": {"Type": "Action", "ActionUrl": HELLO, "Parameters": {}, "WaitTime": 7200, "End": True}
    }
    run(flow, providers={HELLO: provider})
    gaps = [
        (b - a).total_seconds() for a, b in zip(provider.polled, provider.polled[1:], strict=False)
    ]
    assert max(gaps) == 600
    assert gaps[-2] == 600


def test_plugin_class_with_poll_and_context(run: Runner) -> None:
    class Slow:
        def run(self, body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
            self.started = ctx.now()
            return ActionStatus.active({"user": ctx.run_context["username"]})

        def poll(self, status: ActionStatus, ctx: ActionContext) -> ActionStatus:
            if (ctx.now() - self.started).total_seconds() >= 60:
                return ActionStatus.succeeded(status.details)
            return status

    flow = {
        "A": {
            "Type": "Action",
            "ActionUrl": HELLO,
            "Parameters": {},
            "ResultPath": "$.r",
            "End": True,
        }
    }
    result = run(flow, providers={HELLO: Slow()}, context={"username": "ada@uni.edu"})
    assert result.output["r"]["details"] == {"user": "ada@uni.edu"}
    assert result.stats.elapsed_seconds == 63  # polled at 1, 3, 7, 15, 31, 63 s


def test_provider_refusal_is_action_unable_to_run(run: Runner) -> None:
    def refuse(body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
        raise ActionUnableToRun("bad input", {"code": "BadRequest"})

    result = run(
        {"A": {"Type": "Action", "ActionUrl": HELLO, "Parameters": {}, "End": True}},
        providers={HELLO: refuse},
    )
    assert (result.error, result.cause) == ("ActionUnableToRun", "bad input")


def test_state_limit_stops_runaway_loops(run: Runner) -> None:
    loop = {"W": {"Type": "Wait", "Seconds": 1, "Next": "W"}}
    result = run(loop, options=SimulatorOptions(start_time=START, max_states=50))
    assert (result.status, result.error) == ("FAILED", "States.StateLimitExceeded")
    assert result.stats.states_executed == 50
    assert "--max-states" in str(result.cause)


def test_input_schema_is_checked_first(run: Runner) -> None:
    schema = {
        "type": "object",
        "required": ["source"],
        "properties": {"flag": {"type": "boolean"}, "source": {"type": "object"}},
        "additionalProperties": False,
    }
    with pytest.raises(FlowInputError) as info:
        run({"P": PASS_END}, {"flag": "x"}, input_schema=schema)
    message = info.value.message
    assert "Input failed schema validation with 2 errors." in message
    assert "$.flag: 'x' is not of type 'boolean'" in message
    assert "'source' is a required property" in message
    assert info.value.exit_code == 2
    assert run({"P": PASS_END}, {"source": {}}, input_schema=schema).succeeded


def test_context_defaults_and_overrides(run: Runner) -> None:
    flow = {
        "E": {
            "Type": "ExpressionEval",
            "ResultPath": "$.c",
            "End": True,
            "Parameters": {"ctx.$": "$._context", "who.=": "_context.user_id"},
        }
    }
    result = run(
        flow,
        context={
            "user_id": "b0e8a9a6-0000-4000-8000-000000000001",
            "run_id": "run-1",
            "token_info": {"exp": 5},
        },
    )
    ctx = result.output["c"]["ctx"]
    assert ctx["user_id"] == "urn:globus:auth:identity:b0e8a9a6-0000-4000-8000-000000000001"
    assert ctx["identities"] == [ctx["user_id"]]
    assert ctx["run_id"] == result.run_id == "run-1"
    assert ctx["token_info"] == {
        "exp": 5,
        "iat": int(START.timestamp()),
        "nbf": int(START.timestamp()),
    }
    assert set(ctx) == {
        "flow_id",
        "run_id",
        "username",
        "email",
        "user_id",
        "identities",
        "token_info",
    }
    with pytest.raises(DefinitionError, match="unknown _context key"):
        run(flow, context={"usrname": "x"})


def test_context_cannot_be_written(run: Runner) -> None:
    result = run({"P": {"Type": "Pass", "Result": {}, "ResultPath": "$._context.x", "End": True}})
    assert result.error == "States.Runtime"
    assert "$._context" in str(result.cause)


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"StartAt": "X", "States": {"A": PASS_END}}, "StartAt 'X' is not a state"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}, "'B' is not a state"),
        ({"StartAt": "A", "States": {"A": {"Type": "Task", "End": True}}}, "unsupported state"),
        ([], "JSON object"),
    ],
)
def test_definitions_that_cannot_run_are_refused(
    run: Runner, definition: Any, message: str
) -> None:
    with pytest.raises(DefinitionError, match=message):
        from flowgen.simulate import Simulator

        Simulator(definition, collections={})


def test_hooks_see_time_advance(run: Runner) -> None:
    plain: list[float] = []
    ticks: list[float] = []
    flow = {
        "W": {"Type": "Wait", "Seconds": 3600, "Next": "V"},
        "V": {"Type": "Wait", "Seconds": 1800, "End": True},
    }
    run(
        flow,
        hooks=[
            lambda now: plain.append((now - START).total_seconds()),
            PeriodicHook(1000, lambda now: ticks.append((now - START).total_seconds())),
        ],
    )
    assert plain == [3600, 5400]
    assert ticks == [1000, 2000, 3000, 4000, 5000]


def test_run_document_shape(run: Runner) -> None:
    result = run({"P": {"Type": "Pass", "Result": {"m": "done"}, "ResultPath": "$.r", "End": True}})
    doc = result.document()
    assert doc["status"] == "SUCCEEDED"
    assert doc["details"] == {
        "code": "FlowSucceeded",
        "description": "The Flow run reached a successful completion state",
        "output": {"r": {"m": "done"}},
    }
    assert doc["stats"]["states_executed"] == 1
    entry = doc["log"][1]
    assert entry["code"] == "PassStarted"
    assert entry["details"] == {"state_name": "P", "state_type": "Pass", "input": {}}
    assert entry["time"] == "2025-03-01T12:00:00.000000+00:00"
