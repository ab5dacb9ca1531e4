"""Principal strings for roles and web-input respondents."""

from __future__ import annotations

import pytest

from flowgen.validate import MAX_PRINCIPALS, ROLES, check_principal, check_principals

from .helpers import check, flow, located, message, pass_state

UUID = "6f1e4d7c-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
IDENTITY = f"urn:globus:auth:identity:{UUID}"
GROUP = f"urn:globus:groups:id:{UUID}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "value",
    [
        IDENTITY,
        GROUP,
        IDENTITY.upper().replace("URN:GLOBUS:AUTH:IDENTITY", "urn:globus:auth:identity"),
    ],
)
def test_urns_are_valid_in_every_role(role: str, value: str) -> None:
    assert check_principal(value, role) is None


def test_public_only_for_viewers_and_all_users_only_for_starters() -> None:
    assert check_principal("public", "flow_viewers") is None
    assert check_principal("all_authenticated_users", "flow_starters") is None
    assert check_principal("public", "flow_starters") == "'public' is allowed only in flow_viewers"
    reason = check_principal("all_authenticated_users", "run_managers")
    assert reason == "'all_authenticated_users' is allowed only in flow_starters"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (UUID, f"urn:globus:auth:identity:{UUID}"),
        ("alice@uni.example.org", "identity URN"),
        (f"urn:globus:group:id:{UUID}", "not a principal URN"),
        (f"urn:globus:auth:identity:{UUID[:-1]}", "not a principal URN"),
        ("", "not a principal URN"),
    ],
)
def test_invalid_principals_say_what_to_write(value: str, fragment: str) -> None:
    reason = check_principal(value, "flow_administrators")
    assert reason is not None and fragment in reason


def test_unknown_role_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        check_principal(IDENTITY, "flow_owner_typo")


def test_lists() -> None:
    assert check_principals([IDENTITY, GROUP], "run_monitors") == []
    assert check_principals(IDENTITY, "run_monitors")[0].entry is None
    too_many = [f"urn:globus:auth:identity:{UUID[:-2]}{i:02d}" for i in range(MAX_PRINCIPALS + 1)]
    problems = check_principals(too_many, "flow_starters")
    assert [p.entry for p in problems] == [None]
    assert "at most 16" in problems[0].reason
    problems = check_principals([IDENTITY, IDENTITY, 5, "public"], "flow_administrators")
    assert [p.entry for p in problems] == [1, 2, 3]


def test_respondent_urns_in_parameters() -> None:
    def web_input(respondents: object) -> dict[str, object]:
        state = {
            "Type": "CreateWebInput",
            "Parameters": {"InputType": "Selection", "Options": [], "RespondentUrns": respondents},
            "ResultPath": "$.Q",
            "End": True,
        }
        return flow(("Ask", state))

    findings = check(web_input([IDENTITY, UUID]))
    assert located(findings) == {("FG602", "$.States.Ask.Parameters.RespondentUrns[1]")}
    assert "bare UUID" in message(findings, "FG602")
    # The Globus web-input example spells groups urn:globus:group:id:.
    assert check(web_input([IDENTITY, GROUP, f"urn:globus:group:id:{UUID}"])) == []


def test_role_lists_pasted_into_a_definition() -> None:
    definition = flow(("A", pass_state())) | {"flow_starters": ["public"]}
    found = located(check(definition))
    assert {("FG103", "$.flow_starters"), ("FG602", "$.flow_starters[0]")} <= found
