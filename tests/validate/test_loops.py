"""Stage 2, polling loops that only an action's result can end (FG208)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from flowgen.flowcron import build, load_config

from .helpers import check, codes, flow, load_flow, located, message, pass_state

EXAMPLE = Path(__file__).resolve().parents[2] / "flows" / "example.toml"
FAIL = {"Type": "Fail", "Error": "GaveUp", "Cause": "test"}


def _stat(result: str, next_state: str, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Action",
        "ActionUrl": "https://transfer.actions.globus.org/stat",
        "Parameters": {"endpoint_id.$": "$.hpc.id", "path.$": "$.hpc.marker"},
        "ResultPath": result,
        "Next": next_state,
        **fields,
    }


def _missing(variable: str, if_missing: str, otherwise: str) -> dict[str, Any]:
    return {
        "Type": "Choice",
        "Choices": [{"Variable": variable, "StringEquals": "NotFound", "Next": if_missing}],
        "Default": otherwise,
    }


def _poll(**extra: dict[str, Any]) -> dict[str, Any]:
    """Pause -> Check (stat) -> Gone? (NotFound: Done, else Pause): no deadline."""
    definition = flow(
        ("Pause", {"Type": "Wait", "Seconds": 60, "Next": "Check"}),
        ("Check", _stat("$.Check", "Gone?")),
        ("Gone?", _missing("$.Check.details.code", "Done", "Pause")),
        ("Done", pass_state()),
    )
    definition["States"].update(extra)
    return definition


def _with_deadline(definition: dict[str, Any], back_to: str = "Pause") -> dict[str, Any]:
    """``definition`` polling as poll_loop does: each "not yet" Choice branch back to
    ``back_to`` goes through a deadline check and a state that counts the time waited."""
    bounded = copy.deepcopy(definition)
    states = bounded["States"]
    for state in states.values():
        if state["Type"] != "Choice":
            if state.get("Next") == back_to:
                state["Next"] = "StartPoll"  # entering the loop starts the count
            continue
        for holder in [state, *state["Choices"]]:
            for key in ("Next", "Default"):
                if holder.get(key) == back_to:
                    holder[key] = "Deadline?"
    if bounded["StartAt"] == back_to:
        bounded["StartAt"] = "StartPoll"
    states["StartPoll"] = {
        "Type": "ExpressionEval",
        "Parameters": {"waited": 0},
        "ResultPath": "$.poll",
        "Next": back_to,
    }
    states["Deadline?"] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.poll.waited", "NumericGreaterThan": 3600, "Next": "GaveUp"}],
        "Default": "CountWait",
    }
    states["CountWait"] = {
        "Type": "ExpressionEval",
        "Parameters": {"waited.=": "poll.waited + 60"},
        "ResultPath": "$.poll",
        "Next": back_to,
    }
    states["GaveUp"] = FAIL
    return bounded


def test_a_poll_whose_only_exit_tests_the_stat_result_is_reported() -> None:
    findings = check(_poll())
    assert located(findings) == {("FG208", "$.States.Pause")}
    assert findings[0].severity.value == "warning"
    text = message(findings, "FG208")
    assert "'Pause', 'Check', 'Gone?'" in text and "no deadline" in text
    assert "at 'Gone?'" in text and '"waited.="' in text


def test_a_counted_deadline_bounds_the_poll() -> None:
    assert check(_with_deadline(_poll())) == []


def test_the_original_flowcron_shape_is_reported() -> None:
    # Wait -> CheckInUploadedFiles -> IsItInUploadedFiles (NotFound / Default Wait) -> ...:
    # every exit is a stat result or a Catch, and nothing counts the waits.
    findings = check(load_flow("findings/unbounded_poll.json"))
    assert located(findings) == {("FG208", "$.States.Wait")}
    text = message(findings, "FG208")
    assert "'Wait', 'CheckInUploadedFiles', 'IsItInUploadedFiles'" in text
    assert check(_with_deadline(load_flow("findings/unbounded_poll.json"), "Wait")) == []


@pytest.fixture(scope="module")
def flowcron() -> dict[str, Any]:
    definition: dict[str, Any] = build(load_config(EXAMPLE)).definition
    return definition


def test_flowcron_own_poll_loop_has_a_deadline(flowcron: dict[str, Any]) -> None:
    assert "FG208" not in codes(check(flowcron))


def test_flowcron_own_poll_loop_without_its_deadline_is_reported(
    flowcron: dict[str, Any],
) -> None:
    # Send every "not yet" straight back to the Wait, skipping the deadline
    # check and the backoff that counts the time waited.
    states = copy.deepcopy(flowcron["States"])
    deadline = next(n for n, s in states.items() if n.endswith("DeadlineCheck"))
    wait = next(n for n, s in states.items() if s["Type"] == "Wait")
    for state in states.values():
        for holder in [state, *state.get("Choices", []), *state.get("Catch", [])]:
            for key in ("Next", "Default"):
                if holder.get(key) == deadline:
                    holder[key] = wait
    findings = check({**flowcron, "States": states})
    assert ("FG208", f"$.States.{wait}") in located(findings)


def test_a_catch_out_is_no_bound_but_a_plain_next_is() -> None:
    caught = _poll()
    caught["States"]["Check"]["Catch"] = [
        {"ErrorEquals": ["ActionTimeout"], "ResultPath": "$.e", "Next": "Done"}
    ]
    assert "FG208" in codes(check(caught))
    # Leaving by Next after a successful action (retrying until it works) waits on nothing.
    retry = flow(
        ("Pause", {"Type": "Wait", "Seconds": 60, "Next": "Try"}),
        (
            "Try",
            _stat(
                "$.Try",
                "Done",
                Catch=[
                    {"ErrorEquals": ["ActionFailedException"], "ResultPath": "$.e", "Next": "Pause"}
                ],
            ),
        ),
        ("Done", pass_state()),
    )
    assert "FG208" not in codes(check(retry))


def test_a_branch_on_something_else_than_the_action_is_a_way_out() -> None:
    definition = _poll()
    definition["States"]["Gone?"]["Choices"].append(
        {"Variable": "$.input.give_up", "BooleanEquals": True, "Next": "Done"}
    )
    assert "FG208" not in codes(check(definition))


def test_a_timestamp_comparison_is_a_deadline() -> None:
    definition = _poll()
    definition["States"]["Gone?"]["Choices"].append(
        {
            "Variable": "$.Check.completion_time",
            "TimestampGreaterThanPath": "$.input.deadline",
            "Next": "Done",
        }
    )
    assert "FG208" not in codes(check(definition))


def test_a_default_waits_on_the_action_only_if_every_rule_does() -> None:
    # Gone? stays in the loop on NotFound and leaves by Default otherwise.
    leaves_by_default = _poll()
    leaves_by_default["States"]["Gone?"] = _missing("$.Check.details.code", "Pause", "Done")
    assert "FG208" in codes(check(leaves_by_default))
    unrelated = copy.deepcopy(leaves_by_default)
    unrelated["States"]["Gone?"]["Choices"][0]["Variable"] = "$.input.mode"
    assert "FG208" not in codes(check(unrelated))


def test_an_action_without_result_path_writes_everything_a_choice_reads() -> None:
    definition = _poll()
    del definition["States"]["Check"]["ResultPath"]
    assert "FG208" in codes(check(definition))


def test_a_way_round_that_skips_the_counter_is_reported() -> None:
    # "Running" goes straight back to Pause; only "Unknown" passes the counter.
    definition = _with_deadline(_poll())
    definition["States"]["Gone?"]["Choices"].append(
        {"Variable": "$.Check.details.code", "StringEquals": "Running", "Next": "Pause"}
    )
    findings = check(definition)
    assert located(findings) == {("FG208", "$.States.Pause")}
    assert "'Pause', 'Check', 'Gone?'" in message(findings, "FG208")


def test_a_counter_no_choice_compares_is_no_bound() -> None:
    definition = _with_deadline(_poll())
    # The "deadline" now tests the stat result instead of the time waited.
    definition["States"]["Deadline?"]["Choices"][0]["Variable"] = "$.Check.details.size"
    assert "FG208" in codes(check(definition))


def test_a_loop_without_a_wait_is_work_not_polling() -> None:
    # List -> empty? -> delete a batch -> List, like Globus's looping batched move.
    delete = {
        "Type": "Action",
        "ActionUrl": "https://transfer.actions.globus.org/delete",
        "Parameters": {"endpoint.$": "$.hpc.id", "DATA.$": "$.Batch.items"},
        "ResultPath": "$.Deleted",
        "Next": "List",
    }
    empty = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.Listing.details.total", "NumericEquals": 0, "Next": "Done"}],
        "Default": "DeleteBatch",
    }
    work = flow(
        ("List", _stat("$.Listing", "Empty?")),
        ("Empty?", empty),
        ("DeleteBatch", delete),
        ("Done", pass_state()),
    )
    assert check(work) == []
    with_pause = copy.deepcopy(work)
    with_pause["States"]["DeleteBatch"]["Next"] = "Pause"
    with_pause["States"]["Pause"] = {"Type": "Wait", "Seconds": 60, "Next": "List"}
    assert "FG208" in codes(check(with_pause))


def test_a_loop_that_can_end_inside_is_not_reported() -> None:
    # Check ends the run when it succeeds; a timeout goes round again, a failure out.
    catch = [
        {"ErrorEquals": ["ActionTimeout"], "ResultPath": "$.e", "Next": "Pause"},
        {"ErrorEquals": ["ActionFailedException"], "ResultPath": "$.e", "Next": "Failed"},
    ]
    definition = flow(
        ("Pause", {"Type": "Wait", "Seconds": 60, "Next": "Check"}),
        ("Check", {**_stat("$.Check", "unused", Catch=catch), "Next": None}),
        ("Failed", FAIL),
    )
    del definition["States"]["Check"]["Next"]
    definition["States"]["Check"]["End"] = True
    assert check(definition) == []


def test_a_loop_with_no_way_out_is_fg207_only() -> None:
    findings = check(_poll(**{"Gone?": _missing("$.Check.details.code", "Pause", "Pause")}))
    assert "FG207" in codes(findings) and "FG208" not in codes(findings)


def test_unreachable_and_malformed_loops_are_left_alone() -> None:
    island = _poll()
    island["StartAt"] = "Done"
    assert codes(check(island)) == {"FG203"}
    broken = _poll()
    broken["States"]["Check"]["ResultPath"] = "$.a[*]"
    broken["States"]["Gone?"]["Choices"][0]["Variable"] = "not a path"
    assert "FG208" not in codes(check(broken))


def test_a_counter_kept_by_the_expression_eval_provider_bounds_the_poll() -> None:
    bounded = _with_deadline(_poll())
    bounded["States"]["CountWait"] = {
        "Type": "Action",
        "ActionUrl": "https://actions.globus.org/expression_eval",
        "Parameters": {
            "expressions": [
                {
                    "expression": "x + 60",
                    "arguments": {"x.$": "$.poll.waited"},
                    "result_path": "waited",
                }
            ]
        },
        "ResultPath": "$.poll",
        "Next": "Pause",
    }
    # Its result is computed, not awaited: like an ExpressionEval, it counts.
    assert "FG208" not in codes(check(bounded))
