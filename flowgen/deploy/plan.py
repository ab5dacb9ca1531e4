"""The plan: what a deploy would change on the service, field by field.

The local build is compared with the flow as the service has it now (from
``get_flow``), so edits made in the web app show up as drift. The
definition and input schema are compared with :mod:`flowgen.review.diff`; the
metadata and role lists field by field (role lists as sets: their order
means nothing to the service). A plan knows the exact ``create_flow`` or
``update_flow`` arguments, and an update sends only the fields that differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowgen.review.diff import Change, diff_flows, json_equal, render_value
from flowgen.review.load import FlowDocs
from flowgen.validate import ROLES

WEB_APP = "https://app.globus.org/flows/"
"""Prefix of a flow's page in the Globus web app (share it with group members)."""


def web_address(flow_id: str) -> str:
    """The flow's page in the Globus web app."""
    return WEB_APP + flow_id


@dataclass(frozen=True)
class DesiredFlow:
    """Everything ``flowgen deploy`` sets on a flow, as the service spells it."""

    title: str
    definition: dict[str, Any]
    input_schema: dict[str, Any]
    subtitle: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    subscription_id: str = ""
    """A UUID, ``DEFAULT``, or empty for "leave the subscription alone"."""
    names: dict[str, str] = field(default_factory=dict)
    """URN -> the username the config gave for it; shown in the plan, never sent."""

    def fields(self) -> dict[str, Any]:
        """Metadata and roles as ``create_flow``/``update_flow`` keyword arguments."""
        values: dict[str, Any] = {
            "title": self.title,
            "subtitle": self.subtitle,
            "description": self.description,
            "keywords": list(self.keywords),
        }
        for role in ROLES:
            values[role] = list(self.roles.get(role, ()))
        if self.subscription_id:
            values["subscription_id"] = self.subscription_id
        return values


@dataclass(frozen=True)
class FieldChange:
    """One metadata field or role list that differs from what is deployed."""

    field: str
    old: Any
    new: Any

    def to_json(self) -> dict[str, Any]:
        """The change as plain JSON."""
        return {"field": self.field, "old": self.old, "new": self.new}

    def render(self, names: Mapping[str, str] | None = None) -> str:
        """The change for people; ``names`` labels URNs with the usernames they came from."""
        if isinstance(self.new, list) and isinstance(self.old, list):

            def entry(value: Any) -> str:
                name = (names or {}).get(value) if isinstance(value, str) else None
                return f"{value} ({name})" if name else str(value)

            added = [v for v in self.new if v not in self.old]
            removed = [v for v in self.old if v not in self.new]
            parts = [f"+ {self.field}: {entry(v)}" for v in added] + [
                f"- {self.field}: {entry(v)}" for v in removed
            ]
            return "\n".join(parts) or f"~ {self.field}: {render_value(self.new)}"
        return f"~ {self.field}: {render_value(self.old)} -> {render_value(self.new)}"

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class Plan:
    """What deploying ``desired`` would do; ``flow_id`` is None for a new flow."""

    desired: DesiredFlow
    flow_id: str | None = None
    flow_changes: tuple[Change, ...] = ()
    field_changes: tuple[FieldChange, ...] = ()

    @property
    def creates(self) -> bool:
        """Whether the plan creates a new flow."""
        return self.flow_id is None

    @property
    def changes(self) -> tuple[Change | FieldChange, ...]:
        """Every difference: definition and schema changes, then fields."""
        return (*self.flow_changes, *self.field_changes)

    @property
    def is_empty(self) -> bool:
        """Whether deploying would change nothing."""
        return not self.creates and not self.changes

    def create_kwargs(self) -> dict[str, Any]:
        """The ``create_flow`` arguments for a new flow (empty metadata left out)."""
        d = self.desired
        kwargs: dict[str, Any] = {
            "title": d.title,
            "definition": d.definition,
            "input_schema": d.input_schema,
        }
        for name, value in d.fields().items():
            if name != "title" and value:
                kwargs[name] = value
        return kwargs

    def update_kwargs(self) -> dict[str, Any]:
        """The ``update_flow`` arguments: only what differs from the deployed flow."""
        kwargs: dict[str, Any] = {}
        if any(c.document.value == "definition" for c in self.flow_changes):
            kwargs["definition"] = self.desired.definition
        if any(c.document.value == "input_schema" for c in self.flow_changes):
            kwargs["input_schema"] = self.desired.input_schema
        wanted = self.desired.fields()
        for change in self.field_changes:
            kwargs[change.field] = wanted[change.field]
        return kwargs

    def to_json(self) -> dict[str, Any]:
        """The plan as plain JSON (``--format json``)."""
        return {
            "action": "create" if self.creates else ("none" if self.is_empty else "update"),
            "flow_id": self.flow_id,
            "changes": [c.to_json() for c in self.changes],
        }

    def render(self) -> str:
        """The plan for people, one change per line."""
        if self.creates:
            return f"create a new flow titled {self.desired.title!r}"
        if self.is_empty:
            return f"flow {self.flow_id} is up to date: nothing to change"
        names = self.desired.names
        lines = [f"update flow {self.flow_id}:"]
        for change in self.changes:
            text = change.render(names) if isinstance(change, FieldChange) else str(change)
            lines += [f"  {line}" for line in text.splitlines()]
        return "\n".join(lines)


def make_plan(desired: DesiredFlow, deployed: dict[str, Any] | None) -> Plan:
    """Compare ``desired`` with the flow document ``get_flow`` returned (None: create)."""
    if deployed is None:
        return Plan(desired)
    flow_id = str(deployed["id"])
    remote = FlowDocs(
        definition=deployed.get("definition") or {},
        input_schema=deployed.get("input_schema") or {},
    )
    local = FlowDocs(definition=desired.definition, input_schema=desired.input_schema)
    flow_changes = tuple(diff_flows(remote, local))
    return Plan(desired, flow_id, flow_changes, tuple(_field_changes(desired, deployed)))


def _field_changes(desired: DesiredFlow, deployed: dict[str, Any]) -> list[FieldChange]:
    changes: list[FieldChange] = []
    for name, new in desired.fields().items():
        old = deployed.get(name)
        if name in ROLES or name == "keywords":
            old_list = sorted(old or []) if name in ROLES else list(old or [])
            new_list = sorted(new) if name in ROLES else new
            if old_list != new_list:
                changes.append(FieldChange(name, old_list, new_list))
        elif name == "subscription_id":
            # DEFAULT asks the service to pick the caller's subscription: any
            # subscription on the flow satisfies it.
            satisfied = bool(old) if new == "DEFAULT" else str(old or "").lower() == new
            if not satisfied:
                changes.append(FieldChange(name, old, new))
        elif not json_equal(old or "", new):
            changes.append(FieldChange(name, old or "", new))
    return changes
