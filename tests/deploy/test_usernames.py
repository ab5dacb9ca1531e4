"""Usernames in group members and role lists: one Auth lookup, before anything changes."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import responses
import typer
from globus_sdk.testing import RegisteredResponse, load_response
from responses import matchers
from typer.testing import CliRunner

from flowgen.core.exitcodes import ExitCode

from .helpers import ADMIN_URN, FLOW_ID, GROUP, GROUP_URN, body_of, flow_doc, register, sent

pytestmark = pytest.mark.usefixtures("logged_in")

Built = tuple[dict[str, Any], dict[str, Any]]
ALICE = "c1a2b3c4-0000-4000-8000-00000000a11c"
BOB = "c1a2b3c4-0000-4000-8000-000000000b0b"
ALICE_URN = f"urn:globus:auth:identity:{ALICE}"
BOB_URN = f"urn:globus:auth:identity:{BOB}"
AUTH = "https://auth.globus.org/v2/api/identities"
GROUPS = "https://groups.api.globus.org/v2/groups"
FLOWS_HOST = "flows.automate.globus.org"


def identity(username: str, identity_id: str, status: str = "used") -> dict[str, Any]:
    """An identity document as Globus Auth returns it."""
    return {
        "id": identity_id,
        "username": username,
        "status": status,
        "name": username.split("@", maxsplit=1)[0].title(),
        "email": username,
        "identity_provider": "927d7238-f917-4eb2-9ace-c523fa9ba34e",
        "organization": "Uni",
    }


def register_lookup(usernames: str, *identities: dict[str, Any], status: int = 200) -> None:
    """Answer exactly one get_identities request: these usernames, not provisioned."""
    RegisteredResponse(
        service="auth",
        path="/v2/api/identities",
        json={"identities": list(identities)},
        status=status,
        match=[matchers.query_param_matcher({"usernames": usernames, "provision": "false"})],
    ).add()


def lookups() -> list[dict[str, list[str]]]:
    """The query of every get_identities request sent."""
    return [parse_qs(urlparse(r.url).query) for r in sent("GET") if r.url.startswith(AUTH)]


def flows_requests() -> list[Any]:
    return [r for r in sent() if urlparse(r.url).hostname == FLOWS_HOST]


def where(request: Any) -> tuple[str, str | None]:
    return request.method, urlparse(request.url).hostname


def deploy(app: typer.Typer, runner: CliRunner, config: Path, *args: str) -> Any:
    # The Transfer access check is tested in test_access.py.
    return runner.invoke(app, ["deploy", str(config), *args, "--no-check-access"])


def lock_of(config: Path) -> dict[str, Any]:
    return dict(json.loads((config.parent / "mycluster.lock.json").read_text()))


# -- flowgen deploy ----------------------------------------------------------


def test_deploy_looks_usernames_up_in_one_request_before_any_flows_request(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    register_lookup(
        "alice@uni.edu,bob@uni.edu",
        identity("alice@uni.edu", ALICE),
        identity("bob@uni.edu", BOB),
    )
    register("GET", "/flows", {"flows": [], "has_next_page": False})
    register("POST", "/flows", flow_doc(built), status=201)

    result = deploy(
        flowgen_app,
        runner,
        config,
        "--starter",
        "Alice@Uni.edu",
        "--administrator",
        "identity:bob@uni.edu",
    )

    assert result.exit_code == 0, result.output
    assert [where(r) for r in sent()] == [
        ("GET", "auth.globus.org"),
        ("GET", FLOWS_HOST),
        ("POST", FLOWS_HOST),
    ]
    assert lookups() == [{"usernames": ["alice@uni.edu,bob@uni.edu"], "provision": ["false"]}]
    create = body_of(sent("POST")[0])
    assert create["flow_starters"] == [ALICE_URN]
    assert create["flow_administrators"] == [BOB_URN]
    lock = lock_of(config)
    assert lock["roles"]["flow_starters"] == [ALICE_URN]
    assert lock["usernames"] == {"alice@uni.edu": ALICE_URN, "bob@uni.edu": BOB_URN}


def test_a_second_deploy_with_usernames_sends_no_change(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    config.write_text(
        config.read_text()
        .replace(
            f'starters = ["group:{GROUP}"]', 'starters = ["alice@uni.edu", "group:' + GROUP + '"]'
        )
        .replace(
            'administrators = ["identity:', 'administrators = ["identity:bob@uni.edu", "identity:'
        )
    )
    answers = (identity("alice@uni.edu", ALICE), identity("bob@uni.edu", BOB))
    register_lookup("alice@uni.edu,bob@uni.edu", *answers)
    register("GET", "/flows", {"flows": [], "has_next_page": False})
    deployed = flow_doc(
        built, flow_starters=[ALICE_URN, GROUP_URN], flow_administrators=[BOB_URN, ADMIN_URN]
    )
    register("POST", "/flows", deployed, status=201)
    first = deploy(flowgen_app, runner, config)
    assert first.exit_code == 0, first.output
    assert body_of(sent("POST")[0])["flow_starters"] == [ALICE_URN, GROUP_URN]
    lock_text = (config.parent / "mycluster.lock.json").read_text()

    responses.reset()
    register_lookup("alice@uni.edu,bob@uni.edu", *answers)
    # The service lists role URNs in its own order.
    register(
        "GET",
        f"/flows/{FLOW_ID}",
        {**deployed, "flow_starters": [GROUP_URN, ALICE_URN]},
    )
    second = deploy(flowgen_app, runner, config)

    assert second.exit_code == 0, second.output
    assert "nothing to change" in second.stdout
    assert [r.method for r in sent()] == ["GET", "GET"]  # the lookup and get_flow
    assert (config.parent / "mycluster.lock.json").read_text() == lock_text


def test_the_plan_names_the_username_of_an_added_urn(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    (config.parent / "mycluster.lock.json").write_text(
        json.dumps(
            {
                "version": 1,
                "flow_id": FLOW_ID,
                "environment": "production",
                "title": "FlowCron-mycluster",
                "definition_sha256": "old",
                "input_schema_sha256": "old",
            }
        )
    )
    register_lookup("alice@uni.edu", identity("alice@uni.edu", ALICE))
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built))

    result = deploy(flowgen_app, runner, config, "--dry-run", "--starter", "alice@uni.edu")

    assert result.exit_code == ExitCode.DIFFERENT, result.output
    assert f"+ flow_starters: {ALICE_URN} (alice@uni.edu)" in result.stdout
    assert f"- flow_starters: {GROUP_URN}" in result.stdout
    assert not sent("PUT")


def test_an_unknown_username_is_named_and_nothing_reaches_flows(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    register_lookup(
        # Every role list's usernames, in the order of the lists, in one request.
        "alice@uni.edu,nobody@uni.edu,gone@uni.edu,twin@uni.edu",
        identity("alice@uni.edu", ALICE),
        identity("twin@uni.edu", "c1a2b3c4-0000-4000-8000-000000000001"),
        identity("twin@uni.edu", "c1a2b3c4-0000-4000-8000-000000000002"),
        identity("gone@uni.edu", "c1a2b3c4-0000-4000-8000-000000000003", status="closed"),
    )
    args = ["--starter=alice@uni.edu", "--starter=nobody@uni.edu", "--viewer=twin@uni.edu"]
    result = deploy(flowgen_app, runner, config, *args, "--administrator", "gone@uni.edu")

    assert result.exit_code == ExitCode.USAGE, result.output
    assert "no Globus identity has the username 'nobody@uni.edu'" in result.stderr
    assert (
        "the username 'twin@uni.edu' matches several Globus identities "
        "(c1a2b3c4-0000-4000-8000-000000000001, c1a2b3c4-0000-4000-8000-000000000002); "
        "give the one you mean as identity:<uuid>"
    ) in result.stderr
    assert "the Globus identity 'gone@uni.edu' is closed" in result.stderr
    assert "app.globus.org > Settings > Identities" in result.stderr
    assert "Nothing was changed." in result.stderr
    assert "'alice@uni.edu'" not in result.stderr  # found, so not a problem
    assert len(sent()) == 1 and flows_requests() == []
    assert not (config.parent / "mycluster.lock.json").exists()


def test_a_closed_identity_gives_way_to_the_new_one_with_its_username(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    register_lookup(
        "alice@uni.edu",
        identity("alice@uni.edu", "c1a2b3c4-0000-4000-8000-000000000003", status="closed"),
        identity("alice@uni.edu", ALICE),
    )
    result = deploy(flowgen_app, runner, config, "--starter", "alice@uni.edu", "--print-cli")
    assert result.exit_code == 0, result.output
    args = shlex.split(result.stdout)
    assert args[args.index("--starter") + 1] == ALICE_URN
    assert flows_requests() == []


def test_an_identity_that_never_logged_in_is_used_with_a_note(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    register_lookup("new@uni.edu", identity("new@uni.edu", ALICE, status="unused"))
    result = deploy(flowgen_app, runner, config, "--starter", "new@uni.edu", "--print-cli")
    assert result.exit_code == 0, result.output
    assert f"new@uni.edu ({ALICE}) has never logged in to Globus" in result.stderr
    assert ALICE_URN in shlex.split(result.stdout)


def test_a_username_and_its_own_urn_are_listed_twice(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    register_lookup("alice@uni.edu", identity("alice@uni.edu", ALICE))
    result = deploy(
        flowgen_app, runner, config, "--starter", "alice@uni.edu", "--starter", f"identity:{ALICE}"
    )
    assert result.exit_code == ExitCode.USAGE
    assert f"--starter[1] ('identity:{ALICE}'): '{ALICE_URN}' is listed twice" in result.stderr
    assert len(lookups()) == 1 and flows_requests() == []


def test_other_bad_entries_are_refused_before_the_lookup(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    result = deploy(flowgen_app, runner, config, "--starter", "alice@uni.edu", "--starter", "grp:x")
    assert result.exit_code == ExitCode.USAGE
    assert "--starter[1] ('grp:x')" in result.stderr
    assert "a username such as 'alice@uni.edu'" in result.stderr
    assert sent() == []


def test_a_refused_lookup_is_a_login_problem_and_nothing_reaches_flows(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    load_response("auth.get_identities", case="unauthorized")
    result = deploy(flowgen_app, runner, config, "--starter", "alice@uni.edu")
    assert result.exit_code == ExitCode.AUTH
    assert "flowgen login" in result.stderr
    assert len(sent()) == 1 and flows_requests() == []


def test_config_usernames_are_looked_up_with_the_command_lines_in_one_request(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    config.write_text(
        config.read_text().replace(
            f'starters = ["group:{GROUP}"]', 'starters = ["identity:Bob@uni.edu"]'
        )
    )
    register_lookup(
        "bob@uni.edu,alice@uni.edu", identity("bob@uni.edu", BOB), identity("alice@uni.edu", ALICE)
    )
    result = deploy(flowgen_app, runner, config, "--viewer", "alice@uni.edu", "--print-cli")
    assert result.exit_code == 0, result.output
    args = shlex.split(result.stdout)
    assert args[args.index("--starter") + 1] == BOB_URN
    assert args[args.index("--viewer") + 1] == ALICE_URN
    assert len(lookups()) == 1


# -- flowgen group add / remove ---------------------------------------------


def test_group_add_by_username_looks_up_first_then_sends_ids(
    flowgen_app: typer.Typer, runner: CliRunner
) -> None:
    register_lookup(
        "alice@uni.edu,bob@uni.edu", identity("alice@uni.edu", ALICE), identity("bob@uni.edu", BOB)
    )
    responses.add(
        responses.POST,
        f"{GROUPS}/{GROUP}",
        json={
            "add": [{"identity_id": ALICE}],
            "errors": {
                "add": [
                    {"identity_id": BOB, "code": "ALREADY_ACTIVE", "detail": "already a member"}
                ]
            },
        },
    )
    result = runner.invoke(
        flowgen_app, ["group", "add", GROUP, "alice@uni.edu", "identity:bob@uni.edu", BOB]
    )
    assert result.exit_code == 0, result.output
    assert [r.method for r in sent()] == ["GET", "POST"]
    assert lookups() == [{"usernames": ["alice@uni.edu,bob@uni.edu"], "provision": ["false"]}]
    assert body_of(sent("POST")[0]) == {
        "add": [{"identity_id": ALICE, "role": "member"}, {"identity_id": BOB, "role": "member"}]
    }
    assert f"added {ALICE} (alice@uni.edu)" in result.stdout
    assert f"not added {BOB} (bob@uni.edu): already a member" in result.stdout


def test_group_remove_by_username(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    register_lookup("alice@uni.edu", identity("alice@uni.edu", ALICE))
    responses.add(responses.POST, f"{GROUPS}/{GROUP}", json={"remove": [{"identity_id": ALICE}]})
    result = runner.invoke(
        flowgen_app, ["group", "remove", f"group:{GROUP}", "alice@uni.edu", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert body_of(sent("POST")[0]) == {"remove": [{"identity_id": ALICE}]}
    assert json.loads(result.stdout)["usernames"] == {"alice@uni.edu": ALICE}


def test_group_add_of_an_unknown_username_changes_nothing(
    flowgen_app: typer.Typer, runner: CliRunner
) -> None:
    register_lookup("alice@uni.edu,nobody@uni.edu", identity("alice@uni.edu", ALICE))
    result = runner.invoke(flowgen_app, ["group", "add", GROUP, "alice@uni.edu", "nobody@uni.edu"])
    assert result.exit_code == ExitCode.USAGE
    assert "no Globus identity has the username 'nobody@uni.edu'" in result.stderr
    assert "globus get-identities" in result.stderr
    assert [r.method for r in sent()] == ["GET"]  # the lookup only: the group is untouched


# -- the documented examples ---------------------------------------------------


def _examples(*commands: Any) -> list[list[str]]:
    found = []
    for command in commands:
        for line in (command.__doc__ or "").splitlines():
            if line.strip().startswith("Example: flowgen "):
                found.append(shlex.split(line.strip().removeprefix("Example: flowgen ")))
    return found


def test_the_group_help_examples_run(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    from flowgen.cli import group

    examples = [e for e in _examples(group.add, group.remove) if "@" in " ".join(e)]
    assert len(examples) == 2
    for example in examples:
        responses.reset()
        names = [a for a in example if "@" in a]
        register_lookup(
            ",".join(names), *(identity(n, ALICE if n.startswith("a") else BOB) for n in names)
        )
        responses.add(responses.POST, f"{GROUPS}/{GROUP}", json={})
        result = runner.invoke(flowgen_app, example)
        assert result.exit_code == 0, (example, result.output)
        assert [r.method for r in sent()] == ["GET", "POST"], example


def test_diff_deployed_resolves_usernames_in_the_config_too(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    config.write_text(
        config.read_text().replace(f'starters = ["group:{GROUP}"]', 'starters = ["alice@uni.edu"]')
    )
    (config.parent / "mycluster.lock.json").write_text(
        json.dumps(
            {
                "version": 1,
                "flow_id": FLOW_ID,
                "environment": "production",
                "title": "FlowCron-mycluster",
                "definition_sha256": "x",
                "input_schema_sha256": "x",
            }
        )
    )
    register_lookup("alice@uni.edu", identity("alice@uni.edu", ALICE))
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built, flow_starters=[ALICE_URN]))
    result = runner.invoke(flowgen_app, ["diff", "--deployed", str(config)])
    assert result.exit_code == 0, result.output
    assert len(lookups()) == 1 and [r.method for r in sent()] == ["GET", "GET"]


def test_more_than_a_hundred_usernames_are_looked_up_in_batches() -> None:
    # Auth answers at most 100 usernames a request, as the SDK's IdentityMap assumes.
    import uuid

    import globus_sdk
    import responses

    from flowgen.deploy.identities import lookup_usernames

    names = [f"user{i}@uni.edu" for i in range(150)]
    with responses.RequestsMock() as mocked:
        for batch in (names[:100], names[100:]):
            identities = [{"id": str(uuid.uuid4()), "username": n, "status": "used"} for n in batch]
            mocked.add(
                responses.GET,
                "https://auth.globus.org/v2/api/identities",
                json={"identities": identities},
            )
        found = lookup_usernames(globus_sdk.AuthClient(), names)
        sizes = [len(call.request.params["usernames"].split(",")) for call in mocked.calls]
    assert sizes == [100, 50]
    assert sorted(found) == sorted(names)
