"""The examples in the help of validate, diff and graph run as documented."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flowgen.cli import diff, graph, validate
from flowgen.core import jsonio
from flowgen.core.exitcodes import ExitCode

CONFIG = """\
name = "mycluster"
hpc_name = "My Cluster"
collection = "8f2c7a4e-1b3d-4c5e-9f6a-0b1c2d3e4f5a"
base_path = "/project/flowcron"
"""


def _examples() -> list[str]:
    lines: list[str] = []
    for command in (validate.validate, diff.diff, graph.graph):
        for line in (command.__doc__ or "").splitlines():
            line = line.strip()
            if line.startswith("Example: flowgen "):
                lines.append(line.removeprefix("Example: flowgen "))
    return lines


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory holding every file the examples name."""
    build = pytest.importorskip("flowgen.flowcron.build")
    config = tmp_path / "flows" / "mycluster.toml"
    config.parent.mkdir()
    config.write_text(CONFIG, encoding="utf-8")
    definition, schema = build.build_from_config(config)
    out = tmp_path / "flows" / "build" / "mycluster"
    jsonio.write(out / "FlowCron-mycluster_definition.json", definition)
    jsonio.write(out / "FlowCron-mycluster_input_schema.json", schema)
    jsonio.write(tmp_path / "definition.json", definition)
    jsonio.write(tmp_path / "schema.json", schema)
    older = {**definition, "Comment": "an older version"}
    jsonio.write(tmp_path / "deployed_definition.json", older)
    for side, doc in (("old", older), ("new", definition)):
        jsonio.write(tmp_path / side / "FlowCron-mycluster_definition.json", doc)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("example", _examples())
def test_documented_example_runs(
    example: str, flowgen_app: typer.Typer, runner: CliRunner, workspace: Path
) -> None:
    command, _, pipe = example.partition(" | ")
    result = runner.invoke(flowgen_app, shlex.split(command))
    expected = {ExitCode.OK, ExitCode.DIFFERENT} if command.startswith("diff") else {ExitCode.OK}
    assert result.exit_code in expected, result.output
    assert "Error" not in result.stderr
    if pipe.startswith("dot "):
        assert result.stdout.startswith("digraph flow {")
    if " -o " in command:
        assert (workspace / shlex.split(command)[-1]).is_file()


def test_every_command_documents_examples() -> None:
    assert len(_examples()) == 7
