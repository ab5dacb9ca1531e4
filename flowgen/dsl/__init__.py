"""A Python DSL for Globus flow definitions.

Build a :class:`Flow`, add states (:class:`Action`, :class:`ExpressionEval`,
:class:`Pass`, :class:`Wait`, :class:`Choice`, :class:`Fail`), and write it
with :meth:`Flow.dumps`: the same flow always gives byte-identical JSON.
Parameter values are literals, :class:`Ref` (``key.$``), :class:`Expr`
(``key.=``), :class:`Private` or :class:`Raw`. :mod:`flowgen.dsl.transfer`
has typed helpers for the Transfer action providers,
:mod:`flowgen.dsl.polling` the polling policy and bounded polling loops, and
:mod:`flowgen.dsl.fragments` actions that fail readably.
"""

from flowgen.dsl.choice import And, DataTest, Not, Or, Rule, Var
from flowgen.dsl.errors import DSLError
from flowgen.dsl.flow import Flow
from flowgen.dsl.fragments import fail_with_message, guarded
from flowgen.dsl.params import Expr, Private, Raw, Ref
from flowgen.dsl.polling import PollLoop, PollPolicy, poll_loop, poll_until
from flowgen.dsl.states import (
    ACTION_ERRORS,
    Action,
    Catch,
    Choice,
    ExpressionEval,
    Fail,
    Pass,
    RawState,
    State,
    Wait,
    When,
)

__all__ = [
    "ACTION_ERRORS",
    "Action",
    "And",
    "Catch",
    "Choice",
    "DSLError",
    "DataTest",
    "Expr",
    "ExpressionEval",
    "Fail",
    "Flow",
    "Not",
    "Or",
    "Pass",
    "PollLoop",
    "PollPolicy",
    "Private",
    "Raw",
    "RawState",
    "Ref",
    "Rule",
    "State",
    "Var",
    "Wait",
    "When",
    "fail_with_message",
    "guarded",
    "poll_loop",
    "poll_until",
]
