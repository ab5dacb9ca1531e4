"""Stage 2, leftover template placeholders."""

from __future__ import annotations

import pytest

from flowgen.validate import validate_input_schema
from flowgen.validate.placeholders import find_placeholder

from .helpers import action, check, located, message, single


@pytest.mark.parametrize(
    "text",
    [
        "{{ collection_id }}",
        "/base/${BASE_PATH}/in",
        "<HPC_COLLECTION_ID>",
        "__BASE_PATH__/UploadedFiles",
        "@@NAME@@",
    ],
)
def test_each_template_style_is_found(text: str) -> None:
    assert find_placeholder(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "__Private_Parameters",
        "__flowgen_backtick_0",
        "a < b and c > d",
        "<html>",
        "$.input.path",
        "user@example.org",
        "cost: $5 {not a template}",
    ],
)
def test_ordinary_text_is_not_a_placeholder(text: str) -> None:
    assert find_placeholder(text) is None


def test_placeholder_in_a_value_is_located() -> None:
    definition = single(action(Parameters={"endpoint_id": "<HPC_COLLECTION_ID>", "path": "/x"}))
    findings = check(definition)
    assert located(findings) == {("FG601", "$.States.Only.Parameters.endpoint_id")}
    assert "'<HPC_COLLECTION_ID>'" in message(findings, "FG601")


def test_placeholder_in_a_key_is_located() -> None:
    definition = single(action(Parameters={"endpoint_id": "e", "path": "/x", "{{extra}}": 1}))
    assert ("FG601", "$.States.Only.Parameters['{{extra}}']") in located(check(definition))


def test_placeholder_in_a_state_name_and_comment() -> None:
    definition = {
        "Comment": "for @@SITE@@",
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "End": True}},
    }
    assert located(check(definition)) == {("FG601", "$.Comment")}


def test_private_parameters_are_not_flagged() -> None:
    parameters = {"endpoint_id": "e", "path.$": "$._private.p", "__Private_Parameters": ["path"]}
    assert check(single(action(Parameters=parameters))) == []


def test_placeholders_in_input_schemas() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "string", "default": "${HOME}"}}}
    findings = validate_input_schema(schema)
    assert located(findings) == {("FG601", "$.properties.x.default")}
