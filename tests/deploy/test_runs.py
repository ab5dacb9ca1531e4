"""flowgen run: start (with the service's checks first), status, watch, list, logs, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from flowgen.core.exitcodes import ExitCode
from flowgen.deploy import runs

from .helpers import FLOW_ID, body_of, flows_error, register, sent

pytestmark = pytest.mark.usefixtures("logged_in")
RUN_ID = "1a2b3c4d-0000-4000-8000-00000000beef"
COLLECTION = "6c54cade-bde5-45c1-bdea-f4bd71dba2cc"
BODY = {"input": {"source": {"id": COLLECTION, "path": "/~/uow/"}, "delete": True}}


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr(runs.time, "sleep", waits.append)
    return waits


def start(app: typer.Typer, runner: CliRunner, target: str) -> Any:
    return runner.invoke(
        app,
        ["run", "start", target, "--source", f"{COLLECTION}:/~/uow", "--delete", "--label", "t1"],
    )


def test_start_validates_then_runs_with_the_flowcron_input(
    flowgen_app: typer.Typer, runner: CliRunner, config: Path
) -> None:
    (config.parent / "mycluster.lock.json").write_text(
        json.dumps(
            {
                "version": 1,
                "flow_id": FLOW_ID,
                "environment": "production",
                "title": "t",
                "definition_sha256": "",
                "input_schema_sha256": "",
            }
        )
    )
    register("POST", f"/flows/{FLOW_ID}/validate_run", {"message": "validation successful"})
    register("POST", f"/flows/{FLOW_ID}/run", {"run_id": RUN_ID, "status": "ACTIVE"})
    result = start(flowgen_app, runner, str(config))
    assert result.exit_code == 0, result.output
    validate, run = sent()
    assert validate.url.endswith("/validate_run") and run.url.endswith("/run")
    assert body_of(validate) == body_of(run) == {"body": BODY, "label": "t1"}
    assert f"flowgen run status {RUN_ID} --watch" in result.stdout


def test_start_by_someone_not_a_starter(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    register(
        "POST",
        f"/flows/{FLOW_ID}/validate_run",
        flows_error(403, "FORBIDDEN", "Caller is not a flow starter"),
        status=403,
    )
    result = start(flowgen_app, runner, FLOW_ID)
    assert result.exit_code == ExitCode.FORBIDDEN
    assert f"you may not start flow {FLOW_ID}: you are not one of its starters" in result.stderr
    assert len(sent()) == 1


def test_start_with_input_the_flow_rejects(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    detail = [{"loc": ["body", "input"], "msg": "'source' is a required property"}]
    register(
        "POST",
        f"/flows/{FLOW_ID}/validate_run",
        flows_error(400, "FLOW_INPUT_ERROR", "bad input", detail),
        status=400,
    )
    result = start(flowgen_app, runner, FLOW_ID)
    assert result.exit_code == ExitCode.SERVICE
    assert "the run input is not valid" in result.stderr
    assert "'source' is a required property" in result.stderr
    assert not [r for r in sent() if r.url.endswith("/run")]


def test_bad_source_is_refused_before_any_request(
    flowgen_app: typer.Typer, runner: CliRunner
) -> None:
    result = runner.invoke(flowgen_app, ["run", "start", FLOW_ID, "--source", "laptop:/uow/"])
    assert result.exit_code == ExitCode.USAGE
    assert "COLLECTION_UUID:/path/to/uow/" in result.stderr
    assert sent() == []


def _run(status: str, **extra: Any) -> dict[str, Any]:
    return {"run_id": RUN_ID, "flow_id": FLOW_ID, "status": status, "label": "t1", **extra}


def _log(state: str) -> dict[str, Any]:
    return {
        "entries": [
            {
                "time": "2026-01-01T00:00:00Z",
                "code": "ActionStarted",
                "description": "started",
                "details": {"state_name": state},
            }
        ],
        "has_next_page": False,
    }


def test_status_shows_state_and_step(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    register("GET", f"/runs/{RUN_ID}", _run("ACTIVE"))
    register("GET", f"/runs/{RUN_ID}/log", _log("Poll"))
    result = runner.invoke(flowgen_app, ["run", "status", RUN_ID])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{RUN_ID} ACTIVE at Poll"


def _register_a_run_to_success() -> None:
    """A run seen ACTIVE twice, then SUCCEEDED, its log at Upload, Poll, then Download."""
    for status in ("ACTIVE", "ACTIVE", "SUCCEEDED"):
        register("GET", f"/runs/{RUN_ID}", _run(status))
    for state in ("Upload", "Poll", "Download"):
        register("GET", f"/runs/{RUN_ID}/log", _log(state))


def test_watch_follows_until_succeeded(
    flowgen_app: typer.Typer, runner: CliRunner, no_waiting: list[float]
) -> None:
    _register_a_run_to_success()
    result = runner.invoke(flowgen_app, ["run", "status", RUN_ID, "--watch"])
    assert result.exit_code == 0, result.output
    assert f"{RUN_ID} ACTIVE at Upload" in result.stderr
    assert f"{RUN_ID} SUCCEEDED at Download" in result.stderr
    assert no_waiting == [2.0, 3.0]


def test_watch_on_a_terminal_rewrites_one_status_line(
    flowgen_app: typer.Typer,
    runner: CliRunner,
    no_waiting: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As on a terminal (the runner's stderr is not one): one line, rewritten in place
    # at each change, then ended so the shell prompt starts on its own line.
    from hpc_agent import terminal

    monkeypatch.setattr(terminal, "live_updates", lambda stream=None: True)
    _register_a_run_to_success()
    result = runner.invoke(flowgen_app, ["run", "status", RUN_ID, "--watch"])
    assert result.exit_code == 0, result.output
    clear = "\r\x1b[K"
    assert result.stderr.startswith(f"{clear}{RUN_ID} ACTIVE at Upload")
    assert f"{clear}{RUN_ID} ACTIVE at Poll{clear}{RUN_ID} SUCCEEDED at Download" in result.stderr
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1


def test_watch_exits_1_when_the_run_failed(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    register("GET", f"/runs/{RUN_ID}", _run("FAILED", details={"description": "job failed"}))
    register("GET", f"/runs/{RUN_ID}/log", _log("JobFailed"))
    result = runner.invoke(flowgen_app, ["run", "status", RUN_ID, "--watch"])
    assert result.exit_code == ExitCode.DIFFERENT
    assert "FAILED at JobFailed: job failed" in result.stderr


def test_watch_stops_at_inactive_and_says_how_to_resume(
    flowgen_app: typer.Typer, runner: CliRunner
) -> None:
    register("GET", f"/runs/{RUN_ID}", _run("INACTIVE"))
    register("GET", f"/runs/{RUN_ID}/log", _log("Upload"))
    result = runner.invoke(flowgen_app, ["run", "status", RUN_ID, "--watch"])
    assert result.exit_code == ExitCode.AUTH
    assert f"flowgen run resume {RUN_ID}" in result.stderr


def test_watch_has_a_deadline(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    register("GET", f"/runs/{RUN_ID}", _run("ACTIVE"))
    register("GET", f"/runs/{RUN_ID}/log", _log("Poll"))
    result = runner.invoke(flowgen_app, ["run", "status", RUN_ID, "--watch", "--timeout", "10"])
    assert result.exit_code == ExitCode.STILL_RUNNING
    assert "still ACTIVE after 10 s" in result.stderr


def test_backoff_grows_to_its_cap_and_stops_at_the_deadline() -> None:
    waits = list(runs.Backoff(initial=2, growth=2, cap=5, deadline=20).waits())
    assert waits == [2, 4, 5, 5]


def test_list_and_logs(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    register(
        "GET",
        "/runs",
        {
            "runs": [
                _run("SUCCEEDED", start_time="2026-01-01T00:00:00Z"),
                _run(
                    "ACTIVE",
                    run_id="2a2b3c4d-0000-4000-8000-00000000beef",
                    start_time="2026-01-02T00:00:00Z",
                ),
            ],
            "has_next_page": False,
        },
    )
    result = runner.invoke(flowgen_app, ["run", "list", "--flow", FLOW_ID])
    assert result.exit_code == 0, result.output
    assert f"filter_flow_id={FLOW_ID}" in sent()[0].url
    lines = result.stdout.splitlines()
    assert lines[0].startswith("2a2b3c4d") and lines[1].startswith(RUN_ID)

    register("GET", f"/runs/{RUN_ID}/log", _log("Upload"))
    result = runner.invoke(flowgen_app, ["run", "logs", RUN_ID])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2026-01-01T00:00:00Z  ActionStarted  Upload  started"


def test_resume(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    register("GET", f"/runs/{RUN_ID}", _run("INACTIVE"))
    register("POST", f"/runs/{RUN_ID}/resume", _run("ACTIVE"))
    result = runner.invoke(flowgen_app, ["run", "resume", RUN_ID])
    assert result.exit_code == 0, result.output
    assert f"resumed run {RUN_ID} (ACTIVE)" in result.stdout
    assert sent("POST")[0].url.endswith(f"/runs/{RUN_ID}/resume")
