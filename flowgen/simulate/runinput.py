"""Before a run starts: the definition's shape, the input schema and ``$._context``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jsonschema

from flowgen.core.definition import TransitionKind, transition_slots
from flowgen.core.jsonpath import format_path
from flowgen.simulate.errors import DefinitionError, FlowInputError

STATE_TYPES = frozenset(
    {
        "Action",
        "ExpressionEval",
        "Pass",
        "Wait",
        "Choice",
        "Fail",
        "CreateWebInput",
        "AwaitWebInput",
    }
)
CONTEXT_KEYS = ("flow_id", "run_id", "username", "email", "user_id", "identities", "token_info")
IDENTITY_URN = "urn:globus:auth:identity:"
TOKEN_LIFETIME = 172_800
_FIELDS = {
    TransitionKind.NEXT: "Next",
    TransitionKind.CHOICE: "Choices[].Next",
    TransitionKind.DEFAULT: "Default",
    TransitionKind.CATCH: "Catch[].Next",
}
"""How a problem message names each kind of transition field."""


def check_definition(definition: Any) -> None:
    """Refuse a definition the engine cannot run, listing every problem found.

    This is the minimum needed to run at all; ``flowgen validate`` does the
    full static check.
    """
    if not isinstance(definition, dict):
        raise DefinitionError("the flow definition must be a JSON object")
    states = definition.get("States")
    if not isinstance(states, dict) or not states:
        raise DefinitionError("the flow definition needs a non-empty 'States' object")
    problems: list[str] = []
    if definition.get("StartAt") not in states:
        problems.append(f"StartAt {definition.get('StartAt')!r} is not a state")
    for name, state in states.items():
        where = format_path(("States", name))
        if not isinstance(state, dict) or state.get("Type") not in STATE_TYPES:
            kind = state.get("Type") if isinstance(state, dict) else state
            problems.append(f"{where}: unsupported state Type {kind!r}")
            continue
        for slot in transition_slots(state):
            if not isinstance(slot.target, str) or slot.target not in states:
                problems.append(f"{where}.{_FIELDS[slot.kind]}: {slot.target!r} is not a state")
    if problems:
        raise DefinitionError("the flow definition cannot run:\n  " + "\n  ".join(problems))


def validate_input(schema: Mapping[str, Any] | None, run_input: Any) -> None:
    """Validate the run input like the service (draft-07; no schema or ``{}``: no check)."""
    if not schema:
        return
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise DefinitionError(
            f"the input schema is not a valid draft-07 schema: {exc.message}"
        ) from None
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(
        validator.iter_errors(run_input), key=lambda e: (list(map(str, e.path)), e.message)
    )
    if not errors:
        return
    detail = [
        {
            "loc": [format_path(list(e.absolute_path))],
            "type": "InvalidActionInput",
            "msg": e.message,
        }
        for e in errors
    ]
    lines = [f"  {d['loc'][0]}: {d['msg']}" for d in detail]
    noun = "error" if len(errors) == 1 else "errors"
    raise FlowInputError(
        f"FLOW_INPUT_ERROR: Input failed schema validation with {len(errors)} {noun}.\n"
        + "\n".join(lines),
        detail,
    )


def build_context(
    overrides: Mapping[str, Any] | None, now: datetime, flow_id: str | None = None
) -> dict[str, Any]:
    """The run's ``$._context``: defaults for a made-up user, then the caller's values."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(CONTEXT_KEYS))
    if unknown:
        raise DefinitionError(
            f"unknown _context key(s) {', '.join(unknown)}; known keys: {', '.join(CONTEXT_KEYS)}"
        )
    if "user_id" in overrides:
        overrides["user_id"] = _urn(str(overrides["user_id"]))
    user_id = overrides.get("user_id", IDENTITY_URN + str(uuid.uuid4()))
    iat = int(now.timestamp())
    context: dict[str, Any] = {
        "flow_id": flow_id or str(uuid.uuid4()),
        "run_id": str(uuid.uuid4()),
        "username": "researcher@example.org",
        "email": "researcher@example.org",
        "user_id": user_id,
        "identities": [user_id],
        "token_info": {"exp": iat + TOKEN_LIFETIME, "iat": iat, "nbf": iat},
    }
    if "identities" in overrides:
        identities = overrides["identities"]
        if not isinstance(identities, list):
            raise DefinitionError("_context identities must be a list of identity ids")
        overrides["identities"] = [_urn(str(i)) for i in identities]
    if "token_info" in overrides:
        info = overrides["token_info"]
        if not isinstance(info, Mapping):
            raise DefinitionError("_context token_info must be an object with exp, iat, nbf")
        overrides["token_info"] = {**context["token_info"], **info}
    context.update(overrides)
    return context


def _urn(identity: str) -> str:
    return identity if identity.startswith("urn:") else IDENTITY_URN + identity
