"""One walker over a state's transitions, and the four places that use it agreeing.

The walker follows the Globus Flows service (and the simulator's engine): a
Choice leaves by its rules' Next and its Default only, a Fail never leaves,
every other state leaves by Next unless it has ``"End": true``, and only the
states that may have a Catch (Action, CreateWebInput, AwaitWebInput) leave
by a catcher's Next. Keys a state type cannot have are not transitions.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowgen.core.definition import (
    Transition,
    TransitionKind,
    ends_here,
    is_terminal,
    transition_slots,
    transitions,
)
from flowgen.dsl.states import RawState
from flowgen.review.graph import EdgeKind, build_graph
from flowgen.simulate.errors import DefinitionError
from flowgen.simulate.runinput import check_definition
from flowgen.validate.graph import successors

END = {"Type": "Pass", "End": True}
RULE = {"Variable": "$.x", "IsPresent": True}
CATCH_C = [{"ErrorEquals": ["ActionFailedException"], "Next": "C", "ResultPath": "$.e"}]

# (state A, the states A can go to, in the service's order)
CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("action", {"Type": "Action", "Next": "B", "Catch": CATCH_C}, ["B", "C"]),
    ("catch on a Pass", {"Type": "Pass", "Next": "B", "Catch": CATCH_C}, ["B"]),
    ("catch on a Wait", {"Type": "Wait", "Seconds": 1, "Next": "B", "Catch": CATCH_C}, ["B"]),
    ("End with Next", {"Type": "Pass", "End": True, "Next": "B"}, []),
    ("Default on a Pass", {"Type": "Pass", "Next": "B", "Default": "C"}, ["B"]),
    (
        "Next on a Choice",
        {"Type": "Choice", "Choices": [{**RULE, "Next": "B"}], "Default": "C", "Next": "D"},
        ["B", "C"],
    ),
    ("Next on a Fail", {"Type": "Fail", "Next": "B"}, []),
    (
        "Choice rule without Next",
        {"Type": "Choice", "Choices": [dict(RULE), {**RULE, "Next": "B"}], "Default": "C"},
        ["B", "C"],
    ),
]
IDS = [case[0] for case in CASES]


def _flow(state: dict[str, Any], others: list[str]) -> dict[str, Any]:
    return {"StartAt": "A", "States": {"A": state, **{name: dict(END) for name in others}}}


@pytest.mark.parametrize(("label", "state", "targets"), CASES, ids=IDS)
def test_the_walker_follows_the_service(
    label: str, state: dict[str, Any], targets: list[str]
) -> None:
    assert [t.target for t in transitions(state)] == targets


@pytest.mark.parametrize(("label", "state", "targets"), CASES, ids=IDS)
def test_graph_draws_only_the_transitions_the_service_takes(
    label: str, state: dict[str, Any], targets: list[str]
) -> None:
    graph = build_graph(_flow(state, ["B", "C", "D"]))
    names = {n.id: n.name for n in graph.nodes}
    drawn = [names[e.target] for e in graph.edges if names[e.source] == "A"]
    assert [t for t in drawn if t != "End"] == targets


@pytest.mark.parametrize(("label", "state", "targets"), CASES, ids=IDS)
def test_validate_graph_has_only_the_transitions_the_service_takes(
    label: str, state: dict[str, Any], targets: list[str]
) -> None:
    assert successors(_flow(state, ["B", "C", "D"]))["A"] == targets


@pytest.mark.parametrize(("label", "state", "targets"), CASES, ids=IDS)
def test_dsl_raw_state_targets_are_the_transitions_the_service_takes(
    label: str, state: dict[str, Any], targets: list[str]
) -> None:
    assert RawState(body=state).targets() == targets


@pytest.mark.parametrize(
    ("label", "state", "targets"),
    [case for case in CASES if case[0] != "Choice rule without Next"],
    ids=[i for i in IDS if i != "Choice rule without Next"],
)
def test_simulator_needs_exactly_the_transitions_the_service_takes(
    label: str, state: dict[str, Any], targets: list[str]
) -> None:
    check_definition(_flow(state, targets))  # keys the type cannot have need no target
    for missing in targets:
        with pytest.raises(DefinitionError, match=f"'{missing}' is not a state"):
            check_definition(_flow(state, [t for t in targets if t != missing]))


def test_simulator_still_refuses_a_choice_rule_without_next() -> None:
    state = {"Type": "Choice", "Choices": [dict(RULE)], "Default": "B"}
    with pytest.raises(DefinitionError, match=r"Choices\[\]\.Next: None is not a state"):
        check_definition(_flow(state, ["B"]))


def test_a_catch_on_a_pass_is_not_drawn_as_an_edge() -> None:
    graph = build_graph(_flow({"Type": "Pass", "End": True, "Catch": CATCH_C}, ["C"]))
    assert not [e for e in graph.edges if e.kind is EdgeKind.CATCH]


def test_transitions_carry_kind_location_and_holder() -> None:
    catcher = {"ErrorEquals": ["ActionTimeout"], "Next": "C"}
    action = {"Type": "Action", "Next": "B", "Catch": [catcher]}
    assert list(transitions(action)) == [
        Transition(TransitionKind.NEXT, ("Next",), "B", None),
        Transition(TransitionKind.CATCH, ("Catch", 0, "Next"), "C", catcher),
    ]
    rule = {**RULE, "Next": "B"}
    choice = {"Type": "Choice", "Choices": [{"Not": RULE}, rule], "Default": "C"}
    assert list(transitions(choice)) == [
        Transition(TransitionKind.CHOICE, ("Choices", 1, "Next"), "B", rule),
        Transition(TransitionKind.DEFAULT, ("Default",), "C", None),
    ]


def test_slots_include_required_targets_that_are_missing() -> None:
    slots = list(transition_slots({"Type": "Pass"}))
    assert [(s.kind, s.where, s.target) for s in slots] == [(TransitionKind.NEXT, ("Next",), None)]
    assert list(transitions({"Type": "Pass"})) == []
    assert list(transition_slots({"Type": "Pass", "End": True})) == []


@pytest.mark.parametrize("state", [None, [], "A", {"Type": "Fail"}, {}])
def test_malformed_or_final_states_have_no_transitions(state: Any) -> None:
    assert list(transitions(state)) == []


def test_terminal_states() -> None:
    assert ends_here({"Type": "Pass", "End": True})
    assert not ends_here({"Type": "Fail"})
    assert not ends_here({"Type": "Choice", "Choices": [], "End": True})
    assert is_terminal({"Type": "Fail"})
    assert is_terminal({"Type": "Wait", "End": True})
    assert not is_terminal({"Type": "Choice", "End": True})
    assert not is_terminal({"Type": "Pass", "Next": "B"})
