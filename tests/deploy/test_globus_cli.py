"""The files flowgen build writes deploy unchanged with the official 'globus flows create'."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
import typer
from typer.testing import CliRunner

from .helpers import FLOW_ID, body_of, register, sent

CLI_CLIENT = "7d1e0c55-1111-4222-8333-444455556666"


def _globus_cli_main() -> Any:
    try:
        from globus_cli.commands import main
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("globus-cli (the flowcron[cli] extra) must be installed under CI")
        pytest.skip("globus-cli is not installed: pip install 'flowcron[cli]'")
    return main


def _token(request: Any) -> tuple[int, dict[str, str], str]:
    scope = parse_qs(request.body)["scope"][0]
    server = "flows.globus.org" if "eec9b274" in scope else "auth.globus.org"
    body = {
        "access_token": f"cli-{server}",
        "expires_in": 3600,
        "resource_server": server,
        "scope": scope,
        "token_type": "Bearer",
        "other_tokens": [],
    }
    return 200, {}, json.dumps(body)


def test_globus_flows_create_sends_the_built_files_unchanged(
    flowgen_app: typer.Typer, config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = _globus_cli_main()
    from click.testing import CliRunner as ClickRunner  # globus-cli's own click app

    out = tmp_path / "built"
    result = CliRunner().invoke(flowgen_app, ["build", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    definition_file = out / "FlowCron-mycluster_definition.json"
    schema_file = out / "FlowCron-mycluster_input_schema.json"

    monkeypatch.setenv("GLOBUS_CLI_CLIENT_ID", CLI_CLIENT)
    monkeypatch.setenv("GLOBUS_CLI_CLIENT_SECRET", "not-a-real-secret")
    responses.add_callback(
        responses.POST, "https://auth.globus.org/v2/oauth2/token", callback=_token
    )
    register("POST", "/flows", {"id": FLOW_ID, "title": "FlowCron-mycluster"}, status=201)

    cli = ClickRunner().invoke(
        main,
        [
            "flows",
            "create",
            "FlowCron-mycluster",
            str(definition_file),
            "--input-schema",
            str(schema_file),
            "--format",
            "json",
        ],
        catch_exceptions=False,
    )

    assert cli.exit_code == 0, cli.output
    (create,) = [r for r in sent("POST") if r.url.startswith("https://flows.")]
    body = body_of(create)
    assert body["definition"] == json.loads(definition_file.read_text())
    assert body["input_schema"] == json.loads(schema_file.read_text())
