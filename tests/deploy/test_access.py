"""flowgen deploy's access check: Transfer permissions of the starters on the HPC folders."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import globus_sdk
import pytest
import typer
from globus_sdk.testing import RegisteredResponse
from globus_sdk.token_storage.validating_token_storage import MissingTokenError
from responses import matchers
from typer.testing import CliRunner

from flowgen.core.exitcodes import ExitCode
from flowgen.deploy import auth
from flowgen.deploy.access import NEEDS, check_access

from .helpers import ADMIN, FLOW_ID, GROUP, GROUP_URN, flow_doc, register, sent

pytestmark = pytest.mark.usefixtures("logged_in")

Built = tuple[dict[str, Any], dict[str, Any]]
COLLECTION = "8f2c7a4e-1b3d-4c5e-9f6a-0b1c2d3e4f5a"  # the config's collection
BASE = "/project/flowcron/"
OTHER_GROUP = "11111111-2222-4333-8444-555555555555"
ALICE = "c1a2b3c4-0000-4000-8000-00000000a11c"
TRANSFER_HOST = "transfer.api.globus.org"

GUEST = {
    "DATA_TYPE": "endpoint",
    "id": COLLECTION,
    "display_name": "My Cluster FlowCron",
    "entity_type": "GCSv5_guest_collection",
    "acl_available": True,
    "acl_editable": True,
    "owner_id": ADMIN,
    "owner_string": "pi@uni.edu",
}


def rule(
    path: str, permissions: str, principal: str = GROUP, kind: str = "group", rule_id: str = ""
) -> dict[str, Any]:
    """One access rule as Transfer lists it."""
    return {
        "DATA_TYPE": "access",
        "id": rule_id or f"rule-{kind}-{principal[:8]}-{path.count('/')}",
        "path": path,
        "permissions": permissions,
        "principal": principal,
        "principal_type": kind,
        "role_id": None,
        "role_type": None,
        "create_time": "2024-01-01T00:00:00+00:00",
        "expiration_date": None,
    }


def transfer_error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": "test", "resource": "/x"}


def register_collection(doc: dict[str, Any] | None = None, status: int = 200) -> None:
    RegisteredResponse(
        service="transfer",
        path=f"/v0.10/endpoint/{COLLECTION}",
        json=doc if doc is not None else GUEST,
        status=status,
        match=[matchers.query_param_matcher({})],
    ).add()


def register_rules(
    rules: list[dict[str, Any]] | None = None, status: int = 200, **body: Any
) -> None:
    RegisteredResponse(
        service="transfer",
        path=f"/v0.10/endpoint/{COLLECTION}/access_list",
        json=body
        or {"DATA_TYPE": "access_list", "endpoint": COLLECTION, "DATA": rules, "length": 0},
        status=status,
        match=[matchers.query_param_matcher({})],
    ).add()


def up_to_date(config: Path, built: Built, **changes: Any) -> None:
    """A lock and a deployed flow that match the config, so deploy changes nothing."""
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
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built, **changes))


def transfer_calls() -> list[str]:
    return [
        f"{r.method} {urlparse(r.url).path}"
        for r in sent()
        if urlparse(r.url).hostname == TRANSFER_HOST
    ]


def writes() -> list[Any]:
    return [r for r in sent() if r.method != "GET"]


def deploy(app: typer.Typer, runner: CliRunner, config: Path, *args: str) -> Any:
    return runner.invoke(app, ["deploy", str(config), *args])


READS = [f"GET /v0.10/endpoint/{COLLECTION}", f"GET /v0.10/endpoint/{COLLECTION}/access_list"]


def test_by_default_deploy_confirms_the_group_may_read_and_write(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    up_to_date(config, built)
    register_collection()
    register_rules([rule(BASE, "rw")])

    result = deploy(flowgen_app, runner, config)

    assert result.exit_code == 0, result.output
    assert transfer_calls() == READS
    assert writes() == []
    assert (
        "access check: every starter has the access the flow needs under "
        f"{BASE} on collection My Cluster FlowCron ({COLLECTION})"
    ) in result.stderr
    assert "warning" not in result.stderr


def test_missing_write_access_is_a_warning_saying_what_to_grant(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    up_to_date(config, built, title="Old title")
    register("PUT", f"/flows/{FLOW_ID}", flow_doc(built))
    register_collection()
    register_rules(
        [
            rule(BASE, "r", rule_id="rule-read-only"),
            rule(f"{BASE}UploadedFiles/", "rw"),
            # Neither of these is the group's access to the base path:
            rule(BASE, "rw", principal=OTHER_GROUP),
            rule("/project/flowcron2/", "rw"),
        ]
    )

    result = deploy(flowgen_app, runner, config)

    assert result.exit_code == 0, result.output
    assert [r.method for r in writes()] == ["PUT"]  # the deploy itself went ahead
    lines = result.stderr.splitlines()
    assert f"group {GROUP} needs rw on {BASE}AnalysedFiles/ (has r): " in "\n".join(lines)
    assert f"group {GROUP} needs rw on {BASE}FailedJobs/ (has r): " in result.stderr
    assert "UploadedFiles" not in result.stderr and "CodeToRun" not in result.stderr
    assert "transfers run as the person who starts the run" in result.stderr
    fix = [line.strip() for line in lines if line.strip().startswith("globus ")]
    assert fix == [
        f"globus endpoint permission update {COLLECTION} rule-read-only --permissions rw"
    ]
    assert "app.globus.org > Collections > My Cluster FlowCron > Permissions: " in result.stderr
    assert transfer_calls() == READS


def test_a_starter_without_any_rule_gets_a_create_command_and_json_lists_the_gaps(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    up_to_date(config, built)
    register_collection()
    register_rules([rule("/", "r", kind="anonymous", principal="")])

    result = deploy(flowgen_app, runner, config, "--format", "json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["access_check"]
    assert report["status"] == "missing"
    assert [(g["path"], g["needed"], g["has"]) for g in report["missing"]] == [
        (BASE + need.folder, need.permissions, "r") for need in NEEDS if need.permissions == "rw"
    ]
    command = [
        "globus", "endpoint", "permission", "create", f"{COLLECTION}:{BASE}",
        "--permissions", "rw", "--group", GROUP,
    ]  # fmt: skip
    assert report["grant"] == [command]
    assert shlex.join(command) in result.stderr


def test_403_on_the_permission_list_skips_the_check_and_says_what_to_ask_for(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    up_to_date(config, built)
    register_collection()
    register_rules(
        status=403,
        **transfer_error(403, "PermissionDenied", "You do not have permission to list rules"),
    )

    result = deploy(flowgen_app, runner, config, "--format", "json")

    assert result.exit_code == 0, result.output
    assert (
        "access check skipped: you are not an administrator or access manager of collection "
        f"{COLLECTION}, so its permissions cannot be read (403 PermissionDenied"
    ) in result.stderr
    assert (
        f"globus endpoint permission create {COLLECTION}:{BASE} --permissions rw --group {GROUP}"
        in result.stderr
    )
    assert json.loads(result.stdout)["access_check"]["status"] == "skipped"
    assert transfer_calls() == READS


def test_404_for_the_collection_skips_the_check_and_names_the_config_field(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    up_to_date(config, built)
    register_collection(
        transfer_error(404, "EndpointNotFound", f"No such endpoint {COLLECTION}"), status=404
    )

    result = deploy(flowgen_app, runner, config)

    assert result.exit_code == 0, result.output
    assert f"access check skipped: Transfer knows no collection {COLLECTION}" in result.stderr
    assert "check 'collection' in the instance config" in result.stderr
    assert "globus endpoint permission" not in result.stderr  # nothing to grant on nothing
    assert transfer_calls() == READS[:1]


def test_a_mapped_collection_is_skipped_without_listing_rules(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    up_to_date(config, built)
    mapped = {**GUEST, "entity_type": "GCSv5_mapped_collection", "acl_available": False}
    register_collection(mapped)

    result = deploy(flowgen_app, runner, config)

    assert result.exit_code == 0, result.output
    assert (
        f"access check skipped: collection {COLLECTION} is a GCSv5_mapped_collection, where "
        "Globus permission rules (ACLs) do not apply"
    ) in result.stderr
    assert "Unix read and write permission on UploadedFiles/" in result.stderr
    assert transfer_calls() == READS[:1]


def test_dry_run_checks_access_too(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    up_to_date(config, built, title="Renamed in the web app")
    register_collection()
    register_rules([rule(BASE, "rw", kind="all_authenticated_users", principal="")])
    result = deploy(flowgen_app, runner, config, "--dry-run")
    assert result.exit_code == ExitCode.DIFFERENT
    assert "access check: every starter has the access the flow needs" in result.stderr
    assert writes() == []


def test_no_check_access_sends_nothing_to_transfer(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    up_to_date(config, built)
    result = deploy(flowgen_app, runner, config, "--no-check-access", "--format", "json")
    assert result.exit_code == 0, result.output
    assert transfer_calls() == []
    assert json.loads(result.stdout)["access_check"] is None


def test_a_login_without_transfer_skips_the_check_with_what_to_do(
    flowgen_app: typer.Typer,
    runner: CliRunner,
    config: Path,
    built: Built,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoTransferToken(globus_sdk.authorizers.GlobusAuthorizer):
        """What the SDK raises for a login made before flowgen asked for Transfer."""

        def get_authorization_header(self) -> str | None:
            raise MissingTokenError("no token", resource_server=TRANSFER_HOST)

    monkeypatch.setattr(
        auth.Session,
        "transfer",
        lambda self: globus_sdk.TransferClient(authorizer=NoTransferToken()),
    )
    up_to_date(config, built)

    result = deploy(flowgen_app, runner, config)

    assert result.exit_code == 0, result.output
    assert "access check skipped: your Globus login does not include Transfer yet" in result.stderr
    assert "run 'flowgen login' once more" in result.stderr
    assert transfer_calls() == []


def test_the_deploy_help_example_with_usernames_runs(
    flowgen_app: typer.Typer,
    runner: CliRunner,
    config: Path,
    built: Built,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flowgen.cli import deploy as deploy_command

    (example,) = [
        shlex.split(line.strip().removeprefix("Example: flowgen "))
        for line in (deploy_command.deploy.__doc__ or "").splitlines()
        if line.strip().startswith("Example:") and "@" in line
    ]
    monkeypatch.chdir(config.parent.parent)
    bob = "c1a2b3c4-0000-4000-8000-000000000b0b"
    RegisteredResponse(
        service="auth",
        path="/v2/api/identities",
        json={
            "identities": [
                {"id": ALICE, "username": "alice@uni.edu", "status": "used"},
                {"id": bob, "username": "bob@uni.edu", "status": "used"},
            ]
        },
        match=[
            matchers.query_param_matcher(
                {"usernames": "alice@uni.edu,bob@uni.edu", "provision": "false"}
            )
        ],
    ).add()
    starters = [f"urn:globus:auth:identity:{ALICE}", f"urn:globus:auth:identity:{bob}"]
    up_to_date(config, built, flow_starters=starters)
    register_collection()
    register_rules([rule(BASE, "rw", principal=ALICE, kind="identity")])

    result = runner.invoke(flowgen_app, example)

    assert result.exit_code == 0, result.output
    assert "nothing to change" in result.stdout
    assert f"identity {bob} (bob@uni.edu) needs rw on {BASE}UploadedFiles/" in result.stderr
    assert f"--identity {bob}" in result.stderr and f"--identity {ALICE}" not in result.stderr


# -- the check on its own ------------------------------------------------------


@pytest.fixture
def transfer() -> globus_sdk.TransferClient:
    return globus_sdk.TransferClient(authorizer=globus_sdk.AccessTokenAuthorizer("test-token"))


def test_the_owner_and_all_authenticated_users_need_no_group_rule(
    transfer: globus_sdk.TransferClient,
) -> None:
    register_collection()
    register_rules([rule("/project/", "rw", kind="all_authenticated_users", principal="")])
    starters = [f"urn:globus:auth:identity:{ADMIN}", "all_authenticated_users", GROUP_URN]
    report = check_access(transfer, COLLECTION, BASE.rstrip("/"), starters)
    assert report.status == "ok", report.render()


def test_all_authenticated_users_as_a_starter_needs_a_rule_for_everybody(
    transfer: globus_sdk.TransferClient,
) -> None:
    register_collection({**GUEST, "owner_id": "someone-else"})
    register_rules([rule(BASE, "rw"), rule(BASE, "rw", principal=ALICE, kind="identity")])
    report = check_access(
        transfer, COLLECTION, BASE, ["all_authenticated_users", f"urn:globus:auth:identity:{ADMIN}"]
    )
    assert report.status == "missing"
    assert {(g.starter.label, g.has) for g in report.gaps} == {
        ("all authenticated users", ""),
        (f"identity {ADMIN}", ""),
    }
    assert [g[-1] for g in report.grants] == ["--all-authenticated", ADMIN]


def test_no_starters_means_no_request(transfer: globus_sdk.TransferClient) -> None:
    report = check_access(transfer, COLLECTION, BASE, [])
    assert report.status == "skipped" and "no starters" in report.reason
    assert sent() == []


def test_the_needs_name_every_folder_the_flow_uses_on_the_hpc() -> None:
    from flowgen.flowcron.config import config_from_dict
    from flowgen.flowcron.flow import build_flow

    cfg = config_from_dict(
        {"name": "x", "hpc_name": "X", "collection": COLLECTION, "base_path": BASE.rstrip("/")}
    )
    used = set(re.findall(rf"{re.escape(BASE)}([^'\"]+)", build_flow(cfg).dumps()))
    assert used == {need.folder for need in NEEDS}


def test_another_refusal_or_no_network_skips_without_suggesting_grants(
    transfer: globus_sdk.TransferClient,
) -> None:
    register_collection()
    register_rules(status=409, **transfer_error(409, "Conflict", "Busy"))
    report = check_access(transfer, COLLECTION, BASE, [GROUP_URN])
    assert report.status == "skipped"
    assert report.reason == (
        f"Transfer refused to list the permissions of collection {COLLECTION} (409 Conflict: Busy)"
    )
    assert report.grants == ()
    assert report.render() == [f"access check skipped: {report.reason}"]
