"""``flowgen simulate``: run a flow locally against directories standing in for collections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from flowgen.cli.progress import LiveLine, transfer_progress
from flowgen.core.errors import UsageError
from flowgen.core.exitcodes import RUN_FAILED, ExitCode

# The defaults of flowgen.simulate.agent (a test checks they agree); not imported
# from there because that would load the simulator and the agent for every command.
DEFAULT_TICK_EVERY = 60.0
DEFAULT_HOLD_LIMIT = 3600.0

# The kinds of flowgen.simulate.collections.COLLECTION_KINDS, for the help text
# (a test checks they agree; importing them would load the simulator).
KINDS_HELP = "personal (the default), mapped, managed, guest or managed-guest"

if TYPE_CHECKING:
    from flowgen.simulate import Collection, LogEntry, RunResult
    from flowgen.simulate.agent import AgentEvent


def parse_collection(text: str) -> tuple[str, Collection]:
    """Parse ``UUID=DIR[:KIND]``; the directory must exist.

    Only a last ``:KIND`` naming one of the kinds is split off, so a
    directory containing ``:`` (``C:\\data``, ``/srv/a:b``) is kept whole; a
    directory whose name itself ends in ``:managed`` takes an explicit kind
    (``DIR:managed:personal``).
    """
    from flowgen.simulate.collections import COLLECTION_KINDS, DEFAULT_KIND, Collection

    uuid, sep, rest = text.partition("=")
    if not sep or not uuid.strip() or not rest:
        raise UsageError(
            f"--collection {text!r}: expected UUID=DIR or UUID=DIR:KIND, e.g. "
            "--collection 6c54cade-bde5-45c1-bdea-f4bd71dba2cc=./laptop:personal"
        )
    directory, colon, kind = rest.rpartition(":")
    if not colon or not directory or kind not in COLLECTION_KINDS:
        directory, kind = rest, DEFAULT_KIND
    path = Path(directory).expanduser()
    if not path.is_dir():
        hint = ""
        if ":" in rest:
            hint = f" (a kind after ':' must be one of {KINDS_HELP})"
        raise UsageError(f"--collection {text!r}: {path} is not an existing directory{hint}")
    return uuid.strip(), Collection.of_kind(path, kind)


def parse_web_inputs(items: list[str]) -> dict[str, list[Any]]:
    """Parse ``STATE=JSON`` or ``STATE=@FILE`` answers, in order, per AwaitWebInput state.

    Text that is not JSON is taken as a string, so ``Approve=approve`` gives
    the answer ``"approve"``.
    """
    from flowgen.core import jsonio

    answers: dict[str, list[Any]] = {}
    for item in items:
        state, sep, raw = item.partition("=")
        if not sep or not state:
            raise UsageError(
                f"--web-input {item!r}: expected STATE=JSON or STATE=@FILE, "
                "e.g. --web-input AwaitResponse=approve"
            )
        value: Any
        if raw.startswith("@"):
            value = jsonio.load(Path(raw[1:]).expanduser())
        else:
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
        answers.setdefault(state, []).append(value)
    return answers


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
    from flowgen.simulate.summary import elapsed

    return elapsed(seconds)


def _progress(start: list[Any], verbose: bool) -> Any:
    """A log listener: notes when the run started (for the agent's lines) and,
    when ``verbose``, prints each state as it starts."""

    def show(entry: LogEntry) -> None:
        if not start:
            start.append(entry.time)
        if verbose and entry.code.endswith("Started") and entry.code != "FlowStarted":
            offset = (entry.time - start[0]).total_seconds()
            details = entry.details
            typer.echo(f"+{_elapsed(offset)}  {details['state_name']}  ({details['state_type']})")

    return show


def _real_time_notice(speed: float | None) -> Any:
    """A log listener: under ``--real-time``, says once on stderr that a Wait takes clock time.

    Without it a run in real time is silent for as long as its Wait lasts,
    which looks like a hang; any format (stderr is not the command's data).
    """
    said: list[bool] = []

    def show(entry: LogEntry) -> None:
        if speed is not None and not said and entry.code == "WaitStarted":
            said.append(True)
            note(
                f"{entry.details['state_name']}: waiting on the clock (--real-time {speed:g}); "
                "Ctrl-C stops the run"
            )

    return show


def _listener(
    start: list[Any],
    verbose: bool,
    fmt: OutputFormat,
    definition: Any,
    live: LiveLine,
    real_time: float | None = None,
) -> Any:
    """The log listener: state lines (text), the real-time notice and, on a
    terminal, a live line per Transfer task."""
    listeners = [_real_time_notice(real_time), transfer_progress(live, definition)]
    if fmt is OutputFormat.TEXT:
        listeners.insert(0, _progress(start, verbose))

    def each(entry: LogEntry) -> None:
        for listener in listeners:
            listener(entry)

    return each


def _agent_progress(start: list[Any]) -> Any:
    def show(event: AgentEvent) -> None:
        offset = (event.time - start[0]).total_seconds() if start else 0.0
        typer.echo(f"+{_elapsed(offset)}  agent: {event.message}")

    return show


def _document(result: RunResult, verbose: bool) -> dict[str, Any]:
    from flowgen.simulate.rundoc import LOG_BUDGET_BYTES

    return result.document(log_budget=None if verbose else LOG_BUDGET_BYTES)


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
            help="Simulate collection UUID with local directory DIR (repeatable). KIND is "
            f"what collection_info reports: {KINDS_HELP}; e.g. <uuid>=./hpc:managed",
            metavar="UUID=DIR[:KIND]",
        ),
    ] = None,
    web_input: Annotated[
        list[str] | None,
        typer.Option(
            "--web-input",
            help="The answer AwaitWebInput state STATE receives: JSON (text that is not JSON "
            "is a string) or @FILE. Repeatable; a state visited again takes the next answer. "
            "Without one the web input expires (Flows.WebInputExpired). "
            "E.g. AwaitResponse=approve",
            metavar="STATE=JSON|@FILE",
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
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Text: show every state as it starts. JSON: keep the whole log, however long.",
        ),
    ] = False,
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> ExitCode:
    """Run a flow locally, with local directories standing in for Globus collections.

    The Transfer action providers (transfer, delete, mkdir, ls, stat,
    collection_info, manage_permission) work on the directories given with
    --collection; Waits and polling use virtual time, so a flow that waits a
    day finishes at once. The run input is checked against the input schema
    first. Text output is a short summary: the final status, the states run,
    the action calls, the elapsed flow time, the last state and the output or
    the error; --verbose also shows each state as it starts. --format json
    prints the run document with the log, the action calls per ActionUrl, the
    states executed and the elapsed flow time; a long log is cut to its newest
    10 MB (the document says what was left out) unless --verbose is given.
    AwaitWebInput states take their answers from --web-input. The command
    exits with 0 when the run SUCCEEDED, 1 when it FAILED and 2 on a usage
    error (including input that fails the schema).

    With --hpc-agent the HPC agent's tick runs for that instance every
    --tick-every seconds of flow time: the whole FlowCron loop on one machine
    (map the HPC collection to the directory its base path lives in, or to
    /; when no mapping leads the flow to the instance the command says so at
    once and exits with 2). While the agent's jobs run, flow time stands
    still, so the flow never runs ahead of a real job; past --hold-limit real
    seconds the command stops with exit code 1. With --real-time flow time
    follows the clock instead.

    \b
    Example: flowgen simulate flow.json --input input.json --collection 6c54cade-bde5-45c1-bdea-f4bd71dba2cc=./laptop

    \b
    Example: flowgen simulate signoff.json --input in.json --collection 6c54cade-bde5-45c1-bdea-f4bd71dba2cc=./laptop:managed --web-input AwaitResponse=approve

    \b
    Example: flowgen simulate flows/example.toml --input in.json --collection 6c54cade-bde5-45c1-bdea-f4bd71dba2cc=./laptop --collection 5e1d7a3c-0b8f-4d2a-9c61-3f0e2b7d4a10=/ --hpc-agent /tmp/flowcron-demo/hpc/example
    """
    from flowgen.core import jsonio
    from flowgen.review.load import load_flow_docs
    from flowgen.simulate import Simulator, SimulatorOptions
    from flowgen.simulate.agent import AgentDriver, load_agent_instance
    from flowgen.simulate.reach import check_reach
    from flowgen.simulate.summary import summary

    fmt = effective_format(fmt, jmespath)
    docs = load_flow_docs(definition, input_schema)
    run_input = jsonio.load(input_file)
    collections = dict(parse_collection(c) for c in collection or [])
    answers = parse_web_inputs(web_input or [])
    try:
        options = SimulatorOptions(max_states=max_states, real_time_speed=real_time)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    start: list[Any] = []
    # Made per call: the line follows stderr as it is now (not at import).
    live = LiveLine()
    listener = _listener(start, verbose, fmt, docs.definition, live, real_time)
    hooks = []
    if hpc_agent is not None:
        instance = load_agent_instance(hpc_agent)
        check_reach(instance.base_dir, collections, docs.definition)
        driver = AgentDriver(
            instance,
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
        web_inputs=answers,
    )
    try:
        result = simulator.run(run_input)
    finally:
        live.close()
    # The bounded document costs a pass over the log: build it only to print it.
    document = _document(result, verbose) if fmt is OutputFormat.JSON else {}
    display(document, fmt, lambda _: summary(result), jmespath=jmespath)
    return ExitCode.OK if result.succeeded else RUN_FAILED
