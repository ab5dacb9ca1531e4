"""``flowgen init`` and ``flowgen build`` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowgen.cli import _register, app
from flowgen.flowcron.config import load_config

_register()
runner = CliRunner()
UUID = "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"
FLAGS = [
    "--name",
    "bask",
    "--hpc-name",
    "Baskerville",
    "--collection",
    UUID,
    "--base-path",
    "/bask/x",
]


def test_init_with_flags_and_no_input(tmp_path: Path) -> None:
    out = tmp_path / "bask.toml"
    result = runner.invoke(app, ["init", *FLAGS, "--no-input", "-o", str(out)])
    assert result.exit_code == 0, result.output
    cfg = load_config(out)
    assert (cfg.name, cfg.base_path, cfg.polling.initial_wait) == ("bask", "/bask/x", 30)


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "bask.toml"
    out.write_text("keep me")
    result = runner.invoke(app, ["init", *FLAGS, "--no-input", "-o", str(out)])
    assert result.exit_code == 2
    assert "exists already" in result.output
    assert out.read_text() == "keep me"


def test_init_refuses_an_existing_file_before_asking_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "bask.toml"
    out.write_text("keep me")
    result = runner.invoke(app, ["init", "-o", str(out)], input="bask\n")
    assert result.exit_code == 2
    assert "exists already" in result.output
    assert "Hpc name" not in result.output
    assert out.read_text() == "keep me"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--name", "bask"], "--hpc-name is required"),
        (
            [*FLAGS[:4], "--collection", "nope", "--base-path", "/x"],
            "--collection: must be a collection UUID",
        ),
        ([*FLAGS[:6], "--base-path", "/x/"], "--base-path: must not end with '/'"),
        ([*FLAGS, "--growth", "0.5"], "--growth: must be between 1 and 10"),
    ],
)
def test_init_no_input_errors_exit_2(tmp_path: Path, flags: list[str], message: str) -> None:
    result = runner.invoke(app, ["init", *flags, "--no-input", "-o", str(tmp_path / "c.toml")])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "c.toml").exists()


def test_init_asks_again_with_the_reason(tmp_path: Path) -> None:
    answers = "bask\nBaskerville\nnot-a-uuid\n" + UUID + "\nrelative\n/bask/x\n\n\n\n\n\n"
    out = tmp_path / "bask.toml"
    result = runner.invoke(app, ["init", "-o", str(out)], input=answers)
    assert result.exit_code == 0, result.output
    assert "must be a collection UUID" in result.output
    assert "must be an absolute path" in result.output
    assert load_config(out).collection == UUID


def test_init_from_agent_file(tmp_path: Path) -> None:
    agent = tmp_path / "flowcron-instance.toml"
    agent.write_text('name = "bask"\nbase_path = "/bask/projects/x"\n')
    out = tmp_path / "c.toml"
    result = runner.invoke(
        app,
        [
            "init",
            "--from",
            str(agent),
            "--hpc-name",
            "B",
            "--collection",
            UUID,
            "--no-input",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert load_config(out).base_path == "/bask/projects/x"


def test_build_writes_the_original_file_names(tmp_path: Path) -> None:
    config = tmp_path / "bask.toml"
    assert runner.invoke(app, ["init", *FLAGS, "--no-input", "-o", str(config)]).exit_code == 0
    result = runner.invoke(
        app, ["build", str(config), "-o", str(tmp_path / "out"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert Path(report["definition"]).name == "FlowCron-bask_definition.json"
    assert Path(report["input_schema"]).name == "FlowCron-bask_input_schema.json"
    assert json.loads(Path(report["definition"]).read_text())["StartAt"] == "LookUpSource"


def test_build_reports_a_missing_field(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('name = "x"\nhpc_name = "H"\n')
    result = runner.invoke(app, ["build", str(config), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "field 'collection': missing" in result.output
    assert not (tmp_path / "out").exists()
