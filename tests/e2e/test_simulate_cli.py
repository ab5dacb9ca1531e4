"""``flowgen simulate --hpc-agent``: the FlowCron loop through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from flowgen.cli import _register, app
from hpc_agent import protocol

from .loop import BASE_PATH, FAILING_SCRIPT, HPC, LAPTOP, Loop, make_uow

_register()


def write_inputs(loop: Loop, tmp_path: Path, **extra: object) -> list[str]:
    (tmp_path / "flow.json").write_text(json.dumps(loop.built.definition))
    (tmp_path / "schema.json").write_text(json.dumps(loop.built.input_schema))
    run_input = {"input": {"source": {"id": LAPTOP, "path": "/sample/"}, **extra}}
    (tmp_path / "in.json").write_text(json.dumps(run_input))
    return [
        "simulate",
        str(tmp_path / "flow.json"),
        "--input-schema",
        str(tmp_path / "schema.json"),
        "--input",
        str(tmp_path / "in.json"),
        "--collection",
        f"{LAPTOP}={loop.laptop}",
        "--collection",
        f"{HPC}={loop.hpc_root}",
        "--hpc-agent",
        str(loop.agent.base_dir),
    ]


def test_the_loop_succeeds_and_shows_the_agent_at_work(tmp_path: Path) -> None:
    loop = Loop.create(tmp_path / "world", executor="local")
    uow = make_uow(loop.laptop)
    result = CliRunner().invoke(app, write_inputs(loop, tmp_path, delete=True))
    assert result.exit_code == 0, result.output
    assert "agent: admitted sample_" in result.output
    assert "agent: submitted sample_" in result.output
    assert "agent: handed sample_" in result.output
    assert "SUCCEEDED" in result.output
    assert (uow / "results" / "output.txt").is_file()
    assert list(loop.agent.path(protocol.ANALYSED).iterdir()) == []


def test_a_failed_job_exits_1_and_json_has_the_run_document(tmp_path: Path) -> None:
    loop = Loop.create(tmp_path / "world", executor="local")
    make_uow(loop.laptop, script=FAILING_SCRIPT)
    result = CliRunner().invoke(app, [*write_inputs(loop, tmp_path), "--format", "json"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "FAILED"
    assert f"{BASE_PATH}/{protocol.FAILED}/sample_" in json.dumps(document)


def test_a_directory_that_is_no_instance_is_a_usage_error(tmp_path: Path) -> None:
    loop = Loop.create(tmp_path / "world", executor="local")
    argv = write_inputs(loop, tmp_path)
    argv[-1] = str(tmp_path)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    assert "is not a FlowCron instance" in result.output
