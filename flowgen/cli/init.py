"""``flowgen init``: ask for an instance's details and write ``flows/<name>.toml``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import FormatOption, JmespathOption, OutputFormat, display
from flowgen.core.errors import UsageError
from flowgen.core.exitcodes import ExitCode


@app.command()
@handle_errors
def init(
    name: Annotated[
        str | None,
        typer.Option(
            help="Instance name, as given to 'hpc-agent setup --name' (e.g. cryo.em-lab)."
        ),
    ] = None,
    hpc_name: Annotated[
        str | None,
        typer.Option(
            help="The HPC's name as users know it, at most 40 characters, e.g. Baskerville."
        ),
    ] = None,
    collection: Annotated[
        str | None, typer.Option(help="UUID of the HPC's Globus collection.")
    ] = None,
    base_path: Annotated[
        str | None,
        typer.Option(
            help="Absolute path of the instance on the HPC ('pwd -P' there); a trailing / is dropped."
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="The flowcron-instance.toml that 'hpc-agent setup' wrote (gives name and base path).",
        ),
    ] = None,
    # "(default: N)", not "[default: N]": the rich help output takes [...] for markup and drops it.
    initial_wait: Annotated[
        int | None,
        typer.Option(help="Seconds to wait before the first check on the job (default: 30)."),
    ] = None,
    growth: Annotated[
        float | None,
        typer.Option(help="Each wait is the one before times this, 1 to 10 (default: 1.15)."),
    ] = None,
    max_wait: Annotated[
        int | None,
        typer.Option(
            help="Longest wait between two checks, seconds; at least --initial-wait "
            "(default: 1800 = 30 minutes)."
        ),
    ] = None,
    deadline: Annotated[
        int | None,
        typer.Option(
            help="Give up on the job after waiting this many seconds in all; at least "
            "--max-wait (default: 604800 = 7 days)."
        ),
    ] = None,
    transfer_wait: Annotated[
        int | None,
        typer.Option(help="Longest one transfer may take, seconds (default: 172800 = 2 days)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write (default: flows/<name>.toml)."),
    ] = None,
    no_input: Annotated[
        bool,
        typer.Option(
            "--no-input", help="Never prompt: a missing or invalid value is an error (exit 2)."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing config file.")
    ] = False,
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> ExitCode:
    """Create the config of a FlowCron instance, asking for what is not given.

    Asks what the original set-up script asked: the instance name, the HPC's
    name, the UUID of its Globus collection, the absolute base path of the
    instance on the HPC, and the polling policy. Every answer is checked as
    it is given, also against the answers before it (the longest wait is at
    least the first wait, the deadline at least the longest wait), and the
    question is asked again with the reason when the answer is wrong. A
    trailing / on the base path is dropped. Every question has a flag; with
    --no-input nothing is asked and a missing or invalid value ends the
    command with exit code 2. The name and base path can come from the file
    'hpc-agent setup' wrote (--from). An existing config is never
    overwritten without --force.

    \b
    Example: flowgen init --from flowcron-instance.toml --hpc-name Baskerville --collection 0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11 --no-input
    """
    from flowgen.dsl import PollPolicy
    from flowgen.flowcron import config as c

    given: dict[str, Any] = {"name": name, "base_path": base_path}
    if from_file is not None:
        for key, value in c.read_agent_instance_file(from_file).items():
            if given.get(key) is None:
                given[key] = value
    defaults = PollPolicy()

    ask = partial(_ask, no_input=no_input)
    name_answer = ask(
        "--name",
        given["name"],
        "What is the instance's name, as given to 'hpc-agent setup --name' (e.g. cryo.em-lab)?",
        c.check_name,
    )
    # Refuse before asking the rest: answers typed in vain are lost work too.
    target = output if output is not None else Path("flows") / f"{name_answer}.toml"
    if target.exists() and not force:
        raise UsageError(
            f"{target} exists already; use --force to overwrite it or -o to choose another file"
        )
    hpc_answer = ask(
        "--hpc-name",
        hpc_name,
        "What do your users call the HPC, as transfer labels and messages should show it "
        f"(at most {c.MAX_DISPLAY} characters, e.g. Baskerville)?",
        c.check_display,
    )
    collection_answer = ask(
        "--collection",
        collection,
        "What is the UUID of the HPC's Globus collection (shown on app.globus.org under "
        "Collections, e.g. 0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11)?",
        c.check_uuid,
    )
    base_answer = ask(
        "--base-path",
        given["base_path"],
        "What is the instance's absolute path on the HPC, as 'hpc-agent setup' printed it "
        "('pwd -P' in the instance directory, e.g. /bask/projects/x/flowcron)?",
        c.check_base_path,
        clean=c.strip_trailing_slashes,
    )
    first = ask(
        "--initial-wait",
        initial_wait,
        "How many seconds should the flow wait before its first check on the job?",
        _seconds,
        defaults.initial_wait,
        int,
    )
    growth_answer = ask(
        "--growth",
        growth,
        "By what factor should each wait grow over the one before "
        "(1 to 10; 1 keeps every wait the same, 1.15 makes each 15% longer)?",
        _growth_ok,
        defaults.growth,
        float,
    )
    # A default the earlier answers rule out is raised to fit, not reported as an error.
    longest_default = max(defaults.max_wait, first)
    longest = ask(
        "--max-wait",
        max_wait,
        "What is the longest the flow should wait between two checks, in seconds "
        f"(at least the first wait, {_example(longest_default)})?",
        _at_least(first, "--initial-wait"),
        longest_default,
        int,
    )
    give_up_default = max(defaults.deadline, longest)
    give_up = ask(
        "--deadline",
        deadline,
        "After how many seconds of waiting in all should the flow give up on the job "
        f"(at least the longest wait, {_example(give_up_default)})?",
        _at_least(longest, "--max-wait"),
        give_up_default,
        int,
    )
    transfer_answer = ask(
        "--transfer-wait",
        transfer_wait,
        "How many seconds may one transfer (the upload, or the results coming back) take "
        f"before the flow gives up on it ({_example(c.DEFAULT_TRANSFER_WAIT)})?",
        _seconds,
        c.DEFAULT_TRANSFER_WAIT,
        int,
    )
    cfg_dict = {
        "name": name_answer,
        "hpc_name": hpc_answer,
        "collection": collection_answer,
        "base_path": base_answer,
        "polling": {
            "initial_wait": first,
            "growth": growth_answer,
            "max_wait": longest,
            "deadline": give_up,
        },
        "transfer": {"wait_time": transfer_answer},
    }
    cfg = c.config_from_dict(cfg_dict, source="flowgen init")
    from flowgen.core import jsonio

    jsonio.write_text(target, c.render_config(cfg))
    display(
        {"config": str(target), "name": cfg.name},
        fmt,
        f"wrote {target}\nnext: flowgen build {target}",
        jmespath=jmespath,
    )
    return ExitCode.OK


def _ask(
    flag: str,
    value: Any,
    question: str,
    check: Callable[[Any], str | None],
    default: Any = None,
    kind: type = str,
    clean: Callable[[Any], Any] | None = None,
    *,
    no_input: bool,
) -> Any:
    """The checked answer for ``flag``: given, asked (again, with the reason) or default."""
    while True:
        if value is None:
            if no_input:
                if default is None:
                    raise UsageError(f"{flag} is required with --no-input")
                value = default
            else:
                # The question ends in '?', so no ':' after it.
                value = typer.prompt(question, default=default, type=kind, prompt_suffix=" ")
        if clean is not None:
            value = clean(value)
        problem = check(value)
        if problem is None:
            return value
        if no_input:
            raise UsageError(f"{flag}: {problem}")
        typer.echo(f"  {problem}; please try again.", err=True)
        value = None


def _seconds(value: int) -> str | None:
    return None if value >= 1 else f"must be a whole number of seconds, at least 1, got {value}"


def _at_least(floor: int, floor_flag: str) -> Callable[[int], str | None]:
    # Checked at the question that breaks the order, so the PI fixes the
    # answer just given instead of learning at the end that two disagree.
    from flowgen.flowcron.config import check_not_shorter

    def check(value: int) -> str | None:
        return _seconds(value) or check_not_shorter(value, floor, floor_flag)

    return check


def _growth_ok(value: float) -> str | None:
    return None if 1.0 <= value <= 10.0 else f"must be between 1 and 10, got {value}"


def _example(value: int) -> str:
    from flowgen.flowcron.flow import human_duration

    return f"e.g. {value} = {human_duration(value)}"
