"""``flowgen init``: ask for an instance's details and write ``flows/<name>.toml``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import FormatOption, OutputFormat, display
from flowgen.errors import UsageError
from flowgen.exitcodes import ExitCode


@app.command()
@handle_errors
def init(
    name: Annotated[
        str | None, typer.Option(help="Instance name (as given to hpc-agent setup).")
    ] = None,
    hpc_name: Annotated[
        str | None, typer.Option(help="The HPC's name as users know it, e.g. Baskerville.")
    ] = None,
    collection: Annotated[
        str | None, typer.Option(help="UUID of the HPC's Globus collection.")
    ] = None,
    base_path: Annotated[
        str | None,
        typer.Option(
            help="Absolute path of the instance on the HPC ('pwd -P' there), no trailing /."
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="The flowcron-instance.toml that 'hpc-agent setup' wrote (gives name and base path).",
        ),
    ] = None,
    initial_wait: Annotated[
        int | None, typer.Option(help="Seconds before the first check for the job [default: 30].")
    ] = None,
    growth: Annotated[
        float | None, typer.Option(help="Each wait is the previous one times this [default: 1.15].")
    ] = None,
    max_wait: Annotated[
        int | None, typer.Option(help="Longest wait between checks, seconds [default: 1800].")
    ] = None,
    deadline: Annotated[
        int | None,
        typer.Option(
            help="Stop waiting for the job after this many seconds [default: 604800 = 7 days]."
        ),
    ] = None,
    transfer_wait: Annotated[
        int | None,
        typer.Option(help="Longest a single transfer may take, seconds [default: 172800]."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write [default: flows/<name>.toml]."),
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
) -> ExitCode:
    """Create the config of a FlowCron instance, asking for what is not given.

    Asks what the original set-up script asked: the instance name, the HPC's
    name, the UUID of its Globus collection, the absolute base path of the
    instance on the HPC, and the polling policy. Every answer is checked as
    it is given and asked again with the reason when it is wrong. Every
    question has a flag; with --no-input nothing is asked and a missing or
    invalid value ends the command with exit code 2. The name and base path
    can come from the file 'hpc-agent setup' wrote (--from). An existing
    config is never overwritten without --force.

    Example: flowgen init --from flowcron-instance.toml --hpc-name Baskerville
    --collection 0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11 --no-input
    """
    from flowgen.dsl import PollPolicy
    from flowgen.flowcron import config as c

    given: dict[str, Any] = {"name": name, "base_path": base_path}
    if from_file is not None:
        for key, value in c.read_agent_instance_file(from_file).items():
            if given.get(key) is None:
                given[key] = value
    defaults = PollPolicy()

    def ask(
        label: str,
        value: Any,
        check: Callable[[Any], str | None],
        default: Any = None,
        kind: type = str,
    ) -> Any:
        while True:
            if value is None:
                if no_input:
                    if default is not None:
                        return default
                    raise UsageError(f"--{label} is required with --no-input")
                value = typer.prompt(
                    label.replace("-", " ").capitalize(), default=default, type=kind
                )
            problem = check(value)
            if problem is None:
                return value
            if no_input:
                raise UsageError(f"--{label}: {problem}")
            typer.echo(f"  {problem}; please try again.", err=True)
            value = None

    def positive(value: Any) -> str | None:
        return None if value >= 1 else f"must be at least 1, got {value}"

    def growth_ok(value: Any) -> str | None:
        return None if 1.0 <= value <= 10.0 else f"must be between 1 and 10, got {value}"

    name_answer = ask("name", given["name"], c.check_name)
    # Refuse before asking the rest: answers typed in vain are lost work too.
    target = output if output is not None else Path("flows") / f"{name_answer}.toml"
    if target.exists() and not force:
        raise UsageError(
            f"{target} exists already; use --force to overwrite it or -o to choose another file"
        )
    cfg_dict = {
        "name": name_answer,
        "hpc_name": ask("hpc-name", hpc_name, c.check_display),
        "collection": ask("collection", collection, c.check_uuid),
        "base_path": ask("base-path", given["base_path"], c.check_base_path),
        "polling": {
            "initial_wait": ask("initial-wait", initial_wait, positive, defaults.initial_wait, int),
            "growth": ask("growth", growth, growth_ok, defaults.growth, float),
            "max_wait": ask("max-wait", max_wait, positive, defaults.max_wait, int),
            "deadline": ask("deadline", deadline, positive, defaults.deadline, int),
        },
        "transfer": {
            "wait_time": ask("transfer-wait", transfer_wait, positive, c.DEFAULT_TRANSFER_WAIT, int)
        },
    }
    cfg = c.config_from_dict(cfg_dict, source="flowgen init")
    from flowgen import jsonio

    jsonio.write_text(target, c.render_config(cfg))
    display(
        {"config": str(target), "name": cfg.name},
        fmt,
        f"wrote {target}\nnext: flowgen build {target}",
    )
    return ExitCode.OK
