"""The state types the Globus Flows service accepts, as Python objects.

Each class has exactly the fields the service allows for that type, so keys
it rejects (OutputPath, Retry, ResultSelector, ...) cannot be produced. A
state is turned into JSON by :meth:`State.to_json`, with keys in one
canonical order so the output is byte-identical for the same flow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from flowgen.core import definition, jsonpath
from flowgen.dsl import params as p
from flowgen.dsl.choice import Rule, is_timestamp
from flowgen.dsl.errors import DSLError

ACTION_ERRORS: Final = ("ActionUnableToRun", "ActionFailedException", "ActionTimeout")
"""The errors an Action state can raise; catch all three to handle any failure."""

KEY_ORDER: Final = (
    "Type",
    "Comment",
    "ActionUrl",
    "ActionScope",
    "RunAs",
    "InputPath",
    "Parameters",
    "Result",
    "ResultPath",
    "WaitTime",
    "ExceptionOnActionFailure",
    "Seconds",
    "Timestamp",
    "SecondsPath",
    "TimestampPath",
    "Choices",
    "Default",
    "Error",
    "ErrorPath",
    "Cause",
    "CausePath",
    "Catch",
    "Next",
    "End",
)
"""Canonical key order inside a state object."""

REJECTED_KEYS: Final = frozenset(
    {"OutputPath", "Retry", "ResultSelector", "TimeoutSeconds", "HeartbeatSeconds", "Resource"}
)
"""ASL keys the Globus service refuses on every state type."""


@dataclass(frozen=True)
class Catch:
    """A catcher: on any error in ``errors``, store the error at ``result_path`` and go to ``next``."""

    next: str
    result_path: str
    errors: Sequence[str] = ACTION_ERRORS

    def __post_init__(self) -> None:
        if not self.errors:
            raise DSLError("Catch needs at least one error name")
        _check_path(self.result_path, "Catch.ResultPath")

    def to_json(self) -> dict[str, Any]:
        """The catcher as JSON."""
        return {"ErrorEquals": list(self.errors), "Next": self.next, "ResultPath": self.result_path}


@dataclass(frozen=True)
class When:
    """One Choice branch: when ``rule`` holds, go to ``next``."""

    rule: Rule
    next: str

    def to_json(self) -> dict[str, Any]:
        """The top-level choice rule as JSON (rule plus Next)."""
        return {**self.rule.to_json(), "Next": self.next}


@dataclass(frozen=True, kw_only=True)
class State:
    """Fields every state type shares."""

    comment: str | None = None

    type_name: str = field(default="", init=False, repr=False)

    def fields(self) -> dict[str, Any]:
        """The state's JSON fields other than Type and Comment (any order)."""
        raise NotImplementedError

    def targets(self) -> list[str]:
        """Names of the states this one can go to, as the service follows its JSON.

        Next (unless it ends), Choice rule targets then Default, Catch
        targets on an Action: :func:`flowgen.core.definition.targets`.
        """
        return definition.targets(self.to_json())

    def to_json(self) -> dict[str, Any]:
        """The state as JSON with keys in canonical order."""
        data: dict[str, Any] = {"Type": self.type_name}
        if self.comment is not None:
            data["Comment"] = self.comment
        data.update({k: v for k, v in self.fields().items() if v is not None})
        return _ordered(data)


@dataclass(frozen=True, kw_only=True)
class _Transition(State):
    """A state that either goes to ``next`` or ends the run (``end=True``)."""

    next: str | None = None
    end: bool = False

    def __post_init__(self) -> None:
        if (self.next is None) == (not self.end):
            raise DSLError(f"a {self.type_name} state needs exactly one of next=... or end=True")

    def transition(self) -> dict[str, Any]:
        return {"End": True} if self.end else {"Next": self.next}


@dataclass(frozen=True, kw_only=True)
class Action(_Transition):
    """Call an action provider and wait for it to finish.

    ``exception_on_action_failure`` defaults to True and is always written
    out, because the service's documentation and its API types disagree on
    the default.
    """

    action_url: str
    parameters: Mapping[str, Any] | None = None
    input_path: str | None = None
    result_path: str | None = None
    wait_time: int | None = None
    exception_on_action_failure: bool = True
    run_as: str | None = None
    action_scope: str | None = None
    catch: Sequence[Catch] = ()
    type_name: str = field(default="Action", init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.action_url.startswith("https://"):
            raise DSLError(f"ActionUrl must start with https://, got {self.action_url!r}")
        if self.parameters is None and self.input_path is None:
            raise DSLError("an Action needs parameters or input_path")
        _check_optional_path(self.input_path, "InputPath")
        _check_optional_path(self.result_path, "ResultPath")
        if self.wait_time is not None and (isinstance(self.wait_time, bool) or self.wait_time <= 0):
            raise DSLError(f"WaitTime must be a positive number of seconds, got {self.wait_time}")

    def fields(self) -> dict[str, Any]:
        return {
            "ActionUrl": self.action_url,
            "ActionScope": self.action_scope,
            "RunAs": self.run_as,
            "InputPath": self.input_path,
            "Parameters": p.render(self.parameters) if self.parameters is not None else None,
            "ResultPath": self.result_path,
            "WaitTime": self.wait_time,
            "ExceptionOnActionFailure": self.exception_on_action_failure,
            "Catch": [c.to_json() for c in self.catch] or None,
            **self.transition(),
        }


@dataclass(frozen=True, kw_only=True)
class ExpressionEval(_Transition):
    """Compute values (literals, Ref, Expr) and store them at ``result_path``.

    Every value is computed from the run state as it was on entry, so a key
    cannot use a sibling computed in the same state: chain two states.
    """

    parameters: Mapping[str, Any]
    result_path: str
    type_name: str = field(default="ExpressionEval", init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_path(self.result_path, "ResultPath")

    def fields(self) -> dict[str, Any]:
        return {
            "Parameters": p.render(self.parameters),
            "ResultPath": self.result_path,
            **self.transition(),
        }


@dataclass(frozen=True, kw_only=True)
class Pass(_Transition):
    """Move or inject data; with neither field set, leaves the state unchanged."""

    input_path: str | None = None
    parameters: Mapping[str, Any] | None = None
    result: Mapping[str, Any] | None = None
    result_path: str | None = None
    type_name: str = field(default="Pass", init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.result is not None and self.parameters is not None:
            raise DSLError("a Pass state takes result or parameters, not both")
        _check_optional_path(self.input_path, "InputPath")
        _check_optional_path(self.result_path, "ResultPath")

    def fields(self) -> dict[str, Any]:
        return {
            "InputPath": self.input_path,
            "Parameters": p.render(self.parameters) if self.parameters is not None else None,
            "Result": dict(self.result) if self.result is not None else None,
            "ResultPath": self.result_path,
            **self.transition(),
        }


@dataclass(frozen=True, kw_only=True)
class Wait(_Transition):
    """Pause for ``seconds``, until ``timestamp``, or for a value read from the run state."""

    seconds: int | None = None
    timestamp: str | None = None
    seconds_path: str | None = None
    timestamp_path: str | None = None
    type_name: str = field(default="Wait", init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        given = [
            v
            for v in (self.seconds, self.timestamp, self.seconds_path, self.timestamp_path)
            if v is not None
        ]
        if len(given) != 1:
            raise DSLError(
                "a Wait needs exactly one of seconds, timestamp, seconds_path, timestamp_path"
            )
        if self.seconds is not None and (isinstance(self.seconds, bool) or self.seconds < 0):
            raise DSLError(f"Wait seconds must be a whole number >= 0, got {self.seconds!r}")
        if self.timestamp is not None and not is_timestamp(self.timestamp):
            raise DSLError(f"Wait timestamp must be RFC 3339, got {self.timestamp!r}")
        _check_optional_path(self.seconds_path, "SecondsPath")
        _check_optional_path(self.timestamp_path, "TimestampPath")

    def fields(self) -> dict[str, Any]:
        return {
            "Seconds": self.seconds,
            "Timestamp": self.timestamp,
            "SecondsPath": self.seconds_path,
            "TimestampPath": self.timestamp_path,
            **self.transition(),
        }


@dataclass(frozen=True, kw_only=True)
class Choice(State):
    """Branch on the run state: the first matching rule's ``next`` wins, else ``default``."""

    choices: Sequence[When]
    default: str | None = None
    type_name: str = field(default="Choice", init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.choices:
            raise DSLError("a Choice needs at least one rule")

    def fields(self) -> dict[str, Any]:
        return {"Choices": [c.to_json() for c in self.choices], "Default": self.default}


@dataclass(frozen=True, kw_only=True)
class Fail(State):
    """End the run as FAILED, with an error code and a cause (literal or read from the state)."""

    error: str | None = None
    cause: str | None = None
    error_path: str | None = None
    cause_path: str | None = None
    type_name: str = field(default="Fail", init=False, repr=False)

    def __post_init__(self) -> None:
        if self.error is not None and self.error_path is not None:
            raise DSLError("a Fail takes error or error_path, not both")
        if self.cause is not None and self.cause_path is not None:
            raise DSLError("a Fail takes cause or cause_path, not both")
        _check_optional_path(self.error_path, "ErrorPath")
        _check_optional_path(self.cause_path, "CausePath")

    def fields(self) -> dict[str, Any]:
        return {
            "Error": self.error,
            "ErrorPath": self.error_path,
            "Cause": self.cause,
            "CausePath": self.cause_path,
        }


@dataclass(frozen=True, kw_only=True)
class RawState(State):
    """Escape hatch: a state written as a JSON object, for types the DSL does not model.

    Keys the service rejects on every state (OutputPath, Retry, ...) are
    still refused here.
    """

    body: Mapping[str, Any]

    def __post_init__(self) -> None:
        if "Type" not in self.body:
            raise DSLError("a RawState needs a Type")
        bad = sorted(REJECTED_KEYS & set(self.body))
        if bad:
            raise DSLError(f"the Globus service rejects {', '.join(bad)} on every state")

    def to_json(self) -> dict[str, Any]:
        data = dict(self.body)
        if self.comment is not None:
            data["Comment"] = self.comment
        return _ordered(data)

    def fields(self) -> dict[str, Any]:
        return dict(self.body)


def _ordered(data: Mapping[str, Any]) -> dict[str, Any]:
    rank = {key: i for i, key in enumerate(KEY_ORDER)}
    return {k: data[k] for k in sorted(data, key=lambda k: (rank.get(k, len(rank)), k))}


def _check_path(path: object, field_name: str) -> None:
    # A ResultPath names the one place a result goes, so a slice is refused there.
    writes = field_name.endswith("ResultPath")
    if not jsonpath.is_valid(path, reference=writes):
        what = "a JSONPath naming one place (no slice)" if writes else "a JSONPath"
        raise DSLError(f"{field_name}: {path!r} is not {what}")
    if (
        isinstance(path, str)
        and field_name.endswith("ResultPath")
        and (jsonpath.parse(path)[:1] == ("_context",))
    ):
        raise DSLError(f"{field_name}: $._context is read-only")


def _check_optional_path(path: str | None, field_name: str) -> None:
    if path is not None:
        _check_path(path, field_name)
