"""Usernames to identity ids: people type ``alice@uni.edu``, the services store ids.

Groups and the Flows role lists hold identity ids (``urn:globus:auth:identity:<id>``
on a flow). A PI knows their colleagues by username, so ``flowgen group add``
and the deploy role lists accept ``alice@uni.edu`` (or ``identity:alice@uni.edu``)
and look every username up with Globus Auth in one batched call, before any
change is sent. Nothing is provisioned: a typo must never become a new,
empty identity that is then given access.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowgen.core.errors import FlowgenError

if TYPE_CHECKING:
    import globus_sdk

IDENTITY_URN = "urn:globus:auth:identity:"
_IDENTITY_PREFIX = "identity:"
# A Globus username is always "<name>@<domain>" (alice@uni.edu, alice@globusid.org).
_USERNAME = re.compile(r"^[^@\s:/]+@[^@\s:/]+\.[^@\s:/]+$")

FIND_USERNAMES_HINT = (
    "A username is the full name with its domain, as its owner sees it at "
    "app.globus.org > Settings > Identities (for example alice@uni.edu, or "
    "alice@globusid.org for a Globus ID). Someone who has never logged in to Globus "
    "may have no identity yet: ask them to log in once at app.globus.org, or give "
    "their identity id ('globus get-identities alice@uni.edu' prints it)."
)
"""What to do about a username Globus Auth does not know (shown after the problems)."""


def username_of(value: str) -> str | None:
    """The username in ``alice@uni.edu`` or ``identity:alice@uni.edu``, lower-cased; else None.

    Globus usernames are case-insensitive and Auth returns them lower-case,
    so the lower-case form is the one to request and to match.
    """
    text = value.strip()
    if text.lower().startswith(_IDENTITY_PREFIX):
        text = text[len(_IDENTITY_PREFIX) :].strip()
    return text.lower() if _USERNAME.match(text) else None


@dataclass(frozen=True)
class Identity:
    """One Globus Auth identity a username resolved to."""

    id: str
    username: str
    status: str
    """``used``, ``unused`` (never logged in), ``private`` or ``closed``."""
    name: str = ""

    @property
    def urn(self) -> str:
        """The identity as role lists spell it."""
        return IDENTITY_URN + self.id

    @property
    def note(self) -> str | None:
        """Something the user should know about this identity, or None."""
        if self.status == "unused":
            # Auth's own definition: an unused identity may be given permissions;
            # it keeps its id when its owner first logs in with it.
            return (
                f"{self.username} ({self.id}) has never logged in to Globus; it is used by its "
                "identity id, which stays the same when they first log in"
            )
        return None


class UnknownUsernameError(FlowgenError):
    """A username Globus Auth has no single usable identity for; nothing was sent."""


LOOKUP_BATCH = 100
"""Usernames per Auth identity look-up."""


def lookup_usernames(
    client: globus_sdk.AuthClient, usernames: Sequence[str]
) -> dict[str, Identity]:
    """Look every username up (``get_identities``, 100 a call); keys are lower-case usernames.

    Raises :class:`UnknownUsernameError` naming each username Auth does not
    know, knows only as closed, or knows as several identities.
    """
    wanted = list(dict.fromkeys(name.strip().lower() for name in usernames))
    if not wanted:
        return {}
    documents: list[dict[str, object]] = []
    # Auth answers at most 100 usernames per request (the SDK's IdentityMap batches so too).
    for start in range(0, len(wanted), LOOKUP_BATCH):
        response = client.get_identities(
            usernames=wanted[start : start + LOOKUP_BATCH], provision=False
        )
        documents += list(response.get("identities", []))
    found: dict[str, list[Identity]] = {}
    for doc in documents:
        identity = Identity(
            id=str(doc.get("id", "")).lower(),
            username=str(doc.get("username", "")).lower(),
            status=str(doc.get("status", "")),
            name=str(doc.get("name") or ""),
        )
        found.setdefault(identity.username, []).append(identity)
    resolved: dict[str, Identity] = {}
    problems: list[str] = []
    for name in wanted:
        matches = found.get(name, [])
        # A closed identity was revoked by its provider, which may since have
        # given the username to a new identity: only the others are candidates.
        usable = [m for m in matches if m.status != "closed"]
        if len(usable) == 1:
            resolved[name] = usable[0]
        elif len(usable) > 1:
            ids = ", ".join(m.id for m in usable)
            problems.append(
                f"the username {name!r} matches several Globus identities ({ids}); "
                "give the one you mean as identity:<uuid>"
            )
        elif matches:
            problems.append(
                f"the Globus identity {name!r} is closed (its identity provider revoked it); "
                "ask its owner which username they log in with now"
            )
        else:
            problems.append(f"no Globus identity has the username {name!r}")
    if problems:
        raise UnknownUsernameError(
            "\n".join(problems) + f"\n{FIND_USERNAMES_HINT} Nothing was changed."
        )
    return resolved
