"""The one display helper every command prints data through.

Commands hand over plain data and a text rendering; this module decides
which one the user sees (``--format text|json``). JSON always goes through
:func:`flowgen.core.jsonio.dumps`, so machine output is as deterministic as the
files flowgen writes.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

import typer

from flowgen.core import jsonio


class OutputFormat(str, Enum):
    """What a data-printing command writes on stdout."""

    TEXT = "text"
    JSON = "json"


FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-F",
        case_sensitive=False,
        help="Output format: 'text' for people, 'json' for scripts.",
    ),
]
"""The shared ``--format text|json`` option; declare it as ``fmt: FormatOption = OutputFormat.TEXT``."""


def display(data: Any, fmt: OutputFormat, text: Callable[[Any], str] | str) -> None:
    """Print ``data`` as JSON, or its text rendering, on stdout.

    ``text`` is either the text itself or a function turning ``data`` into
    it; an empty text prints nothing (a quiet success).
    """
    if fmt is OutputFormat.JSON:
        typer.echo(jsonio.dumps(data), nl=False)
        return
    rendered = text(data) if callable(text) else text
    if rendered:
        typer.echo(rendered.rstrip("\n"))


def note(message: str) -> None:
    """A message for the user that is not the command's data (goes to stderr)."""
    typer.echo(message, err=True)
