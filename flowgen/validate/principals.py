"""Principal strings for flow roles and web-input respondents.

The Flows service accepts identity and group URNs in every role list, plus
``public`` for viewers and ``all_authenticated_users`` for starters, and
at most 16 principals per list. The deploy command reuses
:func:`check_principal` and :func:`check_principals` on role options.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from flowgen.core.jsonpath import Token
from flowgen.validate.rules import Reporter
from flowgen.validate.shape import snippet, type_name

ROLES: tuple[str, ...] = (
    "flow_viewers",
    "flow_starters",
    "flow_administrators",
    "run_managers",
    "run_monitors",
)
"""The role lists of a flow, as create_flow/update_flow name them."""

RESPONDENTS = "RespondentUrns"
"""The principals who may answer a web input (a CreateWebInput parameter)."""

MAX_PRINCIPALS = 16

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_URN = re.compile(rf"^urn:globus:(?:auth:identity|groups:id):{_UUID}$")
# One Globus web-input example writes group respondents as
# urn:globus:group:id:...; accept that spelling for respondents only.
_RESPONDENT_URN = re.compile(rf"^urn:globus:(?:auth:identity|groups?:id):{_UUID}$")
_BARE_UUID = re.compile(rf"^{_UUID}$")
_SPECIAL = {"public": "flow_viewers", "all_authenticated_users": "flow_starters"}


class PrincipalProblem(NamedTuple):
    """What is wrong with a role list: the entry's index (None for the list) and why."""

    entry: int | None
    reason: str


def check_principal(value: str, role: str) -> str | None:
    """Why ``value`` is not a valid principal for ``role``, or None when it is.

    ``role`` is one of :data:`ROLES` or :data:`RESPONDENTS`.

    >>> check_principal("public", "flow_viewers") is None
    True
    >>> check_principal("public", "flow_starters")
    "'public' is allowed only in flow_viewers"
    """
    if role not in ROLES and role != RESPONDENTS:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if value in _SPECIAL:
        allowed_in = _SPECIAL[value]
        return None if role == allowed_in else f"{value!r} is allowed only in {allowed_in}"
    pattern = _RESPONDENT_URN if role == RESPONDENTS else _URN
    if pattern.match(value):
        return None
    if _BARE_UUID.match(value):
        return (
            f"{value!r} is a bare UUID; write 'urn:globus:auth:identity:{value}' for a user "
            f"or 'urn:globus:groups:id:{value}' for a group"
        )
    if "@" in value and not value.startswith("urn:"):
        return (
            f"{value!r} looks like a username; use the identity URN "
            "'urn:globus:auth:identity:<identity id>' instead"
        )
    return (
        f"{value!r} is not a principal URN; expected 'urn:globus:auth:identity:<uuid>' or "
        "'urn:globus:groups:id:<uuid>'"
    )


def check_principals(values: object, role: str) -> list[PrincipalProblem]:
    """Every problem with a role list: its type, its length, duplicates and each entry."""
    if not isinstance(values, list):
        return [
            PrincipalProblem(None, f"{role} must be a list of principals, got {type_name(values)}")
        ]
    problems: list[PrincipalProblem] = []
    if len(values) > MAX_PRINCIPALS:
        problems.append(
            PrincipalProblem(
                None,
                f"{role} has {len(values)} principals; the service allows at most "
                f"{MAX_PRINCIPALS} (use a Globus group to grant more people)",
            )
        )
    seen: set[str] = set()
    for index, value in enumerate(values):
        if not isinstance(value, str):
            problems.append(
                PrincipalProblem(index, f"a principal must be a string, got {snippet(value)}")
            )
            continue
        if value in seen:
            problems.append(PrincipalProblem(index, f"{value!r} is listed twice in {role}"))
        seen.add(value)
        reason = check_principal(value, role)
        if reason:
            problems.append(PrincipalProblem(index, reason))
    return problems


def report_principals(values: object, steps: Sequence[Token], report: Reporter, role: str) -> None:
    """Report a principal list found in a document as FG602 findings."""
    for entry, reason in check_principals(values, role):
        report.add("FG602", steps if entry is None else (*steps, entry), reason)


def check_role_keys(definition: object, report: Reporter) -> None:
    """Check role lists pasted at the top of a definition (stage 1 flags the keys too)."""
    if isinstance(definition, dict):
        for role in ROLES:
            if role in definition:
                report_principals(definition[role], (role,), report, role)
