"""State graph export: golden files, escaping, condition labels."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowgen.core import jsonio
from flowgen.core.errors import InvalidFlowError
from flowgen.review.graph import EdgeKind, build_graph, describe_rule, to_dot, to_mermaid

HERE = Path(__file__).parent
SMALL_FLOW = HERE / "data" / "flows" / "small_flow.json"
GOLDEN = HERE / "golden"
UPDATE_ENV = "FLOWGEN_UPDATE_GOLDEN"


def _check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get(UPDATE_ENV) == "1":
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8") if path.exists() else "<missing>"
    assert actual == expected, (
        f"{path} differs from the generated graph; if the change is intended, regenerate with "
        f"{UPDATE_ENV}=1 .venv/bin/python -m pytest tests/test_graph.py and review the diff"
    )


def _small() -> dict[str, Any]:
    flow: dict[str, Any] = jsonio.load(SMALL_FLOW)
    return flow


def test_mermaid_golden() -> None:
    _check_golden("small_flow.mmd", to_mermaid(_small()))


def test_dot_golden() -> None:
    _check_golden("small_flow.dot", to_dot(_small()))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_dot_output_is_drawn_by_graphviz_with_the_real_names() -> None:
    flow = _small()
    flow["States"]["Odd \\ name\nwith | # ` chars"] = {"Type": "Pass", "Next": "Done"}
    result = subprocess.run(
        ["dot", "-Tsvg"],
        input=to_dot(flow),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    texts = {html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", result.stdout)}
    assert {'Report "upload" failure', "Wait <60 s>", "Odd \\ name with | # ` chars"} <= texts
    assert {"code == NotFound", "default", "States.ALL"} <= texts


def test_node_order_ignores_key_order() -> None:
    flow = _small()
    reordered = {**flow, "States": dict(reversed(list(flow["States"].items())))}
    assert to_mermaid(reordered) == to_mermaid(flow)
    assert to_dot(reordered) == to_dot(flow)


def test_edges_kinds_and_labels() -> None:
    graph = build_graph(_small())
    names = {n.id: n.name for n in graph.nodes}
    edges = {(names[e.source], names[e.target], e.kind, e.label) for e in graph.edges}
    assert ("Is it done?", "Count the wait", EdgeKind.CHOICE, "code == NotFound") in edges
    assert ("Waited a day?", "Wait <60 s>", EdgeKind.DEFAULT, "default") in edges
    assert ("Is it done?", "Done", EdgeKind.DEFAULT, "default") in edges
    assert (
        "Upload data",
        'Report "upload" failure',
        EdgeKind.CATCH,
        "ActionFailedException, ActionTimeout",
    ) in edges
    assert ("Done", "End", EdgeKind.END, "") in edges
    assert ("Start", "Upload data", EdgeKind.START, "") in edges


def test_special_characters_are_escaped() -> None:
    flow = {
        "StartAt": 'Say "hi" #1 <b>|`x`',
        "States": {
            'Say "hi" #1 <b>|`x`': {"Type": "Pass", "Next": "back\\slash"},
            "back\\slash": {"Type": "Pass", "End": True},
        },
    }
    mermaid = to_mermaid(flow)
    assert 's0("Say #quot;hi#quot; #35;1 #lt;b#gt;#124;#96;x#96;")' in mermaid
    assert 's1("back\\slash")' in mermaid
    dot = to_dot(flow)
    assert 'label="Say \\"hi\\" #1 <b>|`x`"' in dot
    assert 'label="back\\\\slash"' in dot


def test_missing_targets_are_drawn_not_refused() -> None:
    flow = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}
    graph = build_graph(flow)
    assert [(n.name, n.kind) for n in graph.nodes][1:3] == [("A", "Pass"), ("Nowhere", "missing")]
    assert "Nowhere (missing)" in to_mermaid(flow)
    assert 'label="Nowhere (missing)", shape=box, style="dashed"' in to_dot(flow)


def test_unreachable_states_come_last_by_name() -> None:
    flow = {
        "StartAt": "A",
        "States": {
            "Z": {"Type": "Pass", "End": True},
            "A": {"Type": "Pass", "End": True},
            "M": {"Type": "Wait", "Seconds": 1, "Next": "Z"},
        },
    }
    assert [n.name for n in build_graph(flow).nodes] == ["Start", "A", "M", "Z", "End"]


@pytest.mark.parametrize("definition", [{}, {"States": []}, [], {"StartAt": "A"}])
def test_not_a_flow_is_a_clear_error(definition: Any) -> None:
    with pytest.raises(InvalidFlowError, match=r"\$\.States is missing or not an object"):
        build_graph(definition)


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        ({"Variable": "$.a.code", "StringEquals": "NotFound"}, "code == NotFound"),
        ({"Variable": "$.n", "NumericGreaterThanEquals": 3}, "n >= 3"),
        ({"Variable": "$.t", "TimestampLessThanPath": "$.deadline"}, "t < deadline"),
        ({"Variable": "$.ok", "BooleanEquals": False}, "ok == false"),
        ({"Variable": "$.x", "IsPresent": False}, "x is not present"),
        ({"Variable": "$.x", "IsNull": True}, "x is null"),
        ({"Variable": "$.name", "StringMatches": "*.log"}, 'name matches "*.log"'),
        ({"Variable": "$.items[0]", "IsString": True}, "items[0] is a string"),
        (
            {
                "Not": {
                    "Or": [
                        {"Variable": "$.a", "IsNull": True},
                        {"Variable": "$.b", "NumericEquals": 1},
                    ]
                }
            },
            "not (a is null or b == 1)",
        ),
        (
            {
                "And": [
                    {"Variable": "$.r.code", "IsPresent": True},
                    {"Variable": "$.r.code", "StringEquals": "NotFound"},
                ]
            },
            "code == NotFound",
        ),
        (
            {
                "Not": {
                    "And": [
                        {"Variable": "$.s.type", "IsPresent": True},
                        {"Variable": "$.s.type", "StringEquals": "dir"},
                    ]
                }
            },
            "not (type == dir)",
        ),
        (
            {
                "Or": [
                    {
                        "And": [
                            {"Variable": "$.c.sub", "IsPresent": True},
                            {"Variable": "$.c.sub", "IsNull": False},
                        ]
                    },
                    {
                        "And": [
                            {"Variable": "$.a", "IsNull": True},
                            {"Variable": "$.b", "IsNull": True},
                        ]
                    },
                ]
            },
            "sub is not null or (a is null and b is null)",
        ),
        ({"Variable": "$.job.folder", "StringEquals": ""}, 'folder == ""'),
        ({"Variable": "$.v", "StringEquals": "two words"}, 'v == "two words"'),
        ({"Variable": "$.v", "StringEquals": "42"}, 'v == "42"'),
        ({"Variable": "$.v", "StringEquals": "true"}, 'v == "true"'),
        (
            # A presence test that guards nothing is part of the decision.
            {
                "And": [
                    {"Variable": "$.a", "IsPresent": True},
                    {"Variable": "$.b", "StringEquals": "x"},
                ]
            },
            "a is present and b == x",
        ),
    ],
)
def test_describe_rule(rule: dict[str, Any], text: str) -> None:
    assert describe_rule(rule) == text


def test_long_conditions_are_shortened() -> None:
    rule = {
        "Or": [{"Variable": f"$.v{i}", "StringEquals": "x" * 10} for i in range(5)],
        "Next": "B",
    }
    flow = {
        "StartAt": "A",
        "States": {"A": {"Type": "Choice", "Choices": [rule]}, "B": {"Type": "Pass", "End": True}},
    }
    label = build_graph(flow).edges[1].label
    assert len(label) == 80 and label.endswith("…")


_names = st.text(alphabet='AB "#|`\\<>\n', min_size=1, max_size=4)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | _names,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
    max_leaves=10,
)
_state = st.fixed_dictionaries(
    {},
    optional={
        "Type": st.sampled_from(["Action", "Pass", "Wait", "Choice", "Fail", "Bogus"]) | _json,
        "Next": _names | _json,
        "End": st.booleans(),
        "Default": _names,
        "Choices": st.lists(
            st.fixed_dictionaries({"Next": _names}, optional={"Or": _json}), max_size=2
        )
        | _json,
        "Catch": st.lists(
            st.fixed_dictionaries({"Next": _names, "ErrorEquals": _json}), max_size=2
        ),
    },
)


@settings(max_examples=200, deadline=None)
@given(_names | _json, st.dictionaries(_names, _state | _json, max_size=4))
def test_any_states_draw_without_error(start: Any, states: dict[str, Any]) -> None:
    definition = {"StartAt": start, "States": states}
    graph = build_graph(definition)
    ids = [n.id for n in graph.nodes]
    assert len(ids) == len(set(ids))
    assert {e.source for e in graph.edges} | {e.target for e in graph.edges} <= set(ids)
    for text in (to_mermaid(definition), to_dot(definition)):
        # One line per node and edge, whatever the names contain.
        assert len(text.splitlines()) >= len(graph.nodes) + len(graph.edges)
        assert text == (to_mermaid if text.startswith("flowchart") else to_dot)(definition)
    dot_labels = re.findall(r'label="((?:[^"\\]|\\.)*)"', to_dot(definition))
    assert len(dot_labels) >= len(graph.nodes)


@pytest.mark.parametrize(
    ("variable", "shown"),
    [
        ("$.items[1:]", "items[1:]"),
        ("$.jobs[:-1]", "jobs[:-1]"),
        ("$.a.b[0][1]", "b[0][1]"),
        ("$.a.items[1:][0]", "items[1:][0]"),
        ("$.a.b[0]", "b[0]"),
        ("$.jobs[1:].id", "id"),
    ],
)
def test_a_variable_ending_in_an_index_or_slice_keeps_its_key(variable: str, shown: str) -> None:
    assert describe_rule({"Variable": variable, "IsPresent": True}) == f"{shown} is present"
