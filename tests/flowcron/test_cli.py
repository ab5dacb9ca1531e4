"""``flowgen init`` and ``flowgen build`` through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowgen.cli import _register, app
from flowgen.flowcron.config import load_config

_register()
runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
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
    assert "What do your users call the HPC" not in result.output
    assert out.read_text() == "keep me"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--name", "bask"], "--hpc-name is required"),
        (
            [*FLAGS[:4], "--collection", "nope", "--base-path", "/x"],
            "--collection: must be a collection UUID",
        ),
        ([*FLAGS[:6], "--base-path", "/x/../y"], "--base-path: must be a plain absolute path"),
        (["--name", "cryo em"], "--name: 'cryo em' contains ' '; use 1 to 64 letters"),
        (
            [*FLAGS, "--initial-wait", "600", "--max-wait", "300"],
            "--max-wait: must be at least --initial-wait (600 seconds), got 300",
        ),
        (
            [*FLAGS, "--max-wait", "900", "--deadline", "600"],
            "--deadline: must be at least --max-wait (900 seconds), got 600",
        ),
        ([*FLAGS, "--transfer-wait", "0"], "--transfer-wait: must be a whole number of seconds"),
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


def test_every_question_is_a_full_question_with_units_and_an_example(tmp_path: Path) -> None:
    answers = "bask\nBaskerville\n" + UUID + "\n/bask/x\n" + "\n" * 5
    result = runner.invoke(app, ["init", "-o", str(tmp_path / "c.toml")], input=answers)
    assert result.exit_code == 0, result.output
    for question in (
        "What is the instance's name, as given to 'hpc-agent setup --name' (e.g. cryo.em-lab)? ",
        "(at most 40 characters, e.g. Baskerville)? ",
        "What is the UUID of the HPC's Globus collection (shown on app.globus.org",
        "('pwd -P' in the instance directory, e.g. /bask/projects/x/flowcron)? ",
        "How many seconds should the flow wait before its first check on the job? [30] ",
        "1.15 makes each 15% longer)? [1.15] ",
        "in seconds (at least the first wait, e.g. 1800 = 30 minutes)? [1800] ",
        "(at least the longest wait, e.g. 604800 = 7 days)? [604800] ",
        "before the flow gives up on it (e.g. 172800 = 2 days)? [172800] ",
    ):
        assert question in result.output


def test_waits_that_contradict_an_earlier_answer_are_asked_again_at_once(tmp_path: Path) -> None:
    answers = [
        *("bask", "Baskerville", UUID, "/bask/x"),
        "600",  # first wait
        "",  # growth: default
        "300",  # longest wait: shorter than the first, asked again
        "900",
        "600",  # deadline: shorter than the longest wait, asked again
        "86400",
        "",  # transfer wait: default
    ]
    out = tmp_path / "bask.toml"
    result = runner.invoke(app, ["init", "-o", str(out)], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "must be at least --initial-wait (600 seconds), got 300; please try again." in (
        result.output
    )
    assert "must be at least --max-wait (900 seconds), got 600; please try again." in result.output
    assert result.output.count("What is the longest the flow should wait between two checks") == 2
    assert result.output.count("should the flow give up on the job") == 2
    polling = load_config(out).polling
    assert (polling.initial_wait, polling.max_wait, polling.deadline) == (600, 900, 86400)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["--initial-wait", "3600"], (3600, 3600, 604800)),
        (["--max-wait", "700000"], (30, 700000, 700000)),
    ],
)
def test_defaults_that_an_earlier_answer_rules_out_are_raised_to_fit(
    tmp_path: Path, given: list[str], expected: tuple[int, int, int]
) -> None:
    out = tmp_path / "c.toml"
    result = runner.invoke(app, ["init", *FLAGS, *given, "--no-input", "-o", str(out)])
    assert result.exit_code == 0, result.output
    polling = load_config(out).polling
    assert (polling.initial_wait, polling.max_wait, polling.deadline) == expected


@pytest.mark.parametrize("path", ["/bask/x/", "/bask/x//"])
def test_a_trailing_slash_on_the_base_path_is_dropped(tmp_path: Path, path: str) -> None:
    flag_out, typed_out = tmp_path / "flag.toml", tmp_path / "typed.toml"
    flags = [*FLAGS[:6], "--base-path", path, "--no-input", "-o", str(flag_out)]
    assert runner.invoke(app, ["init", *flags]).exit_code == 0
    answers = f"bask\nBaskerville\n{UUID}\n{path}\n" + "\n" * 5
    result = runner.invoke(app, ["init", "-o", str(typed_out)], input=answers)
    assert result.exit_code == 0, result.output
    assert "please try again" not in result.output
    assert load_config(flag_out).base_path == load_config(typed_out).base_path == "/bask/x"


def test_setup_then_init_accept_the_same_dotted_name(tmp_path: Path) -> None:
    """The PI's path in the README: set up on the HPC, copy the file over, init, build."""
    base = tmp_path / "project" / "flowcron"
    base.mkdir(parents=True)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
    setup = subprocess.run(
        [
            *(sys.executable, "-m", "hpc_agent", "setup", "--base-dir", str(base)),
            *("--name", "cryo.em-lab", "--executor", "local", "--schedule", "none", "--yes"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**env, "HOME": str(home), "PYTHONPATH": str(REPO)},
        timeout=60,
        check=False,
    )
    assert setup.returncode == 0, setup.stderr
    assert "instance name: cryo.em-lab" in setup.stdout

    config = tmp_path / "flows" / "cryo.em-lab.toml"
    init = runner.invoke(
        app,
        [
            *("init", "--from", str(base / "flowcron-instance.toml")),
            *("--hpc-name", "Baskerville", "--collection", UUID, "--no-input", "-o", str(config)),
        ],
    )
    assert init.exit_code == 0, init.output
    cfg = load_config(config)
    assert (cfg.name, cfg.base_path) == ("cryo.em-lab", str(base.resolve()))
    build = runner.invoke(app, ["build", str(config), "-o", str(tmp_path / "out")])
    assert build.exit_code == 0, build.output
    assert (tmp_path / "out" / "FlowCron-cryo.em-lab_definition.json").is_file()


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
