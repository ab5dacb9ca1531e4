"""Choice rules: every operator, Path variants, combinators, operand checks."""

import pytest

from flowgen.dsl import And, DSLError, Not, Or, Var
from flowgen.dsl.choice import OPERATORS, PATH_VARIANT_OPS, DataTest

SAMPLE = {
    "String": "abc",
    "Numeric": 3,
    "Timestamp": "2026-11-26T10:00:00Z",
    "Boolean": True,
    "Is": True,
}


@pytest.mark.parametrize("operator", sorted(OPERATORS))
def test_every_operator_accepts_its_operand_type(operator: str) -> None:
    family = next(prefix for prefix in SAMPLE if operator.startswith(prefix))
    rule = Var("$.x").test(operator, SAMPLE[family])  # type: ignore[arg-type]
    assert rule.to_json() == {"Variable": "$.x", operator: SAMPLE[family]}


@pytest.mark.parametrize("operator", sorted(PATH_VARIANT_OPS))
def test_path_variants(operator: str) -> None:
    assert Var("$.x").test_path(operator, "$.y").to_json() == {
        "Variable": "$.x",
        f"{operator}Path": "$.y",
    }  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operator", "operand"),
    [
        ("StringEquals", 1),
        ("NumericEquals", "1"),
        ("NumericEquals", True),
        ("TimestampEquals", "yesterday"),
        ("BooleanEquals", "true"),
        ("IsPresent", 1),
        ("Bogus", 1),
    ],
)
def test_wrong_operands_are_refused(operator: str, operand: object) -> None:
    with pytest.raises(DSLError):
        DataTest("$.x", operator, operand)


def test_no_path_variant_for_string_matches() -> None:
    with pytest.raises(DSLError, match=r"no \.\.\.Path variant"):
        Var("$.x").test_path("StringMatches", "$.y")


def test_python_operators_pick_the_family() -> None:
    assert (Var("$.n") > 2).to_json() == {"Variable": "$.n", "NumericGreaterThan": 2}
    assert (Var("$.s") <= "m").to_json() == {"Variable": "$.s", "StringLessThanEquals": "m"}
    assert (Var("$.b") == False).to_json() == {"Variable": "$.b", "BooleanEquals": False}  # noqa: E712
    assert (Var("$.s") != "x").to_json() == {"Not": {"Variable": "$.s", "StringEquals": "x"}}


def test_combinators_nest_without_next() -> None:
    rule = And(Var("$.a").is_present(), Or(Var("$.a") == "x", Not(Var("$.a").is_null())))
    assert rule.to_json() == {
        "And": [
            {"Variable": "$.a", "IsPresent": True},
            {
                "Or": [
                    {"Variable": "$.a", "StringEquals": "x"},
                    {"Not": {"Variable": "$.a", "IsNull": True}},
                ]
            },
        ]
    }
    assert (Var("$.a").is_string() & ~Var("$.b").is_boolean()).to_json()["And"][1] == {
        "Not": {"Variable": "$.b", "IsBoolean": True}
    }
    with pytest.raises(DSLError, match="at least one rule"):
        And()
