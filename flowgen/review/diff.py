"""Semantic diff of two flows: what changed, named by JSONPath.

Two flows are compared as JSON values, not as text: the order of keys in an
object is never a change, the order of list items always is (the service
tries Catch entries and Choice rules in order). States are matched by name,
so a renamed state shows as one removed and one added. A list whose items
are the same but reordered is reported once, as ``order-changed``, rather
than as a change at every index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from flowgen.core.jsonpath import Token, format_path
from flowgen.review.load import FlowDocs


class ChangeKind(str, Enum):
    """What kind of difference a :class:`Change` records."""

    STATE_ADDED = "state-added"
    STATE_REMOVED = "state-removed"
    START_CHANGED = "start-changed"
    FIELD_ADDED = "field-added"
    FIELD_REMOVED = "field-removed"
    FIELD_CHANGED = "field-changed"
    ORDER_CHANGED = "order-changed"


class Document(str, Enum):
    """Which of the two documents of a flow a change is in."""

    DEFINITION = "definition"
    INPUT_SCHEMA = "input_schema"


class _Missing:
    """The value on the side where something does not exist (not JSON ``null``)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""``Change.old`` for additions and ``Change.new`` for removals."""


@dataclass(frozen=True)
class Change:
    """One difference between flow A (old) and flow B (new).

    ``steps`` locate it inside ``document``; ``path`` is the same location as
    a JSONPath (``$.States.Poll.Seconds``). ``old``/``new`` are the values on
    each side, :data:`MISSING` where there is none.
    """

    document: Document
    steps: tuple[Token, ...]
    kind: ChangeKind
    old: Any = field(default=MISSING, compare=False)
    new: Any = field(default=MISSING, compare=False)

    @property
    def path(self) -> str:
        """The location as a JSONPath."""
        return format_path(self.steps)

    def sort_key(self) -> tuple[int, tuple[tuple[int, int | str], ...], str]:
        """Definition before schema, then by location, then by kind."""
        where = tuple((0, s) if isinstance(s, int) else (1, s) for s in self.steps)
        return (0 if self.document is Document.DEFINITION else 1, where, self.kind.value)

    def to_json(self) -> dict[str, Any]:
        """The change as a plain JSON object; ``old``/``new`` are omitted when missing."""
        data: dict[str, Any] = {
            "document": self.document.value,
            "path": self.path,
            "kind": self.kind.value,
        }
        if self.old is not MISSING:
            data["old"] = self.old
        if self.new is not MISSING:
            data["new"] = self.new
        return data

    def __str__(self) -> str:
        where = self.path if self.document is Document.DEFINITION else f"input schema {self.path}"
        if self.kind is ChangeKind.STATE_ADDED:
            return f"+ {where} (state added)"
        if self.kind is ChangeKind.STATE_REMOVED:
            return f"- {where} (state removed)"
        if self.kind is ChangeKind.FIELD_ADDED:
            return f"+ {where}: {render_value(self.new)}"
        if self.kind is ChangeKind.FIELD_REMOVED:
            return f"- {where}: {render_value(self.old)}"
        if self.kind is ChangeKind.ORDER_CHANGED:
            return (
                f"~ {where} (order changed): {render_value(self.old)} -> {render_value(self.new)}"
            )
        return f"~ {where}: {render_value(self.old)} -> {render_value(self.new)}"


def render_value(value: Any) -> str:
    """A value as compact one-line JSON, as the text output shows it."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def diff_flows(a: FlowDocs, b: FlowDocs) -> list[Change]:
    """Every difference from flow ``a`` to flow ``b``, sorted deterministically.

    An empty list means the flows are the same. Input schemas are compared
    only when both sides have one: a definition file given without its
    schema says nothing about the schema, so that is not a difference
    (callers can tell the user with :func:`schemas_compared`).
    """
    changes = list(_diff_definition(a.definition, b.definition))
    if a.input_schema is not None and b.input_schema is not None:
        changes.extend(_walk(Document.INPUT_SCHEMA, (), a.input_schema, b.input_schema))
    return sorted(changes, key=Change.sort_key)


def schemas_compared(a: FlowDocs, b: FlowDocs) -> bool:
    """Whether :func:`diff_flows` compares the input schemas of ``a`` and ``b`` (both present)."""
    return a.input_schema is not None and b.input_schema is not None


def _diff_definition(a: dict[str, Any], b: dict[str, Any]) -> Iterator[Change]:
    doc = Document.DEFINITION
    for key in _keys(a, b):
        old, new = a.get(key, MISSING), b.get(key, MISSING)
        if key == "StartAt" and old is not MISSING and new is not MISSING:
            if not json_equal(old, new):
                yield Change(doc, (key,), ChangeKind.START_CHANGED, old, new)
        elif key == "States" and isinstance(old, dict) and isinstance(new, dict):
            yield from _diff_states(old, new)
        else:
            yield from _walk(doc, (key,), old, new)


def _diff_states(a: dict[str, Any], b: dict[str, Any]) -> Iterator[Change]:
    doc = Document.DEFINITION
    for name in _keys(a, b):
        steps: tuple[Token, ...] = ("States", name)
        if name not in b:
            yield Change(doc, steps, ChangeKind.STATE_REMOVED, old=a[name])
        elif name not in a:
            yield Change(doc, steps, ChangeKind.STATE_ADDED, new=b[name])
        else:
            yield from _walk(doc, steps, a[name], b[name])


def _walk(doc: Document, steps: tuple[Token, ...], old: Any, new: Any) -> Iterator[Change]:
    if old is MISSING and new is MISSING:
        return
    if old is MISSING:
        yield Change(doc, steps, ChangeKind.FIELD_ADDED, new=new)
    elif new is MISSING:
        yield Change(doc, steps, ChangeKind.FIELD_REMOVED, old=old)
    elif isinstance(old, dict) and isinstance(new, dict):
        for key in _keys(old, new):
            yield from _walk(doc, (*steps, key), old.get(key, MISSING), new.get(key, MISSING))
    elif isinstance(old, list) and isinstance(new, list):
        yield from _walk_list(doc, steps, old, new)
    elif not json_equal(old, new):
        yield Change(doc, steps, ChangeKind.FIELD_CHANGED, old, new)


def _walk_list(
    doc: Document, steps: tuple[Token, ...], old: list[Any], new: list[Any]
) -> Iterator[Change]:
    if json_equal(old, new):
        return
    if len(old) == len(new) and sorted(map(_canonical, old)) == sorted(map(_canonical, new)):
        yield Change(doc, steps, ChangeKind.ORDER_CHANGED, old, new)
        return
    for index in range(max(len(old), len(new))):
        yield from _walk(
            doc,
            (*steps, index),
            old[index] if index < len(old) else MISSING,
            new[index] if index < len(new) else MISSING,
        )


def _keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    # Sorted, so neither side's key order leaks into the result.
    return sorted(set(a) | set(b))


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: key order ignored, ``true`` is not ``1``, ``1`` is ``1.0``."""
    return _canonical(a) == _canonical(b)


def _canonical(value: Any) -> str:
    return json.dumps(_normalise(value), sort_keys=True, ensure_ascii=False)


def _normalise(value: Any) -> Any:
    # JSON has one number type: 1 and 1.0 are the same value. Booleans stay
    # booleans (Python would otherwise call True == 1).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value
