"""Role lists for a flow: accept people's short forms, send the service URNs.

Accepted entries: ``group:<uuid>``, ``identity:<uuid>``, full URNs
(``urn:globus:groups:id:<uuid>``, ``urn:globus:auth:identity:<uuid>``),
usernames (``alice@uni.edu`` or ``identity:alice@uni.edu``),
``all_authenticated_users`` (starters only) and ``public`` (viewers only).
Everything that can be checked offline is checked first, with the service's
limit of 16 per list; then every username in every list is looked up in one
Globus Auth call; then the lists are checked again as URNs (a username and
its own URN in one list are a duplicate). So a typo never reaches the
service, and the service only ever sees URNs: a second deploy compares URNs
with URNs and sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from flowgen.core.errors import ConfigError
from flowgen.deploy.identities import Identity, username_of
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

UsernameLookup = Callable[[Sequence[str]], Mapping[str, Identity]]
"""Resolves usernames (lower-case) to identities in one call; raises for unknown ones."""

_PREFIXES = {
    "group:": "urn:globus:groups:id:",
    "identity:": "urn:globus:auth:identity:",
}

_FORMS = (
    "(write 'group:<uuid>', 'identity:<uuid>', a username such as 'alice@uni.edu', "
    "or a full URN; nothing was sent)"
)


def normalise(value: str, identities: Mapping[str, Identity] | None = None) -> str:
    """One entry as the service spells it: short forms become URNs, UUIDs lower-case.

    A username becomes its identity's URN when ``identities`` (from the
    lookup) has it; otherwise it is returned as written.
    """
    text = value.strip()
    name = username_of(text)
    if name is not None:
        identity = (identities or {}).get(name)
        return identity.urn if identity is not None else text
    for short, urn in _PREFIXES.items():
        if text.lower().startswith(short):
            return urn + text[len(short) :].strip().lower()
    for urn in _PREFIXES.values():
        if text.lower().startswith(urn):
            return urn + text[len(urn) :].lower()
    return text


def parse_role_list(
    values: Sequence[str],
    role: str,
    *,
    source: str,
    identities: Mapping[str, Identity] | None = None,
) -> tuple[str, ...]:
    """Normalise and check one role list; ``source`` names where it came from in messages.

    Without ``identities`` (before the lookup), username entries are left
    as written and not checked; with them, every entry must be a URN.
    Raises :class:`~flowgen.core.errors.ConfigError` listing every problem.
    """
    urns = [normalise(v, identities) for v in values]
    pending = (
        set() if identities is not None else {i for i, v in enumerate(values) if username_of(v)}
    )
    problems = [p for p in check_principals(urns, role) if p.entry not in pending]
    if problems:
        lines = [
            f"{source}: {reason}"
            if entry is None
            else f"{source}[{entry}] ({values[entry]!r}): {_reason(values[entry], reason)}"
            for entry, reason in problems
        ]
        raise ConfigError("\n".join(lines) + "\n" + _FORMS)
    return tuple(urns)


def _reason(value: str, reason: str) -> str:
    # The validator's own wording ("use the identity URN instead") is for
    # definitions; here usernames are welcome, so say what is wrong with this one.
    text = value.strip().lower()
    if "@" not in text or text.startswith("urn:"):
        return reason
    if text.startswith("group:"):
        return (
            "a group is named by its id (group:<uuid>), not by a username; "
            "'flowgen group list' shows the ids of your groups"
        )
    return "not a whole Globus username; write it with its domain, such as 'alice@uni.edu'"


@dataclass(frozen=True)
class ResolvedRoles:
    """Every role list as URNs, and the identities the usernames in them resolved to."""

    lists: dict[str, tuple[str, ...]]
    """Keyed by the service's role names (``flow_starters``, ...)."""
    identities: dict[str, Identity] = field(default_factory=dict)
    """Keyed by the username (lower-case) the config or command line gave."""

    @property
    def names(self) -> dict[str, str]:
        """URN -> the username it was given as, for messages (never sent)."""
        return {i.urn: name for name, i in sorted(self.identities.items())}


def resolve_roles(
    settings: DeploySettings,
    overrides: Mapping[str, Sequence[str]],
    *,
    config: str,
    lookup: UsernameLookup | None = None,
) -> ResolvedRoles:
    """Every role list the flow should have, keyed by the service's names.

    A list given on the command line (``overrides``, keyed by config field
    name) replaces the config's list for that role. ``lookup`` is called
    once, with every username of every list, and only when there are any.
    """
    lists: list[tuple[str, list[str], str]] = []
    for field_name, role in ROLE_OF_FIELD.items():
        if field_name in overrides:
            values = list(overrides[field_name])
            source = f"--{field_name.rstrip('s').replace('_', '-')}"
        else:
            values, source = list(getattr(settings, field_name)), f"{config}: deploy.{field_name}"
        lists.append((role, values, source))
    for role, values, source in lists:
        parse_role_list(values, role, source=source)
    usernames = list(
        dict.fromkeys(name for _, values, _ in lists for v in values if (name := username_of(v)))
    )
    identities: dict[str, Identity] = {}
    if usernames:
        if lookup is None:
            raise ConfigError(
                f"{config}: role lists name usernames ({', '.join(usernames)}) but no Globus "
                "Auth lookup was given to resolve them; nothing was sent"
            )
        identities = dict(lookup(usernames))
    resolved = {
        role: parse_role_list(values, role, source=source, identities=identities)
        for role, values, source in lists
    }
    return ResolvedRoles(resolved, {n: identities[n] for n in usernames if n in identities})
