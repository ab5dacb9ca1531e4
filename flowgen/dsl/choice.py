"""Choice rules: data tests on a variable, combined with And / Or / Not.

>>> rule = And(Var("$.stat.details.code").is_present(), Var("$.stat.details.code") == "NotFound")
>>> rule.to_json()["And"][1]
{'Variable': '$.stat.details.code', 'StringEquals': 'NotFound'}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from flowgen.core import jsonpath
from flowgen.dsl.errors import DSLError

StringOp = Literal[
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
    "StringMatches",
]
NumericOp = Literal[
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
]
TimestampOp = Literal[
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
]
BooleanOp = Literal["BooleanEquals"]
TypeTestOp = Literal["IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"]
Operator = Literal[StringOp, NumericOp, TimestampOp, BooleanOp, TypeTestOp]

STRING_OPS: Final = frozenset(get_args(StringOp))
NUMERIC_OPS: Final = frozenset(get_args(NumericOp))
TIMESTAMP_OPS: Final = frozenset(get_args(TimestampOp))
BOOLEAN_OPS: Final = frozenset(get_args(BooleanOp))
TYPE_TEST_OPS: Final = frozenset(get_args(TypeTestOp))
OPERATORS: Final = STRING_OPS | NUMERIC_OPS | TIMESTAMP_OPS | BOOLEAN_OPS | TYPE_TEST_OPS
"""Every data-test operator the service accepts (without the ...Path variants)."""
PATH_VARIANT_OPS: Final = (
    (STRING_OPS - {"StringMatches"}) | NUMERIC_OPS | TIMESTAMP_OPS | BOOLEAN_OPS
)
"""Operators that have a ``...Path`` variant comparing against another JSONPath."""

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)


def is_timestamp(value: object) -> bool:
    """Whether ``value`` is an RFC 3339 date-time string."""
    return isinstance(value, str) and bool(_RFC3339.match(value))


class Rule:
    """A boolean rule. Combine with ``&``, ``|`` and ``~`` or And/Or/Not."""

    def to_json(self) -> dict[str, Any]:
        """The rule as the service's JSON (without Next)."""
        raise NotImplementedError

    def __and__(self, other: Rule) -> Rule:
        return And(self, other)

    def __or__(self, other: Rule) -> Rule:
        return Or(self, other)

    def __invert__(self) -> Rule:
        return Not(self)


@dataclass(frozen=True, eq=False)
class DataTest(Rule):
    """``{"Variable": path, <operator>: operand}``; ``path_operand`` selects the ...Path variant."""

    variable: str
    operator: str
    operand: Any
    path_operand: bool = False

    def __post_init__(self) -> None:
        _check_path(self.variable, "Variable")
        op = self.operator
        if op not in OPERATORS:
            raise DSLError(f"unknown Choice operator {op!r}")
        if self.path_operand:
            if op not in PATH_VARIANT_OPS:
                raise DSLError(f"{op} has no ...Path variant")
            _check_path(self.operand, f"{op}Path")
            return
        operand = self.operand
        if op in STRING_OPS and not isinstance(operand, str):
            raise DSLError(f"{op} needs a string operand, got {operand!r}")
        if op in NUMERIC_OPS and (
            isinstance(operand, bool) or not isinstance(operand, int | float)
        ):
            raise DSLError(f"{op} needs a number operand, got {operand!r}")
        if op in TIMESTAMP_OPS and not is_timestamp(operand):
            raise DSLError(f"{op} needs an RFC 3339 timestamp operand, got {operand!r}")
        if (op in BOOLEAN_OPS or op in TYPE_TEST_OPS) and not isinstance(operand, bool):
            raise DSLError(f"{op} needs true or false, got {operand!r}")

    def to_json(self) -> dict[str, Any]:
        key = f"{self.operator}Path" if self.path_operand else self.operator
        return {"Variable": self.variable, key: self.operand}


@dataclass(frozen=True, eq=False)
class _Combinator(Rule):
    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        if not self.rules:
            raise DSLError(f"{type(self).__name__} needs at least one rule")


class And(_Combinator):
    """True when every rule is (checked left to right, stopping at the first false)."""

    def __init__(self, *rules: Rule) -> None:
        super().__init__(tuple(rules))

    def to_json(self) -> dict[str, Any]:
        return {"And": [r.to_json() for r in self.rules]}


class Or(_Combinator):
    """True when any rule is (checked left to right, stopping at the first true)."""

    def __init__(self, *rules: Rule) -> None:
        super().__init__(tuple(rules))

    def to_json(self) -> dict[str, Any]:
        return {"Or": [r.to_json() for r in self.rules]}


@dataclass(frozen=True, eq=False)
class Not(Rule):
    """True when ``rule`` is false."""

    rule: Rule

    def to_json(self) -> dict[str, Any]:
        return {"Not": self.rule.to_json()}


@dataclass(frozen=True)
class Var:
    """A variable to test: ``Var("$.x") == "a"``, ``Var("$.n") > 3``, ``Var("$.x").is_present()``.

    Python comparison operators pick the String or Numeric family from the
    operand's type; :meth:`test` reaches every operator by name.
    """

    path: str

    def __post_init__(self) -> None:
        _check_path(self.path, "Variable")

    def test(self, operator: Operator, operand: Any) -> DataTest:
        """Any operator by its service name: ``Var(p).test("StringMatches", "*.txt")``."""
        return DataTest(self.path, operator, operand)

    def test_path(self, operator: Operator, other_path: str) -> DataTest:
        """The ...Path variant: compare against the value at ``other_path``."""
        return DataTest(self.path, operator, other_path, path_operand=True)

    def _compare(self, family: str, operand: Any) -> DataTest:
        if isinstance(operand, bool):
            if family != "Equals":
                raise DSLError(f"booleans support only ==, not {family}")
            return DataTest(self.path, "BooleanEquals", operand)
        if isinstance(operand, int | float):
            return DataTest(self.path, f"Numeric{family}", operand)
        if isinstance(operand, str):
            return DataTest(self.path, f"String{family}", operand)
        raise DSLError(f"cannot compare {self.path} with {operand!r}; use Var.test()")

    def __eq__(self, operand: object) -> DataTest:  # type: ignore[override]
        return self._compare("Equals", operand)

    def __ne__(self, operand: object) -> Rule:  # type: ignore[override]
        return Not(self._compare("Equals", operand))

    def __lt__(self, operand: Any) -> DataTest:
        return self._compare("LessThan", operand)

    def __le__(self, operand: Any) -> DataTest:
        return self._compare("LessThanEquals", operand)

    def __gt__(self, operand: Any) -> DataTest:
        return self._compare("GreaterThan", operand)

    def __ge__(self, operand: Any) -> DataTest:
        return self._compare("GreaterThanEquals", operand)

    __hash__ = None  # type: ignore[assignment]

    def matches(self, pattern: str) -> DataTest:
        """StringMatches: ``*`` is a wildcard, ``\\*`` a literal star."""
        return DataTest(self.path, "StringMatches", pattern)

    def is_present(self, present: bool = True) -> DataTest:
        """IsPresent: the path exists in the run state (never an error)."""
        return DataTest(self.path, "IsPresent", present)

    def is_null(self, null: bool = True) -> DataTest:
        """IsNull."""
        return DataTest(self.path, "IsNull", null)

    def is_string(self, string: bool = True) -> DataTest:
        """IsString."""
        return DataTest(self.path, "IsString", string)

    def is_numeric(self, numeric: bool = True) -> DataTest:
        """IsNumeric (booleans are not numbers)."""
        return DataTest(self.path, "IsNumeric", numeric)

    def is_boolean(self, boolean: bool = True) -> DataTest:
        """IsBoolean."""
        return DataTest(self.path, "IsBoolean", boolean)

    def is_timestamp(self, timestamp: bool = True) -> DataTest:
        """IsTimestamp."""
        return DataTest(self.path, "IsTimestamp", timestamp)


def _check_path(path: object, field: str) -> None:
    if not isinstance(path, str) or not jsonpath.is_valid(path):
        raise DSLError(f"{field}: {path!r} is not a JSONPath")
