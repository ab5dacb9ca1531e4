"""Every registered command documents itself; the CLI starts without heavy imports."""

from __future__ import annotations

import subprocess
import sys

import typer
from typer.main import get_command
from typer.testing import CliRunner

from flowgen.cli import COMMAND_MODULES


def _command_paths(flowgen_app: typer.Typer) -> list[list[str]]:
    # Walk the real command tree so commands and groups added later are
    # covered without touching this test.
    paths: list[list[str]] = []

    def walk(command: object, prefix: list[str]) -> None:
        sub = getattr(command, "commands", None)
        if isinstance(sub, dict):
            for name in sorted(sub):
                paths.append([*prefix, name])
                walk(sub[name], [*prefix, name])

    walk(get_command(flowgen_app), [])
    return paths


def test_every_command_module_registers_a_command(flowgen_app: typer.Typer) -> None:
    names = {path[0] for path in _command_paths(flowgen_app)}
    assert {"validate", "diff", "graph"} <= names
    assert len(names) >= len(COMMAND_MODULES)


def test_every_command_help_renders_with_an_example(
    flowgen_app: typer.Typer, runner: CliRunner
) -> None:
    paths = _command_paths(flowgen_app)
    assert paths
    for path in paths:
        result = runner.invoke(flowgen_app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.stdout, path
        assert "Example" in result.stdout, f"flowgen {' '.join(path)} --help has no example"


def test_top_level_help_lists_commands(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(flowgen_app, ["--help"])
    assert result.exit_code == 0
    for name in ("validate", "diff", "graph"):
        assert name in result.stdout


def test_cli_start_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from flowgen.cli import _register\n"
        "_register()\n"
        "heavy = [m for m in ('globus_sdk', 'jsonschema', 'deepdiff', 'requests') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
