"""Fragments: the bounded polling loop and readable failures."""

import pytest

from flowgen.dsl import DSLError, Flow, Pass, PollPolicy, Var, poll_until
from flowgen.dsl import transfer as t
from flowgen.dsl.fragments import guarded


def test_poll_policy_waits_grow_to_the_cap_and_stop_at_the_deadline() -> None:
    policy = PollPolicy(initial_wait=60, growth=1.5, max_wait=300, deadline=2000)
    waits = list(policy.waits())
    assert waits[:4] == [60, 90, 135, 202]
    assert max(waits) == 300
    assert sum(waits[:-1]) < 2000 <= sum(waits)


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_wait": 0}, {"growth": 0.5}, {"max_wait": 10, "initial_wait": 60}, {"deadline": 5}],
)
def test_poll_policy_refuses_nonsense(kwargs) -> None:
    with pytest.raises(DSLError):
        PollPolicy(**kwargs)


def test_next_wait_expression_matches_python() -> None:
    policy = PollPolicy(initial_wait=7, growth=1.3, max_wait=100)
    expression = policy.next_wait_expression("w")
    for wait in (7, 9, 50, 77, 99, 100):
        assert eval(expression, {"int": int}, {"w": wait}) == policy.next_wait(wait)


def test_poll_until_builds_a_bounded_cycle() -> None:
    flow = Flow()
    flow.add("Begin", Pass(next="PollStart"))
    loop = poll_until(
        flow,
        name="Poll",
        check=t.stat("e", "/x", result_path="$.s", end=True),
        done=Var("$.s.details.code") == "NotFound",
        next="Done",
        on_deadline="TooLate",
        policy=PollPolicy(initial_wait=10, growth=2.0, max_wait=40, deadline=100),
        state_path="$.poll",
    )
    flow.add("Done", Pass(end=True))
    flow.add("TooLate", Pass(end=True))
    states = flow.to_json()["States"]
    assert loop.start == "PollStart"
    assert states["PollWait"] == {"Type": "Wait", "SecondsPath": "$.poll.wait", "Next": "PollCheck"}
    assert states["PollCheck"]["Next"] == "PollDecide"
    assert states["PollCheck"]["Catch"][0]["Next"] == "PollDeadlineCheck"
    assert states["PollDeadlineCheck"]["Choices"][0] == {
        "Variable": "$.poll.waited",
        "NumericGreaterThanEquals": 100,
        "Next": "TooLate",
    }
    assert (
        states["PollBackoff"]["Parameters"]["wait.="]
        == "40 if int(poll.wait * 2.0) > 40 else int(poll.wait * 2.0)"
    )


def test_guarded_action_fails_with_a_message() -> None:
    flow = Flow()
    guarded(
        flow, "Copy", t.mkdir("e", "/x/", next="Done"), error="CopyFailed", message="could not copy"
    )
    flow.add("Done", Pass(end=True))
    states = flow.to_json()["States"]
    assert states["Copy"]["Catch"][0] == {
        "ErrorEquals": ["ActionUnableToRun", "ActionFailedException", "ActionTimeout"],
        "Next": "CopyFailed",
        "ResultPath": "$.CopyError",
    }
    assert states["CopyFailedFail"] == {
        "Type": "Fail",
        "Error": "CopyFailed",
        "CausePath": "$.FlowResult.message",
    }
