"""``flowgen uow``: write a Unit of Work folder, and check it as the agent will."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import FormatOption, JmespathOption, OutputFormat, colour, display, paint
from flowgen.core.exitcodes import UOW_REFUSED, ExitCode

if TYPE_CHECKING:
    from flowgen.uow.check import CheckResult
    from flowgen.uow.new import NewUow

uow_app = typer.Typer(
    name="uow",
    help=(
        "Write a Unit of Work (the folder the flow uploads) and check it before the upload.\n\n"
        "\b\nExample: flowgen uow check my-analysis --catalog flows/mycluster.functions.json"
    ),
    no_args_is_help=True,
)
app.add_typer(uow_app)

CatalogOption = Annotated[
    Path | None,
    typer.Option(
        "--catalog",
        help=(
            "The instance's functions catalogue (the output of 'hpc-agent function catalog', "
            "e.g. flows/<instance>.functions.json)."
        ),
        show_default=False,
    ),
]


@uow_app.command("new")
@handle_errors
def new(
    directory: Annotated[
        Path,
        typer.Argument(
            help="The folder to create (it may exist only when empty).",
            metavar="DIR",
            show_default=False,
        ),
    ],
    function: Annotated[
        str | None,
        typer.Option(
            "--function",
            help="Call this published function (writes job.toml); without it, a job script.",
            show_default=False,
        ),
    ] = None,
    catalog: CatalogOption = None,
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> None:
    """Write a new Unit of Work folder: data/ and what says what to run.

    With --function NAME (and --catalog): job.toml with function = "NAME"
    and every parameter under [params], each with its help and rules as a
    comment; defaults are filled in, required values are commented out
    until you give them. Without --function: scripts/submission_script.sh,
    a commented Slurm job script to edit. Put your input files into data/,
    then run 'flowgen uow check DIR'. A folder that holds anything is never
    written into.

    \b
    Example: flowgen uow new class3d --function relion-class3d --catalog flows/mycluster.functions.json

    \b
    Example: flowgen uow new my-analysis
    """
    from flowgen.uow.catalog import load_catalog
    from flowgen.uow.new import create_uow

    library = load_catalog(catalog) if catalog is not None else None
    created = create_uow(directory, function=function, library=library)
    display(created.to_json(), fmt, _new_text(created, catalog), jmespath=jmespath)


def _new_text(created: NewUow, catalog: Path | None) -> str:
    where = created.path
    if created.function is None:
        return (
            f"Created {where}/ with its own job script:\n"
            f"  {where / 'scripts' / 'submission_script.sh'}  edit it (the #SBATCH lines, "
            "the commands)\n"
            f"  {where / 'data'}/  put your input files here\n"
            f"Then: flowgen uow check {where}"
        )
    function = created.function
    required = created.required
    todo = "fill in " + ", ".join(required) + " (required)" if required else "check the values"
    shown_catalog = catalog if catalog is not None else "CATALOGUE"
    return (
        f"Created {where}/ calling {function.name} {function.version}:\n"
        f"  {where / 'job.toml'}  {todo}\n"
        f"  {where / 'data'}/  put your input files here (paths in job.toml are relative "
        "to it)\n"
        f"Then: flowgen uow check {where} --catalog {shown_catalog}"
    )


@uow_app.command("check")
@handle_errors
def check(
    directory: Annotated[
        Path,
        typer.Argument(help="The Unit of Work folder to check.", metavar="DIR", show_default=False),
    ],
    catalog: CatalogOption = None,
    instance_config: Annotated[
        Path | None,
        typer.Option(
            "--instance-config",
            help=(
                "The instance's settings: the agent's flowcron.toml, or the "
                "flowcron-instance.toml that 'hpc-agent setup' wrote (default: the "
                "agent's defaults)."
            ),
            show_default=False,
        ),
    ] = None,
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> ExitCode:
    """Check a Unit of Work exactly as the agent will admit it, before you upload it.

    Runs the agent's own admission on the folder and prints every problem it
    would refuse the folder for (and the notes its report would carry). The
    upload's own state (sentinels/) is not checked: the flow takes care of
    it. A call of a function (job.toml) needs the instance's catalogue
    (--catalog); the instance's settings (--instance-config) decide what it
    runs (run_policy), account and QoS lines, risky lines and the size
    limit. Exits with 0 when the agent would admit the folder, 3 when it
    would refuse it, 2 when an input cannot be read.

    \b
    Example: flowgen uow check class3d --catalog flows/mycluster.functions.json

    \b
    Example: flowgen uow check my-analysis --instance-config flowcron.toml --format json
    """
    from flowgen.uow.catalog import load_catalog
    from flowgen.uow.check import check_uow
    from flowgen.uow.check import instance_config as load_instance_config

    library = load_catalog(catalog) if catalog is not None else None
    with load_instance_config(instance_config) as cfg:
        result = check_uow(directory, cfg, library=library)
    display(result.to_json(), fmt, _check_text(result), jmespath=jmespath)
    return ExitCode.OK if result.admitted else UOW_REFUSED


def _check_text(result: CheckResult) -> str:
    name = result.uow.name or str(result.uow)
    if result.kind == "function":
        what = f"calls {result.function}" if result.function else "a function call"
    else:
        what = f"runs {result.script}" if result.script else "its own job script"
    painted = colour()
    if result.admitted:
        verdict = paint("would admit it", "ok", enabled=painted)
        lines = [f"{name}: the agent {verdict} ({what})."]
    else:
        count = len(result.problems)
        verdict = paint("would refuse it", "error", enabled=painted)
        lines = [f"{name}: the agent {verdict} ({count} problem{'s' * (count != 1)}):"]
        lines += _bullets(result.problems)
    if result.notes:
        lines.append(paint("Notes the report would carry:", "note", enabled=painted))
        lines += _bullets(result.notes)
    lines += [f"({hint})" for hint in result.hints]
    return "\n".join(lines)


def _bullets(items: Sequence[str]) -> list[str]:
    out = []
    for item in items:
        first, *rest = str(item).splitlines() or [""]
        out.append(f"  - {first}")
        out += [f"    {line}" for line in rest]
    return out
