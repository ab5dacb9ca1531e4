"""Globus groups: who may start the flow, managed without the web app.

A group given the Starter role (``starters = ["group:<uuid>"]``) is how a PI
shares the flow; these functions create the group and change who is in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flowgen.errors import UsageError

if TYPE_CHECKING:
    import globus_sdk

_GROUP_PREFIXES = ("urn:globus:groups:id:", "group:")
_IDENTITY_PREFIXES = ("urn:globus:auth:identity:", "identity:")


def _uuid_of(value: str, prefixes: Sequence[str], what: str) -> str:
    text = value.strip()
    for prefix in prefixes:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    try:
        return str(uuid.UUID(text))
    except ValueError:
        hint = " (usernames are not accepted: look the id up with 'globus get-identity NAME')"
        raise UsageError(
            f"{value!r} is not a {what} id; give a UUID or '{prefixes[-1]}<uuid>'"
            + (hint if what == "identity" else "")
        ) from None


def group_id(value: str) -> str:
    """A group id from ``<uuid>``, ``group:<uuid>`` or a group URN."""
    return _uuid_of(value, _GROUP_PREFIXES, "group")


def identity_ids(values: Sequence[str]) -> list[str]:
    """Identity ids from ``<uuid>``, ``identity:<uuid>`` or identity URNs; all checked first."""
    return [_uuid_of(v, _IDENTITY_PREFIXES, "identity") for v in values]


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
    client: globus_sdk.GroupsClient, group: str, identities: Sequence[str], *, add: bool
) -> dict[str, Any]:
    """Add or remove members in one batch; returns what the service did and refused."""
    from globus_sdk import BatchMembershipActions

    gid, ids = group_id(group), identity_ids(identities)
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
    return {"group": gid, "done": done, "errors": errors}


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
