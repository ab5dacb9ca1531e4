"""Evaluate ``Parameters``: literals, ``key.$`` references and ``key.=`` expressions.

Suffixed keys work at any depth, including in objects inside lists; the
suffix is stripped in the result. ``__Private_Parameters`` names siblings
whose values are hidden in the run log (the result itself keeps them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flowgen.core import jsonpath
from flowgen.simulate.errors import StateFailure, missing_path, runtime_failure
from flowgen.simulate.expressions import ExpressionError, evaluate

# Flows use the same few paths over and over (polling loops); parse each once.
parse_path = lru_cache(maxsize=4096)(jsonpath.parse)


def parsed_path(path: str, field: str) -> tuple[jsonpath.Step, ...]:
    """``path`` parsed (cached); a ``States.Runtime`` failure naming ``field`` when invalid."""
    try:
        return parse_path(path)
    except jsonpath.JSONPathError as exc:
        raise runtime_failure(f"The field '{field}' holds an invalid JSONPath: {exc}") from None


PRIVATE_KEY = "__Private_Parameters"
REDACTED = "<private>"


@dataclass(frozen=True)
class Scope:
    """What paths and expressions see: the run state plus the read-only ``_context``."""

    state: Any
    context: Mapping[str, Any]
    missing_backtick_is_error: bool = False

    def names(self) -> dict[str, Any]:
        """Bare names of an expression: top-level state keys and ``_context``."""
        names = dict(self.state) if isinstance(self.state, dict) else {}
        names["_context"] = dict(self.context)
        return names

    def get(self, path: object, field: str) -> Any:
        """The value at ``path``; a ``States.Runtime`` failure naming ``field`` when absent."""
        if not isinstance(path, str):
            raise runtime_failure(f"The field '{field}' must be a JSONPath string, got {path!r}.")
        steps = parsed_path(path, field)
        try:
            if steps[:1] == ("_context",):
                return jsonpath.get(dict(self.context), steps[1:])
            return jsonpath.get(self.state, steps)
        except jsonpath.PathNotFound:
            raise missing_path(path, field) from None

    def exists(self, path: str) -> bool:
        """Whether ``path`` names a value."""
        try:
            self.get(path, "Variable")
        except StateFailure:
            return False
        return True

    def expression(self, expression: object, field: str) -> Any:
        """Evaluate an expression; a ``States.Runtime`` failure naming ``field`` on error."""
        try:
            return evaluate(
                expression,  # type: ignore[arg-type]
                self.names(),
                missing_backtick_is_error=self.missing_backtick_is_error,
            )
        except ExpressionError as exc:
            raise runtime_failure(
                f"The expression {expression!r} for the field '{field}' could not be "
                f"evaluated: {exc}"
            ) from None


def evaluate_parameters(parameters: Any, scope: Scope) -> tuple[Any, Any]:
    """Evaluate ``parameters``; returns ``(value, value with private parameters redacted)``."""
    if isinstance(parameters, dict):
        private = parameters.get(PRIVATE_KEY, [])
        if not isinstance(private, list) or not all(isinstance(p, str) for p in private):
            raise runtime_failure(f"'{PRIVATE_KEY}' must be a list of parameter names.")
        hidden = {_strip(name) for name in private}
        value: dict[str, Any] = {}
        shown: dict[str, Any] = {}
        for key, item in parameters.items():
            if key == PRIVATE_KEY:
                continue
            name = _strip(key)
            if key.endswith(".$"):
                value[name] = shown[name] = scope.get(item, key)
            elif key.endswith(".="):
                value[name] = shown[name] = scope.expression(item, key)
            else:
                value[name], shown[name] = evaluate_parameters(item, scope)
            if name in hidden:
                shown[name] = REDACTED
        return value, shown
    if isinstance(parameters, list):
        pairs = [evaluate_parameters(item, scope) for item in parameters]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return parameters, parameters


def _strip(key: str) -> str:
    return key[:-2] if key.endswith((".$", ".=")) else key


def redact_state(state: Any) -> Any:
    """The state as logs show it: top-level keys starting with ``_private`` removed."""
    if isinstance(state, dict):
        return {k: v for k, v in state.items() if not k.startswith("_private")}
    return state
