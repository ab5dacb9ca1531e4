"""Property tests: any flow the DSL builds serialises deterministically and validates clean."""

from __future__ import annotations

import json
import keyword
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowgen.dsl import (
    Action,
    Catch,
    Choice,
    Expr,
    ExpressionEval,
    Fail,
    Flow,
    Pass,
    Ref,
    State,
    Var,
    Wait,
    When,
)
from flowgen.dsl import transfer as t
from flowgen.validate import validate_definition

keys = st.text(string.ascii_letters + "_", min_size=1, max_size=8)
paths = st.lists(keys, min_size=1, max_size=3).map(lambda ks: "$." + ".".join(ks))
literals = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.text(string.ascii_letters + " /", max_size=12),
)
values = st.recursive(
    st.one_of(
        literals,
        paths.map(Ref),
        keys.filter(lambda k: not keyword.iskeyword(k)).map(lambda k: Expr(f"len({k})")),
    ),
    lambda inner: st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)
parameters = st.dictionaries(keys, values, max_size=4)
names = st.text(string.ascii_letters + string.digits + " -", min_size=1, max_size=12).filter(
    lambda s: s.strip() == s
)


def _state(kind: str, draw: Any, nxt: str, fail: str) -> State:
    if kind == "action":
        return Action(
            action_url="https://transfer.actions.globus.org/stat",
            parameters={"endpoint_id": draw(paths.map(Ref)), "path": "/x"},
            result_path=draw(paths),
            catch=[Catch(next=fail, result_path=draw(paths))],
            next=nxt,
        )
    if kind == "transfer":
        return t.transfer(
            draw(paths.map(Ref)),
            "dst",
            [t.transfer_item(draw(paths.map(Ref)), "/dst/", recursive=True)],
            result_path=draw(paths),
            catch=[Catch(next=fail, result_path=draw(paths))],
            next=nxt,
        )
    if kind == "eval":
        return ExpressionEval(parameters=draw(parameters), result_path=draw(paths), next=nxt)
    if kind == "pass":
        return Pass(parameters=draw(parameters), result_path=draw(paths), next=nxt)
    if kind == "wait":
        return Wait(seconds=draw(st.integers(0, 10_000)), next=nxt)
    return Choice(choices=[When(Var(draw(paths)) == draw(st.integers(0, 9)), nxt)], default=fail)


@st.composite
def flows(draw: Any) -> Flow:
    count = draw(st.integers(1, 8))
    state_names = draw(st.lists(names, min_size=count + 3, max_size=count + 3, unique=True))
    *chain, decide, end, fail = state_names
    flow = Flow(comment=draw(st.one_of(st.none(), st.text(max_size=20))))
    kinds = st.sampled_from(["action", "transfer", "eval", "pass", "wait", "choice"])
    for i, name in enumerate(chain):
        nxt = chain[i + 1] if i + 1 < len(chain) else decide
        flow.add(name, _state(draw(kinds), draw, nxt, fail))
    flow.add(decide, Choice(choices=[When(Var("$.ok") == True, end)], default=fail))  # noqa: E712
    flow.add(end, Pass(end=True))
    flow.add(fail, Fail(error="Failed", cause="a step failed"))
    return flow


@settings(max_examples=150, deadline=None)
@given(flows())
def test_dsl_flows_serialise_deterministically_and_validate_clean(flow: Flow) -> None:
    text = flow.dumps()
    assert text == flow.dumps()
    assert text.endswith("\n") and not text.endswith("\n\n")
    definition = json.loads(text)
    assert json.dumps(definition, indent=2, ensure_ascii=False) + "\n" == text
    assert validate_definition(definition) == []
