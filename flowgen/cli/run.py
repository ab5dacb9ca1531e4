"""``flowgen run``: start a run of a deployed flow and follow it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import (
    FormatOption,
    JmespathOption,
    OutputFormat,
    display,
    effective_format,
    note,
)
from flowgen.cli.progress import LiveLine
from flowgen.core.exitcodes import ExitCode

run_app = typer.Typer(
    name="run",
    help=(
        "Start runs of a deployed flow, follow them, read their logs.\n\n"
        "\b\nExample: flowgen run list --flow flows/mycluster.toml"
    ),
    no_args_is_help=True,
)
app.add_typer(run_app)

_FLOW_HELP = "A flow id, or the instance config whose lock file names the flow."


def _status_line(status: dict[str, Any]) -> str:
    step = f" at {status['step']}" if status.get("step") else ""
    details = f": {status['details']}" if status.get("details") else ""
    return f"{status['run_id']} {status['status']}{step}{details}"


@run_app.command("start")
@handle_errors
def start(
    flow: Annotated[str, typer.Argument(help=_FLOW_HELP, metavar="CONFIG|FLOW_ID")],
    source: Annotated[
        str,
        typer.Option("--source", help="The Unit of Work folder: COLLECTION_UUID:/path/to/uow/."),
    ],
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete the HPC copy once the results are back.")
    ] = False,
    label: Annotated[str | None, typer.Option("--label", help="A label for the run.")] = None,
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> None:
    """Start a FlowCron run on a Unit of Work folder.

    The service first checks the input and that you may start the flow
    (you are in its Starter group); then the run starts. Follow it with
    'flowgen run status RUN_ID --watch'.

    \b
    Example: flowgen run start flows/mycluster.toml --source 6c54cade-bde5-45c1-bdea-f4bd71dba2cc:/~/my_analysis/ --label test
    """
    from flowgen.deploy.auth import open_session
    from flowgen.deploy.runs import flowcron_input, resolve_flow_id, start_run

    flow_id = resolve_flow_id(flow)
    body = flowcron_input(source, delete=delete)
    run = start_run(open_session(allow_login_prompt=True), flow_id, body, label=label)
    display(
        run,
        fmt,
        f"started run {run['run_id']} ({run.get('status')})\n"
        f"follow it with: flowgen run status {run['run_id']} --watch",
        jmespath=jmespath,
    )


@run_app.command("status")
@handle_errors
def status(
    run_id: Annotated[str, typer.Argument(help="The run's id.", show_default=False)],
    watch: Annotated[
        bool, typer.Option("--watch", help="Follow the run until it ends; exit by outcome.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="With --watch: give up after this many seconds.")
    ] = 24 * 3600.0,
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> ExitCode:
    """Show a run's state and current step; --watch follows it until it ends.

    With --watch the command exits 0 when the run SUCCEEDED, 1 when it
    FAILED, and 4 when it waits for your consent (INACTIVE; it prints what
    to do and how to resume).

    \b
    Example: flowgen run status 1a2b3c4d-0000-4000-8000-00000000beef --watch
    """
    from flowgen.deploy.auth import open_session
    from flowgen.deploy.runs import Backoff, inactive_hint, outcome, run_status, watch_run

    fmt = effective_format(fmt, jmespath)
    client = open_session().flows()
    if watch:
        live = LiveLine()
        # On a terminal one status line, rewritten in place; elsewhere a line per change.
        show = live.show if live.enabled else note
        try:
            report = watch_run(
                client,
                run_id,
                backoff=Backoff(deadline=timeout),
                on_update=lambda s: show(_status_line(s)) if fmt is OutputFormat.TEXT else None,
            )
        finally:
            live.close()
    else:
        report = run_status(client, run_id)
    display(report, fmt, "" if watch else _status_line(report), jmespath=jmespath)
    if report["status"] == "INACTIVE":
        note(inactive_hint(run_id))
    return outcome(report) if watch else ExitCode.OK


@run_app.command("resume")
@handle_errors
def resume(
    run_id: Annotated[str, typer.Argument(help="The run's id.", show_default=False)],
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> None:
    """Resume a run that waited (INACTIVE), asking for the missing consent first.

    \b
    Example: flowgen run resume 1a2b3c4d-0000-4000-8000-00000000beef
    """
    from flowgen.deploy.auth import open_session
    from flowgen.deploy.runs import resume_run

    run = resume_run(open_session(allow_login_prompt=True), run_id)
    display(run, fmt, f"resumed run {run['run_id']} ({run.get('status')})", jmespath=jmespath)


@run_app.command("list")
@handle_errors
def list_(
    flow: Annotated[
        str | None, typer.Option("--flow", help=_FLOW_HELP, metavar="CONFIG|FLOW_ID")
    ] = None,
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> None:
    """List your runs, newest first (of one flow with --flow).

    \b
    Example: flowgen run list --flow flows/mycluster.toml
    """
    from flowgen.deploy.auth import open_session
    from flowgen.deploy.runs import list_runs, resolve_flow_id

    flow_id = resolve_flow_id(flow) if flow else None
    runs = list_runs(open_session().flows(), flow_id)
    display(
        runs,
        fmt,
        "\n".join(
            f"{r['run_id']}  {r['status']:<9}  {r['start_time'] or '-'}  {r['label'] or ''}"
            for r in runs
        ),
        jmespath=jmespath,
    )


@run_app.command("logs")
@handle_errors
def logs(
    run_id: Annotated[str, typer.Argument(help="The run's id.", show_default=False)],
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> None:
    """Print a run's log, oldest entry first.

    \b
    Example: flowgen run logs 1a2b3c4d-0000-4000-8000-00000000beef
    """
    from flowgen.deploy.auth import open_session
    from flowgen.deploy.runs import run_logs

    entries = run_logs(open_session().flows(), run_id)
    display(
        entries,
        fmt,
        "\n".join(
            f"{e['time']}  {e['code']}  {e['state'] or ''}  {e['description'] or ''}".rstrip()
            for e in entries
        ),
        jmespath=jmespath,
    )
