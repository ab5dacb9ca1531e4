"""Role lists for a flow: accept people's short forms, send the service URNs.

Accepted entries: ``group:<uuid>``, ``identity:<uuid>``, full URNs
(``urn:globus:groups:id:<uuid>``, ``urn:globus:auth:identity:<uuid>``),
``all_authenticated_users`` (starters only) and ``public`` (viewers only).
Everything is checked, with the service's limit of 16 per list, before any
call is made, so a typo never reaches the service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flowgen.errors import ConfigError
from flowgen.flowcron.config import DEPLOY_ROLE_FIELDS, DeploySettings
from flowgen.validate import ROLES, check_principals

ROLE_OF_FIELD: dict[str, str] = {
    "starters": "flow_starters",
    "administrators": "flow_administrators",
    "viewers": "flow_viewers",
    "run_managers": "run_managers",
    "run_monitors": "run_monitors",
}
if set(ROLE_OF_FIELD) != set(DEPLOY_ROLE_FIELDS) or set(ROLE_OF_FIELD.values()) != set(ROLES):
    raise ImportError("flowgen.deploy.roles is out of step with the config's role fields")
"""Config field / CLI option name -> the service's role list (``starters`` -> ``flow_starters``)."""

_PREFIXES = {
    "group:": "urn:globus:groups:id:",
    "identity:": "urn:globus:auth:identity:",
}


def normalise(value: str) -> str:
    """One entry as the service spells it: short forms become URNs, UUIDs lower-case."""
    text = value.strip()
    for short, urn in _PREFIXES.items():
        if text.lower().startswith(short):
            return urn + text[len(short) :].strip().lower()
    for urn in _PREFIXES.values():
        if text.lower().startswith(urn):
            return urn + text[len(urn) :].lower()
    return text


def parse_role_list(values: Sequence[str], role: str, *, source: str) -> tuple[str, ...]:
    """Normalise and check one role list; ``source`` names where it came from in messages.

    Raises :class:`~flowgen.errors.ConfigError` listing every problem.
    """
    urns = [normalise(v) for v in values]
    problems = check_principals(urns, role)
    if problems:
        lines = [
            f"{source}: {reason}"
            if entry is None
            else f"{source}[{entry}] ({values[entry]!r}): {reason}"
            for entry, reason in problems
        ]
        raise ConfigError(
            "\n".join(lines)
            + "\n(write 'group:<uuid>', 'identity:<uuid>' or a full URN; nothing was sent)"
        )
    return tuple(urns)


def resolve_roles(
    settings: DeploySettings, overrides: Mapping[str, Sequence[str]], *, config: str
) -> dict[str, tuple[str, ...]]:
    """Every role list the flow should have, keyed by the service's names.

    A list given on the command line (``overrides``, keyed by config field
    name) replaces the config's list for that role.
    """
    resolved: dict[str, tuple[str, ...]] = {}
    for field_name, role in ROLE_OF_FIELD.items():
        if field_name in overrides:
            values, source = (
                list(overrides[field_name]),
                f"--{field_name.rstrip('s').replace('_', '-')}",
            )
        else:
            values, source = list(getattr(settings, field_name)), f"{config}: deploy.{field_name}"
        resolved[role] = parse_role_list(values, role, source=source)
    return resolved
