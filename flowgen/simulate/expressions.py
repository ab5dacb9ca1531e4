"""Evaluate ``.=`` expressions the way the Flows service does.

The service runs simpleeval's ``EvalWithCompoundTypes`` with a few functions
of its own. Bare names are the top-level keys of the run state plus
``_context``; ``a.b`` reads key ``b`` of an object unless a dict method of
that name exists (``a.items`` is the method: write ``a['items']``);
backtick JSONPaths are replaced by their values. simpleeval's limits
(string length, comprehension size, exponent) apply unchanged.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Callable, Mapping
from typing import Any

import simpleeval

from flowgen.core import jsonpath
from flowgen.core.expressions import replace_backticks

_MISSING = object()


class ExpressionError(Exception):
    """An expression could not be evaluated; the message says why."""


def pathsplit(path: str) -> list[str]:
    """Split at the last ``/`` like ``os.path.split``, never splitting the home root ``/~/``."""
    if not isinstance(path, str):
        raise TypeError(f"pathsplit() takes a string, got {type(path).__name__}")
    head, tail = posixpath.split(path)
    if head == "/~":
        head = "/~/"
    return [head, tail]


def _lookup(names: Mapping[str, Any], ref: object) -> Any:
    if not isinstance(ref, str):
        raise TypeError(f"expected a reference string such as 'a.b[0]', got {ref!r}")
    try:
        steps = jsonpath.parse(ref) if ref.startswith("$") else jsonpath.parse_dotted(ref)
        return jsonpath.get(names, steps)
    except (jsonpath.PathNotFound, jsonpath.JSONPathError):
        return _MISSING


def make_functions(names: Mapping[str, Any]) -> dict[str, Callable[..., Any]]:
    """The functions an expression may call, bound to the current names."""

    def is_present(ref: str) -> bool:
        return _lookup(names, ref) is not _MISSING

    def getattr_(ref: str, default: Any = None) -> Any:
        value = _lookup(names, ref)
        return default if value is _MISSING else value

    return {
        "pathsplit": pathsplit,
        "is_present": is_present,
        "getattr": getattr_,
        "len": len,
        "str": str,
        "int": int,
        "float": float,
    }


def evaluate(
    expression: str,
    names: Mapping[str, Any],
    *,
    missing_backtick_is_error: bool = False,
) -> Any:
    """Evaluate ``expression`` against ``names`` (run state keys plus ``_context``).

    Returns a JSON value (tuples become lists); raises :class:`ExpressionError`
    with a readable reason for anything else.
    """
    if not isinstance(expression, str):
        raise ExpressionError(f"an expression must be a string, got {type(expression).__name__}")
    rewritten, placeholders = replace_backticks(expression)
    bound = dict(names)
    for placeholder, path in placeholders.items():
        try:
            bound[placeholder] = jsonpath.get(names, path)
        except jsonpath.JSONPathError as exc:
            raise ExpressionError(f"bad backtick JSONPath `{path}`: {exc}") from None
        except jsonpath.PathNotFound:
            if missing_backtick_is_error:
                raise ExpressionError(f"the backtick path `{path}` was not found") from None
            bound[placeholder] = None
    evaluator = simpleeval.EvalWithCompoundTypes(names=bound, functions=make_functions(names))
    try:
        value = evaluator.eval(rewritten.strip())
    except simpleeval.NameNotDefined as exc:
        raise ExpressionError(f"name '{exc.name}' is not defined") from None
    except KeyError as exc:
        raise ExpressionError(f"key {exc.args[0]!r} not found") from None
    except IndexError as exc:
        raise ExpressionError(f"index out of range ({exc})") from None
    except simpleeval.InvalidExpression as exc:
        raise ExpressionError(str(exc)) from None
    except SyntaxError as exc:
        raise ExpressionError(f"does not parse: {exc.msg}") from None
    except Exception as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
    return to_json_value(value)


def to_json_value(value: Any) -> Any:
    """Convert an evaluation result to JSON types, or explain why it is not one."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ExpressionError(f"the result {value} is not a JSON number")
        return value
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ExpressionError(f"object keys must be strings, got {key!r}")
            out[key] = to_json_value(item)
        return out
    if callable(value):
        raise ExpressionError(
            f"the result is a function ({getattr(value, '__name__', value)!s}), not a value; "
            "a key named like a dict method (items, keys, values, get, ...) must be read "
            "as obj['key'], not obj.key"
        )
    raise ExpressionError(f"the result has type {type(value).__name__}, which is not JSON")
