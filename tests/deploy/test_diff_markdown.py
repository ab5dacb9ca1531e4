"""``flowgen diff --deployed CONFIG --format markdown`` against a registered Flows API response."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from flowgen.core.exitcodes import ExitCode

from .helpers import ADMIN_URN, FLOW_ID, GROUP_URN, flow_doc, register, sent

pytestmark = pytest.mark.usefixtures("logged_in")

Built = tuple[dict[str, Any], dict[str, Any]]
ALICE_URN = "urn:globus:auth:identity:11111111-2222-4333-8444-555555555555"


def _write_lock(config: Path) -> None:
    lock = {
        "version": 1,
        "flow_id": FLOW_ID,
        "environment": "production",
        "title": "FlowCron-mycluster",
        "definition_sha256": "old",
        "input_schema_sha256": "old",
        "roles": {},
        "deployed_at": "2020-01-01T00:00:00Z",
    }
    (config.parent / "mycluster.lock.json").write_text(json.dumps(lock), encoding="utf-8")


def _rows(markdown: str, heading: str) -> list[list[str]]:
    block = markdown.split(f"#### {heading}\n\n", 1)[1].split("\n\n", 1)[0]
    return [
        [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        for line in block.splitlines()[2:]
    ]


def test_drift_shows_states_schema_roles_and_settings(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    _write_lock(config)
    definition, schema = copy.deepcopy(built)
    start = definition["StartAt"]
    definition["States"][start]["Comment"] = "edited in the web app"
    del schema["properties"]["input"]["properties"]["delete"]
    deployed = flow_doc(
        (definition, schema),
        flow_starters=[GROUP_URN, ALICE_URN],
        flow_viewers=["public"],
        description="old | description",
    )
    register("GET", f"/flows/{FLOW_ID}", deployed)
    args = ["diff", "--deployed", str(config), "--format", "markdown"]
    result = runner.invoke(flowgen_app, args)
    assert result.exit_code == ExitCode.DIFFERENT, result.output
    out = result.stdout
    assert out.startswith(
        f"### Deployed flow [`{FLOW_ID}`](https://app.globus.org/flows/{FLOW_ID}) → `{config}`\n"
    )
    assert (
        "**Changed:** 1 state (1 changed); 1 input-schema field (1 added); "
        "2 role lists; 1 flow setting.\n"
    ) in out
    assert _rows(out, "States") == [
        [
            f"`{start}`",
            "changed",
            '`Comment`: `"edited in the web app"` → '
            '`"Managed and guest collections can be checked before uploading."`',
        ]
    ]
    assert _rows(out, "Input schema fields") == [["`input.delete`", "added", "type `boolean`"]]
    # Deploying would take Alice off the starters and the public off the viewers.
    assert _rows(out, "Roles") == [
        ["starters (`flow_starters`)", "", f"`{ALICE_URN}`"],
        ["viewers (`flow_viewers`)", "", "`public`"],
    ]
    assert _rows(out, "Flow settings") == [["`description`", '`"old \\| description"`', '`""`']]
    assert f"- flow_starters: {ALICE_URN}" in out  # the collapsed full list
    assert ADMIN_URN not in out
    assert not sent("PUT")


def test_no_drift_is_one_line(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path, built: Built
) -> None:
    _write_lock(config)
    register("GET", f"/flows/{FLOW_ID}", flow_doc(built))
    result = runner.invoke(flowgen_app, ["diff", "--deployed", str(config), "-F", "markdown"])
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout == (
        f"### Deployed flow [`{FLOW_ID}`](https://app.globus.org/flows/{FLOW_ID}) → `{config}`\n\n"
        f"No changes: the deployed flow matches `{config}`.\n"
    )
    json_result = runner.invoke(flowgen_app, ["diff", "--deployed", str(config), "-F", "json"])
    assert json.loads(json_result.stdout)["identical"] is True
