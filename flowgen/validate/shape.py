"""Safe access to a definition that may be malformed in any way.

Stage 2 runs even when stage 1 found problems, so every check reads the
document through these helpers: a value of the wrong type simply yields
nothing here (stage 1 has already reported it) instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

JSONObject = dict[str, Any]

_TYPE_NAMES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def type_name(value: object) -> str:
    """The JSON type of ``value`` for messages (``a string``, ``a list``, ...)."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def states_of(definition: object) -> dict[str, JSONObject]:
    """The states that are objects, by name; empty when States is malformed."""
    if not isinstance(definition, dict):
        return {}
    states = definition.get("States")
    if not isinstance(states, dict):
        return {}
    return {name: state for name, state in states.items() if isinstance(state, dict)}


def dicts(value: object) -> Iterator[tuple[int, JSONObject]]:
    """The object items of ``value`` with their index, when it is a list."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item


def split_key(key: str) -> tuple[str, str]:
    """A parameter key split into its output name and suffix (``.$``, ``.=`` or ``''``)."""
    if key.endswith((".$", ".=")):
        return key[:-2], key[-2:]
    return key, ""


def snippet(value: object, limit: int = 60) -> str:
    """A short printable form of a value for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
