"""``flowgen diff``: what changed between two flows, by JSONPath."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import Jmespath, JmespathOption, OutputFormat, display, note
from flowgen.core.errors import UsageError
from flowgen.core.exitcodes import ExitCode


class DiffFormat(str, Enum):
    """What ``flowgen diff`` prints: the shared text and JSON, or Markdown for a pull request."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


DiffFormatOption = Annotated[
    DiffFormat,
    typer.Option(
        "--format",
        "-F",
        case_sensitive=False,
        help="Output format: 'text' for people, 'json' for scripts, "
        "'markdown' for a pull request (a CI step summary or comment).",
    ),
]


@app.command()
@handle_errors
def diff(
    a: Annotated[
        Path,
        typer.Argument(
            help="The old flow: a definition, a flowgen build directory or an instance config.",
            metavar="A",
            show_default=False,
        ),
    ],
    b: Annotated[
        Path | None,
        typer.Argument(
            help="The new flow, in any of the same forms.", metavar="B", show_default=False
        ),
    ] = None,
    input_schema_a: Annotated[
        Path | None, typer.Option("--input-schema-a", help="Input schema of flow A.")
    ] = None,
    input_schema_b: Annotated[
        Path | None, typer.Option("--input-schema-b", help="Input schema of flow B.")
    ] = None,
    deployed: Annotated[
        bool,
        typer.Option(
            "--deployed",
            help="Compare the instance config A with the flow deployed on Globus (drift).",
        ),
    ] = False,
    fmt: DiffFormatOption = DiffFormat.TEXT,
    jmespath: JmespathOption = None,
) -> ExitCode:
    """Show what changed from flow A to flow B, one change per line.

    Flows are compared as JSON, not as text: the order of keys never
    matters, the order of list items (Catch entries, Choice rules) does.
    Each change is named by its JSONPath: "~" a changed value (old -> new),
    "+" something added, "-" something removed. States are matched by name,
    so a renamed state shows as removed plus added. A flowgen build
    directory or an instance config brings its input schema along; for a
    definition file give it with --input-schema-a/-b (schemas are compared
    only when both flows have one). The command exits with 0 when the flows
    are the same, 1 when they differ, and 2 when an input cannot be read.
    With --deployed, A is an instance config and the flow deployed from it
    (found through its lock file) is fetched from Globus: the command then
    shows drift in the definition, schema, metadata and roles, for CI
    (flowgen diff --deployed flows/mycluster.toml). With --format markdown
    the changes are grouped for a pull request: states, input-schema fields
    and, with --deployed, roles and flow settings, each in a table.

    Example: flowgen diff deployed_definition.json flows/mycluster.toml

    Example: flowgen diff old/ new/ --format json

    Example: flowgen diff old/ new/ --format markdown
    """
    if jmespath is not None:
        fmt = DiffFormat.JSON  # --jmespath selects from the JSON document, as everywhere
    if deployed:
        return _diff_deployed(a, fmt, jmespath)
    if b is None:
        raise UsageError("give flow B to compare with, or --deployed to compare with Globus")
    from flowgen.review.diff import diff_flows, schemas_compared
    from flowgen.review.load import load_flow_docs

    old = load_flow_docs(a, input_schema_a)
    new = load_flow_docs(b, input_schema_b)
    changes = diff_flows(old, new)
    notes: list[str] = []
    if not schemas_compared(old, new) and (old.input_schema or new.input_schema) is not None:
        only, missing = ("A", "b") if new.input_schema is None else ("B", "a")
        notes.append(
            f"Only flow {only} has an input schema, so the schemas were not compared "
            f"(give --input-schema-{missing} to compare them)."
        )
    exit_code = ExitCode.DIFFERENT if changes else ExitCode.OK
    if fmt is DiffFormat.MARKDOWN:
        from flowgen.review.markdown import flows_markdown

        typer.echo(flows_markdown(changes, old=str(a), new=str(b), notes=notes), nl=False)
        return exit_code
    for message in notes:
        note(message)
    data = {"identical": not changes, "changes": [c.to_json() for c in changes]}
    display(data, OutputFormat(fmt.value), "\n".join(str(c) for c in changes), jmespath)
    if not changes and fmt is DiffFormat.TEXT:
        note("The flows are identical.")
    return exit_code


def _diff_deployed(config: Path, fmt: DiffFormat, jmespath: Jmespath | None) -> ExitCode:
    from flowgen.deploy.auth import open_session
    from flowgen.deploy.deploy import drift, prepare

    plan = drift(open_session().flows(), prepare(config))
    exit_code = ExitCode.OK if plan.is_empty else ExitCode.DIFFERENT
    if fmt is DiffFormat.MARKDOWN:
        from flowgen.review.markdown import drift_markdown

        typer.echo(drift_markdown(plan, str(config)), nl=False)
        return exit_code
    data = {"identical": plan.is_empty, "flow_id": plan.flow_id, **plan.to_json()}
    display(data, OutputFormat(fmt.value), "" if plan.is_empty else plan.render(), jmespath)
    if plan.is_empty and fmt is DiffFormat.TEXT:
        note(f"The deployed flow {plan.flow_id} matches {config}.")
    return exit_code
