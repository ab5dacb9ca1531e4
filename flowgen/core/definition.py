"""How control leaves a state of a flow definition: the one walker over its transitions.

Drawing a flow (:mod:`flowgen.review.graph`), checking its graph
(:mod:`flowgen.validate.graph`), refusing a definition the simulator cannot
run (:mod:`flowgen.simulate.runinput`) and checking a DSL flow's targets
(:mod:`flowgen.dsl.states`) all ask the same question; they ask it here.

The answer is the Globus Flows service's (and the simulator engine's):

* a ``Choice`` leaves by each top-level rule's ``Next``, in order, then by
  its ``Default``;
* a ``Fail`` never leaves: it ends the run;
* every other state leaves by ``Next`` unless it has ``"End": true``, and,
  when its type may have a ``Catch`` (Action and the web-input states), by
  each catcher's ``Next``, in order.

Keys a type cannot have (``Next`` on a Choice, ``Catch`` on a Pass,
``Default`` on a Wait, ``Next`` beside ``"End": true``) are not transitions:
the service refuses them when the flow is created and never follows them;
``flowgen validate`` reports them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from flowgen.core.jsonpath import Token

CHOICE = "Choice"
FAIL = "Fail"
CATCHING_TYPES = frozenset({"Action", "CreateWebInput", "AwaitWebInput"})
"""The state types that may have a ``Catch`` (the schema allows it on no other)."""


class TransitionKind(str, Enum):
    """Which field of a state names where it goes."""

    NEXT = "next"
    CHOICE = "choice"
    DEFAULT = "default"
    CATCH = "catch"


@dataclass(frozen=True)
class Slot:
    """A place a state names (or must name) the state it goes to.

    ``target`` is the value as written: ``None`` when a required ``Next`` is
    missing, anything else when it is not a state name. ``where`` is the
    location inside the state (``("Choices", 0, "Next")``); ``holder`` is the
    Choice rule or catcher the ``Next`` belongs to, else None.
    """

    kind: TransitionKind
    where: tuple[Token, ...]
    target: object
    holder: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Transition:
    """A way out of a state to the state named ``target`` (a :class:`Slot` holding a name)."""

    kind: TransitionKind
    where: tuple[Token, ...]
    target: str
    holder: Mapping[str, Any] | None = None


def transition_slots(state: object) -> Iterator[Slot]:
    """Every place ``state`` names, or must name, its next state, in evaluation order.

    A required ``Next`` that is missing (on a state without ``"End": true``,
    a Choice rule, a catcher) is yielded with ``target=None``; a
    ``Default`` only when present. Anything but a JSON object has none.
    """
    if not isinstance(state, dict):
        return
    state_type = state.get("Type")
    if state_type == CHOICE:
        for index, rule in _dicts(state.get("Choices")):
            yield Slot(TransitionKind.CHOICE, ("Choices", index, "Next"), rule.get("Next"), rule)
        if "Default" in state:
            yield Slot(TransitionKind.DEFAULT, ("Default",), state["Default"])
        return
    if state_type == FAIL:
        return
    if state.get("End") is not True:
        yield Slot(TransitionKind.NEXT, ("Next",), state.get("Next"))
    if isinstance(state_type, str) and state_type in CATCHING_TYPES:
        for index, catcher in _dicts(state.get("Catch")):
            yield Slot(TransitionKind.CATCH, ("Catch", index, "Next"), catcher.get("Next"), catcher)


def transitions(state: object) -> Iterator[Transition]:
    """Each transition out of ``state`` that names a state, in evaluation order."""
    for slot in transition_slots(state):
        if isinstance(slot.target, str):
            yield Transition(slot.kind, slot.where, slot.target, slot.holder)


def targets(state: object) -> list[str]:
    """The names of the states ``state`` can go to, in order (repeats kept)."""
    return [t.target for t in transitions(state)]


def ends_here(state: object) -> bool:
    """Whether the run ends successfully in ``state`` (``"End": true`` on a type that takes it)."""
    return (
        isinstance(state, dict)
        and state.get("Type") not in (CHOICE, FAIL)
        and state.get("End") is True
    )


def is_terminal(state: object) -> bool:
    """Whether the run can end in ``state``: ``"End": true``, or a Fail state."""
    return ends_here(state) or (isinstance(state, dict) and state.get("Type") == FAIL)


def _dicts(value: object) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, item) of the objects in a list; nothing for anything else."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item
