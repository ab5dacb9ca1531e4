"""State objects: allowed fields only, checks at construction, canonical key order."""

import dataclasses

import pytest

from flowgen.dsl import (
    Action,
    Catch,
    Choice,
    DSLError,
    ExpressionEval,
    Fail,
    Flow,
    Pass,
    RawState,
    Ref,
    Var,
    Wait,
    When,
)
from flowgen.dsl.states import KEY_ORDER, REJECTED_KEYS


def test_action_writes_every_field_in_canonical_order() -> None:
    state = Action(
        comment="c",
        action_url="https://example.org/ap",
        action_scope="https://auth.globus.org/scopes/x/y",
        run_as="Flow",
        parameters={"a": Ref("$.b")},
        result_path="$.r",
        wait_time=600,
        exception_on_action_failure=False,
        catch=[Catch(next="E", result_path="$.err")],
        next="N",
    )
    data = state.to_json()
    assert list(data) == [
        "Type",
        "Comment",
        "ActionUrl",
        "ActionScope",
        "RunAs",
        "Parameters",
        "ResultPath",
        "WaitTime",
        "ExceptionOnActionFailure",
        "Catch",
        "Next",
    ]
    assert data["Catch"] == [
        {
            "ErrorEquals": ["ActionUnableToRun", "ActionFailedException", "ActionTimeout"],
            "Next": "E",
            "ResultPath": "$.err",
        }
    ]
    assert data["ExceptionOnActionFailure"] is False


def test_exception_on_action_failure_is_always_explicit() -> None:
    data = Action(action_url="https://x.org", parameters={}, end=True).to_json()
    assert data["ExceptionOnActionFailure"] is True
    assert data["End"] is True and "Next" not in data


def test_rejected_keys_cannot_be_produced() -> None:
    for cls in (Action, ExpressionEval, Pass, Wait, Choice, Fail):
        names = {f.name for f in dataclasses.fields(cls)}
        assert not {"output_path", "retry", "result_selector"} & names
    for key in REJECTED_KEYS:
        with pytest.raises(DSLError, match="rejects"):
            RawState(body={"Type": "Pass", key: 1, "End": True})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Action(action_url="https://x", parameters={}), "exactly one of next"),
        (lambda: Action(action_url="https://x", parameters={}, next="a", end=True), "exactly one"),
        (lambda: Action(action_url="http://x", parameters={}, end=True), "https://"),
        (lambda: Action(action_url="https://x", end=True), "parameters or input_path"),
        (lambda: Action(action_url="https://x", parameters={}, end=True, wait_time=0), "WaitTime"),
        (
            lambda: Action(
                action_url="https://x", parameters={}, end=True, result_path="$._context.x"
            ),
            "read-only",
        ),
        (lambda: ExpressionEval(parameters={}, result_path="x", end=True), "not a JSONPath"),
        (lambda: Pass(parameters={}, result={"a": 1}, end=True), "not both"),
        (lambda: Wait(end=True), "exactly one of seconds"),
        (lambda: Wait(seconds=1, seconds_path="$.s", end=True), "exactly one of seconds"),
        (lambda: Wait(seconds=-1, end=True), ">= 0"),
        (lambda: Wait(timestamp="tomorrow", end=True), "RFC 3339"),
        (lambda: Fail(error="E", error_path="$.e"), "not both"),
        (lambda: Fail(cause="C", cause_path="$.c"), "not both"),
        (lambda: Choice(choices=[]), "at least one rule"),
        (lambda: Catch(next="x", result_path="$.e", errors=()), "at least one error"),
        (lambda: Pass(result_path="$.items[1:]", end=True), "naming one place"),
        (lambda: Catch(next="x", result_path="$.e[:2]"), "naming one place"),
    ],
)
def test_invalid_states_fail_at_construction(make, message) -> None:
    with pytest.raises(DSLError, match=message):
        make()


def test_wait_variants_and_fail_variants() -> None:
    assert (
        Wait(timestamp="2026-01-01T00:00:00Z", next="n").to_json()["Timestamp"]
        == "2026-01-01T00:00:00Z"
    )
    assert Wait(seconds_path="$.s", next="n").to_json() == {
        "Type": "Wait",
        "SecondsPath": "$.s",
        "Next": "n",
    }
    assert Wait(timestamp_path="$.t", end=True).to_json()["TimestampPath"] == "$.t"
    assert Fail(error_path="$.e", cause_path="$.c").to_json() == {
        "Type": "Fail",
        "ErrorPath": "$.e",
        "CausePath": "$.c",
    }
    assert Fail().to_json() == {"Type": "Fail"}


def test_flow_refuses_dangling_targets_and_duplicate_names() -> None:
    flow = Flow()
    flow.add("A", Pass(next="B"))
    with pytest.raises(DSLError, match="already exists"):
        flow.add("A", Pass(end=True))
    with pytest.raises(DSLError, match="goes to 'B'"):
        flow.to_json()
    flow.add("B", Choice(choices=[When(Var("$.x") == 1, "A")], default="C"))
    with pytest.raises(DSLError, match="goes to 'C'"):
        flow.to_json()


def test_flow_json_keeps_state_order_and_is_deterministic() -> None:
    flow = Flow(comment="demo")
    flow.add("Zeta", Pass(next="Alpha"))
    flow.add("Alpha", Pass(end=True))
    data = flow.to_json()
    assert list(data) == ["Comment", "StartAt", "States"]
    assert list(data["States"]) == ["Zeta", "Alpha"]
    text = flow.dumps()
    assert text.endswith("}\n") and '\n  "StartAt": "Zeta",' in text
    assert text == flow.dumps()


def test_key_order_covers_every_field_a_state_can_have() -> None:
    seen = set()
    for state in (
        Action(
            action_url="https://x",
            parameters={},
            input_path="$.i",
            result_path="$.r",
            wait_time=1,
            run_as="User",
            action_scope="s",
            catch=[Catch(next="n", result_path="$.e")],
            next="n",
        ),
        Pass(input_path="$.a", result={"x": 1}, result_path="$.b", next="n"),
        Wait(seconds=1, next="n"),
        Choice(choices=[When(Var("$.a") == "b", "n")], default="n"),
        Fail(error="e", cause="c"),
    ):
        seen |= set(state.to_json())
    assert seen <= set(KEY_ORDER)
