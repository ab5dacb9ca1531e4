"""flowgen group: create, add, remove, list, with the exact requests checked."""

from __future__ import annotations

import json

import pytest
import responses
import typer
from typer.testing import CliRunner

from flowgen.core.exitcodes import ExitCode

from .helpers import ADMIN, GROUP, body_of, sent

pytestmark = pytest.mark.usefixtures("logged_in")
GROUPS = "https://groups.api.globus.org/v2/groups"
OTHER = "11111111-2222-4333-8444-555555555555"


def test_create_prints_the_starter_entry(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    responses.add(responses.POST, GROUPS, json={"id": GROUP, "name": "Cryo-EM lab"})
    result = runner.invoke(
        flowgen_app, ["group", "create", "Cryo-EM lab", "--description", "PI lab"]
    )
    assert result.exit_code == 0, result.output
    assert body_of(sent()[0]) == {"name": "Cryo-EM lab", "description": "PI lab", "parent_id": None}
    assert f'starters = ["group:{GROUP}"]' in result.stdout


def test_add_and_remove_send_one_batch(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    responses.add(
        responses.POST,
        f"{GROUPS}/{GROUP}",
        json={
            "add": [{"identity_id": ADMIN}],
            "errors": {
                "add": [
                    {"identity_id": OTHER, "code": "ALREADY_ACTIVE", "detail": "already a member"}
                ]
            },
        },
    )
    result = runner.invoke(
        flowgen_app, ["group", "add", f"group:{GROUP}", f"identity:{ADMIN}", OTHER]
    )
    assert result.exit_code == 0, result.output
    assert body_of(sent()[0]) == {
        "add": [{"identity_id": ADMIN, "role": "member"}, {"identity_id": OTHER, "role": "member"}]
    }
    assert f"added {ADMIN}" in result.stdout
    assert f"not added {OTHER}: already a member" in result.stdout

    responses.calls.reset()
    responses.replace(
        responses.POST, f"{GROUPS}/{GROUP}", json={"remove": [{"identity_id": ADMIN}]}
    )
    result = runner.invoke(
        flowgen_app, ["group", "remove", GROUP, f"urn:globus:auth:identity:{ADMIN}"]
    )
    assert result.exit_code == 0, result.output
    assert body_of(sent()[0]) == {"remove": [{"identity_id": ADMIN}]}


@pytest.mark.parametrize("member", ["pi", "pi@", "identity:not-a-uuid", "group:" + ADMIN])
def test_neither_an_id_nor_a_username_is_refused_before_any_request(
    flowgen_app: typer.Typer, runner: CliRunner, member: str
) -> None:
    result = runner.invoke(flowgen_app, ["group", "add", GROUP, "alice@uni.edu", member])
    assert result.exit_code == ExitCode.USAGE
    assert f"{member!r}: neither an identity id nor a username" in result.stderr
    assert "alice@uni.edu" in result.stderr  # the forms accepted, by example
    assert sent() == []


def test_a_bad_group_id_is_refused_before_any_request(
    flowgen_app: typer.Typer, runner: CliRunner
) -> None:
    result = runner.invoke(flowgen_app, ["group", "add", "Cryo-EM lab", ADMIN])
    assert result.exit_code == ExitCode.USAGE
    assert "'Cryo-EM lab' is not a group id" in result.stderr
    assert "flowgen group list" in result.stderr
    assert sent() == []


def test_list_shows_names_and_roles(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    responses.add(
        responses.GET,
        f"{GROUPS}/my_groups",
        json=[
            {"id": OTHER, "name": "b group", "my_memberships": [{"role": "member"}]},
            {"id": GROUP, "name": "A group", "my_memberships": [{"role": "admin"}]},
        ],
    )
    result = runner.invoke(flowgen_app, ["group", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"id": GROUP, "name": "A group", "roles": ["admin"]},
        {"id": OTHER, "name": "b group", "roles": ["member"]},
    ]
