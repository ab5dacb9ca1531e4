"""Simulator options: one frozen dataclass for every behaviour the service leaves open.

Where the Globus documentation is silent or contradictory the simulator picks
the behaviour that matches the documented examples and names the choice here,
so a test or a user can switch to the other reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

CatchPayload = Literal["asl_merged", "asl", "status"]
PassSemantics = Literal["asl", "move"]
MissingSource = Literal["fail_fast", "realistic"]
LsMissing = Literal["failed", "not_found"]
UnansweredWebInput = Literal["expire", "error"]


@dataclass(frozen=True)
class SimulatorOptions:
    """How the simulator resolves the points the service documentation leaves open."""

    max_states: int = 10_000
    """States executed before the run is stopped as a runaway loop."""

    poll_initial_seconds: float = 1.0
    """First poll of an asynchronous action, in seconds after its start.

    The service's initial interval is undocumented; 1 s is the most
    pessimistic choice for flows that count on a quick first look.
    """

    poll_max_seconds: float = 600.0
    """Cap of the doubling poll interval (documented: 10 minutes)."""

    exception_on_action_failure: bool = True
    """Default of an Action's ``ExceptionOnActionFailure`` (docs and IDE say true)."""

    catch_payload: CatchPayload = "asl_merged"
    """What a catcher writes at its ``ResultPath``.

    ``asl_merged``: ``{"Error", "Cause"}`` plus the action status fields;
    ``asl``: only ``{"Error", "Cause"}``; ``status``: the action status (or
    the error document when there is none).
    """

    states_all_catches: bool = True
    """Whether ``States.ALL`` in ``ErrorEquals`` matches every error (ASL)."""

    runtime_errors_catchable: bool = True
    """Whether ``States.Runtime`` errors can be caught (one production flow does)."""

    pass_semantics: PassSemantics = "asl"
    """``asl``: a Pass with InputPath and ResultPath keeps its input key;
    ``move``: the key named by InputPath is removed, as the docs' example shows."""

    missing_transfer_source: MissingSource = "fail_fast"
    """``fail_fast``: a transfer of a missing source FAILS on its first poll;
    ``realistic``: it stays ACTIVE with faults until the task deadline, as a
    real Transfer task does, so the flow usually ends in ActionTimeout."""

    transfer_deadline_seconds: float = 86_400.0
    """Task deadline of a transfer/delete with no ``deadline`` field."""

    ls_missing_path: LsMissing = "failed"
    """``failed``: ``ls`` of a missing path FAILS with ``ClientError.NotFound``;
    ``not_found``: it SUCCEEDS with ``details.code == "NotFound"`` like stat."""

    missing_backtick_is_error: bool = False
    """A backtick JSONPath naming nothing evaluates to None (so the docs'
    `` `$._context.email` or `$._context.username` `` works); True makes it an error."""

    unanswered_web_input: UnansweredWebInput = "expire"
    """What an AwaitWebInput with no answer left does.

    ``expire``: flow time passes for ``web_input_expiry_seconds``, then the
    state fails with ``Flows.WebInputExpired`` (catchable, as Globus's
    examples catch it); ``error``: the simulation stops with a
    :class:`~flowgen.simulate.errors.WebInputError` asking for an answer.
    """

    web_input_expiry_seconds: float = 604_800.0
    """Flow time an unanswered web input stays open before it expires.

    The service does not document when a web input expires; a week is the
    order of a person's answer, and virtual time makes it cost nothing.
    """

    start_time: datetime | None = None
    """Virtual time at which the run starts (default: the real current time, UTC)."""

    real_time_speed: float | None = None
    """None: virtual time (waits cost nothing). A number: simulated time follows
    the wall clock that many times faster (1 = real time, for runs against real jobs)."""

    def __post_init__(self) -> None:
        if self.max_states < 1:
            raise ValueError(f"max_states must be at least 1, got {self.max_states}")
        if self.poll_initial_seconds <= 0 or self.poll_max_seconds < self.poll_initial_seconds:
            raise ValueError(
                "poll intervals must satisfy 0 < poll_initial_seconds <= poll_max_seconds"
            )
        if self.web_input_expiry_seconds < 0:
            raise ValueError(
                f"web_input_expiry_seconds must not be negative, got {self.web_input_expiry_seconds}"
            )
        if self.real_time_speed is not None and not self.real_time_speed > 0:
            raise ValueError(f"real_time_speed must be positive, got {self.real_time_speed}")
