"""Reusable pieces of flows: actions that fail readably.

Bounded polling (how a flow waits for the HPC side) lives in
:mod:`flowgen.dsl.polling`; its names are importable from here too.
"""

from __future__ import annotations

import dataclasses

from flowgen.dsl.flow import Flow
from flowgen.dsl.params import Expr, Ref
from flowgen.dsl.polling import PollLoop, PollPolicy, poll_loop, poll_until
from flowgen.dsl.states import Action, Catch, ExpressionEval, Fail

__all__ = [
    "PollLoop",
    "PollPolicy",
    "fail_with_message",
    "guarded",
    "poll_loop",
    "poll_until",
    "ref",
    "with_catch",
]


def fail_with_message(
    flow: Flow,
    *,
    name: str,
    error: str,
    message: Expr | str,
    result_path: str = "$.FlowResult",
) -> str:
    """Add states that end the run FAILED with a computed, readable message.

    The message is stored at ``result_path`` (so it is also in the run's
    output) and used as the Fail's Cause. Returns the name to go to.
    """
    fail_name = f"{name}Fail"
    flow.add(
        name,
        ExpressionEval(
            parameters={"error": error, "message": message},
            result_path=result_path,
            next=fail_name,
        ),
    )
    flow.add(
        fail_name,
        Fail(error=error, cause_path=f"{result_path}.message"),
    )
    return name


def with_catch(action: Action, *, on_error: str, result_path: str) -> Action:
    """``action`` with a catcher for every action error, storing it at ``result_path``."""
    return dataclasses.replace(action, catch=[Catch(next=on_error, result_path=result_path)])


def guarded(
    flow: Flow,
    name: str,
    action: Action,
    *,
    error: str,
    message: Expr | str,
    error_path: str | None = None,
) -> str:
    """Add ``action`` so that any failure ends the run with ``error`` and a readable ``message``.

    The caught error is kept at ``error_path`` (default ``$.<name>Error``)
    for the run log; the user sees the message.
    """
    error_path = error_path or f"$.{name}Error"
    failure = f"{name}Failed"
    flow.add(name, with_catch(action, on_error=failure, result_path=error_path))
    fail_with_message(flow, name=failure, error=error, message=message)
    return name


def ref(path: str) -> Ref:
    """Shorthand for :class:`~flowgen.dsl.params.Ref`."""
    return Ref(path)
