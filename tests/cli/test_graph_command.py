"""``flowgen graph`` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from flowgen.core.exitcodes import ExitCode

from .helpers import DATA

SMALL = DATA / "small_flow.json"
GOLDEN = Path(__file__).parent.parent / "golden"


def test_mermaid_is_the_default(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(flowgen_app, ["graph", str(SMALL)])
    assert result.exit_code == ExitCode.OK
    assert result.stdout == (GOLDEN / "small_flow.mmd").read_text(encoding="utf-8")


def test_dot_to_a_file(flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "docs" / "flow.dot"
    result = runner.invoke(flowgen_app, ["graph", str(SMALL), "--format", "dot", "-o", str(out)])
    assert result.exit_code == ExitCode.OK
    assert result.stdout == ""
    assert result.stderr == f"Wrote {out}\n"
    assert out.read_text(encoding="utf-8") == (GOLDEN / "small_flow.dot").read_text("utf-8")


def test_json_lists_nodes_and_edges(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(flowgen_app, ["graph", str(SMALL), "-F", "json"])
    assert result.exit_code == ExitCode.OK
    graph = json.loads(result.stdout)
    assert graph["nodes"][0] == {"id": "flow_start", "name": "Start", "kind": "start"}
    catch = [e for e in graph["edges"] if e["kind"] == "catch"]
    assert {e["label"] for e in catch} == {"ActionFailedException, ActionTimeout", "States.ALL"}


def test_bad_input_is_explained(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    not_a_flow = tmp_path / "list.json"
    not_a_flow.write_text('{"StartAt": "A"}', encoding="utf-8")
    result = runner.invoke(flowgen_app, ["graph", str(not_a_flow)])
    assert result.exit_code == ExitCode.INVALID
    assert "$.States is missing or not an object" in result.stderr

    wrong_format = runner.invoke(flowgen_app, ["graph", str(SMALL), "--format", "png"])
    assert wrong_format.exit_code == ExitCode.USAGE
    assert "png" in wrong_format.stderr
