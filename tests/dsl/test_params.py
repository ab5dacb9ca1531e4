"""Parameter rendering: suffixes, nesting, private values, raw escape hatch."""

import pytest

from flowgen.dsl import DSLError, Expr, Private, Raw, Ref
from flowgen.dsl.params import render


def test_ref_and_expr_get_suffixed_keys_at_any_depth() -> None:
    rendered = render(
        {
            "endpoint_id": Ref("$.input.source.id"),
            "DATA": [{"source_path": Ref("$.a[0].b"), "nested": {"x.y": 1, "n": Expr("len(a)")}}],
            "literal": "$.looks.like.a.path",
        }
    )
    assert rendered == {
        "endpoint_id.$": "$.input.source.id",
        "DATA": [{"source_path.$": "$.a[0].b", "nested": {"x.y": 1, "n.=": "len(a)"}}],
        "literal": "$.looks.like.a.path",
    }


def test_private_values_are_listed_beside_their_siblings() -> None:
    rendered = render(
        {"user": "x", "secret": Private(Ref("$._private.pw")), "inner": {"t": Private("tok")}}
    )
    assert rendered["secret.$"] == "$._private.pw"
    assert rendered["__Private_Parameters"] == ["secret"]
    assert rendered["inner"] == {"t": "tok", "__Private_Parameters": ["t"]}


def test_raw_is_emitted_untouched() -> None:
    assert render({"x": Raw({"k.$": "$.y", "o": [1]})}) == {"x": {"k.$": "$.y", "o": [1]}}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Ref("input.x"), "must start with '\\$'"),
        (lambda: Ref("$.a[*]"), "not supported"),
        (lambda: Expr("a +"), "does not parse"),
        (lambda: Expr("`$.a b` + 1"), "not a JSONPath"),
        (lambda: render({"k.$": "$.x"}), "wrap the value"),
        (lambda: render({"__Private_Parameters": ["a"]}), "Private"),
        (lambda: render({"l": [Ref("$.x")]}), "cannot stand directly in a list"),
        (lambda: render({"o": object()}), "not a JSON value"),
    ],
)
def test_mistakes_fail_while_building(make, message) -> None:
    with pytest.raises(DSLError, match=message):
        make()
