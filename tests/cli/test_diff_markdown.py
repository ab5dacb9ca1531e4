"""``flowgen diff --format markdown`` of two flows: what a pull-request reviewer reads."""

from __future__ import annotations

import re
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


def _cells(row: str) -> list[str]:
    """A table row's cells, split as GitHub does: on every ``|`` not escaped with a backslash."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def _table(markdown: str, heading: str) -> list[list[str]]:
    block = markdown.split(f"#### {heading}\n\n", 1)[1].split("\n\n", 1)[0]
    rows = [_cells(line) for line in block.splitlines()]
    assert all(len(row) == len(rows[0]) for row in rows), block
    return rows[2:]


def test_states_are_grouped_with_what_changed(
    flowgen_app: typer.Typer, runner: CliRunner, write_json: Any
) -> None:
    new = _flow()
    new["States"]["Wait <60 s>"]["Seconds"] = 120
    new["States"]["Archive | `v2`"] = new["States"].pop("Done")
    new["States"]["Is it done?"]["Default"] = "Archive | `v2`"
    new["StartAt"] = "Check marker"
    path = write_json("new.json", new)
    result = runner.invoke(flowgen_app, ["diff", str(SMALL), str(path), "-F", "markdown"])
    assert result.exit_code == ExitCode.DIFFERENT, result.output
    out = result.stdout
    assert out.startswith(f"### Flow diff: `{SMALL}` → `{path}`\n")
    assert (
        "**Changed:** 4 states (1 added, 1 removed, 2 changed); 1 other definition change.\n"
    ) in out
    # A | in a state name is escaped, a backtick gets a longer code fence.
    assert _table(out, "States") == [
        ["`` Archive \\| `v2` ``", "added", "type `Pass`"],
        ["`Done`", "removed", "type `Pass`"],
        ["`Is it done?`", "changed", '`Default`: `"Done"` → ``"Archive \\| `v2`"``'],
        ["`Wait <60 s>`", "changed", "`Seconds`: `60` → `120`"],
    ]
    assert _table(out, "Definition") == [
        ["`StartAt`", "changed", '`"Upload data"` → `"Check marker"`'],
    ]
    assert "#### Input schema fields" not in out
    # The full text diff follows, collapsed, exactly as --format text prints it.
    text = runner.invoke(flowgen_app, ["diff", str(SMALL), str(path)]).stdout
    assert f"<details><summary>All changes (5), one per line</summary>\n\n```\n{text}```\n" in out


def test_input_schema_fields_show_required_changes(
    flowgen_app: typer.Typer, runner: CliRunner, write_json: Any
) -> None:
    old = write_json(
        "old_schema.json",
        {
            "type": "object",
            "required": ["source", "notes"],
            "properties": {
                "source": {"type": "object", "properties": {"path": {"type": "string"}}},
                "notes": {"type": "string"},
                "delete": {"type": "boolean"},
            },
        },
    )
    new = write_json(
        "new_schema.json",
        {
            "type": "object",
            "required": ["label", "source"],
            "properties": {
                "source": {"type": "object", "properties": {"path": {"type": "integer"}}},
                "notes": {"type": "string"},
                "label": {"type": "string", "title": "Label"},
            },
        },
    )
    args = ["diff", str(SMALL), str(SMALL), "--input-schema-a", str(old)]
    result = runner.invoke(flowgen_app, [*args, "--input-schema-b", str(new), "-F", "markdown"])
    assert result.exit_code == ExitCode.DIFFERENT, result.output
    out = result.stdout
    assert "**Changed:** 4 input-schema fields (1 added, 1 removed, 2 changed).\n" in out
    assert _table(out, "Input schema fields") == [
        ["`delete`", "removed", "type `boolean`"],
        ["`label`", "added", "type `string`<br>now required"],
        ["`notes`", "changed", "now optional"],
        ["`source.path`", "changed", '`type`: `"string"` → `"integer"`'],
    ]
    assert "#### States" not in out


def test_identical_flows_say_no_changes(
    flowgen_app: typer.Typer, runner: CliRunner, write_json: Any
) -> None:
    same = write_json("same.json", _flow())
    result = runner.invoke(flowgen_app, ["diff", str(SMALL), str(same), "--format", "markdown"])
    assert result.exit_code == ExitCode.OK
    assert result.stdout == (
        f"### Flow diff: `{SMALL}` → `{same}`\n\nNo changes: the flows are identical.\n"
    )
    assert result.stderr == ""


def test_a_one_sided_schema_is_noted_in_the_markdown(
    flowgen_app: typer.Typer, runner: CliRunner, write_json: Any
) -> None:
    schema = write_json("schema.json", {"type": "object", "properties": {}})
    args = ["diff", str(SMALL), str(SMALL), "--input-schema-a", str(schema), "-F", "markdown"]
    result = runner.invoke(flowgen_app, args)
    assert result.exit_code == ExitCode.OK
    assert "> Only flow A has an input schema, so the schemas were not compared" in result.stdout


def test_help_offers_markdown(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(flowgen_app, ["diff", "--help"])
    assert "<text|json|markdown>" in result.stdout
    bad = runner.invoke(flowgen_app, ["diff", str(SMALL), str(SMALL), "-F", "html"])
    assert bad.exit_code == ExitCode.USAGE
