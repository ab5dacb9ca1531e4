"""Stage 2, Choice rules: one test per rule, valid paths, real timestamps.

The schema fixes which keys a rule may have and the JSON type of each
operand; what it cannot say is that a rule is *either* one data test
(``Variable`` plus exactly one operator) *or* one of And/Or/Not.
"""

from __future__ import annotations

from flowgen.core.jsonpath import Token
from flowgen.validate.paths import check_jsonpath
from flowgen.validate.rules import Reporter
from flowgen.validate.schema_file import flow_definition_schema
from flowgen.validate.shape import JSONObject, dicts, snippet, states_of
from flowgen.validate.timestamps import EXAMPLE, is_rfc3339

COMBINATORS = ("And", "Or", "Not")

OPERATORS: tuple[str, ...] = tuple(
    key
    for key in flow_definition_schema()["definitions"]["nestedRule"]["properties"]
    if key not in (*COMBINATORS, "Variable")
)
"""Every comparison operator a rule may use, from the schema (one source)."""


def check_choices(definition: object, report: Reporter) -> None:
    """Every rule of every Choice state, nested rules included."""
    for name, state in states_of(definition).items():
        if state.get("Type") == "Choice":
            for index, rule in dicts(state.get("Choices")):
                _check_rule(rule, ("States", name, "Choices", index), report)


def _check_rule(rule: JSONObject, at: tuple[Token, ...], report: Reporter) -> None:
    combinators = [key for key in COMBINATORS if key in rule]
    operators = [key for key in rule if key in OPERATORS]
    has_variable = "Variable" in rule
    if combinators:
        if len(combinators) > 1 or operators or has_variable:
            mixed = ", ".join(combinators + (["Variable"] if has_variable else []) + operators)
            report.add(
                "FG406",
                at,
                f"this rule mixes {mixed}; a rule is one data test (Variable plus one operator) "
                "or one of And/Or/Not, so nest the tests inside an And or Or list",
            )
    elif not has_variable or len(operators) != 1:
        report.add("FG406", at, _data_test_problem(has_variable, operators))
    if has_variable:
        check_jsonpath(rule["Variable"], (*at, "Variable"), report, "Variable")
    for operator in operators:
        operand = rule[operator]
        if operator.endswith("Path"):
            check_jsonpath(operand, (*at, operator), report, operator)
        elif (
            operator.startswith("Timestamp")
            and isinstance(operand, str)
            and not is_rfc3339(operand)
        ):
            report.add(
                "FG404",
                (*at, operator),
                f"{operator} operand {snippet(operand)} is not an RFC 3339 date-time; write it "
                f"like {EXAMPLE!r}",
            )
    for key in ("And", "Or"):
        for index, nested in dicts(rule.get(key)):
            _check_rule(nested, (*at, key, index), report)
    if isinstance(rule.get("Not"), dict):
        _check_rule(rule["Not"], (*at, "Not"), report)


def _data_test_problem(has_variable: bool, operators: list[str]) -> str:
    if not operators:
        missing = "an operator" if has_variable else "a Variable and an operator"
        return (
            f"this rule has no test: add {missing}, e.g. "
            '{"Variable": "$.status", "StringEquals": "SUCCEEDED"}, or use And/Or/Not'
        )
    if len(operators) > 1:
        return (
            f"this rule has several operators ({', '.join(operators)}); a rule tests one "
            "thing, so put one test per rule inside an And list"
        )
    return f'this rule uses {operators[0]} but names no Variable; add "Variable": "$.<path>"'
