"""A flow: named states, a start state, and deterministic JSON output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowgen.core import jsonio
from flowgen.dsl.errors import DSLError
from flowgen.dsl.states import State


@dataclass
class Flow:
    """A flow definition under construction.

    Add states in the order a reader should meet them; that order is kept in
    the JSON. :meth:`to_json` checks that every target exists, so a dangling
    ``next`` fails at build time.

    >>> from flowgen.dsl import Pass
    >>> flow = Flow(comment="hello")
    >>> flow.add("Done", Pass(end=True))
    'Done'
    >>> flow.to_json()["StartAt"]
    'Done'
    """

    comment: str | None = None
    start_at: str | None = None
    states: dict[str, State] = field(default_factory=dict)

    def add(self, name: str, state: State) -> str:
        """Add a state; the first one added is the start unless ``start_at`` is set."""
        if not name:
            raise DSLError("state names must not be empty")
        if name in self.states:
            raise DSLError(f"a state named {name!r} already exists")
        self.states[name] = state
        if self.start_at is None:
            self.start_at = name
        return name

    def to_json(self) -> dict[str, Any]:
        """The definition as JSON, after checking every target exists."""
        if not self.states or self.start_at is None:
            raise DSLError("a flow needs at least one state")
        if self.start_at not in self.states:
            raise DSLError(f"start_at names {self.start_at!r}, which is not a state")
        for name, state in self.states.items():
            for target in state.targets():
                if target not in self.states:
                    raise DSLError(f"state {name!r} goes to {target!r}, which is not a state")
        data: dict[str, Any] = {}
        if self.comment is not None:
            data["Comment"] = self.comment
        data["StartAt"] = self.start_at
        data["States"] = {name: state.to_json() for name, state in self.states.items()}
        return data

    def dumps(self) -> str:
        """The definition as the JSON text flowgen writes (deterministic)."""
        return jsonio.dumps(self.to_json())
