"""Stage 2, the state graph: targets exist, Next/End, reachability, endless waits.

Edges are every way control can move, as :mod:`flowgen.core.definition`
walks them: a Choice's rules' ``Next`` and its ``Default``; any other
state's ``Next`` (unless it ends) and, on an Action, its catchers' ``Next``.
A state is terminal when it has ``"End": true`` or is a Fail state. Keys a
state type cannot have are stage 1's findings, not edges.
"""

from __future__ import annotations

import difflib

from flowgen.core.definition import is_terminal, transitions
from flowgen.validate.rules import Reporter
from flowgen.validate.shape import JSONObject, states_of

# States that never take Next or End (Choice branches, Fail ends the run).
_NO_TRANSITION = frozenset({"Choice", "Fail"})


def successors(definition: object) -> dict[str, list[str]]:
    """The graph: each state's existing target states, in order, without repeats.

    Every state name is a node; a malformed state (not an object) has no edges.
    """
    if not isinstance(definition, dict) or not isinstance(definition.get("States"), dict):
        return {}
    names = definition["States"]
    graph: dict[str, list[str]] = {}
    for name, state in names.items():
        targets = (
            [t.target for t in transitions(state) if t.target in names]
            if isinstance(state, dict)
            else []
        )
        graph[name] = list(dict.fromkeys(targets))
    return graph


def check_graph(definition: object, report: Reporter) -> None:
    """Targets, Next/End, reachability, terminal states and Wait loops."""
    if not isinstance(definition, dict) or not isinstance(definition.get("States"), dict):
        return
    names = list(definition["States"])
    states = states_of(definition)
    for name, state in states.items():
        _check_next_end(name, state, report)
        for transition in transitions(state):
            target = transition.target
            if target not in definition["States"]:
                report.add(
                    "FG202",
                    ("States", name, *transition.where),
                    f"{target!r} is not a state in this flow{_suggest(target, names)}",
                )
    start = definition.get("StartAt")
    if not isinstance(start, str):
        return
    if start not in definition["States"]:
        report.add(
            "FG201",
            ("StartAt",),
            f"StartAt {start!r} is not a state in this flow{_suggest(start, names)}",
        )
        return
    graph = successors(definition)
    reached = reachable(start, graph)
    for name in names:
        if name not in reached:
            report.add(
                "FG203",
                ("States", name),
                f"state {name!r} can never run: no Next, Default or Catch leads to it from "
                f"StartAt {start!r}; connect it or delete it",
            )
    if not reached <= states.keys():
        return  # a reachable state is malformed (stage 1 said so): the graph is unknown
    if not any(is_terminal(states[name]) for name in reached):
        report.add(
            "FG204",
            ("States",),
            f"no run starting at {start!r} can ever end: no reachable state has "
            '"End": true or is a Fail state',
        )
    _check_wait_loops(states, graph, reached, report)


def _check_next_end(name: str, state: JSONObject, report: Reporter) -> None:
    state_type = state.get("Type")
    if not isinstance(state_type, str) or state_type in _NO_TRANSITION:
        return  # unknown types are stage 1's; Next/End on these are disallowed keys there
    if "End" in state and state["End"] is not True and isinstance(state["End"], bool):
        report.add(
            "FG206",
            ("States", name, "End"),
            '"End" must be true when present; to continue to another state remove End and keep Next',
        )
    has_next = "Next" in state
    ends = state.get("End") is True
    if has_next and ends:
        report.add(
            "FG205",
            ("States", name),
            f'state {name!r} has both Next and "End": true; keep Next to continue or End to stop',
        )
    elif not has_next and "End" not in state:
        report.add(
            "FG205",
            ("States", name),
            f'state {name!r} needs either "Next": "<state>" or "End": true',
        )


def reachable(start: str, graph: dict[str, list[str]]) -> set[str]:
    """The states a run starting at ``start`` can reach, ``start`` included."""
    seen = {start}
    todo = [start]
    while todo:
        for target in graph.get(todo.pop(), []):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _check_wait_loops(
    states: dict[str, JSONObject],
    graph: dict[str, list[str]],
    reached: set[str],
    report: Reporter,
) -> None:
    # A strongly connected set of states containing a Wait, with no edge
    # leaving it and no terminal state inside, polls for ever: the run only
    # stops at the service's one-year limit.
    for component in strongly_connected(graph):
        members = set(component)
        if not is_cycle(component, graph) or not members & reached:
            continue
        waits = [n for n in component if states[n].get("Type") == "Wait"]
        if not waits:
            continue
        leaves = any(t not in members for n in component for t in graph[n])
        if leaves or any(is_terminal(states[n]) for n in component):
            continue
        first = min(waits, key=list(states).index)
        loop = ", ".join(repr(n) for n in sorted(component, key=list(states).index))
        report.add(
            "FG207",
            ("States", first),
            f"the loop through {loop} waits for ever: no state in it leads out or ends the "
            "run; add a Choice branch (or a Catch) that leaves the loop, e.g. after a deadline",
        )


def is_cycle(component: list[str], graph: dict[str, list[str]]) -> bool:
    """Whether a strongly connected component is a loop (two or more states, or a self-loop)."""
    return len(component) > 1 or component[0] in graph.get(component[0], [])


def strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = graph[node]
            if child < len(targets):
                work.append((node, child + 1))
                target = targets[child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _suggest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
