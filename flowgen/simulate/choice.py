"""Choice rules: every comparison operator, its ``...Path`` variant, And/Or/Not.

ASL semantics: rules are tried in order; a type mismatch makes a comparison
false rather than an error; a missing ``Variable`` is a ``States.Runtime``
error for every operator except ``IsPresent``; And/Or stop at the first
deciding rule, so ``{"And": [IsPresent, StringEquals]}`` guards the
comparison as production flows expect.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from flowgen.simulate.errors import NO_CHOICE_MATCHED, StateFailure, runtime_failure
from flowgen.simulate.evaluate import Scope

Compare = Callable[[Any, Any], bool]

_ORDER: dict[str, Compare] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None when ``value`` is not one."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _typed(
    check: Callable[[Any], bool], convert: Callable[[Any], Any] = lambda v: v
) -> Callable[[Compare], Compare]:
    def wrap(compare: Compare) -> Compare:
        def run(value: Any, operand: Any) -> bool:
            if not (check(value) and check(operand)):
                return False
            return compare(convert(value), convert(operand))

        return run

    return wrap


_COMPARATORS: dict[str, Compare] = {}
for _suffix, _op in _ORDER.items():
    _COMPARATORS["String" + _suffix] = _typed(lambda v: isinstance(v, str))(_op)
    _COMPARATORS["Numeric" + _suffix] = _typed(_is_number)(_op)
    _COMPARATORS["Timestamp" + _suffix] = _typed(
        lambda v: parse_timestamp(v) is not None, parse_timestamp
    )(_op)
_COMPARATORS["BooleanEquals"] = _typed(lambda v: isinstance(v, bool))(operator.eq)

_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": _is_number,
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": lambda v: parse_timestamp(v) is not None,
}

PATH_OPERATORS = frozenset(name + "Path" for name in _COMPARATORS)
OPERATORS = frozenset({*_COMPARATORS, *PATH_OPERATORS, *_TYPE_TESTS, "IsPresent", "StringMatches"})
"""Every data-test operator the simulator understands."""


def string_matches(value: str, pattern: str) -> bool:
    """ASL ``StringMatches``: ``*`` matches any run of characters, ``\\*`` a literal star."""
    parts = re.split(r"(\\\\|\\\*|\*)", pattern)
    regex = "".join(
        ".*"
        if p == "*"
        else re.escape("*")
        if p == "\\*"
        else re.escape("\\")
        if p == "\\\\"
        else re.escape(p)
        for p in parts
    )
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def evaluate_rule(rule: Any, scope: Scope) -> bool:
    """Whether a (possibly nested) rule holds for the run state."""
    if not isinstance(rule, dict):
        raise runtime_failure(f"A Choice rule must be an object, got {rule!r}.")
    if "And" in rule:
        return all(evaluate_rule(sub, scope) for sub in _rules(rule, "And"))
    if "Or" in rule:
        return any(evaluate_rule(sub, scope) for sub in _rules(rule, "Or"))
    if "Not" in rule:
        return not evaluate_rule(rule["Not"], scope)
    ops = [key for key in rule if key in OPERATORS]
    if "Variable" not in rule or len(ops) != 1:
        raise runtime_failure(
            f"A Choice rule needs 'Variable' and exactly one operator, got keys {sorted(rule)}."
        )
    op = ops[0]
    variable = rule["Variable"]
    operand = rule[op]
    if op == "IsPresent":
        return scope.exists(variable) is bool(operand)
    value = scope.get(variable, "Variable")
    if op in _TYPE_TESTS:
        return _TYPE_TESTS[op](value) is bool(operand)
    if op == "StringMatches":
        return (
            isinstance(value, str) and isinstance(operand, str) and string_matches(value, operand)
        )
    if op in PATH_OPERATORS:
        operand = scope.get(operand, op)
        op = op[: -len("Path")]
    return _COMPARATORS[op](value, operand)


def _rules(rule: dict[str, Any], key: str) -> list[Any]:
    subs = rule[key]
    if not isinstance(subs, list) or not subs:
        raise runtime_failure(f"'{key}' must be a non-empty list of rules.")
    return subs


def choose(state: dict[str, Any], scope: Scope) -> str:
    """The name of the next state: the first matching rule's Next, else Default."""
    for rule in state.get("Choices", []):
        if evaluate_rule(rule, scope):
            return str(rule["Next"])
    if "Default" in state:
        return str(state["Default"])
    raise StateFailure(
        NO_CHOICE_MATCHED, "No Choice rule matched and the Choice state has no Default."
    )
