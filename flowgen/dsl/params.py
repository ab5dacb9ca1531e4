"""Parameter values: literals, JSONPath references, expressions, private values.

A Parameters object in a flow is JSON with two key suffixes: ``key.$`` takes
its value from a JSONPath into the run state, ``key.=`` from an expression.
Here the *value* says which it is (:class:`Ref`, :class:`Expr`), and
:func:`render` writes the suffixed keys, at any depth, including objects
inside lists. Paths and expressions are checked when they are created, so a
typo fails while building, not in a user's run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from flowgen.core import expressions, jsonpath
from flowgen.dsl.errors import DSLError

PRIVATE_KEY = "__Private_Parameters"


@dataclass(frozen=True)
class Ref:
    """A JSONPath into the run state, emitted as ``"key.$": "<path>"``."""

    path: str

    def __post_init__(self) -> None:
        try:
            jsonpath.parse(self.path)
        except jsonpath.JSONPathError as exc:
            raise DSLError(f"Ref({self.path!r}): {exc}") from None

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True)
class Expr:
    """An expression evaluated by the service, emitted as ``"key.=": "<expression>"``."""

    expression: str

    def __post_init__(self) -> None:
        try:
            expressions.parse(self.expression)
        except expressions.ExpressionSyntaxError as exc:
            raise DSLError(f"Expr({self.expression!r}): {exc}") from None
        for path in expressions.backtick_paths(self.expression):
            if not jsonpath.is_valid(path):
                raise DSLError(f"Expr({self.expression!r}): `{path}` is not a JSONPath")

    def __str__(self) -> str:
        return self.expression


@dataclass(frozen=True)
class Raw:
    """Escape hatch: a JSON value emitted exactly as given, keys untouched.

    Use it for anything the DSL does not model; nothing inside is rewritten
    or checked, so ``{"x.$": "$.y"}`` inside a Raw stays as written.
    """

    value: Any


@dataclass(frozen=True)
class Private:
    """Marks a parameter as private: listed in ``__Private_Parameters``.

    The service hides private parameters from run introspection (logs,
    status); use it for secrets and tokens. Wraps a literal, Ref or Expr.
    """

    value: Any


Value: TypeAlias = Any
"""A parameter value: JSON literal, Ref, Expr, Raw, Private, or a mapping/list of them."""


def render(params: Mapping[str, Value]) -> dict[str, Any]:
    """Render a Parameters mapping into the JSON the service expects."""
    return _render_object(params, "Parameters")


def _render_object(params: Mapping[str, Value], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    private: list[str] = []
    for key, value in params.items():
        if not isinstance(key, str):
            raise DSLError(f"{where}: keys must be strings, got {key!r}")
        if key.endswith((".$", ".=")):
            raise DSLError(
                f"{where}.{key}: write the plain key and wrap the value in Ref()/Expr(); "
                "the suffix is added for you"
            )
        if key == PRIVATE_KEY:
            raise DSLError(f"{where}: mark values with Private() instead of writing {PRIVATE_KEY}")
        if isinstance(value, Private):
            private.append(key)
            value = value.value
        name, rendered = _render_entry(key, value, f"{where}.{key}")
        if name in out:
            raise DSLError(f"{where}: key {key!r} given twice")
        out[name] = rendered
    if private:
        out[PRIVATE_KEY] = private
    return out


def _render_entry(key: str, value: Value, where: str) -> tuple[str, Any]:
    if isinstance(value, Ref):
        return f"{key}.$", value.path
    if isinstance(value, Expr):
        return f"{key}.=", value.expression
    return key, _render_value(value, where)


def _render_value(value: Value, where: str) -> Any:
    if isinstance(value, Raw):
        return value.value
    if isinstance(value, Ref | Expr):
        raise DSLError(
            f"{where}: a Ref or Expr cannot stand directly in a list (the service has no key "
            "to attach it to); wrap it in an object or compute the whole list with an Expr"
        )
    if isinstance(value, Private):
        raise DSLError(f"{where}: Private() marks an object key; it cannot stand in a list")
    if isinstance(value, Mapping):
        return _render_object(value, where)
    if isinstance(value, list | tuple):
        return [_render_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise DSLError(f"{where}: {type(value).__name__} is not a JSON value")
