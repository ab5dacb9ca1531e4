"""The polling policy: how a flow waits for the HPC side, and the loops that do it.

A Globus flow has no loops other than state cycles and no clock, so polling
is a cycle Wait -> check -> decide with the wait length and the total time
waited kept in the run state. :class:`PollPolicy` says how long to wait
(first wait, growth factor, cap) and when to give up (the overall
deadline); :func:`poll_loop` and :func:`poll_until` add such a cycle to a
flow. Every loop built here grows its wait up to a cap and gives up at an
overall deadline: no unbounded loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

from flowgen.core import jsonpath
from flowgen.dsl.choice import Rule, Var
from flowgen.dsl.errors import DSLError
from flowgen.dsl.flow import Flow
from flowgen.dsl.params import Expr
from flowgen.dsl.states import Action, Catch, Choice, ExpressionEval, Wait, When


@dataclass(frozen=True)
class PollPolicy:
    """How a polling loop waits: first wait, growth factor, cap, overall deadline (seconds).

    The defaults (30 s, x1.15, 30 min cap, 7 days) keep a FlowCron run to
    about 37 actions for a 1-hour job and 87 for a 24-hour one, and notice
    the end of any job from 5 minutes to 24 hours within 20% of its run
    time (``benchmarks/bench_polling_schedule.py``).

    The wait after a poll is ``min(max_wait, int(wait * growth))``: that is
    computed in the flow itself by an expression, and :meth:`waits` gives
    the same sequence in Python for benchmarks and documentation.
    The deadline counts the time spent waiting (the flow cannot read a
    clock); checks themselves take seconds, so it is a close lower bound on
    the elapsed time.
    """

    initial_wait: int = 30
    growth: float = 1.15
    max_wait: int = 1800
    deadline: int = 7 * 24 * 3600

    def __post_init__(self) -> None:
        if isinstance(self.initial_wait, bool) or self.initial_wait < 1:
            raise DSLError(f"initial_wait must be at least 1 second, got {self.initial_wait!r}")
        if not 1.0 <= self.growth <= 10.0:
            raise DSLError(f"growth must be between 1 and 10, got {self.growth!r}")
        if self.max_wait < self.initial_wait:
            raise DSLError(
                f"max_wait ({self.max_wait}) must be at least initial_wait ({self.initial_wait})"
            )
        if self.deadline < self.initial_wait:
            raise DSLError(
                f"deadline ({self.deadline}) must be at least initial_wait ({self.initial_wait})"
            )

    def next_wait(self, wait: int) -> int:
        """The wait that follows ``wait`` (same arithmetic as the flow's expression)."""
        grown = int(wait * self.growth)
        return self.max_wait if grown > self.max_wait else grown

    def waits(self) -> Iterator[int]:
        """The waits before each poll, until their sum reaches the deadline."""
        wait, waited = self.initial_wait, self.initial_wait
        yield wait
        while waited < self.deadline:
            wait = self.next_wait(wait)
            waited += wait
            yield wait

    def next_wait_expression(self, wait_ref: str) -> str:
        """The flow expression computing the next wait from the name ``wait_ref``."""
        grown = f"int({wait_ref} * {self.growth!r})"
        return f"{self.max_wait} if {grown} > {self.max_wait} else {grown}"


@dataclass(frozen=True)
class PollLoop:
    """The entry points of a polling loop added to a flow.

    Enter at ``start``. The caller's check states go to ``again`` when the
    condition is not met yet: the loop then gives up at the deadline, or
    grows the wait, waits and runs the check again.
    """

    start: str
    again: str
    state_path: str


def poll_loop(
    flow: Flow,
    *,
    name: str,
    check: str,
    on_deadline: str,
    policy: PollPolicy,
    state_path: str,
) -> PollLoop:
    """Add a bounded polling loop around the caller's check states.

    ``check`` is the first state of the check; it must lead to
    ``loop.again`` when the awaited condition does not hold yet.
    ``state_path`` is where the loop keeps ``wait``, ``waited`` (seconds) and
    ``polls`` in the run state.
    """
    steps = jsonpath.parse(state_path)
    if not steps or not isinstance(steps[0], str) or len(steps) != 1:
        raise DSLError(f"state_path must be a top-level key such as '$.poll', got {state_path!r}")
    key = steps[0]
    start, wait, again, grow = (
        f"{name}Start",
        f"{name}Wait",
        f"{name}DeadlineCheck",
        f"{name}Backoff",
    )
    flow.add(
        start,
        ExpressionEval(
            comment=(
                f"Poll with a growing wait: {policy.initial_wait}s first, x{policy.growth} "
                f"after each check, at most {policy.max_wait}s, for {policy.deadline}s in all."
            ),
            parameters={"wait": policy.initial_wait, "waited": policy.initial_wait, "polls": 0},
            result_path=state_path,
            next=wait,
        ),
    )
    flow.add(wait, Wait(seconds_path=f"{state_path}.wait", next=check))
    flow.add(
        again,
        Choice(
            choices=[When(Var(f"{state_path}.waited") >= policy.deadline, on_deadline)],
            default=grow,
        ),
    )
    flow.add(
        grow,
        ExpressionEval(
            parameters={
                "wait": Expr(policy.next_wait_expression(f"{key}.wait")),
                "waited": Expr(f"{key}.waited + ({policy.next_wait_expression(f'{key}.wait')})"),
                "polls": Expr(f"{key}.polls + 1"),
            },
            result_path=state_path,
            next=wait,
        ),
    )
    return PollLoop(start=start, again=again, state_path=state_path)


def poll_until(
    flow: Flow,
    *,
    name: str,
    check: Action,
    done: Rule,
    next: str,
    on_deadline: str,
    policy: PollPolicy,
    state_path: str,
) -> PollLoop:
    """Run ``check`` with a growing wait until ``done`` holds, then go to ``next``.

    ``check`` is given without ``next``/``end`` (pass ``end=True`` when
    building it; it is re-targeted here). A check that raises goes round the
    loop again, so a passing glitch does not end the run; the deadline still
    bounds it.
    """
    check_name, decide = f"{name}Check", f"{name}Decide"
    loop = poll_loop(
        flow,
        name=name,
        check=check_name,
        on_deadline=on_deadline,
        policy=policy,
        state_path=state_path,
    )
    retarget = dataclasses.replace(check, next=decide, end=False)
    if not retarget.catch:
        retarget = dataclasses.replace(
            retarget,
            catch=[Catch(next=loop.again, result_path=f"{state_path}_error")],
        )
    flow.add(check_name, retarget)
    flow.add(decide, Choice(choices=[When(done, next)], default=loop.again))
    return loop
