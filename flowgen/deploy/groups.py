"""Globus groups: who may start the flow, managed without the web app.

A group given the Starter role (``starters = ["group:<uuid>"]``) is how a PI
shares the flow; these functions create the group and change who is in it.
Members are given as identity ids or usernames (``alice@uni.edu``); usernames
are looked up with Globus Auth in one call before the group is changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flowgen.core.errors import UsageError
from flowgen.deploy.identities import Identity, lookup_usernames, username_of

if TYPE_CHECKING:
    import globus_sdk

_GROUP_PREFIXES = ("urn:globus:groups:id:", "group:")
_IDENTITY_PREFIXES = ("urn:globus:auth:identity:", "identity:")


def _uuid_or_none(value: str, prefixes: Sequence[str]) -> str | None:
    text = value.strip()
    for prefix in prefixes:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def group_id(value: str) -> str:
    """A group id from ``<uuid>``, ``group:<uuid>`` or a group URN."""
    found = _uuid_or_none(value, _GROUP_PREFIXES)
    if found is None:
        raise UsageError(
            f"{value!r} is not a group id; give a UUID or 'group:<uuid>' "
            "('flowgen group list' shows the ids of your groups)"
        )
    return found


def _split_members(values: Sequence[str]) -> tuple[list[str | None], list[str]]:
    """Per value its identity id (None for a username), and the usernames; all checked first."""
    ids: list[str | None] = []
    usernames: list[str] = []
    bad: list[str] = []
    for value in values:
        found = _uuid_or_none(value, _IDENTITY_PREFIXES)
        name = None if found else username_of(value)
        if found is None and name is None:
            bad.append(value)
        ids.append(found)
        if name is not None:
            usernames.append(name)
    if bad:
        listed = ", ".join(repr(v) for v in bad)
        raise UsageError(
            f"{listed}: neither an identity id nor a username; give a UUID, "
            "'identity:<uuid>', or a username with its domain such as 'alice@uni.edu' "
            "(nothing was changed)"
        )
    return ids, usernames


def resolve_members(
    values: Sequence[str], auth: globus_sdk.AuthClient | None
) -> tuple[list[str], dict[str, str]]:
    """Identity ids for ``values`` (ids, ``identity:`` forms, URNs or usernames), in order.

    Usernames are looked up with ``auth`` in one call; returns the ids and
    ``{username: identity id}`` for the usernames. Raises before any change
    for a value that is neither, or a username Auth does not know.
    """
    ids, usernames = _split_members(values)
    identities: dict[str, Identity] = {}
    if usernames:
        if auth is None:
            raise UsageError("usernames need a Globus Auth client to be looked up")
        identities = lookup_usernames(auth, usernames)
    resolved = [
        found if found is not None else identities[str(username_of(value))].id
        for value, found in zip(values, ids, strict=True)
    ]
    return list(dict.fromkeys(resolved)), {name: i.id for name, i in identities.items()}


def create_group(
    client: globus_sdk.GroupsClient, name: str, description: str = ""
) -> dict[str, Any]:
    """Create a group; returns ``{"id", "name", "starter"}`` (``starter``: the role entry)."""
    from globus_sdk import GroupsManager

    if not name.strip():
        raise UsageError("a group needs a name")
    created = GroupsManager(client).create_group(name, description)
    return {"id": created["id"], "name": created["name"], "starter": f"group:{created['id']}"}


def change_members(
    client: globus_sdk.GroupsClient,
    group: str,
    identities: Sequence[str],
    *,
    add: bool,
    auth: globus_sdk.AuthClient | None = None,
) -> dict[str, Any]:
    """Add or remove members in one batch; returns what the service did and refused.

    ``identities`` may hold usernames, looked up with ``auth`` before the
    group is changed. The result is ``{"group", "done", "errors", "usernames"}``
    (``usernames``: each username given and the identity id it resolved to).
    """
    from globus_sdk import BatchMembershipActions

    gid = group_id(group)
    ids, usernames = resolve_members(identities, auth)
    actions = BatchMembershipActions()
    if add:
        actions.add_members(ids)
    else:
        actions.remove_members(ids)
    response = client.batch_membership_action(gid, actions)
    key = "add" if add else "remove"
    done = [m.get("identity_id") for m in response.get(key, [])]
    errors = [
        {"identity_id": e.get("identity_id"), "detail": e.get("detail") or e.get("code")}
        for e in response.get("errors", {}).get(key, [])
    ]
    return {"group": gid, "done": done, "errors": errors, "usernames": usernames}


def list_groups(client: globus_sdk.GroupsClient) -> list[dict[str, Any]]:
    """The caller's groups, sorted by name: ``{"id", "name", "roles"}``."""
    groups = [
        {
            "id": g["id"],
            "name": g.get("name", ""),
            "roles": sorted({m.get("role", "") for m in g.get("my_memberships", [])}),
        }
        for g in client.get_my_groups()
    ]
    return sorted(groups, key=lambda g: (g["name"].lower(), g["id"]))
