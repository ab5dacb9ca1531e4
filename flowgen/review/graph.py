"""The state graph of a flow, drawn as Mermaid or Graphviz DOT for docs and review.

:func:`build_graph` turns a definition into nodes and edges once; the
renderers only format them, so both outputs always show the same graph.
Nodes appear in the order a reader follows the flow (breadth-first from
``StartAt``, error handlers after the normal path, then any unreachable
states by name, each followed by the states it leads to), which makes the output
independent of the key order in the JSON file. Catch edges are dashed and
labelled with the error names; Choice edges carry a short rendering of
their condition (``code == NotFound``). Which transitions a state has is
:func:`flowgen.core.definition.transitions`' answer, the one the service
follows.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from flowgen.core.definition import Transition, TransitionKind, ends_here, transitions
from flowgen.core.errors import InvalidFlowError
from flowgen.core.jsonpath import JSONPathError, parse

START_ID = "flow_start"
"""Node id of the Start node (``end`` alone is a Mermaid keyword, so both are prefixed)."""
END_ID = "flow_end"
"""Node id of the End node."""

_LABEL_LIMIT = 80
"""Longest condition label drawn before it is shortened with an ellipsis."""


_BARE_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.*/-]*$")


class EdgeKind(str, Enum):
    """Why the flow can go from one node to another."""

    START = "start"
    NEXT = "next"
    END = "end"
    CHOICE = "choice"
    DEFAULT = "default"
    CATCH = "catch"


@dataclass(frozen=True)
class Node:
    """A state (``kind`` is its Type), Start/End (``start``/``end``) or a missing target."""

    id: str
    name: str
    kind: str


@dataclass(frozen=True)
class Edge:
    """A possible transition; ``label`` is empty for plain Next edges."""

    source: str
    target: str
    kind: EdgeKind
    label: str = ""


@dataclass(frozen=True)
class Graph:
    """The nodes and edges of a flow, in drawing order."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def to_json(self) -> dict[str, Any]:
        """The graph as plain JSON (for ``flowgen graph --format json``)."""
        return {
            "nodes": [asdict(n) for n in self.nodes],
            "edges": [{**asdict(e), "kind": e.kind.value} for e in self.edges],
        }


def build_graph(definition: dict[str, Any]) -> Graph:
    """The state graph of ``definition``.

    Targets that name no state are drawn as ``missing`` nodes rather than
    refused, so a broken flow can still be looked at. A definition without a
    ``States`` object raises :class:`~flowgen.core.errors.InvalidFlowError`.
    """
    states = definition.get("States") if isinstance(definition, dict) else None
    if not isinstance(states, dict):
        raise InvalidFlowError(
            "cannot draw this flow: $.States is missing or not an object "
            "(run flowgen validate for details)"
        )
    start = definition.get("StartAt")

    order = _layout_order(states, start)
    ids = {name: f"s{i}" for i, name in enumerate(order)}
    nodes = [Node(START_ID, "Start", "start")]
    nodes += [Node(ids[name], name, _node_kind(states, name)) for name in order]
    nodes.append(Node(END_ID, "End", "end"))

    edges: list[Edge] = []
    if isinstance(start, str):
        edges.append(Edge(START_ID, ids[start], EdgeKind.START))
    for name in order:
        state = states.get(name)
        for target, edge_kind, label in _transitions(state):
            edges.append(Edge(ids[name], ids[target], edge_kind, label))
        if ends_here(state):
            edges.append(Edge(ids[name], END_ID, EdgeKind.END))
    return Graph(tuple(nodes), tuple(edges))


def _layout_order(states: dict[str, Any], start: object) -> list[str]:
    """Every state name (and missing target), in the order the graph lays them out.

    The normal path is laid out first and error handlers after it, so a
    reader meets the states in the order a successful run visits them.
    """
    order: list[str] = []
    seen: set[str] = set()
    queue: deque[str] = deque([start] if isinstance(start, str) else [])
    handlers: deque[str] = deque()
    unvisited = sorted(states)
    while queue or handlers or unvisited:
        if queue or handlers:
            name = queue.popleft() if queue else handlers.popleft()
        else:
            # An unreachable state, taken by name, with what it leads to.
            name = unvisited.pop(0)
        if name in seen:
            continue
        seen.add(name)
        order.append(name)
        for target, edge_kind, _ in _transitions(states.get(name)):
            (handlers if edge_kind is EdgeKind.CATCH else queue).append(target)
    return order


def _node_kind(states: dict[str, Any], name: str) -> str:
    """A node's kind: the state's Type, ``missing`` for an unknown target, else ``unknown``."""
    if name not in states:
        return "missing"
    state = states[name]
    if isinstance(state, dict) and isinstance(state.get("Type"), str):
        return str(state["Type"])
    return "unknown"


_EDGE_KINDS = {
    TransitionKind.NEXT: EdgeKind.NEXT,
    TransitionKind.CHOICE: EdgeKind.CHOICE,
    TransitionKind.DEFAULT: EdgeKind.DEFAULT,
    TransitionKind.CATCH: EdgeKind.CATCH,
}


def _transitions(state: object) -> Iterator[tuple[str, EdgeKind, str]]:
    """(target, kind, label) of every transition out of a state, in evaluation order."""
    for transition in transitions(state):
        yield transition.target, _EDGE_KINDS[transition.kind], _label(transition)


def _label(transition: Transition) -> str:
    holder = transition.holder or {}
    if transition.kind is TransitionKind.CHOICE:
        return _shorten(describe_rule(dict(holder)))
    if transition.kind is TransitionKind.DEFAULT:
        return "default"
    if transition.kind is TransitionKind.CATCH:
        errors = holder.get("ErrorEquals")
        names = [e for e in errors if isinstance(e, str)] if isinstance(errors, list) else []
        return ", ".join(names) or "error"
    return ""


# ---------------------------------------------------------------- conditions

_COMPARISONS = {
    "Equals": "==",
    "LessThan": "<",
    "GreaterThan": ">",
    "LessThanEquals": "<=",
    "GreaterThanEquals": ">=",
}
_TYPE_TESTS = {
    "IsNull": "null",
    "IsPresent": "present",
    "IsNumeric": "numeric",
    "IsString": "a string",
    "IsBoolean": "a boolean",
    "IsTimestamp": "a timestamp",
}


def describe_rule(rule: dict[str, Any]) -> str:
    """A short, human reading of a Choice rule (``code == NotFound``).

    Variables are shown by their last path step. Inside ``And``, an
    ``IsPresent: true`` test that only guards another test of the same
    variable is left out: it is how flows avoid a runtime error, not part
    of the decision a reader cares about.
    """
    return _describe(rule)[0]


def _describe(rule: dict[str, Any]) -> tuple[str, bool]:
    """The text of a rule and whether it joins several parts with and/or."""
    if "And" in rule or "Or" in rule:
        joiner = "And" if "And" in rule else "Or"
        parts = rule[joiner] if isinstance(rule[joiner], list) else []
        rules = [r for r in parts if isinstance(r, dict)]
        if joiner == "And":
            rules = _drop_presence_guards(rules)
        texts = [_grouped(r) for r in rules]
        if len(texts) == 1:
            return texts[0], False
        return (f" {joiner.lower()} ".join(texts) if texts else joiner.lower()), len(texts) > 1
    if "Not" in rule:
        inner = rule["Not"]
        return (f"not ({describe_rule(inner)})" if isinstance(inner, dict) else "not ?"), False
    return _describe_test(rule), False


def _grouped(rule: dict[str, Any]) -> str:
    text, compound = _describe(rule)
    return f"({text})" if compound else text


def _drop_presence_guards(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tested = {r.get("Variable") for r in rules if "Variable" in r and _operator(r) != "IsPresent"}
    kept = [
        r
        for r in rules
        if not (r.get("IsPresent") is True and r.get("Variable") in tested and len(r) == 2)
    ]
    return kept or rules


def _operator(rule: dict[str, Any]) -> str:
    return next((k for k in rule if k not in ("Variable", "Next")), "")


def _describe_test(rule: dict[str, Any]) -> str:
    variable = _short_path(rule.get("Variable"))
    operator = _operator(rule)
    if not operator:
        return f"{variable} ?"
    operand = rule[operator]
    if operator in _TYPE_TESTS:
        negation = "" if operand is True else "not "
        return f"{variable} is {negation}{_TYPE_TESTS[operator]}"
    if operator == "StringMatches":
        return f"{variable} matches {_operand(operand)}"
    base = operator.removesuffix("Path")
    by_path = base != operator
    for suffix, symbol in sorted(_COMPARISONS.items(), key=lambda kv: -len(kv[0])):
        if base.endswith(suffix) and base[: -len(suffix)] in (
            "String",
            "Numeric",
            "Boolean",
            "Timestamp",
        ):
            shown = _short_path(operand) if by_path else _operand(operand)
            return f"{variable} {symbol} {shown}"
    return f"{variable} {operator} {_operand(operand)}"


def _short_path(path: object) -> str:
    if not isinstance(path, str):
        return "?"
    try:
        steps = parse(path)
    except JSONPathError:
        return path
    if not steps:
        return "$"
    # The last key, with the indexes and slices after it: a Variable ending in
    # [0] or [1:] keeps the key it indexes (items[1:], not [1:]).
    keys = [i for i, step in enumerate(steps) if isinstance(step, str)]
    if not keys:
        last = steps[-1]
        return f"{steps[-2]}[{last}]" if isinstance(last, int) and len(steps) > 1 else str(last)
    key = keys[-1]
    return str(steps[key]) + "".join(
        f"[{step}]" if isinstance(step, int) else str(step) for step in steps[key + 1 :]
    )


def _operand(value: object) -> str:
    # Plain words are shown bare (NotFound); anything a reader could misread
    # (an empty string, spaces, a number-like string) keeps its JSON quotes.
    if (
        isinstance(value, str)
        and _BARE_WORD.match(value)
        and value not in ("true", "false", "null")
    ):
        return value
    return json.dumps(value, ensure_ascii=False)


def _shorten(text: str) -> str:
    return text if len(text) <= _LABEL_LIMIT else text[: _LABEL_LIMIT - 1] + "…"


# ------------------------------------------------------------------ Mermaid

_MERMAID_SHAPES = {
    "start": ('(("', '"))'),
    "end": ('(("', '"))'),
    "Choice": ('{"', '"}'),
    "Fail": ('{{"', '"}}'),
    "Wait": ('[/"', '"/]'),
    "Pass": ('("', '")'),
    "ExpressionEval": ('("', '")'),
}


def to_mermaid(definition: dict[str, Any]) -> str:
    """The state graph as a Mermaid flowchart (paste into Markdown in a ```mermaid block).

    Choice states are diamonds, Fail states red hexagons, Wait states
    parallelograms, Pass/ExpressionEval rounded boxes, Actions boxes; Catch
    edges are dashed.
    """
    graph = build_graph(definition)
    lines = ["flowchart TD"]
    for node in graph.nodes:
        label = _mermaid_text(f"{node.name} (missing)" if node.kind == "missing" else node.name)
        opening, closing = _MERMAID_SHAPES.get(node.kind, ('["', '"]'))
        lines.append(f"    {node.id}{opening}{label}{closing}")
    for edge in graph.edges:
        arrow = "-.->" if edge.kind is EdgeKind.CATCH else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {edge.source} {arrow}{label} {edge.target}")
    fails = [n.id for n in graph.nodes if n.kind == "Fail"]
    missing = [n.id for n in graph.nodes if n.kind == "missing"]
    lines.append("    classDef fail fill:#f8d7da,stroke:#c0392b,color:#58151c")
    lines.append("    classDef missing stroke-dasharray:5 5")
    if fails:
        lines.append(f"    class {','.join(fails)} fail")
    if missing:
        lines.append(f"    class {','.join(missing)} missing")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    # Inside a quoted label Mermaid reads entity codes; '#' goes first so the
    # codes added afterwards are not escaped again. Backticks would start a
    # Markdown string and '|' would end an edge label.
    text = " ".join(text.split())
    text = text.replace("#", "#35;")
    for char, code in (
        ('"', "#quot;"),
        ("<", "#lt;"),
        (">", "#gt;"),
        ("`", "#96;"),
        ("|", "#124;"),
    ):
        text = text.replace(char, code)
    return text


# ---------------------------------------------------------------------- DOT

_DOT_SHAPES = {
    "start": "shape=circle",
    "end": "shape=doublecircle",
    "Choice": "shape=diamond",
    "Fail": 'shape=octagon, style=filled, fillcolor="#f8d7da", color="#c0392b"',
    "Wait": "shape=parallelogram",
    "Pass": 'shape=box, style="rounded"',
    "ExpressionEval": 'shape=box, style="rounded"',
    "missing": 'shape=box, style="dashed"',
}


def to_dot(definition: dict[str, Any]) -> str:
    """The state graph in Graphviz DOT (``dot -Tsvg``), with the same shapes as Mermaid."""
    graph = build_graph(definition)
    lines = [
        "digraph flow {",
        "  rankdir=TB;",
        '  node [shape=box, fontname="Helvetica"];',
        '  edge [fontname="Helvetica"];',
    ]
    for node in graph.nodes:
        label = _dot_text(f"{node.name} (missing)" if node.kind == "missing" else node.name)
        shape = _DOT_SHAPES.get(node.kind, "shape=box")
        lines.append(f'  {node.id} [label="{label}", {shape}];')
    for edge in graph.edges:
        attrs = [f'label="{_dot_text(edge.label)}"'] if edge.label else []
        if edge.kind is EdgeKind.CATCH:
            attrs.append('style=dashed, color="#c0392b", fontcolor="#c0392b"')
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {edge.source} -> {edge.target}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    # DOT strings are escString: a lone backslash would start \n, \l or \N.
    text = " ".join(text.split())
    return text.replace("\\", "\\\\").replace('"', '\\"')
