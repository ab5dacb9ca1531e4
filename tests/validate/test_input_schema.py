"""Input schema checks: draft-07 and the globus-collection convention."""

from __future__ import annotations

from typing import Any

import pytest

from flowgen.validate import validate_input_schema

from .helpers import located, message

GOOD: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["source"],
    "additionalProperties": False,
    "propertyOrder": ["source", "delete"],
    "properties": {
        "source": {
            "type": "object",
            "format": "globus-collection",
            "title": "Source collection and path",
            "required": ["id", "path"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "path": {"type": "string", "pattern": "/$"},
            },
        },
        "delete": {"type": "boolean", "title": "Delete afterwards?", "default": False},
    },
}


def with_(**changes: Any) -> dict[str, Any]:
    """GOOD with top-level keys replaced."""
    return {**GOOD, **changes}


def test_a_good_schema_has_no_findings() -> None:
    assert validate_input_schema(GOOD) == []
    assert validate_input_schema({}) == []


@pytest.mark.parametrize("value", [[], "schema", None, True, 1])
def test_a_schema_must_be_an_object(value: object) -> None:
    findings = validate_input_schema(value, file="s.json")
    assert [(f.file, f.code, f.path) for f in findings] == [("s.json", "FG701", "$")]


def test_meta_schema_errors_are_located() -> None:
    schema = with_(properties={"n": {"type": "integr"}, "m": {"minimum": "3"}})
    findings = validate_input_schema(schema)
    assert {("FG701", "$.properties.n.type"), ("FG701", "$.properties.m.minimum")} <= located(
        findings
    )
    assert any("'integr' is not a JSON Schema type" in f.message for f in findings)


def test_required_must_be_a_list_of_strings() -> None:
    assert ("FG701", "$.required") in located(validate_input_schema(with_(required="source")))


def test_globus_collection_needs_id_and_path() -> None:
    source = {
        "type": "object",
        "format": "globus-collection",
        "properties": {"id": {"type": "string"}},
    }
    schema = with_(properties={**GOOD["properties"], "source": source})
    findings = validate_input_schema(schema)
    assert located(findings) == {("FG702", "$.properties.source")}
    assert "missing: path" in message(findings, "FG702")


def test_globus_collection_deep_inside_the_schema() -> None:
    nested = {
        "type": "object",
        "properties": {
            "list": {"type": "array", "items": {"type": "object", "format": "globus-collection"}}
        },
    }
    findings = validate_input_schema(nested)
    assert located(findings) == {("FG702", "$.properties.list.items")}


def test_globus_collection_must_be_an_object() -> None:
    schema = {
        "type": "object",
        "properties": {"c": {"type": "string", "format": "globus-collection"}},
    }
    assert ("FG702", "$.properties.c.type") in located(validate_input_schema(schema))


def test_a_property_called_format_is_not_a_format() -> None:
    schema = {
        "type": "object",
        "properties": {"format": {"type": "string", "enum": ["globus-collection"]}},
    }
    assert validate_input_schema(schema) == []


def test_property_order_names_defined_properties() -> None:
    findings = validate_input_schema(with_(propertyOrder=["source", "delet"]))
    assert located(findings) == {("FG703", "$.propertyOrder[1]")}
    assert findings[0].severity.value == "warning"


def test_required_property_forbidden_by_additional_properties() -> None:
    findings = validate_input_schema(with_(required=["source", "target"]))
    assert located(findings) == {("FG704", "$.required[1]")}
    assert (
        validate_input_schema(with_(required=["source", "target"], additionalProperties=True)) == []
    )


def test_other_drafts_are_a_warning() -> None:
    findings = validate_input_schema(
        with_(**{"$schema": "https://json-schema.org/draft/2020-12/schema"})
    )
    assert located(findings) == {("FG705", "$['$schema']")}
