"""Errors of the simulator: run-time failures inside a flow and usage errors around it."""

from __future__ import annotations

from typing import Any

from flowgen.core.errors import FlowgenError

RUNTIME = "States.Runtime"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
STATE_LIMIT = "States.StateLimitExceeded"
ACTION_UNABLE_TO_RUN = "ActionUnableToRun"
ACTION_FAILED = "ActionFailedException"
ACTION_TIMEOUT = "ActionTimeout"
WEB_INPUT_EXPIRED = "Flows.WebInputExpired"


class StateFailure(Exception):
    """An error raised while a state runs, named as the service names it.

    ``payload`` is the document a catcher stores (an action status, for
    instance); the run log shows ``error`` as ``exception`` and ``cause``.
    """

    def __init__(self, error: str, cause: str, payload: dict[str, Any] | None = None) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause
        self.payload = payload


def runtime_failure(cause: str) -> StateFailure:
    """A ``States.Runtime`` failure with ``cause``."""
    return StateFailure(RUNTIME, cause)


def missing_path(path: str, field: str) -> StateFailure:
    """The service's message for a JSONPath that names nothing."""
    return runtime_failure(
        f"The path '{path}' specified for the field '{field}' could not be found "
        "in the state input."
    )


class DefinitionError(FlowgenError):
    """The flow definition cannot be run at all (no StartAt, a Next to nowhere, ...)."""


class FlowInputError(FlowgenError):
    """The run input fails the flow's input schema (the service's FLOW_INPUT_ERROR).

    ``detail`` lists each problem as ``{"loc": [...], "type", "msg"}``.
    """

    def __init__(self, message: str, detail: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.detail = detail


class WebInputError(FlowgenError):
    """A web-input answer does not fit the flow (no such AwaitWebInput state, not an option).

    It is the caller's answer that is wrong, not the flow, so the simulation
    stops (exit 2) instead of the run failing.
    """
