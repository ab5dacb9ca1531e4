"""Semantic diff: what a reviewer sees when a flow changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowgen.core import jsonpath
from flowgen.review.diff import (
    MISSING,
    ChangeKind,
    Document,
    diff_flows,
    json_equal,
    schemas_compared,
)
from flowgen.review.load import FlowDocs


def _flow() -> dict[str, Any]:
    return {
        "Comment": "Poll until the agent is done",
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Action",
                "ActionUrl": "https://transfer.actions.globus.org/stat",
                "Parameters": {"endpoint_id": "abc", "path": "/project/done"},
                "ResultPath": "$.Check",
                "Catch": [
                    {"ErrorEquals": ["ActionTimeout"], "ResultPath": "$.E", "Next": "Retry"},
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.E", "Next": "Broken"},
                ],
                "Next": "Poll",
            },
            "Poll": {"Type": "Wait", "Seconds": 60, "Next": "Check"},
            "Retry": {"Type": "Pass", "Next": "Check"},
            "Broken": {"Type": "Fail", "Error": "Broken", "Cause": "see $.E"},
        },
    }


def _docs(definition: dict[str, Any], schema: dict[str, Any] | None = None) -> FlowDocs:
    return FlowDocs(definition=definition, input_schema=schema)


def _lines(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [str(c) for c in diff_flows(_docs(a), _docs(b))]


def test_identical_flows_modulo_key_order_have_no_changes() -> None:
    a = _flow()

    # Rebuild every object with its keys reversed: same JSON value.
    def reverse(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reverse(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse(v) for v in value]
        return value

    b = reverse(a)
    assert list(b["States"]) != list(a["States"])
    assert diff_flows(_docs(a), _docs(b)) == []


def test_changed_value_shows_old_and_new() -> None:
    b = _flow()
    b["States"]["Poll"]["Seconds"] = 120
    changes = diff_flows(_docs(_flow()), _docs(b))
    assert [(c.path, c.kind, c.old, c.new) for c in changes] == [
        ("$.States.Poll.Seconds", ChangeKind.FIELD_CHANGED, 60, 120)
    ]
    assert str(changes[0]) == "~ $.States.Poll.Seconds: 60 -> 120"


def test_state_added_and_removed_and_rename_is_both() -> None:
    b = _flow()
    b["States"]["New"] = {"Type": "Pass", "End": True}
    b["States"]["Retry again"] = b["States"].pop("Retry")
    assert _lines(_flow(), b) == [
        "+ $.States.New (state added)",
        "- $.States.Retry (state removed)",
        "+ $.States['Retry again'] (state added)",
    ]


def test_nested_parameter_change_is_named_by_full_path() -> None:
    b = _flow()
    b["States"]["Check"]["Parameters"]["path"] = "/project/finished"
    b["States"]["Check"]["Parameters"]["extra"] = {"a": [1]}
    assert _lines(_flow(), b) == [
        '+ $.States.Check.Parameters.extra: {"a": [1]}',
        '~ $.States.Check.Parameters.path: "/project/done" -> "/project/finished"',
    ]


def test_catch_reorder_is_a_change() -> None:
    b = _flow()
    b["States"]["Check"]["Catch"].reverse()
    changes = diff_flows(_docs(_flow()), _docs(b))
    assert len(changes) == 1
    assert changes[0].kind is ChangeKind.ORDER_CHANGED
    assert changes[0].path == "$.States.Check.Catch"
    assert str(changes[0]).startswith("~ $.States.Check.Catch (order changed): [")


def test_list_item_change_and_growth() -> None:
    b = _flow()
    catches = b["States"]["Check"]["Catch"]
    catches[1]["ErrorEquals"] = ["ActionFailedException"]
    catches.append({"ErrorEquals": ["States.ALL"], "Next": "Broken"})
    assert _lines(_flow(), b) == [
        '~ $.States.Check.Catch[1].ErrorEquals[0]: "States.ALL" -> "ActionFailedException"',
        '+ $.States.Check.Catch[2]: {"ErrorEquals": ["States.ALL"], "Next": "Broken"}',
    ]


def test_start_and_removed_field() -> None:
    b = _flow()
    b["StartAt"] = "Poll"
    del b["Comment"]
    changes = diff_flows(_docs(_flow()), _docs(b))
    assert [(c.path, c.kind) for c in changes] == [
        ("$.Comment", ChangeKind.FIELD_REMOVED),
        ("$.StartAt", ChangeKind.START_CHANGED),
    ]
    assert changes[0].new is MISSING
    assert "new" not in changes[0].to_json()


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [(1, 1.0, False), (True, 1, True), (0, False, True), (None, "null", True), ([], {}, True)],
)
def test_json_equality_not_python_equality(old: object, new: object, changed: bool) -> None:
    a, b = _flow(), _flow()
    a["States"]["Poll"]["Seconds"] = old
    b["States"]["Poll"]["Seconds"] = new
    assert bool(diff_flows(_docs(a), _docs(b))) is changed


def test_schema_changes_are_separate_from_definition() -> None:
    schema = {"type": "object", "properties": {"delete": {"type": "boolean", "default": False}}}
    new_schema = copy.deepcopy(schema)
    new_schema["properties"]["delete"]["default"] = True
    b = _flow()
    b["States"]["Poll"]["Seconds"] = 30
    changes = diff_flows(_docs(_flow(), schema), _docs(b, new_schema))
    assert [c.document for c in changes] == [Document.DEFINITION, Document.INPUT_SCHEMA]
    assert str(changes[1]) == "~ input schema $.properties.delete.default: false -> true"


def test_schema_on_one_side_only_is_not_compared() -> None:
    schema = {"type": "object"}
    with_schema, without = _docs(_flow(), schema), _docs(_flow())
    assert diff_flows(with_schema, without) == []
    assert diff_flows(without, with_schema) == []
    assert not schemas_compared(with_schema, without)
    assert schemas_compared(with_schema, with_schema)


def test_output_order_does_not_depend_on_input_order() -> None:
    a = _flow()
    b = _flow()
    b["States"]["Poll"]["Seconds"] = 5
    b["States"]["Broken"]["Cause"] = "x"
    b["States"]["Zed"] = {"Type": "Pass", "End": True}
    shuffled = dict(reversed(list(b["States"].items())))
    b2 = {**b, "States": shuffled}
    assert _lines(a, b) == _lines(a, b2)
    assert _lines(a, b) == [
        '~ $.States.Broken.Cause: "see $.E" -> "x"',
        "~ $.States.Poll.Seconds: 60 -> 5",
        "+ $.States.Zed (state added)",
    ]


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text("ab", max_size=2),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text("abc", max_size=2), inner, max_size=3)
    ),
    max_leaves=12,
)
_definitions = st.fixed_dictionaries(
    {"StartAt": st.text("AB", min_size=1, max_size=1)},
    optional={"States": st.dictionaries(st.text("AB", min_size=1, max_size=1), _json, max_size=3)},
)


@settings(max_examples=200, deadline=None)
@given(_definitions, _definitions)
def test_any_definitions_diff_without_error_and_consistently(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    changes = diff_flows(_docs(a), _docs(b))
    assert diff_flows(_docs(a), _docs(a)) == []
    assert (changes == []) == json_equal(a, b)
    # Every change names a location that exists on the side it comes from.
    for change in changes:
        if change.old is not MISSING:
            assert jsonpath.get(a, change.steps) == change.old
        if change.new is not MISSING:
            assert jsonpath.get(b, change.steps) == change.new
    assert [str(c) for c in changes] == [
        str(c) for c in sorted(changes, key=lambda c: c.sort_key())
    ]
