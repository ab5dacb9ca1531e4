"""The action-provider plugin API.

A provider simulates one ActionUrl. It is either a plain callable
``f(body, ctx) -> ActionStatus | dict`` (a synchronous action) or an object
with ``run(body, ctx)`` and, for asynchronous actions, ``poll(status, ctx)``
called as simulated time passes until the status is SUCCEEDED or FAILED.
A provider raises :class:`ActionUnableToRun` to refuse a request (bad input,
unknown collection): the flow sees the service's ``ActionUnableToRun``.

Example::

    def hello(body, ctx):
        return ActionStatus.succeeded({"hello": body.get("echo_string", "")})

    simulate(definition, run_input, collections={},
             providers={"https://actions.globus.org/hello_world": hello})
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, Union, runtime_checkable

from flowgen.simulate.collections import CollectionMap
from flowgen.simulate.options import SimulatorOptions

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"
TERMINAL = frozenset({SUCCEEDED, FAILED})
STATUSES = frozenset({SUCCEEDED, FAILED, ACTIVE, INACTIVE})


class ActionUnableToRun(Exception):
    """The provider refuses the request; ``details`` is the error document the flow sees."""

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details) if details is not None else {"message": message}


@dataclass(frozen=True)
class ActionStatus:
    """An action status as a provider reports it (``details`` is provider-specific)."""

    status: str
    details: Any = None
    action_id: str = ""
    label: str | None = None
    release_after: str = "P30D"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {sorted(STATUSES)}, got {self.status!r}")

    @classmethod
    def succeeded(cls, details: Any = None, **kwargs: Any) -> ActionStatus:
        """A SUCCEEDED status."""
        return cls(SUCCEEDED, details, **kwargs)

    @classmethod
    def failed(cls, details: Any = None, **kwargs: Any) -> ActionStatus:
        """A FAILED status."""
        return cls(FAILED, details, **kwargs)

    @classmethod
    def active(cls, details: Any = None, **kwargs: Any) -> ActionStatus:
        """An ACTIVE status (asynchronous action still running)."""
        return cls(ACTIVE, details, **kwargs)

    @property
    def is_terminal(self) -> bool:
        """Whether the action has finished (SUCCEEDED or FAILED)."""
        return self.status in TERMINAL

    def with_details(self, details: Any) -> ActionStatus:
        """A copy with other details."""
        return replace(self, details=details)


@dataclass
class ActionContext:
    """What a provider may use: time, collections, the run's identity, shared records."""

    now: Callable[[], datetime]
    collections: CollectionMap
    options: SimulatorOptions
    run_context: Mapping[str, Any]
    action_id: str
    state_name: str
    action_url: str
    records: dict[str, Any] = field(default_factory=dict)
    """Shared, per-simulator storage providers may use to record what they did."""


@runtime_checkable
class Provider(Protocol):
    """A simulated action provider (``poll`` is optional; see :func:`poll_of`)."""

    def run(self, body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
        """Start the action (the service's ``POST /run``)."""
        ...


ProviderFunction = Callable[[dict[str, Any], ActionContext], "ActionStatus | Mapping[str, Any]"]
ProviderLike = Union[Provider, ProviderFunction]  # noqa: UP007 - a runtime alias must work on 3.10
"""What ``simulate(providers=...)`` accepts for an ActionUrl."""

PollFunction = Callable[[ActionStatus, ActionContext], ActionStatus]


class _FunctionProvider:
    def __init__(self, function: ProviderFunction) -> None:
        self.function = function

    def run(self, body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
        return coerce_status(self.function(body, ctx))


def as_provider(obj: ProviderLike) -> Provider:
    """Accept a provider object or a plain callable."""
    if isinstance(obj, Provider):
        return obj
    if callable(obj):
        return _FunctionProvider(obj)
    raise TypeError(f"a provider must be callable or have a run() method, got {obj!r}")


def poll_of(provider: Provider) -> PollFunction | None:
    """The provider's ``poll`` method, if it has one."""
    poll = getattr(provider, "poll", None)
    return poll if callable(poll) else None


def coerce_status(value: Any) -> ActionStatus:
    """Turn what a provider returned (an ActionStatus or a dict like one) into an ActionStatus."""
    if isinstance(value, ActionStatus):
        return value
    if isinstance(value, Mapping) and "status" in value:
        return ActionStatus(
            status=str(value["status"]),
            details=value.get("details"),
            action_id=str(value.get("action_id", "")),
            label=value.get("label"),
        )
    raise TypeError(
        f"a provider must return an ActionStatus or a dict with 'status', got {value!r}"
    )


def new_id() -> str:
    """A fresh random identifier, as the services use."""
    return str(uuid.uuid4())
