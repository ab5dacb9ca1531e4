"""flowgen deploy against registered Flows API responses: create, no-op, update, adopt, errors."""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import typer
from typer.testing import CliRunner

from flowgen.core import jsonio
from flowgen.core.exitcodes import ExitCode

from .helpers import (
    ADMIN_URN,
    FLOW_ID,
    GROUP,
    GROUP_URN,
    body_of,
    flow_doc,
    flows_error,
    register,
    sent,
)

pytestmark = pytest.mark.usefixtures("logged_in")

Built = tuple[dict[str, Any], dict[str, Any]]


def lock_of(config: Path) -> dict[str, Any]:
    return dict(json.loads((config.parent / "mycluster.lock.json").read_text()))


def write_lock(config: Path, flow_id: str = FLOW_ID, environment: str = "production") -> Path:
    path = config.parent / "mycluster.lock.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "flow_id": flow_id,
                "environment": environment,
                "title": "FlowCron-mycluster",
                "definition_sha256": "old",
                "input_schema_sha256": "old",
                "roles": {},
                "deployed_at": "2020-01-01T00:00:00Z",
            }
        )
    )
    return path


def deploy(app: typer.Typer, runner: CliRunner, config: Path, *args: str) -> Any:
    # The Transfer access check has its own tests (test_access.py); here only
    # the Flows requests are registered and asserted.
    if "--check-access" not in args:
        args = (*args, "--no-check-access")
    return runner.invoke(app, ["deploy", str(config), *args])


def test_first_deploy_creates_the_flow_and_writes_the_lock(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    register("GET", "/flows", {"flows": [], "has_next_page": False})
    register("POST", "/flows", flow_doc(built), status=201)

    result = deploy(flowgen_app, runner, config)

    assert result.exit_code == 0, result.output
    (create,) = sent("POST")
    assert body_of(create) == {
        "title": "FlowCron-mycluster",
        "definition": built[0],
        "input_schema": built[1],
        "subtitle": "Run analyses on My Cluster",
        "flow_starters": [GROUP_URN],
        "flow_administrators": [ADMIN_URN],
    }
    assert "filter_roles=flow_administrator" in sent("GET")[0].url
    assert f"https://app.globus.org/flows/{FLOW_ID}" in result.stdout
    lock = lock_of(config)
    assert lock["flow_id"] == FLOW_ID and lock["environment"] == "production"
    assert lock["roles"]["flow_starters"] == [GROUP_URN]
    built_file = config.parent / "build" / "mycluster" / "FlowCron-mycluster_definition.json"
    expected = hashlib.sha256(jsonio.dumps(built[0]).encode()).hexdigest()
    assert lock["definition_sha256"] == expected
    assert not built_file.exists()  # deploy sends the build; it writes only the lock


def test_second_deploy_changes_nothing(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    register("GET", "/flows", {"flows": [], "has_next_page": False})
    register("POST", "/flows", flow_doc(built), status=201)
    assert deploy(flowgen_app, runner, config).exit_code == 0
    lock_text = (config.parent / "mycluster.lock.json").read_text()
    responses.calls.reset()
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built))

    result = deploy(flowgen_app, runner, config)

    assert result.exit_code == 0, result.output
    assert [r.method for r in sent()] == ["GET"]
    assert "nothing to change" in result.stdout
    assert (config.parent / "mycluster.lock.json").read_text() == lock_text


def test_update_sends_only_what_differs(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    write_lock(config)
    old_definition = json.loads(json.dumps(built[0]))
    old_definition["Comment"] = "edited in the web app"
    deployed = flow_doc(built, definition=old_definition, flow_starters=[], description="x")
    register("GET", f"/flows/{FLOW_ID}", deployed)
    register("PUT", f"/flows/{FLOW_ID}", flow_doc(built))

    result = deploy(flowgen_app, runner, config)

    assert result.exit_code == 0, result.output
    (update,) = sent("PUT")
    assert body_of(update) == {
        "definition": built[0],
        "description": "",
        "flow_starters": [GROUP_URN],
    }
    assert "+ flow_starters: " + GROUP_URN in result.stdout
    assert lock_of(config)["deployed_at"] != "2020-01-01T00:00:00Z"


def test_role_order_and_case_on_the_service_are_not_drift(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    write_lock(config)
    register(
        "GET",
        f"/flows/{FLOW_ID}",
        flow_doc(built, keywords=None, subtitle="Run analyses on My Cluster"),
    )
    result = deploy(flowgen_app, runner, config, "--dry-run")
    assert result.exit_code == 0, result.output


def test_adopts_a_flow_with_the_same_title_with_yes(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    listing = {"flows": [{"id": FLOW_ID, "title": "FlowCron-mycluster"}], "has_next_page": False}
    register("GET", "/flows", listing)
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built))

    refused = deploy(flowgen_app, runner, config)
    assert refused.exit_code == ExitCode.USAGE
    assert "--yes" in refused.stderr
    assert not (config.parent / "mycluster.lock.json").exists()

    result = deploy(flowgen_app, runner, config, "--yes")
    assert result.exit_code == 0, result.output
    assert not sent("PUT") and not sent("POST")
    assert lock_of(config)["flow_id"] == FLOW_ID


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--starter", GROUP], "bare UUID"),
        (["--starter", "public"], "allowed only in flow_viewers"),
        (["--viewer", "all_authenticated_users"], "allowed only in flow_starters"),
        (["--administrator", "someone@"], "not a whole Globus username"),
        (["--starter", "group:someone@uni.edu"], "a group is named by its id"),
        ([f"--starter=group:{GROUP}"] * 2, "listed twice"),
    ],
)
def test_bad_roles_are_refused_before_any_request(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, args: list[str], expected: str
) -> None:
    result = deploy(flowgen_app, runner, config, *args)
    assert result.exit_code == ExitCode.USAGE
    assert expected in result.stderr
    assert "nothing was sent" in result.stderr
    assert sent() == []


def test_more_than_sixteen_starters_are_refused(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    args = [f"--starter=identity:{i:08d}-0000-4000-8000-000000000000" for i in range(17)]
    result = deploy(flowgen_app, runner, config, *args)
    assert result.exit_code == ExitCode.USAGE
    assert "at most 16" in result.stderr
    assert sent() == []


def test_dry_run_exits_0_when_up_to_date_and_1_when_not(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    lock = write_lock(config)
    before = lock.read_text()
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built))
    assert deploy(flowgen_app, runner, config, "--dry-run").exit_code == 0

    responses.reset()
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built, title="Renamed in the web app"))
    result = deploy(flowgen_app, runner, config, "--dry-run")
    assert result.exit_code == ExitCode.DIFFERENT
    assert '~ title: "Renamed in the web app" -> "FlowCron-mycluster"' in result.stdout
    assert not sent("PUT")
    assert lock.read_text() == before


def test_dry_run_of_a_new_flow_exits_1(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    register("GET", "/flows", {"flows": [], "has_next_page": False})
    result = deploy(flowgen_app, runner, config, "--dry-run", "--format", "json")
    assert result.exit_code == ExitCode.DIFFERENT
    assert json.loads(result.stdout)["action"] == "create"
    assert not sent("POST")


def test_validate_remote_shows_the_services_findings_with_locations(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    detail = [
        {
            "loc": ["body", "definition", "States", "Upload"],
            "msg": "bad state",
            "type": "value_error",
        },
        {"loc": ["input_schema", "properties"], "msg": "bad schema", "type": "value_error"},
    ]
    register(
        "POST",
        "/flows/validate",
        flows_error(422, "UNPROCESSABLE_ENTITY", "2 validation errors", detail),
        status=422,
    )
    result = deploy(flowgen_app, runner, config, "--validate-remote")
    assert result.exit_code == ExitCode.INVALID
    assert (
        "FlowCron-mycluster_definition.json: $.States.Upload: error REMOTE: bad state"
        in result.stderr
    )
    assert (
        "FlowCron-mycluster_input_schema.json: $.properties: error REMOTE: bad schema"
        in result.stderr
    )
    (validate,) = sent()
    assert body_of(validate) == {"definition": built[0], "input_schema": built[1]}
    assert not (config.parent / "mycluster.lock.json").exists()


def test_print_cli_prints_create_then_update(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    result = deploy(flowgen_app, runner, config, "--print-cli")
    assert result.exit_code == 0, result.output
    args = shlex.split(result.stdout)
    directory = config.parent / "build" / "mycluster"
    assert args[:5] == [
        "globus",
        "flows",
        "create",
        "FlowCron-mycluster",
        str(directory / "FlowCron-mycluster_definition.json"),
    ]
    assert args[args.index("--input-schema") + 1] == str(
        directory / "FlowCron-mycluster_input_schema.json"
    )
    assert args[args.index("--starter") + 1] == GROUP_URN
    assert args[args.index("--administrator") + 1] == ADMIN_URN
    assert json.loads((directory / "FlowCron-mycluster_definition.json").read_text()) == built[0]

    write_lock(config)
    args = shlex.split(deploy(flowgen_app, runner, config, "--print-cli").stdout)
    assert args[:4] == ["globus", "flows", "update", FLOW_ID]
    assert args[args.index("--starters") + 1] == GROUP_URN
    assert sent() == []


def test_diff_deployed_reports_drift(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    write_lock(config)
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built))
    same = runner.invoke(flowgen_app, ["diff", "--deployed", str(config)])
    assert same.exit_code == 0, same.output
    assert "matches" in same.stderr

    responses.reset()
    extra = "urn:globus:auth:identity:11111111-2222-4333-8444-555555555555"
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built, flow_starters=[GROUP_URN, extra]))
    drift = runner.invoke(flowgen_app, ["diff", "--deployed", str(config)])
    assert drift.exit_code == ExitCode.DIFFERENT
    assert f"- flow_starters: {extra}" in drift.stdout
    assert not sent("PUT")


# --- error paths -------------------------------------------------------------


def test_401_asks_to_log_in_again(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    write_lock(config)
    register(
        "GET", f"/flows/{FLOW_ID}", flows_error(401, "UNAUTHORIZED", "token expired"), status=401
    )
    result = deploy(flowgen_app, runner, config)
    assert result.exit_code == ExitCode.AUTH
    assert "run 'flowgen login'" in result.stderr


def test_403_says_not_an_administrator(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    lock = write_lock(config)
    before = lock.read_text()
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built, title="Old"))
    register("PUT", f"/flows/{FLOW_ID}", flows_error(403, "FORBIDDEN", "no"), status=403)
    result = deploy(flowgen_app, runner, config)
    assert result.exit_code == ExitCode.FORBIDDEN
    assert f"you are not an administrator of flow {FLOW_ID}" in result.stderr
    assert lock.read_text() == before


def test_lock_pointing_to_a_deleted_flow_then_recreate(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    write_lock(config)
    register("GET", f"/flows/{FLOW_ID}", flows_error(404, "NOT_FOUND", "gone"), status=404)
    result = deploy(flowgen_app, runner, config)
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "no longer exists" in result.stderr and "--recreate" in result.stderr

    new_id = "a1b2c3d4-0000-4000-8000-0000000000f2"
    register("POST", "/flows", flow_doc(built, id=new_id), status=201)
    result = deploy(flowgen_app, runner, config, "--recreate")
    assert result.exit_code == 0, result.output
    assert lock_of(config)["flow_id"] == new_id


def test_recreate_refuses_to_orphan_a_flow_that_still_exists(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    write_lock(config)
    before = (config.parent / "mycluster.lock.json").read_text()
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built))
    result = deploy(flowgen_app, runner, config, "--recreate")
    assert result.exit_code == ExitCode.USAGE
    assert "still exists" in result.stderr and FLOW_ID in result.stderr
    assert [r.method for r in sent()] == ["GET"]
    assert (config.parent / "mycluster.lock.json").read_text() == before


def test_409_is_a_conflict(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    write_lock(config)
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built, title="Old"))
    register("PUT", f"/flows/{FLOW_ID}", flows_error(409, "CONFLICT", "busy"), status=409)
    result = deploy(flowgen_app, runner, config)
    assert result.exit_code == ExitCode.CONFLICT
    assert "(409)" in result.stderr and "busy" in result.stderr


def test_422_on_create_names_the_location(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    register("GET", "/flows", {"flows": [], "has_next_page": False})
    detail = [
        {"loc": ["flow_administrators", 0], "msg": "Unrecognized principal string", "type": "x"}
    ]
    register("POST", "/flows", flows_error(422, "UNPROCESSABLE_ENTITY", "bad", detail), status=422)
    result = deploy(flowgen_app, runner, config)
    assert result.exit_code == ExitCode.SERVICE
    assert "flow_administrators $[0]: Unrecognized principal string" in result.stderr
    assert not (config.parent / "mycluster.lock.json").exists()


def test_network_failure_leaves_the_lock_unchanged(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    lock = write_lock(config)
    before = lock.read_text()
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built, title="Old"))
    responses.add(
        responses.PUT,
        f"https://flows.globus.org/flows/{FLOW_ID}",
        body=requests.ConnectionError("connection reset"),
    )
    result = deploy(flowgen_app, runner, config)
    assert result.exit_code == ExitCode.SERVICE
    assert "cannot reach the Globus service" in result.stderr
    assert lock.read_text() == before
    assert sorted(p.name for p in config.parent.iterdir()) == [
        "mycluster.lock.json",
        "mycluster.toml",
    ]


def test_a_flow_with_errors_is_never_sent(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    config.write_text(
        config.read_text().replace('base_path = "/project/flowcron"', 'base_path = "relative"')
    )
    result = deploy(flowgen_app, runner, config)
    assert result.exit_code == ExitCode.USAGE
    assert "base_path" in result.stderr
    assert sent() == []


def test_lock_from_another_environment_is_refused(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    write_lock(config, environment="sandbox")
    result = deploy(flowgen_app, runner, config)
    assert result.exit_code == ExitCode.USAGE
    assert "GLOBUS_SDK_ENVIRONMENT=sandbox" in result.stderr
    assert sent() == []
