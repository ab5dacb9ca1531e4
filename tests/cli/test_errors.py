"""The one mapping from what a command raised to a message and an exit code."""

from __future__ import annotations

import json

import pytest
import requests
import typer
from typer.testing import CliRunner

from flowgen.cli.errors import classify, handle_errors
from flowgen.core.errors import ConfigError, InputFileError, InvalidFlowError, UsageError
from flowgen.core.exitcodes import ExitCode


def _app(exc: BaseException | None = None, result: object = None) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @handle_errors
    def run(name: str = "x") -> object:
        """Raise or return what the test asks for."""
        if exc is not None:
            raise exc
        return result

    @app.command()
    def other() -> None:
        """A second command so ``run`` is addressed by name."""

    return app


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (UsageError("bad option"), ExitCode.USAGE),
        (InputFileError("a.json:1:2: malformed JSON: x"), ExitCode.USAGE),
        (ConfigError("flows/x.toml: missing field 'collection'"), ExitCode.USAGE),
        (InvalidFlowError("3 errors"), ExitCode.INVALID),
    ],
)
def test_flowgen_errors_print_their_message_and_exit_with_their_code(
    exc: Exception, code: ExitCode
) -> None:
    result = CliRunner().invoke(_app(exc), ["run"])
    assert result.exit_code == code
    assert result.stderr == f"Error: {exc}\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_returned_exit_code_ends_the_process() -> None:
    assert CliRunner().invoke(_app(result=ExitCode.DIFFERENT), ["run"]).exit_code == 1
    assert CliRunner().invoke(_app(result=ExitCode.OK), ["run"]).exit_code == 0
    assert CliRunner().invoke(_app(result=None), ["run"]).exit_code == 0


def test_os_error_names_the_file() -> None:
    exc = PermissionError(13, "Permission denied", "/root/out.dot")
    result = CliRunner().invoke(_app(exc), ["run"])
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == "Error: /root/out.dot: Permission denied\n"


def test_unexpected_error_asks_for_a_report_without_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLOWGEN_DEBUG", raising=False)
    result = CliRunner().invoke(_app(KeyError("States")), ["run"])
    assert result.exit_code == ExitCode.INTERNAL
    assert "internal error: KeyError: 'States'" in result.stderr
    assert "please report" in result.stderr
    assert "Traceback" not in result.output


def test_debug_shows_the_real_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWGEN_DEBUG", "1")
    result = CliRunner().invoke(_app(KeyError("States")), ["run"])
    assert isinstance(result.exception, KeyError)


def test_typer_usage_errors_keep_typer_handling() -> None:
    result = CliRunner().invoke(_app(), ["run", "--nope"])
    assert result.exit_code == 2
    assert "No such option" in result.stderr


def _globus_error(status: int, message: str) -> Exception:
    import globus_sdk

    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = "application/json"
    response._content = json.dumps({"code": "X", "message": message}).encode()
    response.request = requests.Request("GET", "https://flows.globus.org/flows").prepare()
    return globus_sdk.GlobusAPIError(response)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, ExitCode.AUTH),
        (403, ExitCode.FORBIDDEN),
        (404, ExitCode.NOT_FOUND),
        (409, ExitCode.CONFLICT),
        (422, ExitCode.SERVICE),
        (500, ExitCode.SERVICE),
    ],
)
def test_globus_api_errors_map_by_status(status: int, code: ExitCode) -> None:
    got, message = classify(_globus_error(status, "Flow not found here"))
    assert got is code
    assert f"({status})" in message and "Flow not found here" in message


def test_globus_network_error_is_a_service_error() -> None:
    import globus_sdk

    exc = globus_sdk.GlobusConnectionError("connection refused", ConnectionError("refused"))
    code, message = classify(exc)
    assert code is ExitCode.SERVICE
    assert message.startswith("cannot reach the Globus service")
