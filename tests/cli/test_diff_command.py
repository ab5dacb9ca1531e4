"""``flowgen diff`` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from flowgen.core import jsonio
from flowgen.core.exitcodes import ExitCode

from .helpers import DATA

SMALL = DATA / "small_flow.json"


def _flow() -> dict[str, Any]:
    flow: dict[str, Any] = jsonio.load(SMALL)
    return flow


def test_identical_flows_exit_zero(
    flowgen_app: typer.Typer, runner: CliRunner, write_json: Any
) -> None:
    # Same flow, keys written in another order: not a difference.
    shuffled = _flow()
    shuffled["States"] = dict(reversed(list(shuffled["States"].items())))
    other = write_json("other.json", shuffled)
    result = runner.invoke(flowgen_app, ["diff", str(SMALL), str(other)])
    assert result.exit_code == ExitCode.OK
    assert result.stdout == ""
    assert result.stderr == "The flows are identical.\n"


def test_differences_exit_one_with_one_line_each(
    flowgen_app: typer.Typer, runner: CliRunner, write_json: Any
) -> None:
    new = _flow()
    new["States"]["Wait <60 s>"]["Seconds"] = 120
    new["States"]["Archive"] = new["States"].pop("Done")
    new["States"]["Is it done?"]["Default"] = "Archive"
    path = write_json("new.json", new)
    result = runner.invoke(flowgen_app, ["diff", str(SMALL), str(path)])
    assert result.exit_code == ExitCode.DIFFERENT
    assert result.stdout.splitlines() == [
        "+ $.States.Archive (state added)",
        "- $.States.Done (state removed)",
        """~ $.States['Is it done?'].Default: "Done" -> "Archive\"""",
        "~ $.States['Wait <60 s>'].Seconds: 60 -> 120",
    ]


def test_json_output(flowgen_app: typer.Typer, runner: CliRunner, write_json: Any) -> None:
    new = _flow()
    new["States"]["Wait <60 s>"]["Seconds"] = 120
    path = write_json("new.json", new)
    result = runner.invoke(flowgen_app, ["diff", "--format", "json", str(SMALL), str(path)])
    assert result.exit_code == ExitCode.DIFFERENT
    assert json.loads(result.stdout) == {
        "identical": False,
        "changes": [
            {
                "document": "definition",
                "path": "$.States['Wait <60 s>'].Seconds",
                "kind": "field-changed",
                "old": 60,
                "new": 120,
            }
        ],
    }
    same = runner.invoke(flowgen_app, ["diff", "-F", "json", str(SMALL), str(SMALL)])
    assert same.exit_code == ExitCode.OK
    assert json.loads(same.stdout) == {"identical": True, "changes": []}


def test_input_schemas_are_compared_when_both_given(
    flowgen_app: typer.Typer, runner: CliRunner, write_json: Any
) -> None:
    old = write_json("old_schema.json", {"type": "object", "properties": {}})
    new = write_json("new_schema.json", {"type": "object", "properties": {}, "required": []})
    args = ["diff", str(SMALL), str(SMALL), "--input-schema-a", str(old)]
    one_sided = runner.invoke(flowgen_app, args)
    assert one_sided.exit_code == ExitCode.OK
    assert "Only flow A has an input schema" in one_sided.stderr
    assert "--input-schema-b" in one_sided.stderr

    both = runner.invoke(flowgen_app, [*args, "--input-schema-b", str(new)])
    assert both.exit_code == ExitCode.DIFFERENT
    assert both.stdout == "+ input schema $.required: []\n"


def test_build_directories_bring_their_schema(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    for side, default in (("a", False), ("b", True)):
        folder = tmp_path / side
        folder.mkdir()
        jsonio.write(folder / "FlowCron-x_definition.json", _flow())
        schema = {
            "type": "object",
            "properties": {"delete": {"type": "boolean", "default": default}},
        }
        jsonio.write(folder / "FlowCron-x_input_schema.json", schema)
    result = runner.invoke(flowgen_app, ["diff", str(tmp_path / "a"), str(tmp_path / "b")])
    assert result.exit_code == ExitCode.DIFFERENT
    assert result.stdout == "~ input schema $.properties.delete.default: false -> true\n"


def test_usage_errors_exit_two(flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"StartAt": "A", "States": {"A": }}', encoding="utf-8")
    malformed = runner.invoke(flowgen_app, ["diff", str(SMALL), str(bad)])
    assert malformed.exit_code == ExitCode.USAGE
    assert malformed.stderr.startswith(f"Error: {bad}:1:34: malformed JSON:")

    missing = runner.invoke(flowgen_app, ["diff", str(SMALL), str(tmp_path / "none.json")])
    assert missing.exit_code == ExitCode.USAGE
    assert "no such file" in missing.stderr

    one_arg = runner.invoke(flowgen_app, ["diff", str(SMALL)])
    assert one_arg.exit_code == ExitCode.USAGE
