"""Stage 2, path fields and ResultPath."""

from __future__ import annotations

import pytest

from flowgen.core import jsonpath

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


def _then(action_fields: dict[str, object], after: dict[str, object]) -> dict[str, object]:
    """An Action without ResultPath, its Catch's Fail state, and the state after it."""
    catch = [{"ErrorEquals": ["ActionFailedException"], "ResultPath": "$.e", "Next": "Stop"}]
    first = action(ResultPath=DROP, End=DROP, Next="After", Catch=catch, **action_fields)
    return flow(("Only", first), ("After", after), ("Stop", {"Type": "Fail"}))


def test_action_without_result_path_is_a_warning_when_a_later_state_reads() -> None:
    reads = pass_state(Parameters={"task.$": "$.Upload.details.task_id"}, ResultPath="$.r")
    findings = check(_then({}, reads))
    assert located(findings) == {("FG307", "$.States.Only")}
    text = message(findings, "FG307")
    assert '"ResultPath": "$.OnlyResult"' in text and "before 'After' reads it" in text


@pytest.mark.parametrize(
    "after",
    [
        {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "Stop"}]},
        pass_state(InputPath="$.input"),
        action(),  # its Parameters read $.source
        {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Stop"},
        {"Type": "Fail", "CausePath": "$.details.description"},
        pass_state(Parameters={"n.=": "len(items)"}, ResultPath="$.n"),
        pass_state(Parameters={"DATA": [{"path.$": "$.path"}]}, ResultPath="$.d"),
    ],
)
def test_every_way_of_reading_the_state_counts(after: dict[str, object]) -> None:
    assert ("FG307", "$.States.Only") in located(check(_then({}, after)))


def test_a_final_action_may_leave_its_result_at_the_root() -> None:
    # As in Globus's simple-transfer example: the status document is the run's output.
    assert check(single(action(ResultPath=DROP))) == []
    # A caught error never stores the result, so states after the Catch do not count.
    catch = [{"ErrorEquals": ["ActionFailedException"], "ResultPath": "$.e", "Next": "Report"}]
    report = pass_state(Parameters={"why.$": "$.e.Cause"}, ResultPath="$.FlowResult")
    ends = flow(("Only", action(ResultPath=DROP, Catch=catch)), ("Report", report))
    assert check(ends) == []


@pytest.mark.parametrize(
    "after",
    [
        pass_state(Parameters={"message": "copied"}, ResultPath="$.FlowResult"),
        pass_state(),
        {"Type": "Fail", "Error": "Stopped", "Cause": "literal text"},
    ],
)
def test_states_that_read_nothing_keep_the_action_final(after: dict[str, object]) -> None:
    assert "FG307" not in codes(check(_then({}, after)))


def test_a_reader_further_on_still_counts() -> None:
    definition = _then({}, {"Type": "Pass", "Next": "Later"})
    definition["States"]["Later"] = pass_state(InputPath="$.details")
    findings = check(definition)
    assert ("FG307", "$.States.Only") in located(findings)
    assert "before 'Later' reads it" in message(findings, "FG307")


def test_catch_without_result_path_is_a_warning() -> None:
    catch = [{"ErrorEquals": ["ActionTimeout"], "Next": "Stop"}]
    definition = flow(("Only", action(Catch=catch)), ("Stop", {"Type": "Fail"}))
    findings = check(definition)
    assert located(findings) == {("FG308", "$.States.Only.Catch[0]")}
    definition["States"]["Only"]["Catch"][0]["ResultPath"] = "$.Error"
    assert "FG308" not in codes(check(definition))


# Globus's complex-hello-world example reads "$.input.Hellos[1:]". The shared
# parser (flowgen/core/jsonpath.py) is gaining slices; the validator must accept
# exactly what it parses, so these pass as soon as it does.
SLICES = ("$.input.Hellos[1:]", "$.input.Hellos[:2]", "$.input.Hellos[-1:]")


def _once_parsed(path: str) -> object:
    return pytest.param(
        path,
        marks=pytest.mark.xfail(
            not jsonpath.is_valid(path),
            reason="flowgen.core.jsonpath.parse does not read slices yet",
            strict=True,
        ),
    )


@pytest.mark.parametrize("path", [_once_parsed(path) for path in SLICES])
def test_slices_are_valid_where_a_path_is_read(path: str) -> None:
    reads = pass_state(
        InputPath=path, Parameters={"rest.$": path}, ResultPath="$.rest", End=DROP, Next="Pick"
    )
    choice = {
        "Type": "Choice",
        "Choices": [{"Variable": path, "IsPresent": True, "Next": "Done"}],
        "Default": "Done",
    }
    definition = flow(("Read", reads), ("Pick", choice), ("Done", pass_state()))
    assert check(definition) == []


@pytest.mark.parametrize("path", SLICES)
def test_a_result_path_may_not_be_a_slice(path: str) -> None:
    # A write needs one place, whether or not the parser reads slices.
    findings = check(single(pass_state(ResultPath=path)))
    assert located(findings) == {("FG301", "$.States.Only.ResultPath")}
