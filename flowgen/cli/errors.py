"""The one place that turns what a command raised into a message and an exit code.

Commands never catch errors themselves: they are wrapped with
:func:`handle_errors`, which prints one clear line on stderr and ends the
process with the :class:`~flowgen.core.exitcodes.ExitCode` that :func:`classify`
picks. Under ``--format json`` (or ``--jmespath``) stdout then holds only the
error as JSON (:func:`hpc_agent.terminal.error_document`), so a script reads
JSON whatever happens. A command may also *return* an ``ExitCode`` (``diff``
returns ``DIFFERENT``) instead of raising. Ctrl-C ends with ``INTERRUPTED``
(130) and a closed stdout with ``CLOSED_PIPE`` (141), never a traceback.
Anything unexpected still gets a short message asking for a report;
``FLOWGEN_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, ParamSpec, TypeVar

import typer

from flowgen.cli.output import wants_json
from flowgen.core.errors import FlowgenError
from flowgen.core.exitcodes import ExitCode

P = ParamSpec("P")
R = TypeVar("R")

DEBUG_ENV = "FLOWGEN_DEBUG"
"""Set to 1 to let unexpected errors show their full traceback."""

_GLOBUS_STATUS = {
    401: ExitCode.AUTH,
    403: ExitCode.FORBIDDEN,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.CONFLICT,
}

# typer's own control flow (--help, bad options, typer.Exit) is already
# mapped by typer and must pass through untouched.
_PASS_THROUGH = (typer.Exit, typer.Abort, typer.TyperException)

INTERRUPTED_MESSAGE = "interrupted (Ctrl-C) before the command finished"
"""What Ctrl-C prints; files flowgen writes are written whole or not at all."""

NO_ANSWER_MESSAGE = (
    "standard input ended before a question was answered: "
    "give the answers as options instead (see --help)"
)
"""What a prompt with no input left (``< /dev/null``, a closed pipe) prints."""


def classify(exc: BaseException) -> tuple[ExitCode, str]:
    """The exit code and the one-line message for an exception a command raised."""
    if isinstance(exc, FlowgenError):
        return exc.exit_code, exc.message
    globus = _classify_globus(exc)
    if globus is not None:
        return globus
    if isinstance(exc, EOFError):
        return ExitCode.USAGE, NO_ANSWER_MESSAGE
    if isinstance(exc, FileExistsError) and exc.filename and not Path(exc.filename).is_dir():
        # mkdir of an output's parent that is a file: "File exists" misleads.
        return ExitCode.USAGE, f"{exc.filename}: is a file, not a directory"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return ExitCode.USAGE, f"{where}{exc.strerror or exc}"
    name = type(exc).__name__
    return (
        ExitCode.INTERNAL,
        f"internal error: {name}: {exc}\n"
        "This is a bug in flowgen; please report it with the command you ran "
        f"(set {DEBUG_ENV}=1 to see the full traceback).",
    )


def _classify_globus(exc: BaseException) -> tuple[ExitCode, str] | None:
    # Matched by class name so that offline commands never import globus_sdk.
    names = {cls.__name__ for cls in type(exc).__mro__ if cls.__module__.startswith("globus_sdk")}
    if "GlobusAPIError" in names:
        status = getattr(exc, "http_status", None)
        code = (
            _GLOBUS_STATUS.get(status, ExitCode.SERVICE)
            if isinstance(status, int)
            else ExitCode.SERVICE
        )
        detail = _service_detail(exc)
        plain = _plain_globus_message(exc, status)
        if plain is not None:
            return code, plain
        hint = "; log in again" if code is ExitCode.AUTH else ""
        return code, f"the Globus service refused the request ({status}): {detail}{hint}"
    if "NetworkError" in names:
        return (
            ExitCode.SERVICE,
            f"cannot reach the Globus service (nothing was changed, files are as they were): {exc}",
        )
    if names & {"TokenValidationError", "MissingTokenError"}:
        return (
            ExitCode.AUTH,
            f"not logged in to Globus, or the login expired: run 'flowgen login' ({exc})",
        )
    return None


def _service_detail(exc: BaseException) -> str:
    # The SDK finds the message in most bodies; the Flows {"error": {...}}
    # shape without "detail" needs the raw body.
    found = getattr(exc, "message", None) or "; ".join(getattr(exc, "messages", []) or [])
    if found:
        return str(found)
    raw = getattr(exc, "raw_json", None)
    error = raw.get("error") if isinstance(raw, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(getattr(exc, "http_reason", "") or exc)


_FLOW_URL = re.compile(r"/flows/([0-9a-fA-F-]{36})(/[a-z_]+)?/?(?:\?.*)?$")


def _plain_globus_message(exc: BaseException, status: object) -> str | None:
    """A message naming what went wrong in the user's terms, for the common refusals."""
    args: tuple[object, ...] = exc.args
    method = str(args[0]) if len(args) > 1 else ""
    url = str(args[1]) if len(args) > 1 else ""
    match = _FLOW_URL.search(url)
    flow_id, action = (match.group(1), match.group(2) or "") if match else ("", "")
    messages = [m for m in getattr(exc, "messages", []) if isinstance(m, str)]
    if status == 401:
        detail = getattr(exc, "message", None) or "expired or revoked"
        return f"Globus did not accept your login (401): {detail}; run 'flowgen login'"
    if status == 403 and action in ("/validate_run", "/run"):
        return (
            f"you may not start flow {flow_id}: you are not one of its starters "
            "(ask the flow's administrator to add you or your group to its Starter role)"
        )
    if status == 403 and flow_id and method in ("PUT", "DELETE") and not action:
        return (
            f"you are not an administrator of flow {flow_id} "
            "(ask its owner to add you to its administrators, or deploy with --recreate)"
        )
    if status == 400 and action in ("/validate_run", "/run"):
        detail = "; ".join(messages) or getattr(exc, "message", "") or "no details"
        return f"the run input is not valid for flow {flow_id}: {detail}"
    if status == 422:
        located = _located_details(getattr(exc, "raw_json", None))
        if located:
            return "the Globus service rejected the request:\n" + "\n".join(
                f"  {line}" for line in located
            )
    return None


def _located_details(raw: object) -> list[str]:
    # A 422 body lists each problem with its location: {"loc": [...], "msg": ...}.
    from flowgen.core.jsonpath import format_path

    error = raw.get("error") if isinstance(raw, dict) else None
    details = error.get("detail") if isinstance(error, dict) else None
    if not isinstance(details, list):
        return []
    lines = []
    for item in details:
        if isinstance(item, dict):
            loc = [s for s in item.get("loc", []) if isinstance(s, str | int)]
            if loc and loc[0] == "body":
                loc = loc[1:]
            where = f"{loc[0]} {format_path(loc[1:])}" if loc else "$"
            lines.append(f"{where}: {item.get('msg', '')}")
    return lines


def handle_errors(command: Callable[P, R]) -> Callable[P, None]:
    """Wrap a command so its errors and returned ``ExitCode`` become the process exit."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        as_json = wants_json(kwargs)
        try:
            result = command(*args, **kwargs)
        except BrokenPipeError:
            # typer would end a closed pipe with exit 1, which means DIFFERENT.
            from hpc_agent.terminal import closed_pipe

            raise typer.Exit(closed_pipe()) from None
        except KeyboardInterrupt:
            fail(ExitCode.INTERRUPTED, INTERRUPTED_MESSAGE, as_json=as_json)
        except typer.Abort as exc:
            # typer.prompt and typer.confirm turn Ctrl-C and an ended stdin
            # into Abort ("Aborted!", exit 1); the cause is kept as context.
            if isinstance(exc.__context__, KeyboardInterrupt | EOFError) and sys.stderr.isatty():
                typer.echo(err=True)  # end the line the question left open
            if isinstance(exc.__context__, KeyboardInterrupt):
                fail(ExitCode.INTERRUPTED, INTERRUPTED_MESSAGE, as_json=as_json)
            if isinstance(exc.__context__, EOFError):
                fail(ExitCode.USAGE, NO_ANSWER_MESSAGE, as_json=as_json)
            raise
        except _PASS_THROUGH:
            raise
        except Exception as exc:
            code, message = classify(exc)
            if code is ExitCode.INTERNAL and os.environ.get(DEBUG_ENV) == "1":
                raise
            fail(code, message, as_json=as_json)
        if isinstance(result, ExitCode) and result is not ExitCode.OK:
            raise typer.Exit(int(result))

    return wrapper


def fail(code: ExitCode, message: str, *, as_json: bool) -> NoReturn:
    """End the command with ``code``: the message on stderr and, under JSON, the error on stdout.

    The stderr line is printed under JSON too, so a person watching a script
    (or a CI log) sees why it stopped while stdout stays one JSON document.
    """
    if as_json:
        from flowgen.core import jsonio
        from hpc_agent.terminal import error_document

        try:
            typer.echo(jsonio.dumps(error_document(code.name, int(code), message)), nl=False)
        except BrokenPipeError:
            from hpc_agent.terminal import closed_pipe

            closed_pipe()
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(int(code))
