"""``flowgen simulate``: run a flow locally against directories standing in for collections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import FormatOption, OutputFormat, display
from flowgen.errors import UsageError
from flowgen.exitcodes import RUN_FAILED, ExitCode

# The defaults of flowgen.simulate.agent (a test checks they agree); not imported
# from there because that would load the simulator and the agent for every command.
DEFAULT_TICK_EVERY = 60.0
DEFAULT_HOLD_LIMIT = 3600.0

if TYPE_CHECKING:
    from flowgen.simulate import LogEntry, RunResult
    from flowgen.simulate.agent import AgentEvent


def parse_collection(text: str) -> tuple[str, Path]:
    """Parse ``UUID=DIR``; the directory must exist."""
    uuid, sep, directory = text.partition("=")
    if not sep or not uuid or not directory:
        raise UsageError(
            f"--collection {text!r}: expected UUID=DIR, e.g. --collection 1234...=./laptop"
        )
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise UsageError(f"--collection {text!r}: {path} is not an existing directory")
    return uuid.strip(), path


def parse_context(items: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` pairs (``token_info.exp=...`` sets one token field).

    Values that are JSON lists, objects or numbers are parsed; anything else
    is a string.
    """
    context: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(
                f"--context {item!r}: expected key=value, e.g. --context username=me@uni.edu"
            )
        value: Any = raw
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, list | dict | int | float) and not isinstance(parsed, bool):
            value = parsed
        head, _, sub = key.partition(".")
        if sub:
            if head != "token_info":
                raise UsageError(f"--context {item!r}: only token_info has sub-fields")
            context.setdefault("token_info", {})[sub] = value
        else:
            context[key] = value
    return context


def _elapsed(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{secs:02d}"


def _progress(start: list[Any]) -> Any:
    def show(entry: LogEntry) -> None:
        if not start:
            start.append(entry.time)
        if entry.code.endswith("Started") and entry.code != "FlowStarted":
            offset = (entry.time - start[0]).total_seconds()
            details = entry.details
            typer.echo(f"+{_elapsed(offset)}  {details['state_name']}  ({details['state_type']})")

    return show


def _agent_progress(start: list[Any]) -> Any:
    def show(event: AgentEvent) -> None:
        offset = (event.time - start[0]).total_seconds() if start else 0.0
        typer.echo(f"+{_elapsed(offset)}  agent: {event.message}")

    return show


def _summary(result: RunResult) -> str:
    stats = result.stats
    lines = [
        f"{result.status} after {stats.states_executed} states, "
        f"{_elapsed(stats.elapsed_seconds)} of flow time "
        f"({sum(stats.action_calls.values())} action calls, {stats.wall_seconds:.2f}s wall)"
    ]
    if not result.succeeded:
        lines.append(f"Failed in state {result.failed_state!r}: {result.error}: {result.cause}")
    lines.append("Output:")
    lines.append(json.dumps(result.document()["details"]["output"], indent=2))
    return "\n".join(lines)


@app.command()
@handle_errors
def simulate(
    definition: Annotated[
        Path,
        typer.Argument(
            help="The flow: a definition file, a flowgen build directory or an instance config.",
            show_default=False,
        ),
    ],
    input_file: Annotated[
        Path, typer.Option("--input", help="The run input (a JSON file).", show_default=False)
    ],
    collection: Annotated[
        list[str] | None,
        typer.Option(
            "--collection",
            help="UUID=DIR: simulate collection UUID with local directory DIR (repeatable).",
        ),
    ] = None,
    input_schema: Annotated[
        Path | None,
        typer.Option("--input-schema", help="Validate the input against this JSON Schema first."),
    ] = None,
    real_time: Annotated[
        float | None,
        typer.Option(
            "--real-time",
            help="Let flow time follow the wall clock FACTOR times faster (default: virtual time).",
            metavar="FACTOR",
        ),
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option(
            "--context",
            help="key=value for $._context (flow_id, run_id, username, email, user_id, "
            "identities, token_info.exp, ...), repeatable.",
        ),
    ] = None,
    max_states: Annotated[
        int, typer.Option("--max-states", help="Stop a run after this many states.", min=1)
    ] = 10_000,
    hpc_agent: Annotated[
        str | None,
        typer.Option(
            "--hpc-agent",
            help="Run the HPC agent's tick for this instance (base directory or name) "
            "while the flow waits.",
            metavar="INSTANCE_DIR",
        ),
    ] = None,
    tick_every: Annotated[
        float,
        typer.Option(
            "--tick-every", help="Simulated seconds between agent ticks.", metavar="SECONDS"
        ),
    ] = DEFAULT_TICK_EVERY,
    hold_limit: Annotated[
        float,
        typer.Option(
            "--hold-limit",
            help="Real seconds flow time may stand still waiting for the agent's jobs.",
            metavar="SECONDS",
        ),
    ] = DEFAULT_HOLD_LIMIT,
    fmt: FormatOption = OutputFormat.TEXT,
) -> ExitCode:
    """Run a flow locally, with local directories standing in for Globus collections.

    The Transfer action providers (transfer, delete, mkdir, ls, stat,
    collection_info, manage_permission) work on the directories given with
    --collection; Waits and polling use virtual time, so a flow that waits a
    day finishes at once. The run input is checked against the input schema
    first. Text output shows each state as it starts and the final status and
    output; --format json prints the run document with the log, the action
    calls per ActionUrl, the states executed and the elapsed flow time. The
    command exits with 0 when the run SUCCEEDED, 1 when it FAILED and 2 on a
    usage error (including input that fails the schema).

    With --hpc-agent the HPC agent's tick runs for that instance every
    --tick-every seconds of flow time: the whole FlowCron loop on one machine
    (map the HPC collection to the directory its base path lives in, or to
    /). While the agent's jobs run, flow time stands still, so the flow never
    runs ahead of a real job; past --hold-limit real seconds the command stops
    with exit code 1. With --real-time flow time follows the clock instead.

    Example: flowgen simulate flow.json --input input.json
    --collection 6c54cade-bde5-45c1-bdea-f4bd71dba2cc=./laptop

    Example: flowgen simulate flows/example.toml --input in.json
    --collection 6c54cade-bde5-45c1-bdea-f4bd71dba2cc=./laptop
    --collection 5e1d7a3c-0b8f-4d2a-9c61-3f0e2b7d4a10=/ --hpc-agent /srv/flowcron/example
    """
    from flowgen import jsonio
    from flowgen.flowdocs import load_flow_docs
    from flowgen.simulate import Simulator, SimulatorOptions
    from flowgen.simulate.agent import AgentDriver, load_agent_instance

    docs = load_flow_docs(definition, input_schema)
    run_input = jsonio.load(input_file)
    collections = dict(parse_collection(c) for c in collection or [])
    try:
        options = SimulatorOptions(max_states=max_states, real_time_speed=real_time)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    start: list[Any] = []
    listener = _progress(start) if fmt is OutputFormat.TEXT else None
    hooks = []
    if hpc_agent is not None:
        driver = AgentDriver(
            load_agent_instance(hpc_agent),
            tick_every=tick_every,
            hold=real_time is None,
            hold_limit=hold_limit,
            on_event=_agent_progress(start) if fmt is OutputFormat.TEXT else None,
        )
        hooks.append(driver.hook())
    simulator = Simulator(
        docs.definition,
        collections=collections,
        input_schema=docs.input_schema,
        context=parse_context(context or []),
        options=options,
        hooks=hooks,
        on_log=listener,
    )
    result = simulator.run(run_input)
    display(result.document(), fmt, _summary(result))
    return ExitCode.OK if result.succeeded else RUN_FAILED
