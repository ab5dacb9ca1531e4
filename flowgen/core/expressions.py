"""The flow expression language (``key.=`` values): parsing and static checks.

The Globus service evaluates expressions with simpleeval plus a few
functions of its own. This module holds what both the validator and the
simulator need: the list of functions the service is known to provide,
backtick-JSONPath substitution, and parsing into a Python AST.
"""

from __future__ import annotations

import ast
import re
from typing import Final

KNOWN_FUNCTIONS: Final = frozenset(
    {"pathsplit", "is_present", "getattr", "len", "str", "int", "float"}
)
"""Functions the service is known to provide in expressions."""

_BACKTICK = re.compile(r"`([^`]*)`")
BACKTICK_PREFIX: Final = "__flowgen_backtick_"


class ExpressionSyntaxError(ValueError):
    """An expression does not parse."""


def backtick_paths(expression: str) -> list[str]:
    """The JSONPaths written between backticks in ``expression``, in order."""
    return [m.group(1) for m in _BACKTICK.finditer(expression)]


def replace_backticks(expression: str) -> tuple[str, dict[str, str]]:
    """Replace each backtick JSONPath by a placeholder name.

    Returns the rewritten expression and a map from placeholder name to the
    JSONPath it stands for, so a caller can bind the values (simulator) or
    simply parse the result (validator).
    """
    names: dict[str, str] = {}

    def _sub(match: re.Match[str]) -> str:
        name = f"{BACKTICK_PREFIX}{len(names)}"
        names[name] = match.group(1)
        return name

    return _BACKTICK.sub(_sub, expression), names


def parse(expression: str) -> ast.Expression:
    """Parse an expression (backtick JSONPaths allowed) into a Python AST."""
    if not isinstance(expression, str):
        raise ExpressionSyntaxError(
            f"an expression must be a string, got {type(expression).__name__}"
        )
    rewritten, _ = replace_backticks(expression)
    try:
        return ast.parse(rewritten.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionSyntaxError(f"does not parse: {exc.msg} (column {exc.offset})") from None


def called_functions(tree: ast.AST) -> list[str]:
    """Names of the plain functions an expression calls (``len(x)``, not ``s.strip()``)."""
    return [
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]
