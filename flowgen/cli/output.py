"""The one display helper every command prints data through.

Commands hand over plain data and a text rendering; this module decides
which one the user sees (``--format text|json``, or ``--jmespath EXPR``,
which implies JSON as in ``globus ... --jmespath``). JSON always goes through
:func:`flowgen.core.jsonio.dumps`, so machine output is as deterministic as the
files flowgen writes. When to colour comes from :mod:`hpc_agent.terminal`, the
rules ``hpc-agent`` follows too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowgen.core import jsonio
from hpc_agent import terminal

if TYPE_CHECKING:
    from flowgen.core.findings import Finding


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


class Jmespath:
    """A ``--jmespath`` expression, compiled when the command line is parsed.

    Compiling at parse time makes a bad expression a usage error (exit 2)
    before the command does any work, such as contacting Globus.
    """

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._compiled = terminal.compile_jmespath(expression)

    def search(self, data: Any) -> Any:
        """The part of ``data`` the expression selects (``None`` when nothing matches)."""
        return self._compiled.search(data)

    def __repr__(self) -> str:
        return f"Jmespath({self.expression!r})"


def _parse_jmespath(expression: str) -> Jmespath:
    try:
        return Jmespath(expression)
    except terminal.JmespathError as exc:
        # BadParameter, not ValueError: typer would replace a ValueError's text
        # with a generic "is not a valid value", losing where the expression breaks.
        raise typer.BadParameter(str(exc)) from None


JmespathOption = Annotated[
    Jmespath | None,
    typer.Option(
        "--jmespath",
        metavar="EXPR",
        parser=_parse_jmespath,
        help="Print only what this JMESPath expression selects from the JSON output "
        "(implies --format json), e.g. --jmespath 'findings[].code'.",
        show_default=False,
    ),
]
"""The shared ``--jmespath EXPR`` option; declare it as ``jmespath: JmespathOption = None``."""


def effective_format(fmt: OutputFormat, jmespath: Jmespath | None = None) -> OutputFormat:
    """The format a command prints in: JSON under ``--jmespath``, else ``fmt``."""
    return OutputFormat.JSON if jmespath is not None else fmt


def wants_json(params: Mapping[str, Any]) -> bool:
    """Whether a command called with ``params`` prints JSON: ``--jmespath``, or a ``json`` format.

    Any enum ``fmt`` whose value is ``json`` counts (``graph``'s notations
    too), so error handling asks every command the same way.
    """
    if params.get("jmespath") is not None:
        return True
    return getattr(params.get("fmt"), "value", None) == OutputFormat.JSON.value


def display(
    data: Any,
    fmt: OutputFormat,
    text: Callable[[Any], str] | str,
    jmespath: Jmespath | None = None,
) -> None:
    """Print ``data`` as JSON (or what ``jmespath`` selects from it), or its text rendering.

    ``text`` is either the text itself or a function turning ``data`` into
    it; an empty text prints nothing (a quiet success).
    """
    if jmespath is not None:
        typer.echo(jsonio.dumps(jmespath.search(data)), nl=False)
        return
    if fmt is OutputFormat.JSON:
        typer.echo(jsonio.dumps(data), nl=False)
        return
    rendered = text(data) if callable(text) else text
    if rendered:
        typer.echo(rendered.rstrip("\n"))


def note(message: str) -> None:
    """A message for the user that is not the command's data (goes to stderr)."""
    typer.echo(message, err=True)


def colour(stream: Any = None) -> bool:
    """Whether text for ``stream`` (stdout by default) may be coloured: a terminal, no NO_COLOR."""
    return terminal.colour_enabled(sys.stdout if stream is None else stream)


def paint(text: str, style: str, *, enabled: bool) -> str:
    """``text`` in one of :data:`hpc_agent.terminal.STYLES` when ``enabled``."""
    return terminal.paint(text, style, enabled=enabled)


def render_finding(finding: Finding, *, enabled: bool) -> str:
    """One finding as ``str(finding)`` shows it, its severity and code coloured when ``enabled``.

    The format lives in :meth:`flowgen.core.findings.Finding.render` alone.
    """
    return finding.render(colour=enabled)
