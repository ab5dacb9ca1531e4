"""No input makes the validator raise (Hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowgen.core.findings import Finding
from flowgen.validate import RULES, validate_definition, validate_flow, validate_input_schema

from .helpers import load_flow

KEYS = [
    "StartAt",
    "States",
    "Comment",
    "Type",
    "Next",
    "End",
    "Parameters",
    "InputPath",
    "ResultPath",
    "ActionUrl",
    "Handler",
    "Catch",
    "ErrorEquals",
    "Choices",
    "Default",
    "Variable",
    "And",
    "Or",
    "Not",
    "StringEquals",
    "NumericLessThanPath",
    "TimestampEquals",
    "IsPresent",
    "Seconds",
    "Timestamp",
    "SecondsPath",
    "Error",
    "ErrorPath",
    "Cause",
    "WaitTime",
    "Result",
    "DATA",
    "x.$",
    "y.=",
    "__Private_Parameters",
    "RespondentUrns",
    "flow_starters",
    "A",
    "B",
    "Url",
    "source_endpoint_id",
    "endpoint",
    "format",
    "properties",
    "required",
    "propertyOrder",
    "id",
]
TEXT = st.sampled_from(
    [
        "A",
        "B",
        "Action",
        "Pass",
        "Wait",
        "Choice",
        "Fail",
        "ExpressionEval",
        "Task",
        "$",
        "$.a",
        "$.a[0]",
        "$..x",
        "len(x)",
        "max(",
        "`$.a`",
        "https://transfer.actions.globus.org/transfer",
        "https://actions.globus.org/transfer/ls",
        "2026-01-01T00:00:00Z",
        "{{x}}",
        "public",
        "globus-collection",
        "object",
        "",
    ]
) | st.text(max_size=8)
SCALARS = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True) | TEXT
JSONISH = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=6)
    ),
    max_leaves=40,
)


def _assert_findings(findings: list[Finding]) -> None:
    assert findings == sorted(set(findings))
    assert all(f.code in RULES and f.path.startswith("$") for f in findings)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_any_json_value_gives_findings_not_exceptions(value: Any) -> None:
    _assert_findings(validate_definition(value))
    _assert_findings(validate_input_schema(value))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_corrupting_a_real_flow_never_raises(data: st.DataObject) -> None:
    definition = load_flow(
        data.draw(st.sampled_from(["move.json", "ls_loop.json", "worked_example.json"]))
    )
    # Replace one value somewhere in the flow by random JSON.
    node: Any = definition
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        descend = isinstance(child, dict | list) and child and data.draw(st.booleans())
        if not descend:
            node[key] = data.draw(JSONISH)
            break
        node = child
    _assert_findings(validate_flow(definition, data.draw(JSONISH)))
