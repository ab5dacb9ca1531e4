"""Logging in: the user app refuses politely without tokens; the CI client app works."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import pytest
import responses
import typer
from typer.testing import CliRunner

from flowgen.core.exitcodes import ExitCode
from flowgen.deploy import auth

from .helpers import sent

CI_ID = "5e3c8f0a-1111-4222-8333-444455556666"


def test_not_logged_in_says_run_flowgen_login(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(auth.CLIENT_ID_ENV, "7d1e0c4a-2b3f-4a5e-8c6d-9e0f1a2b3c4d")
    result = runner.invoke(flowgen_app, ["deploy", str(config)])
    assert result.exit_code == ExitCode.AUTH
    assert "not logged in to Globus" in result.stderr and "flowgen login" in result.stderr
    assert sent() == []


def test_without_a_registered_app_login_says_how_to_get_one(
    flowgen_app: typer.Typer, runner: CliRunner
) -> None:
    result = runner.invoke(flowgen_app, ["login"])
    assert result.exit_code == ExitCode.AUTH
    steps = [
        "FLOWGEN_CLIENT_ID is not set",
        "1. Open https://app.globus.org/settings/developers (app.globus.org > Settings > "
        "Developers)",
        "2. Choose 'Register a thick client or script that will be installed and run by users "
        "on their devices'",
        "'Register App'",
        "4. Copy the app's 'Client UUID'",
        "export FLOWGEN_CLIENT_ID=<Client UUID>",
        "5. Run 'flowgen login' again",
        "GLOBUS_CLIENT_ID and GLOBUS_CLIENT_SECRET",
    ]
    for step in steps:
        assert step in result.stderr, step
    assert result.stderr.index("1. Open") < result.stderr.index("5. Run")
    assert sent() == []


def test_login_asks_for_transfer_but_a_stored_login_is_not_required_to_have_it() -> None:
    transfer = "transfer.api.globus.org"
    assert transfer in auth.scope_requirements(optional=True)
    assert transfer not in auth.scope_requirements()
    required = set(auth.scope_requirements())
    assert required == {"flows.globus.org", "groups.api.globus.org", "auth.globus.org"}


def test_client_credentials_from_the_environment(
    flowgen_app: typer.Typer, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(auth.CI_CLIENT_ID_ENV, CI_ID)
    monkeypatch.setenv(auth.CI_CLIENT_SECRET_ENV, "not-a-real-secret")
    requested: list[str] = []

    def token(request: object) -> tuple[int, dict[str, str], str]:
        import json

        form = parse_qs(request.body)  # type: ignore[attr-defined]
        requested.append(form["grant_type"][0])
        scope = form["scope"][0]
        server = (
            "flows.globus.org"
            if "eec9b274" in scope
            else "groups.api.globus.org"
            if "groups" in scope
            else "auth.globus.org"
        )
        body = {
            "access_token": f"token-{server}",
            "expires_in": 3600,
            "resource_server": server,
            "scope": scope,
            "token_type": "Bearer",
            "other_tokens": [],
        }
        return 200, {}, json.dumps(body)

    responses.add_callback(
        responses.POST, "https://auth.globus.org/v2/oauth2/token", callback=token
    )
    responses.add(
        responses.GET,
        "https://auth.globus.org/v2/oauth2/userinfo",
        json={"sub": CI_ID, "preferred_username": f"{CI_ID}@clients.auth.globus.org", "name": "CI"},
    )
    result = runner.invoke(flowgen_app, ["whoami", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert set(requested) == {"client_credentials"}
    assert f'"identity_id": "{CI_ID}"' in result.stdout
    assert '"kind": "client"' in result.stdout
    assert "token-" not in result.stdout + result.stderr
    userinfo = sent("GET")[0]
    assert userinfo.headers["Authorization"] == "Bearer token-auth.globus.org"
    stored = list((tmp_path / "home" / ".globus").rglob("*.json"))
    assert stored and oct(stored[0].stat().st_mode & 0o777) == "0o600"


def test_environment_defaults_to_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(auth.ENVIRONMENT_ENV)
    assert auth.environment() == "production"
    monkeypatch.setenv(auth.ENVIRONMENT_ENV, "sandbox")
    assert auth.environment() == "sandbox"


def test_a_login_stored_without_transfer_still_opens_sessions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from globus_sdk.token_storage import TokenStorageData

    monkeypatch.setenv(auth.CLIENT_ID_ENV, "7d1e0c4a-2b3f-4a5e-8c6d-9e0f1a2b3c4d")
    app = auth.make_app()
    # What an earlier flowgen login stored: tokens for Flows, Groups and Auth only.
    stored = {
        server: TokenStorageData(
            resource_server=server,
            identity_id=CI_ID,
            scope=" ".join(str(s) for s in scopes),
            access_token=f"token-{server}",
            refresh_token=f"refresh-{server}",
            expires_at_seconds=int(time.time()) + 3600,
            token_type="Bearer",
        )
        for server, scopes in auth.scope_requirements().items()
    }
    app.token_storage.token_storage.store_token_data_by_resource_server(stored)

    assert auth.open_session().app is not None  # no "not logged in" for the old login
    assert auth.make_app(optional=True).login_required()  # 'flowgen login' completes it
    assert sent() == []
