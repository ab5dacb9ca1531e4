"""``flowgen graph``: draw a flow's state graph as Mermaid or Graphviz DOT."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import JmespathOption, note


class GraphFormat(str, Enum):
    """The notations ``flowgen graph`` writes."""

    MERMAID = "mermaid"
    DOT = "dot"
    JSON = "json"


@app.command()
@handle_errors
def graph(
    flow: Annotated[
        Path,
        typer.Argument(
            help="A flow definition, a flowgen build directory or an instance config.",
            metavar="FLOW",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        GraphFormat,
        typer.Option(
            "--format",
            "-F",
            case_sensitive=False,
            help="mermaid (for Markdown), dot (for Graphviz) or json (nodes and edges).",
        ),
    ] = GraphFormat.MERMAID,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of standard output."),
    ] = None,
    jmespath: JmespathOption = None,
) -> None:
    """Draw the state graph of a flow, for documentation and review.

    The graph has a Start and an End node, an edge for every Next, one per
    Choice rule (labelled with its condition, such as "code == NotFound"),
    the Default edge (labelled "default") and dashed Catch edges labelled
    with the error names. Choice states are diamonds and Fail states are
    red. The same flow always gives the same text, so the file can be
    committed next to the flow and reviewed in diffs.

    \b
    Example: flowgen graph flows/mycluster.toml -o docs/mycluster.mmd

    \b
    Example: flowgen graph definition.json --format dot | dot -Tsvg > flow.svg
    """
    from flowgen.core import jsonio
    from flowgen.review import graph as graphs
    from flowgen.review.load import load_flow_docs

    definition = load_flow_docs(flow).definition
    if jmespath is not None:  # implies json, whatever --format says
        text = jsonio.dumps(jmespath.search(graphs.build_graph(definition).to_json()))
    elif fmt is GraphFormat.DOT:
        text = graphs.to_dot(definition)
    elif fmt is GraphFormat.JSON:
        text = jsonio.dumps(graphs.build_graph(definition).to_json())
    else:
        text = graphs.to_mermaid(definition)
    if output is None:
        typer.echo(text, nl=False)
    else:
        jsonio.write_text(output, text)
        note(f"Wrote {output}")
