"""``flowgen validate`` through the real command line and the real validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from flowgen.core import jsonio
from flowgen.core.exitcodes import ExitCode

from .helpers import DATA

SMALL = DATA / "small_flow.json"

SCHEMA = {
    "type": "object",
    "required": ["input"],
    "properties": {
        "input": {
            "type": "object",
            "properties": {
                "source": {
                    "type": "object",
                    "title": "Folder to upload",
                    "format": "globus-collection",
                    "properties": {"id": {"type": "string"}, "path": {"type": "string"}},
                }
            },
        }
    },
}


def _flow() -> dict[str, Any]:
    flow: dict[str, Any] = jsonio.load(SMALL)
    return flow


def _without_result_path() -> dict[str, Any]:
    flow = _flow()
    del flow["States"]["Check marker"]["ResultPath"]
    return flow


def _broken_next() -> dict[str, Any]:
    flow = _flow()
    flow["States"]["Done"]["Next"] = "Nowhere"
    del flow["States"]["Done"]["End"]
    return flow


def test_clean_flow_exits_zero(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(flowgen_app, ["validate", str(SMALL)])
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout == "1 file checked: 0 errors, 0 warnings\n"


def test_warnings_pass_unless_strict(
    flowgen_app: typer.Typer, runner: CliRunner, write_json: Any
) -> None:
    path = write_json("flow.json", _without_result_path())
    result = runner.invoke(flowgen_app, ["validate", str(path)])
    assert result.exit_code == ExitCode.OK
    assert f"{path}: $.States['Check marker']: warning FG307:" in result.stdout
    assert "0 errors, 1 warning" in result.stdout

    strict = runner.invoke(flowgen_app, ["validate", "--strict", str(path)])
    assert strict.exit_code == ExitCode.INVALID
    assert "(warnings fail with --strict)" in strict.stdout


def test_error_finding_exits_three(
    flowgen_app: typer.Typer, runner: CliRunner, write_json: Any
) -> None:
    path = write_json("flow.json", _broken_next())
    result = runner.invoke(flowgen_app, ["validate", str(path)])
    assert result.exit_code == ExitCode.INVALID
    assert "$.States.Done.Next: error FG202: 'Nowhere' is not a state in this flow" in result.stdout


def test_malformed_json_exits_two_with_line_and_column(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "StartAt": "A",\n  "States": {\n    "A": {"Type": "Pass",}\n', "utf-8")
    result = runner.invoke(flowgen_app, ["validate", str(SMALL), str(path)])
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith(f"Error: {path}:4:26: malformed JSON:")
    assert "Traceback" not in result.output


def test_missing_file_exits_two(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(flowgen_app, ["validate", str(tmp_path / "nope.json")])
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == f"Error: {tmp_path / 'nope.json'}: no such file\n"


def test_input_schema_file_is_recognised_and_checked(
    flowgen_app: typer.Typer, runner: CliRunner, write_json: Any
) -> None:
    good = write_json("schema.json", SCHEMA)
    bad_schema = json.loads(json.dumps(SCHEMA))
    bad_schema["properties"]["input"]["type"] = "nope"
    bad = write_json("bad_schema.json", bad_schema)
    assert runner.invoke(flowgen_app, ["validate", str(good)]).exit_code == ExitCode.OK
    result = runner.invoke(flowgen_app, ["validate", str(bad)])
    assert result.exit_code == ExitCode.INVALID
    assert f"{bad}: $.properties.input.type: error FG701:" in result.stdout


def test_input_schema_option_checks_the_pair_once(
    flowgen_app: typer.Typer, runner: CliRunner, write_json: Any
) -> None:
    bad_schema = json.loads(json.dumps(SCHEMA))
    bad_schema["properties"]["input"]["type"] = "nope"
    schema = write_json("schema.json", bad_schema)
    other = write_json("other.json", _flow())
    result = runner.invoke(
        flowgen_app,
        ["validate", str(SMALL), str(other), "--input-schema", str(schema), "--format", "json"],
    )
    assert result.exit_code == ExitCode.INVALID
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["errors"] == 1 and report["warnings"] == 0
    assert report["files"] == [str(SMALL), str(other)]
    # The schema error is reported once, though both definitions were paired with it.
    assert [(f["file"], f["code"], f["severity"]) for f in report["findings"]] == [
        (str(schema), "FG701", "error")
    ]


def test_json_output_of_a_clean_run(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(flowgen_app, ["validate", "-F", "json", str(SMALL)])
    assert result.exit_code == ExitCode.OK
    assert json.loads(result.stdout) == {
        "ok": True,
        "files": [str(SMALL)],
        "errors": 0,
        "warnings": 0,
        "findings": [],
    }


def test_config_is_built_and_validated(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    pytest.importorskip("flowgen.flowcron.build")
    config = tmp_path / "testhpc.toml"
    config.write_text(
        'name = "testhpc"\nhpc_name = "Test HPC"\n'
        'collection = "8f2c7a4e-1b3d-4c5e-9f6a-0b1c2d3e4f5a"\nbase_path = "/project/flowcron"\n',
        encoding="utf-8",
    )
    result = runner.invoke(flowgen_app, ["validate", "--strict", str(config)])
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout == "1 file checked: 0 errors, 0 warnings\n"
