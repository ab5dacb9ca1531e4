"""``flowgen check-built`` through the real command line: committed JSON against the configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flowgen.core.exitcodes import ExitCode

ROOT = Path(__file__).resolve().parents[2]
CONFIG = (ROOT / "flows" / "example.toml").read_text(encoding="utf-8")


@pytest.fixture
def repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flowgen_app: typer.Typer, runner: CliRunner
) -> Path:
    """A flows repository (the current directory) with two configs built into flows/build/."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flows").mkdir()
    for name in ("alpha", "beta"):
        config = Path("flows") / f"{name}.toml"
        config.write_text(CONFIG.replace('name = "example"', f'name = "{name}"'), encoding="utf-8")
        assert runner.invoke(flowgen_app, ["build", str(config)]).exit_code == 0
    return tmp_path


def test_matching_files_pass(repo: Path, flowgen_app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(flowgen_app, ["check-built"])
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout == ""
    assert result.stderr == "2 configs match their committed JSON.\n"
    one = runner.invoke(flowgen_app, ["check-built", "flows/beta.toml"])
    assert one.stderr == "1 config matches its committed JSON.\n"


def test_stale_json_fails_with_a_diff_and_the_rebuild_command(
    repo: Path, flowgen_app: typer.Typer, runner: CliRunner
) -> None:
    config = Path("flows/beta.toml")
    config.write_text(config.read_text().replace("max_wait = 1800", "max_wait = 1700"))
    result = runner.invoke(flowgen_app, ["check-built", "flows/"])
    assert result.exit_code == ExitCode.DIFFERENT
    definition = "flows/build/beta/FlowCron-beta_definition.json"
    assert f"--- {definition} (committed)\n+++ {definition} (built from {config})\n" in (
        result.stdout
    )
    assert "alpha" not in result.stdout
    assert result.stderr.endswith(
        "If the change is intended, rebuild and commit the result:\n  flowgen build flows/beta.toml\n"
    )


def test_a_missing_file_and_a_config_elsewhere(
    repo: Path, flowgen_app: typer.Typer, runner: CliRunner
) -> None:
    (repo / "flows/build/alpha/FlowCron-alpha_input_schema.json").unlink()
    sites = repo / "sites"
    sites.mkdir()
    (sites / "gamma.toml").write_text(CONFIG.replace('name = "example"', 'name = "gamma"'))
    result = runner.invoke(flowgen_app, ["check-built", "flows/alpha.toml", "sites"])
    assert result.exit_code == ExitCode.DIFFERENT
    assert result.stdout.splitlines() == [
        "flows/build/alpha/FlowCron-alpha_input_schema.json: missing (built from flows/alpha.toml)",
        "sites/build/gamma/FlowCron-gamma_definition.json: missing (built from sites/gamma.toml)",
        "sites/build/gamma/FlowCron-gamma_input_schema.json: missing (built from sites/gamma.toml)",
    ]
    # flowgen build writes to flows/build/ by default, so the hint says where instead.
    assert "  flowgen build sites/gamma.toml -o sites/build/gamma\n" in result.stderr


def test_json_output(repo: Path, flowgen_app: typer.Typer, runner: CliRunner) -> None:
    (repo / "flows/build/alpha/FlowCron-alpha_definition.json").write_text("{}\n")
    result = runner.invoke(flowgen_app, ["check-built", "-F", "json"])
    assert result.exit_code == ExitCode.DIFFERENT
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["configs"] == ["flows/alpha.toml", "flows/beta.toml"]
    assert [d["config"] for d in data["drifted"]] == ["flows/alpha.toml"]
    assert result.stderr == ""


def test_no_config_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flowgen_app: typer.Typer, runner: CliRunner
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = runner.invoke(flowgen_app, ["check-built", "flows/nope.toml"])
    assert missing.exit_code == ExitCode.USAGE
    assert "flows/nope.toml: no such instance config or directory" in missing.stderr
    (tmp_path / "flows").mkdir()
    empty = runner.invoke(flowgen_app, ["check-built"])
    assert empty.exit_code == ExitCode.USAGE
    assert "no instance configs (*.toml) in flows" in empty.stderr
