"""``flowgen build``: write the FlowCron flow's JSON files from an instance config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import (
    FormatOption,
    JmespathOption,
    OutputFormat,
    colour,
    display,
    render_finding,
)
from flowgen.core.exitcodes import ExitCode


@app.command()
@handle_errors
def build(
    config: Annotated[
        Path, typer.Argument(help="Instance config (flows/<name>.toml).", show_default=False)
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Directory to write into [default: flows/build/<name>/]."
        ),
    ] = None,
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> ExitCode:
    """Build the FlowCron flow for one instance and write its two JSON files.

    The files are FlowCron-<name>_definition.json and
    FlowCron-<name>_input_schema.json, ready for 'flowgen deploy' or for
    upload in the Globus web app. The flow is validated first: a flow with
    error-level findings is not written (exit 3). The same config always
    gives byte-identical files.

    \b
    Example: flowgen build flows/mycluster.toml -o /tmp/mycluster
    """
    from flowgen.flowcron.build import build_checked, default_output_dir

    built, findings = build_checked(config)
    directory = output if output is not None else default_output_dir(built.config)
    definition_path, schema_path = built.write(directory)
    result = {
        "name": built.config.name,
        "definition": str(definition_path),
        "input_schema": str(schema_path),
        "states": len(built.definition["States"]),
        "warnings": [f.to_json() for f in findings],
    }
    painted = colour()
    lines = [render_finding(f, enabled=painted) for f in findings]
    lines += [f"wrote {definition_path}", f"wrote {schema_path}"]
    display(result, fmt, "\n".join(lines), jmespath=jmespath)
    return ExitCode.OK
