"""Stage 2, polling loops that end only if a provider returns what they wait for.

A cycle holding a Wait and an Action polls: it waits, asks a provider, and
decides. When every way out of it is a Choice branch on a value an Action in
the cycle wrote (or that Action's Catch), and nothing in the cycle counts
the polls or the time waited for a Choice to compare, the run goes round
until the service's one-year limit if the awaited value never comes (a job
that never starts, a marker nobody writes). FlowCron's own poll loops
(``flowgen.dsl.polling.poll_loop``) keep a ``waited`` counter and leave
at a deadline; this finds the loops that have no such bound.

Loops are found as strongly connected components of the state graph. A
state that updates a compared counter bounds every cycle through it, so the
check removes those states and looks again for cycles among the rest: a way
round that skips the counter is as unbounded as a loop without one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from flowgen.core import jsonpath
from flowgen.core.definition import is_terminal, transitions
from flowgen.core.jsonpath import Step, Token
from flowgen.validate.graph import is_cycle, reachable, strongly_connected, successors
from flowgen.validate.rules import Reporter
from flowgen.validate.shape import JSONObject, dicts, split_key, states_of

Steps = tuple[Step, ...]

_COMBINATORS = ("And", "Or")


def check_polling_loops(definition: object, report: Reporter) -> None:
    """Report each reachable polling loop that only an action's result can end."""
    if not isinstance(definition, dict) or not isinstance(definition.get("StartAt"), str):
        return
    states = states_of(definition)
    graph = successors(definition)
    if definition["StartAt"] not in graph:
        return  # FG201
    reached = reachable(definition["StartAt"], graph)
    if not reached <= states.keys():
        return  # a reachable state is malformed (stage 1 said so): the graph is unknown
    order = list(states)
    for component in strongly_connected(graph):
        if not is_cycle(component, graph) or component[0] not in reached:
            continue
        counters = _counter_updates(component, states)
        rest = [name for name in component if name not in counters]
        inner = {name: [t for t in graph[name] if t in rest] for name in rest}
        for loop in strongly_connected(inner):
            if not is_cycle(loop, inner):
                continue
            loop.sort(key=order.index)
            exits = _awaiting_exits(loop, states, graph)
            if exits:
                _report(loop, exits, states, report)


def _report(
    loop: list[str], exits: list[str], states: dict[str, JSONObject], report: Reporter
) -> None:
    first_wait = next(name for name in loop if states[name].get("Type") == "Wait")
    names = ", ".join(repr(name) for name in loop)
    ways_out = ", ".join(repr(name) for name in dict.fromkeys(exits))
    report.add(
        "FG208",
        ("States", first_wait),
        f"the loop through {names} polls with no deadline: every way out (at {ways_out}) "
        "waits on an action's result or error, so if the awaited value never comes the run "
        "polls until its one-year limit; count the time waited in an ExpressionEval in the "
        'loop (e.g. "waited.=": "poll.waited + 60") and leave the loop from a Choice once it '
        "passes a deadline",
    )


def _awaiting_exits(
    loop: list[str], states: dict[str, JSONObject], graph: dict[str, list[str]]
) -> list[str]:
    """The states the loop leaves from, when every way out awaits an action; else []."""
    if not any(states[name].get("Type") == "Wait" for name in loop):
        return []  # no Wait: a work loop (list, move, repeat), not one that polls
    written = _action_writes(loop, states)
    if not written:
        return []
    members = set(loop)
    exits: list[str] = []
    for name in loop:
        state = states[name]
        if is_terminal(state):
            return []  # the run can end here without any awaited value
        for transition in transitions(state):
            if transition.target in members or transition.target not in graph:
                continue  # FG202 reports a target that does not exist
            if not _awaits_action(state, transition.where, written):
                return []
            exits.append(name)
    return exits  # no exit at all is FG207's finding, not this one


def _awaits_action(state: JSONObject, where: Sequence[Token], written: list[Steps]) -> bool:
    """Whether leaving by the transition at ``where`` depends only on an action's outcome."""
    if where[0] == "Catch":
        return True
    rules = [rule for _, rule in dicts(state.get("Choices"))]
    if where[0] == "Choices" and isinstance(where[1], int):
        return _rule_awaits(state["Choices"][where[1]], written)
    if where[0] == "Default":
        # Default runs when no rule matched, so it waits on whatever every rule tests.
        return bool(rules) and all(_rule_awaits(rule, written) for rule in rules)
    return False  # a plain Next out of the loop leaves whatever the actions returned


COMPUTING_ACTIONS = frozenset(
    {
        "https://actions.globus.org/expression_eval",
        "https://actions.automate.globus.org/expression_eval",
    }
)
"""Action providers whose result is computed from the parameters, never awaited."""


def _rule_awaits(rule: object, written: list[Steps]) -> bool:
    if not isinstance(rule, dict):
        return False
    if any(op.startswith("Timestamp") for op in _operators(rule)):
        return False  # comparing timestamps is a deadline, even on an action's own times
    return any(_overlap(path, place) for path in _rule_paths(rule) for place in written)


def _action_writes(loop: list[str], states: dict[str, JSONObject]) -> list[Steps]:
    """Where the loop's Actions store results and caught errors ('$' when not given)."""
    places: list[Steps] = []
    for name in loop:
        state = states[name]
        if state.get("Type") != "Action":
            continue
        if state.get("ActionUrl") in COMPUTING_ACTIONS:
            # It computes from its parameters, as an ExpressionEval does: a counter
            # kept with it bounds the loop rather than awaiting anything.
            continue
        places += _parsed([state.get("ResultPath", "$")])
        places += _parsed(
            [catcher.get("ResultPath", "$") for _, catcher in dicts(state.get("Catch"))]
        )
    return places


def _counter_updates(component: list[str], states: dict[str, JSONObject]) -> set[str]:
    """Pass and ExpressionEval states that compute (``.=``) a value a Choice here compares."""
    compared = [
        path
        for name in component
        if states[name].get("Type") == "Choice"
        for _, rule in dicts(states[name].get("Choices"))
        for path in _rule_paths(rule)
    ]
    updates: set[str] = set()
    for name in component:
        state = states[name]
        if state.get("Type") not in ("Pass", "ExpressionEval"):
            continue
        base = _parsed([state.get("ResultPath", "$")])
        parameters = state.get("Parameters")
        if not base or not isinstance(parameters, dict):
            continue
        for place in _computed(parameters, base[0]):
            if any(_overlap(place, path) for path in compared):
                updates.add(name)
    return updates


def _computed(value: object, at: Steps) -> Iterator[Steps]:
    """The places a Parameters object writes with ``.=`` expressions, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                continue
            name, suffix = split_key(key)
            if suffix == ".=":
                yield (*at, name)
            elif not suffix:
                yield from _computed(item, (*at, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _computed(item, (*at, index))


def _rule_paths(rule: JSONObject) -> list[Steps]:
    """Every place a Choice rule reads: its Variables and ``...Path`` operands, nested too."""
    found: list[Steps] = []
    for each in _with_nested(rule):
        paths = [each.get("Variable")]
        paths += [each[op] for op in each if op.endswith("Path")]
        found += _parsed(paths)
    return found


def _operators(rule: JSONObject) -> list[str]:
    return [
        key
        for each in _with_nested(rule)
        for key in each
        if key not in (*_COMBINATORS, "Not", "Variable", "Next")
    ]


def _with_nested(rule: JSONObject) -> Iterator[JSONObject]:
    """``rule`` and every rule nested in it (under And, Or and Not), depth first."""
    yield rule
    for key in _COMBINATORS:
        for _, nested in dicts(rule.get(key)):
            yield from _with_nested(nested)
    if isinstance(rule.get("Not"), dict):
        yield from _with_nested(rule["Not"])


def _parsed(paths: list[object]) -> list[Steps]:
    """The paths that parse; the others are FG301's findings."""
    out: list[Steps] = []
    for path in paths:
        if isinstance(path, str):
            try:
                out.append(jsonpath.parse(path))
            except jsonpath.JSONPathError:
                continue
    return out


def _overlap(a: Steps, b: Steps) -> bool:
    """Whether writing one place changes the other (one contains or equals the other)."""
    return a[: len(b)] == b[: len(a)]
