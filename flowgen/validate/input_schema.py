"""Checks for a flow's input schema: draft-07, and the Globus web-app conventions.

The Flows web app draws its start form from the input schema; an object
with ``"format": "globus-collection"`` becomes a collection-and-path picker
that fills exactly the properties ``id`` and ``path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flowgen.core.jsonpath import Token
from flowgen.validate.rules import Reporter
from flowgen.validate.schema_file import draft7_meta_validator
from flowgen.validate.shape import JSONObject, snippet, type_name

DRAFT7_URIS = frozenset(
    {"http://json-schema.org/draft-07/schema#", "http://json-schema.org/draft-07/schema"}
)
COLLECTION_FORMAT = "globus-collection"

# Keywords whose values are data, not schemas: never look inside them.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples", "propertyOrder", "required"})
_JSON_TYPES = "array, boolean, integer, null, number, object, string"


def check_input_schema(schema: object, report: Reporter) -> None:
    """Report every problem with ``schema`` as a flow input schema."""
    if not isinstance(schema, dict):
        report.add(
            "FG701",
            (),
            f"an input schema must be a JSON object (use {{}} to accept any input), got "
            f"{type_name(schema)}",
        )
        return
    declared = schema.get("$schema")
    if isinstance(declared, str) and declared not in DRAFT7_URIS:
        report.add(
            "FG705",
            ("$schema",),
            f"$schema is {declared!r} but Globus checks input schemas as draft-07; declare "
            "'http://json-schema.org/draft-07/schema#' and use draft-07 keywords",
        )
    for error in draft7_meta_validator().iter_errors(schema):
        steps: tuple[Token, ...] = tuple(error.absolute_path)
        if steps and steps[-1] == "type" and isinstance(error.instance, str):
            message = f"{error.instance!r} is not a JSON Schema type; use one of {_JSON_TYPES}"
        else:
            message = f"not valid draft-07: {error.message}"
        report.add("FG701", steps, message)
    for steps, node in _subschemas(schema, ()):
        _check_collection(node, steps, report)
        _check_property_names(node, steps, report)


def _subschemas(
    node: JSONObject, steps: tuple[Token, ...]
) -> Iterator[tuple[tuple[Token, ...], JSONObject]]:
    # Every object reachable through schema keywords is treated as a schema;
    # property *names* never are, because they sit one level below
    # "properties" and are reached as that object's keys.
    yield steps, node
    for key, value in node.items():
        if key in _DATA_KEYWORDS:
            continue
        if isinstance(value, dict):
            if key in ("properties", "patternProperties", "definitions", "dependencies"):
                for name, sub in value.items():
                    if isinstance(sub, dict):
                        yield from _subschemas(sub, (*steps, key, name))
            else:
                yield from _subschemas(value, (*steps, key))
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                if isinstance(sub, dict):
                    yield from _subschemas(sub, (*steps, key, index))


def _check_collection(node: JSONObject, steps: tuple[Token, ...], report: Reporter) -> None:
    if node.get("format") != COLLECTION_FORMAT:
        return
    if node.get("type", "object") != "object":
        report.add(
            "FG702",
            (*steps, "type"),
            f'format {COLLECTION_FORMAT} applies to objects; set "type": "object" with '
            "properties id and path",
        )
    properties = node.get("properties")
    defined = properties if isinstance(properties, dict) else {}
    missing = [name for name in ("id", "path") if name not in defined]
    if missing:
        report.add(
            "FG702",
            steps,
            f"a {COLLECTION_FORMAT} object must define the properties id (the collection "
            f"UUID) and path, which the web app's picker fills; missing: {', '.join(missing)}",
        )


def _check_property_names(node: JSONObject, steps: tuple[Token, ...], report: Reporter) -> None:
    properties = node.get("properties")
    if not isinstance(properties, dict):
        return
    order = node.get("propertyOrder")
    if isinstance(order, list):
        for index, name in enumerate(order):
            if not isinstance(name, str) or name not in properties:
                report.add(
                    "FG703",
                    (*steps, "propertyOrder", index),
                    f"propertyOrder lists {snippet(name)}, which is not in properties; the "
                    "web app cannot show it (fix the name or remove it)",
                )
    required: Any = node.get("required")
    if node.get("additionalProperties") is False and isinstance(required, list):
        for index, name in enumerate(required):
            if isinstance(name, str) and name not in properties:
                report.add(
                    "FG704",
                    (*steps, "required", index),
                    f"{name!r} is required but not in properties, and additionalProperties is "
                    "false, so no input can ever be valid; add the property or drop it from "
                    "required",
                )
