"""``flowgen simulate`` through the real command line (typer's CliRunner)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowgen.cli import _register, app

from .support import HPC, LAPTOP

FLOWS = Path(__file__).parent / "flows"
_register()


@pytest.fixture
def files(tmp_path: Path, laptop: Path, hpc: Path) -> Path:
    (laptop / "data").mkdir()
    (laptop / "data" / "x.txt").write_text("x")
    run_input = {
        "source": {"id": LAPTOP, "path": "/data/"},
        "destination": {"id": HPC, "path": "/in/"},
    }
    (tmp_path / "input.json").write_text(json.dumps(run_input))
    schema = {"type": "object", "required": ["source", "destination"]}
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    return tmp_path


def args(files: Path, *extra: str) -> list[str]:
    return [
        "simulate",
        str(FLOWS / "simple_transfer.json"),
        "--input",
        str(files / "input.json"),
        "--collection",
        f"{LAPTOP}={files / 'laptop'}",
        "--collection",
        f"{HPC}={files / 'hpc'}",
        *extra,
    ]


def test_text_run_succeeds_with_progress_when_verbose(files: Path) -> None:
    schema = ["--input-schema", str(files / "schema.json")]
    result = CliRunner().invoke(app, args(files, *schema, "--verbose"))
    assert result.exit_code == 0, result.output
    assert "+00:00:00  Transfer  (Action)" in result.output
    assert "SUCCEEDED after 1 state, 00:00:01 of flow time (1 action call" in result.output
    assert (files / "hpc/in/x.txt").read_text() == "x"
    quiet = CliRunner().invoke(app, args(files, *schema))
    assert quiet.exit_code == 0, quiet.output
    assert "(Action)" not in quiet.output
    assert "SUCCEEDED after 1 state" in quiet.output


def test_json_run_document(files: Path) -> None:
    result = CliRunner().invoke(
        app,
        args(
            files, "--format", "json", "--context", "run_id=r-42", "--context", "token_info.exp=9"
        ),
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["status"], doc["run_id"]) == ("SUCCEEDED", "r-42")
    assert doc["stats"]["action_calls"] == {"https://transfer.actions.globus.org/transfer": 1}
    assert doc["stats"]["states_executed"] == 1
    assert doc["stats"]["elapsed_seconds"] == 1
    assert [e["code"] for e in doc["log"]][-1] == "FlowSucceeded"
    assert doc["details"]["output"]["TransferResult"]["details"]["label"] == "Transfer for run r-42"


def test_failed_run_exits_1(files: Path) -> None:
    (files / "input.json").write_text(
        json.dumps(
            {"source": {"id": LAPTOP, "path": "/none/"}, "destination": {"id": HPC, "path": "/in/"}}
        )
    )
    result = CliRunner().invoke(app, args(files))
    assert result.exit_code == 1
    assert "FAILED" in result.output
    assert "FILE_NOT_FOUND" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--collection", "nodir"], "expected UUID=DIR"),
        (["--collection", f"{LAPTOP}=/does/not/exist"], "not an existing directory"),
        (["--context", "nope"], "expected key=value"),
        (["--context", "bogus=1"], "unknown _context key"),
        (["--real-time", "0"], "real_time_speed must be positive"),
    ],
)
def test_usage_errors_exit_2(files: Path, extra: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args(files, *extra))
    assert result.exit_code == 2
    assert message in result.output


def test_input_failing_the_schema_exits_2_listing_problems(files: Path) -> None:
    (files / "input.json").write_text("{}")
    result = CliRunner().invoke(app, args(files, "--input-schema", str(files / "schema.json")))
    assert result.exit_code == 2
    assert "Input failed schema validation with 2 errors." in result.output
    assert "'destination' is a required property" in result.output


def test_max_states_stops_a_loop(tmp_path: Path) -> None:
    loop = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "Next": "W"}}}
    (tmp_path / "loop.json").write_text(json.dumps(loop))
    (tmp_path / "in.json").write_text("{}")
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            str(tmp_path / "loop.json"),
            "--input",
            str(tmp_path / "in.json"),
            "--max-states",
            "20",
        ],
    )
    assert result.exit_code == 1
    assert "States.StateLimitExceeded" in result.output


def test_simulate_does_not_import_globus_sdk(files: Path) -> None:
    code = (
        "import sys\n"
        "from flowgen.cli import main\n"
        f"sys.argv = {['flowgen', *args(files)]!r}\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'globus_sdk' not in sys.modules, 'globus_sdk was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
