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
    # Without --verbose only the agent's events show, at their flow time.
    assert "+00:01:00  agent: admitted sample_" in result.output
    assert "(Action)" not in result.output
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


def test_context_username_names_the_starter_in_the_report(tmp_path: Path) -> None:
    loop = Loop.create(tmp_path / "world", executor="local")
    uow = make_uow(loop.laptop)
    argv = [*write_inputs(loop, tmp_path), "--context", "username=ada@uni.example.org"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    report = json.loads((uow / protocol.REPORT_JSON).read_text())
    assert report["user"] == "ada@uni.example.org"
    assert not (uow / protocol.STARTER_DIR).exists()


def test_a_directory_that_is_no_instance_is_a_usage_error(tmp_path: Path) -> None:
    loop = Loop.create(tmp_path / "world", executor="local")
    argv = write_inputs(loop, tmp_path)
    argv[-1] = str(tmp_path)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    assert "is not a FlowCron instance" in result.output


def _mapping(argv: list[str], uuid: str, directory: Path) -> list[str]:
    """``argv`` with the ``--collection`` of ``uuid`` mapped to ``directory`` instead."""
    at = argv.index(next(a for a in argv if a.startswith(f"{uuid}=")))
    return [*argv[:at], f"{uuid}={directory}", *argv[at + 1 :]]


def test_an_instance_no_collection_holds_is_refused_before_the_run(tmp_path: Path) -> None:
    loop = Loop.create(tmp_path / "world", executor="local")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    argv = _mapping(write_inputs(loop, tmp_path), HPC, elsewhere)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "no --collection directory holds this agent instance" in result.output
    assert f"--collection {HPC}={loop.hpc_root.resolve()}" in result.output
    assert "LookUpSource" not in result.output and "agent:" not in result.output


def test_an_instance_held_by_another_collection_is_refused(tmp_path: Path) -> None:
    loop = Loop.create(tmp_path / "world", executor="local")
    argv = _mapping(write_inputs(loop, tmp_path), HPC, tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir()
    argv = _mapping(argv, LAPTOP, tmp_path)  # the laptop now holds the instance
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert f"the flow's Transfer actions use collection {HPC}, but the --collection" in (
        result.output
    )


def test_a_base_path_that_lands_beside_the_instance_is_refused(tmp_path: Path) -> None:
    # Rooted at /, the flow's base path /project/flowcron is the real
    # /project/flowcron, not the instance under the test's HPC directory.
    loop = Loop.create(tmp_path / "world", executor="local")
    argv = _mapping(write_inputs(loop, tmp_path), HPC, Path("/"))
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert f"the flow uploads into {BASE_PATH}/{protocol.UPLOADED}/ on collection {HPC}" in (
        result.output
    )
    assert f"which is {BASE_PATH} here, not the agent instance" in result.output
    assert f"use --collection {HPC}={loop.hpc_root.resolve()} so that" in result.output


def test_a_base_path_that_reaches_the_instance_through_a_symlink_is_accepted(
    tmp_path: Path,
) -> None:
    # As on macOS (/tmp -> /private/tmp), or a site's link inside the collection.
    loop = Loop.create(tmp_path / "world", executor="local")
    project = loop.hpc_root / BASE_PATH.lstrip("/").split("/")[0]
    real = project.with_name("real-project")
    project.rename(real)
    project.symlink_to(real.name)
    make_uow(loop.laptop)
    argv = write_inputs(loop, tmp_path)
    argv[-1] = str(real / "flowcron")
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
